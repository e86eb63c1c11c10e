"""Every read of the CRM starts here, from what the actor may see.

Record rules (the same for UI, API, exports and search): a user sees the leads and
opportunities they own, those owned by members of their teams, those of the teams they
manage, and every one with ``crm.view_all_opportunities``. Other companies' rows never.
Amounts are visible with ``crm.view_amounts``, except to a marketing-only holder when the
company hides amounts from marketing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, Count, F, Prefetch, Q, QuerySet, Sum

from comptoir.contacts import selectors as contact_selectors
from comptoir.crm.models import CrmSettings, Lead, LostReason, Opportunity, OpportunityStatus, Pipeline, Stage
from comptoir.kernel.authz import registry as permission_registry
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound
from comptoir.org.models import User


def record_rule(actor: Actor) -> Q:
    """Rows of leads/opportunities the actor may see: the contacts rule, with the CRM's view-all right."""
    rule = contact_selectors.record_rule(actor, "crm.view_all_opportunities")
    return Q() if rule is None else rule


def crm_settings(actor: Actor) -> CrmSettings:
    found = CrmSettings.objects.filter(company_id=actor.company_id).first()
    return found or CrmSettings(company_id=actor.company_id)  # type: ignore[misc]


def can_see_amounts(actor: Actor, settings: CrmSettings | None = None) -> bool:
    if not actor.has_perm("crm.view_amounts"):
        return False
    # Held through a role other than marketing: the company setting does not apply.
    if "crm.view_amounts" in permission_registry.permissions_for(actor.roles - {"marketing"}):
        return True
    settings = settings or crm_settings(actor)
    return not settings.hide_amounts_from_marketing


# --- Pipelines ------------------------------------------------------------------------


def pipeline_list(actor: Actor) -> QuerySet[Pipeline]:
    require(actor, "crm.view_opportunity")
    return Pipeline.objects.filter(company_id=actor.company_id).prefetch_related(
        Prefetch("stages", queryset=Stage.objects.order_by("sequence", "id"))
    )


def pipeline_get(actor: Actor, pipeline_id: int | None = None) -> Pipeline:
    """A pipeline of the company, or its default one when ``pipeline_id`` is None."""
    pipelines = pipeline_list(actor)
    found = pipelines.filter(pk=pipeline_id).first() if pipeline_id else pipelines.filter(is_default=True).first()
    if found is None:
        raise NotFound("pipeline_not_found")
    return found


def lost_reasons(actor: Actor) -> QuerySet[LostReason]:
    require(actor, "crm.view_opportunity")
    return LostReason.objects.filter(company_id=actor.company_id, is_active=True)


# --- Opportunities --------------------------------------------------------------------


def opportunity_list(actor: Actor) -> QuerySet[Opportunity]:
    require(actor, "crm.view_opportunity")
    return (
        Opportunity.objects.filter(company_id=actor.company_id)
        .filter(record_rule(actor))
        .select_related("pipeline", "stage", "organization", "owner", "team", "lost_reason")
    )


def opportunity_get(actor: Actor, opportunity_id: int) -> Opportunity:
    stages = Prefetch("pipeline__stages", queryset=Stage.objects.order_by("sequence", "id"))
    found = opportunity_list(actor).prefetch_related("people", stages).filter(pk=opportunity_id).first()
    if found is None:
        raise NotFound("opportunity_not_found")
    return found


def opportunity_search(queryset: QuerySet[Opportunity], query: str) -> QuerySet[Opportunity]:
    from comptoir.contacts.normalize import fold

    words = fold(query).split()
    for word in words:
        queryset = queryset.filter(Q(search_text__contains=word) | Q(organization__search_text__contains=word))
    return queryset


@dataclass
class Column:
    stage: Stage
    cards: list[Opportunity] = field(default_factory=list)
    count: int = 0
    total: Decimal = Decimal("0.00")
    weighted: Decimal = Decimal("0.0000")


@dataclass
class Board:
    pipeline: Pipeline
    columns: list[Column]
    show_amounts: bool

    @property
    def count(self) -> int:
        return sum(c.count for c in self.columns)

    @property
    def total(self) -> Decimal:
        return sum((c.total for c in self.columns), Decimal("0.00"))

    @property
    def weighted(self) -> Decimal:
        return sum((c.weighted for c in self.columns), Decimal("0.0000"))


def kanban(actor: Actor, pipeline: Pipeline) -> Board:
    """Open stages with their open opportunities, counts, totals and weighted totals.

    Totals are integer SUMs in SQL over the minor-unit column (amount × probability for the
    weighted one, i.e. 10⁻⁴ units), so they are exact on SQLite too. Four queries whatever
    the number of cards: settings, aggregates, cards (stages come prefetched with the pipeline).
    """
    show_amounts = can_see_amounts(actor)
    stages = [s for s in pipeline.stages.all() if s.kind == "open"]
    visible = opportunity_list(actor).filter(pipeline=pipeline, status=OpportunityStatus.OPEN)
    sums: dict[int, Any] = {
        row["stage_id"]: row
        for row in visible.order_by()
        .values("stage_id")
        .annotate(
            n=Count("pk"),
            cents=Sum(F("amount"), output_field=BigIntegerField()),
            weighted=Sum(F("amount") * F("probability"), output_field=BigIntegerField()),
        )
    }
    columns = {s.pk: Column(stage=s) for s in stages}
    for stage_id, row in sums.items():
        column = columns.get(stage_id)
        if column is None:
            continue
        column.count = row["n"]
        if show_amounts:
            column.total = Decimal(int(row["cents"] or 0)).scaleb(-2)
            column.weighted = Decimal(int(row["weighted"] or 0)).scaleb(-4)
    for card in visible.order_by("stage_changed_at", "pk"):
        if card.stage_id in columns:
            columns[card.stage_id].cards.append(card)
    return Board(pipeline=pipeline, columns=list(columns.values()), show_amounts=show_amounts)


# --- Leads ----------------------------------------------------------------------------


def lead_list(actor: Actor) -> QuerySet[Lead]:
    require(actor, "crm.view_opportunity")
    return (
        Lead.objects.filter(company_id=actor.company_id)
        .filter(record_rule(actor))
        .select_related("organization", "person", "owner", "team", "opportunity")
    )


def lead_get(actor: Actor, lead_id: int) -> Lead:
    found = lead_list(actor).filter(pk=lead_id).first()
    if found is None:
        raise NotFound("lead_not_found")
    return found


def lead_search(queryset: QuerySet[Lead], query: str) -> QuerySet[Lead]:
    from comptoir.contacts.normalize import fold

    for word in fold(query).split():
        queryset = queryset.filter(search_text__contains=word)
    return queryset


# --- Choices for forms ----------------------------------------------------------------


def owner_choices(actor: Actor) -> list[tuple[int, str]]:
    users = User.objects.filter(memberships__company_id=actor.company_id).distinct().order_by("full_name", "pk")
    return [(u.pk, u.full_name or u.email) for u in users.only("pk", "full_name", "email")]


def organization_choices(actor: Actor, limit: int = 500) -> list[tuple[int, str]]:
    rows = contact_selectors.visible_organizations(actor).filter(merged_into__isnull=True, is_archived=False)
    return [(o.pk, str(o)) for o in rows.only("pk", "legal_name", "trade_name")[:limit]]

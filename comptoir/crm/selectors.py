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

from django.conf import settings as django_settings
from django.db.models import BigIntegerField, Count, F, Prefetch, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext as _

from comptoir.contacts import selectors as contact_selectors
from comptoir.crm.models import CrmSettings, Lead, LostReason, Opportunity, OpportunityStatus, Pipeline, Stage
from comptoir.kernel.authz import registry as permission_registry
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.models import Team, User


def record_rule(actor: Actor) -> Q:
    """Rows of leads/opportunities the actor may see: the contacts rule, with the CRM's view-all right."""
    rule = contact_selectors.record_rule(actor, "crm.view_all_opportunities")
    return Q() if rule is None else rule


# --- Scopes: "Mine / My team / All" ------------------------------------------------------

MINE, TEAM, ALL = "mine", "team", "all"
SCOPES = (MINE, TEAM, ALL)


def scope_choices(actor: Actor) -> list[str]:
    """The scopes the actor may pick; "all" only for those who see every opportunity."""
    return list(SCOPES) if actor.has_perm("crm.view_all_opportunities") else [MINE, TEAM]


def default_scope(actor: Actor) -> str:
    """The widest scope the actor has: what they saw before scopes existed."""
    return scope_choices(actor)[-1]


def scope_rule(actor: Actor, scope: str | None) -> Q:
    """Rows of a scope, on top of the record rule; an unknown or forbidden scope is a 422.

    "team" is the rows of the actor's teams (as member or manager): those owned by their
    members and those assigned to the teams, the actor's own included.
    """
    if scope in (None, ""):
        return Q()
    if scope not in scope_choices(actor):
        message = _("Choose among: %(values)s.") % {"values": ", ".join(scope_choices(actor))}
        raise ValidationFailed("invalid_scope", fields={"scope": [message]})
    if scope == ALL:
        return Q()
    if actor.user_id is None:
        return Q(pk__in=[])
    mine = Q(owner_id=actor.user_id)
    if scope == MINE:
        return mine
    my_teams = Team.objects.filter(Q(members=actor.user_id) | Q(manager=actor.user_id)).values("pk")
    colleagues = User.objects.filter(teams__in=my_teams).values("pk")
    return mine | Q(owner_id__in=colleagues) | Q(team_id__in=my_teams)


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


def opportunity_list(actor: Actor, scope: str | None = None) -> QuerySet[Opportunity]:
    """Opportunities the actor sees, narrowed to a scope ("mine", "team", "all"; None: all visible)."""
    require(actor, "crm.view_opportunity")
    rows = Opportunity.objects.filter(company_id=actor.company_id).filter(record_rule(actor))
    if scope:
        rows = rows.filter(scope_rule(actor, scope))
    return rows.select_related("pipeline", "stage", "organization", "owner", "team", "lost_reason")


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


def kanban_cards_per_column() -> int:
    """How many cards a column shows before "load more" (setting ``CRM_KANBAN_CARDS``, default 50)."""
    return max(1, int(getattr(django_settings, "CRM_KANBAN_CARDS", 50)))


# The order of cards in a column: soonest expected close first, undated last.
CARD_ORDER = (F("expected_close_date").asc(nulls_last=True), F("pk").asc())


@dataclass
class Column:
    stage: Stage
    cards: list[Opportunity] = field(default_factory=list)
    count: int = 0
    total: Decimal = Decimal("0.00")
    weighted: Decimal = Decimal("0.0000")

    @property
    def more(self) -> int:
        """Cards of the column not shown (the counts and totals include them)."""
        return max(0, self.count - len(self.cards))


@dataclass
class Board:
    pipeline: Pipeline
    columns: list[Column]
    show_amounts: bool
    scope: str = ""
    per_column: int = 50

    @property
    def count(self) -> int:
        return sum(c.count for c in self.columns)

    @property
    def total(self) -> Decimal:
        return sum((c.total for c in self.columns), Decimal("0.00"))

    @property
    def weighted(self) -> Decimal:
        return sum((c.weighted for c in self.columns), Decimal("0.0000"))


def _board_rows(actor: Actor, pipeline: Pipeline, scope: str | None) -> QuerySet[Opportunity]:
    return opportunity_list(actor, scope).filter(pipeline=pipeline, status=OpportunityStatus.OPEN)


# What a card shows: 150 cards × six related rows in full were most of the board's time.
CARD_FIELDS = ("title", "amount", "currency", "probability", "expected_close_date", "stage_changed_at", "stage_id",
               "organization__legal_name", "organization__trade_name")  # fmt: skip


def _card_fields(rows: QuerySet[Opportunity]) -> QuerySet[Opportunity]:
    return rows.select_related(None).select_related("organization").only(*CARD_FIELDS)


def kanban(actor: Actor, pipeline: Pipeline, *, scope: str | None = None, per_column: int | None = None) -> Board:
    """Open stages with their first cards, and counts, totals and weighted totals over ALL cards.

    Each column shows at most ``per_column`` cards (soonest expected close first); the rest
    come with "load more" (``kanban_cards``). Totals are integer SUMs in SQL over the
    minor-unit column (amount × probability for the weighted one, i.e. 10⁻⁴ units), so they
    are exact on SQLite too. Three queries whatever the number of cards: settings,
    aggregates, the first cards of every column at once (stages come with the pipeline).
    """
    per_column = per_column or kanban_cards_per_column()
    show_amounts = can_see_amounts(actor)
    stages = [s for s in pipeline.stages.all() if s.kind == "open"]
    visible = _board_rows(actor, pipeline, scope)
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
    # The first cards of every column in one query: rank within the stage, keep the top ones.
    ranked = (
        _card_fields(visible)
        .filter(stage_id__in=list(columns))
        .annotate(card_rank=Window(RowNumber(), partition_by=[F("stage_id")], order_by=list(CARD_ORDER)))
    )
    for card in ranked.filter(card_rank__lte=per_column).order_by("stage_id", *CARD_ORDER):
        columns[card.stage_id].cards.append(card)
    return Board(
        pipeline=pipeline, columns=list(columns.values()), show_amounts=show_amounts, scope=scope or "",
        per_column=per_column,
    )  # fmt: skip


def kanban_cards(
    actor: Actor, pipeline: Pipeline, stage_id: int, *, offset: int, scope: str | None = None,
    limit: int | None = None,
) -> list[Opportunity]:  # fmt: skip
    """The next cards of one column ("load more"), in the board's order."""
    limit = limit or kanban_cards_per_column()
    rows = _card_fields(_board_rows(actor, pipeline, scope)).filter(stage_id=stage_id).order_by(*CARD_ORDER)
    return list(rows[offset : offset + limit])


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

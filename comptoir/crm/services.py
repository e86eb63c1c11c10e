"""Every write of the CRM: pipelines and stages, leads, opportunities and their workflow."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from comptoir.contacts import selectors as contact_selectors
from comptoir.contacts import services as contact_services
from comptoir.contacts.models import Organization, Person
from comptoir.contacts.normalize import search_text
from comptoir.crm import selectors, states
from comptoir.crm.models import (
    CrmSettings,
    Lead,
    LeadStatus,
    LostReason,
    Opportunity,
    OpportunityStatus,
    Pipeline,
    Stage,
    StageKind,
)
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.money import to_decimal
from comptoir.org.models import Company, Membership, Team

# The default pipeline (English source, translated on display through the catalogue).
DEFAULT_STAGES = [
    (_("Qualification"), 10, StageKind.OPEN),
    (_("Proposal"), 30, StageKind.OPEN),
    (_("Negotiation"), 60, StageKind.OPEN),
    (_("Won"), 100, StageKind.WON),
    (_("Lost"), 0, StageKind.LOST),
]
DEFAULT_LOST_REASONS = [_("Price"), _("Competitor chosen"), _("No budget"), _("No decision"), _("Timing")]

OPPORTUNITY_FIELDS = [
    "title", "organization_id", "amount", "currency", "probability", "expected_close_date", "source",
    "owner_id", "team_id",
]  # fmt: skip
LEAD_FIELDS = [
    "title", "organization_id", "person_id", "organization_name", "contact_name", "email", "phone", "source",
    "notes", "owner_id", "team_id",
]  # fmt: skip
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_AMOUNT = Decimal("1e15")


def _required(value: Any) -> str:
    return str(_("This field is required.")) if not str(value or "").strip() else ""


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


# --- Pipelines ------------------------------------------------------------------------


@transaction.atomic
def pipeline_ensure_default(*, actor: Actor) -> Pipeline:
    """The company's default pipeline, created with its stages and lost reasons on first use."""
    require(actor, "crm.view_opportunity")
    found = Pipeline.objects.filter(company_id=actor.company_id, is_default=True).first()
    if found is not None:
        return found
    # Two first visits at once: the company lock makes the second one find the first's pipeline.
    Company.objects.select_for_update().get(pk=actor.company_id)
    found = Pipeline.objects.filter(company_id=actor.company_id, is_default=True).first()
    if found is not None:
        return found
    # Default names are company data, in the company's language, whoever opens the CRM first.
    with translation.override(settings.LANGUAGE_CODE):
        pipeline = Pipeline.objects.create(company_id=actor.company_id, name=str(_("Sales pipeline")), is_default=True)
        Stage.objects.bulk_create(
            Stage(pipeline=pipeline, name=str(name), sequence=(i + 1) * 10, probability=probability, kind=kind)
            for i, (name, probability, kind) in enumerate(DEFAULT_STAGES)
        )
        if not LostReason.objects.filter(company_id=actor.company_id).exists():
            reasons = [LostReason(company_id=actor.company_id, name=str(n)) for n in DEFAULT_LOST_REASONS]  # type: ignore[misc]
            LostReason.objects.bulk_create(reasons)
    audit.record(actor, "pipeline.create", pipeline, changes={"name": [None, pipeline.name]})
    return pipeline


def _stage_clean(pipeline: Pipeline, data: dict[str, Any], stage: Stage | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name:
            _add(errors, "name", _("This field is required."))
        elif len(name) > 100:
            _add(errors, "name", _("At most 100 characters."))
        elif Stage.objects.filter(pipeline=pipeline, name=name).exclude(pk=getattr(stage, "pk", None)).exists():
            _add(errors, "name", _("A stage of this pipeline already has this name."))
        cleaned["name"] = name
    if "probability" in data:
        probability = data["probability"]
        if not isinstance(probability, int) or isinstance(probability, bool) or not 0 <= probability <= 100:
            _add(errors, "probability", _("Enter a whole number between 0 and 100."))
        cleaned["probability"] = probability
    if "sequence" in data:
        sequence = data["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool) or not 0 <= sequence <= 100_000:
            _add(errors, "sequence", _("Enter a whole number between 0 and 100000."))
        cleaned["sequence"] = sequence
    if "kind" in data:
        if data["kind"] not in StageKind.values:
            _add(errors, "kind", _("Choose among: %(values)s.") % {"values": ", ".join(StageKind.values)})
        cleaned["kind"] = data["kind"]
    unknown = set(data) - {"name", "probability", "sequence", "kind"}
    for name in unknown:
        _add(errors, name, _("Unknown field."))
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def _pipeline_locked(actor: Actor, pipeline_id: int) -> Pipeline:
    pipeline = Pipeline.objects.select_for_update().filter(company_id=actor.company_id, pk=pipeline_id).first()
    if pipeline is None:
        raise NotFound("pipeline_not_found")
    return pipeline


@transaction.atomic
def stage_create(*, actor: Actor, pipeline_id: int, **data: Any) -> Stage:
    require(actor, "crm.view_opportunity")
    pipeline = _pipeline_locked(actor, pipeline_id)
    require(actor, "crm.manage_pipelines")
    cleaned = _stage_clean(pipeline, {"name": "", "probability": 0, "kind": StageKind.OPEN, **data})
    if "sequence" not in cleaned:
        last = pipeline.stages.order_by("-sequence").values_list("sequence", flat=True).first()
        cleaned["sequence"] = (last or 0) + 10
    stage = Stage.objects.create(pipeline=pipeline, **cleaned)
    audit.record(actor, "stage.create", stage, changes=audit.diff({}, cleaned))
    return stage


def _stage_locked(actor: Actor, stage_id: int) -> Stage:
    stage = (
        Stage.objects.select_for_update()
        .select_related("pipeline")
        .filter(pipeline__company_id=actor.company_id, pk=stage_id)
        .first()
    )
    if stage is None:
        raise NotFound("stage_not_found")
    return stage


@transaction.atomic
def stage_update(*, actor: Actor, stage_id: int, **data: Any) -> Stage:
    require(actor, "crm.view_opportunity")
    stage = _stage_locked(actor, stage_id)
    require(actor, "crm.manage_pipelines")
    cleaned = _stage_clean(stage.pipeline, data, stage)
    if "kind" in cleaned and cleaned["kind"] != stage.kind and stage.opportunities.exists():
        raise Conflict("stage_in_use", _("This stage holds opportunities: its kind cannot change."))
    before = audit.snapshot(stage, list(cleaned))
    for name, value in cleaned.items():
        setattr(stage, name, value)
    stage.save()
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor, "stage.update", stage, changes=changes)
    return stage


@transaction.atomic
def stage_delete(*, actor: Actor, stage_id: int) -> None:
    require(actor, "crm.view_opportunity")
    stage = _stage_locked(actor, stage_id)
    require(actor, "crm.manage_pipelines")
    if stage.opportunities.exists():
        raise Conflict("stage_in_use", _("Move this stage's opportunities elsewhere before deleting it."))
    if (
        stage.kind == StageKind.OPEN
        and not stage.pipeline.stages.filter(kind=StageKind.OPEN).exclude(pk=stage.pk).exists()
    ):
        raise Conflict("last_open_stage", _("A pipeline needs at least one stage in progress."))
    audit.record(actor, "stage.delete", stage, changes={"name": [stage.name, None]})
    stage.delete()


@transaction.atomic
def crm_settings_update(*, actor: Actor, hide_amounts_from_marketing: bool) -> CrmSettings:
    require(actor, "crm.manage_pipelines")
    settings, _created = CrmSettings.objects.select_for_update().get_or_create(company_id=actor.company_id)
    if settings.hide_amounts_from_marketing != bool(hide_amounts_from_marketing):
        old = settings.hide_amounts_from_marketing
        changes = {"hide_amounts_from_marketing": [old, bool(hide_amounts_from_marketing)]}
        audit.record(actor, "crm_settings.update", settings, changes=changes)
        settings.hide_amounts_from_marketing = bool(hide_amounts_from_marketing)
        settings.save()
    return settings


# --- Shared cleaning ------------------------------------------------------------------


def _clean_owned(actor: Actor, data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    if "owner_id" in data:
        owner_id = data["owner_id"]
        if (
            owner_id is not None
            and not Membership.objects.filter(company_id=actor.company_id, user_id=owner_id).exists()
        ):
            _add(errors, "owner_id", _("Choose a user of the company."))
        cleaned["owner_id"] = owner_id
    if "team_id" in data:
        team_id = data["team_id"]
        if team_id is not None and not Team.objects.filter(company_id=actor.company_id, pk=team_id).exists():
            _add(errors, "team_id", _("Choose a team of the company."))
        cleaned["team_id"] = team_id
    if "source" in data:
        cleaned["source"] = _text(data["source"], 100, "source", errors)
    if "organization_id" in data:
        org_id = data["organization_id"]
        if (
            org_id is not None
            and not Organization.objects.filter(
                company_id=actor.company_id, pk=org_id, merged_into__isnull=True
            ).exists()
        ):
            _add(errors, "organization_id", _("Choose an organization of the company."))
        cleaned["organization_id"] = org_id
    return cleaned


def _text(value: Any, max_length: int, name: str, errors: dict[str, list[str]], required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        _add(errors, name, _("This field is required."))
    elif len(text) > max_length:
        _add(errors, name, _("At most %(n)s characters.") % {"n": max_length})
    return text


def _clean_opportunity(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned = _clean_owned(actor, data, errors)
    if "title" in data:
        cleaned["title"] = _text(data["title"], 200, "title", errors, required=True)
    if "amount" in data:
        try:
            amount = to_decimal(data["amount"] if data["amount"] is not None else "0")
            if not amount.is_finite() or amount < 0 or amount >= _MAX_AMOUNT:
                raise ValueError
            if amount != amount.quantize(Decimal("0.01")):
                _add(errors, "amount", _("Use at most 2 decimal places."))
            cleaned["amount"] = amount
        except (TypeError, ValueError, ArithmeticError):
            _add(errors, "amount", _("Enter an amount between 0 and 999 999 999 999 999.99."))
    if "currency" in data:
        currency = str(data["currency"] or "").strip().upper()
        if not _CURRENCY.match(currency):
            _add(errors, "currency", _("Enter a three-letter ISO 4217 code, e.g. EUR."))
        cleaned["currency"] = currency
    if "probability" in data:
        probability = data["probability"]
        if not isinstance(probability, int) or isinstance(probability, bool) or not 0 <= probability <= 100:
            _add(errors, "probability", _("Enter a whole number between 0 and 100."))
        cleaned["probability"] = probability
    if "expected_close_date" in data:
        value = data["expected_close_date"]
        if value is not None and not isinstance(value, dt.date):
            _add(errors, "expected_close_date", _("Enter a valid date."))
        cleaned["expected_close_date"] = value
    unknown = set(data) - set(OPPORTUNITY_FIELDS) - {"people_ids"}
    for name in sorted(unknown):
        _add(errors, name, _("Unknown field."))
    if "people_ids" in data:
        ids = list(dict.fromkeys(data["people_ids"] or []))
        people = contact_selectors.visible_people(actor).filter(pk__in=ids, merged_into__isnull=True)
        if len(set(people.values_list("pk", flat=True))) != len(ids):
            _add(errors, "people_ids", _("Choose people you can see."))
        cleaned["people_ids"] = ids
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def _check_still_visible(actor: Actor, opportunity_id: int) -> None:
    """Refuse an owner/team that would hide the opportunity from the actor (the transaction rolls back)."""
    if not selectors.opportunity_list(actor).filter(pk=opportunity_id).exists():
        message = _("You would no longer see this opportunity: choose yourself, a team member or your team.")
        raise ValidationFailed(fields={"owner_id": [str(message)]})


def _open_stage(actor: Actor, pipeline_id: int | None, stage_id: int | None) -> tuple[Pipeline, Stage]:
    errors: dict[str, list[str]] = {}
    if pipeline_id is None:
        pipeline = pipeline_ensure_default(actor=actor)
    else:
        found = Pipeline.objects.filter(company_id=actor.company_id, pk=pipeline_id).first()
        if found is None:
            raise ValidationFailed(fields={"pipeline_id": [str(_("Choose a pipeline of the company."))]})
        pipeline = found
    stages = Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN).order_by("sequence", "id")
    stage = stages.filter(pk=stage_id).first() if stage_id is not None else stages.first()
    if stage is None:
        _add(errors, "stage_id", _("Choose a stage in progress of this pipeline."))
        raise ValidationFailed(fields=errors)
    return pipeline, stage


# --- Opportunities --------------------------------------------------------------------


def _opportunity_payload(opp: Opportunity) -> dict[str, Any]:
    return {
        "id": opp.pk,
        "title": opp.title,
        "stage_id": opp.stage_id,
        "pipeline_id": opp.pipeline_id,
        "status": opp.status,
        "amount": str(opp.amount),
        "currency": opp.currency,
    }


@transaction.atomic
def opportunity_create(
    *, actor: Actor, pipeline_id: int | None = None, stage_id: int | None = None, **data: Any
) -> Opportunity:
    require(actor, "crm.change_opportunity")
    cleaned = _clean_opportunity(actor, {"title": "", **data})
    pipeline, stage = _open_stage(actor, pipeline_id, stage_id)
    people_ids = cleaned.pop("people_ids", [])
    cleaned.setdefault("owner_id", actor.user_id)
    cleaned.setdefault("probability", stage.probability)
    opp = Opportunity(  # type: ignore[misc]
        company_id=actor.company_id, pipeline=pipeline, stage=stage, stage_changed_at=timezone.now(), **cleaned
    )
    opp.search_text = search_text(opp.title, opp.source)
    opp.save()
    if people_ids:
        opp.people.set(people_ids)
    _check_still_visible(actor, opp.pk)
    audit.record(actor, "opportunity.create", opp, changes=audit.diff({}, {**cleaned, "stage_id": stage.pk}))
    events.publish("crm.opportunity_created", company_id=actor.company_id, payload=_opportunity_payload(opp))
    return opp


def _locked(actor: Actor, opportunity_id: int) -> Opportunity:
    """Lock the opportunity if the actor sees it (404 otherwise), then require the change right."""
    visible = selectors.opportunity_list(actor).filter(pk=opportunity_id).values("pk")
    opp = Opportunity.objects.select_for_update().select_related("stage").filter(pk__in=visible).first()
    if opp is None:
        raise NotFound("opportunity_not_found")
    require(actor, "crm.change_opportunity")
    return opp


@transaction.atomic
def opportunity_update(*, actor: Actor, opportunity_id: int, **data: Any) -> Opportunity:
    opp = _locked(actor, opportunity_id)
    if opp.status != OpportunityStatus.OPEN:
        raise Conflict("opportunity_closed", _("Reopen the opportunity before changing it."))
    if "amount" in data and not selectors.can_see_amounts(actor):
        # Who may not see an amount may not overwrite it either.
        raise PermissionDenied("amount_hidden", _("You are not allowed to change amounts."))
    cleaned = _clean_opportunity(actor, data)
    people_ids = cleaned.pop("people_ids", None)
    before = audit.snapshot(opp, list(cleaned))
    for name, value in cleaned.items():
        setattr(opp, name, value)
    opp.search_text = search_text(opp.title, opp.source)
    opp.save()
    if "owner_id" in cleaned or "team_id" in cleaned:
        _check_still_visible(actor, opp.pk)
    changes = audit.diff(before, cleaned)
    if people_ids is not None:
        old = sorted(opp.people.values_list("pk", flat=True))
        if old != sorted(people_ids):
            opp.people.set(people_ids)
            changes["people_ids"] = [old, sorted(people_ids)]
    if changes:
        audit.record(actor, "opportunity.update", opp, changes=changes)
    return opp


@transaction.atomic
def opportunity_move_stage(*, actor: Actor, opportunity_id: int, stage_id: int) -> Opportunity:
    opp = _locked(actor, opportunity_id)
    if opp.status != OpportunityStatus.OPEN:
        raise Conflict("opportunity_closed", _("Reopen the opportunity before moving it."))
    stage = Stage.objects.filter(pipeline_id=opp.pipeline_id, pk=stage_id).first()
    if stage is None:
        raise ValidationFailed(fields={"stage_id": [str(_("Choose a stage of the opportunity's pipeline."))]})
    if stage.kind != StageKind.OPEN:
        raise Conflict("use_won_lost_action", _("Use “Mark won” or “Mark lost” to close an opportunity."))
    if stage.pk == opp.stage_id:
        return opp
    old_stage = opp.stage
    opp.stage = stage
    opp.probability = stage.probability
    opp.stage_changed_at = timezone.now()
    opp.save(update_fields=["stage", "probability", "stage_changed_at", "updated_at"])
    audit.record(actor, "opportunity.move_stage", opp, changes={"stage": [old_stage.name, stage.name]})
    events.publish(
        "crm.opportunity_stage_changed",
        company_id=actor.company_id,
        payload={**_opportunity_payload(opp), "from_stage_id": old_stage.pk},
    )
    return opp


def _closing_stage(opp: Opportunity, kind: str) -> Stage | None:
    return Stage.objects.filter(pipeline_id=opp.pipeline_id, kind=kind).order_by("sequence", "id").first()


@transaction.atomic
def opportunity_mark_won(*, actor: Actor, opportunity_id: int) -> Opportunity:
    opp = _locked(actor, opportunity_id)
    states.OPPORTUNITY.check(opp.status, "mark_won")
    stage = _closing_stage(opp, StageKind.WON)
    before = {"status": opp.status, "stage": opp.stage.name}
    opp.status = OpportunityStatus.WON
    opp.closed_at = timezone.now()
    opp.probability = 100
    if stage is not None:
        opp.stage, opp.stage_changed_at = stage, opp.closed_at
    opp.save()
    audit.record(
        actor, "opportunity.mark_won", opp, changes=audit.diff(before, {"status": opp.status, "stage": opp.stage.name})
    )
    events.publish("crm.opportunity_won", company_id=actor.company_id, payload=_opportunity_payload(opp))
    return opp


@transaction.atomic
def opportunity_mark_lost(
    *, actor: Actor, opportunity_id: int, lost_reason_id: int | None, note: str = ""
) -> Opportunity:
    opp = _locked(actor, opportunity_id)
    states.OPPORTUNITY.check(opp.status, "mark_lost")
    errors: dict[str, list[str]] = {}
    reason = None
    if lost_reason_id is None:
        _add(errors, "lost_reason_id", _("This field is required."))
    else:
        reason = LostReason.objects.filter(company_id=actor.company_id, pk=lost_reason_id, is_active=True).first()
        if reason is None:
            _add(errors, "lost_reason_id", _("Choose a lost reason of the company."))
    note = _text(note, 2000, "note", errors)
    if errors:
        raise ValidationFailed(fields=errors)
    stage = _closing_stage(opp, StageKind.LOST)
    before = {"status": opp.status, "stage": opp.stage.name}
    opp.status = OpportunityStatus.LOST
    opp.closed_at = timezone.now()
    opp.lost_reason = reason
    opp.lost_note = note
    opp.probability = 0
    if stage is not None:
        opp.stage, opp.stage_changed_at = stage, opp.closed_at
    opp.save()
    changes = audit.diff(before, {"status": opp.status, "stage": opp.stage.name})
    audit.record(actor, "opportunity.mark_lost", opp, changes={**changes, "lost_reason": [None, str(reason)]})
    events.publish(
        "crm.opportunity_lost",
        company_id=actor.company_id,
        payload={**_opportunity_payload(opp), "lost_reason": str(reason), "note": note},
    )
    return opp


@transaction.atomic
def opportunity_reopen(*, actor: Actor, opportunity_id: int) -> Opportunity:
    opp = _locked(actor, opportunity_id)
    states.OPPORTUNITY.check(opp.status, "reopen")
    stage = Stage.objects.filter(pipeline_id=opp.pipeline_id, kind=StageKind.OPEN).order_by("-sequence", "-id").first()
    if stage is None:
        raise Conflict("no_open_stage", _("The pipeline has no stage in progress to reopen into."))
    before = {"status": opp.status, "stage": opp.stage.name}
    opp.status = OpportunityStatus.OPEN
    opp.closed_at = None
    opp.lost_reason = None
    opp.lost_note = ""
    opp.stage, opp.probability, opp.stage_changed_at = stage, stage.probability, timezone.now()
    opp.save()
    audit.record(
        actor, "opportunity.reopen", opp, changes=audit.diff(before, {"status": opp.status, "stage": stage.name})
    )
    events.publish("crm.opportunity_reopened", company_id=actor.company_id, payload=_opportunity_payload(opp))
    return opp


# --- Leads ----------------------------------------------------------------------------


def _clean_lead(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned = _clean_owned(actor, data, errors)
    if "title" in data:
        cleaned["title"] = _text(data["title"], 200, "title", errors, required=True)
    for name, size in (("organization_name", 200), ("contact_name", 200), ("phone", 20), ("notes", 10_000)):
        if name in data:
            cleaned[name] = _text(data[name], size, name, errors)
    if "email" in data:
        from django.core.exceptions import ValidationError as DjangoValidationError
        from django.core.validators import validate_email

        email = _text(data["email"], 254, "email", errors).lower()
        if email:
            try:
                validate_email(email)
            except DjangoValidationError:
                _add(errors, "email", _("Enter a valid email address."))
        cleaned["email"] = email
    if "person_id" in data:
        person_id = data["person_id"]
        if (
            person_id is not None
            and not Person.objects.filter(company_id=actor.company_id, pk=person_id, merged_into__isnull=True).exists()
        ):
            _add(errors, "person_id", _("Choose a person of the company."))
        cleaned["person_id"] = person_id
    for name in sorted(set(data) - set(LEAD_FIELDS)):
        _add(errors, name, _("Unknown field."))
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def _check_lead_visible(actor: Actor, lead_id: int) -> None:
    if not selectors.lead_list(actor).filter(pk=lead_id).exists():
        message = _("You would no longer see this lead: choose yourself, a team member or your team.")
        raise ValidationFailed(fields={"owner_id": [str(message)]})


def _lead_search_text(lead: Lead) -> str:
    return search_text(lead.title, lead.organization_name, lead.contact_name, lead.email, lead.source)


@transaction.atomic
def lead_create(*, actor: Actor, **data: Any) -> Lead:
    require(actor, "crm.change_opportunity")
    cleaned = _clean_lead(actor, {"title": "", **data})
    cleaned.setdefault("owner_id", actor.user_id)
    lead = Lead(company_id=actor.company_id, **cleaned)  # type: ignore[misc]
    lead.search_text = _lead_search_text(lead)
    lead.save()
    _check_lead_visible(actor, lead.pk)
    audit.record(actor, "lead.create", lead, changes=audit.diff({}, cleaned))
    events.publish("crm.lead_created", company_id=actor.company_id, payload={"id": lead.pk, "title": lead.title})
    return lead


def _lead_locked(actor: Actor, lead_id: int) -> Lead:
    visible = selectors.lead_list(actor).filter(pk=lead_id).values("pk")
    lead = Lead.objects.select_for_update().filter(pk__in=visible).first()
    if lead is None:
        raise NotFound("lead_not_found")
    require(actor, "crm.change_opportunity")
    return lead


@transaction.atomic
def lead_update(*, actor: Actor, lead_id: int, **data: Any) -> Lead:
    lead = _lead_locked(actor, lead_id)
    if lead.status != LeadStatus.NEW:
        raise Conflict("lead_closed", _("Only a new lead can be changed."))
    cleaned = _clean_lead(actor, data)
    before = audit.snapshot(lead, list(cleaned))
    for name, value in cleaned.items():
        setattr(lead, name, value)
    lead.search_text = _lead_search_text(lead)
    lead.save()
    if "owner_id" in cleaned or "team_id" in cleaned:
        _check_lead_visible(actor, lead.pk)
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor, "lead.update", lead, changes=changes)
    return lead


def _split_name(full: str) -> tuple[str, str]:
    first, _sep, last = full.strip().rpartition(" ")
    return (first, last) if first else ("", last)


def _contact_rows(actor: Actor, lead: Lead) -> tuple[int | None, int | None]:
    """The lead's organization and person, created through the contacts services when missing."""
    org_id, person_id = lead.organization_id, lead.person_id
    assignment: dict[str, Any] = {"team_id": lead.team_id}
    if lead.owner_id is not None:
        assignment["owner_id"] = lead.owner_id
    if org_id is None and lead.organization_name:
        org_id = contact_services.organization_create(actor=actor, legal_name=lead.organization_name, **assignment).pk
    if person_id is None and lead.contact_name:
        first, last = _split_name(lead.contact_name)
        person = contact_services.person_create(
            actor=actor, organization_id=org_id, first_name=first, last_name=last, email=lead.email,
            phone=lead.phone, **assignment,
        )  # fmt: skip
        person_id = person.pk
    return org_id, person_id


@transaction.atomic
def lead_qualify(
    *,
    actor: Actor,
    lead_id: int,
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    amount: Decimal | str | None = None,
    expected_close_date: dt.date | None = None,
) -> Opportunity:
    """Turn a new lead into an opportunity (creating its organization and person if needed)."""
    lead = _lead_locked(actor, lead_id)
    states.LEAD.check(lead.status, "qualify")
    org_id, person_id = _contact_rows(actor, lead)
    data: dict[str, Any] = {
        "title": lead.title, "organization_id": org_id, "source": lead.source, "owner_id": lead.owner_id,
        "team_id": lead.team_id, "people_ids": [person_id] if person_id else [],
    }  # fmt: skip
    if amount is not None:
        data["amount"] = amount
    if expected_close_date is not None:
        data["expected_close_date"] = expected_close_date
    opp = opportunity_create(actor=actor, pipeline_id=pipeline_id, stage_id=stage_id, **data)
    lead.status = LeadStatus.QUALIFIED
    lead.opportunity = opp
    lead.organization_id, lead.person_id = org_id, person_id
    lead.save()
    audit.record(
        actor,
        "lead.qualify",
        lead,
        changes={"status": [LeadStatus.NEW, LeadStatus.QUALIFIED], "opportunity": [None, opp.pk]},
    )
    events.publish("crm.lead_qualified", company_id=actor.company_id, payload={"id": lead.pk, "opportunity_id": opp.pk})
    return opp


@transaction.atomic
def lead_discard(*, actor: Actor, lead_id: int, reason: str) -> Lead:
    lead = _lead_locked(actor, lead_id)
    states.LEAD.check(lead.status, "discard")
    errors: dict[str, list[str]] = {}
    reason = _text(reason, 200, "reason", errors, required=True)
    if errors:
        raise ValidationFailed(fields=errors)
    lead.status = LeadStatus.DISCARDED
    lead.discard_reason = reason
    lead.save()
    audit.record(
        actor,
        "lead.discard",
        lead,
        changes={"status": [LeadStatus.NEW, LeadStatus.DISCARDED], "reason": [None, reason]},
    )
    return lead

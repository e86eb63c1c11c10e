"""CRM API (pipelines, leads, opportunities): see docs/api.md for conventions.

Amounts are null for callers who may not see them (``selectors.can_see_amounts``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.crm import selectors, services, states
from comptoir.crm.models import Lead, Opportunity, Pipeline
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.context import Actor

router = apikit.module_router("crm")

ObjectId = Path(..., ge=1, le=MAX_ID)
# Money travels as a decimal string, never a JSON number (a float).
AMOUNT_PATTERN = r"^[0-9]{1,15}(\.[0-9]{1,2})?$"
AMOUNT_HELP = 'Decimal string with at most 2 decimals, e.g. `"1250.50"`.'
OptionalId = Field(None, ge=1, le=MAX_ID)


# --- Schemas --------------------------------------------------------------------------


class StageOut(Schema):
    id: int
    name: str
    sequence: int
    probability: int
    kind: str


class PipelineOut(Schema):
    id: int
    name: str
    is_default: bool
    stages: list[StageOut]


class OpportunityOut(Schema):
    id: int
    title: str
    pipeline_id: int
    stage_id: int
    stage_name: str
    status: str
    organization_id: int | None
    organization_name: str | None
    people_ids: list[int]
    amount: str | None = Field(description="Decimal string; null when the caller may not see amounts.")
    currency: str
    probability: int
    expected_close_date: dt.date | None
    source: str
    owner_id: int | None
    team_id: int | None
    closed_at: dt.datetime | None
    lost_reason_id: int | None
    lost_note: str
    stage_changed_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    actions: list[str] = Field(description="Workflow actions the caller may take now.")


class LeadOut(Schema):
    id: int
    title: str
    status: str
    organization_id: int | None
    person_id: int | None
    organization_name: str
    contact_name: str
    email: str
    phone: str
    source: str
    notes: str
    owner_id: int | None
    team_id: int | None
    discard_reason: str
    opportunity_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    actions: list[str]


class OpportunityCreateIn(InputSchema):
    title: str = Field(..., max_length=200)
    pipeline_id: int | None = OptionalId
    stage_id: int | None = OptionalId
    organization_id: int | None = OptionalId
    people_ids: list[int] = Field(default_factory=list, max_length=100)
    amount: str = Field("0", pattern=AMOUNT_PATTERN, description=AMOUNT_HELP)
    currency: str = Field("EUR", min_length=3, max_length=3)
    probability: int | None = Field(None, ge=0, le=100)
    expected_close_date: dt.date | None = None
    source: str = Field("", max_length=100)
    owner_id: int | None = OptionalId
    team_id: int | None = OptionalId


class OpportunityUpdateIn(InputSchema):
    """Only the fields sent are changed. Stage and status change through the actions."""

    title: str = Field(None, max_length=200)  # type: ignore[assignment]
    organization_id: int | None = OptionalId
    people_ids: list[int] | None = Field(None, max_length=100)
    amount: str = Field(None, pattern=AMOUNT_PATTERN, description=AMOUNT_HELP)  # type: ignore[assignment]
    currency: str = Field(None, min_length=3, max_length=3)  # type: ignore[assignment]
    probability: int = Field(None, ge=0, le=100)  # type: ignore[assignment]
    expected_close_date: dt.date | None = None
    source: str = Field(None, max_length=100)  # type: ignore[assignment]
    owner_id: int | None = OptionalId
    team_id: int | None = OptionalId


class MoveStageIn(InputSchema):
    stage_id: int = Field(..., ge=1, le=MAX_ID)


class MarkLostIn(InputSchema):
    lost_reason_id: int = Field(..., ge=1, le=MAX_ID)
    note: str = Field("", max_length=2000)


class LeadCreateIn(InputSchema):
    title: str = Field(..., max_length=200)
    organization_id: int | None = OptionalId
    person_id: int | None = OptionalId
    organization_name: str = Field("", max_length=200)
    contact_name: str = Field("", max_length=200)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=20)
    source: str = Field("", max_length=100)
    notes: str = Field("", max_length=10_000)
    owner_id: int | None = OptionalId
    team_id: int | None = OptionalId


class LeadUpdateIn(InputSchema):
    title: str = Field(None, max_length=200)  # type: ignore[assignment]
    organization_id: int | None = OptionalId
    person_id: int | None = OptionalId
    organization_name: str = Field(None, max_length=200)  # type: ignore[assignment]
    contact_name: str = Field(None, max_length=200)  # type: ignore[assignment]
    email: str = Field(None, max_length=254)  # type: ignore[assignment]
    phone: str = Field(None, max_length=20)  # type: ignore[assignment]
    source: str = Field(None, max_length=100)  # type: ignore[assignment]
    notes: str = Field(None, max_length=10_000)  # type: ignore[assignment]
    owner_id: int | None = OptionalId
    team_id: int | None = OptionalId


class QualifyIn(InputSchema):
    pipeline_id: int | None = OptionalId
    stage_id: int | None = OptionalId
    amount: str | None = Field(None, pattern=AMOUNT_PATTERN, description=AMOUNT_HELP)
    expected_close_date: dt.date | None = None


class DiscardIn(InputSchema):
    reason: str = Field(..., max_length=200)


class OpportunityFilters(ListParams):
    q: str | None = Field(None, max_length=200, description="Search title, organization and source.")
    pipeline_id: int | None = OptionalId
    stage_id: int | None = OptionalId
    status: Literal["open", "won", "lost"] | None = None
    owner_id: int | None = OptionalId
    scope: Literal["mine", "team", "all"] | None = Field(
        None, description="mine: owned by you; team: your teams' (as member or manager); all: needs view-all."
    )


class LeadFilters(ListParams):
    q: str | None = Field(None, max_length=200, description="Search title, organization, contact and email.")
    status: Literal["new", "qualified", "discarded"] | None = None
    owner_id: int | None = OptionalId


# --- Helpers --------------------------------------------------------------------------


def opportunity_out(actor: Actor, opp: Opportunity, show_amounts: bool) -> dict[str, Any]:
    return {
        **{name: getattr(opp, name) for name in OpportunityOut.model_fields if hasattr(opp, name)},
        "stage_name": opp.stage.name,
        "organization_name": str(opp.organization) if opp.organization else None,
        "people_ids": sorted(p.pk for p in opp.people.all()),
        "amount": str(opp.amount) if show_amounts else None,
        "actions": [t.action for t in states.OPPORTUNITY.actions_from(opp.status, actor)],
    }


def lead_out(actor: Actor, lead: Lead) -> dict[str, Any]:
    return {
        **{name: getattr(lead, name) for name in LeadOut.model_fields if hasattr(lead, name)},
        "actions": [t.action for t in states.LEAD.actions_from(lead.status, actor)],
    }


def _opportunity(actor: Actor, opportunity_id: int) -> dict[str, Any]:
    return opportunity_out(actor, selectors.opportunity_get(actor, opportunity_id), selectors.can_see_amounts(actor))


# --- Pipelines ------------------------------------------------------------------------


@router.get("/pipelines", response=responses(list[PipelineOut]), summary="List pipelines with their stages")
def pipeline_list(request: HttpRequest) -> list[Pipeline]:
    actor = apikit.actor(request)
    services.pipeline_ensure_default(actor=actor)  # the first use of the CRM creates it
    return list(selectors.pipeline_list(actor))


@router.get("/pipelines/{pipeline_id}", response=responses(PipelineOut), summary="Get a pipeline")
def pipeline_get(request: HttpRequest, pipeline_id: int = ObjectId) -> Pipeline:
    return selectors.pipeline_get(apikit.actor(request), pipeline_id)


# --- Opportunities --------------------------------------------------------------------

OPPORTUNITY_SORT = {
    "title": "title",
    "expected_close_date": "expected_close_date",
    "probability": "probability",
    "created_at": "created_at",
    "stage_changed_at": "stage_changed_at",
}


@router.get("/opportunities", response=responses(page_of(OpportunityOut)), summary="List opportunities")
def opportunity_list(request: HttpRequest, params: Query[OpportunityFilters]) -> dict[str, Any]:
    """Sort: `title`, `amount`, `expected_close_date`, `probability`, `created_at`, `stage_changed_at`."""
    actor = apikit.actor(request)
    show_amounts = selectors.can_see_amounts(actor)
    rows = selectors.opportunity_list(actor, params.scope).prefetch_related("people")
    if params.q:
        rows = selectors.opportunity_search(rows, params.q)
    for name in ("pipeline_id", "stage_id", "status", "owner_id"):
        if getattr(params, name) is not None:
            rows = rows.filter(**{name: getattr(params, name)})
    # Sorting by a hidden amount would leak it.
    sort = {**OPPORTUNITY_SORT, "amount": "amount"} if show_amounts else OPPORTUNITY_SORT
    page = apikit.paginate(rows, params, sort=sort, default_sort="-created_at")
    page["items"] = [opportunity_out(actor, opp, show_amounts) for opp in page["items"]]
    return page


@router.post("/opportunities", response=responses(OpportunityOut, status=201), summary="Create an opportunity")
def opportunity_create(request: HttpRequest, payload: OpportunityCreateIn) -> Status:
    actor = apikit.actor(request)
    data = payload.model_dump()
    if data["probability"] is None:
        del data["probability"]  # the stage's probability
    if data["owner_id"] is None:
        del data["owner_id"]  # the caller
    opp = services.opportunity_create(actor=actor, **data)
    return Status(201, _opportunity(actor, opp.pk))


@router.get("/opportunities/{opportunity_id}", response=responses(OpportunityOut), summary="Get an opportunity")
def opportunity_get(request: HttpRequest, opportunity_id: int = ObjectId) -> dict[str, Any]:
    return _opportunity(apikit.actor(request), opportunity_id)


@router.patch("/opportunities/{opportunity_id}", response=responses(OpportunityOut), summary="Change an opportunity")
def opportunity_update(request: HttpRequest, payload: OpportunityUpdateIn, opportunity_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    data = payload.model_dump(exclude_unset=True)
    services.opportunity_update(actor=actor, opportunity_id=opportunity_id, **data)
    return _opportunity(actor, opportunity_id)


@router.post(
    "/opportunities/{opportunity_id}/move-stage", response=responses(OpportunityOut), summary="Move to a stage"
)
def opportunity_move_stage(request: HttpRequest, payload: MoveStageIn, opportunity_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    services.opportunity_move_stage(actor=actor, opportunity_id=opportunity_id, stage_id=payload.stage_id)
    return _opportunity(actor, opportunity_id)


@router.post("/opportunities/{opportunity_id}/mark-won", response=responses(OpportunityOut), summary="Mark won")
def opportunity_mark_won(request: HttpRequest, opportunity_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    services.opportunity_mark_won(actor=actor, opportunity_id=opportunity_id)
    return _opportunity(actor, opportunity_id)


@router.post("/opportunities/{opportunity_id}/mark-lost", response=responses(OpportunityOut), summary="Mark lost")
def opportunity_mark_lost(request: HttpRequest, payload: MarkLostIn, opportunity_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    services.opportunity_mark_lost(
        actor=actor, opportunity_id=opportunity_id, lost_reason_id=payload.lost_reason_id, note=payload.note
    )
    return _opportunity(actor, opportunity_id)


@router.post("/opportunities/{opportunity_id}/reopen", response=responses(OpportunityOut), summary="Reopen")
def opportunity_reopen(request: HttpRequest, opportunity_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    services.opportunity_reopen(actor=actor, opportunity_id=opportunity_id)
    return _opportunity(actor, opportunity_id)


# --- Leads ----------------------------------------------------------------------------

LEAD_SORT = {"title": "title", "status": "status", "created_at": "created_at"}


@router.get("/leads", response=responses(page_of(LeadOut)), summary="List leads")
def lead_list(request: HttpRequest, params: Query[LeadFilters]) -> dict[str, Any]:
    """Sort: `title`, `status`, `created_at`."""
    actor = apikit.actor(request)
    rows = selectors.lead_list(actor)
    if params.q:
        rows = selectors.lead_search(rows, params.q)
    if params.status:
        rows = rows.filter(status=params.status)
    if params.owner_id:
        rows = rows.filter(owner_id=params.owner_id)
    page = apikit.paginate(rows, params, sort=LEAD_SORT, default_sort="-created_at")
    page["items"] = [lead_out(actor, lead) for lead in page["items"]]
    return page


@router.post("/leads", response=responses(LeadOut, status=201), summary="Create a lead")
def lead_create(request: HttpRequest, payload: LeadCreateIn) -> Status:
    actor = apikit.actor(request)
    data = payload.model_dump()
    if data["owner_id"] is None:
        del data["owner_id"]
    lead = services.lead_create(actor=actor, **data)
    return Status(201, lead_out(actor, selectors.lead_get(actor, lead.pk)))


@router.get("/leads/{lead_id}", response=responses(LeadOut), summary="Get a lead")
def lead_get(request: HttpRequest, lead_id: int = ObjectId) -> dict[str, Any]:
    actor = apikit.actor(request)
    return lead_out(actor, selectors.lead_get(actor, lead_id))


@router.patch("/leads/{lead_id}", response=responses(LeadOut), summary="Change a lead")
def lead_update(request: HttpRequest, payload: LeadUpdateIn, lead_id: int = ObjectId) -> dict[str, Any]:
    actor = apikit.actor(request)
    services.lead_update(actor=actor, lead_id=lead_id, **payload.model_dump(exclude_unset=True))
    return lead_out(actor, selectors.lead_get(actor, lead_id))


@router.post("/leads/{lead_id}/qualify", response=responses(OpportunityOut, status=201), summary="Qualify a lead")
def lead_qualify(request: HttpRequest, payload: QualifyIn, lead_id: int = ObjectId) -> Status:
    """Creates the opportunity (and the organization and person from the lead's details if needed)."""
    actor = apikit.actor(request)
    opp = services.lead_qualify(actor=actor, lead_id=lead_id, **payload.model_dump())
    return Status(201, _opportunity(actor, opp.pk))


@router.post("/leads/{lead_id}/discard", response=responses(LeadOut), summary="Discard a lead")
def lead_discard(request: HttpRequest, payload: DiscardIn, lead_id: int = ObjectId) -> dict[str, Any]:
    actor = apikit.actor(request)
    services.lead_discard(actor=actor, lead_id=lead_id, reason=payload.reason)
    return lead_out(actor, selectors.lead_get(actor, lead_id))

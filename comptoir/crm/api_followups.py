"""CRM API for follow-up rules (management: ``crm.manage_pipelines``): see docs/api.md for conventions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Schema
from ninja.responses import Status

from comptoir.crm import followups
from comptoir.crm.models import FollowUpRule
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses

router = apikit.module_router("crm")

ObjectId = Path(..., ge=1, le=MAX_ID)
OptionalId = Field(None, ge=1, le=MAX_ID)
Kind = Literal["no_activity", "stale_stage"]


class RuleOut(Schema):
    id: int
    name: str
    kind: str
    days: int
    pipeline_id: int | None
    stage_id: int | None
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class RuleCreateIn(InputSchema):
    name: str = Field(..., max_length=100)
    kind: Kind = Field(
        ...,
        description="`no_activity`: a task for the owner of an open opportunity without activity for `days` days; "
        "`stale_stage`: alert the owner's team manager when an opportunity stays in `stage_id` over `days` days.",
    )
    days: int = Field(..., ge=1, le=followups.MAX_DAYS)
    pipeline_id: int | None = OptionalId
    stage_id: int | None = Field(None, ge=1, le=MAX_ID, description="Required for `stale_stage`.")
    is_active: bool = True


class RuleUpdateIn(InputSchema):
    """Only the fields sent are changed."""

    name: str = Field(None, max_length=100)  # type: ignore[assignment]
    kind: Kind = None  # type: ignore[assignment]
    days: int = Field(None, ge=1, le=followups.MAX_DAYS)  # type: ignore[assignment]
    pipeline_id: int | None = OptionalId
    stage_id: int | None = OptionalId
    is_active: bool = None  # type: ignore[assignment]


class RunOut(Schema):
    rules: int
    tasks: int
    alerts: int
    errors: list[str]


@router.get("/followup-rules", response=responses(list[RuleOut]), summary="List follow-up rules")
def rule_list(request: HttpRequest) -> list[FollowUpRule]:
    return list(followups.rule_list(apikit.actor(request)).order_by("name", "pk"))


@router.post("/followup-rules", response=responses(RuleOut, status=201), summary="Create a follow-up rule")
def rule_create(request: HttpRequest, payload: RuleCreateIn) -> Status:
    rule = followups.rule_create(actor=apikit.actor(request), **payload.model_dump())
    return Status(201, rule)


# Before /followup-rules/{rule_id}: a fixed path wins over a parametrised one.
@router.post("/followup-rules/run", response=responses(RunOut), summary="Run the follow-up rules now")
def rule_run(request: HttpRequest) -> dict[str, Any]:
    """Applies the company's active rules at once (they also run every hour); idempotent."""
    return followups.run_now(actor=apikit.actor(request)).as_dict()


@router.get("/followup-rules/{rule_id}", response=responses(RuleOut), summary="Get a follow-up rule")
def rule_get(request: HttpRequest, rule_id: int = ObjectId) -> FollowUpRule:
    return followups.rule_get(apikit.actor(request), rule_id)


@router.patch("/followup-rules/{rule_id}", response=responses(RuleOut), summary="Change a follow-up rule")
def rule_update(request: HttpRequest, payload: RuleUpdateIn, rule_id: int = ObjectId) -> FollowUpRule:
    return followups.rule_update(actor=apikit.actor(request), rule_id=rule_id, **payload.model_dump(exclude_unset=True))


@router.delete("/followup-rules/{rule_id}", response=responses(None, status=204), summary="Delete a rule")
def rule_delete(request: HttpRequest, rule_id: int = ObjectId) -> Status:
    followups.rule_delete(actor=apikit.actor(request), rule_id=rule_id)
    return Status(204, None)

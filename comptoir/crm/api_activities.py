"""CRM API for activities (calls, meetings, emails, tasks): see docs/api.md for conventions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.crm import activities
from comptoir.crm.models import Activity
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses

router = apikit.module_router("crm")

ObjectId = Path(..., ge=1, le=MAX_ID)
OptionalId = Field(None, ge=1, le=MAX_ID)
Kind = Literal["call", "meeting", "email", "task"]


class ActivityOut(Schema):
    id: int
    kind: str
    subject: str
    notes: str
    due_at: dt.datetime
    assignee_id: int | None
    owner_id: int | None
    team_id: int | None
    done_at: dt.datetime | None
    outcome: str
    organization_id: int | None
    person_id: int | None
    opportunity_id: int | None
    remind_at: dt.datetime | None
    reminded_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ActivityCreateIn(InputSchema):
    kind: Kind = "task"
    subject: str = Field(..., max_length=200)
    notes: str = Field("", max_length=10_000)
    due_at: dt.datetime = Field(..., description="ISO 8601; without an offset, the company's time zone.")
    assignee_id: int | None = OptionalId
    team_id: int | None = OptionalId
    organization_id: int | None = OptionalId
    person_id: int | None = OptionalId
    opportunity_id: int | None = OptionalId
    remind_at: dt.datetime | None = Field(None, description="When to remind the assignee (in app and by email).")


class ActivityUpdateIn(InputSchema):
    """Only the fields sent are changed."""

    kind: Kind = None  # type: ignore[assignment]
    subject: str = Field(None, max_length=200)  # type: ignore[assignment]
    notes: str = Field(None, max_length=10_000)  # type: ignore[assignment]
    due_at: dt.datetime = None  # type: ignore[assignment]
    assignee_id: int | None = OptionalId
    owner_id: int | None = OptionalId
    team_id: int | None = OptionalId
    organization_id: int | None = OptionalId
    person_id: int | None = OptionalId
    opportunity_id: int | None = OptionalId
    remind_at: dt.datetime | None = Field(
        None, description="Null: no reminder. Changing it or `due_at` sends the reminder again."
    )


class CompleteIn(InputSchema):
    outcome: str = Field("", max_length=10_000)


class ActivityFilters(ListParams):
    done: bool | None = Field(None, description="true: done only; false: to do only.")
    assignee_id: int | None = OptionalId
    opportunity_id: int | None = OptionalId
    organization_id: int | None = OptionalId
    person_id: int | None = OptionalId


ACTIVITY_SORT = {"due_at": "due_at", "created_at": "created_at", "done_at": "done_at"}


@router.get("/activities", response=responses(page_of(ActivityOut)), summary="List activities")
def activity_list(request: HttpRequest, params: Query[ActivityFilters]) -> dict[str, Any]:
    """Sort: `due_at`, `created_at`, `done_at`."""
    rows = activities.activity_list(apikit.actor(request))
    if params.done is not None:
        rows = rows.filter(done_at__isnull=not params.done)
    for name in ("assignee_id", "opportunity_id", "organization_id", "person_id"):
        if getattr(params, name) is not None:
            rows = rows.filter(**{name: getattr(params, name)})
    return apikit.paginate(rows, params, sort=ACTIVITY_SORT, default_sort="due_at")


@router.post("/activities", response=responses(ActivityOut, status=201), summary="Create an activity")
def activity_create(request: HttpRequest, payload: ActivityCreateIn) -> Status:
    actor = apikit.actor(request)
    data = payload.model_dump()
    if data["assignee_id"] is None:
        del data["assignee_id"]  # the caller
    activity = activities.activity_create(actor=actor, **data)
    return Status(201, activities.activity_get(actor, activity.pk))


@router.get("/activities/{activity_id}", response=responses(ActivityOut), summary="Get an activity")
def activity_get(request: HttpRequest, activity_id: int = ObjectId) -> Activity:
    return activities.activity_get(apikit.actor(request), activity_id)


@router.patch("/activities/{activity_id}", response=responses(ActivityOut), summary="Change an activity")
def activity_update(request: HttpRequest, payload: ActivityUpdateIn, activity_id: int = ObjectId) -> Activity:
    actor = apikit.actor(request)
    activities.activity_update(actor=actor, activity_id=activity_id, **payload.model_dump(exclude_unset=True))
    return activities.activity_get(actor, activity_id)


@router.post("/activities/{activity_id}/complete", response=responses(ActivityOut), summary="Mark done")
def activity_complete(request: HttpRequest, payload: CompleteIn, activity_id: int = ObjectId) -> Activity:
    actor = apikit.actor(request)
    activities.activity_complete(actor=actor, activity_id=activity_id, outcome=payload.outcome)
    return activities.activity_get(actor, activity_id)


@router.post("/activities/{activity_id}/reopen", response=responses(ActivityOut), summary="Reopen")
def activity_reopen(request: HttpRequest, activity_id: int = ObjectId) -> Activity:
    actor = apikit.actor(request)
    activities.activity_reopen(actor=actor, activity_id=activity_id)
    return activities.activity_get(actor, activity_id)

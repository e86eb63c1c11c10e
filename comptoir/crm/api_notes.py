"""CRM API for notes with @mentions: see docs/api.md for conventions and comptoir/crm/notes.py for the syntax."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Schema
from ninja.responses import Status

from comptoir.crm import notes
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses

router = apikit.module_router("crm")

OptionalId = Field(None, ge=1, le=MAX_ID)


class NoteOut(Schema):
    id: int
    body: str
    author_id: int | None
    organization_id: int | None
    person_id: int | None
    opportunity_id: int | None
    created_at: dt.datetime


class NoteCreateIn(InputSchema):
    """Exactly one of `organization_id`, `person_id`, `opportunity_id`."""

    body: str = Field(..., max_length=notes.BODY_MAX, description="Text; `@sales` or `@camille.martin` mentions.")
    organization_id: int | None = OptionalId
    person_id: int | None = OptionalId
    opportunity_id: int | None = OptionalId


class NoteFilters(ListParams):
    """Exactly one target is required."""

    organization_id: int | None = OptionalId
    person_id: int | None = OptionalId
    opportunity_id: int | None = OptionalId


NOTE_SORT = {"created_at": "created_at"}


@router.get("/notes", response=responses(page_of(NoteOut)), summary="List the notes of one record")
def note_list(request: HttpRequest, params: Query[NoteFilters]) -> dict[str, Any]:
    """Sort: `created_at` (default: newest first)."""
    target = {name: getattr(params, name) for name in notes.TARGETS}
    rows = notes.note_list(apikit.actor(request), **target)
    return apikit.paginate(rows, params, sort=NOTE_SORT, default_sort="-created_at")


@router.post("/notes", response=responses(NoteOut, status=201), summary="Add a note")
def note_create(request: HttpRequest, payload: NoteCreateIn) -> Status:
    note = notes.note_create(actor=apikit.actor(request), **payload.model_dump())
    return Status(201, note)

"""The 360° view in the API: an organization's or a person's timeline and key figures.

Same record rules as the pages: the contact must be visible (404 otherwise) and each source
shows only what the caller may see (hidden opportunities, activities, amounts).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema

from comptoir.contacts import selectors
from comptoir.contacts.timeline import MAX_LIMIT, ORGANIZATION, PERSON, Subject, key_figures, timeline
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses

router = apikit.module_router("contacts")
ObjectId = Path(..., ge=1, le=MAX_ID)


class TimelineParams(InputSchema):
    model_config = {"extra": "ignore"}

    before: str | None = Field(
        None, max_length=80, description="The `next` cursor of the previous page; omit for the newest entries."
    )
    limit: int = Field(30, ge=1, le=MAX_LIMIT, description="Entries per page.")
    kinds: str | None = Field(
        None,
        max_length=500,
        description="Comma-separated sources to keep, e.g. `activities,notes` "
        "(`changes`, and with the CRM `activities`, `notes`, `opportunities`). All when omitted.",
    )


class TimelineEntryOut(Schema):
    at: dt.datetime
    source: str = Field(description="The source the entry comes from: `changes`, `activities`, `notes`…")
    kind: str = Field(description="What happened, within the source: `call`, `note`, `won`, `change`…")
    title: str
    url: str = Field(description="The page of the record the entry is about, or empty.")
    body: str
    actor: str = Field(description="Who did it (or is to do it).")
    badge: str


class TimelineOut(Schema):
    items: list[TimelineEntryOut]
    next: str | None = Field(description="Pass as `before` for the next page; null on the last page.")


class KeyFigureOut(Schema):
    code: str = Field(description="`open`, `weighted`, `won`, `last_activity`, `next_activity`, `overdue`…")
    label: str
    value: str | int | None = Field(description="Counts as numbers, amounts as decimal strings, dates as ISO dates.")
    display: str = Field(description="The value as the page shows it.")


def _page(request: HttpRequest, subject: Subject, params: TimelineParams) -> dict[str, Any]:
    kinds = [k.strip() for k in (params.kinds or "").split(",") if k.strip()]
    entries, cursor = timeline(
        apikit.actor(request), subject, before=params.before, limit=params.limit, kinds=kinds or None
    )
    items = [
        {
            "at": e.at,
            "source": e.source,
            "kind": e.kind,
            "title": e.title,
            "url": e.url,
            "body": e.body,
            "actor": e.actor,
            "badge": e.badge,
        }
        for e in entries
    ]
    return {"items": items, "next": cursor}


@router.get(
    "/organizations/{organization_id}/timeline",
    response=responses(TimelineOut),
    summary="An organization's timeline",
)
def organization_timeline(
    request: HttpRequest, params: Query[TimelineParams], organization_id: int = ObjectId
) -> dict[str, Any]:
    """Changes, activities, notes, opportunities… newest first, cut with a cursor (`next` → `before`)."""
    org = selectors.organization_get(apikit.actor(request), organization_id)
    return _page(request, Subject(ORGANIZATION, org.pk), params)


@router.get("/people/{person_id}/timeline", response=responses(TimelineOut), summary="A person's timeline")
def person_timeline(request: HttpRequest, params: Query[TimelineParams], person_id: int = ObjectId) -> dict[str, Any]:
    """Changes, activities, notes, opportunities they take part in… newest first, cut with a cursor."""
    person = selectors.person_get(apikit.actor(request), person_id)
    return _page(request, Subject(PERSON, person.pk), params)


def _figures(request: HttpRequest, subject: Subject) -> list[dict[str, Any]]:
    return [
        {"code": f.code, "label": str(f.label), "value": f.raw, "display": str(f.value)}
        for f in key_figures(apikit.actor(request), subject)
    ]


@router.get(
    "/organizations/{organization_id}/key-figures",
    response=responses(list[KeyFigureOut]),
    summary="An organization's key figures",
)
def organization_key_figures(request: HttpRequest, organization_id: int = ObjectId) -> list[dict[str, Any]]:
    """Open opportunities, weighted pipeline and won this year (amounts only if you may see them), activities."""
    org = selectors.organization_get(apikit.actor(request), organization_id)
    return _figures(request, Subject(ORGANIZATION, org.pk))


@router.get("/people/{person_id}/key-figures", response=responses(list[KeyFigureOut]), summary="A person's key figures")
def person_key_figures(request: HttpRequest, person_id: int = ObjectId) -> list[dict[str, Any]]:
    person = selectors.person_get(apikit.actor(request), person_id)
    return _figures(request, Subject(PERSON, person.pk))

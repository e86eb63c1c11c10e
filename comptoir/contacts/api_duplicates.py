"""Duplicate detection and merge API: probable pairs, dismissing a pair, merging two rows."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema

from comptoir.contacts import duplicates, merge
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.pagination import paginate

router = apikit.module_router("contacts")


class PairRowOut(Schema):
    id: int
    label: str


class DuplicateOut(Schema):
    id: int
    kind: str = Field(description="`organization` or `person`.")
    left: PairRowOut
    right: PairRowOut
    score: int = Field(description="0–100: how probably the two rows are the same.")
    reasons: list[str]
    status: str = Field(description="`open`, `dismissed` or `merged`.")
    detected_at: dt.datetime


class DuplicateFilters(ListParams):
    kind: Literal["organization", "person"] | None = None
    status: Literal["open", "dismissed", "merged"] = "open"


class MergeIn(InputSchema):
    survivor: int = Field(..., ge=1, le=MAX_ID, description="The row that stays.")
    other: int = Field(..., ge=1, le=MAX_ID, description="The row merged into the survivor, then archived.")
    fields: dict[str, Literal["survivor", "other", "both"]] = Field(
        default_factory=dict,
        description='Which row\'s value to keep per field, e.g. `{"email": "other"}`; '
        "`both` joins the two notes. A field not given keeps the survivor's value, or the other's when empty.",
    )


class MergeOut(Schema):
    id: int = Field(description="The survivor.")
    label: str
    merged_id: int
    repointed: dict[str, int] = Field(description="Rows moved from the merged row, by `app.model.field`.")


def _out(row: dict[str, Any]) -> dict[str, Any]:
    pair = row["pair"]
    return {
        "id": pair.pk,
        "kind": pair.kind,
        "left": {"id": row["left"]["id"], "label": row["left"]["label"]},
        "right": {"id": row["right"]["id"], "label": row["right"]["label"]},
        "score": pair.score,
        "reasons": row["reasons"],
        "status": pair.status,
        "detected_at": pair.detected_at,
    }


@router.get("/duplicates", response=responses(page_of(DuplicateOut)), summary="List probable duplicates")
def duplicate_list(request: HttpRequest, params: Query[DuplicateFilters]) -> dict[str, Any]:
    """Pairs found by the last scans, best score first. Needs the permission to merge contacts."""
    actor = apikit.actor(request)
    rows = duplicates.duplicate_list(actor, kind=params.kind, status=params.status)
    page = paginate(rows, params.page, params.page_size)
    return {
        "items": [_out(row) for row in duplicates.with_rows(actor, page.items)],
        "count": page.count,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
    }


@router.post("/duplicates/{candidate_id}/dismiss", response=responses(DuplicateOut), summary="Dismiss a pair")
def duplicate_dismiss(request: HttpRequest, candidate_id: int = Path(..., ge=1, le=MAX_ID)) -> dict[str, Any]:
    """Not a duplicate: later scans keep the pair dismissed."""
    actor = apikit.actor(request)
    pair = duplicates.duplicate_dismiss(actor=actor, candidate_id=candidate_id)
    return _out(duplicates.with_rows(actor, [pair])[0])


def _merged(survivor: Any, other_id: int) -> dict[str, Any]:
    return {"id": survivor.pk, "label": str(survivor), "merged_id": other_id, "repointed": survivor.merge_counts}


@router.post("/organizations/merge", response=responses(MergeOut), summary="Merge two organizations")
def organization_merge(request: HttpRequest, payload: MergeIn) -> dict[str, Any]:
    """Everything attached to `other` moves to `survivor`; `other` is archived. Never automatic."""
    survivor = merge.organization_merge(
        actor=apikit.actor(request), survivor_id=payload.survivor, other_id=payload.other, field_choices=payload.fields
    )
    return _merged(survivor, payload.other)


@router.post("/people/merge", response=responses(MergeOut), summary="Merge two people")
def person_merge(request: HttpRequest, payload: MergeIn) -> dict[str, Any]:
    """Everything attached to `other` moves to `survivor`; `other` is archived. Never automatic."""
    survivor = merge.person_merge(
        actor=apikit.actor(request), survivor_id=payload.survivor, other_id=payload.other, field_choices=payload.fields
    )
    return _merged(survivor, payload.other)

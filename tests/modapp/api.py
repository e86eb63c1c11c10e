"""The test module's API: proves that a disabled module's endpoints answer 404."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Schema

from comptoir.kernel import apikit
from comptoir.kernel.apikit import ListParams, page_of, responses

router = apikit.module_router("modapp")

NOTES = [{"id": i, "title": f"Demo note {i}"} for i in range(1, 4)]


class NoteOut(Schema):
    id: int
    title: str


@router.get("/notes", response=responses(page_of(NoteOut)), summary="List demo notes")
def note_list(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    items = NOTES[(params.page - 1) * params.page_size : params.page * params.page_size]
    return {"items": items, "count": len(NOTES), "page": params.page, "page_size": params.page_size, "pages": 1}

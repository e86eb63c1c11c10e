"""The audit page and its export: parse the filters, call one selector, render."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from comptoir.kernel import selectors
from comptoir.kernel.context import Channel
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.exports import Column, export_response
from comptoir.kernel.models import AuditEntry
from comptoir.kernel.pagination import paginate

FILTERS = ("actor_id", "channel", "action", "object_type", "object_id", "date_from", "date_to", "q")


def _filters(request: HttpRequest) -> dict[str, str]:
    return {name: request.GET.get(name, "").strip() for name in FILTERS if request.GET.get(name, "").strip()}


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationFailed("invalid_pagination", fields={"page": [_("Must be 1 or more.")]})
    return int(raw)


def change_list(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    """Field changes as (field, old, new); anything not shaped [old, new] shows as new."""
    rows = []
    for name, value in (entry.changes or {}).items():
        if isinstance(value, list) and len(value) == 2:
            rows.append((name, value[0], value[1]))
        else:
            rows.append((name, None, value))
    return rows


def _changes_text(entry: AuditEntry) -> str:
    return "; ".join(f"{name}: {old if old is not None else ''} → {new if new is not None else ''}"
                     for name, old, new in change_list(entry))  # fmt: skip


@login_required
@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    filters = _filters(request)
    errors: dict[str, list[str]] = {}
    page = None
    try:
        page = paginate(selectors.audit_list(actor, **filters), _page_number(request))  # type: ignore[arg-type]
    except ValidationFailed as exc:
        errors = exc.fields
    facets = selectors.audit_facets(actor)
    context = {
        "filters": filters,
        "errors": errors,
        "page": page,
        "rows": [{"entry": e, "changes": change_list(e)} for e in (page.items if page else [])],
        "authors": selectors.audit_authors(actor),
        "channels": Channel.choices,
        "actions": facets["actions"],
        "object_types": facets["object_types"],
        "can_export": actor.has_perm("kernel.export_audit"),
    }
    return render(request, "kernel/audit.html", context)


EXPORT_COLUMNS: list[Column] = [
    (_("When"), "at"),
    (_("Who"), "actor_label"),
    (_("Channel"), "channel"),
    (_("Action"), "action"),
    (_("Object type"), "object_type"),
    (_("Object id"), "object_id"),
    (_("Object"), "object_repr"),
    (_("Changes"), _changes_text),
]


@login_required
@require_GET
def audit_export(request: HttpRequest) -> HttpResponseBase:
    actor = request.actor  # type: ignore[attr-defined]
    rows = selectors.audit_export_rows(actor, **_filters(request))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    columns: list[Column] = [(str(label), getter) for label, getter in EXPORT_COLUMNS]
    return export_response(rows.iterator(chunk_size=2000), columns, f"audit-{stamp}", request.GET.get("format", "csv"))

"""Duplicate pages: the as-you-type warning, the list of probable pairs, the scan and the merge screen.

Each view parses the request, calls one selector or service of ``duplicates``/``merge`` and
renders; services decide permissions and validity.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.contacts import duplicates, merge
from comptoir.contacts.models import DuplicateCandidate
from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.pagination import paginate

# Form fields the warning reads (the organization and person forms' field names).
CHECK_FIELDS: dict[str, tuple[str, ...]] = {
    duplicates.ORG: ("legal_name", "trade_name", "siren", "siret", "email", "phone", "website"),
    duplicates.PERSON: ("first_name", "last_name", "email", "phone", "mobile"),
}
FIELD_LABELS: dict[str, Any] = {
    "legal_name": _("Legal name"), "trade_name": _("Trade name"), "siren": _("SIREN"), "siret": _("SIRET"),
    "vat_number": _("Intra-EU VAT number"), "naf_code": _("NAF/APE code"), "sector": _("Sector"), "size": _("Size"),
    "website": _("Website"), "email": _("Email"), "phone": _("Phone"), "mobile": _("Mobile"),
    "lifecycle_stage": _("Lifecycle stage"), "owner": _("Owner"), "team": _("Team"),
    "do_not_contact": _("Do not contact"), "external_id": _("External id"), "notes": _("Notes"),
    "first_name": _("First name"), "last_name": _("Last name"), "job_title": _("Job title"),
}  # fmt: skip


def _actor(request: HttpRequest) -> Any:
    actor = request.actor  # type: ignore[attr-defined]
    if not modules.is_enabled(actor.company_id, "contacts"):
        raise NotFound("module_disabled", _("This module is not enabled for your company."))
    return actor


def _kind(value: str | None) -> str:
    if value not in duplicates.KINDS:
        raise NotFound()
    return value  # type: ignore[return-value]


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


@login_required
@require_GET
def duplicate_check(request: HttpRequest) -> HttpResponse:
    """htmx: the "probably exists already" warning for the form being typed (empty when none)."""
    actor = _actor(request)
    require(actor, "contacts.view_contact")
    kind = request.GET.get("kind", duplicates.ORG)
    if kind not in duplicates.KINDS:
        kind = duplicates.ORG
    data = {name: request.GET.get(name, "")[:200] for name in CHECK_FIELDS[kind]}
    found = duplicates.find_duplicates(actor, kind, data, exclude_id=_int(request.GET.get("exclude")))
    return render(request, "contacts/duplicates/_warning.html", {"kind": kind, "matches": found})


@login_required
@require_GET
def duplicate_list(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    kind = request.GET.get("kind") or None
    status = request.GET.get("status") or DuplicateCandidate.Status.OPEN
    try:
        rows = duplicates.duplicate_list(actor, kind=kind, status=status)
    except ValidationFailed:
        kind, status = None, DuplicateCandidate.Status.OPEN
        rows = duplicates.duplicate_list(actor, kind=kind, status=status)
    page = paginate(rows, _int(request.GET.get("page")) or 1, 25)
    return render(
        request,
        "contacts/duplicates/list.html",
        {
            "page": page,
            "pairs": duplicates.with_rows(actor, page.items),
            "kind": kind or "",
            "status": status,
            "statuses": DuplicateCandidate.Status.choices,
            "kinds": DuplicateCandidate.Kind.choices,
            "last_scan": duplicates.last_scan(actor),
        },
    )


@login_required
@require_POST
def duplicate_scan(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    duplicates.duplicate_scan_request(actor=actor)
    messages.success(request, _("The duplicate scan has been queued; refresh this page in a moment."))
    return redirect("contacts:duplicates")


@login_required
@require_POST
def duplicate_dismiss(request: HttpRequest, candidate_id: int) -> HttpResponse:
    actor = _actor(request)
    duplicates.duplicate_dismiss(actor=actor, candidate_id=candidate_id)
    if getattr(request, "htmx", False):
        return HttpResponse("")  # the row disappears from the list
    messages.success(request, _("The pair is marked as not a duplicate."))
    return redirect("contacts:duplicates")


def _rows_side_by_side(kind: str, survivor: Any, other: Any) -> list[dict[str, Any]]:
    rows = []
    for name in merge.merge_fields(kind):
        public = merge.public_name(name)
        mine, theirs = getattr(survivor, name), getattr(other, name)
        # Owner and team are shown by name (loaded with the rows), chosen by id.
        shown = (getattr(survivor, public), getattr(other, public)) if name in merge.FOREIGN_KEYS else (mine, theirs)
        rows.append(
            {
                "name": public,
                "label": FIELD_LABELS.get(public, public),
                "survivor": shown[0],
                "other": shown[1],
                "same": mine == theirs,
                "joinable": public in merge.JOINABLE,
                "default": "other" if mine in ("", None) and theirs not in ("", None) else "survivor",
            }
        )
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def merge_screen(request: HttpRequest, kind: str, survivor_id: int, other_id: int) -> HttpResponse:
    """Side by side: one radio per field, what would be re-pointed, then the merge itself."""
    actor = _actor(request)
    kind = _kind(kind)
    error = None
    if request.method == "POST":
        choices = {k.removeprefix("field_"): str(request.POST[k]) for k in request.POST if k.startswith("field_")}
        service = merge.organization_merge if kind == duplicates.ORG else merge.person_merge
        try:
            survivor = service(actor=actor, survivor_id=survivor_id, other_id=other_id, field_choices=choices)
        except ValidationFailed as exc:
            error = exc
        else:
            messages.success(request, _("Merged into “%(name)s”.") % {"name": survivor})
            url = "contacts:organization_detail" if kind == duplicates.ORG else "contacts:person_detail"
            return redirect(url, survivor.pk)
    preview = merge.merge_preview(actor, kind, survivor_id, other_id)
    return render(
        request,
        "contacts/duplicates/merge.html",
        {
            "kind": kind,
            "survivor": preview["survivor"],
            "other": preview["other"],
            "fields": _rows_side_by_side(kind, preview["survivor"], preview["other"]),
            "repointed": preview["repointed"],
            "error": error,
        },
        status=422 if error else 200,
    )

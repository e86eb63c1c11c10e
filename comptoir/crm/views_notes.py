"""CRM pages for notes: the notes panel of an opportunity, an organization or a person.

The panel is rendered server-side inside its page (``notes_panel``); posting a note with htmx
swaps the panel in place (and tells the page's timeline to refresh), without htmx it redirects
back to the page. An invalid note is shown again with its error (422), nothing written.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from comptoir.crm import notes
from comptoir.crm.views import _actor, crm_page
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import ValidationFailed

# How many notes the panel lists: an opportunity shows its notes here only; an organization or
# a person shows the latest ones, the rest are in their timeline.
SHOWN = {"opportunity_id": 100, "organization_id": 5, "person_id": 5}
_URL_NAMES = {
    "opportunity_id": "crm:opportunity_notes",
    "organization_id": "crm:organization_notes",
    "person_id": "crm:person_notes",
}
SYNTAX_HELP = _(
    "Mention a colleague with @ and the part of their e-mail address before the @, or their full name "
    "with dots for spaces, e.g. @camille.martin."
)


def _context(actor: Actor, target: str, value: int, body: str = "", errors: list[str] | None = None) -> dict[str, Any]:
    rows = notes.note_list(actor, **{target: value})  # 404 if the row is not visible
    shown = SHOWN[target]
    found = list(rows[: shown + 1])
    return {
        "notes": found[:shown],
        "more": len(found) > shown,
        "target": target.removesuffix("_id"),
        "post_url": reverse(_URL_NAMES[target], args=[value]),
        "can_add": actor.has_perm("crm.change_opportunity"),
        "errors": errors or [],
        "body": body,
        "syntax_help": SYNTAX_HELP,
    }


def notes_panel(request: HttpRequest, actor: Actor, target: str, value: int) -> str:
    """The panel's HTML, for a detail page that renders it server-side.

    Rendered without the request (its context processors already ran for the page around it):
    the form needs only the CSRF token.
    """
    context = {**_context(actor, target, value), "csrf_token": get_token(request)}
    return render_to_string("crm/notes/_notes.html", context)


def _notes(request: HttpRequest, target: str, value: int) -> HttpResponse:
    """GET: the panel (the page around it without htmx); POST: add a note."""
    actor = _actor(request)
    if request.method == "POST":
        notes.note_list(actor, **{target: value})  # 404 before the 403 of a reader
    htmx = bool(getattr(request, "htmx", False))
    errors: list[str] = []
    body = ""
    status = 200
    if request.method == "POST":
        body = request.POST.get("body", "")[: notes.BODY_MAX + 1]
        try:
            notes.note_create(actor=actor, body=body, **{target: value})
        except ValidationFailed as exc:
            errors = [message for messages in exc.fields.values() for message in messages] or [str(exc)]
            status = 422
        else:
            if not htmx:
                return redirect(notes.detail_url(target, value) + "#notes")
            body = ""
    context = _context(actor, target, value, body, errors)
    if not htmx:
        context["back_url"] = notes.detail_url(target, value)
        return render(request, "crm/notes/page.html", context, status=status)
    response = render(request, "crm/notes/_notes.html", context, status=status)
    if request.method == "POST" and status == 200:
        response["HX-Trigger"] = "timeline-changed"
    return response


@crm_page
@require_http_methods(["GET", "POST"])
def opportunity_notes(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    return _notes(request, "opportunity_id", opportunity_id)


@crm_page
@require_http_methods(["GET", "POST"])
def organization_notes(request: HttpRequest, organization_id: int) -> HttpResponse:
    return _notes(request, "organization_id", organization_id)


@crm_page
@require_http_methods(["GET", "POST"])
def person_notes(request: HttpRequest, person_id: int) -> HttpResponse:
    return _notes(request, "person_id", person_id)

"""CRM pages for notes: the notes section of an opportunity (loaded and posted with htmx)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from comptoir.crm import notes
from comptoir.crm.views import _actor, crm_page
from comptoir.kernel.errors import ValidationFailed


@crm_page
@require_http_methods(["GET", "POST"])
def opportunity_notes(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    """GET: the section; POST: add a note, then the section again (422 with the error, nothing written)."""
    actor = _actor(request)
    rows = notes.note_list(actor, opportunity_id=opportunity_id)  # 404 before anything else
    errors: list[str] = []
    body = ""
    status = 200
    if request.method == "POST":
        body = request.POST.get("body", "")[: notes.BODY_MAX + 1]
        try:
            notes.note_create(actor=actor, body=body, opportunity_id=opportunity_id)
        except ValidationFailed as exc:
            errors = [message for messages in exc.fields.values() for message in messages] or [str(exc)]
            status = 422
        else:
            body = ""
            if not getattr(request, "htmx", False):
                return redirect("crm:opportunity", opportunity_id)
    context = {
        "opportunity_id": opportunity_id,
        "notes": list(rows[:100]),
        "can_add": actor.has_perm("crm.change_opportunity"),
        "errors": errors,
        "body": body,
        "syntax_help": _(
            "Mention a colleague with @ and the part of their e-mail address before the @, or their full name "
            "with dots for spaces, e.g. @camille.martin."
        ),
    }
    return render(request, "crm/notes/_notes.html", context, status=status)

"""The 360° part of the organization and person pages: key figures, panels and the timeline.

``detail_context`` is what the detail views add to their page; ``organization_timeline`` and
``person_timeline`` answer htmx for "load more" and the kind filters. Without htmx, "load more"
is a plain link to the page with ``?before=…`` (the page then starts its timeline there).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from comptoir.contacts import selectors
from comptoir.contacts.timeline import ORGANIZATION, PERSON, Subject, key_figures, panels, registry, timeline
from comptoir.kernel.context import Actor

PAGE_SIZE = 30
_PAGES = {ORGANIZATION: "contacts:organization_detail", PERSON: "contacts:person_detail"}
_FRAGMENTS = {ORGANIZATION: "contacts:organization_timeline", PERSON: "contacts:person_timeline"}


def _query(kinds: list[str], before: str | None = None) -> str:
    params: list[tuple[str, str]] = [("kinds", k) for k in kinds]
    if before:
        params.append(("before", before))
    return urlencode(params)


def timeline_context(request: HttpRequest, actor: Actor, subject: Subject) -> dict[str, Any]:
    """One page of the timeline with its filter chips and the links to the next page."""
    available = registry.kinds(actor)
    codes = {code for code, _label in available}
    # Chips the user ticked; a kind that no longer exists is simply dropped from the filter.
    chosen = [k for k in request.GET.getlist("kinds") if k in codes]
    before = request.GET.get("before") or None
    entries, next_cursor = timeline(actor, subject, before=before, limit=PAGE_SIZE, kinds=chosen or None)
    page_url = reverse(_PAGES[subject.kind], args=[subject.id])
    fragment_url = reverse(_FRAGMENTS[subject.kind], args=[subject.id])
    context: dict[str, Any] = {
        "entries": entries,
        "kinds": [{"code": code, "label": label, "checked": code in chosen} for code, label in available],
        "page_url": page_url,
        "fragment_url": fragment_url,
        "filter_query": _query(chosen),
        "is_continuation": before is not None,
    }
    if next_cursor:
        context["more_page_url"] = f"{page_url}?{_query(chosen, next_cursor)}#timeline"
        context["more_fragment_url"] = f"{fragment_url}?{_query(chosen, next_cursor)}"
    return context


def detail_context(request: HttpRequest, actor: Actor, subject: Subject) -> dict[str, Any]:
    """What an organization or person page shows beyond its own fields (the subject is visible)."""
    return {
        "key_figures": key_figures(actor, subject),
        "panels": panels(request, actor, subject),
        "timeline": timeline_context(request, actor, subject),
    }


def _fragment(request: HttpRequest, subject: Subject) -> HttpResponse:
    if not getattr(request, "htmx", False):
        query = request.GET.urlencode()
        return redirect(reverse(_PAGES[subject.kind], args=[subject.id]) + (f"?{query}" if query else "") + "#timeline")
    context = {"timeline": timeline_context(request, request.actor, subject)}  # type: ignore[attr-defined]
    # "Load more" replaces its own row with the next entries; a filter change replaces the list.
    template = (
        "contacts/timeline/_rows.html" if context["timeline"]["is_continuation"] else "contacts/timeline/_list.html"
    )
    return render(request, template, context)


@login_required
@require_GET
def organization_timeline(request: HttpRequest, organization_id: int) -> HttpResponse:
    org = selectors.organization_get(request.actor, organization_id)  # type: ignore[attr-defined]
    return _fragment(request, Subject(ORGANIZATION, org.pk))


@login_required
@require_GET
def person_timeline(request: HttpRequest, person_id: int) -> HttpResponse:
    person = selectors.person_get(request.actor, person_id)  # type: ignore[attr-defined]
    return _fragment(request, Subject(PERSON, person.pk))

"""CRM pages for activities: "my day" (mine, my team's), the activity form, completing one, and
the activities panel that opportunity, organization and person pages show.

Views parse with a form, call one service or selector and render. The panel is rendered
server-side inside its page (``activities_panel``); completing from it with htmx swaps the
panel in place, without JavaScript the form posts and redirects back to the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.contacts import selectors as contact_selectors
from comptoir.crm import activities, notes, selectors
from comptoir.crm.models import ActivityKind
from comptoir.crm.views import _actor, _int, crm_page
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.forms import BootstrapForm


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _optional_minutes(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class ActivityForm(BootstrapForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=ActivityKind.choices)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    due_at = forms.DateTimeField(
        label=_("Due at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    remind_before = forms.TypedChoiceField(
        label=_("Reminder"), required=False, coerce=_optional_minutes, empty_value=None,
        choices=activities.REMINDER_CHOICES,
        help_text=_("In the app and by email to the assignee."),
    )  # fmt: skip
    assignee_id = forms.TypedChoiceField(label=_("Assignee"), coerce=_optional_id, empty_value=None)
    opportunity_id = forms.TypedChoiceField(
        label=_("Opportunity"), required=False, coerce=_optional_id, empty_value=None
    )
    organization_id = forms.TypedChoiceField(
        label=_("Organization"), required=False, coerce=_optional_id, empty_value=None
    )
    person_id = forms.TypedChoiceField(label=_("Person"), required=False, coerce=_optional_id, empty_value=None)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(
        self, *args: Any, owners: list[tuple[int, str]], opportunities: list[tuple[int, str]],
        organizations: list[tuple[int, str]], people: list[tuple[int, str]], **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["assignee_id"].choices = owners  # type: ignore[attr-defined]
        self.fields["opportunity_id"].choices = [("", "—"), *opportunities]  # type: ignore[attr-defined]
        self.fields["organization_id"].choices = [("", "—"), *organizations]  # type: ignore[attr-defined]
        self.fields["person_id"].choices = [("", "—"), *people]  # type: ignore[attr-defined]
        minutes = (self.initial or {}).get("remind_before")
        if minutes not in (None, "") and str(minutes) not in {c for c, _label in activities.REMINDER_CHOICES}:
            # A reminder set through the API at another offset: keep it selectable.
            label = _("%(n)s minutes before") % {"n": minutes}
            self.fields["remind_before"].choices = [*activities.REMINDER_CHOICES, (str(minutes), label)]  # type: ignore[attr-defined]

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["remind_at"] = activities.remind_at_for(data["due_at"], data.pop("remind_before"))
        return data


def _with(choices: list[tuple[int, str]], chosen: int | None, label: Any) -> list[tuple[int, str]]:
    """The choice lists are capped: make sure the prefilled or current record is in them."""
    if chosen is None or any(pk == chosen for pk, _label in choices):
        return choices
    return [(chosen, str(label)), *choices]


def _form(request: HttpRequest, data: Any = None, initial: dict[str, Any] | None = None) -> ActivityForm:
    actor = _actor(request)
    initial = initial or {}
    open_opps = selectors.opportunity_list(actor).filter(status="open").select_related(None).only("pk", "title")
    opportunities = [(o.pk, o.title) for o in open_opps[:500]]
    organizations = selectors.organization_choices(actor)
    people: list[tuple[int, str]] = []
    for name, choices, rows in (
        ("opportunity_id", opportunities, selectors.opportunity_list(actor).select_related(None)),
        ("organization_id", organizations, contact_selectors.visible_organizations(actor)),
        ("person_id", people, contact_selectors.visible_people(actor)),
    ):
        chosen = _int(str(data.get(name) if data is not None and data.get(name) else initial.get(name) or ""))
        if chosen is not None and not any(pk == chosen for pk, _label in choices):
            row = rows.filter(pk=chosen).first()
            if row is not None:
                choices.insert(0, (row.pk, str(row)))
    return ActivityForm(
        data, initial=initial, owners=selectors.owner_choices(actor), opportunities=opportunities,
        organizations=organizations, people=people,
    )  # fmt: skip


def _next_url(request: HttpRequest, fallback: str) -> str:
    """Where to go back to (the page the form or the panel was opened from), if it is ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


# --- My day ---------------------------------------------------------------------------


def _my_day_context(request: HttpRequest, actor: Actor) -> dict[str, Any]:
    day = activities.my_day(actor)
    return {"day": day, "can_change": actor.has_perm("crm.change_opportunity"), "now": timezone.now()}


@crm_page
@require_GET
def my_day(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    context = _my_day_context(request, actor)
    context["can_see_team"] = activities.can_see_team_day(actor)
    return render(request, "crm/activities/my_day.html", context)


@crm_page
@require_GET
def team_day(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    if not activities.can_see_team_day(actor):
        raise NotFound("not_a_team_manager", _("You manage no team."))
    context = {
        "team": activities.team_day(actor),
        "can_change": actor.has_perm("crm.change_opportunity"),
        "can_see_team": True,
        "now": timezone.now(),
    }
    return render(request, "crm/activities/team_day.html", context)


# --- The form -------------------------------------------------------------------------


@crm_page
@require_http_methods(["GET", "POST"])
def activity_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "crm.change_opportunity")
    initial = {
        "assignee_id": actor.user_id,
        "kind": ActivityKind.CALL,
        "opportunity_id": _int(request.GET.get("opportunity")),
        "organization_id": _int(request.GET.get("organization")),
        "person_id": _int(request.GET.get("person")),
    }
    form = _form(request, request.POST or None, initial=initial)
    back = _next_url(request, reverse("crm:my_day"))
    if request.method == "POST" and form.is_valid():
        try:
            activity = activities.activity_create(actor=actor, **form.service_data())
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Activity “%(subject)s” created.") % {"subject": activity.subject})
            return redirect(back)
    return render(request, "crm/activities/form.html", {"form": form, "activity": None, "back": back})


@crm_page
@require_http_methods(["GET", "POST"])
def activity_edit(request: HttpRequest, activity_id: int) -> HttpResponse:
    actor = _actor(request)
    activity = activities.activity_get(actor, activity_id)
    require(actor, "crm.change_opportunity")
    initial = {name: getattr(activity, name) for name in ActivityForm.base_fields if name != "remind_before"}
    initial["due_at"] = activity.due_at.astimezone(activities.company_zone(actor)).replace(tzinfo=None)
    minutes = activities.minutes_before(activity)
    initial["remind_before"] = "" if minutes is None else str(minutes)
    form = _form(request, request.POST or None, initial=initial)
    back = _next_url(request, reverse("crm:my_day"))
    if request.method == "POST" and form.is_valid():
        try:
            activities.activity_update(actor=actor, activity_id=activity.pk, **form.service_data())
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Activity saved."))
            return redirect(back)
    return render(request, "crm/activities/form.html", {"form": form, "activity": activity, "back": back})


# --- The panel ------------------------------------------------------------------------

_PANEL_PATHS = {"organization_id": "organization", "person_id": "person", "opportunity_id": "opportunity"}


def _panel_target(organization_id: int | None, person_id: int | None, opportunity_id: int | None) -> tuple[str, int]:
    given = [(name, value) for name, value in (
        ("organization_id", organization_id), ("person_id", person_id), ("opportunity_id", opportunity_id),
    ) if value is not None]  # fmt: skip
    if len(given) != 1:
        raise ValueError("activities_panel needs exactly one of organization_id, person_id, opportunity_id")
    return given[0]


def _detail_url(target: str, value: int) -> str:
    return notes.detail_url(target, value)


def _check_visible(actor: Actor, target: str, value: int) -> None:
    visible: dict[str, Callable[[Actor], QuerySet[Any]]] = {
        "organization_id": contact_selectors.visible_organizations,
        "person_id": contact_selectors.visible_people,
        "opportunity_id": selectors.opportunity_list,
    }
    if not visible[target](actor).filter(pk=value).exists():
        raise NotFound(f"{_PANEL_PATHS[target]}_not_found")


def _panel_context(actor: Actor, target: str, value: int) -> dict[str, Any]:
    panel = activities.panel_activities(actor, target, value)
    back = _detail_url(target, value)
    return {
        "panel": panel,
        "now": timezone.now(),
        "target": _PANEL_PATHS[target],
        "target_id": value,
        "panel_ref": f"{_PANEL_PATHS[target]}:{value}",
        "back": back,
        "plan_url": f"{reverse('crm:activity_create')}?{urlencode({_PANEL_PATHS[target]: str(value), 'next': back})}",
        "can_change": actor.has_perm("crm.change_opportunity"),
    }


def activities_panel(
    request: HttpRequest, actor: Actor, *, organization_id: int | None = None, person_id: int | None = None,
    opportunity_id: int | None = None,
) -> str:  # fmt: skip
    """The panel's HTML for a detail page that renders it server-side (the page checked that
    the actor sees the record). Constant queries: two, whatever the number of activities."""
    target, value = _panel_target(organization_id, person_id, opportunity_id)
    context = {**_panel_context(actor, target, value), "csrf_token": get_token(request)}
    return render_to_string("crm/activities/_panel.html", context)


def render_timeline_panel(request: HttpRequest, actor: Actor, subject: Any) -> str:
    """The panel on organization and person pages (``contacts.timeline`` registry)."""
    if not actor.has_perm("crm.view_opportunity"):
        return ""
    if subject.kind == "organization":
        return activities_panel(request, actor, organization_id=subject.id)
    return activities_panel(request, actor, person_id=subject.id)


@crm_page
@require_GET
def panel(request: HttpRequest, target: str, target_id: int) -> HttpResponse:
    """The panel alone (htmx refresh), or the record's page without htmx."""
    actor = _actor(request)
    name = f"{target}_id"
    if name not in _PANEL_PATHS:
        raise NotFound("not_found")
    _check_visible(actor, name, target_id)
    if not getattr(request, "htmx", False):
        return redirect(_detail_url(name, target_id))
    return render(request, "crm/activities/_panel.html", _panel_context(actor, name, target_id))


@crm_page
@require_POST
def activity_complete(request: HttpRequest, activity_id: int) -> HttpResponse:
    """Complete (with an outcome) from "my day" or from a record's panel.

    htmx: "my day" gets its lists again, a panel gets itself again (the activity moved from
    open to done). Without htmx: back to the page the form was on.
    """
    actor = _actor(request)
    activity = activities.activity_complete(
        actor=actor, activity_id=activity_id, outcome=request.POST.get("outcome", "")[:10_000]
    )
    source = request.POST.get("panel", "")
    if getattr(request, "htmx", False):
        target, _sep, raw_id = source.partition(":")
        value = _int(raw_id)
        if f"{target}_id" in _PANEL_PATHS and value is not None:
            response = render(request, "crm/activities/_panel.html", _panel_context(actor, f"{target}_id", value))
            response["HX-Trigger"] = "timeline-changed"
            return response
        return render(request, "crm/activities/my_day.html#lists", _my_day_context(request, actor))
    messages.success(request, _("Activity “%(subject)s” done.") % {"subject": activity.subject})
    return redirect(_next_url(request, reverse("crm:my_day")))

"""CRM pages for activities: "my day" (overdue and due today), the activity form, completing one.

Views parse with a form, call one service or selector and render.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.crm import activities, selectors
from comptoir.crm.models import Activity, ActivityKind
from comptoir.crm.views import _actor, _int, crm_page
from comptoir.kernel.authz import require
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.forms import BootstrapForm


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class ActivityForm(BootstrapForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=ActivityKind.choices)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    due_at = forms.DateTimeField(
        label=_("Due at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    assignee_id = forms.TypedChoiceField(label=_("Assignee"), coerce=_optional_id, empty_value=None)
    opportunity_id = forms.TypedChoiceField(
        label=_("Opportunity"), required=False, coerce=_optional_id, empty_value=None
    )
    organization_id = forms.TypedChoiceField(
        label=_("Organization"), required=False, coerce=_optional_id, empty_value=None
    )
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(
        self, *args: Any, owners: list[tuple[int, str]], opportunities: list[tuple[int, str]],
        organizations: list[tuple[int, str]], **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["assignee_id"].choices = owners  # type: ignore[attr-defined]
        self.fields["opportunity_id"].choices = [("", "—"), *opportunities]  # type: ignore[attr-defined]
        self.fields["organization_id"].choices = [("", "—"), *organizations]  # type: ignore[attr-defined]


def _form(request: HttpRequest, data: Any = None, initial: dict[str, Any] | None = None) -> ActivityForm:
    actor = _actor(request)
    opportunities = (
        selectors.opportunity_list(actor).filter(status="open").select_related(None).only("pk", "title")[:500]
    )
    return ActivityForm(
        data,
        initial=initial,
        owners=selectors.owner_choices(actor),
        opportunities=[(o.pk, o.title) for o in opportunities],
        organizations=selectors.organization_choices(actor),
    )


@crm_page
@require_GET
def my_day(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    day = activities.my_day(actor)
    return render(
        request,
        "crm/activities/my_day.html",
        {"day": day, "can_change": actor.has_perm("crm.change_opportunity")},
    )


@crm_page
@require_http_methods(["GET", "POST"])
def activity_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "crm.change_opportunity")
    initial = {
        "assignee_id": actor.user_id,
        "kind": ActivityKind.CALL,
        "opportunity_id": _int(request.GET.get("opportunity")),
    }
    form = _form(request, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            activity = activities.activity_create(actor=actor, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Activity “%(subject)s” created.") % {"subject": activity.subject})
            return redirect("crm:my_day")
    return render(request, "crm/activities/form.html", {"form": form, "activity": None})


@crm_page
@require_http_methods(["GET", "POST"])
def activity_edit(request: HttpRequest, activity_id: int) -> HttpResponse:
    actor = _actor(request)
    activity = activities.activity_get(actor, activity_id)
    require(actor, "crm.change_opportunity")
    initial = {name: getattr(activity, name) for name in ActivityForm.base_fields}
    initial["due_at"] = activity.due_at.astimezone(activities.company_zone(actor)).replace(tzinfo=None)
    form = _form(request, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            activities.activity_update(actor=actor, activity_id=activity.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Activity saved."))
            return redirect("crm:my_day")
    return render(request, "crm/activities/form.html", {"form": form, "activity": activity})


@crm_page
@require_POST
def activity_complete(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The complete button of "my day": htmx swaps the row for its done version."""
    actor = _actor(request)
    activity: Activity = activities.activity_complete(
        actor=actor, activity_id=activity_id, outcome=request.POST.get("outcome", "")[:10_000]
    )
    if getattr(request, "htmx", False):
        context = {"activity": activities.activity_get(actor, activity.pk), "can_change": True}
        return render(request, "crm/activities/my_day.html#row", context)
    messages.success(request, _("Activity “%(subject)s” done.") % {"subject": activity.subject})
    return redirect("crm:my_day")

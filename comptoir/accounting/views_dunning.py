"""Dunning pages: today's proposals (send), the history of notices, the levels and automatic reminders."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from comptoir.accounting import dunning
from comptoir.accounting.invoices import MANAGE
from comptoir.accounting.models import DunningAction, DunningLevel
from comptoir.accounting.views import _actor, _int
from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.pagination import paginate


def dunning_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, accounting on (404 otherwise), allowed to manage invoices (403)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        actor = _actor(request)
        if not modules.is_enabled(actor.company_id, "accounting"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        require(actor, MANAGE)
        return view(request, *args, **kwargs)

    return login_required(wrapper)


@dunning_page
@require_http_methods(["GET", "POST"])
def overview(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    if request.method == "POST":
        chosen = [value for value in (_int(raw) for raw in request.POST.getlist("organization")) if value]
        if not chosen:
            messages.error(request, _("Choose at least one customer."))
        else:
            notices = dunning.run(actor=actor, organization_ids=chosen)
            messages.success(
                request, _("%(n)s reminders recorded; their emails are on their way.") % {"n": len(notices)}
            )
        return redirect("accounting:dunning")
    today = timezone.localdate()
    page = paginate(dunning.history(actor), _int(request.GET.get("page")) or 1)
    context = {"proposals": dunning.proposals(actor, today), "today": today, "page": page, "query": "",
               "automatic": dunning.settings_of(actor.company_id)}  # fmt: skip
    return render(request, "accounting/dunning/overview.html", context)


class LevelForm(forms.Form):
    sequence = forms.IntegerField(label=_("Level"), min_value=1, max_value=20)
    name = forms.CharField(label=_("Name"), max_length=100)
    days_after_due = forms.IntegerField(label=_("Days after the due date"), min_value=1, max_value=3650)
    action = forms.ChoiceField(label=_("Action"), choices=DunningAction.choices)
    subject = forms.CharField(label=_("Email subject"), max_length=200, required=False)
    body = forms.CharField(
        label=_("Email text"), required=False, widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("{customer}, {company}, {total} and {invoices} are filled in."),
    )  # fmt: skip
    attach_statement = forms.BooleanField(label=_("Attach the customer's statement"), required=False)
    include_penalties = forms.BooleanField(label=_("Claim penalties and the 40 € indemnity"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def apply_errors(self, exc: ValidationFailed) -> None:
        for name, errors in (exc.fields or {}).items():
            for error in errors:
                self.add_error(name if name in self.fields else None, str(error))


@dunning_page
@require_http_methods(["GET", "POST"])
def level_list(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    return render(request, "accounting/dunning/levels.html", {"levels": dunning.levels(actor.company_id)})


@dunning_page
@require_http_methods(["GET", "POST"])
def level_edit(request: HttpRequest, level_id: int | None = None) -> HttpResponse:
    actor = _actor(request)
    level = None
    if level_id is not None:
        level = DunningLevel.objects.filter(company_id=actor.company_id, pk=level_id).first()
        if level is None:
            raise NotFound("dunning_level_not_found")
    initial = {name: getattr(level, name) for name in dunning.LEVEL_FIELDS} if level else {"is_active": True}
    form = LevelForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                if level is None:
                    dunning.level_create(actor=actor, **form.cleaned_data)
                else:
                    dunning.level_update(actor=actor, level_id=level.pk, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Dunning level saved."))
                return redirect("accounting:dunning_levels")
        status = 422
    return render(request, "accounting/dunning/level_form.html", {"form": form, "level": level}, status=status)


class AutomaticForm(forms.Form):
    auto_enabled = forms.BooleanField(label=_("Send reminders automatically every day"), required=False)
    auto_mode = forms.ChoiceField(
        label=_("How"), choices=DunningAction.choices,
        help_text=_("Replaces each level's own action for the automatic reminders. Customers "
                    "marked do-not-contact never get an email."),
    )  # fmt: skip

    def apply_errors(self, exc: ValidationFailed) -> None:
        for name, errors in (exc.fields or {}).items():
            for error in errors:
                self.add_error(name if name in self.fields else None, str(error))


@dunning_page
@require_http_methods(["GET", "POST"])
def automatic(request: HttpRequest) -> HttpResponse:
    """Automatic dunning: on or off (off by default) and how the reminders go out."""
    actor = _actor(request)
    current = dunning.settings_of(actor.company_id)
    form = AutomaticForm(request.POST or None,
                         initial={"auto_enabled": current.auto_enabled, "auto_mode": current.auto_mode})  # fmt: skip
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                dunning.settings_update(actor=actor, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Automatic reminders saved."))
                return redirect("accounting:dunning_automatic")
        status = 422
    return render(request, "accounting/dunning/automatic.html", {"form": form, "current": current}, status=status)

"""Follow-up rules in the pipeline settings: list, create, edit, (de)activate, delete, run now.

Views parse with a form, call one service and render; every page needs ``crm.manage_pipelines``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from comptoir.crm import followups, selectors
from comptoir.crm.models import FollowUpKind, StageKind
from comptoir.crm.views import _actor, crm_page
from comptoir.kernel.authz import require
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.forms import BootstrapForm


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class RuleForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(label=_("When"), choices=FollowUpKind.choices)
    days = forms.IntegerField(label=_("Days"), min_value=1, max_value=followups.MAX_DAYS)
    pipeline_id = forms.TypedChoiceField(label=_("Pipeline"), required=False, coerce=_optional_id, empty_value=None)
    stage_id = forms.TypedChoiceField(
        label=_("Stage"), required=False, coerce=_optional_id, empty_value=None,
        help_text=_("Required for “stuck in a stage”; for “without activity”, limits the rule to this stage."),
    )  # fmt: skip
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, pipelines: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pipeline_id"].choices = [("", _("Every pipeline")), *((p.pk, p.name) for p in pipelines)]  # type: ignore[attr-defined]
        self.fields["stage_id"].choices = [  # type: ignore[attr-defined]
            ("", "—"),
            *(
                (s.pk, f"{p.name} · {s.name}" if len(pipelines) > 1 else s.name)
                for p in pipelines
                for s in p.stages.all()
                if s.kind == StageKind.OPEN
            ),
        ]


def _form(request: HttpRequest, data: Any = None, initial: dict[str, Any] | None = None) -> RuleForm:
    return RuleForm(data, initial=initial, pipelines=list(selectors.pipeline_list(_actor(request))))


@crm_page
@require_http_methods(["GET", "POST"])
def rules(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "crm.manage_pipelines")
    form = _form(request, request.POST or None, initial={"kind": FollowUpKind.NO_ACTIVITY, "days": 14})
    if request.method == "POST" and form.is_valid():
        try:
            rule = followups.rule_create(actor=actor, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Follow-up rule “%(name)s” created.") % {"name": rule.name})
            return redirect("crm:followup_rules")
    rows = followups.rule_list(actor).order_by("-is_active", "name", "pk")
    status = 422 if request.method == "POST" else 200
    return render(request, "crm/followups/rules.html", {"rules": rows, "form": form}, status=status)


@crm_page
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    actor = _actor(request)
    rule = followups.rule_get(actor, rule_id)
    initial = {name: getattr(rule, name) for name in RuleForm.base_fields}
    form = _form(request, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            followups.rule_update(actor=actor, rule_id=rule.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Follow-up rule saved."))
            return redirect("crm:followup_rules")
    status = 422 if request.method == "POST" else 200
    return render(request, "crm/followups/form.html", {"form": form, "rule": rule}, status=status)


@crm_page
@require_POST
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    actor = _actor(request)
    rule = followups.rule_get(actor, rule_id)
    rule = followups.rule_update(actor=actor, rule_id=rule.pk, is_active=not rule.is_active)
    if rule.is_active:
        messages.success(request, _("Follow-up rule “%(name)s” activated.") % {"name": rule.name})
    else:
        messages.success(request, _("Follow-up rule “%(name)s” deactivated.") % {"name": rule.name})
    return redirect("crm:followup_rules")


@crm_page
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    actor = _actor(request)
    followups.rule_delete(actor=actor, rule_id=rule_id)
    messages.success(request, _("Follow-up rule deleted."))
    return redirect("crm:followup_rules")


@crm_page
@require_POST
def rules_run(request: HttpRequest) -> HttpResponse:
    report = followups.run_now(actor=_actor(request))
    messages.success(
        request,
        _("Follow-up rules applied: %(tasks)s task(s) created, %(alerts)s alert(s) sent.")
        % {"tasks": report.tasks, "alerts": report.alerts},
    )
    return redirect("crm:followup_rules")

"""Sales KPI page (charts, tables, exports) and the sales targets page."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.exports import export_response
from comptoir.org.models import Team, User
from comptoir.sales import kpis


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def kpi_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, sales on for the company (404 otherwise), KPIs visible (403)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        actor = _actor(request)
        if not modules.is_enabled(actor.company_id, "sales"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        require(actor, kpis.VIEW)
        return view(request, *args, **kwargs)

    return login_required(wrapper)


TABLES = {
    "salesperson": (_("Revenue by salesperson"), "by_salesperson"),
    "team": (_("Revenue by team"), "by_team"),
    "product": (_("Revenue by product"), "by_product"),
    "month": (_("Revenue by month"), "by_month"),
}


@kpi_page
@require_GET
def dashboard(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    date_from, date_to = request.GET.get("date_from"), request.GET.get("date_to")
    try:
        result = kpis.compute(actor, date_from, date_to)
    except ValidationFailed as exc:
        failed = {"errors": exc.fields, "date_from": date_from or "", "date_to": date_to or ""}
        return render(request, "sales/kpis/dashboard.html", failed, status=422)
    table = request.GET.get("table")
    if "format" in request.GET and table in TABLES:
        label, attribute = TABLES[table]
        columns = [(str(label), "label"), (str(_("Orders")), "orders"), (str(_("Revenue excl. VAT")), "revenue")]
        name = f"sales-{table}-{result.date_from.isoformat()}-{result.date_to.isoformat()}"
        return export_response(getattr(result, attribute), columns, name, request.GET["format"])
    if "format" in request.GET and table == "funnel":
        rows = [
            {"step": str(_("Lead → opportunity")), "rate": result.lead_to_opportunity},
            {"step": str(_("Opportunity → quote")), "rate": result.opportunity_to_quote},
            {"step": str(_("Quote → order")), "rate": result.quote_to_order},
            {"step": str(_("Win rate")), "rate": result.win_rate},
            {"step": str(_("Average sales cycle (days)")), "rate": result.average_cycle_days},
            {"step": str(_("Average deal size")), "rate": result.average_deal},
        ]
        return export_response(rows, [(str(_("Indicator")), "step"), (str(_("Value")), "rate")], "sales-kpis",
                               request.GET["format"])  # fmt: skip
    funnel = result.funnel()
    top = max((count for _label, count in funnel), default=0)
    context: dict[str, Any] = {
        "kpis": result, "date_from": result.date_from.isoformat(), "date_to": result.date_to.isoformat(),
        "funnel": [(label, count, (count * 100 / top) if top else 0) for label, count in funnel],
        "month_bars": [
            {"x": index * 10 + 1, "y": 100 - int(row.share), "h": int(row.share), "label": row.label,
             "revenue": row.revenue}
            for index, row in enumerate(result.by_month)
        ],
        "month_width": max(len(result.by_month), 1) * 10,
        "tables": [(code, label, getattr(result, attribute)) for code, (label, attribute) in TABLES.items()
                   if code != "month"],
    }  # fmt: skip
    return render(request, "sales/kpis/dashboard.html", context)


class TargetForm(forms.Form):
    owner_id = forms.TypedChoiceField(label=_("Salesperson"), coerce=int, required=False, empty_value=None)
    team_id = forms.TypedChoiceField(label=_("Team"), coerce=int, required=False, empty_value=None)
    start_date = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    amount = forms.DecimalField(label=_("Target excluding VAT"), max_digits=14, decimal_places=2, min_value=0)

    def __init__(self, company_id: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = User.objects.filter(memberships__company_id=company_id, is_active=True).distinct()
        owner_field: Any = self.fields["owner_id"]
        owner_field.choices = [("", "—"), *people.order_by("full_name").values_list("pk", "full_name")]
        teams = Team.objects.filter(company_id=company_id).order_by("name").values_list("pk", "name")
        team_field: Any = self.fields["team_id"]
        team_field.choices = [("", "—"), *teams]


@kpi_page
@require_http_methods(["GET", "POST"])
def targets(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    form = TargetForm(actor.company_id, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                kpis.target_create(actor=actor, **form.cleaned_data)
            except ValidationFailed as exc:
                for name, errors in exc.fields.items():
                    for error in errors:
                        form.add_error(name if name in form.fields else None, str(error))
            else:
                messages.success(request, _("Target saved."))
                return redirect("sales:targets")
        status = 422
    context = {"form": form, "targets": kpis.target_list(actor)[:500],
               "can_manage": actor.has_perm("sales.manage_orders")}  # fmt: skip
    return render(request, "sales/kpis/targets.html", context, status=status)


@kpi_page
@require_POST
def target_delete(request: HttpRequest, target_id: int) -> HttpResponseBase:
    kpis.target_delete(actor=_actor(request), target_id=target_id)
    messages.success(request, _("Target deleted."))
    return redirect("sales:targets")

"""Multi-currency pages: exchange rates (list, add, CSV import) and the revaluation action of
the year-end closing page. Views parse, call one service or selector, render."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from comptoir.accounting import currency, revaluation
from comptoir.accounting.models import FiscalYear
from comptoir.accounting.views import _actor, _int, accounting_page
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.pagination import paginate


def _messages(exc: ValidationFailed) -> list[str]:
    return [f"{name}: {message}" for name, found in (exc.fields or {}).items() for message in found] or [
        str(exc.message)
    ]


@accounting_page
@require_http_methods(["GET", "POST"])
def rates(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    errors: dict[str, list[str]] = {}
    status = 200
    values: dict[str, Any] = {}
    if request.method == "POST":
        try:
            if "file" in request.FILES:
                upload = request.FILES.get("file")
                assert upload is not None and not isinstance(upload, list)
                count = currency.rates_import(actor=actor, data=upload)  # the service checks the size
                messages.success(request, _("%(count)s exchange rates imported.") % {"count": count})
            else:
                values = {name: request.POST.get(name, "") for name in ("currency", "date", "rate")}
                found = currency.rate_set(actor=actor, **values)
                messages.success(request, _("Rate saved: %(rate)s.") % {"rate": found})
            return redirect("accounting:currency_rates")
        except ValidationFailed as exc:
            errors = exc.fields or {"file": [str(exc.message)]}
            status = 422
    code = request.GET.get("currency", "").strip()[:3]
    page = paginate(currency.rates_list(actor, currency=code), _int(request.GET.get("page")) or 1)
    context = {
        "page": page, "errors": errors, "values": values, "filter": code, "query": f"currency={code}" if code else "",
        "can_manage": actor.has_perm(currency.MANAGE),
    }  # fmt: skip
    return render(request, "accounting/closing/currency_rates.html", context, status=status)


def _year_end_action(
    request: HttpRequest, fiscal_year_id: int, run: Callable[[Any, dt.date], Any], done_message: Callable[[Any], str]
) -> HttpResponse:
    """Run a year-end currency step at the year's end date; its errors become messages."""
    actor = _actor(request)
    year = FiscalYear.objects.filter(company_id=actor.company_id, pk=fiscal_year_id).first()
    if year is None:
        raise NotFound("fiscal_year_not_found")
    try:
        done = run(actor, year.end_date)
    except ValidationFailed as exc:
        for message in _messages(exc):
            messages.error(request, message)
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done_message(done))
    return redirect("accounting:year_end", fiscal_year_id=fiscal_year_id)


@accounting_page
@require_POST
def revalue(request: HttpRequest, fiscal_year_id: int) -> HttpResponse:
    return _year_end_action(
        request, fiscal_year_id, lambda actor, day: revaluation.revalue(actor=actor, date=day),
        lambda done: _("Open foreign-currency items revalued: entry %(number)s, reversed the next day.")
        % {"number": done.entry.number},
    )  # fmt: skip


@accounting_page
@require_POST
def provision(request: HttpRequest, fiscal_year_id: int) -> HttpResponse:
    """Book the provision for exchange losses of a year-end revalued before it was proposed."""
    return _year_end_action(
        request, fiscal_year_id, lambda actor, day: revaluation.provision_post(actor=actor, date=day),
        lambda done: _("Provision for exchange losses booked: entry %(number)s, reversed the next day.")
        % {"number": done.provision_entry.number},
    )  # fmt: skip


def revaluation_context(actor: Any, year: FiscalYear) -> dict[str, Any]:
    """The closing page's revaluation panel: the preview at the year's end, or why there is none."""
    try:
        preview = revaluation.revaluation_preview(actor, year.end_date)
    except ValidationFailed as exc:
        return {"revaluation": None, "revaluation_errors": _messages(exc)}
    return {"revaluation": preview, "revaluation_errors": [],
            "can_revalue": actor.has_perm(revaluation.POST) and preview.entry is None and any(
                i.difference for i in preview.items),
            "can_provision": actor.has_perm(revaluation.POST) and preview.entry is not None
            and preview.provision_entry is None and preview.provision > 0}  # fmt: skip

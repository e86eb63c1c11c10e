"""Report pages: FEC export and FEC checker, PDF of the trial balance, general ledger and
journal listing (their HTML pages and CSV/XLSX exports live in ``views``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from comptoir.accounting import fec_check, fec_export, selectors
from comptoir.accounting.views import _actor, _int, accounting_page
from comptoir.kernel.authz import require
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.forms import BootstrapForm

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


# --- FEC export -----------------------------------------------------------------------


@accounting_page
@require_GET
def fec_export_page(request: HttpRequest) -> HttpResponseBase:
    """Choose a fiscal year; ``?fiscal_year=<id>`` downloads its FEC (streamed)."""
    actor = _actor(request)
    require(actor, "accounting.export")
    years = list(selectors.fiscal_years(actor))
    error = ""
    chosen = _int(request.GET.get("fiscal_year"))
    if "fiscal_year" in request.GET:
        try:
            if chosen is None:
                raise ValidationFailed("invalid_fec_export", fields={"fiscal_year": [str(_("Choose a fiscal year."))]})
            return fec_export.streaming_response(fec_export.prepare(actor, fiscal_year_id=chosen))
        except ValidationFailed as exc:
            error = " ".join(m for ms in exc.fields.values() for m in ms) or exc.message
    context = {"years": years, "chosen": chosen, "error": error}
    return render(request, "accounting/reports/fec_export.html", context, status=422 if error else 200)


# --- FEC checker ----------------------------------------------------------------------


class FecCheckForm(BootstrapForm):
    file = forms.FileField(label=_("FEC file"), allow_empty_file=True)
    fiscal_year_start = forms.DateField(label=_("Fiscal year start"), required=False, widget=DATE)
    fiscal_year_end = forms.DateField(label=_("Closing date"), required=False, widget=DATE)


@accounting_page
@require_http_methods(["GET", "POST"])
def fec_check_page(request: HttpRequest) -> HttpResponse:
    """Upload any FEC file; the report lists every problem with its line."""
    actor = _actor(request)
    form = FecCheckForm()
    report = None
    refused: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            # Refused from the announced length, before Django reads (and spools) the body.
            fec_check.refuse_size(_int(request.META.get("CONTENT_LENGTH")))
            form = FecCheckForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                report = fec_check.check_upload(
                    actor, upload.file, name=upload.name or "", size=upload.size,
                    fiscal_year_start=form.cleaned_data["fiscal_year_start"],
                    fiscal_year_end=form.cleaned_data["fiscal_year_end"],
                )  # fmt: skip
        except ValidationFailed as exc:
            refused = exc.fields or {"file": [exc.message]}
    status = 422 if refused or (form.is_bound and not form.is_valid()) else 200
    context: dict[str, Any] = {
        "form": form, "report": report, "refused": [m for ms in refused.values() for m in ms],
        "data": fec_check.report_data(report) if report else None,
    }  # fmt: skip
    return render(request, "accounting/reports/fec_check.html", context, status=status)


def _range(request: HttpRequest) -> tuple[dt.date | None, dt.date | None]:
    from comptoir.accounting.views import _default_range

    return _default_range(request)

"""Report pages: FEC export and FEC checker, PDF of the trial balance, general ledger and
journal listing (their HTML pages and CSV/XLSX exports live in ``views``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from comptoir.accounting import fec_check, fec_export, reports_pdf, selectors
from comptoir.accounting.views import (
    _account_name,
    _actor,
    _date,
    _default_range,
    _int,
    _query_without_page,
    accounting_page,
)
from comptoir.kernel.authz import require
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.forms import BootstrapForm
from comptoir.org.models import Company

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


# --- PDF of the ledger reports ---------------------------------------------------------


def _pdf(request: HttpRequest, template: str, context: dict[str, Any], filename: str) -> HttpResponse:
    language = reports_pdf.language_of(request.GET.get("lang"))
    company = Company.objects.get(pk=_actor(request).company_id)
    with translation.override(language):
        context = {**context, "company": company, "title": str(context["title"])}
    pdf = reports_pdf.render_pdf(template, context, language)
    response = HttpResponse(pdf, content_type=reports_pdf.CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}.pdf"'
    return response


def _too_long(request: HttpRequest, page: str) -> HttpResponse:
    """Past the cap: back to the report's page, which says what to do instead."""
    messages.error(
        request,
        _("More than %(max)s lines: too long for a PDF. Narrow the period or export XLSX.")
        % {"max": formats.number_format(reports_pdf.max_rows(), force_grouping=True)},
    )
    query = _query_without_page(request)
    return redirect(f"{page}?{query}" if query else page)


@accounting_page
@require_GET
def trial_balance_pdf(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    require(actor, "accounting.export")
    date_from, date_to = _default_range(request)
    by_partner = request.GET.get("partners") == "1"
    balance = selectors.trial_balance(actor, date_from=date_from, date_to=date_to, by_partner=by_partner,
                                      account_class=request.GET.get("class", "")[:1],
                                      site_id=request.GET.get("site"))  # fmt: skip
    site = balance.site  # checked by the selector (a field error on ``site``)
    if len(balance.rows) > reports_pdf.max_rows():
        return _too_long(request, reverse("accounting:trial_balance"))
    with translation.override(reports_pdf.language_of(request.GET.get("lang"))):
        for row in balance.rows:
            row.name = _account_name(row.code, row.name)
        title = _("Trial balance") + (" — " + _("Site %(name)s") % {"name": site.name} if site else "")
    context = {
        "title": title, "balance": balance, "by_partner": by_partner, "date_from": date_from,
        "date_to": date_to, "total_debit_balance": sum((r.debit_balance for r in balance.rows), Decimal(0)),
        "total_credit_balance": sum((r.credit_balance for r in balance.rows), Decimal(0)),
    }  # fmt: skip
    return _pdf(request, "accounting/reports/trial_balance_pdf.html", context, "trial-balance")


@accounting_page
@require_GET
def general_ledger_pdf(request: HttpRequest, account_id: int) -> HttpResponseBase:
    actor = _actor(request)
    require(actor, "accounting.export")
    date_from, date_to = _default_range(request)
    site = selectors.resolve_site(actor, request.GET.get("site"))
    account, opening, rows = selectors.general_ledger(
        actor, account_id=account_id, date_from=date_from, date_to=date_to,
        partner_account_id=_int(request.GET.get("partner")), site_id=site,
    )  # fmt: skip
    cap = reports_pdf.max_rows()
    lines = list(rows[: cap + 1])
    if len(lines) > cap:
        return _too_long(request, reverse("accounting:general_ledger", args=[account_id]))
    lines = selectors.ledger_rows(lines, opening)
    with translation.override(reports_pdf.language_of(request.GET.get("lang"))):
        name = _account_name(account.code, account.name)
        title = _("General ledger") + f" — {account.code} {name}"
        if site is not None:
            title += " — " + _("Site %(name)s") % {"name": site.name}
    context = {
        "title": title, "rows": lines, "opening": opening, "date_from": date_from, "date_to": date_to,
        "total_debit": sum((line["debit"] for line in lines), Decimal(0)),
        "total_credit": sum((line["credit"] for line in lines), Decimal(0)),
        "closing": lines[-1]["balance"] if lines else opening,
    }  # fmt: skip
    return _pdf(request, "accounting/reports/general_ledger_pdf.html", context, f"general-ledger-{account.code}")


@accounting_page
@require_GET
def journal_listing_pdf(request: HttpRequest, journal_id: int) -> HttpResponseBase:
    from comptoir.accounting import pcg

    actor = _actor(request)
    require(actor, "accounting.export")
    journal = selectors.journal_get(actor, journal_id)
    date_from, date_to = _date(request, "date_from"), _date(request, "date_to")  # as on the listing page
    rows = selectors.journal_lines(actor, journal_id=journal_id, date_from=date_from, date_to=date_to)
    cap = reports_pdf.max_rows()
    lines = list(rows[: cap + 1])
    if len(lines) > cap:
        return _too_long(request, reverse("accounting:journal_listing", args=[journal_id]))
    language = reports_pdf.language_of(request.GET.get("lang"))
    with translation.override(language):
        name = pcg.english_journal_name(journal.code, journal.name) if language == "en" else journal.name
        title = _("Journal") + f" {journal.code} — {name}"
    context = {
        "title": title, "rows": lines, "date_from": date_from, "date_to": date_to,
        "total_debit": sum((line["debit"] for line in lines), Decimal(0)),
        "total_credit": sum((line["credit"] for line in lines), Decimal(0)),
    }  # fmt: skip
    return _pdf(request, "accounting/reports/journal_listing_pdf.html", context, f"journal-{journal.code}")

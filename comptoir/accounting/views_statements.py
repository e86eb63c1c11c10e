"""Financial statement pages: balance sheet, income statement, aged receivables and payables,
partner statement and VAT return, each with its XLSX/CSV and PDF export (``?format=``).

Reading needs ``accounting.view_ledger`` (``accounting_page``); exporting also needs
``accounting.export``, as for the trial balance. Bad filters answer 422 with the page and
the message next to the field.

Every page takes ``site`` (one of the company's sites, active or closed; empty: the whole
company): the figures are then those of that site's lines, the exports name the site (a
"Site" column in XLSX/CSV, the title of the PDF) and the drill-down links carry it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from comptoir.accounting import aged, partner_statements, reports_pdf, selectors, statements, vat_return
from comptoir.accounting.models import PartnerKind
from comptoir.accounting.views import _account_name, _actor, _int, _query_without_page, accounting_page
from comptoir.kernel.authz import require
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.exports import export_response
from comptoir.org.models import Company, Site

PDF = "pdf"


def _errors(exc: ValidationFailed) -> dict[str, list[str]]:
    return {name: [str(m) for m in messages] for name, messages in (exc.fields or {"": [exc.message]}).items()}


def _site(request: HttpRequest, errors: dict[str, list[str]]) -> Site | None:
    """The ``site`` filter; a bad one is added to ``errors``."""
    try:
        return selectors.resolve_site(_actor(request), request.GET.get("site"))
    except ValidationFailed as exc:
        errors |= _errors(exc)
        return None


def _period(request: HttpRequest) -> tuple[statements.Period, Site | None]:
    actor = _actor(request)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name in ("date_from", "date_to"):
        try:
            values[name] = statements.parse_date(name, request.GET.get(name))
        except ValidationFailed as exc:
            errors |= _errors(exc)
    raw_year = request.GET.get("fiscal_year") or ""
    year = _int(raw_year)
    if raw_year and year is None:
        errors["fiscal_year"] = [str(_("Unknown fiscal year."))]
    site = _site(request, errors)
    if errors:
        raise ValidationFailed("invalid_filter", fields=errors)
    return statements.resolve_period(actor, fiscal_year_id=year, **values), site


def _as_of(request: HttpRequest) -> tuple[dt.date, Site | None]:
    errors: dict[str, list[str]] = {}
    as_of = None
    try:
        as_of = statements.parse_date("as_of", request.GET.get("as_of"))
    except ValidationFailed as exc:
        errors |= _errors(exc)
    site = _site(request, errors)
    if errors:
        raise ValidationFailed("invalid_filter", fields=errors)
    return as_of or timezone.localdate(), site


def _site_columns(site: Site | None) -> list[tuple[Any, Any]]:
    """A first "Site" column naming the site on every row of a filtered export."""
    if site is None:
        return []
    name = site.name
    return [(_("Site"), lambda _row: name)]


def _site_suffix(site: Site | None) -> str:
    return f"-site-{site.pk}" if site is not None else ""


def _export(request: HttpRequest) -> str:
    fmt = (request.GET.get("format") or "").lower()
    if fmt:
        require(_actor(request), "accounting.export")
    return fmt


def _pdf_response(request: HttpRequest, template: str, context: dict[str, Any], filename: str) -> HttpResponse:
    language = reports_pdf.language_of(request.GET.get("lang"))
    company = Company.objects.get(pk=_actor(request).company_id)
    with translation.override(language):
        title = str(context["title"])
        if context.get("site") is not None:
            title += " — " + str(_("Site %(name)s") % {"name": context["site"].name})
        context = {**context, "company": company, "title": title}
        pdf = reports_pdf.render_pdf(template, context, language)
    response = HttpResponse(pdf, content_type=reports_pdf.CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}.pdf"'
    return response


def _base_context(request: HttpRequest, section: str) -> dict[str, Any]:
    actor = _actor(request)
    return {
        "section": section, "query": _query_without_page(request), "can_export": actor.has_perm("accounting.export"),
        "years": list(selectors.fiscal_years(actor)), "errors": {}, "get": request.GET,
        "sites": selectors.site_choices(actor), "site": None,
    }  # fmt: skip


def _invalid(request: HttpRequest, template: str, context: dict[str, Any], exc: ValidationFailed) -> HttpResponse:
    context["errors"] = _errors(exc)
    return render(request, template, context, status=422)


def _localize_accounts(statement: statements.BalanceSheet | statements.IncomeStatement) -> None:
    for section in statement.sections:
        for line in section.lines:
            for item in line.accounts:
                item.name = _account_name(item.code, item.name)


STATEMENT_COLUMNS = [(_("Section"), "section"), (_("Line"), "key"), (_("Account"), "account"), (_("Label"), "label"),
                     (_("Period"), "current"), (_("Previous period"), "previous")]  # fmt: skip


def _statement_page(request: HttpRequest, which: str) -> HttpResponseBase:
    actor = _actor(request)
    template = f"accounting/statements/{which}.html"
    context = _base_context(request, which)
    try:
        fmt = _export(request)
        period, site = _period(request)
        compare = request.GET.get("compare", "1") != "0"
        builder = statements.balance_sheet if which == "balance_sheet" else statements.income_statement
        statement = builder(actor, period, compare=compare, site_id=site)
        _localize_accounts(statement)
        title = _("Balance sheet") if which == "balance_sheet" else _("Income statement")
        name = which.replace("_", "-") + _site_suffix(site)
        if fmt == PDF:
            return _pdf_response(request, f"accounting/statements/{which}_pdf.html",
                                 {"title": title, "statement": statement, "site": site,
                                  "date_from": period.date_from, "date_to": period.date_to}, name)  # fmt: skip
        if fmt:
            return export_response(statements.statement_rows(statement), [*_site_columns(site), *STATEMENT_COLUMNS],
                                   name, fmt)  # fmt: skip
    except ValidationFailed as exc:
        return _invalid(request, template, context, exc)
    context |= {"statement": statement, "period": period, "compare": compare, "site": site}
    return render(request, template, context)


@accounting_page
@require_GET
def balance_sheet(request: HttpRequest) -> HttpResponseBase:
    return _statement_page(request, "balance_sheet")


@accounting_page
@require_GET
def income_statement(request: HttpRequest) -> HttpResponseBase:
    return _statement_page(request, "income_statement")


def _aged_page(request: HttpRequest, kind: str) -> HttpResponseBase:
    actor = _actor(request)
    which = "aged_receivables" if kind == PartnerKind.CUSTOMER else "aged_payables"
    context = _base_context(request, which) | {"buckets": aged.BUCKETS, "kind": kind}
    try:
        fmt = _export(request)
        as_of, site = _as_of(request)
        report = aged.aged_balance(actor, kind=kind, as_of=as_of, site_id=site)
        title = _("Aged receivables") if kind == PartnerKind.CUSTOMER else _("Aged payables")
        name = which.replace("_", "-") + _site_suffix(site)
        if fmt == PDF:
            return _pdf_response(request, "accounting/statements/aged_pdf.html",
                                 {"title": title, "report": report, "buckets": aged.BUCKETS,
                                  "date_to": as_of, "site": site}, name)  # fmt: skip
        if fmt:
            columns: list[tuple[Any, Any]] = [*_site_columns(site), (_("Code"), "code"), (_("Partner"), "label")]
            columns += [(label, key) for key, label in aged.BUCKETS] + [(_("Total"), "total")]
            return export_response(aged.report_rows(report), columns, f"{name}-{as_of.isoformat()}", fmt)
    except ValidationFailed as exc:
        return _invalid(request, "accounting/statements/aged.html", context, exc)
    context |= {"report": report, "as_of": as_of, "title": title, "site": site}
    return render(request, "accounting/statements/aged.html", context)


@accounting_page
@require_GET
def aged_receivables(request: HttpRequest) -> HttpResponseBase:
    return _aged_page(request, PartnerKind.CUSTOMER)


@accounting_page
@require_GET
def aged_payables(request: HttpRequest) -> HttpResponseBase:
    return _aged_page(request, PartnerKind.SUPPLIER)


@accounting_page
@require_GET
def partner_statement(request: HttpRequest, partner_account_id: int) -> HttpResponseBase:
    actor = _actor(request)
    context = _base_context(request, "partner_statement")
    template = "accounting/statements/partner_statement.html"
    try:
        fmt = _export(request)
        errors: dict[str, list[str]] = {}
        dates: dict[str, dt.date | None] = {}
        for field in ("date_from", "date_to"):
            try:
                dates[field] = statements.parse_date(field, request.GET.get(field))
            except ValidationFailed as exc:
                errors |= _errors(exc)
        site = _site(request, errors)
        if errors:
            raise ValidationFailed("invalid_filter", fields=errors)
        result = partner_statements.statement(actor, partner_account_id=partner_account_id, site_id=site,
                                              **dates)  # fmt: skip
        name = f"statement-{result.partner.code}{_site_suffix(site)}"
        if fmt == PDF:
            language = reports_pdf.language_of(request.GET.get("lang"))
            response = HttpResponse(partner_statements.render_pdf(actor.company_id, result, language),
                                    content_type=reports_pdf.CONTENT_TYPE)  # fmt: skip
            response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
            return response
        if fmt:
            columns = [*_site_columns(site), (_("Date"), "date"), (_("Journal"), "journal__code"),
                       (_("Number"), "entry__number"), (_("Label"), "label"), (_("Due date"), "due_date"),
                       (_("Debit"), "debit"), (_("Credit"), "credit"), (_("Balance"), "balance")]  # fmt: skip
            opening = {"label": str(_("Opening balance")), "balance": result.opening, "date": result.date_from}
            return export_response([opening, *result.movements], columns, name, fmt)
    except ValidationFailed as exc:
        return _invalid(request, template, context, exc)
    context |= {"statement": result, "ledger_account_id": result.partner.account_id, "site": site}
    return render(request, template, context)


@accounting_page
@require_GET
def vat_return_page(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    context = _base_context(request, "vat_return")
    template = "accounting/statements/vat_return.html"
    try:
        fmt = _export(request)
        period, site = _period(request)
        result = vat_return.vat_return(actor, period, site_id=site)
        title = _("VAT return")
        name = f"vat-return-{period.date_from.isoformat()}-{period.date_to.isoformat()}{_site_suffix(site)}"
        if fmt == PDF:
            return _pdf_response(request, "accounting/statements/vat_return_pdf.html",
                                 {"title": title, "result": result, "site": site,
                                  "rows": vat_return.return_rows(result), "date_from": period.date_from,
                                  "date_to": period.date_to}, name)  # fmt: skip
        if fmt:
            columns = [*_site_columns(site), (_("Part"), "section"), (_("Box"), "box"), (_("Label"), "label"),
                       (_("Base"), "base"), (_("VAT"), "tax")]  # fmt: skip
            return export_response(vat_return.return_rows(result), columns, name, fmt)
    except ValidationFailed as exc:
        return _invalid(request, template, context, exc)
    context |= {"result": result, "period": period, "rows": vat_return.return_rows(result), "site": site}
    return render(request, template, context)

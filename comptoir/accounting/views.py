"""Accounting pages: entries, chart of accounts, journals, fiscal years and lock date,
trial balance, general ledger, chain verification.

Views parse with a form, call one service or selector and render. ``ValidationFailed`` is
shown next to the form's fields; other ``DomainError``s go to the UI's error mapping.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.accounting import chain, pcg, selectors, services
from comptoir.accounting.forms import (
    AccountForm,
    EntryForm,
    FiscalYearForm,
    JournalForm,
    LockDateForm,
    ReverseForm,
    apply_entry_errors,
    line_formset,
    lines_for_service,
    site_choices,
)
from comptoir.accounting.models import AccountType, EntryState, JournalEntry
from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.exports import export_response
from comptoir.kernel.pagination import paginate, parse_sort


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def accounting_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, accounting switched on for the company (404 otherwise), ledger visible (403)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        actor = _actor(request)
        if not modules.is_enabled(actor.company_id, "accounting"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        require(actor, "accounting.view_ledger")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _date(request: HttpRequest, name: str) -> dt.date | None:
    raw = request.GET.get(name) or ""
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        raise ValidationFailed("invalid_filter", fields={name: [str(_("Enter a valid date (YYYY-MM-DD)."))]}) from None


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    return query.urlencode()


def _english() -> bool:
    return (get_language() or "").startswith("en")


def _account_name(code: str, name: str) -> str:
    return pcg.english_name(code, name) if _english() else name


# --- Entries --------------------------------------------------------------------------

ENTRY_SORT_CHOICES = [("-date", _("Newest first")), ("date", _("Oldest first")), ("number", _("Number")),
                      ("-total", _("Largest amount"))]  # fmt: skip


@accounting_page
@require_GET
def entries(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    filters = selectors.EntryFilters(
        journal_id=_int(request.GET.get("journal")), state=request.GET.get("state", ""),
        date_from=_date(request, "date_from"), date_to=_date(request, "date_to"),
        account_id=_int(request.GET.get("account")), partner_account_id=_int(request.GET.get("partner")),
        q=request.GET.get("q", "")[:100],
    )  # fmt: skip
    sort = request.GET.get("sort") or selectors.ENTRY_DEFAULT_SORT
    order = parse_sort(sort, selectors.ENTRY_SORT, selectors.ENTRY_DEFAULT_SORT)
    rows = selectors.entry_list(actor, filters).order_by(*order, "-id")
    page = paginate(rows, _int(request.GET.get("page")) or 1)
    context = {
        "page": page, "filters": filters, "sort": sort, "query": _query_without_page(request),
        "journals": list(selectors.journals(actor)), "states": EntryState.choices,
        "sort_choices": ENTRY_SORT_CHOICES, "can_post": actor.has_perm("accounting.post_entries"),
    }  # fmt: skip
    return render(request, "accounting/entries.html", context)


def _entry_forms(request: HttpRequest, entry: JournalEntry | None) -> tuple[EntryForm, Any]:
    actor = _actor(request)
    journals = [(j.pk, f"{j.code} {j.name}") for j in selectors.journals(actor, active=True)]
    used = {line.account_id for line in entry.lines.all()} if entry else set()
    accounts = selectors.account_choices(actor, include=used)
    partners = selectors.partner_choices(actor)
    data = request.POST if request.method == "POST" else None
    initial = None
    lines_initial = None
    if entry is not None:
        initial = {"journal_id": entry.journal_id, "date": entry.date, "ref": entry.ref, "label": entry.label,
                   "site_id": entry.site_id}  # fmt: skip
        # A line on the entry's site shows "the entry's": it follows the entry if that changes.
        lines_initial = [
            {"account_id": line.account_id, "partner_account_id": line.partner_account_id, "label": line.label,
             "debit": line.debit or "", "credit": line.credit or "", "due_date": line.due_date,
             "site_id": line.site_id if line.site_id != entry.site_id else None}
            for line in entry.lines.all()
        ]  # fmt: skip
    else:
        initial = {"date": timezone.localdate()}
    extra = 1 if data is not None and "add_line" in data else (0 if lines_initial else 2 if data is None else 0)
    kept = [entry.site_id, *(line.site_id for line in entry.lines.all())] if entry else []
    sites = site_choices(actor.company_id, keep=kept)
    form = EntryForm(data, initial=initial, journals=journals, sites=sites)
    formset = line_formset(data, initial=lines_initial, accounts=accounts, partners=partners, extra=extra,
                           sites=sites)  # fmt: skip
    return form, formset


def _entry_form_page(request: HttpRequest, entry: JournalEntry | None) -> HttpResponse:
    actor = _actor(request)
    require(actor, "accounting.post_entries")
    if entry is not None and entry.state != EntryState.DRAFT:
        return redirect("accounting:entry", entry.pk)
    form, formset = _entry_forms(request, entry)
    saving = request.method == "POST" and "add_line" not in request.POST
    if saving and form.is_valid() and formset.is_valid():
        lines, positions = lines_for_service(formset)
        data = {**form.cleaned_data, "lines": lines}
        try:
            if entry is None:
                saved = services.entry_create(actor=actor, **data)
            else:
                saved = services.entry_update(actor=actor, entry_id=entry.pk, **data)
        except ValidationFailed as exc:
            apply_entry_errors(form, formset, positions, exc)
        else:
            if "post" in request.POST:
                try:
                    services.entry_post(actor=actor, entry_id=saved.pk)
                except ValidationFailed as exc:
                    messages.error(request, _("Saved as a draft, not posted: %(reasons)s") % {
                        "reasons": " ".join(m for ms in exc.fields.values() for m in ms) or exc.message})  # fmt: skip
                else:
                    messages.success(request, _("Entry posted."))
            else:
                messages.success(request, _("Draft saved."))
            return redirect("accounting:entry", saved.pk)
    context = {"form": form, "formset": formset, "entry": entry}
    return render(request, "accounting/entry_form.html", context)


@accounting_page
@require_http_methods(["GET", "POST"])
def entry_create(request: HttpRequest) -> HttpResponse:
    return _entry_form_page(request, None)


@accounting_page
@require_http_methods(["GET", "POST"])
def entry_edit(request: HttpRequest, entry_id: int) -> HttpResponse:
    return _entry_form_page(request, selectors.entry_get(_actor(request), entry_id))


@accounting_page
@require_GET
def entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    actor = _actor(request)
    found = selectors.entry_get(actor, entry_id)
    lines = list(found.lines.all())
    context = {
        "entry": found, "lines": lines, "can_post": actor.has_perm("accounting.post_entries"),
        "reversals": list(found.reversals.all()), "reverse_form": ReverseForm(initial={"date": timezone.localdate()}),
        "total_debit": sum(line.debit for line in lines), "total_credit": sum(line.credit for line in lines),
    }  # fmt: skip
    return render(request, "accounting/entry_detail.html", context)


@accounting_page
@require_POST
def entry_post(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        services.entry_post(actor=_actor(request), entry_id=entry_id)
    except ValidationFailed as exc:
        messages.error(request, " ".join(m for ms in exc.fields.values() for m in ms) or exc.message)
    else:
        messages.success(request, _("Entry posted."))
    return redirect("accounting:entry", entry_id)


@accounting_page
@require_POST
def entry_delete(request: HttpRequest, entry_id: int) -> HttpResponse:
    services.entry_delete(actor=_actor(request), entry_id=entry_id)
    messages.success(request, _("Draft deleted."))
    return redirect("accounting:entries")


@accounting_page
@require_POST
def entry_reverse(request: HttpRequest, entry_id: int) -> HttpResponse:
    actor = _actor(request)
    form = ReverseForm(request.POST)
    if form.is_valid():
        try:
            reversal = services.entry_reverse(actor=actor, entry_id=entry_id, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Entry reversed by %(number)s.") % {"number": reversal.number})
            return redirect("accounting:entry", reversal.pk)
    found = selectors.entry_get(actor, entry_id)
    lines = list(found.lines.all())
    context = {
        "entry": found, "lines": lines, "can_post": actor.has_perm("accounting.post_entries"),
        "reversals": list(found.reversals.all()), "reverse_form": form,
        "total_debit": sum(line.debit for line in lines), "total_credit": sum(line.credit for line in lines),
    }  # fmt: skip
    return render(request, "accounting/entry_detail.html", context, status=422)


# --- Chart of accounts and journals ---------------------------------------------------


@accounting_page
@require_GET
def accounts(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    active = {"1": True, "0": False}.get(request.GET.get("active", ""), None)
    rows = selectors.accounts(actor, q=request.GET.get("q", "")[:100], active=active,
                              account_class=request.GET.get("class", "")[:1])  # fmt: skip
    page = paginate(rows, _int(request.GET.get("page")) or 1, 100)
    page.items = [(account, _account_name(account.code, account.name)) for account in page.items]
    context = {
        "page": page, "query": _query_without_page(request), "q": request.GET.get("q", ""),
        "active": request.GET.get("active", ""), "can_manage": actor.has_perm("accounting.manage_chart"),
        "partners": list(selectors.partner_accounts(actor)[:200]),
    }  # fmt: skip
    return render(request, "accounting/accounts.html", context)


@accounting_page
@require_http_methods(["GET", "POST"])
def account_form(request: HttpRequest, account_id: int | None = None) -> HttpResponse:
    actor = _actor(request)
    require(actor, "accounting.manage_chart")
    account = selectors.account_get(actor, account_id) if account_id else None
    initial = None
    if account is not None:
        initial = {"code": account.code, "name": account.name, "type": account.type,
                   "reconcilable": account.reconcilable}  # fmt: skip
    form = AccountForm(request.POST or None, initial=initial or {"type": AccountType.OTHER})
    if request.method == "POST" and form.is_valid():
        try:
            if account is None:
                services.account_create(actor=actor, **form.cleaned_data)
            else:
                services.account_update(actor=actor, account_id=account.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Account saved."))
            return redirect("accounting:accounts")
    return render(request, "accounting/account_form.html", {"form": form, "account": account})


@accounting_page
@require_POST
def account_active(request: HttpRequest, account_id: int) -> HttpResponse:
    active = request.POST.get("active") == "1"
    services.account_set_active(actor=_actor(request), account_id=account_id, active=active)
    messages.success(request, _("Account reactivated.") if active else _("Account deactivated."))
    return redirect("accounting:accounts")


@accounting_page
@require_GET
def journals(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    rows = [
        (journal, pcg.english_journal_name(journal.code, journal.name) if _english() else journal.name)
        for journal in selectors.journals(actor)
    ]
    return render(request, "accounting/journals.html",
                  {"journals": rows, "can_manage": actor.has_perm("accounting.manage_chart")})  # fmt: skip


@accounting_page
@require_http_methods(["GET", "POST"])
def journal_form(request: HttpRequest, journal_id: int | None = None) -> HttpResponse:
    actor = _actor(request)
    require(actor, "accounting.manage_chart")
    journal = selectors.journal_get(actor, journal_id) if journal_id else None
    initial = None
    if journal is not None:
        initial = {"code": journal.code, "name": journal.name, "kind": journal.kind,
                   "default_account_id": journal.default_account_id}  # fmt: skip
    form = JournalForm(request.POST or None, initial=initial, accounts=selectors.account_choices(actor))
    if request.method == "POST" and form.is_valid():
        try:
            if journal is None:
                services.journal_create(actor=actor, **form.cleaned_data)
            else:
                services.journal_update(actor=actor, journal_id=journal.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Journal saved."))
            return redirect("accounting:journals")
    return render(request, "accounting/journal_form.html", {"form": form, "journal": journal})


@accounting_page
@require_GET
def journal_listing(request: HttpRequest, journal_id: int) -> HttpResponseBase:
    actor = _actor(request)
    date_from, date_to = _date(request, "date_from"), _date(request, "date_to")
    journal = selectors.journal_get(actor, journal_id)
    rows = selectors.journal_lines(actor, journal_id=journal_id, date_from=date_from, date_to=date_to)
    if request.GET.get("format"):
        require(actor, "accounting.export")
        columns = [(_("Number"), "entry__number"), (_("Date"), "date"), (_("Account"), "account__code"),
                   (_("Partner"), "partner_account__code"), (_("Label"), "label"), (_("Debit"), "debit"),
                   (_("Credit"), "credit")]  # fmt: skip
        return export_response(rows.iterator(chunk_size=1000), columns, f"journal-{journal.code}",
                               request.GET["format"])  # fmt: skip
    page = paginate(rows, _int(request.GET.get("page")) or 1, 100)
    context = {"journal": journal, "page": page, "date_from": date_from, "date_to": date_to,
               "query": _query_without_page(request), "can_export": actor.has_perm("accounting.export")}  # fmt: skip
    return render(request, "accounting/journal_listing.html", context)


# --- Fiscal years and lock date -------------------------------------------------------


@accounting_page
@require_http_methods(["GET", "POST"])
def periods(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    years = list(selectors.fiscal_years(actor))
    config = selectors.accounting_settings(actor)
    latest = years[0] if years else None
    year_initial: dict[str, Any] = {}
    if latest is not None:
        start = latest.end_date + dt.timedelta(days=1)
        year_initial = {"start_date": start, "end_date": services._add_months(start, 12) - dt.timedelta(days=1)}
    year_form = FiscalYearForm(request.POST if "create_year" in request.POST else None, initial=year_initial)
    lock_form = LockDateForm(request.POST if "set_lock" in request.POST else None,
                             initial={"lock_date": config.lock_date})  # fmt: skip
    if request.method == "POST":
        try:
            if "create_year" in request.POST and year_form.is_valid():
                services.fiscal_year_create(actor=actor, **year_form.cleaned_data)
                messages.success(request, _("Fiscal year created."))
                return redirect("accounting:periods")
            if "set_lock" in request.POST and lock_form.is_valid():
                services.lock_date_set(actor=actor, lock_date=lock_form.cleaned_data["lock_date"])
                messages.success(request, _("Lock date saved."))
                return redirect("accounting:periods")
            if "close_year" in request.POST:
                year_id = _int(request.POST.get("close_year"))
                if year_id is None:
                    raise NotFound("fiscal_year_not_found")
                from comptoir.accounting.closing import year_end_close

                year_end_close(actor=actor, fiscal_year_id=year_id)
                messages.success(request, _("Fiscal year closed; its balances are carried forward."))
                return redirect("accounting:periods")
        except ValidationFailed as exc:
            (year_form if "create_year" in request.POST else lock_form).apply_errors(exc)
    context = {
        "years": years, "settings": config, "year_form": year_form, "lock_form": lock_form,
        "can_manage": actor.has_perm("accounting.manage_chart"), "can_lock": actor.has_perm("accounting.lock_periods"),
        "today": timezone.localdate(),
    }  # fmt: skip
    status = 422 if request.method == "POST" else 200
    return render(request, "accounting/periods.html", context, status=status)


# --- Reports --------------------------------------------------------------------------


def _default_range(request: HttpRequest) -> tuple[dt.date | None, dt.date | None]:
    date_from, date_to = _date(request, "date_from"), _date(request, "date_to")
    if not request.GET.get("date_from") and not request.GET.get("date_to"):
        today = timezone.localdate()
        year = selectors.fiscal_years(_actor(request)).filter(start_date__lte=today, end_date__gte=today).first()
        if year is not None:
            date_from, date_to = year.start_date, year.end_date
    return date_from, date_to


@accounting_page
@require_GET
def trial_balance(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    date_from, date_to = _default_range(request)
    by_partner = request.GET.get("partners") == "1"
    balance = selectors.trial_balance(actor, date_from=date_from, date_to=date_to, by_partner=by_partner,
                                      account_class=request.GET.get("class", "")[:1],
                                      site_id=request.GET.get("site"))  # fmt: skip
    site = balance.site  # checked by the selector (a field error on ``site``)
    for row in balance.rows:
        row.name = _account_name(row.code, row.name)
    if request.GET.get("format"):
        require(actor, "accounting.export")
        site_name = site.name if site else ""
        columns: list[tuple[Any, Any]] = [(_("Site"), lambda _row: site_name)] if site else []
        columns += [(_("Account"), "code"), (_("Name"), "name")]
        if by_partner:
            columns += [(_("Partner account"), "partner_code"), (_("Partner"), "partner_label")]
        columns += [(_("Debit"), "debit"), (_("Credit"), "credit"), (_("Debit balance"), "debit_balance"),
                    (_("Credit balance"), "credit_balance")]  # fmt: skip
        name = f"trial-balance-site-{site.pk}" if site else "trial-balance"
        return export_response(balance.rows, columns, name, request.GET["format"])
    context = {"balance": balance, "date_from": date_from, "date_to": date_to, "by_partner": by_partner,
               "query": _query_without_page(request), "can_export": actor.has_perm("accounting.export"),
               "site": site, "sites": selectors.site_choices(actor)}  # fmt: skip
    return render(request, "accounting/trial_balance.html", context)


@accounting_page
@require_GET
def general_ledger(request: HttpRequest, account_id: int) -> HttpResponseBase:
    actor = _actor(request)
    date_from, date_to = _default_range(request)
    partner_id = _int(request.GET.get("partner"))
    site = selectors.resolve_site(actor, request.GET.get("site"))
    account, opening, rows = selectors.general_ledger(actor, account_id=account_id, date_from=date_from,
                                                      date_to=date_to, partner_account_id=partner_id,
                                                      site_id=site)  # fmt: skip
    if request.GET.get("format"):
        require(actor, "accounting.export")
        site_name = site.name if site else ""
        columns: list[tuple[Any, Any]] = [(_("Site"), lambda _row: site_name)] if site else []
        columns += [(_("Date"), "date"), (_("Journal"), "journal__code"), (_("Number"), "entry__number"),
                   (_("Reference"), "entry__ref"), (_("Partner"), "partner_account__code"), (_("Label"), "label"),
                   (_("Debit"), "debit"), (_("Credit"), "credit"), (_("Balance"), "balance")]  # fmt: skip
        stream = (row | {"balance": selectors.running_balance(row, opening)} for row in rows.iterator(chunk_size=1000))
        name = f"general-ledger-{account.code}" + (f"-site-{site.pk}" if site else "")
        return export_response(stream, columns, name, request.GET["format"])
    page = paginate(rows, _int(request.GET.get("page")) or 1, 100)
    page.items = selectors.ledger_rows(page.items, opening)
    context = {
        "account": account, "account_name": _account_name(account.code, account.name), "opening": opening,
        "page": page, "date_from": date_from, "date_to": date_to, "partner_id": partner_id,
        "query": _query_without_page(request), "can_export": actor.has_perm("accounting.export"),
        "site": site, "sites": selectors.site_choices(actor),
    }  # fmt: skip
    return render(request, "accounting/general_ledger.html", context)


@accounting_page
@require_GET
def verify(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    report = chain.verify_chain(actor.company_id) if request.GET.get("run") else None
    return render(request, "accounting/verify.html", {"report": report})

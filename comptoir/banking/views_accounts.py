"""Banking pages: bank accounts (list, form, page with statements and lines to reconcile),
statements, CSV layouts, and the statement import (upload, preview, result).

Views parse with a form, call one service or selector and render. ``ValidationFailed`` is
shown next to the form's fields, or (file and row problems) in a list above the form.

The import preview keeps the uploaded bytes in the data directory under a random token
bound to the user (``banking-uploads/``), so "Import" after "Preview" needs no new upload;
staged files are removed after the import and swept after a day.
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.accounting.forms import site_choices
from comptoir.accounting.models import Account, Journal, JournalKind
from comptoir.banking import accounts, imports, selectors
from comptoir.banking.forms_accounts import BankAccountForm, CsvMappingForm, StatementImportForm
from comptoir.banking.models import BankAccount, BankStatement, CsvMapping, LineState
from comptoir.banking.parsers.base import MAX_FILE_BYTES
from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.pagination import paginate

STAGE_TTL = 24 * 3600
_ROW_KEY = re.compile(r"^rows\.(\d+)$")


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def banking_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, and banking switched on for the company (404 otherwise, as in the API)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not modules.is_enabled(_actor(request).company_id, "banking"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _query(request: HttpRequest, *drop: str) -> str:
    query = request.GET.copy()
    for name in drop:
        query.pop(name, None)
    return query.urlencode()


# --- Bank accounts --------------------------------------------------------------------


@banking_page
@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    show_archived = request.GET.get("archived") == "all"
    rows = selectors.bank_accounts(actor, include_archived=show_archived)
    page = paginate(rows, _int(request.GET.get("page")) or 1)
    context = {
        "page": page, "query": _query(request, "page"), "show_archived": show_archived,
        "can_manage": actor.has_perm("banking.manage_bank"),
    }  # fmt: skip
    return render(request, "banking/accounts/list.html", context)


def _ledger_choices(actor: Any, bank_account: BankAccount | None = None) -> dict[str, Any]:
    used = BankAccount.objects.filter(company_id=actor.company_id)
    if bank_account is not None:
        used = used.exclude(pk=bank_account.pk)
    journals = Journal.objects.filter(company_id=actor.company_id, kind=JournalKind.BANK, is_active=True).exclude(
        pk__in=used.values("journal_id")
    )
    ledger = Account.objects.filter(company_id=actor.company_id, code__startswith="512", is_active=True).exclude(
        pk__in=used.values("account_id")
    )
    return {
        "journals": [(j.pk, f"{j.code} {j.name}") for j in journals.order_by("code")],
        "accounts": [(a.pk, f"{a.code} {a.name}") for a in ledger.order_by("code")],
        "sites": site_choices(actor.company_id, keep=[bank_account.site_id] if bank_account is not None else []),
    }


@banking_page
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "banking.manage_bank")
    form = BankAccountForm(request.POST or None, initial={"currency": "EUR"}, **_ledger_choices(actor))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                account = accounts.bank_account_create(actor=actor, **form.data_for_service(creating=True))
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Bank account “%(name)s” created (journal %(journal)s, account "
                                            "%(account)s).") % {"name": account.name, "journal": account.journal.code,
                                                                "account": account.account.code})  # fmt: skip
                return redirect("banking:account", account.pk)
        status = 422
    context = {"form": form, "bank_account": None, "title": _("New bank account")}
    return render(request, "banking/accounts/form.html", context, status=status)


@banking_page
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, bank_account_id: int) -> HttpResponse:
    actor = _actor(request)
    bank_account = selectors.bank_account(actor, bank_account_id)
    require(actor, "banking.manage_bank")
    locked = BankStatement.objects.filter(bank_account=bank_account).exists()
    initial = {name: getattr(bank_account, name) for name in accounts.ACCOUNT_FIELDS}
    form = BankAccountForm(request.POST or None, initial=initial, ledger_locked=locked,
                           **_ledger_choices(actor, bank_account))  # fmt: skip
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                accounts.bank_account_update(actor=actor, bank_account_id=bank_account.pk,
                                             **form.data_for_service(creating=False))  # fmt: skip
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Bank account saved."))
                return redirect("banking:account", bank_account.pk)
        status = 422
    context = {"form": form, "bank_account": bank_account, "title": _("Edit the bank account")}
    return render(request, "banking/accounts/form.html", context, status=status)


@banking_page
@require_POST
def account_archive(request: HttpRequest, bank_account_id: int) -> HttpResponse:
    actor = _actor(request)
    bank_account = selectors.bank_account(actor, bank_account_id)
    active = request.POST.get("active") == "1"
    accounts.bank_account_set_active(actor=actor, bank_account_id=bank_account.pk, active=active)
    messages.success(request, _("Bank account restored.") if active else _("Bank account archived."))
    return redirect("banking:account", bank_account.pk)


def _line_filters(request: HttpRequest) -> dict[str, Any]:
    state = request.GET.get("state", LineState.OPEN)
    return {
        "state": state if state in LineState.values else "",
        "q": request.GET.get("q", "").strip()[:200],
        "date_from": request.GET.get("date_from", "").strip()[:10],
        "date_to": request.GET.get("date_to", "").strip()[:10],
    }


@banking_page
@require_GET
def account_detail(request: HttpRequest, bank_account_id: int) -> HttpResponse:
    actor = _actor(request)
    bank_account = selectors.bank_account(actor, bank_account_id)
    filters = _line_filters(request)
    lines = selectors.lines(actor, bank_account_id=bank_account.pk, **filters)
    line_page = paginate(lines, _int(request.GET.get("page")) or 1)
    context = {
        "bank_account": bank_account, "filters": filters, "line_page": line_page, "page": line_page,
        "query": _query(request, "page"), "states": LineState.choices,
        "can_manage": actor.has_perm("banking.manage_bank"),
    }  # fmt: skip
    if _htmx(request):
        return render(request, "banking/accounts/detail.html#lines", context)
    statements = selectors.statements(actor, bank_account_id=bank_account.pk)
    context["statement_page"] = paginate(statements, _int(request.GET.get("spage")) or 1, 10)
    context["statement_query"] = _query(request, "spage")
    context["mappings"] = list(selectors.csv_mappings(actor, bank_account))
    return render(request, "banking/accounts/detail.html", context)


@banking_page
@require_GET
def statement_detail(request: HttpRequest, statement_id: int) -> HttpResponse:
    actor = _actor(request)
    statement = selectors.statement(actor, statement_id)
    page = paginate(selectors.lines(actor, statement_id=statement.pk).order_by("position", "id"),
                    _int(request.GET.get("page")) or 1)  # fmt: skip
    context = {"statement": statement, "page": page, "query": _query(request, "page")}
    return render(request, "banking/accounts/statement.html", context)


# --- CSV layouts ----------------------------------------------------------------------


@banking_page
@require_http_methods(["GET", "POST"])
def mapping_edit(request: HttpRequest, bank_account_id: int, mapping_id: int | None = None) -> HttpResponse:
    actor = _actor(request)
    bank_account = selectors.bank_account(actor, bank_account_id)
    require(actor, "banking.manage_bank")
    mapping = None
    initial: dict[str, Any] = {"delimiter": ";", "encoding": "cp1252", "decimal_separator": ",",
                               "date_format": "%d/%m/%Y", "skip_lines": 0, "debit_positive": True}  # fmt: skip
    if mapping_id is not None:
        mapping = CsvMapping.objects.filter(bank_account=bank_account, pk=mapping_id).first()
        if mapping is None:
            raise NotFound("csv_mapping_not_found", _("No such CSV layout."))
        initial = {name: getattr(mapping, name) for name in accounts.MAPPING_FIELDS}
    form = CsvMappingForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = {"name": form.cleaned_data["name"]} | (form.layout() or {})
            try:
                accounts.csv_mapping_save(actor=actor, bank_account_id=bank_account.pk,
                                          mapping_id=mapping.pk if mapping else None, **data)  # fmt: skip
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("CSV layout saved."))
                return redirect("banking:account", bank_account.pk)
        status = 422
    context = {"form": form, "bank_account": bank_account, "mapping": mapping, "title": _("CSV layout")}
    return render(request, "banking/accounts/mapping_form.html", context, status=status)


@banking_page
@require_POST
def mapping_delete(request: HttpRequest, bank_account_id: int, mapping_id: int) -> HttpResponse:
    actor = _actor(request)
    bank_account = selectors.bank_account(actor, bank_account_id)
    accounts.csv_mapping_delete(actor=actor, bank_account_id=bank_account.pk, mapping_id=mapping_id)
    messages.success(request, _("CSV layout deleted."))
    return redirect("banking:account", bank_account.pk)


# --- Import ---------------------------------------------------------------------------


def _stage_dir() -> Path:
    path = Path(settings.DATA_DIR) / "banking-uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stage_path(actor: Any, token: str) -> Path:
    return _stage_dir() / f"{actor.company_id}-{actor.user_id}-{token}"


def _stage(actor: Any, data: bytes) -> str:
    now = time.time()
    for old in _stage_dir().iterdir():
        try:
            if now - old.stat().st_mtime > STAGE_TTL:
                old.unlink()
        except OSError:
            continue
    token = secrets.token_hex(16)
    _stage_path(actor, token).write_bytes(data)
    return token


def _unstage(actor: Any, token: str) -> bytes | None:
    path = _stage_path(actor, token)
    return path.read_bytes() if token and path.exists() else None


def _split_errors(exc: ValidationFailed, form: StatementImportForm) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """File-level messages, and (line number, messages) per bad row; field errors go on the form."""
    problems: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    for key, messages_ in (exc.fields or {}).items():
        match = _ROW_KEY.match(key)
        key = {"mapping_id": "mapping", "bank_account_id": "bank_account"}.get(key, key)
        if match:
            rows.append((int(match.group(1)), messages_))
        elif key in form.fields and key != "file":
            for message in messages_:
                form.add_error(key, message)
        else:
            problems.extend(messages_)
    if not exc.fields:
        problems.append(exc.message)
    return problems, sorted(rows)


def _save_layout(actor: Any, bank_account_id: int, name: str, layout: dict[str, Any]) -> None:
    """Save the layout typed on the import page (replacing the account's layout of that name)."""
    existing = CsvMapping.objects.filter(bank_account_id=bank_account_id, name=name).values_list("pk", flat=True)
    accounts.csv_mapping_save(actor=actor, bank_account_id=bank_account_id, mapping_id=next(iter(existing), None),
                              name=name, **layout)  # fmt: skip


@banking_page
@require_http_methods(["GET", "POST"])
def statement_import(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "banking.manage_bank")
    bank_accounts = list(selectors.bank_accounts(actor))
    mappings = CsvMapping.objects.filter(bank_account__company_id=actor.company_id, bank_account__active=True)
    initial = {"bank_account": _int(request.GET.get("account")), "delimiter": ";", "encoding": "cp1252",
               "decimal_separator": ",", "date_format": "%d/%m/%Y", "skip_lines": 0,
               "debit_positive": True}  # fmt: skip
    form = StatementImportForm(
        request.POST or None, request.FILES or None, initial=initial,
        bank_accounts=[(a.pk, f"{a.name} {a.iban_display}".strip()) for a in bank_accounts],
        mappings=[(m.pk, f"{m.bank_account.name} — {m.name}")
                  for m in mappings.select_related("bank_account").order_by("bank_account__name", "name")],
    )  # fmt: skip
    context: dict[str, Any] = {"form": form, "problems": [], "row_errors": [], "preview": None, "result": None}
    if request.method != "POST":
        return render(request, "banking/accounts/import.html", context)
    status = 422
    if form.is_valid():
        upload = form.cleaned_data.get("file")
        token = form.cleaned_data.get("staged") or ""
        data: bytes | None = None
        filename = ""
        if upload is not None:
            if upload.size > MAX_FILE_BYTES:
                form.add_error("file", _("The file is larger than 10 MB."))
            else:
                data, filename = upload.read(), upload.name or ""
        elif token:
            data = _unstage(actor, token)
            filename = request.POST.get("staged_name", "")[:255]
        if data is None and not form.errors:
            form.add_error("file", _("Choose the statement file."))
        if data is not None and not form.errors:
            arguments = {
                "data": data, "bank_account_id": form.cleaned_data["bank_account"],
                "source_format": form.cleaned_data["source_format"], "mapping_id": form.cleaned_data["mapping"],
                "layout": form.layout() if not form.cleaned_data["mapping"] else None,
            }  # fmt: skip
            try:
                if request.POST.get("action") == "preview":
                    context["preview"] = imports.statement_preview(actor=actor, **arguments)
                    context["staged"] = token if upload is None else _stage(actor, data)
                    context["staged_name"] = filename
                    status = 200
                else:
                    context["result"] = result = imports.statement_import(actor=actor, filename=filename, **arguments)
                    if (form.cleaned_data["save_as"] and arguments["layout"] and arguments["bank_account_id"]
                            and result.source_format == "csv"):  # fmt: skip
                        _save_layout(actor, arguments["bank_account_id"], form.cleaned_data["save_as"],
                                     arguments["layout"])  # fmt: skip
                    if token:
                        _stage_path(actor, token).unlink(missing_ok=True)
                    status = 200
            except ValidationFailed as exc:
                context["problems"], context["row_errors"] = _split_errors(exc, form)
                if upload is not None and data is not None:
                    context["staged"], context["staged_name"] = _stage(actor, data), filename
                elif token:
                    context["staged"], context["staged_name"] = token, filename
    return render(request, "banking/accounts/import.html", context, status=status)

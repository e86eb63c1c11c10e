"""Banking API: bank accounts, CSV layouts, statement import, statements and lines.

Conventions: docs/api.md. Amounts travel as decimal strings, signed on lines (positive =
money received). ``POST /banking/statements/import`` takes a multipart upload and is all
or nothing: a refused file answers 422 with one message per problem (``fields.file``) or
per row (``fields["rows.N"]``) and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, File, Form, Path, Query, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from comptoir.banking import accounts, imports, selectors
from comptoir.banking.models import BankAccount, BankStatement, CsvMapping
from comptoir.banking.parsers.base import MAX_FILE_BYTES
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.errors import ValidationFailed

router = apikit.module_router("banking")

ObjectId = Path(..., ge=1, le=MAX_ID)
OptionalId = Field(None, ge=1, le=MAX_ID)
STATEMENT_SORT = {"date_to": "date_to", "date_from": "date_from", "imported_at": "imported_at"}
LINE_SORT = {"booking_date": "booking_date", "amount": "amount", "id": "id"}


# --- Schemas --------------------------------------------------------------------------


class BankAccountOut(Schema):
    id: int
    name: str
    iban: str = Field(description="Compact, upper case.")
    iban_display: str = Field(description="Grouped by 4 characters.")
    bic: str
    bank_name: str
    currency: str
    journal_id: int
    journal_code: str
    account_id: int
    account_code: str
    site_id: int | None = Field(description="Its payments and entries carry it, unless the invoice has a site.")
    active: bool
    open_lines: int = Field(description="Statement lines still to reconcile.")
    created_at: dt.datetime
    updated_at: dt.datetime


class BankAccountIn(InputSchema):
    name: str = Field(..., max_length=100)
    iban: str = Field("", max_length=50, description="Checked (check digits, length); stored compact.")
    bic: str = Field("", max_length=20)
    bank_name: str = Field("", max_length=100)
    currency: str = Field("EUR", min_length=3, max_length=3)
    journal_id: int | None = Field(None, ge=1, le=MAX_ID, description="A free bank journal; default: BQ or a new BQn.")
    account_id: int | None = Field(None, ge=1, le=MAX_ID, description="A free 512… account; default: 512 or a new one.")
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="An active site of the company (optional).")


class BankAccountUpdateIn(InputSchema):
    """Only the fields sent are changed; the journal and account only while no statement exists."""

    name: str = Field(None, max_length=100)  # type: ignore[assignment]
    iban: str = Field(None, max_length=50)  # type: ignore[assignment]
    bic: str = Field(None, max_length=20)  # type: ignore[assignment]
    bank_name: str = Field(None, max_length=100)  # type: ignore[assignment]
    currency: str = Field(None, min_length=3, max_length=3)  # type: ignore[assignment]
    journal_id: int = Field(None, ge=1, le=MAX_ID)  # type: ignore[assignment]
    account_id: int = Field(None, ge=1, le=MAX_ID)  # type: ignore[assignment]
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="Null: no site.")


class BankAccountFilters(ListParams):
    archived: Literal["active", "all"] = "active"


class CsvMappingOut(Schema):
    id: int
    bank_account_id: int
    name: str
    delimiter: str
    encoding: str
    decimal_separator: str
    date_format: str
    skip_lines: int
    date_column: str
    value_date_column: str
    amount_column: str
    debit_column: str
    credit_column: str
    label_column: str
    reference_column: str
    partner_column: str
    transaction_id_column: str
    debit_positive: bool


class CsvMappingIn(InputSchema):
    name: str = Field(..., max_length=100)
    delimiter: Literal[";", ",", "\t", "|"] = ";"
    encoding: Literal["utf-8", "utf-8-sig", "cp1252", "latin-1", "iso-8859-15"] = "cp1252"
    decimal_separator: Literal[",", "."] = ","
    date_format: str = Field("%d/%m/%Y", max_length=20, description="%d/%m/%Y, %Y-%m-%d, %d.%m.%Y…")
    skip_lines: int = Field(0, ge=0, le=50, description="Lines before the header row.")
    date_column: str = Field(..., max_length=100, description="Header text or 1-based position.")
    value_date_column: str = Field("", max_length=100)
    amount_column: str = Field("", max_length=100, description="A signed amount; or debit_column + credit_column.")
    debit_column: str = Field("", max_length=100)
    credit_column: str = Field("", max_length=100)
    label_column: str = Field(..., max_length=100)
    reference_column: str = Field("", max_length=100)
    partner_column: str = Field("", max_length=100)
    transaction_id_column: str = Field("", max_length=100)
    debit_positive: bool = Field(True, description="Debits written as positive numbers (subtracted).")


class StatementOut(Schema):
    id: int
    bank_account_id: int
    reference: str
    date_from: dt.date
    date_to: dt.date
    opening_balance: str | None
    closing_balance: str | None
    currency: str
    source_format: str
    file_name: str
    file_sha256: str
    imported_at: dt.datetime
    imported_by_id: int | None
    line_count: int
    skipped_count: int
    warnings: list[str]


class StatementFilters(ListParams):
    bank_account_id: int | None = OptionalId


class LineOut(Schema):
    id: int
    statement_id: int
    bank_account_id: int
    position: int
    booking_date: dt.date
    value_date: dt.date | None
    amount: str = Field(description="Signed: positive = money received.")
    currency: str
    label: str
    reference: str
    partner_name: str
    partner_iban: str
    bank_code: str
    transaction_id: str
    state: str
    reconciled_at: dt.datetime | None
    journal_entry_id: int | None


class LineFilters(ListParams):
    bank_account_id: int | None = OptionalId
    statement_id: int | None = OptionalId
    state: Literal["open", "reconciled", "ignored"] | None = None
    date_from: dt.date | None = Field(None, description="Booking date, inclusive.")
    date_to: dt.date | None = Field(None, description="Booking date, inclusive.")
    q: str | None = Field(None, max_length=200, description="In the label, reference or counterparty.")


class ImportOut(Schema):
    source_format: str
    imported: int = Field(description="Lines written.")
    skipped: int = Field(description="Lines already imported (same bank transaction id), skipped.")
    warnings: list[str]
    statements: list[StatementOut]


# --- Helpers --------------------------------------------------------------------------


def account_out(account: BankAccount) -> dict[str, Any]:
    return {
        **{name: getattr(account, name) for name in BankAccountOut.model_fields if hasattr(account, name)},
        "journal_code": account.journal.code,
        "account_code": account.account.code,
        "open_lines": getattr(account, "open_lines", 0) or 0,
    }


def statement_out(statement: BankStatement) -> dict[str, Any]:
    return {
        **{name: getattr(statement, name) for name in StatementOut.model_fields if hasattr(statement, name)},
        "opening_balance": None if statement.opening_balance is None else str(statement.opening_balance),
        "closing_balance": None if statement.closing_balance is None else str(statement.closing_balance),
    }


def mapping_out(mapping: CsvMapping) -> dict[str, Any]:
    return {name: getattr(mapping, name) for name in CsvMappingOut.model_fields}


def _account(request: HttpRequest, bank_account_id: int) -> dict[str, Any]:
    actor = apikit.actor(request)
    found = selectors.bank_accounts(actor, include_archived=True).filter(pk=bank_account_id).first()
    if found is None:
        selectors.bank_account(actor, bank_account_id)  # raises the 404
    assert found is not None
    return account_out(found)


# --- Bank accounts --------------------------------------------------------------------


@router.get("/bank-accounts", response=responses(page_of(BankAccountOut)), summary="List bank accounts")
def bank_account_list(request: HttpRequest, params: Query[BankAccountFilters]) -> dict[str, Any]:
    """Sort: `name`, `created_at`."""
    actor = apikit.actor(request)
    rows = selectors.bank_accounts(actor, include_archived=params.archived == "all")
    page = apikit.paginate(rows, params, sort={"name": "name", "created_at": "created_at"}, default_sort="name")
    page["items"] = [account_out(a) for a in page["items"]]
    return page


@router.post("/bank-accounts", response=responses(BankAccountOut, status=201), summary="Create a bank account")
def bank_account_create(request: HttpRequest, payload: BankAccountIn) -> Status:
    """Without `journal_id`/`account_id`, the BQ journal and 512 account are used when free,
    else a new journal BQ2… and account 5121… are created."""
    data = {k: v for k, v in payload.model_dump().items() if v is not None}
    account = accounts.bank_account_create(actor=apikit.actor(request), **data)
    return Status(201, _account(request, account.pk))


@router.get("/bank-accounts/{bank_account_id}", response=responses(BankAccountOut), summary="Get a bank account")
def bank_account_get(request: HttpRequest, bank_account_id: int = ObjectId) -> dict[str, Any]:
    return _account(request, bank_account_id)


@router.patch("/bank-accounts/{bank_account_id}", response=responses(BankAccountOut), summary="Change a bank account")
def bank_account_update(
    request: HttpRequest, payload: BankAccountUpdateIn, bank_account_id: int = ObjectId
) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=True)
    nulls = {k: [str(_("null is not allowed."))] for k, v in data.items() if v is None and k != "site_id"}
    if nulls:
        raise ValidationFailed(fields=nulls)
    accounts.bank_account_update(actor=apikit.actor(request), bank_account_id=bank_account_id, **data)
    return _account(request, bank_account_id)


@router.post("/bank-accounts/{bank_account_id}/archive", response=responses(BankAccountOut),
             summary="Archive a bank account")  # fmt: skip
def bank_account_archive(request: HttpRequest, bank_account_id: int = ObjectId) -> dict[str, Any]:
    accounts.bank_account_set_active(actor=apikit.actor(request), bank_account_id=bank_account_id, active=False)
    return _account(request, bank_account_id)


@router.post("/bank-accounts/{bank_account_id}/restore", response=responses(BankAccountOut),
             summary="Restore an archived bank account")  # fmt: skip
def bank_account_restore(request: HttpRequest, bank_account_id: int = ObjectId) -> dict[str, Any]:
    accounts.bank_account_set_active(actor=apikit.actor(request), bank_account_id=bank_account_id, active=True)
    return _account(request, bank_account_id)


# --- CSV layouts ----------------------------------------------------------------------


@router.get("/bank-accounts/{bank_account_id}/csv-mappings", response=responses(list[CsvMappingOut]),
            summary="List the saved CSV layouts of a bank account")  # fmt: skip
def csv_mapping_list(request: HttpRequest, bank_account_id: int = ObjectId) -> list[dict[str, Any]]:
    actor = apikit.actor(request)
    account = selectors.bank_account(actor, bank_account_id)
    return [mapping_out(m) for m in selectors.csv_mappings(actor, account)]


@router.post("/bank-accounts/{bank_account_id}/csv-mappings", response=responses(CsvMappingOut, status=201),
             summary="Save a CSV layout")  # fmt: skip
def csv_mapping_create(request: HttpRequest, payload: CsvMappingIn, bank_account_id: int = ObjectId) -> Status:
    actor = apikit.actor(request)
    selectors.bank_account(actor, bank_account_id)
    mapping = accounts.csv_mapping_save(actor=actor, bank_account_id=bank_account_id, **payload.model_dump())
    return Status(201, mapping_out(mapping))


@router.delete("/bank-accounts/{bank_account_id}/csv-mappings/{mapping_id}", response=responses(None, status=204),
               summary="Delete a CSV layout")  # fmt: skip
def csv_mapping_delete(request: HttpRequest, bank_account_id: int = ObjectId, mapping_id: int = ObjectId) -> Status:
    actor = apikit.actor(request)
    selectors.bank_account(actor, bank_account_id)
    accounts.csv_mapping_delete(actor=actor, bank_account_id=bank_account_id, mapping_id=mapping_id)
    return Status(204, None)


# --- Statements -----------------------------------------------------------------------


@router.post("/statements/import", response=responses(ImportOut, status=201),
             summary="Import a bank statement file (CAMT.053, OFX, CSV)")  # fmt: skip
def statement_import(
    request: HttpRequest,
    file: File[UploadedFile],
    bank_account_id: Form[int | None] = None,
    source_format: Form[Literal["", "camt053", "ofx", "csv"]] = "",
    mapping_id: Form[int | None] = None,
    layout: Form[str] = "",
) -> Status:
    """Multipart: `file`, and optionally `bank_account_id` (default: found by the file's
    IBAN), `source_format` (default: detected from the content), and for CSV either
    `mapping_id` (a saved layout) or `layout` (a JSON object shaped like a CSV layout)."""
    actor = apikit.actor(request)
    if file.size is not None and file.size > MAX_FILE_BYTES:
        raise ValidationFailed("too_large", fields={"file": [str(_("The file is larger than 10 MB."))]})
    layout_data = None
    if layout:
        try:
            layout_data = json.loads(layout)
        except ValueError:
            layout_data = None
        if not isinstance(layout_data, dict):
            raise ValidationFailed(fields={"layout": [str(_("Send a JSON object."))]})
    result = imports.statement_import(
        actor=actor, data=file.read(), filename=file.name or "", bank_account_id=bank_account_id,
        source_format=source_format, mapping_id=mapping_id, layout=layout_data,
    )  # fmt: skip
    return Status(201, {
        "source_format": result.source_format, "imported": result.imported, "skipped": result.skipped,
        "warnings": result.warnings, "statements": [statement_out(s) for s in result.statements],
    })  # fmt: skip


@router.get("/statements", response=responses(page_of(StatementOut)), summary="List statements")
def statement_list(request: HttpRequest, params: Query[StatementFilters]) -> dict[str, Any]:
    """Sort: `date_to` (default `-date_to`), `date_from`, `imported_at`."""
    rows = selectors.statements(apikit.actor(request), bank_account_id=params.bank_account_id)
    page = apikit.paginate(rows, params, sort=STATEMENT_SORT, default_sort="-date_to")
    page["items"] = [statement_out(s) for s in page["items"]]
    return page


@router.get("/statements/{statement_id}", response=responses(StatementOut), summary="Get a statement")
def statement_get(request: HttpRequest, statement_id: int = ObjectId) -> dict[str, Any]:
    return statement_out(selectors.statement(apikit.actor(request), statement_id))


def _line_row(row: dict[str, Any]) -> dict[str, Any]:
    return row | {"amount": str(row["amount"])}


@router.get("/statement-lines", response=responses(page_of(LineOut)), summary="List statement lines")
def line_list(request: HttpRequest, params: Query[LineFilters]) -> HttpResponse:
    """Filters: `bank_account_id`, `statement_id`, `state`, `date_from`, `date_to`, `q`.
    Sort: `booking_date` (default `-booking_date`), `amount`, `id`."""
    rows = selectors.lines(
        apikit.actor(request), bank_account_id=params.bank_account_id, statement_id=params.statement_id,
        state=params.state or "", date_from=params.date_from, date_to=params.date_to, q=params.q or "",
    ).values(*LineOut.model_fields)  # fmt: skip
    return apikit.paginate_rows(request, rows, params, item=LineOut, convert=_line_row, sort=LINE_SORT,
                                default_sort="-booking_date")  # fmt: skip

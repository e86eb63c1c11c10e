"""Accounting API (/api/v1/accounting/...): see docs/api.md for conventions.

Amounts travel as decimal strings (``"1250.50"``), never JSON numbers. Entries are created
and changed as drafts, then posted (``/post``) or, once posted, reversed (``/reverse``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.accounting import chain, selectors, services
from comptoir.accounting.models import JournalEntry
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.context import Actor

router = apikit.module_router("accounting")

ObjectId = Path(..., ge=1, le=MAX_ID)
OptionalId = Field(None, ge=1, le=MAX_ID)
AMOUNT_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
AMOUNT_HELP = 'Decimal string with at most 2 decimals, e.g. `"1250.50"`; empty or "0" for none.'
AccountType = Literal["receivable", "payable", "bank", "cash", "income", "expense", "tax", "equity", "other"]
JournalKind = Literal["sale", "purchase", "bank", "cash", "general", "opening"]


# --- Schemas --------------------------------------------------------------------------


class AccountOut(Schema):
    id: int
    code: str
    name: str
    type: str
    reconcilable: bool
    is_active: bool


class AccountCreateIn(InputSchema):
    code: str = Field(..., max_length=20, description="PCG number: 3 to 20 digits, the first one is the class.")
    name: str = Field(..., max_length=200)
    type: AccountType = "other"
    reconcilable: bool = False


class AccountUpdateIn(InputSchema):
    code: str = Field(None, max_length=20)  # type: ignore[assignment]
    name: str = Field(None, max_length=200)  # type: ignore[assignment]
    type: AccountType = None  # type: ignore[assignment]
    reconcilable: bool = None  # type: ignore[assignment]
    is_active: bool = None  # type: ignore[assignment]


class PartnerAccountOut(Schema):
    id: int
    code: str
    label: str
    kind: str
    organization_id: int
    account_id: int


class PartnerAccountIn(InputSchema):
    organization_id: int = Field(..., ge=1, le=MAX_ID)
    kind: Literal["customer", "supplier"]


class JournalOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    default_account_id: int | None
    is_active: bool


class JournalCreateIn(InputSchema):
    code: str = Field(..., max_length=10)
    name: str = Field(..., max_length=100)
    kind: JournalKind
    default_account_id: int | None = OptionalId


class JournalUpdateIn(InputSchema):
    code: str = Field(None, max_length=10)  # type: ignore[assignment]
    name: str = Field(None, max_length=100)  # type: ignore[assignment]
    kind: JournalKind = None  # type: ignore[assignment]
    default_account_id: int | None = OptionalId
    is_active: bool = None  # type: ignore[assignment]


class FiscalYearOut(Schema):
    id: int
    name: str
    start_date: dt.date
    end_date: dt.date
    state: str
    closed_at: dt.datetime | None


class FiscalYearIn(InputSchema):
    start_date: dt.date
    end_date: dt.date
    name: str = Field("", max_length=40)


class SettingsOut(Schema):
    lock_date: dt.date | None


class LockDateIn(InputSchema):
    lock_date: dt.date


class LineIn(InputSchema):
    account_id: int = Field(..., ge=1, le=MAX_ID)
    partner_account_id: int | None = OptionalId
    label: str = Field("", max_length=200)
    debit: str = Field("", pattern=r"^$|" + AMOUNT_PATTERN, description=AMOUNT_HELP)
    credit: str = Field("", pattern=r"^$|" + AMOUNT_PATTERN, description=AMOUNT_HELP)
    due_date: dt.date | None = None
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="The line's own site; the entry's when null.")


class LineOut(Schema):
    id: int
    sequence: int
    account_id: int
    account_code: str
    partner_account_id: int | None
    partner_code: str | None
    label: str
    debit: str
    credit: str
    due_date: dt.date | None
    site_id: int | None
    matching_code: str


class EntryCreateIn(InputSchema):
    journal_id: int = Field(..., ge=1, le=MAX_ID)
    date: dt.date
    label: str = Field(..., max_length=200)
    ref: str = Field("", max_length=100)
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="An active site of the company; null: the "
                                "company as a whole. Lines without a site of their own take it.")  # fmt: skip
    lines: list[LineIn] = Field(..., max_length=500)


class EntryUpdateIn(InputSchema):
    """Only the fields sent are changed; ``lines``, when sent, replaces all the lines."""

    journal_id: int = Field(None, ge=1, le=MAX_ID)  # type: ignore[assignment]
    date: dt.date = None  # type: ignore[assignment]
    label: str = Field(None, max_length=200)  # type: ignore[assignment]
    ref: str = Field(None, max_length=100)  # type: ignore[assignment]
    site_id: int | None = Field(None, ge=1, le=MAX_ID)
    lines: list[LineIn] = Field(None, max_length=500)  # type: ignore[assignment,arg-type]


class ReverseIn(InputSchema):
    date: dt.date
    label: str = Field("", max_length=200)


class EntrySummaryOut(Schema):
    id: int
    journal_id: int
    journal_code: str
    date: dt.date
    ref: str
    label: str
    state: str
    number: str
    chain_number: int | None
    total: str


class EntryOut(EntrySummaryOut):
    fiscal_year_id: int | None
    previous_hash: str
    hash: str
    posted_at: dt.datetime | None
    posted_by_id: int | None
    reversal_of_id: int | None
    reversed_by_id: int | None
    source_type: str
    source_id: str
    site_id: int | None
    lines: list[LineOut]
    actions: list[str] = Field(description="Actions the caller may take now: update, delete, post, reverse.")


class EntryFilters(ListParams):
    journal_id: int | None = OptionalId
    state: Literal["draft", "posted"] | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    account_id: int | None = OptionalId
    partner_account_id: int | None = OptionalId
    q: str | None = Field(None, max_length=100, description="Search label, reference and number.")


class BalanceRowOut(Schema):
    account_id: int
    code: str
    name: str
    partner_account_id: int | None
    partner_code: str
    debit: str
    credit: str
    balance: str = Field(description="Debit minus credit.")


class ReportSiteOut(Schema):
    id: int
    name: str


class TrialBalanceOut(Schema):
    date_from: dt.date | None
    date_to: dt.date | None
    rows: list[BalanceRowOut]
    total_debit: str
    total_credit: str
    site: ReportSiteOut | None = None


class LedgerLineOut(Schema):
    id: int
    entry_id: int
    number: str
    journal_code: str
    date: dt.date
    label: str
    partner_code: str | None
    debit: str
    credit: str
    balance: str


SITE_HELP = "Id of one of the company's sites (active or closed): that site's lines only (default: the whole company)."


class LedgerParams(ListParams):
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    partner_account_id: int | None = OptionalId
    site: int | None = Field(None, ge=1, le=MAX_ID, description=SITE_HELP)


class AnomalyOut(Schema):
    kind: str
    message: str
    chain_number: int | None
    entry_id: int | None
    number: str


class VerifyOut(Schema):
    ok: bool
    entries: int
    last_chain_number: int
    last_hash: str
    anomalies: list[AnomalyOut]
    more: int


# --- Helpers --------------------------------------------------------------------------


def _entry_actions(actor: Actor, entry: JournalEntry, reversed_by: int | None) -> list[str]:
    if not actor.has_perm("accounting.post_entries"):
        return []
    if entry.state == "draft":
        return ["update", "delete", "post"]
    return [] if reversed_by else ["reverse"]


def entry_out(actor: Actor, entry: JournalEntry) -> dict[str, Any]:
    reversals = list(entry.reversals.all())
    reversed_by = reversals[0].pk if reversals else None
    return {
        **{name: getattr(entry, name) for name in EntryOut.model_fields if hasattr(entry, name)},
        "journal_code": entry.journal.code,
        "total": str(entry.total),
        "reversed_by_id": reversed_by,
        "lines": [
            {
                "id": line.pk,
                "sequence": line.sequence,
                "account_id": line.account_id,
                "account_code": line.account.code,
                "partner_account_id": line.partner_account_id,
                "partner_code": line.partner_account.code if line.partner_account else None,
                "label": line.label,
                "debit": str(line.debit),
                "credit": str(line.credit),
                "due_date": line.due_date,
                "site_id": line.site_id,
                "matching_code": line.matching_code,
            }
            for line in entry.lines.all()
        ],
        "actions": _entry_actions(actor, entry, reversed_by),
    }


def _entry(actor: Actor, entry_id: int) -> dict[str, Any]:
    return entry_out(actor, selectors.entry_get(actor, entry_id))


def _lines(lines: list[LineIn] | None) -> list[dict[str, Any]] | None:
    return None if lines is None else [line.model_dump() for line in lines]


# --- Chart of accounts ----------------------------------------------------------------


class AccountFilters(ListParams):
    q: str | None = Field(None, max_length=100, description="Number prefix or part of the name.")
    is_active: bool | None = None


@router.get("/accounts", response=responses(page_of(AccountOut)), summary="List the chart of accounts")
def account_list(request: HttpRequest, params: Query[AccountFilters]) -> dict[str, Any]:
    """Sort: `code`, `name`, `type`."""
    rows = selectors.accounts(apikit.actor(request), q=params.q or "", active=params.is_active)
    return apikit.paginate(rows, params, sort=selectors.ACCOUNT_SORT, default_sort="code")


@router.post("/accounts", response=responses(AccountOut, status=201), summary="Create an account")
def account_create(request: HttpRequest, payload: AccountCreateIn) -> Status:
    actor = apikit.actor(request)
    account = services.account_create(actor=actor, **payload.model_dump())
    return Status(201, selectors.account_get(actor, account.pk))


@router.get("/accounts/{account_id}", response=responses(AccountOut), summary="Get an account")
def account_get(request: HttpRequest, account_id: int = ObjectId) -> Any:
    return selectors.account_get(apikit.actor(request), account_id)


@router.patch("/accounts/{account_id}", response=responses(AccountOut), summary="Change or deactivate an account")
def account_update(request: HttpRequest, payload: AccountUpdateIn, account_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    data = payload.model_dump(exclude_unset=True)
    active = data.pop("is_active", None)
    selectors.account_get(actor, account_id)
    if data:
        services.account_update(actor=actor, account_id=account_id, **data)
    if active is not None:
        services.account_set_active(actor=actor, account_id=account_id, active=active)
    return selectors.account_get(actor, account_id)


@router.get("/partner-accounts", response=responses(page_of(PartnerAccountOut)), summary="List partner accounts")
def partner_account_list(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    """Customer (C…) and supplier (F…) auxiliary accounts. Sort: `code`, `label`."""
    rows = selectors.partner_accounts(apikit.actor(request))
    return apikit.paginate(rows, params, sort={"code": "code", "label": "label"}, default_sort="code")


@router.post("/partner-accounts", response=responses(PartnerAccountOut), summary="Get or create a partner account")
def partner_account_ensure(request: HttpRequest, payload: PartnerAccountIn) -> Any:
    """The organization's customer or supplier account, created on first use."""
    actor = apikit.actor(request)
    return services.partner_account_ensure(actor=actor, **payload.model_dump())


# --- Journals and fiscal years --------------------------------------------------------


@router.get("/journals", response=responses(list[JournalOut]), summary="List journals")
def journal_list(request: HttpRequest) -> Any:
    return list(selectors.journals(apikit.actor(request)))


@router.post("/journals", response=responses(JournalOut, status=201), summary="Create a journal")
def journal_create(request: HttpRequest, payload: JournalCreateIn) -> Status:
    actor = apikit.actor(request)
    journal = services.journal_create(actor=actor, **payload.model_dump())
    return Status(201, selectors.journal_get(actor, journal.pk))


@router.patch("/journals/{journal_id}", response=responses(JournalOut), summary="Change or deactivate a journal")
def journal_update(request: HttpRequest, payload: JournalUpdateIn, journal_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    data = payload.model_dump(exclude_unset=True)
    active = data.pop("is_active", None)
    selectors.journal_get(actor, journal_id)
    if data:
        services.journal_update(actor=actor, journal_id=journal_id, **data)
    if active is not None:
        services.journal_set_active(actor=actor, journal_id=journal_id, active=active)
    return selectors.journal_get(actor, journal_id)


@router.get("/fiscal-years", response=responses(list[FiscalYearOut]), summary="List fiscal years")
def fiscal_year_list(request: HttpRequest) -> Any:
    return list(selectors.fiscal_years(apikit.actor(request)))


@router.post("/fiscal-years", response=responses(FiscalYearOut, status=201), summary="Create a fiscal year")
def fiscal_year_create(request: HttpRequest, payload: FiscalYearIn) -> Status:
    actor = apikit.actor(request)
    return Status(201, services.fiscal_year_create(actor=actor, **payload.model_dump()))


@router.post("/fiscal-years/{fiscal_year_id}/close", response=responses(FiscalYearOut), summary="Close a fiscal year")
def fiscal_year_close(request: HttpRequest, fiscal_year_id: int = ObjectId) -> Any:
    """Year-end closing, final: the checks must pass (see `GET .../closing`); the balances are
    carried forward by an opening entry in the next year; the lock date moves to the year's end."""
    from comptoir.accounting.closing import year_end_close

    return year_end_close(actor=apikit.actor(request), fiscal_year_id=fiscal_year_id)


@router.get("/settings", response=responses(SettingsOut), summary="Get the lock date")
def settings_get(request: HttpRequest) -> Any:
    return selectors.accounting_settings(apikit.actor(request))


@router.put("/settings/lock-date", response=responses(SettingsOut), summary="Set the lock date")
def lock_date_set(request: HttpRequest, payload: LockDateIn) -> Any:
    """No entry dated on or before the lock date may be written or posted. It only moves forward."""
    return services.lock_date_set(actor=apikit.actor(request), lock_date=payload.lock_date)


# --- Entries --------------------------------------------------------------------------

ENTRY_LIST_FIELDS = ("id", "journal_id", "journal__code", "date", "ref", "label", "state", "number",
                     "chain_number", "total")  # fmt: skip


def _entry_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "journal_code": row["journal__code"], "total": str(row["total"])}


@router.get("/entries", response=responses(page_of(EntrySummaryOut)), summary="List journal entries")
def entry_list(request: HttpRequest, params: Query[EntryFilters]) -> Any:
    """Sort: `date`, `number`, `chain_number`, `journal`, `label`, `total`, `created_at`."""
    actor = apikit.actor(request)
    filters = selectors.EntryFilters(
        journal_id=params.journal_id, state=params.state or "", date_from=params.date_from, date_to=params.date_to,
        account_id=params.account_id, partner_account_id=params.partner_account_id, q=params.q or "",
    )  # fmt: skip
    rows = selectors.entry_list(actor, filters).values(*ENTRY_LIST_FIELDS)
    return apikit.paginate_rows(request, rows, params, item=EntrySummaryOut, convert=_entry_row,
                                sort=selectors.ENTRY_SORT, default_sort=selectors.ENTRY_DEFAULT_SORT)  # fmt: skip


@router.post("/entries", response=responses(EntryOut, status=201), summary="Create a draft entry")
def entry_create(request: HttpRequest, payload: EntryCreateIn) -> Status:
    actor = apikit.actor(request)
    data = payload.model_dump()
    data["lines"] = _lines(payload.lines)
    entry = services.entry_create(actor=actor, **data)
    return Status(201, _entry(actor, entry.pk))


@router.get("/entries/{entry_id}", response=responses(EntryOut), summary="Get an entry with its lines")
def entry_get(request: HttpRequest, entry_id: int = ObjectId) -> Any:
    return _entry(apikit.actor(request), entry_id)


@router.patch("/entries/{entry_id}", response=responses(EntryOut), summary="Change a draft entry")
def entry_update(request: HttpRequest, payload: EntryUpdateIn, entry_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    data = payload.model_dump(exclude_unset=True)
    if "lines" in data:
        data["lines"] = _lines(payload.lines)
    services.entry_update(actor=actor, entry_id=entry_id, **data)
    return _entry(actor, entry_id)


@router.delete("/entries/{entry_id}", response=responses(None, status=204), summary="Delete a draft entry")
def entry_delete(request: HttpRequest, entry_id: int = ObjectId) -> Status:
    services.entry_delete(actor=apikit.actor(request), entry_id=entry_id)
    return Status(204, None)


@router.post("/entries/{entry_id}/post", response=responses(EntryOut), summary="Post a draft entry")
def entry_post(request: HttpRequest, entry_id: int = ObjectId) -> Any:
    """Final: assigns the journal number and the posting number and chains the entry's hash."""
    actor = apikit.actor(request)
    services.entry_post(actor=actor, entry_id=entry_id)
    return _entry(actor, entry_id)


@router.post("/entries/{entry_id}/reverse", response=responses(EntryOut, status=201), summary="Reverse an entry")
def entry_reverse(request: HttpRequest, payload: ReverseIn, entry_id: int = ObjectId) -> Status:
    """Creates and posts the reversal (debits and credits swapped) and returns it."""
    actor = apikit.actor(request)
    reversal = services.entry_reverse(actor=actor, entry_id=entry_id, date=payload.date, label=payload.label)
    return Status(201, _entry(actor, reversal.pk))


# --- Reports --------------------------------------------------------------------------


class TrialBalanceParams(InputSchema):
    model_config = {"extra": "ignore"}

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    by_partner: bool = False
    site: int | None = Field(None, ge=1, le=MAX_ID, description=SITE_HELP)


@router.get("/trial-balance", response=responses(TrialBalanceOut), summary="Trial balance")
def trial_balance(request: HttpRequest, params: Query[TrialBalanceParams]) -> Any:
    """Debit, credit and balance per account of the posted lines dated in the range (of one
    site with `site`; another company's site is a 422 on `site`)."""
    balance = selectors.trial_balance(apikit.actor(request), date_from=params.date_from, date_to=params.date_to,
                                      by_partner=params.by_partner, site_id=params.site)  # fmt: skip
    site = balance.site
    return {
        "date_from": balance.date_from, "date_to": balance.date_to,
        "rows": [
            {"account_id": r.account_id, "code": r.code, "name": r.name, "partner_account_id": r.partner_account_id,
             "partner_code": r.partner_code, "debit": str(r.debit), "credit": str(r.credit),
             "balance": str(r.balance)}
            for r in balance.rows
        ],
        "total_debit": str(balance.total_debit), "total_credit": str(balance.total_credit),
        "site": {"id": site.pk, "name": site.name} if site else None,
    }  # fmt: skip


@router.get("/accounts/{account_id}/ledger", response=responses(page_of(LedgerLineOut)), summary="General ledger")
def general_ledger(request: HttpRequest, params: Query[LedgerParams], account_id: int = ObjectId) -> Any:
    """The account's posted lines in date order with the running balance (from the opening
    balance); of one site with `site` (another company's site is a 422 on `site`)."""
    actor = apikit.actor(request)
    _account, opening, rows = selectors.general_ledger(
        actor, account_id=account_id, date_from=params.date_from, date_to=params.date_to,
        partner_account_id=params.partner_account_id, site_id=params.site,
    )  # fmt: skip

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"], "entry_id": row["entry_id"], "number": row["entry__number"],
            "journal_code": row["journal__code"], "date": row["date"], "label": row["label"] or row["entry__label"],
            "partner_code": row["partner_account__code"], "debit": str(row["debit"]), "credit": str(row["credit"]),
            "balance": str(selectors.running_balance(row, opening)),
        }  # fmt: skip

    return apikit.paginate_rows(request, rows, params, item=LedgerLineOut, convert=convert)


@router.get("/verify", response=responses(VerifyOut), summary="Verify the hash chain")
def verify(request: HttpRequest) -> Any:
    """Recomputes every posted entry's hash in posting order; lists every anomaly found."""
    actor = apikit.actor(request)
    selectors.require_view(actor)
    report = chain.verify_chain(actor.company_id or 0)
    return {
        "ok": report.ok, "entries": report.entries, "last_chain_number": report.last_chain_number,
        "last_hash": report.last_hash, "more": report.more,
        "anomalies": [a.__dict__ for a in report.anomalies],
    }  # fmt: skip


# Invoices, credit notes, vendor bills and payment terms (api_invoices), under /accounting too.
from comptoir.accounting.api_invoices import router as invoices_router  # noqa: E402

router.add_router("", invoices_router)


# Payments and matching (api_payments): same prefix, their own module-gated router.
from comptoir.accounting.api_payments import router as payments_router  # noqa: E402

router.add_router("", payments_router)

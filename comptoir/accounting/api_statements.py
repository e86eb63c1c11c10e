"""Accounting API: financial statements (conventions: docs/api.md).

Balance sheet, income statement, aged receivables and payables, partner statement and VAT
return, the same figures as the pages (``statements``, ``aged``, ``partner_statements``,
``vat_return``). Reading needs ``accounting.view_ledger``. Amounts are decimal strings.

Each takes ``site`` (the id of one of the company's sites, active or closed): the figures of
that site's lines only, and ``site`` in the answer; another company's site or a bad id is a
422 on ``site``. Without it, the whole company (``site`` null).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema

from comptoir.accounting import aged, partner_statements, statements, vat_return
from comptoir.accounting.models import PartnerKind
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses
from comptoir.org.models import Site

router = apikit.module_router("accounting")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


SITE_DESCRIPTION = "Id of one of the company's sites: that site's lines only (default: the whole company)."


class SiteOut(Schema):
    id: int
    name: str


def _site_out(site: Site | None) -> dict[str, Any] | None:
    return None if site is None else {"id": site.pk, "name": site.name}


class PeriodParams(InputSchema):
    model_config = {"extra": "ignore"}

    fiscal_year: int | None = Field(None, ge=1, le=MAX_ID, description="Id of a fiscal year (see /fiscal-years).")
    date_from: dt.date | None = Field(None, description="Or the first day of the period.")
    date_to: dt.date | None = Field(None, description="…and its last day (the balance sheet's date).")
    compare: bool = Field(True, description="Add the previous period (N-1).")
    site: int | None = Field(None, ge=1, le=MAX_ID, description=SITE_DESCRIPTION)


class PeriodOut(Schema):
    date_from: dt.date
    date_to: dt.date
    fiscal_year_id: int | None


class StatementAccountOut(Schema):
    account_id: int
    code: str
    name: str
    current: str
    previous: str


class StatementLineOut(Schema):
    key: str
    label: str
    current: str
    previous: str
    accounts: list[StatementAccountOut]


class StatementSectionOut(Schema):
    key: str
    label: str
    current: str
    previous: str
    lines: list[StatementLineOut]


class StatementTotalOut(Schema):
    key: str
    label: str
    current: str
    previous: str | None


class StatementOut(Schema):
    period: PeriodOut
    previous_period: PeriodOut | None
    sections: list[StatementSectionOut]
    totals: list[StatementTotalOut]
    balanced: bool | None = None
    site: SiteOut | None = None


def _period_out(period: statements.Period | None) -> dict[str, Any] | None:
    if period is None:
        return None
    return {"date_from": period.date_from, "date_to": period.date_to, "fiscal_year_id": period.fiscal_year_id}


def _statement_out(statement: statements.BalanceSheet | statements.IncomeStatement) -> dict[str, Any]:
    sections = [
        {"key": s.key, "label": str(s.label), "current": str(s.current), "previous": str(s.previous),
         "lines": [{"key": line.key, "label": str(line.label), "current": str(line.current),
                    "previous": str(line.previous),
                    "accounts": [{"account_id": a.account_id, "code": a.code, "name": a.name,
                                  "current": str(a.current), "previous": str(a.previous)} for a in line.accounts]}
                   for line in s.lines]}
        for s in statement.sections
    ]  # fmt: skip
    has_previous = statement.previous_period is not None
    if isinstance(statement, statements.BalanceSheet):
        totals = [
            {"key": "total_assets", "label": "Total assets", "current": str(statement.total_assets),
             "previous": _money(statement.previous_total_assets) if has_previous else None},
            {"key": "total_liabilities", "label": "Total equity and liabilities",
             "current": str(statement.total_liabilities),
             "previous": _money(statement.previous_total_liabilities) if has_previous else None},
            {"key": "result", "label": "Result for the year", "current": str(statement.result), "previous": None},
        ]  # fmt: skip
        balanced: bool | None = statement.balanced
    else:
        totals = [{"key": t.key, "label": str(t.label), "current": str(t.current),
                   "previous": str(t.previous) if has_previous else None} for t in statement.totals()]  # fmt: skip
        balanced = None
    return {"period": _period_out(statement.period), "previous_period": _period_out(statement.previous_period),
            "sections": sections, "totals": totals, "balanced": balanced,
            "site": _site_out(statement.site)}  # fmt: skip


def _period(request: HttpRequest, params: PeriodParams) -> statements.Period:
    return statements.resolve_period(apikit.actor(request), fiscal_year_id=params.fiscal_year,
                                     date_from=params.date_from, date_to=params.date_to)  # fmt: skip


@router.get("/statements/balance-sheet", response=responses(StatementOut), summary="Balance sheet")
def balance_sheet(request: HttpRequest, params: Query[PeriodParams]) -> Any:
    """The balance sheet (PCG, abridged) at `date_to`, with the year's result from `date_from`;
    each line lists the accounts it sums (drill-down to `/accounts/{id}/ledger`)."""
    actor = apikit.actor(request)
    period = _period(request, params)
    return _statement_out(statements.balance_sheet(actor, period, compare=params.compare, site_id=params.site))


@router.get("/statements/income-statement", response=responses(StatementOut), summary="Income statement")
def income_statement(request: HttpRequest, params: Query[PeriodParams]) -> Any:
    """Operating, financial and exceptional income and expenses, income tax and the result."""
    actor = apikit.actor(request)
    period = _period(request, params)
    return _statement_out(statements.income_statement(actor, period, compare=params.compare, site_id=params.site))


class AgedParams(InputSchema):
    model_config = {"extra": "ignore"}

    as_of: dt.date | None = Field(None, description="The date the items are aged on (default: today).")
    site: int | None = Field(None, ge=1, le=MAX_ID, description=SITE_DESCRIPTION)


class AgedRowOut(Schema):
    partner_account_id: int | None
    organization_id: int | None
    code: str
    label: str
    not_due: str
    days_1_30: str
    days_31_60: str
    days_61_90: str
    days_over_90: str
    total: str


class AgedOut(Schema):
    as_of: dt.date
    rows: list[AgedRowOut]
    totals: AgedRowOut
    site: SiteOut | None = None


def _aged(request: HttpRequest, params: AgedParams, kind: str) -> dict[str, Any]:
    as_of = params.as_of or dt.date.today()
    report = aged.aged_balance(apikit.actor(request), kind=kind, as_of=as_of, site_id=params.site)
    rows = aged.report_rows(report)
    converted = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()} for row in rows]
    return {"as_of": as_of, "rows": converted[:-1], "totals": converted[-1], "site": _site_out(report.site)}


@router.get("/statements/aged-receivables", response=responses(AgedOut), summary="Aged receivables")
def aged_receivables(request: HttpRequest, params: Query[AgedParams]) -> Any:
    """What each customer owes on `as_of`, by due-date bucket (not due, 1–30, 31–60, 61–90, >90 days)."""
    return _aged(request, params, PartnerKind.CUSTOMER)


@router.get("/statements/aged-payables", response=responses(AgedOut), summary="Aged payables")
def aged_payables(request: HttpRequest, params: Query[AgedParams]) -> Any:
    """What the company owes each supplier on `as_of`, by due-date bucket."""
    return _aged(request, params, PartnerKind.SUPPLIER)


class PartnerStatementParams(InputSchema):
    model_config = {"extra": "ignore"}

    date_from: dt.date | None = Field(None, description="Default: start of the fiscal year of `date_to`.")
    date_to: dt.date | None = Field(None, description="Default: today.")
    site: int | None = Field(None, ge=1, le=MAX_ID, description=SITE_DESCRIPTION)


class MovementOut(Schema):
    id: int
    entry_id: int
    date: dt.date
    journal: str
    number: str
    label: str
    due_date: dt.date | None
    matching_code: str
    debit: str
    credit: str
    balance: str | None = None
    amount: str | None = None
    overdue_days: int | None = None


class PartnerStatementOut(Schema):
    partner_account_id: int
    code: str
    name: str
    kind: str
    date_from: dt.date
    date_to: dt.date
    opening: str
    closing: str
    total_debit: str
    total_credit: str
    truncated: bool
    movements: list[MovementOut]
    open_items: list[MovementOut]
    open_total: str
    site: SiteOut | None = None


def _movement(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "entry_id": row["entry_id"], "date": row["date"], "journal": row["journal__code"],
        "number": row["entry__number"], "label": row["label"], "due_date": row["due_date"],
        "matching_code": row["matching_code"], "debit": str(row["debit"]), "credit": str(row["credit"]),
        "balance": _money(row.get("balance")), "amount": _money(row.get("amount")),
        "overdue_days": row.get("overdue_days"),
    }  # fmt: skip


@router.get("/statements/partners/{partner_account_id}", response=responses(PartnerStatementOut),
            summary="Customer or supplier statement")  # fmt: skip
def partner_statement(
    request: HttpRequest, params: Query[PartnerStatementParams], partner_account_id: int = Path(..., ge=1, le=MAX_ID)
) -> Any:
    """Opening balance, movements with running balance, closing balance and open items of one
    partner account (positive: owed by the customer, or owed to the supplier)."""
    result = partner_statements.statement(apikit.actor(request), partner_account_id=partner_account_id,
                                          date_from=params.date_from, date_to=params.date_to,
                                          site_id=params.site)  # fmt: skip
    return {
        "partner_account_id": result.partner.pk, "code": result.partner.code, "name": result.organization_name,
        "kind": result.partner.kind, "date_from": result.date_from, "date_to": result.date_to,
        "opening": str(result.opening), "closing": str(result.closing), "total_debit": str(result.totals["debit"]),
        "total_credit": str(result.totals["credit"]), "truncated": result.truncated,
        "movements": [_movement(r) for r in result.movements], "open_items": [_movement(r) for r in result.open_items],
        "open_total": str(result.open_total), "site": _site_out(result.site),
    }  # fmt: skip


class VatParams(InputSchema):
    model_config = {"extra": "ignore"}

    fiscal_year: int | None = Field(None, ge=1, le=MAX_ID, description="Id of a fiscal year.")
    date_from: dt.date | None = Field(None, description="Or the first day of the period (usually a month).")
    date_to: dt.date | None = Field(None, description="…and its last day.")
    site: int | None = Field(
        None, ge=1, le=MAX_ID,
        description="Id of one of the company's sites: that site's part, an analysis view (the CA3 is filed "
        "for the whole company).",
    )  # fmt: skip


class VatRowOut(Schema):
    section: str
    box: str
    label: str
    base: str | None
    tax: str | None


class VatReturnOut(Schema):
    period: PeriodOut
    rows: list[VatRowOut]
    ledger: dict[str, str]
    gross_due: str
    deductible_total: str
    net_due: str
    credit: str
    site: SiteOut | None = None


@router.get("/statements/vat-return", response=responses(VatReturnOut), summary="VAT return (CA3)")
def vat_return_get(request: HttpRequest, params: Query[VatParams]) -> Any:
    """The CA3 boxes of the period: bases per operation, VAT per rate, VAT due and deductible.
    `ledger` is the movement of each VAT account in the period (the declared amounts)."""
    actor = apikit.actor(request)
    period = statements.resolve_period(actor, fiscal_year_id=params.fiscal_year, date_from=params.date_from,
                                       date_to=params.date_to)  # fmt: skip
    result = vat_return.vat_return(actor, period, site_id=params.site)
    rows = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
            for row in vat_return.return_rows(result)]  # fmt: skip
    return {
        "period": _period_out(period), "rows": rows, "ledger": {k: str(v) for k, v in result.ledger.items()},
        "gross_due": str(result.gross_due), "deductible_total": str(result.deductible_total),
        "net_due": str(result.net_due), "credit": str(result.credit), "site": _site_out(result.site),
    }  # fmt: skip

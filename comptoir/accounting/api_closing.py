"""Accounting API: year-end closing preview (conventions: docs/api.md).

Closing itself is `POST /accounting/fiscal-years/{id}/close` (accounting/api.py).
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Path, Schema

from comptoir.accounting import closing
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, responses

router = apikit.module_router("accounting")


class ProblemOut(Schema):
    code: str
    message: str
    blocking: bool
    count: int


class OpeningLineOut(Schema):
    account_code: str
    account_name: str
    partner_account_id: int | None
    partner_name: str
    debit: str
    credit: str


class ClosingOut(Schema):
    fiscal_year_id: int
    state: str
    income: str
    expenses: str
    result: str
    next_start: dt.date
    next_end: dt.date
    next_fiscal_year_id: int | None
    can_close: bool
    problems: list[ProblemOut]
    opening_lines: list[OpeningLineOut]
    opening_entry_id: int | None


@router.get(
    "/fiscal-years/{fiscal_year_id}/closing",
    response=responses(ClosingOut),
    summary="Preview a fiscal year's closing",
)
def closing_preview(request: HttpRequest, fiscal_year_id: int = Path(..., ge=1, le=MAX_ID)) -> dict[str, object]:
    """Checks (blocking or warnings), the year's result and the opening entry closing would post."""
    actor = apikit.actor(request)
    preview = closing.closing_preview(actor, fiscal_year_id)
    entry = closing.opening_entry_of(preview.year.company_id, fiscal_year_id)
    return {
        "fiscal_year_id": preview.year.pk,
        "state": preview.year.state,
        "income": str(preview.income),
        "expenses": str(preview.expenses),
        "result": str(preview.result),
        "next_start": preview.next_start,
        "next_end": preview.next_end,
        "next_fiscal_year_id": preview.next_year.pk if preview.next_year else None,
        "can_close": preview.can_close,
        "problems": [vars(p) for p in preview.problems],
        "opening_lines": [
            {**vars(line), "debit": str(line.debit), "credit": str(line.credit)} for line in preview.lines
        ],
        "opening_entry_id": entry.pk if entry else None,
    }


# Multi-currency (api_currency.py): exchange rates and the revaluation, same prefix.
from comptoir.accounting.api_currency import router as currency_router  # noqa: E402

router.add_router("", currency_router)

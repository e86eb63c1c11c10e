"""Year-end closing: checks, result, opening entries (à-nouveaux), the lock — services, API, page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.test import Client

from comptoir.accounting import chain, closing, services
from comptoir.accounting.models import (
    AccountingSettings,
    FiscalYear,
    FiscalYearState,
    Journal,
    JournalEntry,
    JournalKind,
    JournalLine,
)
from comptoir.accounting.tests.conftest import Ledger, today
from comptoir.accounting.tests.test_api import call, error, key
from comptoir.accounting.tests.test_views import login
from comptoir.kernel.errors import Conflict, PermissionDenied

pytestmark = pytest.mark.django_db


def last() -> int:
    """Last year."""
    return today().year - 1


def last_year(ledger: Ledger) -> FiscalYear:
    return services.fiscal_year_create(actor=ledger.actor(), start_date=dt.date(last(), 1, 1),
                                       end_date=dt.date(last(), 12, 31))  # fmt: skip


def post(ledger: Ledger, lines: list[dict[str, object]], day: dt.date, journal: str = "OD") -> JournalEntry:
    actor = ledger.actor()
    entry = services.entry_create(actor=actor, journal_id=ledger.journals[journal], date=day, label="Op", lines=lines)
    return services.entry_post(actor=actor, entry_id=entry.pk)


def book_a_year(ledger: Ledger) -> None:
    """Sale 120 TTC, half-paid purchase of 60 TTC, a customer receipt of 100."""
    post(ledger, ledger.sale("120.00"), dt.date(last(), 3, 1), "VT")
    post(ledger, [ledger.line("607", debit="50.00"), ledger.line("44566", debit="10.00"),
                  ledger.line("401", credit="60.00")], dt.date(last(), 4, 1), "AC")  # fmt: skip
    post(ledger, [ledger.line("512", debit="100.00"), ledger.line("411", credit="100.00")], dt.date(last(), 5, 1), "BQ")


def balances(ledger: Ledger, entry: JournalEntry) -> dict[str, Decimal]:
    rows = JournalLine.objects.filter(entry=entry).values("account__code").annotate(d=Sum("debit"), c=Sum("credit"))
    return {row["account__code"]: row["d"] - row["c"] for row in rows}


def test_closing_carries_balances_forward_and_locks_the_year(ledger: Ledger) -> None:
    year = last_year(ledger)
    book_a_year(ledger)
    preview = closing.closing_preview(ledger.actor(), year.pk)
    assert (preview.income, preview.expenses, preview.result) == (Decimal("100.00"), Decimal("50.00"), Decimal("50"))
    assert preview.can_close and not preview.blocking
    closed = closing.year_end_close(actor=ledger.actor("management"), fiscal_year_id=year.pk)
    assert closed.state == FiscalYearState.CLOSED
    assert AccountingSettings.objects.get(company_id=ledger.company_id).lock_date == year.end_date
    opening = closing.opening_entry_of(ledger.company_id, year.pk)
    assert opening is not None and opening.state == "posted" and opening.date == dt.date(today().year, 1, 1)
    assert Journal.objects.get(pk=opening.journal_id).kind == JournalKind.OPENING and opening.number
    # Balance-sheet accounts carry their balance, the result goes to 120, classes 6/7 restart at zero.
    assert balances(ledger, opening) == {
        "411": Decimal("20.00"), "401": Decimal("-60.00"), "44566": Decimal("10.00"),
        "44571": Decimal("-20.00"), "512": Decimal("100.00"), "120": Decimal("-50.00"),
    }  # fmt: skip
    partner_line = JournalLine.objects.get(entry=opening, account__code="411")
    assert partner_line.partner_account_id == ledger.customer.pk
    assert opening.total == Decimal("130.00")
    assert chain.verify_chain(ledger.company_id).anomalies == []
    with pytest.raises(Conflict):
        closing.year_end_close(actor=ledger.actor("management"), fiscal_year_id=year.pk)
    assert JournalEntry.objects.filter(source_type=closing.SOURCE_TYPE).count() == 1


def test_a_loss_goes_to_129_and_the_next_year_is_created_when_missing(ledger: Ledger) -> None:
    FiscalYear.objects.filter(company_id=ledger.company_id).delete()  # no entry yet: only the current year
    year = last_year(ledger)
    post(ledger, [ledger.line("607", debit="80.00"), ledger.line("401", credit="80.00")], dt.date(last(), 6, 1), "AC")
    closing.year_end_close(actor=ledger.actor(), fiscal_year_id=year.pk)
    created = FiscalYear.objects.get(company_id=ledger.company_id, start_date=dt.date(today().year, 1, 1))
    assert created.end_date == dt.date(today().year, 12, 31) and created.state == FiscalYearState.OPEN
    opening = closing.opening_entry_of(ledger.company_id, year.pk)
    assert opening is not None
    assert balances(ledger, opening) == {"401": Decimal("-80.00"), "129": Decimal("80.00")}


def test_blocking_checks_stop_the_close_and_write_nothing(ledger: Ledger) -> None:
    year = last_year(ledger)
    book_a_year(ledger)
    actor = ledger.actor()
    draft = services.entry_create(actor=actor, journal_id=ledger.journals["OD"], date=dt.date(last(), 7, 1),
                                  label="Brouillon", lines=ledger.sale("12.00"))  # fmt: skip
    suspense = post(ledger, [ledger.line("471", debit="5.00"), ledger.line("512", credit="5.00")],
                    dt.date(last(), 8, 1))  # fmt: skip
    codes = {p.code for p in closing.closing_preview(actor, year.pk).blocking}
    assert {"drafts_in_year", "suspense_balance"} <= codes
    with pytest.raises(Conflict):
        closing.year_end_close(actor=actor, fiscal_year_id=year.pk)
    year.refresh_from_db()
    assert year.state == FiscalYearState.OPEN and not JournalEntry.objects.filter(source_type=closing.SOURCE_TYPE)
    # A check registered by another module (banking registers unreconciled bank lines).
    closing.register_check("test", lambda company_id, fy: [closing.Problem("bank_lines", "3 lines", count=3)])
    try:
        services.entry_delete(actor=actor, entry_id=draft.pk)
        post(ledger, [ledger.line("512", debit="5.00"), ledger.line("471", credit="5.00")], dt.date(last(), 8, 2))
        assert {p.code for p in closing.closing_preview(actor, year.pk).blocking} == {"bank_lines"}
        with pytest.raises(Conflict):
            closing.year_end_close(actor=actor, fiscal_year_id=year.pk)
    finally:
        closing.unregister_check("test")
    assert suspense.pk and closing.closing_preview(actor, year.pk).can_close
    closing.year_end_close(actor=actor, fiscal_year_id=year.pk)


def test_a_year_not_ended_or_after_an_open_one_cannot_close(ledger: Ledger) -> None:
    current = FiscalYear.objects.get(company_id=ledger.company_id, start_date=dt.date(today().year, 1, 1))
    assert "fiscal_year_not_ended" in {p.code for p in closing.closing_preview(ledger.actor(), current.pk).blocking}
    older = services.fiscal_year_create(actor=ledger.actor(), start_date=dt.date(last(), 1, 1),
                                        end_date=dt.date(last(), 12, 31))  # fmt: skip
    oldest = services.fiscal_year_create(actor=ledger.actor(), start_date=dt.date(last() - 1, 1, 1),
                                         end_date=dt.date(last() - 1, 12, 31))  # fmt: skip
    assert "earlier_year_open" in {p.code for p in closing.closing_preview(ledger.actor(), older.pk).blocking}
    closing.year_end_close(actor=ledger.actor(), fiscal_year_id=oldest.pk)
    closing.year_end_close(actor=ledger.actor(), fiscal_year_id=older.pk)


def test_only_finance_and_management_close(ledger: Ledger) -> None:
    year = last_year(ledger)
    with pytest.raises(PermissionDenied):
        closing.closing_preview(ledger.actor("sales"), year.pk)
    with pytest.raises(PermissionDenied):
        closing.year_end_close(actor=ledger.actor("sales"), fiscal_year_id=year.pk)


def test_closing_through_the_api(ledger: Ledger, client: Client) -> None:
    year = last_year(ledger)
    book_a_year(ledger)
    h = key(ledger, "finance")
    preview = call(client, "get", f"/fiscal-years/{year.pk}/closing", h)
    assert preview.status_code == 200, preview.content
    data = preview.json()
    assert data["result"] == "50.00" and data["can_close"] and data["opening_entry_id"] is None
    assert {line["account_code"] for line in data["opening_lines"]} == {"411", "401", "44566", "44571", "512", "120"}
    error(call(client, "get", f"/fiscal-years/{2**40}/closing", h), 404)
    closed = call(client, "post", f"/fiscal-years/{year.pk}/close", h)
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert call(client, "get", f"/fiscal-years/{year.pk}/closing", h).json()["opening_entry_id"]
    error(call(client, "post", f"/fiscal-years/{year.pk}/close", h), 409, "fiscal_year_closed")
    sales = key(ledger, "sales")
    assert call(client, "get", f"/fiscal-years/{year.pk}/closing", sales).status_code == 403


def test_closing_page_shows_checks_and_closes(ledger: Ledger, client: Client) -> None:
    year = last_year(ledger)
    book_a_year(ledger)
    login(client, ledger, "finance")
    page = client.get(f"/accounting/periods/{year.pk}/closing/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="year-end-form"' in html and 'data-code="ok"' in html
    assert 'data-result="50' in html and "120" in html
    done = client.post(f"/accounting/periods/{year.pk}/closing/")
    assert done.status_code == 302
    html = client.get(done["Location"]).content.decode()
    assert 'id="opening-entry-link"' in html and 'id="year-end-form"' not in html
    again = client.post(f"/accounting/periods/{year.pk}/closing/")
    assert again.status_code == 409
    assert client.get("/accounting/periods/123456789/closing/").status_code == 404

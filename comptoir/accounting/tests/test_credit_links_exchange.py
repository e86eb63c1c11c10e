"""A credit note settling several foreign-currency invoices at once: each allocation keeps its
own realised exchange difference, so re-matching one invoice takes back only its own line."""

from __future__ import annotations

import datetime as dt

import pytest

from comptoir.accounting import credit_allocation, credit_links, currency, invoices
from comptoir.accounting.models import Invoice, InvoiceState, JournalLine
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.accounting.tests.payments_kit import fresh
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


# Fixed days of last year (make_books opens it), read when called: last year of the day the test runs.
def invoiced() -> dt.date:
    return dt.date(today().year - 1, 6, 10)


def credited() -> dt.date:
    return dt.date(today().year - 1, 6, 20)


@pytest.fixture
def books(personas: Personas) -> Books:
    b = make_books(personas)
    currency.rate_set(actor=b.actor(), currency="USD", date=invoiced(), rate="1.1")
    currency.rate_set(actor=b.actor(), currency="USD", date=credited(), rate="1.25")
    return b


def _usd_invoice(books: Books, price: str) -> Invoice:
    return books.posted([line(unit_price=price)], currency="USD", issue_date=invoiced())


def test_each_allocation_keeps_its_own_exchange_line(books: Books) -> None:
    first, second = _usd_invoice(books, "500.00"), _usd_invoice(books, "250.00")  # 600 and 300 USD at 1.1
    origin = _usd_invoice(books, "750.00")
    draft = invoices.invoice_credit(actor=books.actor(), invoice_id=origin.pk)  # 900 USD credited at 1.25
    invoices.invoice_update(actor=books.actor(), invoice_id=draft.pk, issue_date=credited())
    credit = invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=False)
    result = credit_allocation.credit_allocate(actor=books.actor(), credit_note_id=credit.pk, allocations=[
        {"invoice_id": first.pk, "amount": "600.00"}, {"invoice_id": second.pk, "amount": "300.00"},
    ])  # fmt: skip
    assert fresh(first).state == fresh(second).state == InvoiceState.PAID
    rows = {row.invoice_id: row for row in result.allocations}
    assert rows[first.pk].vat_entry_id == rows[second.pk].vat_entry_id is not None  # one OD entry for both
    own = {invoice_id: row.exchange_line_id for invoice_id, row in rows.items()}
    assert None not in own.values() and own[first.pk] != own[second.pk]
    exchange = JournalLine.objects.filter(pk__in=own.values())
    assert {line.entry_id for line in exchange} == {rows[first.pk].vat_entry_id}
    assert all(line.partner_account_id == first.partner_account_id for line in exchange)
    linked = credit_links.linked_lines([fresh(first), fresh(second)])
    assert own[first.pk] in linked[first.pk] and own[second.pk] not in linked[first.pk]
    assert own[second.pk] in linked[second.pk] and own[first.pk] not in linked[second.pk]
    # The credit note's group holds both invoices' partner lines and both differences.
    assert {own[first.pk], own[second.pk]} <= credit_links.linked_lines([fresh(credit)])[credit.pk]


def test_an_allocation_without_a_difference_takes_no_other_invoices_line(books: Books) -> None:
    first = _usd_invoice(books, "500.00")  # 600 USD at 1.1: a difference with the credit note's 1.25
    origin = _usd_invoice(books, "750.00")
    same_rate = books.posted([line(unit_price="250.00")], currency="USD", issue_date=credited())  # 1.25: none
    draft = invoices.invoice_credit(actor=books.actor(), invoice_id=origin.pk)
    invoices.invoice_update(actor=books.actor(), invoice_id=draft.pk, issue_date=credited())
    credit = invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=False)
    result = credit_allocation.credit_allocate(actor=books.actor(), credit_note_id=credit.pk, allocations=[
        {"invoice_id": first.pk, "amount": "600.00"}, {"invoice_id": same_rate.pk, "amount": "300.00"},
    ])  # fmt: skip
    rows = {row.invoice_id: row for row in result.allocations}
    assert rows[first.pk].exchange_line_id is not None and rows[same_rate.pk].exchange_line_id is None
    assert rows[same_rate.pk].vat_entry_id == rows[first.pk].vat_entry_id  # the shared OD entry
    linked = credit_links.linked_lines([fresh(same_rate)])
    assert rows[first.pk].exchange_line_id not in linked[same_rate.pk]
    assert rows[first.pk].exchange_line_id in credit_links.linked_lines([fresh(first)])[first.pk]

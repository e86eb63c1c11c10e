"""Registering a payment with statements written once (issue 6), with the same results.

The journal, the organization check and the company currency in one plain statement; the
usual single invoice locked and its entry's lines read without the ORM (several invoices keep
the ORM's reads: both give the same allocations, VAT moves and matchings); the partner account
locked by a compiled statement; the lines matched by one compiled UPDATE. The payment is still
inserted before its entry (the entry names it, hashed) and updated with the entry's ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from comptoir.accounting import matching
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import Account, InvoiceKind, InvoiceState, Journal, JournalLine, PartnerAccount
from comptoir.accounting.models_payments import Matching, PaymentAllocation
from comptoir.accounting.tests.invoices_kit import Books, organization
from comptoir.accounting.tests.payments_kit import (
    TODAY,
    books,
    entry_lines,
    fresh,
    partner_codes,
    pay,
    post_invoice,
)
from comptoir.kernel.errors import NotFound, ValidationFailed

pytestmark = pytest.mark.django_db
__all__ = ["books"]

JOURNAL_REFUSED = "Choose an active bank or cash journal with an account."


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _refused(books: Books, **extra: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        pay(books, "10.00", **extra)
    assert refused.value.fields is not None
    return refused.value.fields


def test_the_journal_and_the_organization_are_checked_in_one_statement(books: Books) -> None:
    journals = books.ledger.journals
    other = organization(books.personas.other_company.pk, "Ailleurs SARL")
    with CaptureQueriesContext(connection) as captured:
        both = _refused(books, journal_id=journals["VT"], organization_id=other.pk)
    assert both == {"journal_id": [JOURNAL_REFUSED], "organization_id": ["Unknown organization."]}
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT") and "accounting_" in q["sql"]]
    assert len(reads) == 1 and "contacts_organization" in reads[0]  # no second look at the organization
    assert _refused(books, journal_id=10**12) == {"journal_id": [JOURNAL_REFUSED]}
    Journal.objects.filter(pk=journals["BQ"]).update(is_active=False)
    assert _refused(books) == {"journal_id": [JOURNAL_REFUSED]}
    Journal.objects.filter(pk=journals["BQ"]).update(is_active=True, default_account=None)
    assert _refused(books) == {"journal_id": [JOURNAL_REFUSED]}
    # Another company's bank journal is unknown here.
    foreign = Journal.objects.create(company=books.personas.other_company, code="BQ", name="Banque", kind="bank",
                                     default_account_id=books.ledger.accounts["512"])  # fmt: skip
    assert _refused(books, journal_id=foreign.pk) == {"journal_id": [JOURNAL_REFUSED]}


def test_one_invoice_and_several_are_paid_alike(books: Books) -> None:
    """The single invoice's compiled reads and the ORM's reads of several give the same result."""
    alone = post_invoice(books, "100.00", services=True)
    first, second = post_invoice(books, "100.00", services=True), post_invoice(books, "100.00", services=True)
    one = pay(books, "50.00", [(alone, "50.00")])
    both = pay(books, "100.00", [(first, "50.00"), (second, "50.00")])
    assert fresh(alone).state == fresh(first).state == fresh(second).state == InvoiceState.PARTIALLY_PAID
    moved = {a.invoice_id: a.vat_moved for a in PaymentAllocation.objects.filter(payment__in=[one, both])}
    assert moved == {alone.pk: D("8.33"), first.pk: D("8.33"), second.pk: D("8.33")}
    assert [row[:3] for row in entry_lines(one)] == [
        ("512", D("50.00"), D(0)), ("411", D(0), D("50.00")), ("44574", D("8.33"), D(0)), ("44571", D(0), D("8.33"))
    ]  # fmt: skip
    # Each invoice's partner line and its payment's line share a partial (lower-case) code.
    codes = [partner_codes(invoice) for invoice in (alone, first, second)]
    assert codes == [["aa"], ["ab"], ["ac"]]
    assert [row[3] for row in entry_lines(both)][1:3] == ["ab", "ac"]
    assert verify_chain(books.company_id).ok


def test_the_payment_row_gets_its_entry_and_credit_line_in_one_update(books: Books) -> None:
    invoice = post_invoice(books, "100.00")
    with CaptureQueriesContext(connection) as captured:
        payment = pay(books, "150.00", [(invoice, "120.00")])
    writes = [q["sql"] for q in captured.captured_queries if 'accounting_payment"' in q["sql"]]
    assert [sql.split(" ")[0] for sql in writes] == ["INSERT", "UPDATE"]
    stored = type(payment).objects.get(pk=payment.pk)
    credit_line = JournalLine.objects.get(entry_id=stored.journal_entry_id, sequence=3)
    assert stored.credit_line_id == credit_line.pk == payment.credit_line_id
    assert (credit_line.credit, stored.unallocated) == (D("30.00"), D("30.00"))
    assert fresh(invoice).state == InvoiceState.PAID and partner_codes(invoice) == ["AA"]


def test_the_partner_lock_reads_the_whole_row_of_the_company_only(books: Books) -> None:
    customer = books.ledger.customer
    locked = matching.lock_partner(books.company_id, customer.pk)
    expected = PartnerAccount.objects.get(pk=customer.pk)
    names = [field.attname for field in PartnerAccount._meta.concrete_fields]
    assert [getattr(locked, name) for name in names] == [getattr(expected, name) for name in names]
    with pytest.raises(NotFound):
        matching.lock_partner(books.personas.other_company.pk, customer.pk)


def test_the_lines_of_a_group_are_matched_by_one_update(books: Books) -> None:
    invoice = post_invoice(books, "100.00")
    payments = [pay(books, "40.00", [(invoice, "40.00")]), pay(books, "80.00", [(invoice, "80.00")])]
    ids = [JournalLine.objects.get(entry_id=p.journal_entry_id, sequence=2).pk for p in payments]
    assert fresh(invoice).state == InvoiceState.PAID and partner_codes(invoice) == ["AA"]
    assert set(JournalLine.objects.filter(pk__in=ids).values_list("matching_code", flat=True)) == {"AA"}
    receivable = Account.objects.get(company_id=books.company_id, code="411").pk
    open_lines = JournalLine.objects.filter(account_id=receivable, partner_account=books.ledger.customer)
    assert not open_lines.exclude(matching_code="AA").exists()
    assert list(Matching.objects.filter(partner_account=books.ledger.customer).values_list("code", "full")) == [
        ("AA", True)
    ]


def test_auto_locks_only_the_partners_open_invoices_of_the_kind_and_currency(books: Books) -> None:
    older = post_invoice(books, "100.00", issue_date=TODAY - dt.timedelta(days=20))
    newer = post_invoice(books, "100.00", issue_date=TODAY - dt.timedelta(days=5))
    paid = post_invoice(books, "10.00")
    pay(books, "12.00", [(paid, "12.00")])
    others = [
        post_invoice(books, "100.00", organization=books.eu_customer),  # another partner
        post_invoice(books, "100.00", kind=InvoiceKind.VENDOR_REFUND),  # settled by money received, not "auto"
    ]
    with CaptureQueriesContext(connection) as captured:
        payment = pay(books, "150.00", "auto")
    locks = [q["sql"] for q in captured.captured_queries if 'FROM "accounting_invoice"' in q["sql"]]
    assert len(locks) == 1 and "ORDER BY" in locks[0]
    allocated = list(
        PaymentAllocation.objects.filter(payment=payment).order_by("pk").values_list("invoice_id", "amount")
    )
    assert allocated == [(older.pk, D("120.00")), (newer.pk, D("30.00"))]
    assert (fresh(older).state, fresh(newer).state) == (InvoiceState.PAID, InvoiceState.PARTIALLY_PAID)
    assert [fresh(other).state for other in others] == [InvoiceState.POSTED, InvoiceState.POSTED]
    assert payment.unallocated == 0 and verify_chain(books.company_id).ok

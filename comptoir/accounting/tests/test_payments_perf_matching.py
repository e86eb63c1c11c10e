"""Registering a payment reads less (issue 6), with the same results.

The lines of a fresh invoice are matched from what the payment read under the partner lock;
an invoice whose line is already matched, or that was paid or credited before, takes the
reading path. The next matching code is the largest index + 1 (no COUNT of a growing table)
and stays gapless and unique, undone and merged matchings included.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from comptoir.accounting import matching
from comptoir.accounting.models import InvoiceState, JournalLine
from comptoir.accounting.models_payments import Matching, PaymentAllocation
from comptoir.accounting.tests.invoices_kit import Books
from comptoir.accounting.tests.payments_kit import books, entry_lines, fresh, partner_codes, pay, post_invoice

pytestmark = pytest.mark.django_db
__all__ = ["books"]


def _codes(books: Books) -> list[tuple[int, str, bool, bool]]:
    return list(
        Matching.objects.filter(partner_account=books.ledger.customer)
        .order_by("index")
        .values_list("index", "code", "full", "undone")
    )


def test_fresh_invoice_paid_in_full_reads_no_count_of_matchings(books: Books) -> None:
    invoice = post_invoice(books, services=True)  # VAT on receipts: the waiting VAT moves too
    with CaptureQueriesContext(connection) as captured:
        payment = pay(books, "120.00", [(invoice, "120.00")])
    sql = [query["sql"] for query in captured.captured_queries]
    assert not any("COUNT(" in statement.upper() for statement in sql)
    # Nothing paid or credited before: no allocation of either kind to read.
    assert not any('FROM "accounting_paymentallocation"' in statement for statement in sql)
    assert not any('FROM "accounting_creditallocation"' in statement for statement in sql)
    invoice = fresh(invoice)
    assert invoice.state == InvoiceState.PAID and invoice.residual_amount == 0
    assert partner_codes(invoice) == ["AA"]
    codes = [row[3] for row in entry_lines(payment)]
    assert codes[:2] == ["", "AA"]  # bank line, customer line; then the VAT move (44574 → 44571)
    assert [row[0] for row in entry_lines(payment)] == ["512", "411", "44574", "44571"]
    allocation = PaymentAllocation.objects.get(payment=payment)
    assert (
        allocation.vat_moved == D("20.00")
        and allocation.line_id == JournalLine.objects.get(entry_id=payment.journal_entry_id, sequence=2).pk
    )
    assert _codes(books) == [(0, "AA", True, False)]


def test_second_payment_reads_the_first_and_moves_only_the_rest_of_the_vat(books: Books) -> None:
    invoice = post_invoice(books, services=True)  # 100 + 20 VAT on receipts
    first = pay(books, "40.00", [(invoice, "40.00")])
    assert PaymentAllocation.objects.get(payment=first).vat_moved == D("6.67")
    second = pay(books, "80.00", [(invoice, "80.00")])
    # Cumulative: the last payment moves exactly what is left (20.00 − 6.67).
    assert PaymentAllocation.objects.get(payment=second).vat_moved == D("13.33")
    assert partner_codes(fresh(invoice)) == ["AA"]
    assert entry_lines(first)[1][3] == entry_lines(second)[1][3] == "AA"
    assert _codes(books) == [(0, "AA", True, False)]


def test_invoice_line_matched_by_hand_before_payment_extends_that_matching(books: Books) -> None:
    actor = books.actor("finance")
    invoice = post_invoice(books)  # 120.00, nothing paid
    credit = pay(books, "30.00")  # an advance: a credit line on the customer's account
    invoice_line = JournalLine.objects.get(entry_id=invoice.journal_entry_id, partner_account__isnull=False)
    assert credit.credit_line_id is not None
    # Matched by hand with the advance: the invoice's line carries a code, its residual is unchanged.
    by_hand = matching.match_lines(actor=actor, line_ids=[invoice_line.pk, credit.credit_line_id])
    assert by_hand.line_code == "aa" and fresh(invoice).residual_amount == D("120.00")
    payment = pay(books, "90.00", [(invoice, "90.00")])
    # The payment joined the matching made by hand: 120 = 30 + 90, one code, now full.
    assert partner_codes(fresh(invoice)) == ["AA"] and entry_lines(payment)[1][3] == "AA"
    assert _codes(books) == [(0, "AA", True, False)]


def test_next_codes_stay_gapless_after_undone_and_merged_matchings(books: Books) -> None:
    actor = books.actor("finance")
    first, second, third = (post_invoice(books) for _i in range(3))
    pay(books, "120.00", [(first, "120.00")])  # AA
    partial = pay(books, "50.00", [(second, "50.00")])  # ab
    assert partner_codes(fresh(second)) == ["ab"] and entry_lines(partial)[1][3] == "ab"
    # Undo AA by hand: its row stays (undone), the next code is still AC.
    first_line = JournalLine.objects.get(entry_id=first.journal_entry_id, partner_account__isnull=False)
    matching.unmatch_lines(actor=actor, line_ids=[first_line.pk])
    pay(books, "120.00", [(third, "120.00")])  # AC
    assert partner_codes(fresh(third)) == ["AC"]
    codes = _codes(books)
    assert [(index, code) for index, code, _full, _undone in codes] == [(0, "AA"), (1, "AB"), (2, "AC")]
    assert [undone for *_rest, undone in codes] == [True, False, False]
    assert matching.next_index(books.ledger.customer.pk) == 3


def test_several_invoices_one_fresh_one_paid_before_keep_the_order_of_codes(books: Books) -> None:
    older, newer = post_invoice(books), post_invoice(books)
    pay(books, "20.00", [(newer, "20.00")])  # aa on the newer invoice
    both = pay(books, "220.00", [(older, "120.00"), (newer, "100.00")])
    # The older invoice (fresh) takes the next code, the newer one completes its own.
    assert partner_codes(fresh(older)) == ["AB"] and partner_codes(fresh(newer)) == ["AA"]
    assert [row[3] for row in entry_lines(both)][1:3] == ["AB", "AA"]
    assert fresh(older).state == fresh(newer).state == InvoiceState.PAID
    assert [(index, code) for index, code, _full, _undone in _codes(books)] == [(0, "AA"), (1, "AB")]

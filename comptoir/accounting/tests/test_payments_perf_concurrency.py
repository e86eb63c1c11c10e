"""Matching codes under real concurrency: the next code is the largest index + 1, read under the partner lock.

8 threads, each with its own connection, pay 8 different invoices of one customer at once:
each payment opens a new matching on the same partner account. The codes come out gapless
and unique (AA … AH), each on its own invoice and payment line, and no thread fails.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from comptoir.accounting import matching, payments
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import Invoice, InvoiceState, JournalLine
from comptoir.accounting.models_payments import Matching, Payment
from comptoir.accounting.tests.invoices_kit import make_books
from comptoir.accounting.tests.payments_kit import TODAY, post_invoice
from comptoir.accounting.tests.test_payments_concurrency import THREADS, run_together
from comptoir.org.testing import make_personas


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_payments_of_one_customer_take_eight_distinct_codes() -> None:
    books = make_books(make_personas())
    invoices = [post_invoice(books, "100.00", services=index % 2 == 0) for index in range(THREADS)]  # 120.00 each
    actor = books.actor()

    def pay(index: int) -> Payment:
        return payments.payment_register(
            actor=actor, organization_id=books.customer.pk, amount="120.00", date=TODAY,
            journal_id=books.ledger.journals["BQ"], method="transfer",
            allocations=[{"invoice_id": invoices[index].pk, "amount": "120.00"}],
        )  # fmt: skip

    results, refused, errors = run_together(pay)
    assert not errors and not refused, (errors + refused)[:3]
    assert len(results) == THREADS
    rows = list(
        Matching.objects.filter(partner_account=books.ledger.customer)
        .order_by("index")
        .values_list("index", "code", "full", "undone")
    )
    assert rows == [(index, matching.code_for(index), True, False) for index in range(THREADS)]
    for invoice, payment in zip(invoices, sorted(results, key=lambda p: p.allocations.get().invoice_id), strict=True):
        assert Invoice.objects.get(pk=invoice.pk).state == InvoiceState.PAID
        codes = set(
            JournalLine.objects.filter(
                entry_id__in=[invoice.journal_entry_id, payment.journal_entry_id], partner_account__isnull=False
            ).values_list("matching_code", flat=True)
        )
        assert len(codes) == 1 and codes.pop() in {code for _index, code, _full, _undone in rows}
    assert matching.next_index(books.ledger.customer.pk) == THREADS
    assert sum((D(p.amount) for p in results), D(0)) == D("120.00") * THREADS
    assert verify_chain(books.company_id).ok

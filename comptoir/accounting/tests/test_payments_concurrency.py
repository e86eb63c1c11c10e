"""Payments under real concurrency: 8 threads, each with its own database connection.

* 8 payments (each with its own idempotency key) on one invoice never overpay it: the
  invoice rows are locked in id order, the residual is checked under the lock; the losers get
  a ValidationFailed, nobody a deadlock or a database error.
* 8 identical requests (the same key, a double click times eight) record exactly one payment
  and all get it back.

On PostgreSQL the row locks and the unique key do the work; on SQLite the same tests run,
serialised by IMMEDIATE transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection

from comptoir.accounting import payments, selectors
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import Invoice, InvoiceState
from comptoir.accounting.models_payments import Payment, PaymentAllocation
from comptoir.accounting.tests.invoices_kit import make_books
from comptoir.accounting.tests.payments_kit import TODAY, post_invoice
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.money import exact_sum
from comptoir.org.testing import make_personas

THREADS = 8


def run_together(work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException], list[BaseException]]:
    """Run ``work(i)`` in THREADS threads released at once: (results, refusals, other errors)."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    refused: list[BaseException] = []
    errors: list[BaseException] = []

    def thread(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(work(index))
        except ValidationFailed as exc:
            refused.append(exc)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(THREADS)]
    for each in threads:
        each.start()
    for each in threads:
        each.join(timeout=300)
    return results, refused, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_payments_never_overpay_one_invoice() -> None:
    books = make_books(make_personas())
    invoice = post_invoice(books, "100.00", services=True)  # 120.00
    actor = books.actor()

    def pay(index: int) -> Payment:
        return payments.payment_register(
            actor=actor, organization_id=books.customer.pk, amount="50.00", date=TODAY,
            journal_id=books.ledger.journals["BQ"], method="card", idempotency_key=f"thread-{index}",
            allocations=[{"invoice_id": invoice.pk, "amount": "50.00"}],
        )  # fmt: skip

    results, refused, errors = run_together(pay)
    assert not errors, errors[:3]
    # 50 + 50 fit in 120; a third 50 would overpay: refused on its allocation.
    assert len(results) == 2 and len(refused) == THREADS - 2
    assert all("allocations.0.amount" in exc.fields for exc in refused)  # type: ignore[attr-defined]
    invoice = Invoice.objects.get(pk=invoice.pk)
    allocated = exact_sum(PaymentAllocation.objects.filter(invoice=invoice, is_active=True), "amount")
    assert allocated == D("100.00") <= invoice.total_amount
    assert invoice.residual_amount == invoice.total_amount - allocated == D("20.00")
    assert invoice.state == InvoiceState.PARTIALLY_PAID
    balance = selectors.trial_balance(actor)
    assert balance.total_debit == balance.total_credit
    assert verify_chain(books.company_id).ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_identical_requests_record_one_payment() -> None:
    books = make_books(make_personas())
    invoice = post_invoice(books, "100.00")
    no_invoice_key = "double-click-credit"
    actor = books.actor()

    def pay(index: int) -> tuple[int, bool, int, bool]:
        with_invoice = payments.payment_register(
            actor=actor, organization_id=books.customer.pk, amount="120.00", date=TODAY,
            journal_id=books.ledger.journals["BQ"], method="transfer", idempotency_key="double-click",
            allocations=[{"invoice_id": invoice.pk, "amount": "120.00"}],
        )  # fmt: skip
        # No invoice to lock: the unique key alone stops the duplicates.
        credit = payments.payment_register(
            actor=actor, organization_id=books.customer.pk, amount="15.00", date=TODAY,
            journal_id=books.ledger.journals["BQ"], method="transfer", idempotency_key=no_invoice_key, allocations=[],
        )  # fmt: skip
        return with_invoice.pk, with_invoice.replayed, credit.pk, credit.replayed

    results, refused, errors = run_together(pay)
    assert not errors and not refused, (errors + refused)[:3]
    assert len({r[0] for r in results}) == 1 and len({r[2] for r in results}) == 1
    assert sorted(r[1] for r in results) == [False] + [True] * (THREADS - 1)
    assert sorted(r[3] for r in results) == [False] + [True] * (THREADS - 1)
    assert Payment.objects.count() == 2
    assert Invoice.objects.get(pk=invoice.pk).state == InvoiceState.PAID
    assert verify_chain(books.company_id).ok

"""Credit note allocation under real concurrency: two (then eight) connections allocating
the same credit note at once never allocate more than it holds, and the same key twice
records once. On PostgreSQL the row locks (invoice rows in id order, then the partner
account) do the work; the losers get a ValidationFailed, nobody a deadlock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection

from comptoir.accounting import credit_allocation, invoices
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import Invoice, InvoiceState
from comptoir.accounting.models_credit import CreditAllocation
from comptoir.accounting.tests.invoices_kit import make_books
from comptoir.accounting.tests.payments_kit import post_invoice
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.testing import make_personas


def run_together(count: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException], list[BaseException]]:
    """Run ``work(i)`` in ``count`` threads (each its own connection) released at once."""
    barrier = threading.Barrier(count)
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

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(count)]
    for each in threads:
        each.start()
    for each in threads:
        each.join(timeout=300)
    return results, refused, errors


def _setup() -> tuple[Any, Invoice, Invoice, Invoice]:
    books = make_books(make_personas())
    first = post_invoice(books, "100.00", services=True)  # 120.00
    second = post_invoice(books, "100.00")  # 120.00
    draft = invoices.invoice_credit(actor=books.actor(), invoice_id=first.pk)
    credit = invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=False)  # 120.00
    return books, first, second, credit


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_connections_allocating_one_credit_note_never_over_allocate() -> None:
    books, first, second, credit = _setup()
    actor = books.actor()
    targets = [first, second]

    def work(index: int) -> Any:
        return credit_allocation.credit_allocate(actor=actor, credit_note_id=credit.pk,
                                                 allocations=[{"invoice_id": targets[index].pk,
                                                               "amount": "100.00"}])  # fmt: skip

    results, refused, errors = run_together(2, work)
    assert not errors, errors[:3]
    assert len(results) == 1 and len(refused) == 1
    assert "allocations" in refused[0].fields  # type: ignore[attr-defined]
    credit = Invoice.objects.get(pk=credit.pk)
    assert credit.residual_amount == D("20.00") and credit.state == InvoiceState.PARTIALLY_PAID
    assert CreditAllocation.objects.count() == 1
    assert verify_chain(books.company_id).ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_connections_sharing_the_credit_and_identical_keys() -> None:
    books, first, second, credit = _setup()
    actor = books.actor()
    targets = [first, second]

    def split(index: int) -> Any:
        return credit_allocation.credit_allocate(actor=actor, credit_note_id=credit.pk, idempotency_key=f"t-{index}",
                                                 allocations=[{"invoice_id": targets[index % 2].pk,
                                                               "amount": "50.00"}])  # fmt: skip

    results, refused, errors = run_together(8, split)
    assert not errors, errors[:3]
    # 50 + 50 fit in 120, a third 50 does not.
    assert len(results) == 2 and len(refused) == 6
    assert Invoice.objects.get(pk=credit.pk).residual_amount == D("20.00")
    total = sum((Invoice.objects.get(pk=i.pk).residual_amount for i in targets), D(0))
    assert total == D("140.00")

    def same(index: int) -> Any:
        return credit_allocation.credit_allocate(actor=actor, credit_note_id=credit.pk, idempotency_key="double",
                                                 allocations=[{"invoice_id": first.pk, "amount": "20.00"}])  # fmt: skip

    results, refused, errors = run_together(8, same)
    assert not errors and not refused, (errors[:3], refused[:3])
    assert len({tuple(a.pk for a in r.allocations) for r in results}) == 1
    assert sum(1 for r in results if not r.replayed) == 1
    assert Invoice.objects.get(pk=credit.pk).state == InvoiceState.PAID
    assert verify_chain(books.company_id).ok

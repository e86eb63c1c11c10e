"""Invoicing one order from several connections at once never bills more than ordered.

``invoice_order`` locks the order row (``SELECT … FOR UPDATE``) before it reads what is left
to invoice: concurrent calls queue up; the first bills everything, the others find nothing
left (``ValidationFailed``) — never a second invoice, a deadlock or a database error. On
SQLite the same test runs, serialised by IMMEDIATE transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection

from comptoir.accounting.models import Invoice, InvoiceLine
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.kernel.money import exact_sum
from comptoir.org.testing import make_personas
from comptoir.sales import deliveries, invoicing
from comptoir.sales.models_orders import SalesOrderLine
from comptoir.sales.tests.orders_kit import confirmed_order, make_shop, product_line

THREADS = 6


def run_together(work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException], list[BaseException]]:
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    refused: list[BaseException] = []
    errors: list[BaseException] = []

    def thread(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(work(index))
        except (ValidationFailed, Conflict) as exc:  # nothing left, or the order is done
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
def test_concurrent_invoicing_never_bills_more_than_ordered() -> None:
    shop = make_shop(make_personas())
    order = confirmed_order(shop, [product_line(shop.chair, "7"), product_line(shop.design, "2")])
    actor = shop.actor("finance")

    results, refused, errors = run_together(lambda _i: invoicing.invoice_order(actor=actor, order_id=order.pk))
    assert not errors, errors[:3]
    assert len(results) == 1 and len(refused) == THREADS - 1
    assert Invoice.objects.count() == 1
    billed = InvoiceLine.objects.filter(invoice__source_id=str(order.pk)).order_by("sequence")
    assert list(billed.values_list("quantity", flat=True)) == [D("7.000"), D("2.000")]
    assert [line.quantity_invoiced for line in SalesOrderLine.objects.filter(order=order).order_by("position")] == [
        D("7.000"), D("2.000")]  # fmt: skip


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_and_invoices_on_delivery_stay_within_the_order() -> None:
    shop = make_shop(make_personas())
    order = confirmed_order(shop, [product_line(shop.chair, "6")], invoicing_policy="delivery")
    chair = SalesOrderLine.objects.get(order=order)
    actor = shop.actor("finance")

    def work(index: int) -> Any:
        if index % 2:
            return deliveries.record_delivery(actor=actor, order_id=order.pk, quantities={chair.pk: "2"})
        return invoicing.invoice_order(actor=actor, order_id=order.pk)

    _results, _refused, errors = run_together(work)
    assert not errors, errors[:3]
    chair.refresh_from_db()
    invoiced = exact_sum(InvoiceLine.objects.filter(invoice__source_id=str(order.pk)), "quantity")
    assert chair.quantity_invoiced == invoiced <= chair.quantity_delivered <= chair.quantity

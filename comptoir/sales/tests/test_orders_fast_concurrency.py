"""Orders made from quotes by several connections at once, now that the number is taken before the
order's INSERT: one quote gives one order (the others are told it is ordered, never a database
error), and orders from different quotes take distinct numbers without gaps. The quote is locked
through the company filter (an actor who sees every customer) or through the record rule alike.
On SQLite the same test runs, serialised by IMMEDIATE transactions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from comptoir.kernel.errors import Conflict
from comptoir.kernel.models import IssuedNumber
from comptoir.org.testing import make_personas
from comptoir.sales import orders
from comptoir.sales.models_orders import SalesOrder
from comptoir.sales.tests.orders_kit import accepted_quote, make_shop

THREADS = 6


def run_together(work: Callable[[int], Any]) -> tuple[list[Any], list[Conflict], list[BaseException]]:
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    refused: list[Conflict] = []
    errors: list[BaseException] = []

    def thread(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(work(index))
        except Conflict as exc:
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
def test_one_quote_ordered_at_once_from_several_connections_gives_one_order() -> None:
    shop = make_shop(make_personas())
    quote = accepted_quote(shop)
    actors = [shop.actor("finance"), shop.actor("sales")]  # the company filter, the record rule

    results, refused, errors = run_together(
        lambda i: orders.order_create_from_quote(actor=actors[i % 2], quote_id=quote.pk)
    )
    assert not errors, errors[:3]
    assert len(results) == 1 and len(refused) == THREADS - 1
    assert {exc.code for exc in refused} == {"quote_already_ordered"}
    assert SalesOrder.objects.get().number == results[0].number
    assert list(IssuedNumber.objects.filter(sequence__kind="sales.order").values_list("number", flat=True)) == [
        results[0].number
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_orders_from_quotes_made_at_once_take_distinct_numbers_without_gaps() -> None:
    shop = make_shop(make_personas())
    quotes = [accepted_quote(shop, number=f"DE-{i}") for i in range(THREADS)]
    actors = [shop.actor("finance"), shop.actor("sales")]

    results, refused, errors = run_together(
        lambda i: orders.order_create_from_quote(actor=actors[i % 2], quote_id=quotes[i].pk)
    )
    assert not errors and not refused, (errors or refused)[:3]
    numbers = sorted(order.number for order in results)
    year = numbers[0].split("-")[1]
    assert numbers == [f"CO-{year}-{n:05}" for n in range(1, THREADS + 1)]
    stored = dict(SalesOrder.objects.values_list("number", "id"))
    issued = dict(IssuedNumber.objects.filter(sequence__kind="sales.order").values_list("number", "object_id"))
    assert issued == {number: str(order_id) for number, order_id in stored.items()}

"""Order to cash through the services stays within a query budget (bench/order_to_cash.py).

One flow: quote of 3 priced lines → sent → accepted → order → invoice → posted → paid, the
events' subscribers run after each commit. The ceilings are what the flow needs today plus
a small margin: a change that reads the same rows again in a loop shows up here first.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from comptoir.accounting import invoices, payments
from comptoir.accounting.models import InvoiceState
from comptoir.org.testing import Personas
from comptoir.sales import invoicing, orders, quotes
from comptoir.sales.models_orders import SalesOrder
from comptoir.sales.tests.orders_kit import Shop, make_shop, product_line

# Measured 2026-11-27 in this test, second flow (SQLite / PostgreSQL): quote 11, send 8, accept 7,
# order 14, invoice 21, post 31 / 32, pay 27 — 119 / 120 (155 / 156 in the morning, 210 / 211 the day
# before) — the subscribers' queries included, and in "post" the Factur-X PDF task (the test task
# backend runs it at once).
CEILINGS = {"quote": 12, "send": 9, "accept": 8, "order": 15, "invoice": 22, "post": 33, "pay": 28}
FLOW_CEILING = 124


@pytest.fixture
def shop(personas: Personas) -> Shop:
    return make_shop(personas)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def test_one_flow_stays_within_its_query_budget(shop: Shop, django_capture_on_commit_callbacks: Any) -> None:
    actor = shop.personas.actor("admin")
    lines = [product_line(shop.chair, "1"), product_line(shop.book, "36"), product_line(shop.design, "1.5")]
    state: dict[str, Any] = {}
    counts: dict[str, int] = {}

    def step(name: str, call: Any) -> None:
        with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
            call()
        counts[name] = len(captured)

    def quote() -> None:
        state["quote"] = quotes.quote_create(actor=actor, organization_id=shop.customer_id, lines=lines)

    def invoice() -> None:
        state["invoice"] = invoicing.invoice_order(actor=actor, order_id=state["order"].pk, mode="order")

    def post() -> None:
        state["invoice"] = invoices.invoice_post(actor=actor, invoice_id=state["invoice"].pk, render_pdf=False)

    def pay() -> None:
        total = Decimal(state["invoice"].total_amount)
        payments.payment_register(
            actor=actor, organization_id=shop.customer_id, amount=str(total), date=timezone.localdate(),
            journal_id=shop.books.ledger.journals["BQ"], method="transfer",
            allocations=[{"invoice_id": state["invoice"].pk, "amount": str(total)}],
        )  # fmt: skip

    def flow() -> None:
        step("quote", quote)
        step("send", lambda: quotes.quote_mark_sent(actor=actor, quote_id=state["quote"].pk))
        step("accept", lambda: quotes.quote_accept(actor=actor, quote_id=state["quote"].pk, version=1, by_name="J."))
        step(
            "order", lambda: state.update(order=orders.order_create_from_quote(actor=actor, quote_id=state["quote"].pk))
        )
        step("invoice", invoice)
        step("post", post)
        step("pay", pay)

    flow()  # the first one also creates the year's counters, the partner's profile and account
    flow()

    # The flow did its whole job...
    state["invoice"].refresh_from_db()
    assert state["invoice"].state == InvoiceState.PAID
    order = SalesOrder.objects.get(pk=state["order"].pk)
    assert order.number and Decimal(order.invoiced_amount) == Decimal(state["invoice"].untaxed_amount)
    # ...within its budget.
    over = {name: (counts[name], CEILINGS[name]) for name in CEILINGS if counts[name] > CEILINGS[name]}
    assert not over, f"queries over the ceiling (count, ceiling): {over}; all: {counts}"
    assert sum(counts.values()) <= FLOW_CEILING, counts

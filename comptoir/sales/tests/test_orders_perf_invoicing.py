"""What invoicing an order no longer re-reads still holds: the quantities and state counted from
data at hand, an invoice's posting that changes nothing the order counts, a credit note made in
accounting found through the event or by the next invoice, down payments still deducted."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from comptoir.accounting import invoices as acc
from comptoir.accounting.models import Invoice
from comptoir.kernel.models import OutboxEvent
from comptoir.org.testing import Personas
from comptoir.sales import deliveries, invoicing, orders
from comptoir.sales.models_orders import OrderInvoice, OrderInvoiceKind, OrderState, SalesOrder, SalesOrderLine
from comptoir.sales.tests.orders_kit import Shop, accepted_quote, confirmed_order, make_shop, product_line


@pytest.fixture
def shop(personas: Personas) -> Shop:
    return make_shop(personas)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def invoiced(order: SalesOrder) -> list[D]:
    return [line.quantity_invoiced for line in SalesOrderLine.objects.filter(order=order).order_by("position")]


def stored(order: SalesOrder) -> SalesOrder:
    return SalesOrder.objects.get(pk=order.pk)


def test_the_new_invoice_is_counted_as_a_refresh_would_count_it(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "5"), product_line(shop.design, "2")])
    finance = shop.actor("finance")
    before = {line.pk: line.updated_at for line in SalesOrderLine.objects.filter(order=order)}
    invoice = invoicing.invoice_order(actor=finance, order_id=order.pk)
    after = stored(order)
    assert invoiced(order) == [D("5.000"), D("2.000")]
    assert after.invoiced_amount == invoice.untaxed_amount == after.untaxed_amount
    assert after.state == OrderState.CONFIRMED  # the chairs are not delivered yet
    assert all(line.updated_at > before[line.pk] for line in SalesOrderLine.objects.filter(order=order))
    # A full recomputation from the link rows finds exactly what was stored.
    with orders.transaction.atomic():
        invoicing.refresh_invoiced(SalesOrder.objects.select_for_update().get(pk=order.pk))
    assert invoiced(order) == [D("5.000"), D("2.000")]
    assert stored(order).invoiced_amount == after.invoiced_amount and stored(order).state == OrderState.CONFIRMED


def test_goods_not_delivered_keep_the_order_confirmed_and_post_true_counts_the_same(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "4")], invoicing_policy="order")
    invoice = invoicing.invoice_order(actor=shop.actor("finance"), order_id=order.pk, post=True)
    assert invoice.number and invoice.state == "posted"
    assert invoiced(order) == [D("4.000")]
    assert stored(order).state == OrderState.CONFIRMED  # the chairs are not delivered yet
    deliveries.record_delivery(actor=shop.actor("finance"), order_id=order.pk, quantities={
        SalesOrderLine.objects.get(order=order).pk: "4"})  # fmt: skip
    assert stored(order).state == OrderState.DONE


def test_posting_an_order_invoice_leaves_the_order_to_the_services(
    shop: Shop, django_capture_on_commit_callbacks: Any
) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "3")])
    finance = shop.actor("finance")
    draft = invoicing.invoice_order(actor=finance, order_id=order.pk)
    with django_capture_on_commit_callbacks(execute=True):
        acc.invoice_post(actor=finance, invoice_id=draft.pk)
    event = OutboxEvent.objects.filter(name="accounting.invoice_posted").latest("id")
    assert event.payload["invoice_id"] == draft.pk and event.status == OutboxEvent.Status.DONE
    # Its draft already counted: the subscriber has nothing to recompute, and reads nothing.
    with CaptureQueriesContext(connection) as captured:
        invoicing.on_invoice_posted(event)
    assert len(captured) == 0
    assert invoiced(order) == [D("3.000")] and stored(order).invoiced_amount == draft.untaxed_amount


def test_a_credit_note_made_in_accounting_updates_the_order_when_posted(
    shop: Shop, django_capture_on_commit_callbacks: Any
) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "5"), product_line(shop.design, "1")])
    finance = shop.actor("finance")
    invoice = invoicing.invoice_order(actor=finance, order_id=order.pk, post=True)
    # Made on the invoice page: no source, not linked to the order until the order looks for it.
    credit = acc.invoice_credit(actor=finance, invoice_id=invoice.pk, lines=[{"line": 1, "quantity": "2"}])
    assert not OrderInvoice.objects.filter(invoice=credit).exists()
    with django_capture_on_commit_callbacks(execute=True):
        acc.invoice_post(actor=finance, invoice_id=credit.pk)
    assert OrderInvoice.objects.get(invoice=credit).kind == OrderInvoiceKind.CREDIT_NOTE
    assert invoiced(order) == [D("3.000"), D("1.000")]
    assert stored(order).invoiced_amount == D("450.00") + D("240.00")
    assert stored(order).state == OrderState.CONFIRMED
    rebill = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert [(line.name, line.quantity) for line in rebill.lines.all()] == [("Chaise", D("2.000"))]


def test_the_next_invoice_finds_a_posted_credit_note_whose_event_did_not_run(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "3")])
    finance = shop.actor("finance")
    invoice = invoicing.invoice_order(actor=finance, order_id=order.pk, post=True)
    credit = acc.invoice_credit(actor=finance, invoice_id=invoice.pk, lines=[{"line": 1, "quantity": "1"}])
    acc.invoice_post(actor=finance, invoice_id=credit.pk)  # its event not dispatched (a task, later)
    assert invoiced(order) == [D("3.000")]
    rebill = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert OrderInvoice.objects.get(invoice=credit).kind == OrderInvoiceKind.CREDIT_NOTE
    assert [(line.name, line.quantity) for line in rebill.lines.all()] == [("Chaise", D("1.000"))]
    assert invoiced(order) == [D("3.000")] and stored(order).invoiced_amount == D("240.00")


def test_down_payment_by_amount_counts_what_is_billed_and_takes_the_next_plan_position(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.design, "2")])  # 900.00 excluding VAT
    finance = shop.actor("finance")
    invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", amount="500")
    with pytest.raises(orders.ValidationFailed) as too_much:
        invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", amount="401")
    assert "amount" in too_much.value.fields
    second = invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", percent="10")
    assert second.untaxed_amount == D("90.00")
    assert list(order.milestones.order_by("position").values_list("position", "amount", "percent")) == [
        (1, D("500.00"), None), (2, None, D("10.00"))]  # fmt: skip
    assert stored(order).invoiced_amount == D("590.00") and invoiced(order) == [D("0.000")]


def test_order_from_a_quote_copies_the_lines_and_is_numbered(shop: Shop) -> None:
    quote = accepted_quote(shop)
    order = orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=quote.pk)
    saved = stored(order)
    assert saved.state == OrderState.CONFIRMED and saved.number and saved.number == order.number
    assert saved.quote_id == quote.pk and saved.total_amount == order.total_amount > 0
    assert saved.created_at is not None and saved.confirmed_at is not None
    lines = list(SalesOrderLine.objects.filter(order=saved).order_by("position"))
    copied = quote.lines.exclude(optional=True, selected=False).order_by("position").values_list("pk", flat=True)
    assert [line.quote_line_id for line in lines] == list(copied)  # the refused option left out
    assert not Invoice.objects.filter(source_id=str(order.pk)).exists()


@pytest.mark.parametrize("gone", ["delete", "cancel"])
def test_a_draft_deleted_or_cancelled_in_accounting_is_no_longer_counted_by_its_order(
    shop: Shop, gone: str, django_capture_on_commit_callbacks: Any
) -> None:
    # 5 chairs invoiced on delivery: 3 delivered and drafted (A), 2 delivered and drafted (B): the order is done.
    order = confirmed_order(shop, [product_line(shop.chair, "5")], invoicing_policy="delivery")
    finance = shop.actor("finance")
    line_id = SalesOrderLine.objects.get(order=order).pk
    deliveries.record_delivery(actor=finance, order_id=order.pk, quantities={line_id: "3"})
    first = invoicing.invoice_order(actor=finance, order_id=order.pk)
    deliveries.record_delivery(actor=finance, order_id=order.pk, quantities={line_id: "2"})
    second = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert invoiced(order) == [D("5.000")] and stored(order).state == OrderState.DONE
    # The accountant removes A on the invoice pages, then posts B.
    with django_capture_on_commit_callbacks(execute=True):
        if gone == "delete":
            acc.invoice_delete(actor=finance, invoice_id=first.pk)
        else:
            acc.invoice_cancel(actor=finance, invoice_id=first.pk)
    assert invoiced(order) == [D("2.000")]
    assert stored(order).state == OrderState.CONFIRMED and stored(order).invoiced_amount == second.untaxed_amount
    with django_capture_on_commit_callbacks(execute=True):
        acc.invoice_post(actor=finance, invoice_id=second.pk)
    # The 3 chairs of A can be invoiced again.
    again = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert again.untaxed_amount == first.untaxed_amount
    assert invoiced(order) == [D("5.000")] and stored(order).state == OrderState.DONE

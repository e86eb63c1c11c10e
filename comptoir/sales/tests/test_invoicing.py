"""Invoicing sales orders: on order and on delivery, exact quantities, down payment deducted on
the final invoice with a balanced ledger, milestones adding up to 100 %, drafts deleted or
cancelled in accounting, credit notes, the invoice's link back to its order."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from django.utils import translation

from comptoir.accounting import invoices as acc
from comptoir.accounting import source_links
from comptoir.accounting.models import Invoice, InvoiceState
from comptoir.accounting.tests.invoices_kit import by_account
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.org.testing import Personas
from comptoir.sales import deliveries, invoicing, orders
from comptoir.sales.models_orders import (
    InvoicingMilestone,
    OrderInvoice,
    OrderInvoiceKind,
    OrderState,
    SalesOrder,
    SalesOrderLine,
)
from comptoir.sales.tests.orders_kit import (
    Shop,
    account_balance,
    confirmed_order,
    ledger_balance,
    make_shop,
    product_line,
)


@pytest.fixture
def shop(personas: Personas) -> Shop:
    return make_shop(personas)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def quantities(order: SalesOrder) -> list[tuple[D, D, D]]:
    rows = SalesOrderLine.objects.filter(order=order, kind="product").order_by("position")
    return [(r.quantity, r.quantity_delivered, r.quantity_invoiced) for r in rows]


def post(shop: Shop, invoice: Invoice) -> Invoice:
    return acc.invoice_post(actor=shop.actor("finance"), invoice_id=invoice.pk)


def balanced(shop: Shop) -> None:
    debit, credit = ledger_balance(shop.company_id)
    assert debit == credit > 0


# --- On order, on delivery -------------------------------------------------------------


def test_invoice_on_order_bills_everything_once_linked_both_ways(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "3"), product_line(shop.design, "1.5", "400.00")])
    finance = shop.actor("finance")
    invoice = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert invoice.state == InvoiceState.DRAFT
    assert (invoice.source_type, invoice.source_id) == ("sales.order", str(order.pk))
    assert invoice.untaxed_amount == order.untaxed_amount == D("840.00")
    assert invoice.total_amount == order.total_amount == D("1008.00")
    assert [(r.name, r.quantity, r.net_amount) for r in invoice.lines.order_by("sequence")] == [
        ("Chaise", D("3.000"), D("240.00")), ("Conception", D("1.500"), D("600.00"))]  # fmt: skip
    assert quantities(order) == [(D("3.000"), D("0.000"), D("3.000")), (D("1.500"), D("0.000"), D("1.500"))]
    link = OrderInvoice.objects.get(invoice=invoice)
    assert link.order_id == order.pk and link.kind == OrderInvoiceKind.FINAL
    # Nothing left: a second call is refused, nothing is written.
    with pytest.raises(ValidationFailed) as nothing:
        invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert nothing.value.code == "nothing_to_invoice"
    assert Invoice.objects.count() == 1
    posted = post(shop, invoice)
    assert by_account(posted) == {"411": D("1008.00"), "707": D("-240.00"), "706": D("-600.00"),
                                  "44571": D("-48.00"), "44574": D("-120.00")}  # fmt: skip
    # The invoice page's link back to the order.
    link_back = source_links.resolve(finance, "sales.order", str(order.pk))
    assert link_back is not None and order.number in link_back.label and link_back.url.endswith(f"/{order.pk}/")
    assert source_links.resolve(shop.personas.outsider_actor(), "sales.order", str(order.pk)) is None


def test_invoice_on_delivery_bills_what_was_delivered(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "10"), product_line(shop.book, "4")],
                            invoicing_policy="delivery")  # fmt: skip
    chair, book = SalesOrderLine.objects.filter(order=order).order_by("position")
    finance = shop.actor("finance")
    with pytest.raises(ValidationFailed):
        invoicing.invoice_order(actor=finance, order_id=order.pk)
    deliveries.record_delivery(actor=finance, order_id=order.pk, quantities={chair.pk: "4", book.pk: "4"})
    first = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert [(r.name, r.quantity) for r in first.lines.order_by("sequence")] == [("Chaise", D("4.000")),
                                                                                ("Livre", D("4.000"))]  # fmt: skip
    assert OrderInvoice.objects.get(invoice=first).kind == OrderInvoiceKind.REGULAR
    deliveries.record_delivery(actor=finance, order_id=order.pk, quantities={chair.pk: "6"})
    second = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert [(r.name, r.quantity) for r in second.lines.order_by("sequence")] == [("Chaise", D("6.000"))]
    assert quantities(order) == [(D("10.000"), D("10.000"), D("10.000")), (D("4.000"), D("4.000"), D("4.000"))]
    assert first.untaxed_amount + second.untaxed_amount == order.untaxed_amount
    assert SalesOrder.objects.get(pk=order.pk).state == OrderState.DONE


def test_deleted_or_cancelled_draft_releases_its_quantities(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "5")])
    finance = shop.actor("finance")
    draft = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert quantities(order)[0][2] == D("5.000")
    acc.invoice_delete(actor=finance, invoice_id=draft.pk)  # from the accounting pages
    again = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert again.lines.get().quantity == D("5.000")
    acc.invoice_cancel(actor=finance, invoice_id=again.pk)
    third = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert third.lines.get().quantity == D("5.000")
    assert quantities(order)[0][2] == D("5.000")


def test_credit_note_from_accounting_reduces_the_invoiced_quantity(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "5"), product_line(shop.design, "1")])
    finance = shop.actor("finance")
    invoice = post(shop, invoicing.invoice_order(actor=finance, order_id=order.pk))
    # A partial credit note made on the invoice page (accounting knows nothing of the order).
    credit = acc.invoice_credit(actor=finance, invoice_id=invoice.pk, lines=[{"line": 1, "quantity": "2"}])
    with orders.transaction.atomic():
        invoicing.refresh_invoiced(SalesOrder.objects.select_for_update().get(pk=order.pk))
    assert quantities(order)[0][2] == D("5.000")  # a draft credit note does not count
    post(shop, credit)
    with orders.transaction.atomic():
        invoicing.refresh_invoiced(SalesOrder.objects.select_for_update().get(pk=order.pk))
    assert quantities(order)[0][2] == D("3.000")
    assert OrderInvoice.objects.get(invoice=credit).kind == OrderInvoiceKind.CREDIT_NOTE
    order = SalesOrder.objects.get(pk=order.pk)
    assert order.state == OrderState.CONFIRMED
    assert order.invoiced_amount == D("450.00") + D("240.00")
    rebill = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert [(r.name, r.quantity) for r in rebill.lines.all()] == [("Chaise", D("2.000"))]


def test_posting_the_credit_note_updates_the_order_through_the_event(
    shop: Shop, django_capture_on_commit_callbacks: Any
) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "5")])
    finance = shop.actor("finance")
    invoice = post(shop, invoicing.invoice_order(actor=finance, order_id=order.pk))
    credit = invoicing.order_credit(actor=finance, order_id=order.pk, invoice_id=invoice.pk)
    assert credit.source_type == "sales.order"
    with django_capture_on_commit_callbacks(execute=True):
        post(shop, credit)
    assert quantities(order)[0][2] == D("0.000")
    balanced(shop)


# --- Down payments --------------------------------------------------------------------


def test_down_payment_is_deducted_on_the_final_invoice_and_the_ledger_balances(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "10"), product_line(shop.design, "2"),
                                   product_line(shop.book, "5")])  # fmt: skip
    # 800 (goods 20 %) + 900 (services 20 %) + 100 (goods 5.5 %) = 1800.00 excluding VAT.
    assert order.untaxed_amount == D("1800.00")
    finance = shop.actor("finance")
    down = invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", percent="30")
    assert down.untaxed_amount == D("540.00")
    dp_lines = list(down.lines.order_by("sequence").values_list("account__code", "vat_category", "operation",
                                                                "net_amount"))  # fmt: skip
    # Split by VAT treatment in proportion to the order: 240 + 270 + 30.
    assert dp_lines == [("4191", "standard", "goods", D("240.00")), ("4191", "standard", "services", D("270.00")),
                        ("4191", "reduced", "goods", D("30.00"))]  # fmt: skip
    assert down.tax_amount == D("48.00") + D("54.00") + D("1.65")
    assert OrderInvoice.objects.get(invoice=down).kind == OrderInvoiceKind.DOWN_PAYMENT
    assert quantities(order)[0][2] == 0  # a down payment bills no quantity
    # The final invoice waits for the down payment to be posted.
    with pytest.raises(Conflict):
        invoicing.invoice_order(actor=finance, order_id=order.pk)
    post(shop, down)
    assert account_balance(shop.company_id, "4191") == D("-540.00")
    final = invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert OrderInvoice.objects.get(invoice=final).kind == OrderInvoiceKind.FINAL
    deductions = final.lines.filter(quantity__lt=0)
    assert deductions.count() == 3 and set(deductions.values_list("account__code", flat=True)) == {"4191"}
    assert final.untaxed_amount == D("1260.00")
    assert down.total_amount + final.total_amount == order.total_amount
    post(shop, final)
    assert account_balance(shop.company_id, "4191") == 0
    assert account_balance(shop.company_id, "411") == order.total_amount
    assert account_balance(shop.company_id, "707") == D("-900.00")
    assert account_balance(shop.company_id, "706") == D("-900.00")
    balanced(shop)
    order = SalesOrder.objects.get(pk=order.pk)
    assert order.invoiced_amount == order.untaxed_amount
    assert all(q[2] == q[0] for q in quantities(order))


def test_down_payment_amount_and_limits(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "10")])  # 800.00
    finance = shop.actor("finance")
    with pytest.raises(ValidationFailed) as both:
        invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", percent="10", amount="50")
    assert "percent" in both.value.fields
    with pytest.raises(ValidationFailed) as too_much:
        invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", amount="800.01")
    assert "amount" in too_much.value.fields
    with pytest.raises(ValidationFailed) as bad_mode:
        invoicing.invoice_order(actor=finance, order_id=order.pk, mode="whenever")
    assert "mode" in bad_mode.value.fields
    down = invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", amount="250.00")
    assert down.untaxed_amount == D("250.00") and down.total_amount == D("300.00")
    assert InvoicingMilestone.objects.get(order=order).invoice_id == down.pk
    with pytest.raises(ValidationFailed):
        invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", amount="550.01")


# --- Milestones -----------------------------------------------------------------------


def test_milestones_must_add_up_to_100_percent(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "1")])
    with pytest.raises(ValidationFailed) as caught:
        orders.order_set_plan(actor=shop.actor("sales"), order_id=order.pk, milestones=[
            {"kind": "milestone", "label": "Études", "percent": "30"},
            {"kind": "milestone", "label": "Livraison", "percent": "60"},
        ])  # fmt: skip
    assert "milestones" in caught.value.fields
    with pytest.raises(ValidationFailed) as amount:
        orders.order_set_plan(actor=shop.actor("sales"), order_id=order.pk, milestones=[
            {"kind": "milestone", "label": "Tout", "amount": "80"}])  # fmt: skip
    assert "milestones.0.amount" in amount.value.fields
    assert not InvoicingMilestone.objects.exists()


def test_milestones_bill_exactly_the_order_and_deduct_the_down_payment(shop: Shop) -> None:
    # Prices chosen so that a third of each VAT base does not fall on a cent.
    order = confirmed_order(shop, [product_line(shop.chair, "1", "100.01"), product_line(shop.book, "1", "10.01"),
                                   product_line(shop.design, "1", "333.34")])  # fmt: skip
    orders.order_set_plan(actor=shop.actor("sales"), order_id=order.pk, milestones=[
        {"kind": "down_payment", "label": "Acompte", "percent": "10"},
        {"kind": "milestone", "label": "Commande", "percent": "33.33"},
        {"kind": "milestone", "label": "Pose", "percent": "33.33"},
        {"kind": "milestone", "label": "Réception", "percent": "33.34"},
    ])  # fmt: skip
    finance = shop.actor("finance")
    down = post(shop, invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment"))
    assert down.untaxed_amount == D("44.34")  # 10 % of 443.36
    with pytest.raises(Conflict):
        invoicing.invoice_order(actor=finance, order_id=order.pk, mode="order")
    bills = [post(shop, invoicing.invoice_order(actor=finance, order_id=order.pk)) for _ in range(3)]
    kinds = [OrderInvoice.objects.get(invoice=b).kind for b in bills]
    assert kinds == [OrderInvoiceKind.MILESTONE, OrderInvoiceKind.MILESTONE, OrderInvoiceKind.FINAL]
    milestone_nets = sum((b.untaxed_amount for b in bills), D(0)) + down.untaxed_amount
    assert milestone_nets == order.untaxed_amount == D("443.36")
    # VAT is rounded once per invoice (as the law wants), so including VAT the sum may differ by cents.
    assert abs(sum((b.total_amount for b in bills), D(0)) + down.total_amount - order.total_amount) <= D("0.04")
    assert account_balance(shop.company_id, "4191") == 0
    balanced(shop)
    order = SalesOrder.objects.get(pk=order.pk)
    assert order.state == OrderState.CONFIRMED  # goods are still to deliver
    assert all(q[2] == q[0] for q in quantities(order))
    with pytest.raises(ValidationFailed):
        invoicing.invoice_order(actor=finance, order_id=order.pk)


def test_down_payment_credited_in_full_is_not_deducted(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.design, "2")])  # 900.00
    finance = shop.actor("finance")
    down = post(shop, invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", amount="300"))
    partial = post(shop, acc.invoice_credit(actor=finance, invoice_id=down.pk, lines=[{"line": 1, "quantity": "0.5"}]))
    with pytest.raises(Conflict) as refused:
        invoicing.invoice_order(actor=finance, order_id=order.pk)
    assert refused.value.code == "down_payment_partly_credited"
    post(shop, acc.invoice_credit(actor=finance, invoice_id=down.pk, lines=[{"line": 1, "quantity": "0.5"}]))
    assert partial.total_amount == D("180.00")
    final = post(shop, invoicing.invoice_order(actor=finance, order_id=order.pk))
    assert final.untaxed_amount == D("900.00") and not final.lines.filter(quantity__lt=0).exists()
    assert account_balance(shop.company_id, "4191") == 0
    balanced(shop)

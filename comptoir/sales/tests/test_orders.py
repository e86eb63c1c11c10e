"""Sales order services: from an accepted quote, numbering at confirmation, modification and
cancellation rules, permissions, bad input, the opportunity won through the event, deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from django.utils import timezone, translation

from comptoir.crm.models import Opportunity, OpportunityStatus
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, IssuedNumber, OutboxEvent
from comptoir.org.testing import Personas
from comptoir.sales import deliveries, invoicing, orders
from comptoir.sales.models_orders import OrderState, SalesOrder, SalesOrderLine
from comptoir.sales.order_selectors import order_get, order_list
from comptoir.sales.tests.orders_kit import Shop, accepted_quote, confirmed_order, make_shop, opportunity, product_line


def year_of(order: SalesOrder) -> int:
    """The year in the order's number: that of its confirmation (Europe/Paris), not of the import
    of this module (a run crossing midnight on 31 December would expect the old year)."""
    assert order.confirmed_at is not None
    return timezone.localtime(order.confirmed_at).year


@pytest.fixture
def shop(personas: Personas) -> Shop:
    return make_shop(personas)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def lines_of(order) -> list[SalesOrderLine]:  # type: ignore[no-untyped-def]
    return list(SalesOrderLine.objects.filter(order=order).order_by("position"))


# --- From a quote ---------------------------------------------------------------------


def test_accepted_quote_becomes_a_confirmed_numbered_order_with_its_lines(shop: Shop) -> None:
    quote = accepted_quote(shop)
    order = orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=quote.pk)
    assert order.state == OrderState.CONFIRMED
    assert order.number == f"CO-{year_of(order)}-00001"
    assert order.confirmed_at is not None
    lines = lines_of(order)
    # Section, chair, text, design, the selected option; the refused option is left out.
    assert [(line.kind, line.name) for line in lines] == [
        ("section", "Salon"), ("product", "Chaise"), ("text", "Livraison sous 3 semaines"),
        ("product", "Conception"), ("product", "Livre (option retenue)"),
    ]  # fmt: skip
    assert [line.net_amount for line in lines if line.kind == "product"] == [D("480.00"), D("810.00"), D("20.00")]
    # 20 % on 1290.00 = 258.00, 5.5 % on 20.00 = 1.10.
    assert (order.untaxed_amount, order.tax_amount, order.total_amount) == (D("1310.00"), D("259.10"), D("1569.10"))
    issued = IssuedNumber.objects.filter(sequence__kind="sales.order", number=order.number)
    assert issued.filter(object_id=str(order.pk)).exists()
    assert AuditEntry.objects.filter(action="sales_order.confirm", object_id=str(order.pk)).exists()


def test_quote_document_discount_is_folded_into_the_order_prices(shop: Shop) -> None:
    quote = accepted_quote(shop, discount="10")
    order = orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=quote.pk)
    chair = lines_of(order)[1]
    assert chair.unit_price == D("72.0000")
    assert order.untaxed_amount == D("1179.00")  # 432 + 729 + 18


def test_a_quote_that_is_not_accepted_or_already_ordered_is_refused(shop: Shop) -> None:
    sent = accepted_quote(shop, state="sent", number="DE-2")
    with pytest.raises(Conflict) as refused:
        orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=sent.pk)
    assert refused.value.code == "quote_not_accepted"
    quote = accepted_quote(shop)
    orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=quote.pk)
    with pytest.raises(Conflict) as twice:
        orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=quote.pk)
    assert twice.value.code == "quote_already_ordered"
    with pytest.raises(NotFound):
        orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=10**9)
    with pytest.raises(NotFound):
        orders.order_create_from_quote(actor=shop.personas.outsider_actor(), quote_id=quote.pk)


def test_confirming_marks_the_opportunity_won_through_the_event_once(
    shop: Shop, django_capture_on_commit_callbacks: Any
) -> None:
    opp = opportunity(shop)
    quote = accepted_quote(shop, opportunity_id=opp.pk)
    with django_capture_on_commit_callbacks(execute=True):
        order = orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=quote.pk)
    event = OutboxEvent.objects.get(name="sales.order_confirmed")
    assert event.payload["opportunity_id"] == opp.pk and event.payload["order_id"] == order.pk
    assert event.status == OutboxEvent.Status.DONE
    opp.refresh_from_db()
    assert opp.status == OpportunityStatus.WON
    # A second order on the same opportunity leaves it won, without a second "won" event.
    with django_capture_on_commit_callbacks(execute=True):
        second = confirmed_order(shop, [product_line(shop.chair, "1")], opportunity_id=opp.pk)
    assert second.number == f"CO-{year_of(second)}-00002"
    assert Opportunity.objects.get(pk=opp.pk).status == OpportunityStatus.WON
    assert OutboxEvent.objects.filter(name="crm.opportunity_won").count() == 1


# --- Direct orders, numbering ---------------------------------------------------------


def test_draft_has_no_number_until_confirmed_and_numbers_have_no_gap(shop: Shop) -> None:
    actor = shop.actor("sales")
    first = orders.order_create(actor=actor, organization_id=shop.customer_id, lines=[product_line(shop.chair, "2")])
    second = orders.order_create(actor=actor, organization_id=shop.customer_id, lines=[product_line(shop.book, "1")])
    assert first.number == "" and first.state == OrderState.DRAFT
    orders.order_confirm(actor=actor, order_id=second.pk)
    orders.order_cancel(actor=actor, order_id=first.pk, reason="Doublon")
    third = confirmed_order(shop, [product_line(shop.chair, "1")])
    numbers = sorted(IssuedNumber.objects.filter(sequence__kind="sales.order").values_list("number", flat=True))
    second.refresh_from_db()
    assert numbers == [f"CO-{year_of(second)}-00001", f"CO-{year_of(third)}-00002"]
    assert third.number == f"CO-{year_of(third)}-00002"
    with pytest.raises(Conflict):
        orders.order_confirm(actor=actor, order_id=second.pk)


def test_bad_input_is_reported_per_field_and_nothing_is_written(shop: Shop) -> None:
    actor = shop.actor("sales")
    with pytest.raises(ValidationFailed) as caught:
        orders.order_create(actor=actor, organization_id="x", invoicing_policy="later", colour="red", lines=[
            {"product_id": shop.chair.pk, "quantity": "-1"}, {"description": "", "unit_price": 1.5},
            {"kind": "section"}, "nope",
        ])  # fmt: skip
    fields = caught.value.fields
    assert {"organization_id", "invoicing_policy", "colour", "lines.0.quantity", "lines.1.description",
            "lines.1.unit_price", "lines.2.description", "lines.3"} <= set(fields)  # fmt: skip
    with pytest.raises(ValidationFailed) as empty:
        order = orders.order_create(actor=actor, organization_id=shop.customer_id, lines=[])
        orders.order_confirm(actor=actor, order_id=order.pk)
    assert "lines" in empty.value.fields
    assert not SalesOrderLine.objects.exists()


def test_permissions_and_record_rules(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "2")])
    with pytest.raises(PermissionDenied):
        orders.order_create(actor=shop.actor("service"), organization_id=shop.customer_id,
                            lines=[product_line(shop.chair, "1")])  # fmt: skip
    with pytest.raises(PermissionDenied):
        orders.order_cancel(actor=shop.actor("service"), order_id=order.pk)
    assert order_get(shop.actor("service"), order.pk).pk == order.pk  # service may look
    with pytest.raises(NotFound):
        order_get(shop.personas.outsider_actor(), order.pk)
    with pytest.raises(NotFound):
        orders.order_cancel(actor=shop.personas.outsider_actor(), order_id=order.pk)
    with pytest.raises(PermissionDenied):
        order_list(shop.actor("marketing"))
    # A salesperson invoices nothing: that needs the accounting right too.
    with pytest.raises(PermissionDenied):
        invoicing.invoice_order(actor=shop.actor("sales"), order_id=order.pk)
    assert list(order_list(shop.actor("finance"), {"state": "confirmed"})) == [order]
    with pytest.raises(ValidationFailed):
        order_list(shop.actor("finance"), {"state": "lost", "scope": "theirs"})


# --- Modification and cancellation rules ----------------------------------------------


def test_confirmed_order_quantities_grow_but_never_below_delivered_or_invoiced(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "10"), product_line(shop.design, "2")])
    chair, design = lines_of(order)
    deliveries.record_delivery(actor=shop.actor("sales"), order_id=order.pk, quantities={chair.pk: "4"},
                               reference="BL-1")  # fmt: skip
    invoicing.invoice_order(actor=shop.actor("finance"), order_id=order.pk, mode="delivery")
    actor = shop.actor("sales")
    keep = [{"id": chair.pk, "product_id": shop.chair.pk, "quantity": "3", "unit_price": "80.00"},
            {"id": design.pk, "product_id": shop.design.pk, "quantity": "2"}]  # fmt: skip
    with pytest.raises(ValidationFailed) as below:
        orders.order_update(actor=actor, order_id=order.pk, lines=keep)
    assert "lines.0.quantity" in below.value.fields
    keep[0]["unit_price"] = "70.00"
    keep[0]["quantity"] = "12"
    with pytest.raises(ValidationFailed) as price:
        orders.order_update(actor=actor, order_id=order.pk, lines=keep)
    assert "lines.0.unit_price" in price.value.fields
    with pytest.raises(ValidationFailed) as removed:
        orders.order_update(actor=actor, order_id=order.pk, lines=keep[1:])
    assert "lines" in removed.value.fields
    keep[0]["unit_price"] = "80.00"
    updated = orders.order_update(actor=actor, order_id=order.pk, lines=[*keep, product_line(shop.book, "5")])
    assert [line.quantity for line in lines_of(updated)] == [D("12.000"), D("2.000"), D("5.000")]
    assert updated.untaxed_amount == D("960.00") + D("900.00") + D("100.00")
    assert lines_of(updated)[0].quantity_invoiced == D("4.000")


def test_cancel_is_refused_while_invoiced_and_allowed_once_credited(shop: Shop) -> None:
    from comptoir.accounting import invoices as acc

    order = confirmed_order(shop, [product_line(shop.design, "1")])
    finance = shop.actor("finance")
    draft = invoicing.invoice_order(actor=finance, order_id=order.pk)
    with pytest.raises(Conflict) as drafts:
        orders.order_cancel(actor=finance, order_id=order.pk)
    assert drafts.value.code == "order_has_draft_invoices"
    acc.invoice_post(actor=finance, invoice_id=draft.pk)
    with pytest.raises(Conflict) as invoiced:
        orders.order_cancel(actor=finance, order_id=order.pk)
    assert invoiced.value.code == "order_invoiced"
    credit = invoicing.order_credit(actor=finance, order_id=order.pk, invoice_id=draft.pk)
    acc.invoice_post(actor=finance, invoice_id=credit.pk)
    cancelled = orders.order_cancel(actor=finance, order_id=order.pk, reason="Client a renoncé")
    assert cancelled.state == OrderState.CANCELLED
    assert lines_of(cancelled)[0].quantity_invoiced == 0
    assert cancelled.invoiced_amount == 0


def test_cancel_is_refused_once_delivered(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "2")])
    chair = lines_of(order)[0]
    deliveries.record_delivery(actor=shop.actor("sales"), order_id=order.pk, quantities={str(chair.pk): "1"})
    with pytest.raises(Conflict) as refused:
        orders.order_cancel(actor=shop.actor("sales"), order_id=order.pk)
    assert refused.value.code == "order_delivered"


# --- Deliveries -----------------------------------------------------------------------


def test_deliverable_lines_and_recording_deliveries(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "5"), product_line(shop.design, "1")])
    actor = shop.actor("sales")
    chair = lines_of(order)[0]
    pending = deliveries.deliverable_lines(actor, order.pk)
    assert [(p.order_line_id, p.to_deliver) for p in pending] == [(chair.pk, D("5.000"))]  # services excluded
    result = deliveries.record_delivery(actor=actor, order_id=order.pk, quantities={chair.pk: "3"},
                                        reference="BL-7", date="2026-01-15")  # fmt: skip
    assert result.reference == "BL-7" and result.quantities == {chair.pk: D("3.000")}
    assert deliveries.deliverable_lines(actor, order.pk)[0].to_deliver == D("2.000")
    with pytest.raises(ValidationFailed) as too_many:
        deliveries.record_delivery(actor=actor, order_id=order.pk, quantities={chair.pk: "3"})
    assert f"quantities.{chair.pk}" in too_many.value.fields
    with pytest.raises(ValidationFailed) as bad:
        deliveries.record_delivery(actor=actor, order_id=order.pk, quantities={"999999": "1", chair.pk: "x"})
    assert {"quantities.999999", f"quantities.{chair.pk}"} <= set(bad.value.fields)
    deliveries.record_delivery(actor=actor, order_id=order.pk, quantities={chair.pk: "-1"}, reference="Retour")
    assert SalesOrderLine.objects.get(pk=chair.pk).quantity_delivered == D("2.000")
    assert OutboxEvent.objects.filter(name="sales.order_delivered").count() == 2

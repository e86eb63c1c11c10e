"""Orders and invoicing through statements written once: the reads that replace a record rule's
read for an actor who sees every row return what the rule's read returns and refuse what it
refuses; the lines and counted quantities read in plain SQL are those the ORM reads; an order
made from a quote is inserted with its number; the site sent with a quote's order."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from django.core.exceptions import FieldFetchBlocked
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from comptoir.accounting import invoices as acc
from comptoir.accounting.models import Invoice
from comptoir.contacts.selectors import visible_organizations
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, DocumentSequence, IssuedNumber
from comptoir.org import services as org_services
from comptoir.org.models import Site
from comptoir.org.testing import Personas
from comptoir.sales import deliveries, invoicing, orders
from comptoir.sales.models_orders import InvoicingMilestone, OrderInvoiceLine, OrderState, SalesOrder, SalesOrderLine
from comptoir.sales.models_quotes import Quote, QuoteLine
from comptoir.sales.tests.orders_kit import Shop, accepted_quote, confirmed_order, make_shop, product_line

pytestmark = pytest.mark.django_db
API = "/api/v1/sales"
# What a salesperson needs to make and invoice orders, without seeing every customer or order.
SELLER = frozenset({"contacts.view_contact", "sales.view_orders", "sales.manage_orders", "accounting.manage_invoices",
                    "accounting.view_invoices"})  # fmt: skip


@pytest.fixture
def shop(personas: Personas) -> Shop:
    return make_shop(personas)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def seller(shop: Shop, role: str = "sales") -> Actor:
    """A user of ``role`` with the seller's rights only (the record rules apply to them)."""
    actor = shop.actor(role)
    return dataclasses.replace(actor, permissions=SELLER)


def attnames(model: type[Any], names: tuple[str, ...]) -> list[str]:
    return [model._meta.get_field(name).attname for name in names]


def order_values(order: SalesOrder) -> dict[str, Any]:
    skip = {"id", "number", "quote", "created_at", "updated_at", "confirmed_at", "owner", "created_by"}
    return {f.attname: getattr(order, f.attname) for f in SalesOrder._meta.concrete_fields if f.name not in skip}


def line_values(order: SalesOrder) -> list[tuple[Any, ...]]:
    return list(SalesOrderLine.objects.filter(order=order).order_by("position").values_list(
        "position", "kind", "product_id", "description", "operation", "quantity", "uom_id", "unit_price",
        "discount_percent", "vat_code", "tax_category", "vat_rate", "net_amount"))  # fmt: skip


# --- The quote an order is made from ----------------------------------------------------


def test_quote_read_through_the_company_filter_and_the_contacts_rule_agree(shop: Shop) -> None:
    finance, sales = shop.actor("finance"), seller(shop)
    assert finance.has_perm("contacts.view_all_contacts") and not sales.has_perm("contacts.view_all_contacts")
    quote = accepted_quote(shop)
    with transaction.atomic():
        fast, ruled = orders._quote_to_order(finance, quote.pk), orders._quote_to_order(sales, quote.pk)
    assert fast is not None and ruled is not None
    columns = attnames(Quote, ("id", *orders.QUOTE_COLUMNS))
    assert [getattr(fast, name) for name in columns] == [getattr(ruled, name) for name in columns]
    # Two quotes alike give two orders alike, whichever read found them.
    twin = accepted_quote(shop, number="DE-2")
    by_finance = orders.order_create_from_quote(actor=finance, quote_id=quote.pk)
    by_sales = orders.order_create_from_quote(actor=sales, quote_id=twin.pk)
    by_finance, by_sales = SalesOrder.objects.get(pk=by_finance.pk), SalesOrder.objects.get(pk=by_sales.pk)
    assert order_values(by_finance) == order_values(by_sales)
    assert line_values(by_finance) == line_values(by_sales)


def test_quote_read_refuses_what_the_rule_refuses(shop: Shop) -> None:
    quote = accepted_quote(shop)
    stranger = seller(shop, "marketing")  # owns no customer, in no team of the customer's owner
    assert not visible_organizations(stranger).filter(pk=shop.customer_id).exists()
    outsider = shop.personas.outsider_actor()  # every right, in another company
    assert outsider.has_perm("contacts.view_all_contacts")
    blind = dataclasses.replace(shop.actor("finance"), permissions=shop.actor("finance").permissions
                                - {"contacts.view_contact"})  # fmt: skip
    for actor in (stranger, outsider, blind):
        with pytest.raises(NotFound):
            orders.order_create_from_quote(actor=actor, quote_id=quote.pk)
    assert not SalesOrder.objects.exists()


# --- An order made from a quote is inserted with its number --------------------------


def test_order_from_a_quote_is_inserted_numbered_and_both_steps_are_audited(shop: Shop) -> None:
    quote = accepted_quote(shop)
    with CaptureQueriesContext(connection) as queries:
        order = orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=quote.pk)
    table = SalesOrder._meta.db_table
    assert not [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'UPDATE "{table}"')]
    stored = SalesOrder.objects.get(pk=order.pk)
    assert (stored.number, stored.state, stored.confirmed_at) == (order.number, OrderState.CONFIRMED,
                                                                  order.confirmed_at)  # fmt: skip
    assert IssuedNumber.objects.get(number=order.number, sequence__kind="sales.order").object_id == str(order.pk)
    entries = list(AuditEntry.objects.filter(object_type="sales.salesorder", object_id=str(order.pk))
                   .order_by("id").values_list("action", "changes"))  # fmt: skip
    assert entries == [
        ("sales_order.create", {"quote_id": [None, quote.pk], "organization_id": [None, shop.customer_id],
                                "total": [None, "1569.10"]}),
        ("sales_order.confirm", {"state": ["draft", "confirmed"], "number": [None, order.number]}),
    ]  # fmt: skip


def test_quote_without_product_line_takes_no_number_and_writes_nothing(shop: Shop) -> None:
    quote = accepted_quote(shop)
    QuoteLine.objects.filter(quote=quote, kind="product").delete()
    counters = list(DocumentSequence.objects.values_list("kind", "year", "next_value").order_by("id"))
    with pytest.raises(ValidationFailed) as refused:
        orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=quote.pk)
    assert set(refused.value.fields) == {"lines"}
    assert not SalesOrder.objects.exists()
    assert list(DocumentSequence.objects.values_list("kind", "year", "next_value").order_by("id")) == counters


# --- The site of an order made from a quote --------------------------------------------


@pytest.fixture
def branch(personas: Personas) -> Site:
    return Site.objects.create(company=personas.company, name="Atelier Grenoble", siret="84215763800029")


def quote_with_site(shop: Shop, site: Site | None, number: str = "DE-1") -> Quote:
    quote = accepted_quote(shop, number=number)
    Quote.objects.filter(pk=quote.pk).update(site=site)
    return quote


def test_order_from_a_quote_takes_the_site_sent_or_else_the_quotes(shop: Shop, branch: Site,
                                                                   personas: Personas) -> None:  # fmt: skip
    head = Site.objects.get(company=personas.company, is_head_office=True)
    sales = shop.actor("sales")
    omitted = orders.order_create_from_quote(actor=sales, quote_id=quote_with_site(shop, head, "DE-1").pk)
    assert SalesOrder.objects.get(pk=omitted.pk).site_id == head.pk
    chosen = orders.order_create_from_quote(actor=sales, quote_id=quote_with_site(shop, head, "DE-2").pk,
                                            site_id=branch.pk)  # fmt: skip
    assert SalesOrder.objects.get(pk=chosen.pk).site_id == branch.pk
    whole = orders.order_create_from_quote(actor=sales, quote_id=quote_with_site(shop, head, "DE-3").pk,
                                           site_id=None)  # fmt: skip
    assert SalesOrder.objects.get(pk=whole.pk).site_id is None
    # The quote's own site stays accepted once closed, as when it is omitted.
    Site.objects.filter(pk=branch.pk).update(is_active=False)
    kept = orders.order_create_from_quote(actor=sales, quote_id=quote_with_site(shop, branch, "DE-4").pk,
                                          site_id=branch.pk)  # fmt: skip
    assert SalesOrder.objects.get(pk=kept.pk).site_id == branch.pk


def test_a_bad_site_sent_with_a_quote_is_refused_on_its_field_and_nothing_is_written(
    shop: Shop, branch: Site, personas: Personas
) -> None:
    closed = Site.objects.create(company=personas.company, name="Dépôt fermé", siret="84215763800037",
                                 is_active=False)  # fmt: skip
    foreign = Site.objects.create(company=personas.other_company, name="Ailleurs", siret="90412835200010")
    quote = quote_with_site(shop, branch)
    counters = list(DocumentSequence.objects.values_list("kind", "next_value").order_by("id"))
    for bad in (closed.pk, foreign.pk, "x", 2**40):
        with pytest.raises(ValidationFailed) as refused:
            orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=quote.pk, site_id=bad)
        assert set(refused.value.fields) == {"site_id"}, bad
    assert not SalesOrder.objects.exists()
    assert list(DocumentSequence.objects.values_list("kind", "next_value").order_by("id")) == counters


def api_key(shop: Shop) -> dict[str, str]:
    _key, secret = org_services.apikey_create(actor=shop.actor("management"), name="orders site key",
                                              scopes=["sales:write", "contacts:write"])  # fmt: skip
    return {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def post_order(client: Client, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post(f"{API}/orders", data=json.dumps(body), content_type="application/json", headers=headers)


def test_order_api_from_a_quote_takes_the_site_sent(shop: Shop, branch: Site, client: Client,
                                                    personas: Personas) -> None:  # fmt: skip
    headers = api_key(shop)
    head = Site.objects.get(company=personas.company, is_head_office=True)
    foreign = Site.objects.create(company=personas.other_company, name="Ailleurs", siret="90412835200010")
    refused = post_order(client, headers, {"quote_id": quote_with_site(shop, head, "DE-1").pk, "site_id": foreign.pk})
    assert refused.status_code == 422 and list(refused.json()["fields"]) == ["site_id"]
    assert not SalesOrder.objects.exists()
    chosen = post_order(client, headers, {"quote_id": quote_with_site(shop, head, "DE-2").pk, "site_id": branch.pk})
    assert chosen.status_code == 201, chosen.content
    assert chosen.json()["site_id"] == branch.pk
    whole = post_order(client, headers, {"quote_id": quote_with_site(shop, head, "DE-3").pk, "site_id": None})
    assert whole.status_code == 201 and whole.json()["site_id"] is None
    omitted = post_order(client, headers, {"quote_id": quote_with_site(shop, branch, "DE-4").pk})
    assert omitted.status_code == 201 and omitted.json()["site_id"] == branch.pk


# --- The order invoiced ----------------------------------------------------------------


def test_order_lock_through_the_company_filter_and_the_orders_rule_agree(shop: Shop) -> None:
    finance, sales = shop.actor("finance"), seller(shop)
    assert finance.has_perm("sales.view_all") and not sales.has_perm("sales.view_all")
    order = confirmed_order(shop, [product_line(shop.chair, "3"), product_line(shop.design, "1")])
    columns = attnames(SalesOrder, ("id", *invoicing.ORDER_COLUMNS))
    with transaction.atomic():
        fast = orders._locked(finance, order.pk, invoicing.ORDER_COLUMNS, statement=invoicing._ORDER_TO_INVOICE)
        ruled = orders._locked(sales, order.pk, invoicing.ORDER_COLUMNS, statement=invoicing._ORDER_TO_INVOICE)
    assert [getattr(fast, name) for name in columns] == [getattr(ruled, name) for name in columns]
    twin = confirmed_order(shop, [product_line(shop.chair, "3"), product_line(shop.design, "1")])
    by_finance = invoicing.invoice_order(actor=finance, order_id=order.pk)
    by_sales = invoicing.invoice_order(actor=sales, order_id=twin.pk)
    assert list(by_finance.lines.values_list("name", "quantity", "unit_price", "net_amount")) == list(
        by_sales.lines.values_list("name", "quantity", "unit_price", "net_amount"))  # fmt: skip
    assert (by_finance.untaxed_amount, by_finance.total_amount) == (by_sales.untaxed_amount, by_sales.total_amount)


def test_order_lock_refuses_what_the_rule_refuses(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "3")])
    stranger = seller(shop, "marketing")
    assert not visible_organizations(stranger).filter(pk=shop.customer_id).exists()
    for actor in (stranger, shop.personas.outsider_actor()):
        with pytest.raises(NotFound):
            invoicing.invoice_order(actor=actor, order_id=order.pk)
    operations = shop.actor("operations")  # sees every order, manages none
    assert operations.has_perm("sales.view_all") and not operations.has_perm("sales.manage_orders")
    with pytest.raises(PermissionDenied):
        invoicing.invoice_order(actor=operations, order_id=order.pk)
    assert not Invoice.objects.exists()


def test_invoicing_lines_hold_what_the_orm_reads(shop: Shop) -> None:
    order = orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=accepted_quote(shop).pk)
    chair = SalesOrderLine.objects.get(order=order, product=shop.chair)
    deliveries.record_delivery(actor=shop.actor("finance"), order_id=order.pk, quantities={str(chair.pk): "2.5"})
    invoicing.invoice_order(actor=shop.actor("finance"), order_id=order.pk, mode="delivery")
    names = attnames(SalesOrderLine, invoicing.LINE_COLUMNS)
    expected = [
        (*(getattr(line, name) for name in names), line.uom.unece_code if line.uom else None,
         line.product.kind if line.product else None)
        for line in SalesOrderLine.objects.filter(order=order).select_related("uom", "product").order_by("position")
    ]  # fmt: skip
    with transaction.atomic():
        read = invoicing.invoicing_lines(order)
    found = [(*(getattr(line, name) for name in names), line.uom.unece_code if line.uom else None,
              line.product.kind if line.product else None) for line in read]  # fmt: skip
    assert found == expected
    assert any(row[names.index("quantity_invoiced")] == D("2.500") for row in found)
    assert [type(value) for value in found[1]] == [type(value) for value in expected[1]]
    # The other columns stay deferred, as with ``.only()``: a lazy read raises in tests (the project's fetch mode).
    assert "created_at" in read[0].get_deferred_fields()
    with pytest.raises(FieldFetchBlocked):
        _ = read[0].created_at


def orm_counted(order: SalesOrder) -> tuple[dict[int, D], D, set[str]]:
    """What the order's counted link rows bill, through the ORM (``counting_q``)."""
    per_line: dict[int, D] = defaultdict(D)
    amount, kinds = D(0), set()
    rows = OrderInvoiceLine.objects.filter(invoicing.counting_q("link__"), link__order=order)
    for line_id, quantity, line_amount, kind in rows.values_list("order_line_id", "quantity", "amount", "link__kind"):
        amount += line_amount
        kinds.add(kind)
        if line_id is not None:
            per_line[line_id] += quantity
    return dict(per_line), amount, kinds


def test_counted_quantities_are_those_of_the_orm_rule(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "5"), product_line(shop.design, "1")])
    finance = shop.actor("finance")
    invoice = acc.invoice_post(actor=finance, invoice_id=invoicing.invoice_order(actor=finance, order_id=order.pk).pk)
    posted_credit = acc.invoice_credit(actor=finance, invoice_id=invoice.pk, lines=[{"line": 1, "quantity": "2"}])
    acc.invoice_post(actor=finance, invoice_id=posted_credit.pk)
    acc.invoice_credit(actor=finance, invoice_id=invoice.pk, lines=[{"line": 1, "quantity": "1"}])  # a draft
    cancelled = invoicing.invoice_order(actor=finance, order_id=order.pk)  # the 2 chairs credited, billed again
    acc.invoice_cancel(actor=finance, invoice_id=cancelled.pk)
    invoicing.invoice_order(actor=finance, order_id=order.pk)  # and again, a draft that counts
    with transaction.atomic():
        locked = SalesOrder.objects.select_for_update().get(pk=order.pk)
        invoicing.refresh_invoiced(locked)
        counted = invoicing.Invoiced(locked)
    per_line, amount, kinds = orm_counted(order)
    assert (counted.per_line, counted.amount, counted.kinds) == (per_line, amount, kinds)
    assert kinds == {"final", "credit_note"} and amount == D("850.00")  # 400 + 450 − 160 credited + 160 again
    stored = SalesOrder.objects.get(pk=order.pk)
    assert (stored.invoiced_amount, stored.state) == (D("850.00"), OrderState.CONFIRMED)  # chairs not delivered
    assert sorted(SalesOrderLine.objects.filter(order=order).values_list("quantity_invoiced", flat=True)) == [
        D("1.000"), D("5.000")]  # fmt: skip


def test_rows_inserted_without_the_orm_hold_their_defaults_and_stamps(shop: Shop) -> None:
    """Order lines and invoice links' rows: what ``bulk_create`` stored (defaults, ``auto_now`` stamps)."""
    order = orders.order_create_from_quote(actor=shop.actor("sales"), quote_id=accepted_quote(shop).pk)
    lines = list(SalesOrderLine.objects.filter(order=order).order_by("position"))
    assert all(line.created_at is not None and line.updated_at >= line.created_at for line in lines)
    assert [(line.quantity_delivered, line.quantity_invoiced) for line in lines] == [(D(0), D(0))] * 5
    assert all(line.quote_line_id is not None for line in lines)
    invoice = invoicing.invoice_order(actor=shop.actor("finance"), order_id=order.pk)
    rows = list(OrderInvoiceLine.objects.filter(link__invoice=invoice).order_by("invoice_sequence"))
    assert [(row.invoice_sequence, row.order_line_id, row.quantity, row.amount, row.deducts_id) for row in rows] == [
        (1, lines[1].pk, D("6.000"), D("480.00"), None), (2, lines[3].pk, D("2.000"), D("810.00"), None),
        (3, lines[4].pk, D("1.000"), D("20.00"), None),
    ]  # fmt: skip
    assert all(row.created_at is not None and row.updated_at >= row.created_at for row in rows)


def test_the_plan_is_read_once_and_a_row_chosen_must_be_of_its_kind_and_not_invoiced(shop: Shop) -> None:
    order = confirmed_order(shop, [product_line(shop.design, "1", "1000")])
    orders.order_set_plan(actor=shop.actor("sales"), order_id=order.pk, milestones=[
        {"kind": "down_payment", "label": "Acompte", "amount": "100"},
        {"kind": "milestone", "label": "Études", "percent": "40"},
        {"kind": "milestone", "label": "Livraison", "percent": "60"},
    ])  # fmt: skip
    down_row, first, second = InvoicingMilestone.objects.filter(order=order).order_by("position")
    finance = shop.actor("finance")
    for wrong in (down_row.pk, "x", 2**40):  # a down payment is no milestone; unknown rows
        with pytest.raises(ValidationFailed) as refused:
            invoicing.invoice_order(actor=finance, order_id=order.pk, mode="milestone", milestone_id=wrong)
        assert set(refused.value.fields) == {"milestone_id"}
    with pytest.raises(ValidationFailed) as refused:  # a milestone is no down payment
        invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment", milestone_id=first.pk)
    assert set(refused.value.fields) == {"milestone_id"}
    down = invoicing.invoice_order(actor=finance, order_id=order.pk, mode="down_payment")  # the plan's row
    assert (down.untaxed_amount, InvoicingMilestone.objects.get(pk=down_row.pk).invoice_id) == (D("100.00"), down.pk)
    acc.invoice_post(actor=finance, invoice_id=down.pk)
    table = InvoicingMilestone._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        studies = invoicing.invoice_order(actor=finance, order_id=order.pk, milestone_id=first.pk)
    assert len([q for q in queries.captured_queries if f'FROM "{table}"' in q["sql"]]) == 1
    assert (studies.untaxed_amount, InvoicingMilestone.objects.get(pk=first.pk).invoice_id) == (D("400.00"),
                                                                                                studies.pk)  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:  # already invoiced
        invoicing.invoice_order(actor=finance, order_id=order.pk, milestone_id=first.pk)
    assert set(refused.value.fields) == {"milestone_id"}
    final = invoicing.invoice_order(actor=finance, order_id=order.pk)  # the next row: the last, less the down payment
    assert final.untaxed_amount == D("500.00")
    assert InvoicingMilestone.objects.get(pk=second.pk).invoice_id == final.pk
    assert SalesOrder.objects.get(pk=order.pk).state == OrderState.DONE

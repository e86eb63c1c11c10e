"""Order pages and API: list (filters, export, constant queries), detail, order from a quote,
invoicing and delivery actions, the invoice's link back, errors as 422/403/404."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from comptoir.accounting.models import Invoice
from comptoir.org import services as org_services
from comptoir.org.models import User
from comptoir.org.testing import Personas
from comptoir.sales.models_orders import SalesOrder, SalesOrderLine
from comptoir.sales.tests.orders_kit import Shop, accepted_quote, confirmed_order, make_shop, product_line

API = "/api/v1/sales"


@pytest.fixture
def shop(personas: Personas) -> Shop:
    return make_shop(personas)


def login(client: Client, shop: Shop, role: str) -> Client:
    user = shop.personas.users[role]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    user.refresh_from_db()
    client.force_login(user)
    return client


def key(shop: Shop, role: str = "finance") -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=shop.actor(role), name=f"{role} key",
                                            scopes=["sales:write", "accounting:write", "contacts:read"])  # fmt: skip
    return {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method == "get":
        return client.get(API + url, headers=headers)
    return getattr(client, method)(API + url, data=json.dumps(body or {}), content_type="application/json",
                                   headers=headers)  # fmt: skip


# --- Pages ----------------------------------------------------------------------------


def test_list_filters_export_and_constant_queries(shop: Shop, client: Client) -> None:
    login(client, shop, "finance")
    confirmed_order(shop, [product_line(shop.chair, "1")])
    url = reverse("sales:orders")
    client.get(url)  # the session is saved on the first request
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for _index in range(4):
        confirmed_order(shop, [product_line(shop.chair, "2"), product_line(shop.design, "1")])
    with CaptureQueriesContext(connection) as many:
        page = client.get(url)
    assert page.status_code == 200 and page.content.count(b"data-order=") == 5
    assert len(many) == len(few)
    assert client.get(url, {"state": "draft"}).content.count(b"data-order=") == 0
    assert client.get(url, {"state": "nope"}).status_code == 422
    export = client.get(url, {"format": "csv"})
    assert export.status_code == 200
    body = b"".join(export.streaming_content).decode()  # type: ignore[attr-defined]
    assert body.count("CO-") == 5


def test_detail_invoice_and_deliver_through_the_pages(shop: Shop, client: Client) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "4"), product_line(shop.design, "1")],
                            invoicing_policy="delivery")  # fmt: skip
    chair = SalesOrderLine.objects.filter(order=order).order_by("position").first()
    assert chair is not None
    login(client, shop, "finance")
    detail = client.get(reverse("sales:order", args=[order.pk]))
    assert detail.status_code == 200 and b'id="order-invoice-form"' in detail.content
    assert b'id="order-deliver"' in detail.content
    nothing = client.post(reverse("sales:order_invoice", args=[order.pk]), {"mode": ""})
    assert nothing.status_code == 422
    deliver = client.post(reverse("sales:order_deliver", args=[order.pk]), {f"line-{chair.pk}": "3",
                                                                            "reference": "BL-1"})  # fmt: skip
    assert deliver.status_code == 302
    too_many = client.post(reverse("sales:order_deliver", args=[order.pk]), {f"line-{chair.pk}": "9"})
    assert too_many.status_code == 422 and b"delivery-errors" in too_many.content
    made = client.post(reverse("sales:order_invoice", args=[order.pk]), {"mode": "delivery"})
    invoice = Invoice.objects.get()
    assert made.status_code == 302 and made["Location"] == reverse("accounting:invoice", args=[invoice.pk])
    page = client.get(made["Location"])
    assert b'id="invoice-source"' in page.content and order.number.encode() in page.content
    again = client.get(reverse("sales:order", args=[order.pk]))
    assert f'data-invoice="{invoice.pk}"'.encode() in again.content


def test_order_from_quote_page(shop: Shop, client: Client) -> None:
    quote = accepted_quote(shop)
    login(client, shop, "sales")
    url = reverse("sales:order_from_quote", args=[quote.pk])
    assert client.get(url).status_code == 200
    made = client.post(url, {"invoicing_policy": "delivery", "customer_reference": "BC-12"})
    order = SalesOrder.objects.get(quote=quote)
    assert made.status_code == 302 and made["Location"] == reverse("sales:order", args=[order.pk])
    assert order.invoicing_policy == "delivery" and order.customer_reference == "BC-12"
    assert client.get(url)["Location"] == reverse("sales:order", args=[order.pk])  # already ordered
    # The salesperson sees the order but has no invoicing form (accounting right missing).
    page = client.get(made["Location"])
    assert page.status_code == 200 and b'id="order-invoice-form"' not in page.content


def test_pages_refuse_who_may_not(shop: Shop, client: Client) -> None:
    order = confirmed_order(shop, [product_line(shop.chair, "1")])
    login(client, shop, "marketing")
    assert client.get(reverse("sales:orders")).status_code == 403
    login(client, shop, "service")
    assert client.get(reverse("sales:order", args=[order.pk])).status_code == 200
    assert client.post(reverse("sales:order_cancel", args=[order.pk])).status_code == 403
    outsider = shop.personas.outsider
    User.objects.filter(pk=outsider.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now())
    client.force_login(outsider)
    assert client.get(reverse("sales:order", args=[order.pk])).status_code in (403, 404)


# --- API ------------------------------------------------------------------------------


def test_api_order_lifecycle(shop: Shop, client: Client) -> None:
    h = key(shop)
    bad = call(client, "post", "/orders", h, {"organization_id": shop.customer_id, "lines": [
        {"product_id": shop.chair.pk, "quantity": "-2"}]})  # fmt: skip
    assert bad.status_code == 422 and "lines.0.quantity" in bad.json()["fields"]
    created = call(client, "post", "/orders", h, {"organization_id": shop.customer_id, "lines": [
        {"product_id": shop.chair.pk, "quantity": "5"}, {"kind": "section", "description": "Options"},
        {"product_id": shop.design.pk, "quantity": "1"}]})  # fmt: skip
    assert created.status_code == 201, created.json()
    order = created.json()
    assert order["number"] == "" and order["state"] == "draft" and order["untaxed_amount"] == "850.00"
    confirmed = call(client, "post", f"/orders/{order['id']}/confirm", h).json()
    assert confirmed["number"].startswith("CO-") and "invoice" in confirmed["actions"]
    chair_id = confirmed["lines"][0]["id"]
    delivered = call(client, "post", f"/orders/{order['id']}/deliveries", h,
                     {"quantities": {str(chair_id): "2"}, "reference": "BL-9"})  # fmt: skip
    assert delivered.status_code == 201 and delivered.json()["order"]["lines"][0]["quantity_delivered"] == "2.000"
    plan = call(client, "put", f"/orders/{order['id']}/plan", h,
                {"milestones": [{"kind": "down_payment", "label": "Acompte", "percent": "20"}]})  # fmt: skip
    assert plan.status_code == 200 and plan.json()["milestones"][0]["percent"] == "20.00"
    down = call(client, "post", f"/orders/{order['id']}/invoice", h, {"mode": "down_payment", "post": True})
    assert down.status_code == 201, down.json()
    assert down.json()["state"] == "posted" and down.json()["untaxed_amount"] == "170.00"
    final = call(client, "post", f"/orders/{order['id']}/invoice", h, {"mode": "order"})
    assert final.status_code == 201 and final.json()["untaxed_amount"] == "680.00"
    assert [i["kind"] for i in final.json()["order"]["invoices"]] == ["down_payment", "final"]
    listed = call(client, "get", "/orders?state=confirmed", h).json()
    assert listed["count"] == 1 and listed["items"][0]["invoiced_amount"] == "850.00"
    cancel = call(client, "post", f"/orders/{order['id']}/cancel", h, {"reason": "x"})
    assert cancel.status_code == 409 and cancel.json()["code"] == "order_delivered"
    assert call(client, "get", "/orders/999999", h).status_code == 404
    assert call(client, "post", f"/orders/{order['id']}/invoice", h, {"mode": "later"}).status_code == 422


def test_api_from_quote_and_permissions(shop: Shop, client: Client) -> None:
    quote = accepted_quote(shop)
    sales = key(shop, "sales")
    made = call(client, "post", "/orders", sales, {"quote_id": quote.pk})
    assert made.status_code == 201 and made.json()["state"] == "confirmed"
    assert call(client, "post", "/orders", sales, {"quote_id": quote.pk}).status_code == 409
    # A salesperson does not invoice (accounting.manage_invoices).
    refused = call(client, "post", f"/orders/{made.json()['id']}/invoice", sales, {})
    assert refused.status_code == 403
    # What the quote decides cannot be sent with it (it used to be dropped without a word): 422 per field.
    other = accepted_quote(shop, number="DE-2")
    sent = call(client, "post", "/orders", sales, {"quote_id": other.pk, "notes": "Livrer le matin",
                                                   "lines": [{"product_id": shop.chair.pk, "quantity": "1"}],
                                                   "customer_reference": "PO-7", "contact_id": None})  # fmt: skip
    assert sent.status_code == 422
    assert set(sent.json()["fields"]) == {"notes", "lines"}
    assert "Taken from the quote" in sent.json()["fields"]["notes"][0]
    assert not SalesOrder.objects.filter(quote_id=other.pk).exists()
    kept = call(client, "post", "/orders", sales, {"quote_id": other.pk, "customer_reference": "PO-7", "notes": ""})
    assert kept.status_code == 201 and kept.json()["customer_reference"] == "PO-7"
    service = key(shop, "service")
    assert call(client, "get", f"/orders/{made.json()['id']}", service).status_code == 200
    assert call(client, "post", f"/orders/{made.json()['id']}/cancel", service, {}).status_code == 403


# --- The customer's 360° timeline -----------------------------------------------------


def test_confirmed_orders_on_the_customer_timeline_with_paging(shop: Shop) -> None:
    from comptoir.contacts.timeline import ORGANIZATION, Subject, timeline

    made = [confirmed_order(shop, [product_line(shop.chair, str(n + 1))]) for n in range(3)]
    draft = SalesOrder.objects.create(company_id=shop.company_id, organization_id=shop.customer_id)
    subject = Subject(ORGANIZATION, shop.customer_id)
    entries, cursor = timeline(shop.actor("sales"), subject, limit=2, kinds=["sales_orders"])
    assert [e.key for e in entries] == [made[2].pk, made[1].pk] and cursor is not None
    rest, end = timeline(shop.actor("sales"), subject, before=cursor, limit=2, kinds=["sales_orders"])
    assert [e.key for e in rest] == [made[0].pk] and end is None
    assert entries[0].url == reverse("sales:order", args=[made[2].pk]) and made[2].number in entries[0].title
    assert draft.pk not in {e.key for e in entries + rest}
    # Another company: sales is off there and the rows are not theirs.
    outsider, _c = timeline(shop.personas.outsider_actor(), subject)
    assert all(e.source != "sales_orders" for e in outsider)


def test_api_list_and_detail_queries_do_not_grow_with_rows(shop: Shop, client: Client) -> None:
    h = key(shop)
    order = confirmed_order(shop, [product_line(shop.chair, "1")])
    call(client, "get", "/orders", h)
    with CaptureQueriesContext(connection) as few:
        call(client, "get", "/orders", h)
    for _index in range(4):
        confirmed_order(shop, [product_line(shop.chair, "1"), product_line(shop.book, "2")])
    with CaptureQueriesContext(connection) as many:
        assert len(call(client, "get", "/orders", h).json()["items"]) == 5
    assert len(many) == len(few)
    with CaptureQueriesContext(connection) as detail:
        assert call(client, "get", f"/orders/{order.pk}", h).status_code == 200
    assert len(detail) <= 12


def test_plan_page_saves_milestones_and_reports_a_bad_sum(shop: Shop, client: Client) -> None:
    from comptoir.sales.models_orders import InvoicingMilestone

    order = confirmed_order(shop, [product_line(shop.design, "2")])
    login(client, shop, "sales")
    url = reverse("sales:order_plan", args=[order.pk])
    assert client.get(url).status_code == 200
    bad = client.post(url, {"kind-0": "milestone", "label-0": "Début", "percent-0": "40",
                            "kind-1": "milestone", "label-1": "Fin", "percent-1": "50"})  # fmt: skip
    assert bad.status_code == 422 and b"plan-errors" in bad.content
    good = client.post(url, {"kind-0": "down_payment", "label-0": "Acompte", "amount-0": "100",
                             "kind-1": "milestone", "label-1": "Début", "percent-1": "40",
                             "kind-2": "milestone", "label-2": "Fin", "percent-2": "60"})  # fmt: skip
    assert good.status_code == 302
    rows = list(InvoicingMilestone.objects.filter(order=order).order_by("position").values_list("kind", "label"))
    assert rows == [("down_payment", "Acompte"), ("milestone", "Début"), ("milestone", "Fin")]
    login(client, shop, "service")
    assert client.get(url).status_code == 403


def test_draft_order_is_confirmed_and_cancelled_from_its_page(shop: Shop, client: Client) -> None:
    from comptoir.sales.orders import order_create

    draft = order_create(actor=shop.actor("sales"), organization_id=shop.customer_id,
                         lines=[product_line(shop.chair, "2")])  # fmt: skip
    login(client, shop, "sales")
    page = client.get(reverse("sales:order", args=[draft.pk]))
    assert b'id="order-confirm"' in page.content and b'id="order-cancel"' in page.content
    assert client.post(reverse("sales:order_confirm", args=[draft.pk])).status_code == 302
    draft.refresh_from_db()
    assert draft.number.startswith("CO-") and draft.state == "confirmed"
    assert client.get(reverse("sales:order_deliver", args=[draft.pk])).status_code == 200
    assert client.post(reverse("sales:order_cancel", args=[draft.pk]), {"reason": "Erreur"}).status_code == 302
    draft.refresh_from_db()
    assert draft.state == "cancelled" and draft.cancel_reason == "Erreur"
    assert client.post(reverse("sales:order_confirm", args=[draft.pk])).status_code == 409

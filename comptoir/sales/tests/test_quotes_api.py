"""Quotes API: create → send → revise → accept, per-field and per-line errors, record rules,
OpenAPI, constant queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from comptoir.contacts.models import Organization
from comptoir.org import services as org_services
from comptoir.org.testing import Personas
from comptoir.sales.models_quotes import Quote
from comptoir.sales.tests.quotes_kit import Shop, make_shop, product_line

pytestmark = pytest.mark.django_db
API = "/api/v1/sales"


@pytest.fixture
def shop(personas: Personas) -> Iterator[Shop]:
    with translation.override("en"):
        yield make_shop(personas)


def key(shop: Shop, role: str = "management", scopes: list[str] | None = None) -> dict[str, str]:
    scopes = scopes or ["sales:write", "contacts:write", "catalog:read"]
    _k, secret = org_services.apikey_create(actor=shop.actor(role), name=f"{role} key", scopes=scopes)
    return {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method == "get":
        return client.get(API + url, headers=headers)
    return getattr(client, method)(API + url, data=json.dumps(body or {}), content_type="application/json",
                                   headers=headers)  # fmt: skip


def test_quote_lifecycle(shop: Shop, client: Client) -> None:
    h = key(shop)
    body: dict[str, Any] = {"organization_id": shop.customer.pk, "discount_percent": "5", "lines": [
        {"kind": "section", "description": "Mobilier"},
        {"product_id": shop.chair.pk, "quantity": "3", "discount_percent": "10"},
        {"product_id": shop.book.pk, "quantity": "7", "unit_price": "19.99"},
        {"description": "Pose", "quantity": "x", "unit_price": "-1"},
    ]}  # fmt: skip
    bad = call(client, "post", "/quotes", h, body)
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"lines.3.quantity", "lines.3.unit_price"}
    assert not Quote.objects.exists()
    body["lines"][3] = {"product_id": shop.design.pk, "quantity": "1.5", "unit_price": "450.00"}
    body["lines"].append({"product_id": shop.chair.pk, "quantity": "10", "optional": True})
    created = call(client, "post", "/quotes", h, body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["number"].startswith("DE-") and data["state"] == "draft" and data["version"] == 1
    assert (data["untaxed_amount"], data["tax_amount"], data["total_amount"]) == ("979.38", "176.60", "1155.98")
    assert data["discount_amount"] == "51.55" and data["actions"][0] == "edit"
    assert [g["rate"] for g in data["vat_breakdown"]] == ["20.00", "5.50"]
    assert data["lines"][1]["unit_price"] == "80.0000" and data["lines"][1]["price_explanation"]
    quote_id = data["id"]
    changed = call(client, "patch", f"/quotes/{quote_id}", h, {"title": "Salle de réunion"})
    assert changed.status_code == 200 and changed.json()["title"] == "Salle de réunion"
    assert changed.json()["total_amount"] == "1155.98"
    sent = call(client, "post", f"/quotes/{quote_id}/mark-sent", h)
    assert sent.status_code == 200 and sent.json()["state"] == "sent" and len(sent.json()["versions"]) == 1
    assert call(client, "patch", f"/quotes/{quote_id}", h, {"title": "Non"}).status_code == 409
    revised = call(client, "post", f"/quotes/{quote_id}/revise", h)
    assert revised.json()["version"] == 2 and revised.json()["state"] == "draft"
    call(client, "post", f"/quotes/{quote_id}/mark-sent", h)
    stale = call(client, "post", f"/quotes/{quote_id}/accept", h, {"version": 1, "by_name": "M. Martin"})
    assert stale.status_code == 409 and stale.json()["code"] == "quote_version_stale"
    optional_id = next(line["id"] for line in revised.json()["lines"] if line["optional"])
    accepted = call(client, "post", f"/quotes/{quote_id}/accept", h,
                    {"version": 2, "by_name": "M. Martin", "selected_line_ids": [optional_id]})  # fmt: skip
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["state"] == "accepted" and accepted.json()["acceptance_via"] == "salesperson"
    assert accepted.json()["untaxed_amount"] == "1739.38"  # + 800.00 taken, less its 5 % (40.00)
    assert call(client, "post", f"/quotes/{quote_id}/cancel", h).status_code == 409


def test_refuse_cancel_and_bad_input(shop: Shop, client: Client) -> None:
    h = key(shop)
    quote = shop.sent()
    refused = call(client, "post", f"/quotes/{quote.pk}/refuse", h, {"reason": "Trop cher"})
    assert refused.json()["state"] == "refused" and refused.json()["refusal_reason"] == "Trop cher"
    draft = shop.quote()
    assert call(client, "post", f"/quotes/{draft.pk}/cancel", h).json()["state"] == "cancelled"
    assert call(client, "post", "/quotes", h, {"lines": []}).status_code == 422
    assert call(client, "post", "/quotes", h, {"organization_id": shop.customer.pk, "lines": [],
                                               "extra": 1}).status_code == 422  # fmt: skip
    assert call(client, "post", "/quotes", h, {"organization_id": shop.customer.pk,
                                               "lines": [{"kind": "banner"}]}).status_code == 422  # fmt: skip
    assert call(client, "get", "/quotes/999999", h).status_code == 404
    assert call(client, "get", "/quotes?state=won", h).status_code == 422
    assert call(client, "get", "/quotes?sort=colour", h).status_code == 422
    assert call(client, "post", f"/quotes/{quote.pk}/accept", h, {"by_name": "X"}).status_code == 422


def test_record_rules_and_scopes(shop: Shop, client: Client) -> None:
    seller = shop.personas.users["sales"]
    own = Organization.objects.create(company=shop.personas.company, legal_name="Client du vendeur", owner=seller)
    visible = shop.quote(organization=own)
    hidden = shop.quote()
    h = key(shop, "sales")
    listed = call(client, "get", "/quotes", h).json()
    assert [row["id"] for row in listed["items"]] == [visible.pk]
    assert call(client, "get", f"/quotes/{hidden.pk}", h).status_code == 404
    assert call(client, "post", f"/quotes/{hidden.pk}/cancel", h).status_code == 404
    assert call(client, "get", "/quotes?scope=mine", h).json()["count"] == 0
    read_only = key(shop, "sales", scopes=["sales:read"])
    assert call(client, "get", f"/quotes/{visible.pk}", read_only).status_code == 200
    assert call(client, "post", f"/quotes/{visible.pk}/cancel", read_only).status_code == 403
    production = key(shop, "production", scopes=["sales:read"])
    assert call(client, "get", "/quotes", production).status_code == 403


def test_openapi_lists_the_quote_operations(shop: Shop, client: Client) -> None:
    schema = client.get("/api/v1/openapi.json", headers=key(shop)).json()
    for path in ("/api/v1/sales/quotes", "/api/v1/sales/quotes/{quote_id}", "/api/v1/sales/quotes/{quote_id}/accept",
                 "/api/v1/sales/quotes/{quote_id}/revise", "/api/v1/sales/quotes/{quote_id}/refuse",
                 "/api/v1/sales/quotes/{quote_id}/cancel", "/api/v1/sales/quotes/{quote_id}/mark-sent"):  # fmt: skip
        assert path in schema["paths"], path


def test_list_queries_do_not_grow(shop: Shop, client: Client) -> None:
    h = key(shop)
    shop.quote([product_line(shop.chair)])
    call(client, "get", "/quotes", h)
    with CaptureQueriesContext(connection) as few:
        assert call(client, "get", "/quotes", h).status_code == 200
    for _index in range(5):
        shop.quote([product_line(shop.book, "2")])
    with CaptureQueriesContext(connection) as many:
        page = call(client, "get", "/quotes?page_size=50", h)
    assert page.json()["count"] == 6 and len(many) == len(few)

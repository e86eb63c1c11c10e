"""The catalog API: CRUD, per-field errors, explained prices, permission matrix, query counts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from comptoir.catalog import services
from comptoir.catalog.models import Product
from comptoir.org import services as org_services

from .conftest import Catalog

pytestmark = pytest.mark.django_db
API = "/api/v1/catalog"


def key(catalog: Catalog, role: str, scopes: list[str] | None = None) -> dict[str, str]:
    _k, secret = org_services.apikey_create(
        actor=catalog.actor(role), name=f"{role} key", scopes=scopes or ["catalog:write"]
    )
    # Explanations are asserted in English.
    return {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method in ("get", "delete"):
        return getattr(client, method)(API + url, headers=headers)
    data = body if isinstance(body, str) else json.dumps(body or {})
    return getattr(client, method)(API + url, data=data, content_type="application/json", headers=headers)


def error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    data = response.json()
    assert set(data) == {"code", "message", "fields"}
    if code:
        assert data["code"] == code
    return data  # type: ignore[no-any-return]


def test_product_crud_and_errors(catalog: Catalog, client: Client) -> None:
    h = key(catalog, "management")
    kg = catalog.uom("kg").pk
    created = call(client, "post", "/products", h, {
        "reference": "FARINE-T65", "name_fr": "Farine T65", "barcode": "4006381333931", "sale_price": "1.35",
        "purchase_price": "0.82", "sale_uom_id": kg, "purchase_uom_id": kg, "kind": "consumable",
        "vat_category": "reduced",
    })  # fmt: skip
    assert created.status_code == 201, created.content
    product = created.json()
    assert product["sale_price"] == "1.35" and product["purchase_price"] == "0.82" and product["image_url"] is None
    pid = product["id"]
    patched = call(client, "patch", f"/products/{pid}", h, {"name_en": "T65 flour", "sale_price": "1.40"})
    assert patched.status_code == 200 and patched.json()["sale_price"] == "1.40"
    assert call(client, "post", f"/products/{pid}/archive", h).json()["is_archived"] is True
    assert call(client, "get", "/products", h).json()["count"] == 0
    listed = call(client, "get", "/products?archived=all&q=farine&sort=-sale_price", h).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == pid
    assert call(client, "post", f"/products/{pid}/restore", h).json()["is_archived"] is False
    # Bad input: one message per field, nothing written.
    bad = call(client, "post", "/products", h, {
        "reference": "FARINE-T65", "name_fr": "x", "barcode": "4006381333932", "sale_price": "1.234",
        "vat_category": "exempt", "nope": 1,
    })  # fmt: skip
    assert {"sale_price", "vat_category", "nope"} <= set(error(bad, 422)["fields"])
    service_errors = error(call(client, "post", "/products", h, {
        "reference": "FARINE-T65", "name_fr": "x", "barcode": "4006381333932",
        "sale_uom_id": kg, "purchase_uom_id": catalog.uom("hour").pk,
    }), 422)["fields"]  # fmt: skip
    assert set(service_errors) == {"reference", "barcode", "purchase_uom_id"}
    error(call(client, "post", "/products", h, "{not json"), 422)
    error(call(client, "get", "/products?sort=bogus", h), 422)
    error(call(client, "get", "/products/99999999999999999999", h), 422)
    error(call(client, "get", "/products/999999", h), 404)
    assert Product.objects.count() == 1


def test_units_categories_price_lists_rules_and_price(catalog: Catalog, client: Client) -> None:
    h = key(catalog, "management")
    units = call(client, "get", "/uoms", h).json()
    assert {"code": "g", "factor": "1/1000", "unece_code": "GRM"}.items() <= next(
        u for u in units if u["code"] == "g"
    ).items()
    unit_category = next(u["category_id"] for u in units if u["code"] == "unit")
    box = call(client, "post", "/uoms", h, {"category_id": unit_category, "name_fr": "Carton de 6", "symbol": "ct6",
                                            "factor": "6", "unece_code": "CT"})  # fmt: skip
    assert box.status_code == 201 and box.json()["factor"] == "6"
    error(call(client, "post", "/uoms", h, {"category_id": unit_category, "name_fr": "x", "symbol": "y",
                                            "factor": "0", "unece_code": "?"}), 422)  # fmt: skip
    assert len(call(client, "get", "/uom-categories", h).json()) >= 5
    category = call(client, "post", "/categories", h, {"name": "Fours"}).json()
    sub = call(client, "post", "/categories", h, {"name": "À sole", "parent_id": category["id"]}).json()
    assert sub["full_name"] == "Fours / À sole"
    error(call(client, "patch", f"/categories/{category['id']}", h, {"parent_id": sub["id"]}), 422)
    product = catalog.product("FOUR", category_id=sub["id"])
    group = call(client, "post", "/customer-groups", h, {"name": "Wholesale"}).json()
    customer = catalog.organization()
    added = call(client, "post", f"/customer-groups/{group['id']}/members", h, {"organization_id": customer})
    assert added.json()["member_count"] == 1
    wholesale = call(client, "post", "/price-lists", h, {"name": "Wholesale", "customer_group_id": group["id"]})
    assert wholesale.status_code == 201, wholesale.content
    wid = wholesale.json()["id"]
    rule = call(client, "post", f"/price-lists/{wid}/rules", h, {"target": "category", "category_id": category["id"],
                                                                   "discount_percent": "10"})  # fmt: skip
    assert rule.status_code == 201 and rule.json()["discount_percent"] == "10.000"
    breaks = call(client, "post", f"/price-lists/{wid}/rules", h, {
        "target": "category", "category_id": category["id"], "min_quantity": "10", "method": "fixed",
        "fixed_price": "80.00"})  # fmt: skip
    error(call(client, "post", f"/price-lists/{wid}/rules", h, {"method": "fixed"}), 422)
    patched = call(client, "patch", f"/price-lists/{wid}/rules/{breaks.json()['id']}", h, {"fixed_price": "85.50"})
    assert patched.json()["fixed_price"] == "85.50"
    assert len(call(client, "get", f"/price-lists/{wid}/rules", h).json()) == 2
    price = call(client, "get", f"/price?product={product.pk}&quantity=2&customer_id={customer}", h)
    assert price.status_code == 200, price.content
    body = price.json()
    assert body["unit_price"] == "90.00" and body["total"] == "180.00"
    assert body["explanation"] == "List price 100.00; group “Wholesale” −10 % → 90.00"
    assert [s["percent"] for s in body["steps"]] == [None, "10.000", None]
    dozen = call(client, "get", f"/price?product={product.pk}&quantity=1&uom={catalog.uom('dozen').pk}"
                                f"&customer_id={customer}&date=2026-03-01", h).json()  # fmt: skip
    assert dozen["unit_price"] == "1026.00" and "from 10 u: price 85.50" in dozen["explanation"]
    bad = error(call(client, "get", f"/price?product={product.pk}&quantity=0&uom={catalog.uom('kg').pk}", h), 422)
    assert set(bad["fields"]) == {"quantity", "uom"}
    assert set(error(call(client, "get", f"/price?product={product.pk}&uom={catalog.uom('kg').pk}", h),
                     422)["fields"]) == {"uom"}  # fmt: skip
    error(call(client, "get", "/price?product=999999", h), 404)
    assert call(client, "delete", f"/price-lists/{wid}/rules/{rule.json()['id']}", h).status_code == 204
    assert call(client, "delete", f"/price-lists/{wid}", h).status_code == 204


ROLES = ["sales", "marketing", "service", "finance", "operations", "production", "hr", "management", "admin"]
# role: (sees products, sees price lists, may create products, sees costs)
MATRIX = {
    "sales": (True, True, False, False),
    "marketing": (True, True, False, False),
    "service": (True, False, False, False),
    "finance": (True, True, False, True),
    "operations": (True, False, True, True),
    "production": (True, False, False, False),
    "hr": (False, False, False, False),
    "management": (True, True, True, True),
    "admin": (True, True, True, True),
}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(catalog: Catalog, client: Client, role: str) -> None:
    products, pricing, create, costs = MATRIX[role]
    product = catalog.product("P1", purchase_price="40.00")
    h = key(catalog, role)
    listed = call(client, "get", "/products", h)
    assert listed.status_code == (200 if products else 403)
    if products:
        assert listed.json()["items"][0]["purchase_price"] == ("40.00" if costs else None)
    assert call(client, "get", "/price-lists", h).status_code == (200 if pricing else 403)
    assert call(client, "get", f"/price?product={product.pk}", h).status_code == (200 if pricing else 403)
    created = call(client, "post", "/products", h, {"reference": f"N-{role}", "name_fr": "Nouveau"})
    assert created.status_code == (201 if create else 403)


def test_scopes_other_company_and_module_gate(catalog: Catalog, client: Client) -> None:
    product = catalog.product("P1")
    error(client.get(f"{API}/products"), 401)
    read_only = key(catalog, "management", ["catalog:read"])
    assert call(client, "get", f"/products/{product.pk}", read_only).status_code == 200
    error(call(client, "patch", f"/products/{product.pk}", read_only, {"name_fr": "x"}), 403)
    _k, secret = org_services.apikey_create(actor=catalog.personas.outsider_actor(), name="o", scopes=["org:read"])
    org_services.module_set(actor=catalog.personas.outsider_actor(), module="catalog", enabled=True)
    _k, secret = org_services.apikey_create(
        actor=catalog.personas.outsider_actor(), name="o2", scopes=["catalog:write"]
    )
    outsider = {"Authorization": f"Bearer {secret}"}
    error(call(client, "get", f"/products/{product.pk}", outsider), 404)
    error(call(client, "get", f"/price?product={product.pk}", outsider), 404)
    org_services.module_set(actor=catalog.actor("admin"), module="catalog", enabled=False)
    error(call(client, "get", "/products", key(catalog, "admin", ["catalog:read"])), 404, "module_disabled")


def test_list_queries_constant(catalog: Catalog, client: Client) -> None:
    h = key(catalog, "management")
    category = services.category_create(actor=catalog.actor(), name="Fours")
    catalog.product("P0", category_id=category.pk)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert call(client, "get", "/products?page_size=50", h).status_code == 200
        return len(ctx.captured_queries)

    count()  # the key's first use does one-off work
    one = count()
    assert one <= 4
    for i in range(1, 50):
        catalog.product(f"P{i}", category_id=category.pk)
    assert count() == one

"""Catalog pages: product list (filters, export, queries), form (barcode, image), simulator,
settings pages, permission matrix, module gate."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from comptoir.catalog import services
from comptoir.catalog.models import CustomerGroupMember, PriceListRule, Product, ProductCategory, Uom
from comptoir.org import services as org_services
from comptoir.org.models import User

from .conftest import Catalog

pytestmark = pytest.mark.django_db


def login(client: Client, catalog: Catalog, role: str) -> Client:
    return login_user(client, catalog.personas.users[role])


def login_user(client: Client, user: User) -> Client:
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language="en"
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def content(response: object) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return response.content.decode()  # type: ignore[attr-defined]


def test_list_filters_export_and_constant_queries(catalog: Catalog, client: Client) -> None:
    login(client, catalog, "sales")
    ovens = services.category_create(actor=catalog.actor(), name="Fours")
    deck = services.category_create(actor=catalog.actor(), name="À sole", parent_id=ovens.pk)
    catalog.product("FOUR-1", name_fr="Four à sole", category_id=deck.pk, purchase_price="10.00")
    catalog.product("PETRIN", name_fr="Pétrin", kind="goods")

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    count("/catalog/")  # the session's one-off work
    one = count("/catalog/?q=four")
    for i in range(49):
        catalog.product(f"FOUR-X{i}", name_fr=f"Four {i}", category_id=deck.pk)
    assert count("/catalog/?q=four") == one
    page = client.get("/catalog/?q=FOUR A SOLE")
    assert page.context["page"].count == 1 and 'data-product="' in page.content.decode()
    assert client.get(f"/catalog/?category={ovens.pk}").context["page"].count == 50  # subcategories included
    assert client.get("/catalog/?q=petrin&kind=service").context["page"].count == 0
    assert client.get("/catalog/?sort=bogus").status_code == 422
    assert client.get("/catalog/?archived=maybe").status_code == 422
    fragment = client.get("/catalog/?q=petrin", headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="results"')
    export = content(client.get("/catalog/?q=four%20a%20sole&format=csv"))
    assert "FOUR-1" in export and "Sale price" in export and "Purchase price" not in export  # sales: no costs
    assert client.get("/catalog/?format=pdf").status_code == 422


ROLES = ["sales", "marketing", "service", "finance", "operations", "production", "hr", "management", "admin"]
# role: (product list and export, price lists page, new product form, costs in export)
MATRIX = {
    "sales": (200, 200, 403, False),
    "marketing": (200, 200, 403, False),
    "service": (200, 403, 403, False),
    "finance": (200, 200, 403, True),
    "operations": (200, 403, 200, True),
    "production": (200, 403, 403, False),
    "hr": (403, 403, 403, False),
    "management": (200, 200, 200, True),
    "admin": (200, 200, 200, True),
}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(catalog: Catalog, client: Client, role: str) -> None:
    listing, price_lists, create, costs = MATRIX[role]
    catalog.product("P1", purchase_price="12.34")
    login(client, catalog, role)
    listed = client.get("/catalog/")
    assert listed.status_code == listing
    if listing == 200:
        assert ('href="/catalog/price-lists/"' in listed.content.decode()) is (price_lists == 200)
    export = client.get("/catalog/?format=csv")
    assert export.status_code == listing
    if listing == 200:
        assert ("12.34" in content(export)) is costs
    assert client.get("/catalog/price-lists/").status_code == price_lists
    assert client.get("/catalog/products/new/").status_code == create


def test_create_with_bad_then_good_barcode_and_image(catalog: Catalog, client: Client) -> None:
    login(client, catalog, "management")
    unit = catalog.uom("unit").pk
    form = {
        "reference": "FOUR-1", "barcode": "4006381333932", "name_fr": "Four à sole", "name_en": "Deck oven",
        "kind": "goods", "sale_uom_id": unit, "purchase_uom_id": unit, "sale_price": "18500.00",
        "purchase_price": "11200", "currency": "EUR", "vat_category": "standard",
    }  # fmt: skip
    bad = client.post("/catalog/products/new/", form)
    assert bad.status_code == 422 and "barcode" in bad.context["form"].errors
    assert 'data-field-error="barcode"' in bad.content.decode() and not Product.objects.exists()
    check = client.get("/catalog/barcode-check/?barcode=4006381333932").content.decode()
    assert 'data-valid="false"' in check and "check digit" in check
    assert 'data-valid="true"' in client.get("/catalog/barcode-check/?barcode=4006381333931").content.decode()
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, format="PNG")
    image = SimpleUploadedFile("four.png", buffer.getvalue(), "image/png")
    done = client.post("/catalog/products/new/", {**form, "barcode": "4006381333931", "image": image})
    product = Product.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/catalog/products/{product.pk}/"
    assert product.purchase_price == Decimal("11200.00") and product.image
    served = client.get(f"/catalog/products/{product.pk}/image/")
    assert served.status_code == 200 and served["X-Content-Type-Options"] == "nosniff"
    used = client.get("/catalog/barcode-check/?barcode=4006381333931").content.decode()
    assert "Already used by" in used
    # Wrong-language field errors open the right tab; a fake image is refused next to its field.
    fake = SimpleUploadedFile("x.png", b"not an image", "image/png")
    edit = client.post(f"/catalog/products/{product.pk}/edit/", {**form, "barcode": "", "name_en": "x" * 201,
                                                                  "image": fake})  # fmt: skip
    assert edit.status_code == 422 and {"name_en"} <= set(edit.context["form"].errors)
    fake = SimpleUploadedFile("x.png", b"not an image", "image/png")
    edit = client.post(f"/catalog/products/{product.pk}/edit/", {**form, "barcode": "", "image": fake})
    assert edit.status_code == 422 and "image" in edit.context["form"].errors
    # The outsider cannot see the product nor its image.
    login_user(client, catalog.personas.outsider)
    assert client.get(f"/catalog/products/{product.pk}/image/").status_code == 404


def test_detail_and_simulator(catalog: Catalog, client: Client) -> None:
    actor = catalog.actor()
    product = catalog.product("FOUR", sale_price="100.00")
    customer = catalog.organization("Grossiste Durand")
    group = services.customer_group_create(actor=actor, name="Wholesale")
    services.customer_group_add(actor=actor, group_id=group.pk, organization_id=customer)
    wholesale = services.price_list_create(actor=actor, name="Wholesale", customer_group_id=group.pk)
    services.rule_create(actor=actor, price_list_id=wholesale.pk, discount_percent="10")
    breaks = services.price_list_create(actor=actor, name="Breaks", customer_group_id=group.pk)
    services.rule_create(actor=actor, price_list_id=breaks.pk, min_quantity="10", method="price_list",
                         base_price_list_id=wholesale.pk, discount_percent="5")  # fmt: skip
    login(client, catalog, "sales")
    page = client.get(f"/catalog/products/{product.pk}/").content.decode()
    assert 'id="price-simulator"' in page and "Grossiste Durand" in page and 'data-rule="' in page
    assert 'id="purchase-price"' not in page  # sales does not see costs
    url = f"/catalog/products/{product.pk}/simulate/?customer_id={customer}&quantity=10"
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'data-unit-price="85.50"' in fragment
    assert "List price 100.00; group “Wholesale” −10 %; from 10 u −5 % → 85.50" in fragment
    plain = client.get(url)
    assert plain.status_code == 200 and 'data-unit-price="85.50"' in plain.content.decode()
    bad = client.get(f"/catalog/products/{product.pk}/simulate/?quantity=0&uom={catalog.uom('kg').pk}",
                     headers={"HX-Request": "true"})  # fmt: skip
    assert bad.status_code == 422 and 'data-field-error="uom"' in bad.content.decode()
    # Service sees the product, not the prices.
    login(client, catalog, "service")
    assert 'id="price-simulator"' not in client.get(f"/catalog/products/{product.pk}/").content.decode()
    assert client.get(url).status_code == 403


def test_archive_and_settings_pages(catalog: Catalog, client: Client) -> None:
    login(client, catalog, "management")
    product = catalog.product("P1")
    assert client.post(f"/catalog/products/{product.pk}/archive/", {"archived": "1"}).status_code == 302
    assert Product.objects.get(pk=product.pk).is_archived
    assert client.get("/catalog/").context["page"].count == 0
    client.post(f"/catalog/products/{product.pk}/archive/", {"archived": "0"})
    assert not Product.objects.get(pk=product.pk).is_archived
    # Categories
    assert client.post("/catalog/categories/", {"name": "Fours"}).status_code == 302
    ovens = ProductCategory.objects.get(name="Fours")
    assert client.post("/catalog/categories/", {"name": "Fours"}).status_code == 422
    assert client.post(f"/catalog/categories/{ovens.pk}/edit/", {"name": "Fours pro"}).status_code == 302
    assert "Fours pro" in client.get("/catalog/categories/").content.decode()
    # Units
    page = client.get("/catalog/units/").content.decode()
    assert "KGM" in page and "1/1000" in page
    category_id = catalog.uom("unit").category_id
    unit = {"form": "uom", "category_id": category_id, "rounding_places": 0, "unece_code": "CT"}
    bad = client.post("/catalog/units/", {**unit, "name_fr": "Carton", "symbol": "ct", "factor": "abc"})
    assert bad.status_code == 422 and "factor" in bad.context["uom_form"].errors
    good = client.post(
        "/catalog/units/", {**unit, "name_fr": "Carton de 6", "symbol": "ct6", "factor": "6", "is_active": "on"}
    )
    assert good.status_code == 302 and Uom.objects.get(symbol="ct6").factor == 6
    assert client.post("/catalog/units/", {"form": "category", "name_fr": "Énergie"}).status_code == 302
    # Price lists and rules
    assert client.post("/catalog/price-lists/new/", {"name": "Public", "currency": "EUR", "priority": 10,
                                                     "is_active": "on"}).status_code == 302  # fmt: skip
    price_list = client.get("/catalog/price-lists/").context["price_lists"][0]
    bad_rule = client.post(f"/catalog/price-lists/{price_list.pk}/", {"target": "product", "method": "fixed",
                                                                      "min_quantity": "0"})  # fmt: skip
    assert bad_rule.status_code == 422 and {"product_id", "fixed_price"} <= set(bad_rule.context["form"].errors)
    discount = {"target": "all", "method": "discount", "discount_percent": "12.5", "min_quantity": "0"}
    rule = client.post(f"/catalog/price-lists/{price_list.pk}/", discount)
    assert rule.status_code == 302
    created = PriceListRule.objects.get()
    assert created.discount_percent == Decimal("12.5")
    assert "12.5 % off the list price" in client.get(f"/catalog/price-lists/{price_list.pk}/").content.decode()
    # Customer groups: search the organizations, add one.
    customer = catalog.organization("Boulangerie Martin")
    assert client.post("/catalog/customer-groups/", {"name": "Grossistes"}).status_code == 302
    group = client.get("/catalog/customer-groups/").context["groups"][0]
    enabled = org_services.module_set  # contacts must be on for its search
    enabled(actor=catalog.actor("admin"), module="contacts", enabled=True)
    found = client.get(f"/catalog/customer-groups/{group.pk}/?q=martin").content.decode()
    assert "Boulangerie Martin" in found
    assert client.post(f"/catalog/customer-groups/{group.pk}/", {"organization_id": customer}).status_code == 302
    assert CustomerGroupMember.objects.filter(group=group, organization_id=customer).exists()


def test_module_gate_and_other_company(catalog: Catalog, client: Client) -> None:
    product = catalog.product("P1")
    login_user(client, catalog.personas.outsider)
    assert client.get("/catalog/").status_code == 404  # module off in the other company
    org_services.module_set(actor=catalog.personas.outsider_actor(), module="catalog", enabled=True)
    assert client.get(f"/catalog/products/{product.pk}/").status_code == 404
    login(client, catalog, "management")
    org_services.module_set(actor=catalog.actor("admin"), module="catalog", enabled=False)
    assert client.get("/catalog/").status_code == 404


def test_global_search_finds_products(catalog: Catalog, client: Client) -> None:
    product = catalog.product("FOUR-1", name_fr="Four à sole", barcode="4006381333931")
    login(client, catalog, "service")
    for query in ("four a sole", "4006381333931"):
        page = client.get(f"/search/?q={query}").content.decode()
        assert f"/catalog/products/{product.pk}/" in page, query
    login(client, catalog, "hr")  # no catalog right: no product in the results
    assert f"/catalog/products/{product.pk}/" not in client.get("/search/?q=four").content.decode()

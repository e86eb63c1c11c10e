"""Catalog services: per-field errors with nothing written, uniqueness, units, categories, audit."""

from __future__ import annotations

import io
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from comptoir.catalog import services
from comptoir.catalog.models import PriceListRule, Product, ProductCategory, Uom, UomCategory
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent
from comptoir.org import services as org_services

from .conftest import Catalog

pytestmark = pytest.mark.django_db


def fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return set(exc.value.fields)


def test_enabling_seeds_units_idempotently(catalog: Catalog) -> None:
    seeded = Uom.objects.filter(company_id=catalog.company_id).count()
    assert seeded >= 15
    assert {c.code for c in UomCategory.objects.filter(company_id=catalog.company_id)} >= {
        "unit", "weight", "length", "time", "volume",
    }  # fmt: skip
    assert catalog.uom("g").factor == Fraction(1, 1000) and catalog.uom("kg").unece_code == "KGM"
    assert catalog.uom("minute").factor == Fraction(1, 60) and catalog.uom("dozen").factor == 12
    # Off and on again, and the setup run again: nothing doubles; a renamed unit is kept.
    Uom.objects.filter(company_id=catalog.company_id, code="kg").update(name_fr="Kilo")
    admin = catalog.actor("admin")
    org_services.module_set(actor=admin, module="catalog", enabled=False)
    org_services.module_set(actor=admin, module="catalog", enabled=True)
    assert services.setup_company_catalog(actor=admin) == {"uom_categories": 0, "uoms": 0}
    assert Uom.objects.filter(company_id=catalog.company_id).count() == seeded
    assert catalog.uom("kg").name_fr == "Kilo"
    # The other company has its own units only once it switches the module on.
    assert not Uom.objects.filter(company_id=catalog.personas.other_company.pk).exists()


def test_bad_ean_is_a_field_error_and_nothing_is_written(catalog: Catalog) -> None:
    before = (Product.objects.count(), AuditEntry.objects.count(), OutboxEvent.objects.count())
    with pytest.raises(ValidationFailed) as bad:
        catalog.product("P1", barcode="4006381333932")  # check digit should be 1
    assert fields(bad) == {"barcode"} and "check digit" in bad.value.fields["barcode"][0]
    with pytest.raises(ValidationFailed) as short:
        catalog.product("P1", barcode="12345")
    assert fields(short) == {"barcode"}
    assert (Product.objects.count(), AuditEntry.objects.count(), OutboxEvent.objects.count()) == before
    product = catalog.product("P1", barcode="4006381333931")
    assert product.barcode == "4006381333931"
    assert AuditEntry.objects.filter(action="product.create", object_id=str(product.pk)).exists()
    assert OutboxEvent.objects.filter(name="catalog.product_created").exists()


def test_reference_and_barcode_unique_per_company(catalog: Catalog) -> None:
    catalog.product("P1", barcode="4006381333931")
    with pytest.raises(ValidationFailed) as dup:
        catalog.product("P1", barcode="4006381333931")
    assert fields(dup) == {"reference", "barcode"}
    # Another company may use the same reference and barcode.
    org_services.module_set(actor=catalog.personas.outsider_actor(), module="catalog", enabled=True)
    other = services.product_create(
        actor=catalog.personas.outsider_actor(), reference="P1", name_fr="Autre", barcode="4006381333931"
    )
    assert other.company_id != catalog.company_id


def test_many_errors_at_once(catalog: Catalog) -> None:
    with pytest.raises(ValidationFailed) as bad:
        services.product_create(
            actor=catalog.actor(), reference="", name_fr="", sale_price="1.234", purchase_price=-1, currency="euro",
            kind="spaceship", vat_category="exempt", category_id=999999, nonsense=1,
        )  # fmt: skip
    assert fields(bad) == {
        "reference", "name_fr", "sale_price", "purchase_price", "currency", "kind", "vat_category", "category_id",
        "nonsense",
    }  # fmt: skip
    with pytest.raises(ValidationFailed) as floats:
        catalog.product("P2", sale_price=1.5)
    assert fields(floats) == {"sale_price"}


def test_units_of_sale_and_purchase_must_share_a_category(catalog: Catalog) -> None:
    with pytest.raises(ValidationFailed) as bad:
        catalog.product("P1", sale_uom_id=catalog.uom("kg").pk, purchase_uom_id=catalog.uom("hour").pk)
    assert fields(bad) == {"purchase_uom_id"}
    product = catalog.product("P1", sale_uom_id=catalog.uom("kg").pk, purchase_uom_id=catalog.uom("t").pk)
    with pytest.raises(ValidationFailed) as change:
        services.product_update(actor=catalog.actor(), product_id=product.pk, sale_uom_id=catalog.uom("unit").pk)
    assert fields(change) == {"sale_uom_id"}
    # Without units: the company's "unit" for both.
    plain = catalog.product("P2")
    assert plain.sale_uom_id == plain.purchase_uom_id == catalog.uom("unit").pk


def test_update_search_text_archive_and_audit(catalog: Catalog) -> None:
    product = catalog.product("FOUR-1", name_fr="Four à sole")
    assert "four a sole" in product.search_text
    services.product_update(actor=catalog.actor(), product_id=product.pk, name_en="Deck oven", sale_price="120.50")
    product.refresh_from_db()
    assert product.sale_price == Decimal("120.50") and "deck oven" in product.search_text
    entry = AuditEntry.objects.filter(action="product.update").latest("id")
    assert entry.changes["sale_price"] == ["100.00", "120.50"]
    services.product_archive(actor=catalog.actor(), product_id=product.pk)
    assert Product.objects.get(pk=product.pk).is_archived
    services.product_archive(actor=catalog.actor(), product_id=product.pk, archived=False)
    assert not Product.objects.get(pk=product.pk).is_archived


def test_permissions_and_other_company(catalog: Catalog) -> None:
    product = catalog.product("P1")
    with pytest.raises(PermissionDenied):
        services.product_create(actor=catalog.actor("sales"), reference="X", name_fr="X")
    with pytest.raises(PermissionDenied):
        services.product_update(actor=catalog.actor("sales"), product_id=product.pk, name_fr="Y")
    with pytest.raises(NotFound):
        services.product_update(actor=catalog.personas.outsider_actor(), product_id=product.pk, name_fr="Y")
    # Operations keeps the catalogue and sees costs; without view_costs a cost cannot be written.
    services.product_update(actor=catalog.actor("operations"), product_id=product.pk, purchase_price="10")
    with pytest.raises(PermissionDenied):
        services.price_list_create(actor=catalog.actor("operations"), name="X")


def test_uom_rules(catalog: Catalog) -> None:
    actor = catalog.actor()
    category = services.uom_category_create(actor=actor, name_fr="Emballage", name_en="Packaging")
    with pytest.raises(ValidationFailed) as first:
        services.uom_create(actor=actor, category_id=category.pk, name_fr="Carton", symbol="ct", factor="12",
                            unece_code="CT")  # fmt: skip
    assert fields(first) == {"factor"}  # the first unit is the reference
    services.uom_create(
        actor=actor, category_id=category.pk, name_fr="Pièce", symbol="pc", factor="1", unece_code="H87"
    )
    box = services.uom_create(actor=actor, category_id=category.pk, name_fr="Carton de 12", symbol="ct12",
                              factor="12", unece_code="CT")  # fmt: skip
    assert box.factor == 12
    third = services.uom_create(actor=actor, category_id=category.pk, name_fr="Tiers", symbol="t3", factor="1/3",
                                unece_code="C62")  # fmt: skip
    assert third.factor == Fraction(1, 3)
    with pytest.raises(ValidationFailed) as bad:
        services.uom_create(actor=actor, category_id=category.pk, name_fr="", symbol="pc", factor="-2",
                            unece_code="kg!", rounding_places=9)  # fmt: skip
    assert fields(bad) == {"name_fr", "symbol", "factor", "unece_code", "rounding_places"}
    # A unit in use keeps its factor and category.
    catalog.product("P1", sale_uom_id=box.pk, purchase_uom_id=box.pk)
    with pytest.raises(ValidationFailed) as used:
        services.uom_update(actor=actor, uom_id=box.pk, factor="24", category_id=catalog.uom("kg").category_id)
    assert fields(used) == {"factor", "category_id"}
    services.uom_update(actor=actor, uom_id=box.pk, name_en="Box of 12")


def test_category_tree(catalog: Catalog) -> None:
    actor = catalog.actor()
    ovens = services.category_create(actor=actor, name="Fours")
    deck = services.category_create(actor=actor, name="À sole", parent_id=ovens.pk)
    assert deck.full_name == "Fours / À sole" and deck.ancestor_ids == [ovens.pk, deck.pk] and deck.depth == 2
    with pytest.raises(ValidationFailed) as loop:
        services.category_update(actor=actor, category_id=ovens.pk, parent_id=deck.pk)
    assert fields(loop) == {"parent_id"}
    with pytest.raises(ValidationFailed) as dup:
        services.category_create(actor=actor, name="À sole", parent_id=ovens.pk)
    assert fields(dup) == {"name"}
    services.category_update(actor=actor, category_id=ovens.pk, name="Fours pro")
    assert ProductCategory.objects.get(pk=deck.pk).full_name == "Fours pro / À sole"
    with pytest.raises(Conflict):
        services.category_delete(actor=actor, category_id=ovens.pk)
    services.category_delete(actor=actor, category_id=deck.pk)
    assert not ProductCategory.objects.filter(pk=deck.pk).exists()


def test_price_list_and_rule_validation(catalog: Catalog) -> None:
    actor = catalog.actor()
    product = catalog.product("P1")
    group = services.customer_group_create(actor=actor, name="Grossistes")
    base = services.price_list_create(actor=actor, name="Base")
    with pytest.raises(ValidationFailed) as both:
        services.price_list_create(
            actor=actor,
            name="X",
            customer_group_id=group.pk,
            customer_id=catalog.organization(),
            valid_from="2026-01-01",
        )
    assert fields(both) == {"customer_id", "valid_from"}
    derived = services.price_list_create(actor=actor, name="Dérivée", customer_group_id=group.pk)
    services.rule_create(actor=actor, price_list_id=derived.pk, method="price_list", base_price_list_id=base.pk,
                         discount_percent="5")  # fmt: skip
    with pytest.raises(ValidationFailed) as cycle:
        services.rule_create(actor=actor, price_list_id=base.pk, method="price_list", base_price_list_id=derived.pk)
    assert fields(cycle) == {"base_price_list_id"}
    with pytest.raises(ValidationFailed) as bad:
        services.rule_create(actor=actor, price_list_id=base.pk, target="product", method="fixed",
                             min_quantity="-1", discount_percent="150")  # fmt: skip
    assert fields(bad) == {"product_id", "fixed_price", "min_quantity"}
    with pytest.raises(ValidationFailed) as pct:
        services.rule_create(actor=actor, price_list_id=base.pk, discount_percent="100.0001")
    assert fields(pct) == {"discount_percent"}
    rule = services.rule_create(actor=actor, price_list_id=base.pk, target="product", product_id=product.pk,
                                method="fixed", fixed_price="80.00", min_quantity="10")  # fmt: skip
    services.rule_update(actor=actor, rule_id=rule.pk, fixed_price="75.00")
    assert PriceListRule.objects.get(pk=rule.pk).fixed_price == Decimal("75.00")
    with pytest.raises(Conflict):
        services.price_list_delete(actor=actor, price_list_id=base.pk)
    with pytest.raises(Conflict):
        services.customer_group_delete(actor=actor, group_id=group.pk)
    customer = catalog.organization()
    services.customer_group_add(actor=actor, group_id=group.pk, organization_id=customer)
    other = services.customer_group_create(actor=actor, name="Revendeurs")
    member = services.customer_group_add(actor=actor, group_id=other.pk, organization_id=customer)
    assert member.group_id == other.pk  # one group per customer: moved
    with pytest.raises(ValidationFailed) as unknown:
        services.customer_group_add(actor=actor, group_id=group.pk, organization_id=customer + 1000)
    assert fields(unknown) == {"organization_id"}


def _png(size: tuple[int, int] = (4, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_checked_and_replaced(catalog: Catalog) -> None:
    product = catalog.product("P1")
    with pytest.raises(ValidationFailed) as fake:
        fake_png = SimpleUploadedFile("x.png", b"<svg onload=alert(1)>", "image/png")
        services.product_set_image(actor=catalog.actor(), product_id=product.pk, image=fake_png)
    assert fields(fake) == {"image"}
    with pytest.raises(ValidationFailed):
        too_big = SimpleUploadedFile("x.png", b"0" * (3 * 1024 * 1024), "image/png")
        services.product_set_image(actor=catalog.actor(), product_id=product.pk, image=too_big)
    done = services.product_set_image(
        actor=catalog.actor(), product_id=product.pk, image=SimpleUploadedFile("evil.php", _png(), "image/png")
    )
    name = done.image.name or ""
    assert name.endswith(".png") and done.image.storage.exists(name)
    services.product_set_image(actor=catalog.actor(), product_id=product.pk, image=None)
    assert not Product.objects.get(pk=product.pk).image


def test_demo_loads_once(catalog: Catalog) -> None:
    from comptoir.catalog import demo, pricing
    from comptoir.catalog.models import PriceList

    actor = catalog.actor("admin")
    demo.load(actor)
    demo.load(actor)  # idempotent: the demo runs it at every start
    assert Product.objects.filter(company_id=catalog.company_id).count() == len(demo.PRODUCTS)
    assert PriceList.objects.filter(company_id=catalog.company_id).count() == 3
    oven = Product.objects.get(company_id=catalog.company_id, reference="FOUR-SOLE-4")
    group = PriceList.objects.get(name="Grossistes").customer_group_id
    quote = pricing.price_for(actor, product=oven, quantity=10, customer_group_id=group)
    assert quote.unit_price == Decimal("15817.50")  # 18,500 − 10 % − 5 %

"""Catalog in Chromium: a manager creates a product, is told at once that a barcode's check
digit is wrong, fixes it, then simulates a wholesale price with a quantity break."""

from __future__ import annotations

import re

import pytest

from comptoir.catalog import services
from comptoir.catalog.models import Product
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, enable_modules, make_personas
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_barcode_check_then_price_with_quantity_break(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    personas = make_personas()
    enable_modules(personas, "contacts", "catalog")
    User.objects.update(language="en")
    actor = personas.actor("management")
    group = services.customer_group_create(actor=actor, name="Wholesale")
    wholesale = services.price_list_create(actor=actor, name="Wholesale", customer_group_id=group.pk)
    services.rule_create(actor=actor, price_list_id=wholesale.pk, discount_percent="10")
    breaks = services.price_list_create(actor=actor, name="Wholesale breaks", customer_group_id=group.pk)
    services.rule_create(actor=actor, price_list_id=breaks.pk, min_quantity="10", method="price_list",
                         base_price_list_id=wholesale.pk, discount_percent="5")  # fmt: skip
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    login(page, personas.users["management"].email, PASSWORD)

    page.goto("/catalog/")
    page.click("#new-product")
    page.fill("#id_reference", "FOUR-SOLE-4")
    page.fill("#id_name_fr", "Four à sole 4 étages")
    page.click("#tab-en")
    page.fill("#id_name_en", "Four-deck oven")
    page.fill("#id_sale_price", "100.00")
    # A wrong check digit is reported while typing (htmx), before anything is sent.
    page.fill("#id_barcode", "4006381333932")
    expect(page.locator("#barcode-check")).to_have_attribute("data-valid", "false")
    expect(page.locator("#barcode-check")).to_contain_text("check digit")
    # Sent anyway: refused next to the field, nothing saved, the rest of the input kept.
    with page.expect_navigation():
        page.click("#save-product")
    expect(page.locator("[data-field-error=barcode]")).to_contain_text("check digit")
    assert not Product.objects.exists()
    expect(page.locator("#id_reference")).to_have_value("FOUR-SOLE-4")
    page.fill("#id_barcode", "4006381333931")
    expect(page.locator("#barcode-check")).to_have_attribute("data-valid", "true")
    with page.expect_navigation():
        page.click("#save-product")
    product = Product.objects.get()
    expect(page).to_have_url(re.compile(rf"/catalog/products/{product.pk}/$"))
    expect(page.locator("#product-name")).to_have_text("Four-deck oven")

    # The simulator: the wholesale group, 10 units → the break applies on top of the group's price.
    page.select_option("#id_customer_group_id", label="Wholesale")
    page.fill("#id_quantity", "10")
    page.click("#simulate")
    expect(page.locator("#quote-unit-price")).to_have_attribute("data-unit-price", "85.50")
    expect(page.locator("#quote-explanation")).to_have_text(
        "List price 100.00; group “Wholesale” −10 %; from 10 u −5 % → 85.50"
    )
    page.fill("#id_quantity", "2")
    page.click("#simulate")
    expect(page.locator("#quote-unit-price")).to_have_attribute("data-unit-price", "90.00")
    assert problems == []

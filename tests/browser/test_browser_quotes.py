"""Quotes in Chromium: the form finds the customer and the product by typing (htmx
autocompletes), the totals follow the lines while typing (htmx, same computation as saving),
then the quote is saved, marked sent and accepted from its page (Bootstrap modal), without
any Content-Security-Policy violation."""

from __future__ import annotations

import pytest

from comptoir.contacts.normalize import fold
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, make_personas
from comptoir.sales.models_quotes import Quote, QuoteState
from comptoir.sales.tests.quotes_kit import make_shop
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_quote_form_live_totals_send_and_accept(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    shop = make_shop(make_personas())
    User.objects.update(language="en")
    customer = shop.customer
    customer.search_text = fold(customer.legal_name)
    customer.save()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    login(page, shop.personas.users["management"].email, PASSWORD)

    page.goto("/sales/quotes/new/")
    page.fill("input[name=organization_id_q]", customer.legal_name[:6])
    expect(page.locator(f"#id_organization_id option[value='{customer.pk}']")).to_have_count(1)
    page.select_option("#id_organization_id", str(customer.pk))
    page.fill("input[name=lines-0-product_id_q]", "chaise")
    expect(page.locator(f"#id_lines-0-product_id option[value='{shop.chair.pk}']")).to_have_count(1)
    page.select_option("#id_lines-0-product_id", str(shop.chair.pk))
    page.fill("#id_lines-0-quantity", "3")
    # 3 chairs at 80.00 (the list price) + 20 % VAT.
    expect(page.locator("#total-total")).to_contain_text("288.00")
    page.fill("#id_discount_percent", "10")
    expect(page.locator("#total-total")).to_contain_text("259.20")
    with page.expect_navigation():
        page.click("#save-quote")
    quote = Quote.objects.get()
    assert str(quote.total_amount) == "259.20"

    with page.expect_navigation():
        page.click("#action-send")
    page.click("#action-accept")
    page.fill("#id_by_name", "Jeanne Martin")
    with page.expect_navigation():
        page.click("#confirm-accept")
    expect(page.locator("#quote-accepted")).to_contain_text("Jeanne Martin")
    assert Quote.objects.get().state == QuoteState.ACCEPTED
    assert problems == []

"""The whole order-to-cash journey in Chromium, every step through the pages.

A salesperson opens an opportunity, makes a quote from it ("New quote"), fills three lines
and sends it by email (a real local SMTP server receives it); the customer opens the link
of that email in another browser (no session) and accepts online; the salesperson creates
the sales order from the accepted quote, and the opportunity is then won. Finance invoices
the order, posts the invoice and registers the payment from the invoice's page. The
customer's 360° page finally shows each step: quote sent, quote accepted, order, invoice,
payment. Only the company, the users, the customer, its contact, the opportunity and the
products are seeded through the services; no page may violate the Content-Security-Policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from comptoir.accounting.models import Invoice, InvoiceState
from comptoir.accounting.models_payments import Payment
from comptoir.accounting.tests.invoices_kit import make_books
from comptoir.catalog import services as catalog_services
from comptoir.contacts.models import Affiliation, Person
from comptoir.crm import services as crm_services
from comptoir.crm.models import Opportunity
from comptoir.crm.tests.smtp import Mailbox, smtp_server  # noqa: F401 - fixture "smtp"
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, Personas, enable_modules
from comptoir.sales.models_orders import SalesOrder
from comptoir.sales.models_quotes import Quote, QuoteState, QuoteVersion
from tests.browser.conftest import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Chair 4 × 80.00 + design 2 × 450.00 (services) + book 5 × 20.00 (5.5 %):
# 320.00 + 900.00 at 20 % = 244.00 VAT, 100.00 at 5.5 % = 5.50 VAT.
UNTAXED = Decimal("1320.00")
TOTAL = Decimal("1569.50")


@pytest.fixture
def patient_expect() -> Iterator[None]:
    """Assertions wait up to 20 s for their element (the machine may be loaded), then back to the default."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)


def _watch(target: Any, problems: list[str]) -> None:
    """Collect CSP violations and script errors of a page."""
    target.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    target.on("pageerror", lambda exc: problems.append(str(exc)))


def _seed(personas: Personas) -> dict[str, Any]:
    books = make_books(personas)
    enable_modules(personas, "crm", "catalog", "sales")
    sales = personas.users["sales"]
    User.objects.filter(pk__in=[sales.pk, personas.users["finance"].pk]).update(language="en")
    customer = books.customer
    customer.owner = sales  # the salesperson's customer (contacts record rule)
    customer.save(update_fields=["owner"])
    contact = Person.objects.create(company_id=books.company_id, first_name="Julie", last_name="Martin",
                                    email="julie.martin@boulangerie.test")  # fmt: skip
    Affiliation.objects.create(person=contact, organization=customer, role="Gérante", is_primary=True)
    admin = personas.actor("admin")
    products = {
        "chair": catalog_services.product_create(actor=admin, reference="CH-1", name_fr="Chaise", name_en="Chair",
                                                 kind="goods", sale_price="80.00", vat_category="standard"),
        "design": catalog_services.product_create(actor=admin, reference="SV-1", name_fr="Conception",
                                                  name_en="Design", kind="service", sale_price="450.00",
                                                  vat_category="standard"),
        "book": catalog_services.product_create(actor=admin, reference="LV-1", name_fr="Livre", name_en="Book",
                                                kind="goods", sale_price="20.00", vat_category="reduced"),
    }  # fmt: skip
    opportunity = crm_services.opportunity_create(actor=personas.actor("sales"), title="Chaises du salon",
                                                  organization_id=customer.pk)  # fmt: skip
    return {"customer": customer, "contact": contact, "products": products, "opportunity": opportunity}


def test_opportunity_to_payment_on_the_timeline(chromium, page, live_server, personas: Personas,
                                                smtp: Mailbox, patient_expect: None) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from playwright.sync_api import expect

    seed = _seed(personas)
    customer, opportunity, products = seed["customer"], seed["opportunity"], seed["products"]
    opportunity_url = reverse("crm:opportunity", args=[opportunity.pk])  # loads the URLconf before the first request
    page.set_default_timeout(30_000)  # a shared, loaded machine: generous, but every wait is on an element
    problems: list[str] = []
    _watch(page, problems)

    # --- The salesperson: opportunity → quote with three lines → sent by email.
    login(page, personas.users["sales"].email, PASSWORD)
    page.goto(opportunity_url)
    with page.expect_navigation():
        page.click("#action-new-quote")
    expect(page.locator("#id_opportunity_id")).to_have_value(str(opportunity.pk))
    expect(page.locator("#id_organization_id")).to_have_value(str(customer.pk))
    page.select_option("#id_contact_id", str(seed["contact"].pk))
    page.fill("#id_title", "Mobilier du salon")
    for index, (product, quantity) in enumerate((("chair", "4"), ("design", "2"), ("book", "5"))):
        page.select_option(f"#id_lines-{index}-product_id", str(products[product].pk))
        page.fill(f"#id_lines-{index}-quantity", quantity)
    # The live totals (htmx) follow the lines: the same computation as saving.
    expect(page.locator("#total-total")).to_contain_text("1569.50 EUR")
    with page.expect_navigation():
        page.click("#save-quote")
    expect(page.locator("#quote-header")).to_have_attribute("data-state", QuoteState.DRAFT)
    quote = Quote.objects.get(opportunity=opportunity)
    assert (quote.untaxed_amount, quote.total_amount) == (UNTAXED, TOTAL)
    assert quote.lines.count() == 3

    with page.expect_navigation():
        page.click("#quote-send")
    expect(page.locator("#id_to")).to_have_value("julie.martin@boulangerie.test")
    with page.expect_navigation():
        page.click("#send-submit")
    expect(page.locator("#quote-header")).to_have_attribute("data-state", QuoteState.SENT)
    quote.refresh_from_db()
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == "julie.martin@boulangerie.test"
    assert [a.get_filename() for a in mail.iter_attachments()] == [f"{quote.number}-v1.pdf"]
    found = re.search(r"https://crm\.example\.test(/sales/q/[^/\s]+/)", smtp.body())
    assert found is not None, smtp.body()

    # --- The customer: the emailed link in another browser, no session; accepts online.
    customer_context = chromium.new_context(base_url=live_server.url, locale="fr-FR")
    customer_page = customer_context.new_page()
    _watch(customer_page, problems)
    customer_page.goto(found.group(1))
    expect(customer_page.locator("#quote-number")).to_have_text(quote.number)
    customer_page.fill("#accept-name", "Julie Martin")
    customer_page.check("#accept-agree")
    with customer_page.expect_navigation():
        customer_page.click("#accept-button")
    expect(customer_page.locator("#accepted")).to_contain_text("Julie Martin")
    customer_context.close()
    quote.refresh_from_db()
    assert quote.state == QuoteState.ACCEPTED and quote.acceptance_via == "online"

    # --- The salesperson: the order from the accepted quote; the opportunity is won.
    page.goto(reverse("sales:quote", args=[quote.pk]))
    expect(page.locator("#quote-header")).to_have_attribute("data-state", QuoteState.ACCEPTED)
    expect(page.locator("#quote-accepted")).to_contain_text("Julie Martin")
    with page.expect_navigation():
        page.click("#quote-order")
    expect(page.locator("#order-header")).to_have_attribute("data-state", "confirmed")
    order = SalesOrder.objects.get(quote=quote)
    assert order.number and page.locator("#order-number").inner_text() == order.number
    assert order.opportunity_id == opportunity.pk and order.total_amount == TOTAL
    page.goto(opportunity_url)
    expect(page.locator("#opportunity-status")).to_have_attribute("data-status", "won")
    assert Opportunity.objects.get(pk=opportunity.pk).status == "won"

    # --- Finance: invoice the order, post the invoice, register the payment.
    finance_context = chromium.new_context(base_url=live_server.url, locale="en-US")
    finance_context.set_default_timeout(30_000)
    finance = finance_context.new_page()
    _watch(finance, problems)
    login(finance, personas.users["finance"].email, PASSWORD)
    finance.goto(reverse("sales:order", args=[order.pk]))
    with finance.expect_navigation():
        finance.click("#order-invoice")
    expect(finance.locator("#invoice-header")).to_have_attribute("data-state", InvoiceState.DRAFT)
    invoice = Invoice.objects.get(organization=customer)
    assert (invoice.untaxed_amount, invoice.total_amount) == (UNTAXED, TOTAL)
    with finance.expect_navigation(timeout=60_000):  # posting renders the Factur-X PDF
        finance.click("#invoice-post")
    expect(finance.locator("#invoice-header")).to_have_attribute("data-state", InvoiceState.POSTED)
    invoice.refresh_from_db()
    assert invoice.number
    with finance.expect_navigation():
        finance.click("#invoice-pay")
    expect(finance.locator("#id_amount")).to_have_value(str(TOTAL))
    finance.fill("#id_reference", "VIR SEPA CHAISES")
    with finance.expect_navigation(timeout=30_000):
        finance.click("#payment-submit")
    expect(finance.locator("#payment-state")).to_have_attribute("data-state", "posted")
    assert Invoice.objects.get(pk=invoice.pk).state == InvoiceState.PAID
    payment = Payment.objects.get(organization=customer)

    # --- The customer's 360° page shows every step, newest first.
    finance.goto(reverse("contacts:organization_detail", args=[customer.pk]))
    timeline = finance.locator("#timeline-list")
    steps = {
        # "Sent" entries are keyed by the quote version sent, "accepted" ones by the quote.
        "quote_sent": (QuoteVersion.objects.get(quote=quote, version=1).pk, f"Quote {quote.number} v1 sent"),
        "quote_accepted": (quote.pk, f"Quote {quote.number} v1 accepted"),
        "sales_orders": (order.pk, f"Sales order {order.number} confirmed"),
        "invoices": (invoice.pk, invoice.number),
        "payments": (payment.pk, "Payment received: 1,569.50 EUR"),
    }
    for source, (key, title) in steps.items():
        entry = timeline.locator(f"li[data-source='{source}'][data-key='{key}']")
        expect(entry).to_have_count(1)
        expect(entry).to_contain_text(title)
    expect(timeline.locator("li[data-source='quote_accepted']")).to_contain_text("Online, by Julie Martin")
    order_of_sources = timeline.locator("li[data-source]").evaluate_all("items => items.map(i => i.dataset.source)")
    positions = [order_of_sources.index(source) for source in ("payments", "invoices", "sales_orders",
                                                               "quote_accepted", "quote_sent")]  # fmt: skip
    assert positions == sorted(positions), order_of_sources
    finance_context.close()
    assert problems == []

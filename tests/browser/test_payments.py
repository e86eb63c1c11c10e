"""Paying an invoice in a real browser: finance writes a customer invoice, posts it, pays
it from its page (amount prefilled), clicks "record" twice, and sees it paid once."""

from __future__ import annotations

import pytest

from comptoir.accounting.models import Invoice, InvoiceState
from comptoir.accounting.models_payments import Payment
from comptoir.accounting.tests.invoices_kit import make_books
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, Personas

from .conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_pay_an_invoice(page, personas: Personas) -> None:  # type: ignore[no-untyped-def]
    books = make_books(personas)
    user = personas.users["finance"]
    User.objects.filter(pk=user.pk).update(language="en")

    login(page, user.email, PASSWORD)
    page.goto("/accounting/invoices/")
    page.click("#invoice-new")
    page.select_option("#id_organization_id", str(books.customer.pk))
    page.fill("#id_lines-0-name", "Bread oven maintenance")
    page.select_option("#id_lines-0-operation", "services")
    page.fill("#id_lines-0-unit_price", "250")
    with page.expect_navigation():
        page.click("#save-draft")
    with page.expect_navigation(timeout=30_000):  # posting renders the Factur-X PDF
        page.click("#invoice-post")
    assert page.locator("#invoice-header").get_attribute("data-state") == "posted"
    invoice = Invoice.objects.get()

    # "Register a payment" on the invoice page: the amount due is prefilled.
    with page.expect_navigation():
        page.click("#invoice-pay")
    assert page.input_value("#id_amount") == "300.00"
    page.fill("#id_reference", "VIR SEPA 0042")
    # A double click submits the form twice: the payment is recorded once. The second submission
    # aborts the first navigation (expect_navigation would catch that one): wait for the page shown.
    page.dblclick("#payment-submit")
    page.wait_for_selector("#payment-state", timeout=30_000)
    assert page.locator("#payment-state").get_attribute("data-state") == "posted"
    assert Payment.objects.count() == 1

    page.goto(f"/accounting/invoices/{invoice.pk}/")
    panel = page.locator("#invoice-payments")
    assert panel.get_attribute("data-state") == InvoiceState.PAID
    assert page.locator("#invoice-residual").inner_text() == "0.00"
    assert page.locator("#invoice-pay").count() == 0
    assert "Paid" in page.locator("#invoice-header").inner_text()
    assert Payment.objects.count() == 1 and Invoice.objects.get().state == InvoiceState.PAID

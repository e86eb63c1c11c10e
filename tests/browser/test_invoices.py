"""Invoices in a real browser: finance writes a customer invoice (adding a line without
JavaScript), posts it, and downloads its Factur-X: a PDF carrying the CII XML."""

from __future__ import annotations

from decimal import Decimal

import pytest

from comptoir.accounting.einvoice.parse import parse_einvoice
from comptoir.accounting.models import Invoice, InvoiceState
from comptoir.accounting.tests.invoices_kit import make_books
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, Personas

from .conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_post_and_download_an_invoice(page, personas: Personas) -> None:  # type: ignore[no-untyped-def]
    books = make_books(personas)
    user = personas.users["finance"]
    User.objects.filter(pk=user.pk).update(language="en")

    login(page, user.email, PASSWORD)
    page.goto("/accounting/invoices/")
    page.click("#invoice-new")
    page.select_option("#id_organization_id", str(books.customer.pk))
    page.fill("#id_lines-0-name", "Bread oven maintenance")
    page.select_option("#id_lines-0-operation", "services")
    page.fill("#id_lines-0-quantity", "3")
    page.fill("#id_lines-0-unit_price", "150")
    page.fill("#id_lines-1-name", "Baguettes")
    page.fill("#id_lines-1-quantity", "40")
    page.fill("#id_lines-1-unit_price", "1.10")
    page.select_option("#id_lines-1-vat_category", "reduced")
    # "Add a line" posts the form back with one more empty line (no JavaScript involved).
    with page.expect_navigation():
        page.click("#add-line")
    assert page.locator("#invoice-lines tbody tr[data-line]").count() == 4
    page.fill("#id_lines-3-name", "Travel")
    page.select_option("#id_lines-3-operation", "services")
    page.fill("#id_lines-3-unit_price", "35")
    with page.expect_navigation():
        page.click("#save-draft")

    header = page.locator("#invoice-header")
    assert header.get_attribute("data-state") == "draft"
    # 450 + 35 services at 20 %, 44 bread at 5.5 %.
    assert page.locator("#total-total").inner_text().startswith("628.42")
    with page.expect_navigation():
        page.click("#invoice-post")
    assert header.get_attribute("data-state") == "posted"
    invoice = Invoice.objects.select_related("journal_entry").get()
    assert invoice.state == InvoiceState.POSTED and header.get_attribute("data-number") == invoice.number
    assert page.locator("#entry-link").inner_text() == invoice.journal_entry.number  # type: ignore[union-attr]

    with page.expect_download() as info:
        page.click("#invoice-pdf")
    download = info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    with open(download.path(), "rb") as handle:
        data = handle.read()
    assert data.startswith(b"%PDF-")
    parsed = parse_einvoice(data)  # the embedded factur-x.xml
    assert parsed.document.number == invoice.number
    assert parsed.stated.grand_total == Decimal("628.42") == invoice.total_amount

"""Accounting in Chromium: the invoice form finds a customer among thousands by typing
(htmx autocomplete, no list of every customer), a payment term's due dates preview updates
while typing, and a credit note settles an invoice from its page."""

from __future__ import annotations

import pytest

from comptoir.accounting import invoices
from comptoir.accounting.models import Invoice, InvoiceState, PaymentTerm
from comptoir.accounting.tests.invoices_kit import line, make_books
from comptoir.contacts.models import Organization
from comptoir.contacts.normalize import fold
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, make_personas
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_autocomplete_term_preview_and_credit_allocation(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    books = make_books(make_personas())
    User.objects.update(language="en")
    company = books.personas.company
    Organization.objects.bulk_create(
        Organization(company=company, legal_name=f"Client {i:05d}", search_text=fold(f"Client {i:05d}"))
        for i in range(1500)
    )
    zenith = Organization.objects.create(company=company, legal_name="Zénith Boulangerie",
                                         search_text=fold("Zénith Boulangerie"))  # fmt: skip
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    login(page, books.personas.users["finance"].email, PASSWORD)

    # 1. Autocomplete: type part of the name, pick the match, save the draft.
    page.goto("/accounting/invoices/new/?kind=customer_invoice")
    page.fill("input[name=organization_id_q]", "zenith")
    expect(page.locator(f"#id_organization_id option[value='{zenith.pk}']")).to_have_count(1)
    page.select_option("#id_organization_id", str(zenith.pk))
    page.fill("#id_lines-0-name", "Conseil")
    page.fill("#id_lines-0-quantity", "1")
    page.fill("#id_lines-0-unit_price", "100")
    with page.expect_navigation():
        page.click("#save-draft")
    assert Invoice.objects.get(organization=zenith).state == InvoiceState.DRAFT

    # 2. Payment term: the due dates preview follows the installments being typed.
    page.goto("/accounting/terms/new/")
    page.fill("#id_name", "Moitié-moitié")
    page.fill("#id_issue_date", "2026-01-31")
    page.fill("#id_total", "200.00")
    page.select_option("#id_lines-0-kind", "percent")
    page.fill("#id_lines-0-percent", "50")
    page.fill("#id_lines-0-days", "0")
    page.select_option("#id_lines-1-kind", "balance")
    page.fill("#id_lines-1-days", "30")
    page.check("#id_lines-1-end_of_month")
    expect(page.locator("#term-preview-table tr")).to_have_count(2)
    expect(page.locator("#term-preview-table")).to_contain_text("100.00")
    with page.expect_navigation():
        page.click("#term-save")
    assert PaymentTerm.objects.get(name="Moitié-moitié").lines.count() == 2

    # 3. A credit note settles its invoice from the credit note's page.
    actor = books.actor()
    invoice = books.posted([line(quantity="2")])  # 240.00
    draft = invoices.invoice_credit(actor=actor, invoice_id=invoice.pk, lines=[{"line": 1, "quantity": "1"}])
    credit = invoices.invoice_post(actor=actor, invoice_id=draft.pk, render_pdf=False)
    page.goto(f"/accounting/invoices/{credit.pk}/")
    with page.expect_navigation():
        page.click("#credit-allocate")
    expect(page.locator(f"#allocate-{invoice.pk}")).to_have_value("120.00")
    with page.expect_navigation():
        page.click("#credit-allocate-submit")
    expect(page.locator("#credit-allocations")).to_contain_text(invoice.number)
    assert Invoice.objects.get(pk=credit.pk).state == InvoiceState.PAID
    assert Invoice.objects.get(pk=invoice.pk).residual_amount == 120
    assert not problems, problems

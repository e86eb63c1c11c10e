"""Online acceptance in a real browser: the salesperson sends a quote from its page, the
customer opens the emailed link (no login), takes an option, accepts, and sees the
confirmation; the page runs under the application's CSP without a single violation."""

from __future__ import annotations

import re

import pytest

from comptoir.crm.tests.smtp import Mailbox, smtp_server  # noqa: F401 - fixture "smtp"
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, Personas
from comptoir.sales.models_quotes import Quote, QuoteState, QuoteVersion
from comptoir.sales.tests.documents_kit import make_desk, pdf_text

from .conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_send_then_accept_online(page, chromium, live_server, personas: Personas, smtp: Mailbox) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk(personas)
    quote = desk.quote(language="en")
    option = desk.optional_line(quote)
    user = personas.users["sales"]
    User.objects.filter(pk=user.pk).update(language="en")

    login(page, user.email, PASSWORD)
    page.goto(f"/sales/quotes/{quote.pk}/send/")
    assert page.input_value("#id_to") == "julie.martin@boulangerie.test"
    page.fill("#id_message", "Hello Julie,\nhere is the quote we discussed.")
    with page.expect_navigation():
        page.click("#send-submit")
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.SENT

    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert [a.get_filename() for a in mail.iter_attachments()] == [f"{quote.number}-v1.pdf"]
    found = re.search(r"https://crm\.example\.test(/sales/q/[^/\s]+/)", smtp.body())
    assert found is not None

    # The customer: another browser, no session.
    context = chromium.new_context(base_url=live_server.url, locale="fr-FR")
    customer = context.new_page()
    violations: list[str] = []
    customer.on("console", lambda message: violations.append(message.text)
                if "Content Security Policy" in message.text else None)  # fmt: skip
    customer.goto(found.group(1))
    assert customer.locator("#quote-number").inner_text() == quote.number
    assert customer.locator("#quote-lines").inner_text().count("Chaise") == 1
    customer.check(f"#option-{option.pk}")
    customer.fill("#accept-name", "Julie Martin")
    customer.check("#accept-agree")
    with customer.expect_navigation():
        customer.click("#accept-button")
    confirmation = customer.locator("#accepted")
    assert "Thank you, this quote is accepted." in confirmation.inner_text()
    assert "Julie Martin" in confirmation.inner_text()
    assert "1,569.10" in customer.locator("#accepted-total").inner_text()
    # Submitting again (back button, reload) is harmless: the page still confirms.
    customer.reload()
    assert customer.locator("#accepted").count() == 1

    pdf = customer.request.get(customer.get_attribute("#download-pdf", "href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    data = pdf.body()
    assert "Accepted online by Julie Martin" in pdf_text(data)
    assert violations == []
    context.close()

    accepted = Quote.objects.get(pk=quote.pk)
    assert accepted.state == QuoteState.ACCEPTED and accepted.accepted_version == 1
    assert accepted.accepted_ip == "127.0.0.1"
    assert bytes(QuoteVersion.objects.get(quote=accepted, version=1).pdf) == data

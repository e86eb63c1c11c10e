"""Quote documents: the PDF and its French mentions, sending by email (real SMTP), pages and API."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from comptoir.crm.tests.smtp import Mailbox, free_port, smtp_mailers, smtp_server  # noqa: F401 - fixture "smtp"
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent
from comptoir.kernel.tasks import dispatch_pending_events
from comptoir.org.testing import PASSWORD, Personas, make_user
from comptoir.sales import quote_pdf, quotes, sending
from comptoir.sales.models_quotes import Quote, QuoteState, QuoteVersion
from comptoir.sales.tests.documents_kit import Desk, make_desk, pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(personas: Personas) -> Desk:
    desk = make_desk(personas)
    company = personas.company
    company.share_capital, company.rcs = "10 000 €", "RCS Lyon 842 157 638"
    company.save(update_fields=["share_capital", "rcs"])
    return desk


def sent_version(desk: Desk, **data: Any) -> tuple[Quote, QuoteVersion]:
    quote = desk.quote(payment_term_id=desk.books.term("30 jours").pk, **data)
    version = quotes.quote_mark_sent(actor=desk.actor(), quote_id=quote.pk)
    return Quote.objects.select_related("company").get(pk=quote.pk), version


def test_pdf_shows_every_mention_a_french_quote_needs(desk: Desk) -> None:
    quote, version = sent_version(desk, language="en", discount_percent="5")
    data = quote_pdf.render_pdf(quote, version)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    expected = [
        "Quote",
        f"Number {quote.number}",
        "Version 1",
        f"Date {quote.issue_date:%m/%d/%Y}",
        f"Valid until {quote.valid_until:%m/%d/%Y}",
        # Seller identification, as on invoices
        "Atelier Dupont SAS",
        "12 rue des Artisans",
        "SAS with a share capital of 10,000.00 € · RCS Lyon 842 157 638",
        "SIREN 842157638 · SIRET 84215763800011",
        "VAT number FR62842157638",
        # Customer
        "Boulangerie Martin",
        "For the attention of Julie Martin",
        "3 rue du Pain",
        "SIREN 732829320",
        "VAT number FR40732829320",
        # Sections, text lines, detailed lines with unit prices, discounts and VAT rates
        "Salon",
        "Chaise Chêne massif 6 u 80.00 20 % 480.00 €",
        "Livraison sous 3 semaines",
        "Conception 2 u 450.00 10 % 20 % 810.00 €",
        "Livre d'art OPTION, NOT INCLUDED 1 u 20.00 5.5 % 20.00 €",
        # VAT per rate and totals, with the document discount
        "Total excl. VAT before discount 1,290.00 €",
        "Discount 5 % -64.50 €",
        "20 % 1,225.50 € 245.10 €",
        "Total excl. VAT 1,225.50 €",
        "Total VAT 245.10 €",
        "Total incl. VAT 1,470.60 €",
        # Terms
        f"This quote is valid until {quote.valid_until:%m/%d/%Y}.",
        "Payment terms: Paiement à 30 jours",
        "Fixed indemnity for recovery costs in case of late payment: 40.00 €",
        "This quote is free of charge.",
        "Quote received before the work is carried out.",
        "Prix fermes.",
        # Signature block
        "“Good for agreement” (handwritten), date and signature",
    ]
    missing = [item for item in expected if item not in text]
    assert missing == [], text


def test_pdf_speaks_the_customers_language(desk: Desk) -> None:
    quote, version = sent_version(desk, language="fr")
    text = pdf_text(quote_pdf.render_pdf(quote, version))
    # French dates and amounts whatever the user's language.
    assert f"{quote.valid_until:%d/%m/%Y}" in text
    assert "1 548,00 €" in text
    assert "1,548.00" not in text


def test_pdf_of_a_selected_option_says_it_is_included(desk: Desk) -> None:
    quote = desk.quote(language="en")
    line = desk.optional_line(quote)
    lines = [dict(row, quantity=str(row["quantity"]), unit_price=str(row["unit_price"]),
                  discount_percent=str(row["discount_percent"])) for row in quotes.current_lines(quote)]  # fmt: skip
    for row in lines:
        row.pop("price_explanation", None)
        if row["id"] == line.pk:
            row["selected"] = True
    quotes.quote_update(actor=desk.actor(), quote_id=quote.pk, lines=lines)
    version = quotes.quote_mark_sent(actor=desk.actor(), quote_id=quote.pk)
    text = pdf_text(quote_pdf.render_pdf(Quote.objects.select_related("company").get(pk=quote.pk), version))
    assert "Livre d'art OPTION, INCLUDED" in text
    assert "Total incl. VAT 1,569.10 €" in text  # 1,548.00 + 20.00 + 5.5 % VAT


def test_send_stores_the_pdf_and_emails_it_with_the_link(
    desk: Desk, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    quote = desk.quote(language="en")
    with django_capture_on_commit_callbacks(execute=True):
        version = sending.quote_send(actor=desk.actor(), quote_id=quote.pk, to="julie.martin@boulangerie.test",
                                     subject="", message="Hello Julie,\nhere is our offer.")  # fmt: skip
    quote.refresh_from_db()
    assert quote.state == QuoteState.SENT
    assert version.version == 1 and version.sent_at is not None
    stored = QuoteVersion.objects.get(pk=version.pk)
    assert bytes(stored.pdf).startswith(b"%PDF-")
    assert stored.pdf_sha256 == hashlib.sha256(bytes(stored.pdf)).hexdigest()

    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == "julie.martin@boulangerie.test"
    assert mail["Subject"] == f"Quote {quote.number} — Atelier Dupont"
    assert mail["Reply-To"] == "sales@atelier-dupont.test"
    body = smtp.body().replace("\r\n", "\n")
    assert body.startswith("Hello Julie,\nhere is our offer.")
    link = re.search(r"https://crm\.example\.test/sales/q/([^/\s]+)/", body)
    assert link is not None
    attachments = list(mail.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"{quote.number}-v1.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content() == bytes(stored.pdf)

    # The link works: the customer's page shows this version.
    page = Client().get(f"/sales/q/{link.group(1)}/")
    assert page.status_code == 200
    assert quote.number in page.content.decode()

    entry = AuditEntry.objects.get(action="quote.email", object_id=str(quote.pk))
    assert entry.changes["to"] == [None, "julie.martin@boulangerie.test"]
    assert entry.changes["sha256"] == [None, stored.pdf_sha256]
    assert AuditEntry.objects.filter(action="quote.send", object_id=str(quote.pk)).exists()


def test_sending_again_keeps_the_frozen_version(desk: Desk, smtp: Mailbox,
                                                django_capture_on_commit_callbacks: Any) -> None:  # fmt: skip
    quote = desk.quote()
    with django_capture_on_commit_callbacks(execute=True):
        first = sending.quote_send(actor=desk.actor(), quote_id=quote.pk, to=["a@client.test"])
    with django_capture_on_commit_callbacks(execute=True):
        again = sending.quote_send(actor=desk.actor(), quote_id=quote.pk, to=["b@client.test"])
    assert again.pk == first.pk
    assert QuoteVersion.objects.get(pk=first.pk).pdf_sha256 == first.pdf_sha256
    assert [m["To"] for m in smtp.messages] == ["a@client.test", "b@client.test"]


def test_send_refuses_bad_input_and_changes_nothing(desk: Desk, smtp: Mailbox) -> None:
    quote = desk.quote()
    with pytest.raises(ValidationFailed) as caught:
        sending.quote_send(actor=desk.actor(), quote_id=quote.pk, to="not-an-email, ok@client.test",
                           subject="two\nlines")  # fmt: skip
    assert set(caught.value.fields) == {"to", "subject"}
    with pytest.raises(ValidationFailed) as caught:
        sending.quote_send(actor=desk.actor(), quote_id=quote.pk, to="")
    assert "to" in caught.value.fields
    quote.refresh_from_db()
    assert quote.state == QuoteState.DRAFT
    assert not QuoteVersion.objects.filter(quote=quote).exists()
    assert not OutboxEvent.objects.filter(name=sending.EVENT).exists()
    assert smtp.messages == []


def test_send_checks_permission_and_record_rule(desk: Desk, smtp: Mailbox) -> None:
    quote = desk.quote()
    with pytest.raises(PermissionDenied):
        sending.quote_send(actor=desk.actor("service"), quote_id=quote.pk, to="a@client.test")
    with pytest.raises(NotFound):
        sending.quote_send(actor=desk.personas.outsider_actor(), quote_id=quote.pk, to="a@client.test")
    quotes.quote_cancel(actor=desk.actor(), quote_id=quote.pk)
    with pytest.raises(Conflict):
        sending.quote_send(actor=desk.actor(), quote_id=quote.pk, to="a@client.test")


def test_a_mail_server_down_delays_the_email_without_losing_it(
    desk: Desk, smtp: Mailbox, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    quote = desk.quote()
    working = settings.MAILERS
    settings.MAILERS = smtp_mailers(free_port())  # nobody listens there
    with django_capture_on_commit_callbacks(execute=True):
        sending.quote_send(actor=desk.actor(), quote_id=quote.pk, to="a@client.test")
    event = OutboxEvent.objects.get(name=sending.EVENT)
    assert event.status == OutboxEvent.Status.FAILED
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.SENT
    settings.MAILERS = working
    dispatch_pending_events.call()
    assert len(smtp.messages) == 1
    dispatch_pending_events.call()
    assert len(smtp.messages) == 1  # sent once


# --- Pages ---------------------------------------------------------------------------------


def login(desk: Desk, role: str = "sales") -> Client:
    client = Client()
    assert client.login(email=desk.personas.users[role].email, password=PASSWORD)
    return client


def test_pdf_page_serves_any_version_to_who_may_see_it(desk: Desk) -> None:
    quote, _version = sent_version(desk)
    client = login(desk)
    url = reverse("sales:quote_pdf", args=[quote.pk])
    response = client.get(url)  # not stored yet (marked sent without the email): rendered on the fly
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert f'filename="{quote.number}-v1.pdf"' in response["Content-Disposition"]
    assert client.get(url, {"version": 7}).status_code == 404
    # A draft previews its current version.
    draft = desk.quote()
    assert client.get(reverse("sales:quote_pdf", args=[draft.pk])).content.startswith(b"%PDF-")
    # Someone of another company, or without the sales module's view, gets nothing.
    outsider = Client()
    outsider.force_login(make_user(desk.personas.other_company, "sales"))
    assert outsider.get(url).status_code == 404
    assert login(desk, "hr").get(url).status_code in (403, 404)


def test_send_page_prefills_and_sends(desk: Desk, smtp: Mailbox, django_capture_on_commit_callbacks: Any) -> None:
    quote = desk.quote(language="en")
    client = login(desk)
    url = reverse("sales:quote_send", args=[quote.pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="julie.martin@boulangerie.test"' in html
    assert f"Quote {quote.number}" in html  # subject in the customer's language
    assert client.post(url, {"to": "nope", "subject": "", "message": ""}).status_code == 422
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"to": "julie.martin@boulangerie.test", "subject": "Votre devis",
                                     "message": "Bonjour"})  # fmt: skip
    assert response.status_code == 302
    assert smtp.messages[0]["Subject"] == "Votre devis"
    # Viewers may not send.
    assert login(desk, "service").get(url).status_code == 403


def test_link_page_gives_the_acceptance_link_of_a_sent_quote(desk: Desk) -> None:
    quote = desk.quote()
    client = login(desk)
    url = reverse("sales:quote_link", args=[quote.pk])
    assert 'id="link-problem"' in client.get(url).content.decode()
    quotes.quote_mark_sent(actor=desk.actor(), quote_id=quote.pk)
    html = client.get(url).content.decode()
    found = re.search(r'id="acceptance-link" value="http://[^"]+/sales/q/([^/"]+)/"', html)
    assert found is not None
    assert Client().get(f"/sales/q/{found.group(1)}/").status_code == 200
    assert AuditEntry.objects.filter(action="quote.link_issued", object_id=str(quote.pk)).count() == 1


# --- API -------------------------------------------------------------------------------------


def test_api_pdf_send_and_link(desk: Desk, smtp: Mailbox, django_capture_on_commit_callbacks: Any) -> None:
    quote = desk.quote()
    client = login(desk)
    base = f"/api/v1/sales/quotes/{quote.pk}"
    response = client.post(f"{base}/acceptance-link", content_type="application/json")
    assert response.status_code == 409 and response.json()["code"] == "quote_not_sent"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{base}/send", {"to": ["julie.martin@boulangerie.test"]},
                               content_type="application/json")  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 1 and body["state"] == "sent" and len(body["pdf_sha256"]) == 64
    assert len(smtp.messages) == 1
    pdf = client.get(f"{base}/pdf")
    assert pdf.status_code == 200 and pdf["X-Content-SHA256"] == body["pdf_sha256"]
    assert hashlib.sha256(pdf.content).hexdigest() == body["pdf_sha256"]
    link = client.post(f"{base}/acceptance-link", content_type="application/json")
    assert link.status_code == 201
    assert link.json()["url"].startswith("https://crm.example.test/sales/q/")
    bad = client.post(f"{base}/send", {"to": ["nope"]}, content_type="application/json")
    assert bad.status_code == 422 and "to" in bad.json()["fields"]
    assert client.get(f"/api/v1/sales/quotes/{quote.pk + 999}/pdf").status_code == 404


def test_documents_record_rule(desk: Desk) -> None:
    quote = desk.quote()
    from comptoir.sales import documents

    with pytest.raises(NotFound):
        documents.quote_get(desk.personas.outsider_actor(), quote.pk)

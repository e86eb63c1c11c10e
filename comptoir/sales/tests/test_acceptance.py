"""Online acceptance: signed links (tampering, expiry, stale versions), the public page,
acceptance recorded and stamped, declining, double submits, rate limit, CSRF and CSP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import signing
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from comptoir.kernel.models import AuditEntry
from comptoir.org.testing import Personas
from comptoir.sales import acceptance, quote_pdf, quotes
from comptoir.sales.models_quotes import Quote, QuoteState, QuoteVersion
from comptoir.sales.tests.documents_kit import Desk, make_desk, pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(personas: Personas) -> Desk:
    cache.clear()  # the rate limit counts in the cache
    return make_desk(personas)


def sent(desk: Desk, **data: Any) -> tuple[Quote, str]:
    quote = desk.quote(**data)
    quotes.quote_mark_sent(actor=desk.actor(), quote_id=quote.pk)
    quote = Quote.objects.select_related("company").get(pk=quote.pk)
    return quote, acceptance.make_token(quote)


def page_url(token: str) -> str:
    return reverse("sales:quote_public", args=[token])


def accept(client: Client, token: str, **data: Any) -> Any:
    form = {"action": "accept", "name": "Julie Martin", "agree": "1"} | data
    return client.post(page_url(token), form)


# --- Links -------------------------------------------------------------------------------------


def test_the_public_page_shows_the_version_without_login(desk: Desk) -> None:
    quote, token = sent(desk, language="en")
    response = Client().get(page_url(token))
    assert response.status_code == 200
    html = response.content.decode()
    assert quote.number in html
    assert "Chaise" in html and "Livre d&#x27;art" in html
    assert 'name="options"' in html and 'id="accept-form"' in html
    assert "csrfmiddlewaretoken" in html
    assert response["Content-Language"] == "en"
    assert response["Referrer-Policy"] == "same-origin"
    # Outside the app's shell, within its CSP: no inline style or script, nonce-based policy.
    assert 'id="global-search"' not in html
    assert "style=" not in html and "<script" not in html
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    pdf = Client().get(reverse("sales:quote_public_pdf", args=[token]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


def test_a_tampered_or_foreign_token_is_a_clear_404(desk: Desk) -> None:
    quote, token = sent(desk)
    value, stamp, signature = token.rsplit(":", 2)
    forged_payload = signing.dumps({"q": quote.pk, "v": 1, "u": "2099-01-01"}, salt="another-salt", compress=True)
    for bad in (
        f"{value}:{stamp}:{signature[:-2]}xx",  # signature altered
        f"{value[:-3]}abc:{stamp}:{signature}",  # content altered
        forged_payload,  # signed for another purpose
        "nothing-here",
        "x" * 500,
    ):
        response = Client().get(page_url(bad))
        assert response.status_code == 404, bad
        assert 'data-link-state="invalid"' in response.content.decode()
        assert Client().post(page_url(bad), {"name": "X", "agree": "1"}).status_code == 404
        assert Client().get(reverse("sales:quote_public_pdf", args=[bad])).status_code == 404


def test_a_link_to_a_cancelled_quote_leads_nowhere(desk: Desk) -> None:
    quote, token = sent(desk)
    quotes.quote_cancel(actor=desk.actor(), quote_id=quote.pk)
    assert Client().get(page_url(token)).status_code == 404
    assert Client().get(reverse("sales:quote_public_pdf", args=[token])).status_code == 404


def test_a_link_expires_with_its_version_or_its_age(desk: Desk, settings: Any) -> None:
    quote, token = sent(desk, valid_until=dt.date.today() + dt.timedelta(days=5))
    later = timezone.now() + dt.timedelta(days=7)
    public = acceptance.resolve(token, now=later)
    assert public.state == acceptance.LinkState.EXPIRED and public.status == 410
    assert acceptance.resolve(token).state == acceptance.LinkState.OPEN
    with pytest.raises(Exception) as caught:
        acceptance.accept_online(token=token, name="Julie", ip="127.0.0.1", now=later)
    assert getattr(caught.value, "code", "") == "quote_not_open"
    # Too old a link, whatever the validity date.
    settings.SALES_QUOTE_LINK_MAX_AGE_DAYS = 0
    response = Client().get(page_url(token))
    assert response.status_code == 410
    assert 'data-link-state="expired"' in response.content.decode()
    assert Client().get(reverse("sales:quote_public_pdf", args=[token])).status_code == 410
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.SENT


def test_an_expired_quote_cannot_be_accepted(desk: Desk) -> None:
    quote, token = sent(desk)
    Quote.objects.filter(pk=quote.pk).update(valid_until=dt.date.today() - dt.timedelta(days=1))
    quotes.expire_quotes(quote.company_id)
    response = accept(Client(), token)
    assert response.status_code == 410
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.EXPIRED


def test_a_link_to_a_revised_quote_says_so(desk: Desk) -> None:
    quote, token = sent(desk, language="en")
    quotes.quote_revise(actor=desk.actor(), quote_id=quote.pk)
    response = Client().get(page_url(token))
    assert response.status_code == 410
    html = response.content.decode()
    assert 'data-link-state="stale"' in html and "This link is for version 1" in html
    assert 'id="accept-form"' not in html
    assert accept(Client(), token).status_code == 410
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.DRAFT
    # Once version 2 is sent, its own link works and the old one stays stale.
    quotes.quote_mark_sent(actor=desk.actor(), quote_id=quote.pk)
    fresh = acceptance.make_token(Quote.objects.get(pk=quote.pk))
    assert Client().get(page_url(fresh)).status_code == 200
    assert Client().get(page_url(token)).status_code == 410


# --- Accepting ---------------------------------------------------------------------------------


def test_accepting_records_who_when_where_and_stamps_the_pdf(desk: Desk) -> None:
    quote, token = sent(desk, language="en")
    option = desk.optional_line(quote)
    sent_sha = quote_pdf.store_pdf(quote, QuoteVersion.objects.get(quote=quote, version=1)).pdf_sha256
    assert len(sent_sha) == 64
    client = Client(REMOTE_ADDR="203.0.113.9")
    response = accept(client, token, name="  Julie   Martin ", options=[str(option.pk)])
    assert response.status_code == 302 and response["Location"] == page_url(token)
    quote.refresh_from_db()
    assert quote.state == QuoteState.ACCEPTED
    assert quote.accepted_by_name == "Julie Martin"
    assert quote.accepted_ip == "203.0.113.9"
    assert quote.accepted_version == 1
    assert quote.acceptance_via == "online"
    assert quote.accepted_at is not None
    assert str(quote.total_amount) == "1569.10"  # the option taken counts now

    version = QuoteVersion.objects.get(quote=quote, version=1)
    assert version.pdf_sha256 != sent_sha
    text = pdf_text(bytes(version.pdf))
    assert "ACCEPTED ONLINE" in text
    assert "Accepted online by Julie Martin on" in text
    assert "from 203.0.113.9 — version 1" in text
    assert "Options chosen: Livre d'art" in text, text[text.find("ACCEPTED") :]
    assert "Total incl. VAT accepted: 1,569.10 €" in text
    assert "Livre d'art OPTION, INCLUDED" in text
    assert "Good for agreement" not in text  # the stamp replaces the signature box
    stamped = AuditEntry.objects.get(action="quote.pdf_stamped", object_id=str(quote.pk))
    assert stamped.changes["sha256"] == [sent_sha, version.pdf_sha256]
    accepted = AuditEntry.objects.get(action="quote.accept", object_id=str(quote.pk))
    assert accepted.changes["ip"] == [None, "203.0.113.9"]

    # The page now confirms, and serves the stamped PDF.
    html = client.get(page_url(token)).content.decode()
    assert 'data-link-state="accepted"' in html and "Julie Martin" in html
    assert 'id="accept-form"' not in html
    pdf = client.get(reverse("sales:quote_public_pdf", args=[token]))
    assert pdf.content == bytes(version.pdf)
    assert "accepted" in pdf["Content-Disposition"]


def test_a_double_submit_is_harmless(desk: Desk) -> None:
    quote, token = sent(desk)
    client = Client()
    assert accept(client, token).status_code == 302
    assert accept(client, token, name="Someone Else").status_code == 302
    quote.refresh_from_db()
    assert quote.accepted_by_name == "Julie Martin"
    assert AuditEntry.objects.filter(action="quote.accept", object_id=str(quote.pk)).count() == 1
    assert AuditEntry.objects.filter(action="quote.pdf_stamped", object_id=str(quote.pk)).count() == 1
    # Declining after accepting changes nothing either.
    response = Client().post(page_url(token), {"action": "decline", "reason": "Oops"})
    assert response.status_code == 409
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.ACCEPTED


def test_accepting_needs_a_name_and_the_box_ticked(desk: Desk) -> None:
    quote, token = sent(desk, language="en")
    response = accept(Client(), token, name="   ")
    assert response.status_code == 422
    assert "Type your full name to accept." in response.content.decode()
    response = accept(Client(), token, agree="")
    assert response.status_code == 422
    assert "Tick the box" in response.content.decode()
    response = accept(Client(), token, options=["999999"])
    assert response.status_code == 422
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.SENT


def test_declining_records_the_reason(desk: Desk) -> None:
    quote, token = sent(desk, language="en")
    response = Client(REMOTE_ADDR="198.51.100.4").post(page_url(token), {"action": "decline",
                                                                        "reason": "Trop cher"})  # fmt: skip
    assert response.status_code == 302
    quote.refresh_from_db()
    assert quote.state == QuoteState.REFUSED and quote.refusal_reason == "Trop cher"
    entry = AuditEntry.objects.get(action="quote.declined_online", object_id=str(quote.pk))
    assert entry.changes["ip"] == [None, "198.51.100.4"]
    html = Client().get(page_url(token)).content.decode()
    assert 'data-link-state="refused"' in html


def test_behind_our_proxy_the_client_address_is_the_last_hop(desk: Desk, settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    quote, token = sent(desk)
    client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 192.0.2.77")
    assert accept(client, token).status_code == 302
    assert Quote.objects.get(pk=quote.pk).accepted_ip == "192.0.2.77"


def test_public_posts_are_rate_limited(desk: Desk, settings: Any) -> None:
    settings.SALES_PUBLIC_POST_LIMIT = 3
    quote, token = sent(desk)
    client = Client(REMOTE_ADDR="203.0.113.50")
    for _ in range(3):
        assert accept(client, token, name="").status_code == 422
    response = accept(client, token)
    assert response.status_code == 429
    assert 'data-link-state="throttled"' in response.content.decode()
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.SENT
    # Another address is not affected.
    assert accept(Client(REMOTE_ADDR="203.0.113.51"), token).status_code == 302


def test_csrf_applies_to_the_public_form(desk: Desk) -> None:
    quote, token = sent(desk)
    client = Client(enforce_csrf_checks=True)
    assert accept(client, token).status_code == 403
    page = client.get(page_url(token))
    csrf = page.cookies["csrftoken"].value
    response = accept(client, token, csrfmiddlewaretoken=csrf)
    assert response.status_code == 302
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.ACCEPTED


def test_token_content_is_what_it_says(desk: Desk) -> None:
    quote, token = sent(desk)
    link = acceptance.read_token(token)
    assert (link.quote_id, link.version, link.valid_until) == (quote.pk, 1, quote.valid_until)
    assert abs((timezone.now() - link.signed_at).total_seconds()) < 60
    with pytest.raises(acceptance.LinkInvalid):
        acceptance.read_token(token + "x")


def test_sending_and_accepting_show_on_the_customers_timeline(desk: Desk) -> None:
    from comptoir.contacts.timeline import ORGANIZATION, PERSON, Subject, timeline

    quote, token = sent(desk, language="en")
    assert accept(Client(), token).status_code == 302
    actor = desk.actor()
    customer = Subject(ORGANIZATION, desk.books.customer.pk)
    with translation.override("en"):
        entries, _cursor = timeline(actor, customer, kinds=["quote_sent", "quote_accepted"])
        titles = [str(entry.title) for entry in entries]
        bodies = [str(entry.body) for entry in entries]
    assert titles == [f"Quote {quote.number} v1 accepted", f"Quote {quote.number} v1 sent"]
    assert bodies[0] == "Online, by Julie Martin"
    by_contact, _cursor = timeline(actor, Subject(PERSON, desk.contact.pk), kinds=["quote_accepted"])
    assert len(by_contact) == 1
    # Someone who may not see the quote sees none of it.
    hidden, _cursor = timeline(desk.actor("hr"), Subject(ORGANIZATION, desk.books.customer.pk))
    assert [entry for entry in hidden if entry.kind.startswith("quote")] == []

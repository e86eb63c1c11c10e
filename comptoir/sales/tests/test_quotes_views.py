"""Quote pages: list (filters, scopes, export, constant queries), form with lines (per-line
errors, "add a line" without JavaScript, live totals through htmx), detail and actions,
permissions, and the "New quote" button on the opportunity page."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from comptoir.accounting.models import PaymentTerm
from comptoir.contacts.models import Organization
from comptoir.org.models import User
from comptoir.org.testing import Personas
from comptoir.sales import quotes
from comptoir.sales.models_quotes import Quote, QuoteLine, QuoteState
from comptoir.sales.tests.quotes_kit import Shop, make_shop, product_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(personas: Personas) -> Iterator[Shop]:
    with translation.override("en"):
        yield make_shop(personas)


def login(client: Client, shop: Shop, role: str) -> Client:
    user = shop.personas.users[role]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    user.refresh_from_db()
    client.force_login(user)
    return client


def form_data(shop: Shop, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "organization_id": shop.customer.pk, "title": "", "issue_date": "", "valid_until": "", "owner_id": "",
        "payment_term_id": "", "language": "", "currency": "EUR", "discount_percent": "", "notes": "",
        "opportunity_id": "", "lines-TOTAL_FORMS": str(len(lines)), "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "500",
    }  # fmt: skip
    for index, item in enumerate(lines):
        for name, value in item.items():
            data[f"lines-{index}-{name}"] = value
    return data | extra


def test_create_from_the_form_with_sections_options_and_discount(shop: Shop, client: Client) -> None:
    from comptoir.contacts.models import Affiliation, Person

    contact = Person.objects.create(company=shop.personas.company, first_name="Jeanne", last_name="Martin")
    Affiliation.objects.create(person=contact, organization=shop.customer)
    login(client, shop, "management")
    page = client.get("/sales/quotes/new/")
    assert page.status_code == 200 and 'id="quote-form"' in page.content.decode()
    data = form_data(shop, [
        {"kind": "section", "description": "Mobilier"},
        {"kind": "product", "product_id": shop.chair.pk, "quantity": "3", "discount_percent": "10"},
        {"kind": "product", "product_id": shop.book.pk, "quantity": "7", "unit_price": "19.99"},
        {"kind": "text", "description": "Livraison comprise"},
        {"kind": "product", "product_id": shop.chair.pk, "quantity": "10", "optional": "on"},
        {"kind": "product", "description": ""},  # blank: ignored
    ], title="Salle de réunion", discount_percent="5", contact_id=str(contact.pk))  # fmt: skip
    response = client.post("/sales/quotes/new/", data)
    assert response.status_code == 302
    quote = Quote.objects.get()
    assert response["Location"] == f"/sales/quotes/{quote.pk}/"
    # 216.00 + 139.93 = 355.93; discount 10.80 + 7.00; VAT 41.04 + 7.31.
    assert (quote.untaxed_amount, quote.total_amount) == (Decimal("338.13"), Decimal("386.48"))
    assert QuoteLine.objects.filter(quote=quote).count() == 5 and quote.contact_id == contact.pk
    detail = client.get(response["Location"]).content.decode()
    assert quote.number in detail and 'data-line-kind="section"' in detail and "386.48" in detail
    assert 'data-optional="not-selected"' in detail


def test_form_errors_per_line_and_add_line_without_javascript(shop: Shop, client: Client) -> None:
    login(client, shop, "management")
    data = form_data(shop, [{"kind": "product", "product_id": shop.chair.pk, "quantity": "abc"},
                            {"kind": "product", "description": "Pose", "unit_price": ""}])  # fmt: skip
    response = client.post("/sales/quotes/new/", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-field-error="lines.0.quantity"' in html and 'data-field-error="lines.1.unit_price"' in html
    assert not Quote.objects.exists()
    added = client.post("/sales/quotes/new/", data | {"add_line": "1"})
    assert added.status_code == 200 and 'name="lines-2-description"' in added.content.decode()


def test_live_totals_fragment(shop: Shop, client: Client) -> None:
    login(client, shop, "management")
    term = PaymentTerm.objects.filter(company_id=shop.company_id).first()
    data = form_data(shop, [{"kind": "product", "product_id": shop.chair.pk, "quantity": "2"},
                            {"kind": "product", "product_id": shop.book.pk, "quantity": "1"}],
                     owner_id=str(shop.personas.users["management"].pk), payment_term_id=str(term.pk))  # fmt: skip
    response = client.post("/sales/quotes/totals/", data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="total-total"' in html
    # 2 × 80.00 at 20 % and 20.00 at 5.5 %: 180.00 excl. VAT, 32.00 + 1.10 VAT.
    assert "180.00" in html and "213.10" in html
    no_customer = client.post("/sales/quotes/totals/", data | {"organization_id": ""}).content.decode()
    assert "213.10" in no_customer
    bad = client.post("/sales/quotes/totals/", form_data(shop, [{"kind": "product", "description": "X"}]))
    assert bad.status_code == 200 and 'data-preview-error="lines.0.unit_price"' in bad.content.decode()
    assert not Quote.objects.exists()


def test_detail_actions_and_versions(shop: Shop, client: Client) -> None:
    login(client, shop, "management")
    quote = shop.quote([product_line(shop.chair, "1"), product_line(shop.book, "1", optional=True)])
    page = client.get(f"/sales/quotes/{quote.pk}/").content.decode()
    assert 'id="quote-edit"' in page and 'id="action-send"' in page and 'id="action-accept"' not in page
    assert client.post(f"/sales/quotes/{quote.pk}/do/send/").status_code == 302
    page = client.get(f"/sales/quotes/{quote.pk}/").content.decode()
    assert 'id="action-accept"' in page and 'data-version="1"' in page and 'id="quote-edit"' not in page
    # A sent quote is not editable: the form redirects to the page.
    assert client.get(f"/sales/quotes/{quote.pk}/edit/").status_code == 302
    assert client.post(f"/sales/quotes/{quote.pk}/do/revise/")["Location"] == f"/sales/quotes/{quote.pk}/edit/"
    assert Quote.objects.get(pk=quote.pk).version == 2
    client.post(f"/sales/quotes/{quote.pk}/do/send/")
    optional = QuoteLine.objects.get(quote=quote, optional=True)
    response = client.post(f"/sales/quotes/{quote.pk}/do/accept/",
                           {"by_name": "Jeanne Martin", "selected_line_ids": [str(optional.pk)]})  # fmt: skip
    assert response.status_code == 302
    accepted = Quote.objects.get(pk=quote.pk)
    assert accepted.state == QuoteState.ACCEPTED and accepted.accepted_version == 2
    assert accepted.untaxed_amount == Decimal("100.00")
    page = client.get(f"/sales/quotes/{quote.pk}/").content.decode()
    assert 'id="quote-accepted"' in page and "Jeanne Martin" in page


def test_refuse_and_cancel_from_the_page(shop: Shop, client: Client) -> None:
    login(client, shop, "management")
    sent = shop.sent()
    client.post(f"/sales/quotes/{sent.pk}/do/refuse/", {"reason": "Trop cher"})
    assert Quote.objects.get(pk=sent.pk).state == QuoteState.REFUSED
    draft = shop.quote()
    client.post(f"/sales/quotes/{draft.pk}/do/cancel/")
    assert Quote.objects.get(pk=draft.pk).state == QuoteState.CANCELLED
    response = client.post(f"/sales/quotes/{draft.pk}/do/cancel/", follow=True)
    assert response.status_code == 409 or "Not done" in response.content.decode() or response.status_code == 200
    assert Quote.objects.get(pk=draft.pk).state == QuoteState.CANCELLED
    assert client.post(f"/sales/quotes/{draft.pk}/do/explode/").status_code == 404


def test_list_filters_export_and_constant_queries(shop: Shop, client: Client) -> None:
    login(client, shop, "management")
    shop.quote(title="Salle de réunion")
    client.get("/sales/quotes/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/sales/quotes/").status_code == 200
    for _index in range(5):
        shop.sent(organization=shop.books.eu_customer)
    with CaptureQueriesContext(connection) as many:
        page = client.get("/sales/quotes/")
    assert page.status_code == 200 and len(many) == len(few) <= 20
    assert page.content.decode().count("data-quote=") == 6
    sent = client.get("/sales/quotes/?state=sent").content.decode()
    assert sent.count("data-quote=") == 5
    csv = client.get("/sales/quotes/?state=draft&format=csv")
    body = csv.getvalue().decode()
    assert csv.status_code == 200 and "Salle de réunion" in body and body.count("\n") == 2
    xlsx = client.get("/sales/quotes/?format=xlsx")
    assert xlsx.status_code == 200
    assert client.get("/sales/quotes/?state=won").status_code == 422
    assert client.get("/sales/quotes/?scope=mine").status_code == 200


def test_permissions_on_pages(shop: Shop, client: Client) -> None:
    seller = shop.personas.users["sales"]
    own = Organization.objects.create(company=shop.personas.company, legal_name="Client du vendeur", owner=seller)
    visible = shop.quote(organization=own)
    hidden = shop.quote()
    login(client, shop, "sales")
    listed = client.get("/sales/quotes/").content.decode()
    assert f'data-quote="{visible.pk}"' in listed and f'data-quote="{hidden.pk}"' not in listed
    assert client.get(f"/sales/quotes/{hidden.pk}/").status_code == 404
    assert client.post(f"/sales/quotes/{hidden.pk}/do/cancel/").status_code == 404
    assert client.get(f"/sales/quotes/{visible.pk}/").status_code == 200
    login(client, shop, "service")  # may view, not manage
    assert client.get(f"/sales/quotes/{visible.pk}/").status_code == 200
    assert client.get("/sales/quotes/new/").status_code == 403
    assert client.post(f"/sales/quotes/{visible.pk}/do/cancel/").status_code == 403
    login(client, shop, "production")  # no sales permission at all
    assert client.get("/sales/quotes/").status_code == 403
    outsider = shop.personas.outsider
    User.objects.filter(pk=outsider.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now())
    client.force_login(outsider)
    assert client.get(f"/sales/quotes/{visible.pk}/").status_code in (403, 404)


def test_autocompletes_follow_the_record_rules(shop: Shop, client: Client) -> None:
    seller = shop.personas.users["sales"]
    Organization.objects.create(company=shop.personas.company, legal_name="Zèbre Client", owner=seller,
                                search_text="zebre client")  # fmt: skip
    login(client, shop, "sales")
    found = client.get("/sales/quotes/autocomplete/organizations/?organization_id_q=zebre").content.decode()
    assert "Zèbre Client" in found
    hidden = client.get("/sales/quotes/autocomplete/organizations/?organization_id_q=martin").content.decode()
    assert shop.customer.legal_name not in hidden
    products = client.get("/sales/quotes/autocomplete/products/?field=lines-3-product_id&lines-3-product_id_q=chai")
    assert 'name="lines-3-product_id"' in products.content.decode() and "CH-1" in products.content.decode()


def test_new_quote_from_the_opportunity_page(shop: Shop, client: Client) -> None:
    from comptoir.crm import services as crm_services

    opportunity = crm_services.opportunity_create(actor=shop.actor(), title="Salle de réunion",
                                                  organization_id=shop.customer.pk)  # fmt: skip
    login(client, shop, "management")
    page = client.get(f"/crm/opportunities/{opportunity.pk}/").content.decode()
    assert f"/sales/quotes/new/?opportunity={opportunity.pk}" in page
    form = client.get(f"/sales/quotes/new/?opportunity={opportunity.pk}").content.decode()
    assert f'<option value="{shop.customer.pk}" selected>' in form
    data = form_data(shop, [{"kind": "product", "product_id": shop.chair.pk, "quantity": "1"}],
                     opportunity_id=str(opportunity.pk))  # fmt: skip
    assert client.post("/sales/quotes/new/", data).status_code == 302
    assert Quote.objects.get().opportunity_id == opportunity.pk
    quotes.quote_mark_sent(actor=shop.actor(), quote_id=Quote.objects.get().pk)

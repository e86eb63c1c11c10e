"""Sites in sales: a quote and an order have one (the head office by default), the order takes
its quote's, the invoices made from an order take the order's, and the whole chain — quote,
order, invoice, posting, payment — writes that site on every journal line (run on SQLite and
on PostgreSQL). Bad sites are per-field errors that write nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.accounting import invoices, payments
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import Invoice, JournalLine
from comptoir.kernel.errors import ValidationFailed
from comptoir.org import services as org_services
from comptoir.org.models import Site, User
from comptoir.org.testing import Personas
from comptoir.sales import invoicing, orders, quotes
from comptoir.sales.models_orders import SalesOrder
from comptoir.sales.models_quotes import Quote
from comptoir.sales.tests.quotes_kit import Shop, make_shop, product_line

pytestmark = pytest.mark.django_db
API = "/api/v1/sales"


@pytest.fixture
def shop(personas: Personas) -> Shop:
    return make_shop(personas)


@pytest.fixture
def branch(personas: Personas) -> Site:
    return Site.objects.create(company=personas.company, name="Atelier Grenoble", siret="84215763800029")


def head_office(shop: Shop) -> Site:
    return Site.objects.get(company_id=shop.company_id, is_head_office=True)


def accepted(shop: Shop, **data: Any) -> Quote:
    actor = shop.actor()
    quote = shop.quote([product_line(shop.chair, "2"), product_line(shop.design, "1")], **data)
    quotes.quote_mark_sent(actor=actor, quote_id=quote.pk)
    return quotes.quote_accept(actor=actor, quote_id=quote.pk, version=1, by_name="Jeanne Martin")


def test_the_site_goes_from_the_quote_to_every_journal_line_of_the_invoice_and_its_payment(
    shop: Shop, branch: Site
) -> None:
    actor = shop.actor("admin")
    quote = accepted(shop, site_id=branch.pk)
    assert quote.site_id == branch.pk
    order = orders.order_create_from_quote(actor=actor, quote_id=quote.pk)
    assert order.site_id == branch.pk
    invoice = invoicing.invoice_order(actor=actor, order_id=order.pk, mode="order", post=True)
    assert invoice.site_id == branch.pk and invoice.journal_entry_id
    total = str(invoice.total_amount)
    payment = payments.payment_register(
        actor=actor, organization_id=shop.customer.pk, amount=total, date=timezone.localdate(),
        journal_id=shop.books.ledger.journals["BQ"], method="transfer",
        allocations=[{"invoice_id": invoice.pk, "amount": total}],
    )  # fmt: skip
    assert payment.site_id == branch.pk
    entries = [invoice.journal_entry_id, payment.journal_entry_id]
    rows = list(JournalLine.objects.filter(entry_id__in=entries).values_list("entry__site_id", "site_id"))
    assert len(rows) >= 6 and set(rows) == {(branch.pk, branch.pk)}  # incl. the VAT moved on receipt
    assert Invoice.objects.get(pk=invoice.pk).state == "paid"
    report = verify_chain(shop.company_id)
    assert report.ok and report.entries == 2, report.anomalies


def test_quotes_and_orders_take_the_head_office_and_an_order_made_alone_too(shop: Shop) -> None:
    head = head_office(shop)
    quote = shop.quote()
    assert quote.site_id == head.pk
    order = orders.order_create(actor=shop.actor("admin"), organization_id=shop.customer.pk,
                                lines=[product_line(shop.chair, "1")])  # fmt: skip
    assert order.site_id == head.pk
    order = orders.order_confirm(actor=shop.actor("admin"), order_id=order.pk)
    invoice = invoicing.invoice_order(actor=shop.actor("admin"), order_id=order.pk, mode="order")
    assert invoice.site_id == head.pk


def test_an_order_without_site_gives_invoices_without_site(shop: Shop, branch: Site) -> None:
    quote = accepted(shop, site_id=None)
    assert quote.site_id is None
    order = orders.order_create_from_quote(actor=shop.actor("admin"), quote_id=quote.pk)
    assert order.site_id is None
    invoice = invoicing.invoice_order(actor=shop.actor("admin"), order_id=order.pk, mode="order", post=True)
    assert invoice.site_id is None
    assert set(JournalLine.objects.filter(entry_id=invoice.journal_entry_id).values_list("site_id", flat=True)) == {
        None
    }


def test_bad_sites_are_refused_per_field_and_nothing_is_written(shop: Shop, branch: Site, personas: Personas) -> None:
    closed = Site.objects.create(company=personas.company, name="Dépôt fermé", siret="84215763800037",
                                 is_active=False)  # fmt: skip
    foreign = Site.objects.create(company=personas.other_company, name="Ailleurs", siret="90412835200010")
    quotes_before, orders_before = Quote.objects.count(), SalesOrder.objects.count()
    for bad in (closed.pk, foreign.pk, "x"):
        with pytest.raises(ValidationFailed) as caught:
            shop.quote(site_id=bad)
        assert set(caught.value.fields) == {"site_id"}
        with pytest.raises(ValidationFailed) as caught:
            orders.order_create(actor=shop.actor("admin"), organization_id=shop.customer.pk,
                                lines=[product_line(shop.chair, "1")], site_id=bad)  # fmt: skip
        assert set(caught.value.fields) == {"site_id"}
    assert (Quote.objects.count(), SalesOrder.objects.count()) == (quotes_before, orders_before)
    quote = shop.quote(site_id=branch.pk)
    with pytest.raises(ValidationFailed):
        quotes.quote_update(actor=shop.actor(), quote_id=quote.pk, site_id=foreign.pk, title="Changed")
    quote.refresh_from_db()
    assert (quote.site_id, quote.title) == (branch.pk, "")


def key(shop: Shop, role: str = "management") -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=shop.actor(role), name=f"{role} site key",
                                            scopes=["sales:write", "contacts:write", "catalog:read"])  # fmt: skip
    return {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method == "get":
        return client.get(API + url, headers=headers)
    return getattr(client, method)(API + url, data=json.dumps(body or {}), content_type="application/json",
                                   headers=headers)  # fmt: skip


def test_quote_and_order_api_read_and_write_the_site(shop: Shop, branch: Site, client: Client) -> None:
    h = key(shop)
    head = head_office(shop)
    body = {"organization_id": shop.customer.pk, "lines": [{"product_id": shop.chair.pk, "quantity": "1"}]}
    created = call(client, "post", "/quotes", h, body)
    assert created.status_code == 201, created.content
    assert created.json()["site_id"] == head.pk
    chosen = call(client, "post", "/quotes", h, body | {"site_id": branch.pk}).json()
    assert chosen["site_id"] == branch.pk
    foreign = Site.objects.create(company=shop.personas.other_company, name="Ailleurs", siret="90412835200010")
    count = Quote.objects.count()
    refused = call(client, "post", "/quotes", h, body | {"site_id": foreign.pk})
    assert refused.status_code == 422 and list(refused.json()["fields"]) == ["site_id"]
    assert Quote.objects.count() == count
    patched = call(client, "patch", f"/quotes/{chosen['id']}", h, {"site_id": None})
    assert patched.status_code == 200 and patched.json()["site_id"] is None
    order = call(client, "post", "/orders", h, body | {"site_id": branch.pk})
    assert order.status_code == 201, order.content
    assert order.json()["site_id"] == branch.pk
    refused = call(client, "patch", f"/orders/{order.json()['id']}", h, {"site_id": foreign.pk})
    assert refused.status_code == 422 and list(refused.json()["fields"]) == ["site_id"]
    cleared = call(client, "patch", f"/orders/{order.json()['id']}", h, {"site_id": None})
    assert cleared.status_code == 200 and cleared.json()["site_id"] is None
    quote = accepted(shop, site_id=branch.pk)
    from_quote = call(client, "post", "/orders", h, {"quote_id": quote.pk})
    assert from_quote.status_code == 201 and from_quote.json()["site_id"] == branch.pk


def test_order_api_explicit_null_site_is_the_company_as_a_whole(shop: Shop, client: Client) -> None:
    """Omitted: the head office; an explicit null: no site (it used to be dropped, giving the head office)."""
    h = key(shop)
    body = {"organization_id": shop.customer.pk, "lines": [{"product_id": shop.chair.pk, "quantity": "1"}]}
    omitted = call(client, "post", "/orders", h, body)
    assert omitted.status_code == 201, omitted.content
    assert omitted.json()["site_id"] == head_office(shop).pk
    null = call(client, "post", "/orders", h, body | {"site_id": None})
    assert null.status_code == 201, null.content
    assert null.json()["site_id"] is None
    assert SalesOrder.objects.get(pk=null.json()["id"]).site_id is None


def login(client: Client, personas: Personas, role: str = "management") -> Client:
    user = personas.users[role]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    user.refresh_from_db()
    client.force_login(user)
    return client


def test_quote_form_offers_the_sites_and_the_pages_show_them(shop: Shop, branch: Site, client: Client) -> None:
    login(client, shop.personas)
    head = head_office(shop)
    page = client.get("/sales/quotes/new/").content.decode()
    assert f'<option value="{head.pk}" selected>' in page and branch.name in page
    data = {
        "organization_id": shop.customer.pk, "title": "", "issue_date": "", "valid_until": "", "owner_id": "",
        "payment_term_id": "", "language": "", "currency": "EUR", "discount_percent": "", "notes": "",
        "opportunity_id": "", "site_id": str(branch.pk), "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "500", "lines-0-kind": "product",
        "lines-0-product_id": shop.chair.pk, "lines-0-quantity": "2",
    }  # fmt: skip
    response = client.post("/sales/quotes/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    quote = Quote.objects.get()
    assert quote.site_id == branch.pk
    assert f'id="quote-site">{branch.name}<' in client.get(f"/sales/quotes/{quote.pk}/").content.decode()
    quotes.quote_mark_sent(actor=shop.actor(), quote_id=quote.pk)
    quotes.quote_accept(actor=shop.actor(), quote_id=quote.pk, version=1, by_name="J.")
    order = orders.order_create_from_quote(actor=shop.actor(), quote_id=quote.pk)
    assert f'id="order-site">{branch.name}<' in client.get(f"/sales/orders/{order.pk}/").content.decode()


def test_a_credit_note_of_an_order_invoice_keeps_the_site(shop: Shop, branch: Site) -> None:
    order = orders.order_create(actor=shop.actor("admin"), organization_id=shop.customer.pk,
                                lines=[product_line(shop.chair, "3")], site_id=branch.pk)  # fmt: skip
    order = orders.order_confirm(actor=shop.actor("admin"), order_id=order.pk)
    invoice = invoicing.invoice_order(actor=shop.actor("admin"), order_id=order.pk, mode="order", post=True)
    credit = invoicing.order_credit(actor=shop.actor("admin"), order_id=order.pk, invoice_id=invoice.pk)
    assert credit.site_id == branch.pk
    credit = invoices.invoice_post(actor=shop.actor("admin"), invoice_id=credit.pk, render_pdf=False)
    assert set(JournalLine.objects.filter(entry_id=credit.journal_entry_id).values_list("site_id", flat=True)) == {
        branch.pk
    }


def test_a_site_closed_since_it_was_chosen_stays_on_its_documents(shop: Shop, branch: Site) -> None:
    # The forms keep offering a document's closed site: saving it unchanged, or invoicing an
    # order whose site closed since, must not fail on a field the user did not touch.
    actor = shop.actor("admin")
    draft = shop.quote(site_id=branch.pk)
    order = orders.order_create_from_quote(actor=actor, quote_id=accepted(shop, site_id=branch.pk).pk)
    Site.objects.filter(pk=branch.pk).update(is_active=False)
    assert quotes.quote_update(actor=actor, quote_id=draft.pk, site_id=branch.pk).site_id == branch.pk
    invoice = invoicing.invoice_order(actor=actor, order_id=order.pk, mode="order")
    assert invoice.site_id == branch.pk
    assert invoices.invoice_update(actor=actor, invoice_id=invoice.pk, site_id=branch.pk).site_id == branch.pk
    # Chosen anew, a closed site is still refused.
    other = shop.quote()
    with pytest.raises(ValidationFailed) as caught:
        quotes.quote_update(actor=actor, quote_id=other.pk, site_id=branch.pk)
    assert "site_id" in caught.value.fields
    assert Quote.objects.get(pk=other.pk).site_id == head_office(shop).pk

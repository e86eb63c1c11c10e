"""Credit note allocation pages and API: the button and panel on the invoice page, the
allocation form (proposal, errors per invoice, a resubmitted form allocates once), the API
(201, replay 200, 409, per-field 422), permissions, and the 360° timeline entry."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.accounting.models import InvoiceState
from comptoir.accounting.models_credit import CreditAllocation
from comptoir.accounting.tests.invoices_kit import Books, line
from comptoir.accounting.tests.payments_kit import books, fresh, post_invoice
from comptoir.accounting.tests.test_credit_allocation import credit_note
from comptoir.contacts.timeline import ORGANIZATION, Subject, registry, timeline
from comptoir.org import services as org_services
from comptoir.org.models import User

pytestmark = pytest.mark.django_db
__all__ = ["books"]
API = "/api/v1/accounting"


def login(client: Client, books: Books, role: str) -> Client:
    user = books.personas.users[role]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    client.force_login(user)
    return client


def key(books: Books, role: str) -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=books.actor(role), name=f"{role} key",
                                            scopes=["accounting:write", "contacts:write"])  # fmt: skip
    return {"Authorization": f"Bearer {secret}"}


def post(client: Client, url: str, headers: dict[str, str], body: Any) -> Any:
    return client.post(API + url, data=json.dumps(body), content_type="application/json", headers=headers)


def test_button_form_proposal_and_allocation(books: Books, client: Client) -> None:
    login(client, books, "finance")
    first = books.posted([line(quantity="2")])  # 240.00
    second = post_invoice(books, "50.00")  # 60.00
    credit = credit_note(books, first, quantity="1")  # 120.00
    page = client.get(f"/accounting/invoices/{credit.pk}/").content.decode()
    assert 'id="credit-allocate"' in page and 'id="credit-allocations"' in page
    form = client.get(f"/accounting/invoices/{credit.pk}/allocate/")
    html = form.content.decode()
    assert form.status_code == 200 and 'id="credit-allocate-form"' in html
    # Proposal: the oldest due first, as far as the credit goes.
    assert f'name="allocate-{first.pk}" value="120.00"' in html and f'name="allocate-{second.pk}" value=""' in html
    data = {"idempotency_key": "form-1", "date": str(timezone.localdate()),
            f"allocate-{first.pk}": "100.00", f"allocate-{second.pk}": "20.00"}  # fmt: skip
    done = client.post(f"/accounting/invoices/{credit.pk}/allocate/", data)
    assert done.status_code == 302 and done["Location"] == f"/accounting/invoices/{credit.pk}/"
    # The same form again (double click, back button): allocated once.
    again = client.post(f"/accounting/invoices/{credit.pk}/allocate/", data)
    assert again.status_code == 302 and CreditAllocation.objects.count() == 2
    assert fresh(credit).state == InvoiceState.PAID and fresh(second).residual_amount == D("40.00")
    invoice_page = client.get(f"/accounting/invoices/{first.pk}/").content.decode()
    assert 'id="credit-allocations"' in invoice_page and credit.number in invoice_page
    paid_page = client.get(f"/accounting/invoices/{credit.pk}/").content.decode()
    assert 'id="credit-allocate"' not in paid_page  # nothing left: no button
    # The organization's timeline shows the allocations.
    entries, _cursor = timeline(books.actor(), Subject(ORGANIZATION, books.customer.pk), kinds=["credit_allocations"])
    assert len(entries) == 2 and all(credit.number in e.title for e in entries)


def test_form_errors_per_invoice_write_nothing(books: Books, client: Client) -> None:
    login(client, books, "finance")
    invoice = post_invoice(books)  # 120.00
    credit = credit_note(books, invoice)
    response = client.post(f"/accounting/invoices/{credit.pk}/allocate/",
                           {"idempotency_key": "k", "date": "", f"allocate-{invoice.pk}": "120.01"})  # fmt: skip
    assert response.status_code == 422
    assert f'data-field-error="allocation-{invoice.pk}"' in response.content.decode()
    response = client.post(f"/accounting/invoices/{credit.pk}/allocate/",
                           {"idempotency_key": "k2", f"allocate-{invoice.pk}": "abc"})  # fmt: skip
    assert response.status_code == 422
    nothing = client.post(f"/accounting/invoices/{credit.pk}/allocate/", {"idempotency_key": "k3"})
    assert nothing.status_code == 422 and 'data-field-error="allocations"' in nothing.content.decode()
    assert not CreditAllocation.objects.exists()
    # An invoice is not allocated: its page redirects back.
    assert client.get(f"/accounting/invoices/{invoice.pk}/allocate/").status_code == 302


def test_page_permissions(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    credit = credit_note(books, invoice)
    login(client, books, "management")  # sees invoices and payments, registers nothing
    assert client.get(f"/accounting/invoices/{credit.pk}/allocate/").status_code == 403
    assert 'id="credit-allocate"' not in client.get(f"/accounting/invoices/{credit.pk}/").content.decode()
    login(client, books, "marketing")  # no invoices at all
    assert client.get(f"/accounting/invoices/{credit.pk}/allocate/").status_code == 403
    assert client.post(f"/accounting/invoices/{credit.pk}/allocate/",
                       {f"allocate-{invoice.pk}": "1.00"}).status_code == 403  # fmt: skip
    assert not CreditAllocation.objects.exists()


def test_api_create_replay_conflict_errors_and_list(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    other = post_invoice(books, organization=books.eu_customer)
    credit = credit_note(books, invoice)
    h = key(books, "finance") | {"Idempotency-Key": "api-1"}
    body = {"allocations": [{"invoice_id": invoice.pk, "amount": "70.00"}]}
    created = post(client, f"/invoices/{credit.pk}/allocations", h, body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["state"] == "partially_paid" and data["residual_amount"] == "50.00" and not data["replayed"]
    assert [(a["invoice_id"], a["amount"], a["invoice_number"]) for a in data["allocations"]] == [
        (invoice.pk, "70.00", invoice.number)]  # fmt: skip
    replay = post(client, f"/invoices/{credit.pk}/allocations", h, body)
    assert replay.status_code == 200 and replay.json()["replayed"]
    assert replay.json()["allocations"] == data["allocations"]
    conflict = post(client, f"/invoices/{credit.pk}/allocations", h,
                    {"allocations": [{"invoice_id": invoice.pk, "amount": "10.00"}]})  # fmt: skip
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_key_reused"
    plain = key(books, "finance")
    for payload, field in (
        ({"allocations": [{"invoice_id": invoice.pk, "amount": "50.01"}]}, "allocations.0.amount"),
        ({"allocations": [{"invoice_id": other.pk, "amount": "1.00"}]}, "allocations.0.invoice_id"),
        ({"allocations": [{"invoice_id": invoice.pk, "amount": "1.5.0"}]}, "allocations.0.amount"),
        ({"allocations": []}, "allocations"),
        ({"allocations": [{"invoice_id": invoice.pk, "amount": "1.00"}], "extra": 1}, "extra"),
    ):
        response = post(client, f"/invoices/{credit.pk}/allocations", plain, payload)
        assert response.status_code == 422, (payload, response.content)
        assert any(name.startswith(field) for name in response.json()["fields"]), (field, response.json())
    missing = post(client, "/invoices/999999999/allocations", plain, body)
    assert missing.status_code == 404
    listed = client.get(f"{API}/invoices/{invoice.pk}/allocations", headers=plain)
    assert listed.status_code == 200 and [a["amount"] for a in listed.json()] == ["70.00"]


def test_api_permissions(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    credit = credit_note(books, invoice)
    body = {"allocations": [{"invoice_id": invoice.pk, "amount": "10.00"}]}
    denied = post(client, f"/invoices/{credit.pk}/allocations", key(books, "management"), body)
    assert denied.status_code == 403
    _k, secret = org_services.apikey_create(actor=books.actor("finance"), name="read only",
                                            scopes=["accounting:read"])  # fmt: skip
    read_only = post(client, f"/invoices/{credit.pk}/allocations", {"Authorization": f"Bearer {secret}"}, body)
    assert read_only.status_code == 403
    assert not CreditAllocation.objects.exists()
    assert "credit_allocations" in registry.sources

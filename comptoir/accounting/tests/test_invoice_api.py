"""Invoices API: draft → post → credit, per-field and per-line errors, Factur-X download,
vendor bill upload (multipart, hostile files), payment terms, OpenAPI, query counts."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from comptoir.accounting.einvoice.parse import parse_einvoice
from comptoir.accounting.models import Invoice
from comptoir.accounting.tests.invoices_kit import Books, make_books
from comptoir.org import services as org_services
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db
API = "/api/v1/accounting"


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def key(books: Books, role: str = "finance") -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=books.actor(role), name=f"{role} key",
                                            scopes=["accounting:write", "contacts:write"])  # fmt: skip
    return {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method == "get":
        return client.get(API + url, headers=headers)
    return getattr(client, method)(API + url, data=json.dumps(body or {}), content_type="application/json",
                                   headers=headers)  # fmt: skip


def test_invoice_lifecycle(books: Books, client: Client) -> None:
    h = key(books)
    body: dict[str, Any] = {"organization_id": books.customer.pk, "lines": [
        {"name": "Conseil", "quantity": "2", "unit_price": "450", "operation": "services"},
        {"name": "Clé", "quantity": "1.2345", "unit_price": "x", "vat_category": "reduced"},
    ]}  # fmt: skip
    bad = call(client, "post", "/invoices", h, body)
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"lines.1.quantity", "lines.1.unit_price"}
    body["lines"][1] |= {"quantity": "3", "unit_price": "9.90"}
    created = call(client, "post", "/invoices", h, body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["state"] == "draft" and data["number"] == "" and data["actions"] == ["update", "delete", "post"]
    assert data["total_amount"] == "1111.33"  # 900 + 180 VAT + 29.70 + 1.63 VAT
    assert [t["vat_code"] + t["rate"] for t in data["taxes"]] == ["S20.00", "S5.50"]
    invoice_id = data["id"]
    changed = call(client, "patch", f"/invoices/{invoice_id}", h, {"purchase_order": "PO-1"})
    assert changed.json()["purchase_order"] == "PO-1" and changed.json()["total_amount"] == "1111.33"
    posted = call(client, "post", f"/invoices/{invoice_id}/post", h)
    assert posted.status_code == 200, posted.content
    data = posted.json()
    assert data["number"] == f"FA-{data['issue_date'][:4]}-00001" and data["state"] == "posted"
    assert data["journal_entry_id"] and data["pdf_sha256"] and data["actions"] == ["credit", "send"]
    # Posted: no more changes.
    assert call(client, "patch", f"/invoices/{invoice_id}", h, {"note": "x"}).status_code == 409
    assert call(client, "delete", f"/invoices/{invoice_id}", h).status_code == 409
    pdf = client.get(f"{API}/invoices/{invoice_id}/pdf", headers=h)
    assert pdf.status_code == 200 and pdf["X-Content-SHA256"] == data["pdf_sha256"]
    assert parse_einvoice(pdf.content).stated.grand_total == Decimal("1111.33")
    credit = call(client, "post", f"/invoices/{invoice_id}/credit", h, {"lines": [{"line": 2, "quantity": "1"}]})
    assert credit.status_code == 201 and credit.json()["kind"] == "customer_credit_note"
    assert credit.json()["origin_id"] == invoice_id and credit.json()["total_amount"] == "10.44"
    listing = call(client, "get", "/invoices?kind=customer_invoice&state=posted", h).json()
    assert [row["id"] for row in listing["items"]] == [invoice_id]


def test_vendor_bill_upload_endpoint(books: Books, client: Client) -> None:
    from comptoir.accounting.tests.test_invoices import HOSTILE, _supplier_invoice

    h = key(books)
    for name in ("xxe", "bomb", "pdf_without_xml"):
        from django.core.files.uploadedfile import SimpleUploadedFile

        refused = client.post(f"{API}/invoices/import", {"file": SimpleUploadedFile("f", HOSTILE[name])}, headers=h)
        assert refused.status_code == 422 and refused.json()["fields"]["file"], name
    assert Invoice.objects.count() == 0
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("bill.xml", _supplier_invoice(books), content_type="application/xml")
    created = client.post(f"{API}/invoices/import", {"file": upload}, headers=h)
    assert created.status_code == 201, created.content
    assert created.json()["kind"] == "vendor_bill" and created.json()["organization_id"] == books.supplier.pk
    unknown = SimpleUploadedFile("bill.xml", _supplier_invoice(books, number="Z9", siren="130025265"))
    refused = client.post(f"{API}/invoices/import", {"file": unknown}, headers=h)
    assert refused.status_code == 422 and "130025265" in refused.json()["fields"]["organization_id"][0]


def test_payment_terms_endpoint(books: Books, client: Client) -> None:
    h = key(books)
    names = [term["name"] for term in call(client, "get", "/payment-terms", h).json()]
    assert "45 jours fin de mois" in names
    created = call(client, "post", "/payment-terms", h, {"name": "Moitié", "lines": [
        {"kind": "percent", "percent": "50"}, {"kind": "balance", "days": 30, "end_of_month": True}]})  # fmt: skip
    assert created.status_code == 201 and created.json()["lines"][1]["end_of_month"] is True
    bad = call(client, "post", "/payment-terms", h, {"name": "Bad", "lines": [{"kind": "percent", "percent": "20"}]})
    assert bad.status_code == 422 and "lines" in bad.json()["fields"]
    # Sales reads, does not write.
    assert call(client, "post", "/payment-terms", key(books, "sales"), {"name": "S", "lines": [{}]}).status_code == 403


def test_openapi_lists_the_invoice_operations(client: Client, books: Books) -> None:
    schema = client.get("/api/v1/openapi.json", headers=key(books)).json()
    for path in ("/api/v1/accounting/invoices", "/api/v1/accounting/invoices/{invoice_id}/post",
                 "/api/v1/accounting/invoices/{invoice_id}/credit", "/api/v1/accounting/invoices/{invoice_id}/pdf",
                 "/api/v1/accounting/invoices/import", "/api/v1/accounting/payment-terms"):  # fmt: skip
        assert path in schema["paths"], path


def test_list_queries_do_not_grow(books: Books, client: Client) -> None:
    h = key(books)
    books.posted()
    call(client, "get", "/invoices", h)
    with CaptureQueriesContext(connection) as few:
        call(client, "get", "/invoices", h)
    for _index in range(5):
        books.posted()
    with CaptureQueriesContext(connection) as many:
        assert len(call(client, "get", "/invoices", h).json()["items"]) == 6
    assert len(many) == len(few) <= 12
    with CaptureQueriesContext(connection) as detail:
        call(client, "get", f"/invoices/{Invoice.objects.first().pk}", h)  # type: ignore[union-attr]
    assert len(detail) <= 15


def test_partner_profile_decides_the_vat(books: Books, client: Client) -> None:
    h = key(books)
    url = f"/partner-profiles/{books.customer.pk}"
    assert call(client, "get", url, h).json()["fiscal_position"] == "france"
    changed = call(client, "patch", url, h, {"fiscal_position": "eu_business", "language": "en"})
    assert changed.status_code == 200 and changed.json()["fiscal_position"] == "eu_business"
    assert call(client, "patch", url, h, {"fiscal_position": "mars"}).status_code == 422
    body = {"organization_id": books.customer.pk, "lines": [{"name": "Four", "unit_price": "100"}]}
    created = call(client, "post", "/invoices", h, body).json()
    assert created["fiscal_position"] == "eu_business" and created["language"] == "en"
    assert created["taxes"][0]["vat_code"] == "K" and created["total_amount"] == "100.00"
    assert call(client, "patch", url, key(books, "sales"), {"language": "fr"}).status_code == 403

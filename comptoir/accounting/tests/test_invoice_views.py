"""Invoice pages: form with per-line errors and "add a line" without JavaScript, post, detail
(VAT breakdown, schedule, entry link and back), Factur-X download, send, upload, list filters
and exports, the permission matrix (same rules as the API and the 360° timeline), query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounting import invoices
from comptoir.accounting.einvoice.parse import parse_einvoice
from comptoir.accounting.models import Invoice, InvoiceKind, InvoiceState
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books, make_books, organization
from comptoir.contacts.timeline import ORGANIZATION, Subject
from comptoir.contacts.timeline import registry as timeline_registry
from comptoir.org.models import User
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def login(client: Client, books: Books, role: str) -> Client:
    user = books.personas.users[role]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    user.refresh_from_db()
    client.force_login(user)
    return client


def form_data(books: Books, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "organization_id": books.customer.pk, "issue_date": "", "delivery_date": "", "payment_term_id": "",
        "due_date": "", "fiscal_position": "", "language": "", "purchase_order": "", "note": "",
        "lines-TOTAL_FORMS": str(len(lines)), "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "500",
    }  # fmt: skip
    for index, item in enumerate(lines):
        for name, value in item.items():
            data[f"lines-{index}-{name}"] = value
    return data | extra


def test_form_reports_errors_per_line_adds_a_line_and_posts(books: Books, client: Client) -> None:
    login(client, books, "finance")
    page = client.get("/accounting/invoices/new/?kind=customer_invoice")
    assert page.status_code == 200 and "<script>" not in page.content.decode()
    lines = [{"name": "Conseil", "quantity": "2", "unit_price": "100"}, {},
             {"name": "Audit", "quantity": "x", "unit_price": "50"}]  # fmt: skip
    response = client.post("/accounting/invoices/new/?kind=customer_invoice", form_data(books, lines))
    assert response.status_code == 422
    assert 'data-field-error="lines.2.quantity"' in response.content.decode()
    assert Invoice.objects.count() == 0
    # "Add a line" re-renders the form with one more line and saves nothing.
    response = client.post("/accounting/invoices/new/?kind=customer_invoice", form_data(books, lines, add_line="1"))
    assert response.content.decode().count('data-line="') == 4
    lines[2]["quantity"] = "1.5"
    response = client.post("/accounting/invoices/new/?kind=customer_invoice",
                           form_data(books, lines, post="1"))  # fmt: skip
    invoice = Invoice.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/accounting/invoices/{invoice.pk}/"
    assert invoice.state == InvoiceState.POSTED and invoice.total_amount == Decimal("330.00")
    detail = client.get(response["Location"]).content.decode()
    assert f'data-number="{invoice.number}"' in detail
    assert 'data-vat="S-20"' in detail and 'id="entry-link"' in detail
    # The journal entry links back to its invoice.
    entry = client.get(f"/accounting/entries/{invoice.journal_entry_id}/").content.decode()
    assert f"/accounting/invoices/{invoice.pk}/" in entry
    pdf = client.get(f"/accounting/invoices/{invoice.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert parse_einvoice(pdf.content).document.number == invoice.number  # the PDF carries its CII XML


def test_credit_note_button_opens_a_draft_citing_the_invoice(books: Books, client: Client) -> None:
    invoice = books.posted()
    login(client, books, "finance")
    response = client.post(f"/accounting/invoices/{invoice.pk}/credit/")
    credit = Invoice.objects.get(origin=invoice)
    assert response["Location"] == f"/accounting/invoices/{credit.pk}/edit/"
    assert credit.kind == InvoiceKind.CUSTOMER_CREDIT_NOTE and credit.total_amount == invoice.total_amount
    assert client.get(response["Location"]).status_code == 200


def test_upload_page_refuses_a_hostile_file_and_reads_a_good_one(books: Books, client: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from comptoir.accounting.tests.test_invoices import _supplier_invoice

    login(client, books, "finance")
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><l>&b;</l>'
    response = client.post("/accounting/invoices/upload/", {"file": SimpleUploadedFile("x.xml", bomb)})
    assert response.status_code == 422 and 'data-field-error="file"' in response.content.decode()
    assert Invoice.objects.count() == 0
    good = SimpleUploadedFile("bill.xml", _supplier_invoice(books), content_type="application/xml")
    response = client.post("/accounting/invoices/upload/", {"file": good})
    bill = Invoice.objects.get()
    assert response["Location"] == f"/accounting/invoices/{bill.pk}/"
    assert bill.kind == InvoiceKind.VENDOR_BILL and bill.supplier_reference == "F2026-118"


def test_send_page_mails_the_pdf(books: Books, client: Client, smtp: Any) -> None:
    invoice = books.posted()
    login(client, books, "finance")
    response = client.post(f"/accounting/invoices/{invoice.pk}/send/", {"to": "compta@boulangerie.test"})
    assert response.status_code == 302
    assert len(smtp.messages) == 1
    assert Invoice.objects.get(pk=invoice.pk).sent_to == "compta@boulangerie.test"


from comptoir.crm.tests.smtp import smtp_server  # noqa: E402, F401  (the SMTP fixture)


def test_list_filters_paginates_and_exports(books: Books, client: Client) -> None:
    first = books.posted(payment_term_id=books.term("Comptant").pk, issue_date=today() - dt.timedelta(days=40))
    books.posted(issue_date=today())
    books.invoice()
    login(client, books, "finance")
    page = client.get("/accounting/invoices/?kind=customer_invoice&state=posted").content.decode()
    assert page.count("data-invoice=") == 2
    overdue = client.get("/accounting/invoices/?overdue=1").content.decode()
    assert overdue.count("data-invoice=") == 1 and f'data-invoice="{first.pk}"' in overdue
    csv = client.get("/accounting/invoices/?state=posted&format=csv")
    body = b"".join(csv.streaming_content).decode()  # type: ignore[attr-defined]
    assert first.number in body and body.count("\n") == 3
    xlsx = client.get("/accounting/invoices/?format=xlsx")
    assert xlsx.status_code == 200 and xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    assert client.get("/accounting/invoices/?date_from=nope").status_code in (400, 422)


def test_list_queries_do_not_grow_with_rows(books: Books, client: Client) -> None:
    login(client, books, "sales")
    books.customer.owner = books.personas.users["sales"]
    books.customer.save()
    books.posted()
    client.get("/accounting/invoices/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/accounting/invoices/").status_code == 200
    for _index in range(5):
        books.posted()
    with CaptureQueriesContext(connection) as many:
        assert client.get("/accounting/invoices/").status_code == 200
    assert len(many) == len(few) <= 20


# --- Permission matrix: pages, API and timeline follow the same rules ------------------


def _setup_matrix(books: Books) -> dict[str, Invoice]:
    sales = books.personas.users["sales"]
    mine = organization(books.company_id, "Client de Sales", siren="443061841", owner=sales)
    theirs = books.customer  # owned by nobody: not the salesperson's
    return {
        "mine": books.posted(organization=mine),
        "theirs": books.posted(organization=theirs),
        "bill": invoices.invoice_post(actor=books.actor(), invoice_id=books.invoice(
            kind=InvoiceKind.VENDOR_BILL, supplier_reference="X1", issue_date=today()).pk),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("role", "sees"),
    [("finance", {"mine", "theirs", "bill"}), ("management", {"mine", "theirs", "bill"}), ("sales", {"mine"}),
     ("marketing", set()), ("operations", set())],
)  # fmt: skip
def test_permission_matrix_pages_api_timeline(books: Books, client: Client, role: str, sees: set[str]) -> None:
    rows = _setup_matrix(books)
    login(client, books, role)
    listing = client.get("/accounting/invoices/")
    api = client.get("/api/v1/accounting/invoices")
    if not sees:
        assert listing.status_code == 403 and api.status_code == 403
    else:
        html = listing.content.decode()
        ids = {item["id"] for item in api.json()["items"]}
        csv = b"".join(client.get("/accounting/invoices/?format=csv").streaming_content).decode()  # type: ignore[attr-defined]
        for name, invoice in rows.items():
            visible = name in sees
            assert (f'data-invoice="{invoice.pk}"' in html) is visible, (role, name)
            assert (invoice.pk in ids) is visible, (role, name)
            assert (invoice.number in csv) is visible, (role, name)
            assert client.get(f"/accounting/invoices/{invoice.pk}/").status_code == (200 if visible else 404)
            assert client.get(f"/api/v1/accounting/invoices/{invoice.pk}").status_code == (200 if visible else 404)
    # Writing is finance's only; the ledger stays closed to sales.
    writes = client.post(f"/accounting/invoices/{rows['mine'].pk}/credit/")
    assert writes.status_code == (302 if role == "finance" else 403)
    if role == "sales":
        assert client.get("/accounting/").status_code == 403
        assert client.get(f"/accounting/entries/{rows['mine'].journal_entry_id}/").status_code == 403
    # The 360° timeline shows the same invoices.
    actor = books.actor(role)
    for name, invoice in rows.items():
        subject = Subject(ORGANIZATION, invoice.organization_id)
        entries = timeline_registry.timeline(actor, subject, limit=50)[0]
        keys = {entry.key for entry in entries if entry.source == "invoices"}
        assert (invoice.pk in keys) is (name in sees), (role, name)


def test_key_figures_on_the_organization(books: Books) -> None:
    books.posted(payment_term_id=books.term("Comptant").pk, issue_date=today() - dt.timedelta(days=3))
    books.posted(payment_term_id=books.term("30 jours").pk)
    subject = Subject(ORGANIZATION, books.customer.pk)
    figures = {f.code: f.raw for f in timeline_registry.key_figures(books.actor(), subject)}
    assert figures["receivable"] == "240.00"
    assert figures["overdue_amount"] == "120.00"
    assert figures["invoiced_year"] == ("200.00" if (today() - dt.timedelta(days=3)).year == today().year else "100.00")

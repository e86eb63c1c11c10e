"""Payment terms (update, archive, preview: posted invoices keep their due dates), partner
profiles (form, organization panel), and the invoice form's server-side autocomplete for
partners and products (record rules, beyond the old 1,000-option cap)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounting import invoices, terms
from comptoir.accounting.models import Invoice, PartnerProfile, PaymentTerm
from comptoir.accounting.tests.invoices_kit import Books
from comptoir.accounting.tests.payments_kit import books, fresh
from comptoir.catalog.models import Product, Uom
from comptoir.catalog.text import search_text as product_text
from comptoir.contacts.models import Organization
from comptoir.contacts.normalize import fold
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry
from comptoir.org.models import User
from comptoir.org.testing import enable_modules

pytestmark = pytest.mark.django_db
__all__ = ["books"]
BALANCE_30 = [{"kind": "balance", "days": "30"}]


def login(client: Client, books: Books, role: str) -> Client:
    user = books.personas.users[role]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    client.force_login(user)
    return client


# --- Services -------------------------------------------------------------------------


def test_update_changes_drafts_and_new_invoices_never_posted_ones(books: Books) -> None:
    term = invoices.payment_term_create(actor=books.actor(), name="Net 30", lines=BALANCE_30)
    issue = timezone.localdate() - dt.timedelta(days=3)
    posted = books.posted(payment_term_id=term.pk, issue_date=issue)
    draft = books.invoice(payment_term_id=term.pk, issue_date=issue)
    assert posted.due_date == issue + dt.timedelta(days=30)
    before = list(posted.installments.values_list("due_date", "amount"))
    terms.payment_term_update(actor=books.actor(), term_id=term.pk, name="Net 45 EOM", note="45 jours fin de mois",
                              lines=[{"kind": "percent", "percent": "40", "days": "0"},
                                     {"kind": "balance", "days": "45", "end_of_month": True}])  # fmt: skip
    posted = fresh(posted)
    assert posted.due_date == issue + dt.timedelta(days=30)
    assert list(posted.installments.values_list("due_date", "amount")) == before
    assert posted.payment_terms_text != "45 jours fin de mois"
    # The draft follows on its next save; a new invoice too.
    invoices.invoice_update(actor=books.actor(), invoice_id=draft.pk, note="x")
    draft = fresh(draft)
    assert draft.installments.count() == 2 and draft.payment_terms_text == "45 jours fin de mois"
    assert AuditEntry.objects.filter(action="payment_term.update", object_id=str(term.pk)).exists()


def test_update_errors_per_field_and_permissions(books: Books) -> None:
    term = invoices.payment_term_create(actor=books.actor(), name="Net 30", lines=BALANCE_30)
    invoices.payment_term_create(actor=books.actor(), name="Net 60", lines=[{"kind": "balance", "days": "60"}])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "Net 60"}, "name"),
        ({"name": ""}, "name"),
        ({"lines": []}, "lines"),
        ({"lines": [{"kind": "percent", "percent": "30", "days": "0"}]}, "lines"),
        ({"lines": [{"kind": "balance", "days": "-1"}]}, "lines.0.days"),
        ({"lines": [{"kind": "percent", "percent": "130"}, {"kind": "balance"}]}, "lines.0.percent"),
        ({"lines": [{"kind": "bogus"}]}, "lines.0.kind"),
        ({"colour": "red"}, "colour"),
    ]
    for data, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            terms.payment_term_update(actor=books.actor(), term_id=term.pk, **data)
        assert field in caught.value.fields, (data, caught.value.fields)
    assert PaymentTerm.objects.get(pk=term.pk).name == "Net 30" and term.lines.count() == 1
    with pytest.raises(PermissionDenied):
        terms.payment_term_update(actor=books.actor("sales"), term_id=term.pk, name="x")
    with pytest.raises(PermissionDenied):
        terms.payment_term_set_active(actor=books.actor("management"), term_id=term.pk, active=False)
    with pytest.raises(NotFound):
        terms.payment_term_update(actor=books.personas.outsider_actor(), term_id=term.pk, name="x")


def test_archive_keeps_invoices_readable_and_hides_the_term(books: Books) -> None:
    term = invoices.payment_term_create(actor=books.actor(), name="Net 30", lines=BALANCE_30)
    posted = books.posted(payment_term_id=term.pk)
    terms.payment_term_set_active(actor=books.actor(), term_id=term.pk, active=False)
    assert fresh(posted).payment_term_id == term.pk and fresh(posted).payment_terms_text
    assert term.pk not in [pk for pk, _n in terms.term_choices(books.actor())]
    assert term.pk in [pk for pk, _n in terms.term_choices(books.actor(), keep=[term.pk])]
    assert term.pk in [t.pk for t in terms.term_list(books.actor(), archived=True)]
    assert terms.term_usage(books.actor(), term.pk) == 1
    terms.payment_term_set_active(actor=books.actor(), term_id=term.pk, active=True)
    assert term.pk in [pk for pk, _n in terms.term_choices(books.actor())]


def test_invoice_form_offers_archived_terms_only_when_already_chosen(books: Books, client: Client) -> None:
    term = invoices.payment_term_create(actor=books.actor(), name="Old term", lines=BALANCE_30)
    draft = books.invoice(payment_term_id=term.pk)
    terms.payment_term_set_active(actor=books.actor(), term_id=term.pk, active=False)
    login(client, books, "finance")
    assert "Old term" not in client.get("/accounting/invoices/new/?kind=customer_invoice").content.decode()
    assert f'value="{term.pk}" selected' in client.get(f"/accounting/invoices/{draft.pk}/edit/").content.decode()


def test_preview_due_dates_and_bad_input() -> None:
    lines = [{"kind": "percent", "percent": "30", "days": "0"}, {"kind": "balance", "days": "45", "end_of_month": True}]
    schedule, errors = terms.preview(lines, "2026-01-20", "1000.00")
    assert not errors and schedule == [(dt.date(2026, 1, 20), D("300.00")), (dt.date(2026, 3, 31), D("700.00"))]
    assert terms.preview([], "2026-01-20", "1000")[1].keys() == {"lines"}
    assert "issue_date" in terms.preview(lines, "2026-02-30", "1000")[1]
    assert "total" in terms.preview(lines, "2026-01-20", "-5")[1]


# --- Pages ----------------------------------------------------------------------------


def test_terms_list_paginated_with_example_and_constant_queries(books: Books, client: Client) -> None:
    login(client, books, "finance")
    page = client.get("/accounting/terms/?issue_date=2026-01-31&total=100.00")
    html = page.content.decode()
    assert page.status_code == 200 and "45 jours fin de mois" in html and 'id="term-create"' in html
    assert "31/03/2026" in html or "2026-03-31" in html or "03/31/2026" in html  # 45 days EOM from Jan 31
    for i in range(60):
        invoices.payment_term_create(actor=books.actor(), name=f"Term {i:02d}", lines=BALANCE_30)
    counts = []
    for url in ("/accounting/terms/?page=1", "/accounting/terms/?page=2"):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    assert 'href="?page=2"' in client.get("/accounting/terms/").content.decode()
    # The invoices' tab and the old address lead here.
    old = client.get("/accounting/invoices/payment-terms/")
    assert old.status_code == 302 and old["Location"] == "/accounting/terms/"
    assert 'href="/accounting/terms/"' in client.get("/accounting/invoices/").content.decode()


def test_term_form_create_errors_edit_preview_archive(books: Books, client: Client) -> None:
    login(client, books, "finance")
    assert client.get("/accounting/terms/new/").status_code == 200
    data = {"name": "Split", "note": "", "lines-TOTAL_FORMS": "3", "lines-INITIAL_FORMS": "0",
            "lines-0-kind": "percent", "lines-0-percent": "30", "lines-0-days": "0",
            "lines-1-kind": "balance", "lines-1-days": "x", "lines-2-kind": ""}  # fmt: skip
    bad = client.post("/accounting/terms/new/", data)
    assert bad.status_code == 422 and 'data-field-error="lines.1.days"' in bad.content.decode()
    assert not PaymentTerm.objects.filter(name="Split").exists()
    ok = client.post("/accounting/terms/new/", data | {"lines-1-days": "30"})
    assert ok.status_code == 302
    term = PaymentTerm.objects.get(name="Split")
    assert list(term.lines.values_list("kind", "days")) == [("percent", 0), ("balance", 30)]
    edit = client.get(f"/accounting/terms/{term.pk}/edit/")
    assert edit.status_code == 200 and 'id="term-preview-table"' in edit.content.decode()
    preview = client.get("/accounting/terms/preview/", {"lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0",
                                                         "lines-0-kind": "balance", "lines-0-days": "10",
                                                         "issue_date": "2026-05-01", "total": "50"})  # fmt: skip
    assert preview.status_code == 200 and "50.00" in preview.content.decode()
    assert client.post(f"/accounting/terms/{term.pk}/active/", {"active": "0"}).status_code == 302
    assert not PaymentTerm.objects.get(pk=term.pk).is_active
    assert "Split" in client.get("/accounting/terms/?archived=1").content.decode()


def test_term_pages_permissions(books: Books, client: Client) -> None:
    term = PaymentTerm.objects.filter(company_id=books.company_id).first()
    assert term is not None
    login(client, books, "sales")  # reads invoices, writes none
    assert client.get("/accounting/terms/").status_code == 200
    assert 'id="term-create"' not in client.get("/accounting/terms/").content.decode()
    assert client.get("/accounting/terms/new/").status_code == 403
    assert client.post(f"/accounting/terms/{term.pk}/active/", {"active": "0"}).status_code == 403
    assert client.get("/accounting/autocomplete/organizations/?organization_id_q=a").status_code == 403
    login(client, books, "marketing")
    assert client.get("/accounting/terms/").status_code == 403
    assert PaymentTerm.objects.get(pk=term.pk).is_active


def test_partner_profile_panel_and_form(books: Books, client: Client) -> None:
    login(client, books, "finance")
    org = books.customer
    page = client.get(f"/contacts/organizations/{org.pk}/").content.decode()
    assert 'id="invoicing-profile"' in page and f"/accounting/partners/{org.pk}/profile/" in page
    form = client.get(f"/accounting/partners/{org.pk}/profile/")
    assert form.status_code == 200 and 'name="fiscal_position"' in form.content.decode()
    term = books.term("30 jours")
    data = {"fiscal_position": "eu_business", "payment_term_id": str(term.pk), "supplier_payment_term_id": "",
            "language": "en", "invoice_email": "compta@example.fr", "supplier_vat_on_debits": "on"}  # fmt: skip
    assert client.post(f"/accounting/partners/{org.pk}/profile/", data).status_code == 302
    profile = PartnerProfile.objects.get(company_id=books.company_id, organization=org)
    assert (profile.fiscal_position, profile.payment_term_id, profile.language, profile.supplier_vat_on_debits) == (
        "eu_business", term.pk, "en", True)  # fmt: skip
    bad = client.post(f"/accounting/partners/{org.pk}/profile/", data | {"invoice_email": "not an email"})
    assert bad.status_code == 422 and 'data-field-error="invoice_email"' in bad.content.decode()
    assert "30 jours" in client.get(f"/contacts/organizations/{org.pk}/").content.decode()
    # New invoices start from the profile.
    draft = books.invoice()
    assert (draft.fiscal_position, draft.payment_term_id, draft.language) == ("eu_business", term.pk, "en")


def test_partner_profile_permissions(books: Books, client: Client) -> None:
    org = books.customer
    login(client, books, "management")  # reads invoices, writes none: a read-only form
    page = client.get(f"/accounting/partners/{org.pk}/profile/")
    assert page.status_code == 200 and 'id="profile-save"' not in page.content.decode()
    assert client.post(f"/accounting/partners/{org.pk}/profile/", {"fiscal_position": "export"}).status_code == 403
    assert client.get(f"/accounting/partners/{books.personas.company.pk + 10**9}/profile/").status_code == 404
    other = Organization.objects.create(company=books.personas.other_company, legal_name="Elsewhere")
    login(client, books, "finance")
    assert client.get(f"/accounting/partners/{other.pk}/profile/").status_code == 404
    assert not PartnerProfile.objects.filter(organization=other).exists()


# --- Autocomplete ---------------------------------------------------------------------


def _many_organizations(books: Books, count: int) -> Organization:
    Organization.objects.bulk_create(
        Organization(company=books.personas.company, legal_name=f"Client {i:05d}", search_text=fold(f"Client {i:05d}"))
        for i in range(count)
    )
    last = Organization.objects.create(company=books.personas.company, legal_name="Zénith Boulangerie",
                                       search_text=fold("Zénith Boulangerie"))  # fmt: skip
    return last


def test_autocomplete_finds_beyond_the_old_cap_and_applies_record_rules(books: Books, client: Client) -> None:
    last = _many_organizations(books, 1100)
    Organization.objects.create(company=books.personas.other_company, legal_name="Zénith Autre",
                                search_text=fold("Zénith Autre"))  # fmt: skip
    login(client, books, "finance")
    form = client.get("/accounting/invoices/new/?kind=customer_invoice").content.decode()
    assert form.count("<option") < 100 and "Zénith" not in form  # suggestions only, no 1,000-option list
    found = client.get("/accounting/autocomplete/organizations/", {"organization_id_q": "zenith", "field":
                                                                    "organization_id"})  # fmt: skip
    html = found.content.decode()
    assert found.status_code == 200 and f'value="{last.pk}"' in html and "Autre" not in html
    assert 'name="organization_id"' in html and 'id="id_organization_id"' in html
    many = client.get("/accounting/autocomplete/organizations/", {"organization_id_q": "client"}).content.decode()
    assert many.count("<option") <= 22 and "refine" in many
    # The current value stays selected whatever the search.
    params = {"organization_id_q": "client 0000", "organization_id": str(last.pk)}
    kept = client.get("/accounting/autocomplete/organizations/", params).content.decode()
    assert f'value="{last.pk}" selected' in kept
    # An odd field name falls back to the default one.
    odd = client.get("/accounting/autocomplete/organizations/", {"field": '"><script>'}).content.decode()
    assert "<script>" not in odd
    # Posting the invoice form with a partner beyond the suggestions works.
    data = {"organization_id": str(last.pk), "issue_date": "", "delivery_date": "", "payment_term_id": "",
            "due_date": "", "fiscal_position": "", "language": "", "purchase_order": "", "note": "",
            "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0", "lines-0-name": "Conseil",
            "lines-0-quantity": "1", "lines-0-unit_price": "10"}  # fmt: skip
    saved = client.post("/accounting/invoices/new/?kind=customer_invoice", data)
    assert saved.status_code == 302 and Invoice.objects.get().organization_id == last.pk
    # An organization of another company is refused by the service, on the field.
    other = Organization.objects.get(legal_name="Zénith Autre")
    refused = client.post("/accounting/invoices/new/?kind=customer_invoice", data | {"organization_id": str(other.pk)})
    assert refused.status_code == 422 and 'data-field-error="organization_id"' in refused.content.decode()


def test_salesperson_autocomplete_sees_only_their_organizations(books: Books, client: Client) -> None:
    """The record rule of contacts applies (checked on the selector: sales may not open the invoice form)."""
    from comptoir.accounting.views_terms import visible_organizations

    sales = books.personas.users["sales"]
    mine = Organization.objects.create(company=books.personas.company, legal_name="Mine", owner=sales)
    theirs = Organization.objects.create(company=books.personas.company, legal_name="Theirs")
    seen = set(visible_organizations(books.actor("sales")).values_list("pk", flat=True))
    assert mine.pk in seen and theirs.pk not in seen


def test_product_autocomplete(books: Books, client: Client) -> None:
    enable_modules(books.personas, "catalog")
    uom = Uom.objects.filter(company=books.personas.company).first()
    assert uom is not None
    for ref, name in (("CAF-01", "Café moulu"), ("THE-01", "Thé vert")):
        Product.objects.create(company=books.personas.company, reference=ref, name_fr=name, sale_uom=uom,
                               purchase_uom=uom, search_text=product_text(ref, name))  # fmt: skip
    login(client, books, "finance")
    found = client.get("/accounting/autocomplete/products/",
                       {"field": "lines-3-product_id", "lines-3-product_id_q": "cafe"}).content.decode()  # fmt: skip
    assert 'name="lines-3-product_id"' in found and "Café moulu" in found and "Thé" not in found
    cafe = Product.objects.get(reference="CAF-01")
    data = {"organization_id": str(books.customer.pk), "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0",
            "lines-0-product_id": str(cafe.pk), "lines-0-name": "Café", "lines-0-quantity": "1",
            "lines-0-unit_price": "10"}  # fmt: skip
    assert client.post("/accounting/invoices/new/?kind=customer_invoice", data).status_code == 302
    invoice = Invoice.objects.get()
    assert invoice.lines.get().product_id == cafe.pk
    edit = client.get(f"/accounting/invoices/{invoice.pk}/edit/").content.decode()
    assert f'value="{cafe.pk}" selected' in edit


# --- API ------------------------------------------------------------------------------


def test_api_patch_archive_restore_and_errors(books: Books, client: Client) -> None:
    import json

    from comptoir.org import services as org_services

    def headers(role: str) -> dict[str, str]:
        _k, secret = org_services.apikey_create(actor=books.actor(role), name=f"{role} key",
                                                scopes=["accounting:write"])  # fmt: skip
        return {"Authorization": f"Bearer {secret}"}

    term = invoices.payment_term_create(actor=books.actor(), name="Net 30", lines=BALANCE_30)
    posted = books.posted(payment_term_id=term.pk)
    due = posted.due_date
    h = headers("finance")
    url = f"/api/v1/accounting/payment-terms/{term.pk}"
    body = {"name": "Net 60", "lines": [{"kind": "balance", "days": 60, "end_of_month": True}]}
    patched = client.patch(url, data=json.dumps(body), content_type="application/json", headers=h)
    assert patched.status_code == 200, patched.content
    assert patched.json()["name"] == "Net 60" and patched.json()["lines"][0]["days"] == 60
    assert fresh(posted).due_date == due
    bad = client.patch(url, data=json.dumps({"lines": [{"kind": "percent", "percent": "20"}]}),
                       content_type="application/json", headers=h)  # fmt: skip
    assert bad.status_code == 422 and "lines" in bad.json()["fields"]
    unknown = client.patch(url, data=json.dumps({"colour": 1}), content_type="application/json", headers=h)
    assert unknown.status_code == 422
    archived = client.post(f"{url}/archive", headers=h)
    assert archived.status_code == 200 and archived.json()["is_active"] is False
    restored = client.post(f"{url}/restore", headers=h)
    assert restored.status_code == 200 and restored.json()["is_active"] is True
    assert client.post(f"{url}/archive", headers=headers("management")).status_code == 403
    assert client.post("/api/v1/accounting/payment-terms/999999999/archive", headers=h).status_code == 404

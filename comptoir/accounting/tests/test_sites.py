"""The site (establishment) dimension from documents to the ledger.

Manual entries (a site on the entry, optionally another per line), invoices (the head office
by default, chosen among the active sites), payments (chosen, else the site the invoices
share; VAT-on-receipts and exchange-difference lines keep their invoice's), credit use and
cancellations; bad sites are per-field errors that write nothing; the hash chain covers the
site only when it is set, so entries posted without one keep their hash, and a tampered site
is found by the verification.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from comptoir.accounting import chain, currency, invoices, payments, services
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import Invoice, InvoiceKind, JournalEntry, JournalLine
from comptoir.accounting.models_payments import Payment
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.accounting.tests.payments_kit import pay, post_invoice
from comptoir.accounting.tests.test_services import tamper
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.org import services as org_services
from comptoir.org.models import Site, User
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db
D = Decimal


@dataclass
class Sites:
    head: Site  # the personas' head office, "Siège Lyon"
    branch: Site
    closed: Site  # inactive
    foreign: Site  # a site of the other company


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


@pytest.fixture
def sites(personas: Personas) -> Sites:
    company = personas.company
    return Sites(
        head=Site.objects.get(company=company, is_head_office=True),
        branch=Site.objects.create(company=company, name="Atelier Grenoble", siret="84215763800029", city="Grenoble"),
        closed=Site.objects.create(company=company, name="Dépôt fermé", siret="84215763800037", is_active=False),
        foreign=Site.objects.create(company=personas.other_company, name="Concurrent", siret="90412835200010",
                                    is_head_office=True),
    )  # fmt: skip


def line_sites(entry_id: int | None) -> list[int | None]:
    return list(JournalLine.objects.filter(entry_id=entry_id).order_by("sequence").values_list("site_id", flat=True))


def sites_by_account(entry_id: int | None) -> dict[str, set[int | None]]:
    result: dict[str, set[int | None]] = {}
    for code, site_id in JournalLine.objects.filter(entry_id=entry_id).values_list("account__code", "site_id"):
        result.setdefault(code, set()).add(site_id)
    return result


def counts() -> tuple[int, int, int, int]:
    return JournalEntry.objects.count(), JournalLine.objects.count(), Invoice.objects.count(), Payment.objects.count()


def assert_chain_ok(company_id: int) -> None:
    report = verify_chain(company_id)
    assert report.ok, report.anomalies


# --- Ledger ---------------------------------------------------------------------------


def test_lines_take_the_entry_site_unless_they_name_their_own(books: Books, sites: Sites) -> None:
    ledger = books.ledger
    lines = ledger.sale()
    lines[2]["site_id"] = sites.branch.pk
    entry = services.entry_create(actor=books.actor(), **ledger.entry_data(lines=lines, site_id=sites.head.pk))
    assert entry.site_id == sites.head.pk
    assert line_sites(entry.pk) == [sites.head.pk, sites.head.pk, sites.branch.pk]
    posted = services.entry_post(actor=books.actor(), entry_id=entry.pk)
    assert posted.hash and line_sites(entry.pk) == [sites.head.pk, sites.head.pk, sites.branch.pk]
    # Without a site, neither the entry nor its lines have one.
    plain = services.entry_create(actor=books.actor(), **ledger.entry_data())
    assert plain.site_id is None and line_sites(plain.pk) == [None, None, None]
    services.entry_post(actor=books.actor(), entry_id=plain.pk)
    assert_chain_ok(books.company_id)


def test_bad_sites_are_per_field_errors_and_write_nothing(books: Books, sites: Sites) -> None:
    ledger = books.ledger
    before = counts()
    for bad in (sites.foreign.pk, sites.closed.pk, 10**12, "x"):
        with pytest.raises(ValidationFailed) as caught:
            services.entry_create(actor=books.actor(), **ledger.entry_data(site_id=bad))
        assert set(caught.value.fields) == {"site_id"}
    lines = ledger.sale()
    lines[1]["site_id"] = sites.foreign.pk
    lines[2]["site_id"] = sites.closed.pk
    with pytest.raises(ValidationFailed) as caught:
        services.entry_create(actor=books.actor(), **ledger.entry_data(lines=lines))
    assert set(caught.value.fields) == {"lines.1.site_id", "lines.2.site_id"}
    assert counts() == before


def test_changing_the_entry_site_moves_the_lines_that_followed_it(books: Books, sites: Sites) -> None:
    lines = books.ledger.sale()
    lines[0]["site_id"] = sites.branch.pk
    entry = services.entry_create(actor=books.actor(), **books.ledger.entry_data(lines=lines, site_id=sites.head.pk))
    branch_2 = Site.objects.create(company=books.personas.company, name="Boutique Annecy", siret="84215763800045")
    services.entry_update(actor=books.actor(), entry_id=entry.pk, site_id=branch_2.pk)
    assert line_sites(entry.pk) == [sites.branch.pk, branch_2.pk, branch_2.pk]
    services.entry_update(actor=books.actor(), entry_id=entry.pk, site_id=None)
    assert JournalEntry.objects.get(pk=entry.pk).site_id is None
    assert line_sites(entry.pk) == [sites.branch.pk, None, None]
    with pytest.raises(ValidationFailed) as caught:
        services.entry_update(actor=books.actor(), entry_id=entry.pk, site_id=sites.foreign.pk)
    assert set(caught.value.fields) == {"site_id"}
    assert JournalEntry.objects.get(pk=entry.pk).site_id is None


def test_a_reversal_keeps_the_sites_even_of_a_site_closed_since(books: Books, sites: Sites) -> None:
    lines = books.ledger.sale()
    lines[1]["site_id"] = sites.branch.pk
    entry = services.entry_create(actor=books.actor(), **books.ledger.entry_data(lines=lines, site_id=sites.head.pk))
    entry = services.entry_post(actor=books.actor(), entry_id=entry.pk)
    Site.objects.filter(pk=sites.branch.pk).update(is_active=False)
    reversal = services.entry_reverse(actor=books.actor(), entry_id=entry.pk, date=today())
    assert reversal.site_id == sites.head.pk
    assert line_sites(reversal.pk) == line_sites(entry.pk) == [sites.head.pk, sites.branch.pk, sites.head.pk]
    assert_chain_ok(books.company_id)


# --- Hash chain -----------------------------------------------------------------------


def _digest_before_sites(lines: list[dict[str, Any]]) -> str:
    """The line digest as it was computed before sites existed (decision 0008)."""
    rows = [[line["sequence"], line["account_code"], line["partner_code"] or "", line["label"],
             int(Decimal(line["debit"]).scaleb(2)), int(Decimal(line["credit"]).scaleb(2)),
             line["due_date"].isoformat() if line["due_date"] else ""] for line in lines]  # fmt: skip
    return hashlib.sha256(
        json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


def test_the_digests_of_entries_without_site_are_unchanged() -> None:
    lines = [
        {"sequence": 1, "account_code": "411", "partner_code": "C000001", "label": "Facture", "debit": D("120.00"),
         "credit": D(0), "due_date": dt.date(2026, 3, 31)},
        {"sequence": 2, "account_code": "706", "partner_code": "", "label": "Facture", "debit": D(0),
         "credit": D("120.00"), "due_date": None},
    ]  # fmt: skip
    old = _digest_before_sites(lines)
    assert chain.lines_digest(lines) == old
    assert chain.lines_digest([line | {"site_id": None} for line in lines]) == old
    with_site = chain.lines_digest([lines[0] | {"site_id": 7}, lines[1]])
    assert with_site != old and with_site != chain.lines_digest([lines[0] | {"site_id": 8}, lines[1]])
    header = {"company_id": 1, "chain_number": 1, "number": "VT-2026-00001", "journal_code": "VT",
              "date": dt.date(2026, 3, 1), "ref": "FA-1", "label": "Facture", "total": D("120.00"),
              "posted_at": dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC), "reversal_of_id": None,
              "source_type": "", "source_id": ""}  # fmt: skip
    plain = chain.entry_digest(header, old, chain.GENESIS)
    assert chain.entry_digest(header | {"site_id": None}, old, chain.GENESIS) == plain
    assert chain.entry_digest(header | {"site_id": 3}, old, chain.GENESIS) != plain


def test_a_tampered_site_is_found_by_the_verification_and_check_integrity(books: Books, sites: Sites) -> None:
    actor = books.actor()
    plain = services.entry_post(actor=actor, entry_id=services.entry_create(
        actor=actor, **books.ledger.entry_data()).pk)  # fmt: skip
    sited = services.entry_post(actor=actor, entry_id=services.entry_create(
        actor=actor, **books.ledger.entry_data(site_id=sites.head.pk)).pk)  # fmt: skip
    out = io.StringIO()
    call_command("check_integrity", stdout=out)
    assert "2 posted entries" in out.getvalue() and "Integrity OK" in out.getvalue()
    # A site given to a line posted without one, and a line's site moved to another site.
    tamper("UPDATE accounting_journalline SET site_id = %s WHERE entry_id = %s AND sequence = 1",
           [sites.branch.pk, plain.pk])  # fmt: skip
    tamper("UPDATE accounting_journalline SET site_id = %s WHERE entry_id = %s AND sequence = 2",
           [sites.branch.pk, sited.pk])  # fmt: skip
    anomalies = verify_chain(books.company_id).anomalies
    assert {(a.entry_id, a.kind) for a in anomalies} == {(plain.pk, "lines"), (sited.pk, "lines")}
    with pytest.raises(CommandError):
        call_command("check_integrity", stdout=io.StringIO())
    # Put the lines back: the chain verifies again. Then move the entry's own site.
    tamper("UPDATE accounting_journalline SET site_id = NULL WHERE entry_id = %s", [plain.pk])
    tamper("UPDATE accounting_journalline SET site_id = %s WHERE entry_id = %s", [sites.head.pk, sited.pk])
    assert_chain_ok(books.company_id)
    tamper("UPDATE accounting_journalentry SET site_id = %s WHERE id = %s", [sites.branch.pk, sited.pk])
    assert [(a.entry_id, a.kind) for a in verify_chain(books.company_id).anomalies] == [(sited.pk, "hash")]


def test_a_posted_line_keeps_its_site(books: Books, sites: Sites) -> None:
    actor = books.actor()
    entry = services.entry_post(actor=actor, entry_id=services.entry_create(
        actor=actor, **books.ledger.entry_data(site_id=sites.head.pk)).pk)  # fmt: skip
    line_row = JournalLine.objects.filter(entry=entry).first()
    assert line_row is not None
    line_row.site_id = sites.branch.pk
    with pytest.raises(Conflict):
        line_row.save()  # the model guard, on every database
    if connection.vendor == "postgresql":  # and the trigger refuses a raw UPDATE of the site
        from django.db import DatabaseError

        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            JournalLine.objects.filter(pk=line_row.pk).update(site_id=sites.branch.pk)
        # Nor the foreign-currency amount and its currency (migration 0011).
        for change in ({"amount_currency": 1}, {"currency": "USD"}):
            with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
                JournalLine.objects.filter(pk=line_row.pk).update(**change)
        # The matching columns still may change.
        JournalLine.objects.filter(pk=line_row.pk).update(matching_code="a")
    assert JournalLine.objects.get(pk=line_row.pk).site_id == sites.head.pk
    assert_chain_ok(books.company_id)


# --- Invoices -------------------------------------------------------------------------


def test_an_invoice_takes_the_head_office_and_its_entry_every_line_carries_it(books: Books, sites: Sites) -> None:
    invoice = books.posted([line(), line(name="Livre", unit_price="20.00", vat_category="reduced")])
    assert invoice.site_id == sites.head.pk
    entry = JournalEntry.objects.get(pk=invoice.journal_entry_id)
    assert entry.site_id == sites.head.pk
    assert set(line_sites(entry.pk)) == {sites.head.pk} and len(line_sites(entry.pk)) >= 3  # 411, 70x, VAT
    assert_chain_ok(books.company_id)


def test_an_invoice_site_is_chosen_or_none_and_a_credit_note_takes_its_invoice_site(books: Books, sites: Sites) -> None:
    invoice = books.posted(site_id=sites.branch.pk)
    assert set(line_sites(invoice.journal_entry_id)) == {sites.branch.pk}
    credit = invoices.invoice_credit(actor=books.actor(), invoice_id=invoice.pk)
    assert credit.site_id == sites.branch.pk
    credit = invoices.invoice_post(actor=books.actor(), invoice_id=credit.pk, render_pdf=False)
    assert JournalEntry.objects.get(pk=credit.journal_entry_id).site_id == sites.branch.pk
    assert set(line_sites(credit.journal_entry_id)) == {sites.branch.pk}
    whole = books.posted(site_id=None)
    assert whole.site_id is None and set(line_sites(whole.journal_entry_id)) == {None}
    draft = books.invoice()
    invoices.invoice_update(actor=books.actor(), invoice_id=draft.pk, site_id=sites.branch.pk)
    assert Invoice.objects.get(pk=draft.pk).site_id == sites.branch.pk
    assert_chain_ok(books.company_id)


def test_an_invoice_with_a_bad_site_is_refused_and_nothing_is_written(books: Books, sites: Sites) -> None:
    before = counts()
    for bad in (sites.foreign.pk, sites.closed.pk, "nope"):
        with pytest.raises(ValidationFailed) as caught:
            books.invoice(site_id=bad)
        assert set(caught.value.fields) == {"site_id"}
    assert counts() == before
    draft = books.invoice(site_id=sites.branch.pk)
    with pytest.raises(ValidationFailed) as caught:
        invoices.invoice_update(actor=books.actor(), invoice_id=draft.pk, site_id=sites.closed.pk, note="x")
    assert set(caught.value.fields) == {"site_id"}
    draft.refresh_from_db()
    assert (draft.site_id, draft.note) == (sites.branch.pk, "")


def test_no_default_site_without_an_active_head_office(books: Books, sites: Sites) -> None:
    Site.objects.filter(pk=sites.head.pk).update(is_active=False)
    assert books.invoice().site_id is None
    assert services.default_site_id(books.company_id) is None


def _key(books: Books, role: str = "finance") -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=books.actor(role), name=f"{role} site key",
                                            scopes=["accounting:write", "contacts:write"])  # fmt: skip
    return {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def _api(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method == "get":
        return client.get("/api/v1/accounting" + url, headers=headers)
    return getattr(client, method)("/api/v1/accounting" + url, data=json.dumps(body or {}),
                                   content_type="application/json", headers=headers)  # fmt: skip


def test_invoice_api_reads_and_writes_the_site(books: Books, sites: Sites, client: Client) -> None:
    h = _key(books)
    body = {"organization_id": books.customer.pk, "lines": [{"name": "Conseil", "quantity": "1", "unit_price": "10"}]}
    default = _api(client, "post", "/invoices", h, body)
    assert default.status_code == 201 and default.json()["site_id"] == sites.head.pk
    chosen = _api(client, "post", "/invoices", h, body | {"site_id": sites.branch.pk}).json()
    assert chosen["site_id"] == sites.branch.pk
    assert _api(client, "post", "/invoices", h, body | {"site_id": None}).json()["site_id"] is None
    before = counts()
    for bad in (sites.foreign.pk, sites.closed.pk):
        refused = _api(client, "post", "/invoices", h, body | {"site_id": bad})
        assert refused.status_code == 422 and list(refused.json()["fields"]) == ["site_id"]
    assert _api(client, "post", "/invoices", h, body | {"site_id": "x"}).status_code == 422
    assert counts() == before
    patched = _api(client, "patch", f"/invoices/{chosen['id']}", h, {"site_id": None})
    assert patched.status_code == 200 and patched.json()["site_id"] is None
    refused = _api(client, "patch", f"/invoices/{chosen['id']}", h, {"site_id": sites.foreign.pk})
    assert refused.status_code == 422 and list(refused.json()["fields"]) == ["site_id"]
    posted = _api(client, "post", f"/invoices/{default.json()['id']}/post", h)
    assert posted.status_code == 200, posted.content
    entry = _api(client, "get", f"/entries/{posted.json()['journal_entry_id']}", h).json()
    assert entry["site_id"] == sites.head.pk and {row["site_id"] for row in entry["lines"]} == {sites.head.pk}


def login(client: Client, personas: Personas, role: str = "finance") -> Client:
    user = personas.users[role]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    user.refresh_from_db()
    client.force_login(user)
    return client


def _invoice_form(books: Books, **extra: str) -> dict[str, str]:
    return {
        "organization_id": str(books.customer.pk), "issue_date": "", "delivery_date": "", "payment_term_id": "",
        "due_date": "", "fiscal_position": "", "language": "", "purchase_order": "", "note": "",
        "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "500", "lines-0-name": "Conseil", "lines-0-quantity": "1",
        "lines-0-unit_price": "100",
    } | extra  # fmt: skip


def test_invoice_pages_choose_and_show_the_site(books: Books, sites: Sites, client: Client) -> None:
    login(client, books.personas)
    page = client.get("/accounting/invoices/new/?kind=customer_invoice").content.decode()
    assert f'<option value="{sites.head.pk}" selected>' in page and sites.branch.name in page
    assert sites.closed.name not in page and sites.foreign.name not in page
    refused = client.post("/accounting/invoices/new/?kind=customer_invoice",
                          _invoice_form(books, site_id=str(sites.foreign.pk)))  # fmt: skip
    assert refused.status_code == 422 and 'data-field-error="site_id"' in refused.content.decode()
    assert Invoice.objects.count() == 0
    response = client.post("/accounting/invoices/new/?kind=customer_invoice",
                           _invoice_form(books, site_id=str(sites.branch.pk), post="1"))  # fmt: skip
    invoice = Invoice.objects.get()
    assert response.status_code == 302 and invoice.site_id == sites.branch.pk
    assert set(line_sites(invoice.journal_entry_id)) == {sites.branch.pk}
    detail = client.get(f"/accounting/invoices/{invoice.pk}/").content.decode()
    assert f'id="invoice-site">{sites.branch.name}<' in detail
    entry = client.get(f"/accounting/entries/{invoice.journal_entry_id}/").content.decode()
    assert f'id="entry-site">{sites.branch.name}<' in entry and f'data-site="{sites.branch.pk}"' in entry


# --- Payments -------------------------------------------------------------------------


def test_a_payment_takes_the_site_of_the_invoice_it_settles(books: Books, sites: Sites) -> None:
    invoice = post_invoice(books, site_id=sites.branch.pk)
    payment = pay(books, "150.00", [(invoice, "120.00")])  # 30.00 left as a credit
    assert payment.site_id == sites.branch.pk
    assert JournalEntry.objects.get(pk=payment.journal_entry_id).site_id == sites.branch.pk
    assert set(line_sites(payment.journal_entry_id)) == {sites.branch.pk}
    assert_chain_ok(books.company_id)


def test_a_chosen_site_goes_to_the_payment_but_vat_moves_keep_the_invoice_site(books: Books, sites: Sites) -> None:
    invoice = post_invoice(books, services=True)  # VAT on receipts, head office
    payment = pay(books, "60.00", [(invoice, "60.00")], site_id=sites.branch.pk)
    assert payment.site_id == sites.branch.pk
    found = sites_by_account(payment.journal_entry_id)
    assert found["512"] == found["411"] == {sites.branch.pk}
    assert found["44574"] == found["44571"] == {sites.head.pk}
    assert_chain_ok(books.company_id)


def test_invoices_of_two_sites_leave_the_payment_without_one(books: Books, sites: Sites) -> None:
    head = post_invoice(books, services=True)
    branch = post_invoice(books, services=True, site_id=sites.branch.pk)
    payment = pay(books, "240.00", [(head, "120.00"), (branch, "120.00")])
    assert payment.site_id is None
    rows = list(JournalLine.objects.filter(entry_id=payment.journal_entry_id).order_by("sequence")
                .values_list("account__code", "site_id"))  # fmt: skip
    assert [site for code, site in rows if code in ("512", "411")] == [None, None, None]
    vat = [site for code, site in rows if code in ("44574", "44571")]
    assert vat == [sites.head.pk, sites.head.pk, sites.branch.pk, sites.branch.pk]


def test_a_cancelled_payment_reverses_each_line_on_its_site(books: Books, sites: Sites) -> None:
    invoice = post_invoice(books, services=True, site_id=sites.branch.pk)
    payment = pay(books, "120.00", [(invoice, "120.00")])
    cancelled = payments.payment_cancel(actor=books.actor(), payment_id=payment.pk)
    reversal = JournalEntry.objects.get(pk=cancelled.cancel_entry_id)
    assert reversal.site_id == sites.branch.pk
    assert sorted(map(str, line_sites(reversal.pk))) == sorted(map(str, line_sites(payment.journal_entry_id)))
    assert_chain_ok(books.company_id)


def test_credit_used_later_moves_the_vat_on_the_invoice_site(books: Books, sites: Sites) -> None:
    payment = pay(books, "120.00", [])  # all of it a credit, no invoice: no site
    assert payment.site_id is None and set(line_sites(payment.journal_entry_id)) == {None}
    invoice = post_invoice(books, services=True, site_id=sites.branch.pk)
    allocation = payments.payment_allocate_credit(actor=books.actor(), payment_id=payment.pk,
                                                  invoice_id=invoice.pk, amount="120.00")  # fmt: skip
    assert allocation.vat_entry_id is not None
    assert JournalEntry.objects.get(pk=allocation.vat_entry_id).site_id == sites.branch.pk
    assert set(line_sites(allocation.vat_entry_id)) == {sites.branch.pk}
    assert_chain_ok(books.company_id)


def test_the_exchange_difference_carries_the_invoice_site(books: Books, sites: Sites) -> None:
    day1, day2 = today() - dt.timedelta(days=10), today() - dt.timedelta(days=3)
    currency.rate_set(actor=books.actor(), currency="USD", date=day1, rate="1.1")
    currency.rate_set(actor=books.actor(), currency="USD", date=day2, rate="1.25")
    invoice = books.posted([line(unit_price="1000.00")], currency="USD", issue_date=day1, site_id=sites.branch.pk)
    payment = payments.payment_register(
        actor=books.actor(), organization_id=books.customer.pk, amount="1200.00", date=day2, currency="USD",
        journal_id=books.ledger.journals["BQ"], method="transfer", site_id=sites.head.pk,
        allocations=[{"invoice_id": invoice.pk, "amount": "1200.00"}],
    )  # fmt: skip
    found = sites_by_account(payment.journal_entry_id)
    assert found["512"] == found["411"] == {sites.head.pk}
    assert found["666"] == {sites.branch.pk}
    assert_chain_ok(books.company_id)


def test_a_payment_with_a_bad_site_is_refused_and_writes_nothing(books: Books, sites: Sites) -> None:
    invoice = post_invoice(books)
    before = counts()
    for bad in (sites.foreign.pk, sites.closed.pk, "x"):
        with pytest.raises(ValidationFailed) as caught:
            pay(books, "120.00", [(invoice, "120.00")], site_id=bad)
        assert set(caught.value.fields) == {"site_id"}
    assert counts() == before
    invoice.refresh_from_db()
    assert invoice.residual_amount == D("120.00")


def test_payment_api_and_pages_carry_the_site(books: Books, sites: Sites, client: Client) -> None:
    invoice = post_invoice(books)
    h = _key(books)
    body = {"organization_id": books.customer.pk, "amount": "50.00", "date": today().isoformat(),
            "journal_id": books.ledger.journals["BQ"], "method": "transfer",
            "allocations": [{"invoice_id": invoice.pk, "amount": "50.00"}]}  # fmt: skip
    refused = _api(client, "post", "/payments", h, body | {"site_id": sites.foreign.pk})
    assert refused.status_code == 422 and list(refused.json()["fields"]) == ["site_id"]
    assert Payment.objects.count() == 0
    created = _api(client, "post", "/payments", h, body | {"site_id": sites.branch.pk})
    assert created.status_code == 201, created.content
    assert created.json()["site_id"] == sites.branch.pk
    listed = _api(client, "get", "/payments", h).json()["items"]
    assert [row["site_id"] for row in listed] == [sites.branch.pk]
    login(client, books.personas)
    form_page = client.get(f"/accounting/payments/new/?invoice={invoice.pk}").content.decode()
    assert 'name="site_id"' in form_page and sites.branch.name in form_page
    detail = client.get(f"/accounting/payments/{created.json()['id']}/").content.decode()
    assert f'id="payment-site">{sites.branch.name}<' in detail


# --- Manual entries: API and pages ----------------------------------------------------


def test_entries_api_takes_an_entry_site_and_line_sites(books: Books, sites: Sites, client: Client) -> None:
    h = _key(books)
    ledger = books.ledger
    body = {"journal_id": ledger.journals["OD"], "date": today().isoformat(), "label": "Répartition",
            "site_id": sites.head.pk, "lines": [
                {"account_id": ledger.accounts["6064"], "debit": "60.00"},
                {"account_id": ledger.accounts["6064"], "debit": "40.00", "site_id": sites.branch.pk},
                {"account_id": ledger.accounts["512"], "credit": "100.00"},
            ]}  # fmt: skip
    bad = json.loads(json.dumps(body))
    bad["lines"][0]["site_id"] = sites.closed.pk
    bad["site_id"] = sites.foreign.pk
    refused = _api(client, "post", "/entries", h, bad)
    assert refused.status_code == 422 and set(refused.json()["fields"]) == {"site_id", "lines.0.site_id"}
    assert JournalEntry.objects.count() == 0
    created = _api(client, "post", "/entries", h, body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["site_id"] == sites.head.pk
    assert [row["site_id"] for row in data["lines"]] == [sites.head.pk, sites.branch.pk, sites.head.pk]
    changed = _api(client, "patch", f"/entries/{data['id']}", h, {"site_id": None})
    assert [row["site_id"] for row in changed.json()["lines"]] == [None, sites.branch.pk, None]
    assert _api(client, "post", f"/entries/{data['id']}/post", h).status_code == 200
    assert_chain_ok(books.company_id)


def test_entry_form_sets_the_site_and_a_line_site_and_the_page_shows_them(
    books: Books, sites: Sites, client: Client
) -> None:
    ledger = books.ledger
    login(client, books.personas)
    page = client.get("/accounting/entries/new/").content.decode()
    assert 'name="site_id"' in page and 'name="lines-0-site_id"' in page and sites.closed.name not in page
    data = {
        "journal_id": ledger.journals["OD"], "date": today().isoformat(), "label": "Loyer", "ref": "",
        "site_id": str(sites.head.pk),
        "lines-TOTAL_FORMS": "2", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "500",
        "lines-0-account_id": ledger.accounts["6064"], "lines-0-debit": "800", "lines-0-site_id": str(sites.branch.pk),
        "lines-1-account_id": ledger.accounts["512"], "lines-1-credit": "800",
    }  # fmt: skip
    refused = client.post("/accounting/entries/new/", data | {"lines-1-site_id": str(sites.foreign.pk)})
    assert 'data-field-error="lines.1.site_id"' in refused.content.decode()
    assert JournalEntry.objects.count() == 0
    response = client.post("/accounting/entries/new/", data)
    entry = JournalEntry.objects.get()
    assert response.status_code == 302 and entry.site_id == sites.head.pk
    assert line_sites(entry.pk) == [sites.branch.pk, sites.head.pk]
    detail = client.get(f"/accounting/entries/{entry.pk}/").content.decode()
    assert f'id="entry-site">{sites.head.name}<' in detail and f'data-site="{sites.branch.pk}"' in detail
    edit = client.get(f"/accounting/entries/{entry.pk}/edit/").content.decode()
    # The line on the entry's own site shows "the entry's" (it follows the entry).
    assert 'name="lines-1-site_id"' in edit and f'<option value="{sites.head.pk}" selected>' in edit


def test_vendor_bills_and_refunds_carry_their_site_too(books: Books, sites: Sites) -> None:
    bill = books.posted(kind=InvoiceKind.VENDOR_BILL, supplier_reference="F-1", issue_date=today(),
                        site_id=sites.branch.pk)  # fmt: skip
    assert set(line_sites(bill.journal_entry_id)) == {sites.branch.pk}
    payment = pay(books, "120.00", [(bill, "120.00")], organization_id=books.supplier.pk, direction="outbound")
    assert payment.site_id == sites.branch.pk and set(line_sites(payment.journal_entry_id)) == {sites.branch.pk}

"""Invoice services: EN 16931 totals against the XML and the ledger, every VAT case, payment
terms, credit notes, mandatory mentions, numbering, immutability, vendor bills from files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import translation

from comptoir.accounting import invoices
from comptoir.accounting.einvoice import model as en
from comptoir.accounting.einvoice.cii import build_cii
from comptoir.accounting.einvoice.parse import parse_einvoice
from comptoir.accounting.models import (
    AccountingSettings,
    Invoice,
    InvoiceFile,
    InvoiceFileRole,
    InvoiceKind,
    InvoiceState,
    JournalEntry,
)
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books, by_account, entry_lines, line, make_books
from comptoir.kernel.errors import Conflict, PermissionDenied, ValidationFailed
from comptoir.kernel.models import IssuedNumber
from comptoir.org.testing import Personas


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _balanced(invoice: Invoice) -> None:
    lines = entry_lines(invoice)
    assert sum(d for _c, d, _k in lines) == sum(c for _c, _d, c in lines) > 0


# --- Totals: one computation for the invoice, the XML and the ledger -------------------


def test_three_rates_agree_to_the_cent_in_totals_xml_and_ledger(books: Books) -> None:
    lines = [
        line("Pain", "3", "1.1700", vat_category="reduced"),  # 5.5 %
        line("Repas", "7", "12.3333", vat_category="intermediate", discount_percent="7.5"),  # 10 %
        line("Four", "1.5", "999.99", vat_category="standard"),  # 20 %
        line("Farine", "0.333", "10.01", vat_category="standard"),
    ]
    invoice = books.posted(lines, render_pdf=True)
    assert invoice.state == InvoiceState.POSTED
    assert invoice.number == f"FA-{today().year}-00001"
    # EN 16931: line nets rounded once, VAT per rate on the summed base.
    nets = [Decimal("3.51"), Decimal("79.86"), Decimal("1499.99"), Decimal("3.33")]
    assert [row.net_amount for row in invoice.lines.order_by("sequence")] == nets
    taxes = {(t.vat_code, t.rate): (t.base, t.amount) for t in invoice.taxes.all()}
    assert taxes == {
        ("S", Decimal("5.50")): (Decimal("3.51"), Decimal("0.19")),
        ("S", Decimal("10.00")): (Decimal("79.86"), Decimal("7.99")),
        ("S", Decimal("20.00")): (Decimal("1503.32"), Decimal("300.66")),
    }
    assert invoice.untaxed_amount == sum(nets)
    assert invoice.tax_amount == Decimal("308.84")
    assert invoice.total_amount == invoice.untaxed_amount + invoice.tax_amount
    # The ledger: 411 for the total, 707 for the nets, 44571 for the VAT.
    accounts = by_account(invoice)
    assert accounts == {"411": invoice.total_amount, "707": -invoice.untaxed_amount, "44571": -invoice.tax_amount}
    _balanced(invoice)
    # The Factur-X XML embedded in the stored PDF says the same amounts.
    stored = InvoiceFile.objects.get(invoice=invoice, role=InvoiceFileRole.ISSUED)
    data = bytes(stored.data)
    assert data.startswith(b"%PDF-")
    import hashlib

    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    parsed = parse_einvoice(data)
    assert parsed.warnings == ()
    assert parsed.stated.grand_total == invoice.total_amount
    assert parsed.stated.tax_total == invoice.tax_amount
    assert parsed.stated.tax_basis_total == invoice.untaxed_amount
    assert parsed.document.number == invoice.number


def test_posted_factur_x_passes_xsd_and_schematron(books: Books) -> None:
    from comptoir.accounting.einvoice.validate import validate_cii

    books.customer.siret = "73282932000074"
    books.customer.save()
    delivery = {"line1": "Entrepôt 4", "city": "Vénissieux", "postal_code": "69200"}
    lines = [line("Conseil", "2", "450.00", operation="services"), line("Clé USB", "3", "9.90")]
    invoice = books.posted(lines, render_pdf=True, purchase_order="PO-77", delivery_address=delivery)
    assert invoice.operation_category == "mixed"
    xml = parse_einvoice(bytes(InvoiceFile.objects.get(invoice=invoice).data)).xml
    assert validate_cii(xml) == []
    assert b"M1" in xml  # category of operation (BT-23)
    assert b"732829320" in xml  # buyer SIREN


# --- Every VAT case -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("customer", "category", "operation", "code", "expected"),
    [
        ("customer", "standard", "goods", "S", {"411": "120.00", "707": "-100.00", "44571": "-20.00"}),
        ("customer", "standard", "services", "S", {"411": "120.00", "706": "-100.00", "44574": "-20.00"}),
        ("customer", "exempt_261_4", "services", "E", {"411": "100.00", "706": "-100.00"}),
        ("eu_customer", "standard", "services", "AE", {"411": "100.00", "706": "-100.00"}),
        ("eu_customer", "standard", "goods", "K", {"411": "100.00", "707": "-100.00"}),
        ("export_customer", "standard", "goods", "G", {"411": "100.00", "707": "-100.00"}),
    ],
)
def test_vat_cases_on_sales(books: Books, customer: str, category: str, operation: str, code: str,
                            expected: dict[str, str]) -> None:  # fmt: skip
    invoice = books.posted([line(vat_category=category, operation=operation)], organization=getattr(books, customer))
    assert invoice.lines.get().vat_code == code
    assert by_account(invoice) == {k: Decimal(v) for k, v in expected.items()}
    tax = invoice.taxes.get()
    assert tax.vat_code == code
    if code != "S":
        assert tax.exemption_reason  # the legal mention printed on the invoice


def test_vat_on_debits_books_services_vat_as_due(books: Books) -> None:
    invoice = books.posted([line(operation="services")], vat_on_debits=True)
    assert by_account(invoice) == {"411": Decimal("120.00"), "706": Decimal("-100.00"), "44571": Decimal("-20.00")}


def test_vendor_bills_mirror_sales_and_self_assess_reverse_charge(books: Books) -> None:
    bill = books.posted([line("Papier", "10", "5.00")], kind=InvoiceKind.VENDOR_BILL, supplier_reference="F-981",
                        issue_date=today())  # fmt: skip
    assert bill.number == f"FF-{today().year}-00001"
    assert by_account(bill) == {"401": Decimal("-60.00"), "607": Decimal("50.00"), "44566": Decimal("10.00")}
    saas = books.posted([line("Licence", "1", "200.00", operation="services")], kind=InvoiceKind.VENDOR_BILL,
                        organization=books.eu_supplier, supplier_reference="INV-7", issue_date=today())  # fmt: skip
    # Reverse charge: no VAT invoiced, 20 % self-assessed on both legs.
    assert saas.total_amount == Decimal("200.00")
    assert by_account(saas) == {"401": Decimal("-200.00"), "604": Decimal("200.00"), "4452": Decimal("-40.00"),
                                "445662": Decimal("40.00")}  # fmt: skip
    assert saas.taxes.get().self_assessed == Decimal("40.00")
    _balanced(saas)


def test_outside_scope_lines_cannot_mix_with_taxed_ones(books: Books) -> None:
    with pytest.raises(ValidationFailed) as caught:
        books.invoice([line(), line(vat_category="out_of_scope")])
    assert "lines" in caught.value.fields


# --- Payment terms --------------------------------------------------------------------


def test_split_payment_terms_give_one_receivable_line_per_due_date(books: Books) -> None:
    term = books.term("30 % à la commande, 70 % à 30 jours")
    issue = today() - dt.timedelta(days=2)
    invoice = books.posted([line("Cuisine", "1", "1000.01")], payment_term_id=term.pk, issue_date=issue)
    total = invoice.total_amount
    schedule = list(invoice.installments.order_by("sequence").values_list("due_date", "amount"))
    assert schedule == [(issue, Decimal("360.00")), (issue + dt.timedelta(days=30), total - Decimal("360.00"))]
    assert invoice.due_date == issue + dt.timedelta(days=30)
    receivable = [(d, c) for code, d, c in entry_lines(invoice) if code == "411"]
    assert [d for d, _c in receivable] == [amount for _due, amount in schedule]


def test_forty_five_days_end_of_month() -> None:
    from comptoir.accounting.models import PaymentTermLine

    term = [PaymentTermLine(kind="balance", days=45, end_of_month=True)]
    assert invoices.schedule(term, dt.date(2026, 1, 20), Decimal("10")) == [(dt.date(2026, 3, 31), Decimal("10"))]
    assert invoices.schedule(term, dt.date(2026, 1, 10), Decimal("10")) == [(dt.date(2026, 2, 28), Decimal("10"))]


def test_payment_term_validation(books: Books) -> None:
    with pytest.raises(ValidationFailed) as caught:
        invoices.payment_term_create(actor=books.actor(), name="Bad", lines=[
            {"kind": "percent", "percent": "60"}, {"kind": "percent", "percent": "50", "days": "30"}])  # fmt: skip
    assert "lines" in caught.value.fields
    term = invoices.payment_term_create(actor=books.actor(), name="50/50", lines=[
        {"kind": "percent", "percent": "50"}, {"kind": "balance", "days": "60", "end_of_month": True}])  # fmt: skip
    assert term.lines.count() == 2


# --- Credit notes ---------------------------------------------------------------------


def test_partial_then_full_credit_notes_never_exceed_the_invoice(books: Books) -> None:
    actor = books.actor()
    invoice = books.posted([line("Pain", "10", "2.00"), line("Croissant", "20", "1.10", vat_category="reduced")])
    partial = invoices.invoice_credit(actor=actor, invoice_id=invoice.pk, lines=[{"line": 2, "quantity": "5"}])
    assert partial.kind == InvoiceKind.CUSTOMER_CREDIT_NOTE and partial.origin_id == invoice.pk
    assert partial.total_amount == Decimal("5.80")  # 5 × 1.10 + 5.5 %
    partial = invoices.invoice_post(actor=actor, invoice_id=partial.pk, render_pdf=True)
    assert partial.number == f"AV-{today().year}-00001"
    # Reversed sides: 411 credited, 707 and 44571 debited.
    assert by_account(partial) == {"411": Decimal("-5.80"), "707": Decimal("5.50"), "44571": Decimal("0.30")}
    xml = parse_einvoice(bytes(InvoiceFile.objects.get(invoice=partial).data))
    assert xml.document.type_code == en.InvoiceTypeCode.CREDIT_NOTE
    assert xml.document.preceding_invoices[0].number == invoice.number
    # Crediting everything again would exceed what is left.
    too_much = invoices.invoice_credit(actor=actor, invoice_id=invoice.pk)
    with pytest.raises(ValidationFailed) as caught:
        invoices.invoice_post(actor=actor, invoice_id=too_much.pk)
    assert "lines" in caught.value.fields
    invoices.invoice_update(actor=actor, invoice_id=too_much.pk, lines=[
        line("Pain", "10", "2.00"), line("Croissant", "15", "1.10", vat_category="reduced")])  # fmt: skip
    rest = invoices.invoice_post(actor=actor, invoice_id=too_much.pk)
    assert rest.total_amount + partial.total_amount == invoice.total_amount
    with pytest.raises(Conflict):
        invoices.invoice_credit(actor=actor, invoice_id=partial.pk)


def test_credit_line_quantity_cannot_exceed_the_invoiced_one(books: Books) -> None:
    invoice = books.posted([line("Pain", "10", "2.00")])
    with pytest.raises(ValidationFailed) as caught:
        invoices.invoice_credit(actor=books.actor(), invoice_id=invoice.pk, lines=[{"line": 1, "quantity": "11"},
                                                                                  {"line": 9}])  # fmt: skip
    assert set(caught.value.fields) == {"lines.0.quantity", "lines.1.line"}


# --- Drafts, errors, immutability -----------------------------------------------------


def test_errors_are_reported_per_field_and_per_line(books: Books) -> None:
    with pytest.raises(ValidationFailed) as caught:
        bad = [line(), line(quantity="abc", unit_price="-1"), line(name="", vat_category="x", discount_percent="120")]
        books.invoice(bad, issue_date="2026-13-01", bogus=1)
    fields = caught.value.fields
    assert {"lines.1.quantity", "lines.1.unit_price", "lines.2.name", "lines.2.vat_category",
            "lines.2.discount_percent", "issue_date", "bogus"} <= set(fields)  # fmt: skip
    assert Invoice.objects.count() == 0


def test_a_posted_invoice_is_never_edited_nor_deleted(books: Books) -> None:
    invoice = books.posted()
    actor = books.actor()
    for call in (lambda: invoices.invoice_update(actor=actor, invoice_id=invoice.pk, note="x"),
                 lambda: invoices.invoice_delete(actor=actor, invoice_id=invoice.pk),
                 lambda: invoices.invoice_cancel(actor=actor, invoice_id=invoice.pk),
                 lambda: invoices.invoice_post(actor=actor, invoice_id=invoice.pk)):  # fmt: skip
        with pytest.raises(Conflict):
            call()
    assert JournalEntry.objects.get(pk=invoice.journal_entry_id).is_posted


def test_drafts_have_no_number_and_are_deleted_freely(books: Books) -> None:
    draft = books.invoice()
    assert draft.number == "" and draft.total_amount == Decimal("120.00")
    invoices.invoice_delete(actor=books.actor(), invoice_id=draft.pk)
    assert not Invoice.objects.filter(pk=draft.pk).exists()


def test_mandatory_mentions_are_checked_at_posting(books: Books) -> None:
    books.customer.siren = ""
    books.customer.save()
    books.customer.addresses.all().delete()
    draft = books.invoice()
    with pytest.raises(ValidationFailed) as caught:
        invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk)
    messages = " ".join(caught.value.fields["organization_id"])
    assert "SIREN" in messages and "billing address" in messages
    assert not IssuedNumber.objects.filter(object_type="accounting.invoice").exists()
    # An intra-EU customer needs its VAT number.
    books.eu_customer.vat_number = ""
    books.eu_customer.save()
    draft = books.invoice(organization=books.eu_customer)
    with pytest.raises(ValidationFailed) as caught:
        invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk)
    assert "VAT number" in " ".join(caught.value.fields["organization_id"])


def test_locked_period_and_back_dating_are_refused(books: Books) -> None:
    actor = books.actor()
    books.posted(issue_date=today())
    earlier = books.invoice(issue_date=today() - dt.timedelta(days=1))
    with pytest.raises(ValidationFailed) as caught:
        invoices.invoice_post(actor=actor, invoice_id=earlier.pk)
    assert "issue_date" in caught.value.fields
    AccountingSettings.objects.filter(company_id=books.company_id).update(lock_date=today() - dt.timedelta(days=1))
    with pytest.raises(ValidationFailed) as caught:
        invoices.invoice_post(actor=actor, invoice_id=earlier.pk)
    assert "locked" in " ".join(caught.value.fields["issue_date"])
    # The refused postings returned their numbers: the next one follows without a gap.
    assert books.posted().number == f"FA-{today().year}-00002"


def test_only_finance_writes_invoices(books: Books) -> None:
    for role in ("sales", "management", "marketing"):
        with pytest.raises(PermissionDenied):
            books.invoice(actor=books.actor(role))


# --- Deferred Factur-X rendering ------------------------------------------------------


def test_deferred_pdf_rendering_is_idempotent(books: Books) -> None:
    invoice = books.posted(render_pdf=False)
    assert not InvoiceFile.objects.filter(invoice=invoice).exists()
    assert invoices.invoice_pdf_render(invoice.pk) is True
    assert invoices.invoice_pdf_render(invoice.pk) is False
    assert InvoiceFile.objects.filter(invoice=invoice).count() == 1


# --- Vendor bills from received e-invoices --------------------------------------------


def _supplier_invoice(books: Books, *, number: str = "F2026-118", siren: str = "552100554",
                      grand_total_tamper: bool = False) -> bytes:  # fmt: skip
    company = books.personas.company
    document = en.InvoiceDocument(
        number=number, issue_date=today(),
        seller=en.Party(name="Papeterie Leroy SA", address=en.PostalAddress("FR", "5 rue Haute", city="Nantes",
                        postcode="44000"), siren=siren, vat_number=f"FR19{siren}"),
        buyer=en.Party(name=company.legal_name, address=en.PostalAddress("FR", company.address_line1,
                       city=company.city, postcode=company.postal_code), siren=company.siren,
                       vat_number=company.vat_number),
        lines=(en.InvoiceLine("1", "Ramettes A4", Decimal("12"), Decimal("4.15"), en.VatCategory.STANDARD,
                              Decimal("20")),
               en.InvoiceLine("2", "Livres", Decimal("3"), Decimal("18.00"), en.VatCategory.STANDARD,
                              Decimal("5.5"))),
        operation_category=en.OperationCategory.GOODS, due_date=today() + dt.timedelta(days=30),
    )  # fmt: skip
    xml = build_cii(document)
    if grand_total_tamper:
        xml = xml.replace(b"<ram:GrandTotalAmount>", b"<ram:GrandTotalAmount>1")
    return xml


def test_vendor_bill_from_a_cii_file(books: Books) -> None:
    bill = invoices.vendor_bill_import(actor=books.actor(), data=_supplier_invoice(books), filename="f.xml")
    assert bill.kind == InvoiceKind.VENDOR_BILL and bill.state == InvoiceState.DRAFT
    assert bill.organization_id == books.supplier.pk
    assert bill.supplier_reference == "F2026-118"
    assert bill.total_amount == Decimal("116.73")  # 49.80 + 9.96 + 54.00 + 2.97
    assert bill.import_warnings == []
    assert [line.vat_category for line in bill.lines.order_by("sequence")] == ["standard", "reduced"]
    assert InvoiceFile.objects.get(invoice=bill).role == InvoiceFileRole.RECEIVED
    posted = invoices.invoice_post(actor=books.actor(), invoice_id=bill.pk)
    assert by_account(posted) == {"401": Decimal("-116.73"), "607": Decimal("103.80"), "44566": Decimal("12.93")}
    with pytest.raises(Conflict):  # the same supplier invoice twice
        invoices.vendor_bill_import(actor=books.actor(), data=_supplier_invoice(books))


def test_vendor_bill_flags_a_total_that_differs(books: Books) -> None:
    bill = invoices.vendor_bill_import(actor=books.actor(), data=_supplier_invoice(books, grand_total_tamper=True))
    codes = {w["code"] for w in bill.import_warnings}
    assert "total_differs" in codes


def test_unknown_supplier_is_refused_with_a_clear_message(books: Books) -> None:
    with pytest.raises(ValidationFailed) as caught:
        invoices.vendor_bill_import(actor=books.actor(), data=_supplier_invoice(books, siren="130025265"))
    assert "130025265" in caught.value.fields["organization_id"][0]
    # Choosing the organization explicitly records it.
    bill = invoices.vendor_bill_import(actor=books.actor(), data=_supplier_invoice(books, siren="130025265"),
                                       organization_id=books.supplier.pk)  # fmt: skip
    assert bill.organization_id == books.supplier.pk
    assert Invoice.objects.count() == 1


HOSTILE = {
    "not_xml": b"hello, this is not an invoice",
    "xxe": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    "bomb": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>',
    "wrong_root": b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl"/>',
    "pdf_without_xml": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_are_refused_and_create_nothing(books: Books, name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        invoices.vendor_bill_import(actor=books.actor(), data=HOSTILE[name])
    assert caught.value.fields["file"][0]
    assert Invoice.objects.count() == 0 and InvoiceFile.objects.count() == 0


# --- Sending --------------------------------------------------------------------------

from comptoir.crm.tests.smtp import Mailbox, smtp_server  # noqa: E402, F401  (the SMTP fixture)


def test_send_emails_the_factur_x_and_records_it(books: Books, smtp: Mailbox) -> None:
    invoice = books.posted(render_pdf=False)
    with pytest.raises(ValidationFailed):
        invoices.invoice_send(actor=books.actor(), invoice_id=invoice.pk, to="not-an-address")
    sent = invoices.invoice_send(actor=books.actor(), invoice_id=invoice.pk, to="compta@boulangerie.test",
                                 message="Bonjour, voici la facture.")  # fmt: skip
    assert sent.sent_to == "compta@boulangerie.test" and sent.sent_at is not None
    message = smtp.messages[-1]
    assert invoice.number in str(message["Subject"])
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    payload = attachments[0].get_content()
    assert payload.startswith(b"%PDF-")
    assert parse_einvoice(payload).document.number == invoice.number
    with pytest.raises(Conflict):
        invoices.invoice_send(actor=books.actor(), invoice_id=books.invoice().pk, to="a@b.test")

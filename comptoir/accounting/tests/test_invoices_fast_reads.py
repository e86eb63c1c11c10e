"""Invoice creation and posting read their rows with statements written once (joins, ``Select``):
what each read picks is what the ORM reads it replaced picked, and the rows written are the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from comptoir.accounting import invoices
from comptoir.accounting.models import (
    Invoice,
    InvoiceInstallment,
    InvoiceKind,
    InvoiceLine,
    InvoiceTax,
    InvoicingSettings,
    Journal,
    JournalEntry,
    JournalKind,
    PartnerAccount,
    PartnerKind,
    PartnerProfile,
    PaymentTerm,
    PaymentTermLine,
)
from comptoir.accounting.tests.invoices_kit import Books, line, make_books, organization
from comptoir.catalog.models import Product, Uom
from comptoir.catalog.text import search_text as product_text
from comptoir.contacts.models import Address, Organization
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.org.testing import Personas, enable_modules, make_company


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _row(invoice_id: int) -> dict[str, object]:
    fresh = Invoice.objects.get(pk=invoice_id)
    return {field.attname: getattr(fresh, field.attname) for field in Invoice._meta.concrete_fields}


# --- Creation ---------------------------------------------------------------------------


def test_create_hands_back_the_nets_of_the_lines_it_wrote(books: Books) -> None:
    invoice = books.invoice([line("Pain", "3", "1.1700", vat_category="reduced"), line("Four", "1.5", "999.99"),
                             line("Farine", "0.333", "10.01", discount_percent="7.5")])  # fmt: skip

    stored = dict(InvoiceLine.objects.filter(invoice=invoice).values_list("sequence", "net_amount"))
    assert invoice.line_nets == stored  # type: ignore[attr-defined]
    assert stored == {1: Decimal("3.51"), 2: Decimal("1499.99"), 3: Decimal("3.08")}


def test_create_writes_what_the_orm_reads_back(books: Books) -> None:
    """Lines, taxes and installments inserted in one statement each, stamped as bulk_create stamps them."""
    term = books.term("30 % à la commande, 70 % à 30 jours")
    invoice = books.invoice([line("Pain", "2", "10.00", vat_category="reduced"), line("Four", "1", "500.00")],
                            payment_term_id=term.pk)  # fmt: skip

    lines = list(InvoiceLine.objects.filter(invoice=invoice).order_by("sequence").values_list(
        "sequence", "name", "quantity", "unit_price", "vat_code", "vat_rate", "net_amount"))  # fmt: skip
    assert lines == [
        (1, "Pain", Decimal("2.000"), Decimal("10.0000"), "S", Decimal("5.50"), Decimal("20.00")),
        (2, "Four", Decimal("1.000"), Decimal("500.0000"), "S", Decimal("20.00"), Decimal("500.00")),
    ]
    taxes = sorted(InvoiceTax.objects.filter(invoice=invoice).values_list("rate", "base", "amount"))
    assert taxes == [(Decimal("5.50"), Decimal("20.00"), Decimal("1.10")),
                     (Decimal("20.00"), Decimal("500.00"), Decimal("100.00"))]  # fmt: skip
    installments = InvoiceInstallment.objects.filter(invoice=invoice).order_by("sequence")
    amounts = list(installments.values_list("amount", flat=True))
    assert amounts == [Decimal("186.33"), Decimal("434.77")] and sum(amounts) == invoice.total_amount
    assert invoice.payment_terms_text == term.note
    for model in (InvoiceLine, InvoiceTax, InvoiceInstallment):
        assert not model.objects.filter(invoice=invoice, created_at__isnull=True).exists()
        assert not model.objects.filter(invoice=invoice, updated_at__isnull=True).exists()


def test_first_invoice_of_a_partner_creates_its_profile_and_the_company_settings(books: Books) -> None:
    newcomer = organization(books.company_id, "Nouveau Client SA", siren="542051180", vat_number="FR14542051180")
    InvoicingSettings.objects.filter(company_id=books.company_id).delete()
    assert not PartnerProfile.objects.filter(organization=newcomer).exists()

    invoice = books.invoice(organization=newcomer)

    profile = PartnerProfile.objects.get(company_id=books.company_id, organization=newcomer)
    settings = InvoicingSettings.objects.get(company_id=books.company_id)
    assert (invoice.fiscal_position, invoice.language) == (profile.fiscal_position, profile.language)
    assert invoice.vat_on_debits == settings.vat_on_debits
    assert invoice.payment_term_id == settings.default_payment_term_id
    assert invoice.partner_name == "Nouveau Client SA"
    assert invoice.billing_address == {"line1": "1 place du Marché", "line2": "", "postal_code": "75001",
                                       "city": "Paris", "country": "FR"}  # fmt: skip


def test_partner_terms_come_from_its_profile_and_the_company_default(books: Books) -> None:
    admin = books.personas.actor("admin")
    thirty, sixty = books.term("30 jours"), books.term("60 jours")
    InvoicingSettings.objects.filter(company_id=books.company_id).update(default_payment_term=thirty,
                                                                         vat_on_debits=True)  # fmt: skip
    assert books.invoice().payment_term_id == thirty.pk  # the customer has no term of its own

    invoices.partner_profile_update(actor=admin, organization_id=books.customer.pk, payment_term_id=sixty.pk,
                                    language="en")  # fmt: skip
    invoices.partner_profile_update(actor=admin, organization_id=books.supplier.pk,
                                    supplier_payment_term_id=thirty.pk, supplier_vat_on_debits=True)  # fmt: skip
    sale = books.invoice()
    bill = books.invoice(kind=InvoiceKind.VENDOR_BILL, supplier_reference="F-1")

    assert (sale.payment_term_id, sale.language, sale.vat_on_debits) == (sixty.pk, "en", True)
    assert (bill.payment_term_id, bill.vat_on_debits) == (thirty.pk, True)


def test_a_merged_organization_or_another_company_s_is_unknown(books: Books) -> None:
    merged = organization(books.company_id, "Doublon SARL")
    Organization.objects.filter(pk=merged.pk).update(merged_into=books.customer)
    other_company = make_company(name="Autre Société", siren="404833048")
    foreign = organization(other_company.pk, "Client d'ailleurs")

    for unknown in (merged, foreign):
        with pytest.raises(ValidationFailed) as refused:
            books.invoice(organization=unknown)
        assert refused.value.fields == {"organization_id": ["Unknown organization."]}
    assert not Invoice.objects.filter(organization__in=[merged, foreign]).exists()


def test_products_give_the_price_and_unit_of_the_invoice_side(books: Books) -> None:
    enable_modules(books.personas, "catalog")
    units = Uom.objects.filter(company_id=books.company_id).exclude(unece_code="").order_by("id")
    sold_by, bought_by = units[0], units.exclude(unece_code=units[0].unece_code)[0]
    product = Product.objects.create(
        company_id=books.company_id, reference="SAC-25", name_fr="Sac de farine", name_en="Flour bag",
        description_fr="25 kg", kind="goods", sale_uom=sold_by, purchase_uom=bought_by, sale_price=Decimal("42.50"),
        purchase_price=Decimal("30.10"), vat_category="reduced", search_text=product_text("SAC-25", "Sac de farine"),
    )  # fmt: skip
    archived = Product.objects.create(
        company_id=books.company_id, reference="OLD", name_fr="Ancien", sale_uom=sold_by, purchase_uom=sold_by,
        is_archived=True, search_text=product_text("OLD", "Ancien"),
    )  # fmt: skip

    sale = books.invoice([{"product_id": product.pk, "quantity": "2"}])
    bill = books.invoice([{"product_id": product.pk, "quantity": "2"}], kind=InvoiceKind.VENDOR_BILL,
                         supplier_reference="F-2")  # fmt: skip

    fields = ("name", "description", "unit_price", "uom_code", "vat_category", "operation")
    assert InvoiceLine.objects.filter(invoice=sale).values_list(*fields).get() == (
        "Sac de farine", "25 kg", Decimal("42.5000"), sold_by.unece_code, "reduced", "goods")  # fmt: skip
    assert InvoiceLine.objects.filter(invoice=bill).values_list(*fields).get() == (
        "Sac de farine", "25 kg", Decimal("30.1000"), bought_by.unece_code, "reduced", "goods")  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:
        books.invoice([{"product_id": archived.pk}])
    assert refused.value.fields["lines.0.product_id"] == ["Unknown or archived product."]


def test_create_prints_the_default_address_of_each_kind_else_the_oldest(books: Books) -> None:
    def add(kind: str, line1: str, is_default: bool = False) -> None:
        Address.objects.create(organization=books.customer, kind=kind, line1=line1, postal_code="69001", city="Lyon",
                               country="FR", is_default=is_default)  # fmt: skip

    add(Address.Kind.DELIVERY, "Entrepôt ancien")
    add(Address.Kind.DELIVERY, "Entrepôt récent")
    add(Address.Kind.SITE, "Usine", is_default=True)
    oldest = books.invoice()
    Address.objects.filter(organization=books.customer, kind=Address.Kind.BILLING).update(is_default=False)
    add(Address.Kind.BILLING, "Siège nouveau")
    add(Address.Kind.DELIVERY, "Quai principal", is_default=True)
    chosen = books.invoice()
    given = books.invoice(delivery_address={"line1": "Chantier", "city": "Vienne"})

    assert (oldest.billing_address["line1"], oldest.delivery_address["line1"]) == ("3 rue du Pain", "Entrepôt ancien")
    assert (chosen.billing_address["line1"], chosen.delivery_address["line1"]) == ("3 rue du Pain", "Quai principal")
    assert given.delivery_address["line1"] == "Chantier"
    Address.objects.filter(organization=books.customer, kind=Address.Kind.BILLING, line1="Siège nouveau").update(
        is_default=True)  # fmt: skip
    assert books.invoice().billing_address["line1"] == "Siège nouveau"


def test_an_invoice_prints_only_billing_and_delivery_addresses(books: Books) -> None:
    Address.objects.create(organization=books.customer, kind=Address.Kind.DELIVERY, line1="Quai 4", city="Lyon",
                           country="FR")  # fmt: skip
    found = invoices._addresses(books.customer.pk, (Address.Kind.DELIVERY,))
    assert found == {"delivery": {"line1": "Quai 4", "line2": "", "postal_code": "", "city": "Lyon", "country": "FR"}}
    with pytest.raises(ValueError, match="billing and delivery"):
        invoices._addresses(books.customer.pk, (Address.Kind.SITE,))


def test_create_reads_the_partner_in_one_statement(books: Books) -> None:
    books.invoice()  # the customer's first invoice creates its profile
    with CaptureQueriesContext(connection) as captured:
        books.invoice([line("Pain", "2", "10.00"), line("Four", "1", "500.00")])
    tables = ("contacts_organization", "accounting_partnerprofile", "accounting_invoicingsettings")
    selects = [q["sql"] for q in captured if q["sql"].lstrip().upper().startswith("SELECT")]
    reads = [sql for sql in selects if any(table in sql for table in tables)]
    # The organization with its profile and the company's settings: one statement.
    assert len(reads) == 1 and all(table in reads[0] for table in tables), reads


# --- Posting ----------------------------------------------------------------------------


def test_posting_books_on_the_first_active_journal_by_code_and_prints_the_default_billing_address(
    books: Books,
) -> None:
    Journal.objects.create(company_id=books.company_id, code="AA", name="Ventes fermées", kind=JournalKind.SALE,
                           is_active=False)  # fmt: skip
    first = Journal.objects.create(company_id=books.company_id, code="VA", name="Ventes A", kind=JournalKind.SALE)
    Address.objects.filter(organization=books.customer).update(is_default=False)
    Address.objects.create(organization=books.customer, kind=Address.Kind.BILLING, line1="9 rue Neuve",
                           postal_code="69002", city="Lyon", country="FR", is_default=True)  # fmt: skip
    draft = books.invoice()

    posted = invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk)

    assert JournalEntry.objects.get(pk=posted.journal_entry_id).journal_id == first.pk
    assert posted.billing_address["line1"] == "9 rue Neuve"
    assert _row(posted.pk)["billing_address"] == posted.billing_address


def test_posting_without_an_active_journal_is_a_conflict_after_the_invoice_s_own_errors(books: Books) -> None:
    Journal.objects.filter(company_id=books.company_id, kind=JournalKind.SALE).update(is_active=False)
    good, incomplete = books.invoice(), books.invoice()
    Address.objects.filter(organization=books.customer).delete()
    InvoiceLine.objects.filter(invoice=good).update(name="Conseil")  # nothing changes: the same computation

    with pytest.raises(ValidationFailed) as refused:  # no billing address: the mentions are checked first
        invoices.invoice_post(actor=books.actor(), invoice_id=incomplete.pk)
    assert "organization_id" in refused.value.fields
    Address.objects.create(organization=books.customer, kind=Address.Kind.BILLING, line1="3 rue du Pain",
                           postal_code="69003", city="Lyon", country="FR", is_default=True)  # fmt: skip
    with pytest.raises(Conflict) as conflict:
        invoices.invoice_post(actor=books.actor(), invoice_id=good.pk)
    assert conflict.value.code == "journal_missing"
    assert Invoice.objects.get(pk=good.pk).number == ""


def test_first_posting_for_a_partner_opens_its_account(books: Books) -> None:
    newcomer = organization(books.company_id, "Nouveau Client SA", siren="542051180", vat_number="FR14542051180")
    posted = invoices.invoice_post(actor=books.actor(), invoice_id=books.invoice(organization=newcomer).pk)

    account = PartnerAccount.objects.get(organization=newcomer, kind=PartnerKind.CUSTOMER)
    assert posted.partner_account_id == account.pk
    # The next posting finds it in the posting read.
    again = invoices.invoice_post(actor=books.actor(), invoice_id=books.invoice(organization=newcomer).pk)
    assert again.partner_account_id == account.pk
    assert PartnerAccount.objects.filter(organization=newcomer).count() == 1


def test_posting_without_settings_creates_them(books: Books) -> None:
    draft = books.invoice()
    InvoicingSettings.objects.filter(company_id=books.company_id).delete()

    posted = invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=True)

    assert posted.number and InvoicingSettings.objects.filter(company_id=books.company_id).exists()


def test_the_posted_invoice_returned_is_the_row_stored(books: Books) -> None:
    draft = books.invoice([line("Pain", "3", "1.1700", vat_category="reduced"), line("Four", "1.5", "999.99")],
                          payment_term_id=books.term("30 jours").pk)  # fmt: skip
    # The partner changed its name since the draft: posting prints the new one.
    Organization.objects.filter(pk=books.customer.pk).update(legal_name="Boulangerie Martin & Fils")

    posted = invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=True)

    assert {f.attname: getattr(posted, f.attname) for f in Invoice._meta.concrete_fields} == _row(posted.pk)
    assert posted.partner_name == "Boulangerie Martin & Fils" and posted.updated_at > draft.updated_at
    assert posted.company.siren == books.personas.company.siren


def test_posting_reads_its_context_in_one_statement(books: Books) -> None:
    draft = books.invoice()
    with CaptureQueriesContext(connection) as captured:
        invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk)
    sqls = [q["sql"] for q in captured]
    # Settings, partner account, journal and billing address come with the company and partner.
    tables = ("accounting_invoicingsettings", "accounting_partneraccount", '"accounting_journal"',
              "FROM accounting_journal ", "contacts_address")  # fmt: skip
    selects = [sql for sql in sqls if sql.lstrip().upper().startswith("SELECT")]
    alone = [sql for sql in selects if "contacts_organization" not in sql and any(table in sql for table in tables)]
    assert alone == []
    # The draft's lines, taxes and installments in one read, found unchanged: not rewritten.
    stored = [sql for sql in selects if "accounting_invoicetax" in sql]
    assert len(stored) == 1 and "accounting_invoiceline" in stored[0] and "accounting_invoiceinstallment" in stored[0]
    assert not any(word in sql.upper() for sql in sqls for word in ("DELETE", 'INSERT INTO "ACCOUNTING_INVOICELINE'))


def test_the_payment_state_follows_the_residual(books: Books) -> None:
    posted = books.posted([line("Four", "1", "100.00")])  # 120.00 with VAT
    stamped = _row(posted.pk)["updated_at"]

    invoices.set_residual(posted, Decimal("20.00"))
    assert (posted.state, _row(posted.pk)["state"], _row(posted.pk)["residual_amount"]) == (
        "partially_paid", "partially_paid", Decimal("20.00"))  # fmt: skip
    invoices.set_residual(posted, Decimal(0))
    assert (_row(posted.pk)["state"], _row(posted.pk)["residual_amount"]) == ("paid", Decimal(0))
    invoices.set_residual(posted, Decimal("120.00"))
    assert _row(posted.pk)["state"] == "posted" and _row(posted.pk)["updated_at"] > stamped  # type: ignore[operator]
    with pytest.raises(Conflict):
        invoices.set_residual(posted, Decimal("120.01"))


def test_a_term_s_lines_are_read_in_their_order_and_its_name_printed_without_a_note(books: Books) -> None:
    term = PaymentTerm.objects.create(company_id=books.company_id, name="Moitié-moitié")
    PaymentTermLine.objects.create(term=term, sequence=2, kind="balance", days=60)
    PaymentTermLine.objects.create(term=term, sequence=1, kind="percent", percent=Decimal("50.5"), days=0)
    bare = PaymentTerm.objects.create(company_id=books.company_id, name="Sans échéance", note="À réception")

    split = books.invoice([line("Four", "1", "100.00")], payment_term_id=term.pk)  # 120.00 with VAT
    single = books.invoice([line("Four", "1", "100.00")], payment_term_id=bare.pk)

    assert split.payment_terms_text == "Moitié-moitié"
    schedule = list(InvoiceInstallment.objects.filter(invoice=split).order_by("sequence")
                    .values_list("due_date", "amount"))  # fmt: skip
    assert [amount for _due, amount in schedule] == [Decimal("60.60"), Decimal("59.40")]
    assert schedule[1][0] - schedule[0][0] == dt.timedelta(days=60) and split.due_date == schedule[1][0]
    assert single.payment_terms_text == "À réception"
    assert list(InvoiceInstallment.objects.filter(invoice=single).values_list("amount", flat=True)) == [
        Decimal("120.00")]  # fmt: skip


def test_the_stored_computation_reads_what_the_orm_reads(books: Books) -> None:
    invoice = books.invoice([line("Pain", "3", "1.1700", vat_category="reduced"), line("Four", "1.5", "999.99")],
                            payment_term_id=books.term("30 % à la commande, 70 % à 30 jours").pk)  # fmt: skip

    lines, stored = invoices._stored_computation(invoice)

    assert stored["lines"] == list(InvoiceLine.objects.filter(invoice=invoice).order_by("sequence", "id")
                                   .values(*invoices._COMPARED_LINE_FIELDS))  # fmt: skip
    assert stored["taxes"] == list(InvoiceTax.objects.filter(invoice=invoice).order_by("id")
                                   .values(*invoices._COMPARED_TAX_FIELDS))  # fmt: skip
    installments = InvoiceInstallment.objects.filter(invoice=invoice).order_by("sequence", "id")
    assert stored["installments"] == list(installments.values("sequence", "due_date", "amount"))
    assert isinstance(stored["installments"][0]["due_date"], dt.date) and len(stored["installments"]) == 2
    assert lines == invoices._current_lines(invoice)

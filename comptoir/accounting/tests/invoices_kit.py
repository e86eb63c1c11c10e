"""Helpers of the invoice tests: customers and suppliers ready to invoice, and invoice data."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from comptoir.accounting import invoices
from comptoir.accounting.models import Invoice, InvoiceKind, JournalLine, PaymentTerm
from comptoir.accounting.tests.conftest import Ledger, make_ledger, open_previous_year
from comptoir.contacts.models import Address, Organization
from comptoir.kernel.context import Actor
from comptoir.org.testing import Personas


@dataclass
class Books:
    """A ledger plus organizations with what an invoice must print about them."""

    ledger: Ledger
    customer: Organization  # French business: SIREN, VAT number, billing address
    eu_customer: Organization  # German business with a VAT number
    export_customer: Organization  # outside the EU
    supplier: Organization  # French supplier
    eu_supplier: Organization

    @property
    def personas(self) -> Personas:
        return self.ledger.personas

    @property
    def company_id(self) -> int:
        return self.ledger.company_id

    def actor(self, role: str = "finance", channel: str = "ui") -> Actor:
        return self.ledger.actor(role, channel)

    def term(self, name: str) -> PaymentTerm:
        return PaymentTerm.objects.get(company_id=self.company_id, name=name)

    def invoice(
        self, lines: list[dict[str, Any]] | None = None, *, organization: Organization | None = None,
        kind: str = InvoiceKind.CUSTOMER_INVOICE, actor: Actor | None = None, **data: Any,
    ) -> Invoice:  # fmt: skip
        organization = organization or (self.customer if kind.startswith("customer") else self.supplier)
        return invoices.invoice_create(
            actor=actor or self.actor(), kind=kind, organization_id=organization.pk,
            lines=lines if lines is not None else [line()], **data,
        )  # fmt: skip

    def posted(self, lines: list[dict[str, Any]] | None = None, *, render_pdf: bool = False, **data: Any) -> Invoice:
        draft = self.invoice(lines, **data)
        return invoices.invoice_post(actor=self.actor(), invoice_id=draft.pk, render_pdf=render_pdf)


def line(name: str = "Conseil", quantity: str = "1", unit_price: str = "100.00", **extra: Any) -> dict[str, Any]:
    return {"name": name, "quantity": quantity, "unit_price": unit_price} | extra


def organization(company_id: int, name: str, *, siren: str = "", vat_number: str = "", country: str = "FR",
                 city: str = "Paris", owner: Any = None) -> Organization:  # fmt: skip
    org = Organization.objects.create(company_id=company_id, legal_name=name, siren=siren, vat_number=vat_number,
                                      owner=owner)  # fmt: skip
    Address.objects.create(organization=org, kind=Address.Kind.BILLING, line1="1 place du Marché",
                           postal_code="75001" if country == "FR" else "10115", city=city, country=country,
                           is_default=True)  # fmt: skip
    return org


def make_books(personas: Personas) -> Books:
    """Also opens last year's fiscal year: invoices are dated up to a few months back."""
    ledger = make_ledger(personas)
    open_previous_year(ledger)
    company_id = ledger.company_id
    customer = Organization.objects.get(pk=ledger.customer.organization_id)
    customer.siren, customer.vat_number = "732829320", "FR40732829320"
    customer.save()
    Address.objects.create(organization=customer, kind=Address.Kind.BILLING, line1="3 rue du Pain",
                           postal_code="69003", city="Lyon", country="FR", is_default=True)  # fmt: skip
    supplier = Organization.objects.get(pk=ledger.supplier.organization_id)
    supplier.siren, supplier.vat_number = "552100554", "FR19552100554"
    supplier.save()
    eu_customer = organization(company_id, "Bäckerei Müller GmbH", vat_number="DE811569869", country="DE",
                               city="Berlin")  # fmt: skip
    export_customer = organization(company_id, "Maple Bakery Inc.", country="CA", city="Montréal")
    eu_supplier = organization(company_id, "Software Oy", vat_number="FI20774740", country="FI", city="Helsinki")
    admin = personas.actor("admin")
    for org, position in ((eu_customer, "eu_business"), (export_customer, "non_eu"), (eu_supplier, "eu_business")):
        invoices.partner_profile_update(actor=admin, organization_id=org.pk, fiscal_position=position)
    return Books(ledger, customer, eu_customer, export_customer, supplier, eu_supplier)


def entry_lines(invoice: Invoice) -> list[tuple[str, Decimal, Decimal]]:
    """(account code, debit, credit) of the invoice's journal entry, in order."""
    return [
        (code, debit, credit)
        for code, debit, credit in JournalLine.objects.filter(entry_id=invoice.journal_entry_id)
        .order_by("sequence")
        .values_list("account__code", "debit", "credit")
    ]


def by_account(invoice: Invoice) -> dict[str, Decimal]:
    """Debit minus credit per account code of the invoice's entry."""
    result: dict[str, Decimal] = {}
    for code, debit, credit in entry_lines(invoice):
        result[code] = result.get(code, Decimal(0)) + debit - credit
    return result

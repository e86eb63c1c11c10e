"""Sample documents covering the French cases: three rates, credit note, reverse charge,
intra-EU goods, export, exempt, discounts and a document allowance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from comptoir.accounting.einvoice.model import (
    AllowanceCharge,
    InvoiceDocument,
    InvoiceLine,
    InvoiceTypeCode,
    OperationCategory,
    Party,
    PaymentMeans,
    Period,
    PostalAddress,
    PrecedingInvoice,
    VatCategory,
)

S = VatCategory.STANDARD

SELLER = Party(
    name="Atelier Dupont SAS",
    address=PostalAddress("FR", line1="12 rue des Forges", postcode="69003", city="Lyon"),
    siren="732829320",
    siret="73282932000074",
    vat_number="FR44732829320",
    email="factures@atelier-dupont.example",
    phone="+33 4 72 00 00 00",
    legal_form="SAS",
    share_capital=D("10000.00"),
    rcs_city="Lyon",
)

FRENCH_BUYER = Party(
    name="Boulangerie Martin SARL",
    address=PostalAddress("FR", line1="3 place du Marché", postcode="38000", city="Grenoble"),
    siren="552100554",
    vat_number="FR40552100554",
    email="compta@boulangerie-martin.example",
)

GERMAN_BUYER = Party(
    name="Müller Maschinenbau GmbH",
    address=PostalAddress("DE", line1="Hauptstraße 5", postcode="80331", city="München"),
    vat_number="DE123456789",
    email="rechnung@mueller.example",
)

SWISS_BUYER = Party(
    name="Horlogerie Favre SA",
    address=PostalAddress("CH", line1="Rue du Rhône 8", postcode="1204", city="Genève"),
    email="factures@favre.example",
)

BANK = PaymentMeans(iban="FR7630006000011234567890189", bic="AGRIFRPPXXX", account_name="Atelier Dupont SAS")


def standard_invoice() -> InvoiceDocument:
    """Three French rates, a percent discount, an amount discount and a document allowance."""
    return InvoiceDocument(
        number="FA-2026-00042",
        issue_date=dt.date(2026, 9, 15),
        seller=SELLER,
        buyer=FRENCH_BUYER,
        operation_category=OperationCategory.MIXED,
        delivery_date=dt.date(2026, 9, 12),
        due_date=dt.date(2026, 10, 15),
        payment_terms="30 jours date de facture",
        purchase_order="BC-7781",
        buyer_reference="SERVICE-ACHATS",
        delivery_address=PostalAddress("FR", line1="Zone artisanale, lot 4", postcode="38100", city="Grenoble"),
        delivery_party_name="Boulangerie Martin — fournil",
        vat_on_debits=True,
        late_payment_rate=D("12.15"),
        payment_means=(BANK,),
        lines=(
            InvoiceLine(
                "1",
                "Pétrin inox 40 L",
                quantity=D("3"),
                net_unit_price=D("333.33"),
                vat_category=S,
                vat_rate=D("20"),
                description="Livré et installé",
                discount_percent=D("5"),
                discount_reason="Remise fidélité",
            ),
            InvoiceLine(
                "2",
                "Installation",
                quantity=D("2.5"),
                unit_code="HUR",
                net_unit_price=D("65.00"),
                vat_category=S,
                vat_rate=D("10"),
            ),
            InvoiceLine(
                "3",
                "Farine bio T65",
                quantity=D("12.345"),
                unit_code="KGM",
                net_unit_price=D("1.2345"),
                vat_category=S,
                vat_rate=D("5.5"),
                discount_amount=D("0.50"),
            ),
            InvoiceLine(
                "4",
                "Tablier",
                quantity=D("7"),
                net_unit_price=D("9.99"),
                vat_category=S,
                vat_rate=D("20"),
            ),
        ),
        allowances_charges=(
            AllowanceCharge(D("10.00"), S, D("20"), reason="Remise commerciale", reason_code="95"),
            AllowanceCharge(D("15.00"), S, D("20"), reason="Frais de port", is_charge=True, reason_code="FC"),
        ),
    )


def credit_note() -> InvoiceDocument:
    return InvoiceDocument(
        number="AV-2026-00003",
        type_code=InvoiceTypeCode.CREDIT_NOTE,
        issue_date=dt.date(2026, 9, 20),
        seller=SELLER,
        buyer=FRENCH_BUYER,
        operation_category=OperationCategory.GOODS,
        preceding_invoices=(PrecedingInvoice("FA-2026-00042", dt.date(2026, 9, 15)),),
        due_date=dt.date(2026, 9, 20),
        payment_means=(BANK,),
        lines=(
            InvoiceLine(
                "1",
                "Tablier (retour)",
                quantity=D("2"),
                net_unit_price=D("9.99"),
                vat_category=S,
                vat_rate=D("20"),
            ),
        ),
    )


def reverse_charge_services() -> InvoiceDocument:
    """Intra-EU B2B services: no French VAT, "Autoliquidation", both VAT numbers."""
    return InvoiceDocument(
        number="FA-2026-00043",
        issue_date=dt.date(2026, 9, 16),
        seller=SELLER,
        buyer=GERMAN_BUYER,
        operation_category=OperationCategory.SERVICES,
        billing_period=Period(dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
        due_date=dt.date(2026, 10, 31),
        payment_means=(BANK,),
        lines=(
            InvoiceLine(
                "1",
                "Maintenance mensuelle",
                quantity=D("1"),
                net_unit_price=D("1200.00"),
                vat_category=VatCategory.REVERSE_CHARGE,
                vat_rate=D("0"),
            ),
        ),
    )


def intra_eu_goods() -> InvoiceDocument:
    """Intra-EU supply of goods, exempt under art. 262 ter I (category K)."""
    return InvoiceDocument(
        number="FA-2026-00044",
        issue_date=dt.date(2026, 9, 17),
        seller=SELLER,
        buyer=GERMAN_BUYER,
        operation_category=OperationCategory.GOODS,
        delivery_date=dt.date(2026, 9, 17),
        delivery_address=GERMAN_BUYER.address,
        due_date=dt.date(2026, 10, 17),
        payment_means=(BANK,),
        lines=(
            InvoiceLine(
                "1",
                "Four à sole",
                quantity=D("1"),
                net_unit_price=D("8450.00"),
                vat_category=VatCategory.INTRA_EU,
                vat_rate=D("0"),
            ),
        ),
    )


def export_invoice() -> InvoiceDocument:
    """Export of goods outside the EU (category G, art. 262 I)."""
    return InvoiceDocument(
        number="FA-2026-00045",
        issue_date=dt.date(2026, 9, 18),
        seller=SELLER,
        buyer=SWISS_BUYER,
        operation_category=OperationCategory.GOODS,
        delivery_date=dt.date(2026, 9, 18),
        due_date=dt.date(2026, 10, 18),
        payment_means=(BANK,),
        lines=(
            InvoiceLine(
                "1",
                "Établi de bijoutier",
                quantity=D("2"),
                net_unit_price=D("1150.00"),
                vat_category=VatCategory.EXPORT,
                vat_rate=D("0"),
            ),
        ),
    )


def exempt_invoice() -> InvoiceDocument:
    """Exempt training (art. 261-4-4° a), with a VATEX code, next to a standard-rated line."""
    return InvoiceDocument(
        number="FA-2026-00046",
        issue_date=dt.date(2026, 9, 19),
        seller=SELLER,
        buyer=FRENCH_BUYER,
        operation_category=OperationCategory.SERVICES,
        delivery_date=dt.date(2026, 9, 19),
        due_date=dt.date(2026, 10, 19),
        payment_means=(BANK,),
        lines=(
            InvoiceLine(
                "1",
                "Formation professionnelle continue",
                quantity=D("7"),
                unit_code="HUR",
                net_unit_price=D("90.00"),
                vat_category=VatCategory.EXEMPT,
                vat_rate=D("0"),
                vat_exemption_reason="Exonération de TVA, art. 261-4-4° a du CGI",
                vat_exemption_code="VATEX-EU-132-1I",
            ),
            InvoiceLine(
                "2",
                "Support de cours",
                quantity=D("1"),
                net_unit_price=D("35.00"),
                vat_category=S,
                vat_rate=D("20"),
            ),
        ),
    )


ALL = {
    "standard": standard_invoice,
    "credit_note": credit_note,
    "reverse_charge": reverse_charge_services,
    "intra_eu_goods": intra_eu_goods,
    "export": export_invoice,
    "exempt": exempt_invoice,
}

"""UN/CEFACT Cross Industry Invoice (D16B, as profiled by Factur-X 1.0) writer.

``build_cii(document, profile=Profile.EN16931)`` returns UTF-8 bytes that pass the Factur-X
XSD and the EN 16931 schematron of the chosen profile. Element order is fixed by the XSD,
so each block below follows it literally. Totals come from ``totals.compute_totals``: the
XML never recomputes anything on its own.

How French mentions are carried:

* BT-23 (business process) holds the operation category: B1 goods, S1 services, M1 both;
* the three payment mentions are notes with subject PMD (penalties), PMT (40 € indemnity)
  and AAB (early-payment discount), each exactly once;
* the option for VAT on debits is BT-8 = 5 ("date of invoice") on standard-rated breakdowns;
* the seller's legal form, share capital and RCS are BT-33 (party description);
* the delivery address is the ship-to party (BG-13/BG-15);
* the delivery date BT-72 is always written (an empty delivery block is a schematron
  finding): the given date, else the end of the invoicing period, else the issue date —
  French law prints the operation date only when it differs from the issue date.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from django.utils import translation
from lxml import etree

from comptoir.accounting.einvoice import mentions
from comptoir.accounting.einvoice.model import (
    INVOICE_NUMBER_RE,
    AllowanceCharge,
    InvoiceDocument,
    InvoiceLine,
    Party,
    Period,
    PostalAddress,
    VatCategory,
)
from comptoir.accounting.einvoice.totals import LineAmounts, Totals, VatBreakdown, compute_totals

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NSMAP = {"rsm": RSM, "qdt": QDT, "ram": RAM, "udt": UDT}


class Profile(StrEnum):
    """Factur-X profiles we write, valued by their BT-24 guideline identifier."""

    MINIMUM = "urn:factur-x.eu:1p0:minimum"
    BASIC = "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic"
    EN16931 = "urn:cen.eu:en16931:2017"

    @property
    def level(self) -> str:
        """The ``factur-x`` library's name for the profile (file names, XMP)."""
        return {Profile.MINIMUM: "minimum", Profile.BASIC: "basic", Profile.EN16931: "en16931"}[self]


# Identifier schemes (ISO 6523 ICD): 0002 SIREN, 0009 SIRET.
SIREN_SCHEME = "0002"
SIRET_SCHEME = "0009"
# BT-8 in CII (UNTDID 2475): 5 = the invoice date, i.e. VAT on debits.
VAT_ON_DEBITS_CODE = "5"


def build_cii(document: InvoiceDocument, profile: Profile = Profile.EN16931, *, language: str = "fr") -> bytes:
    """The CII XML of ``document``. ``language`` is the language of the mention notes."""
    if not INVOICE_NUMBER_RE.match(document.number):
        raise ValueError(f"invoice number must be 1-35 letters, digits or + - _ / (BR-FR-01/02): {document.number!r}")
    totals = compute_totals(document)
    with translation.override(language):
        root = _Writer(document, totals, profile).root()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def amount(value: Decimal) -> str:
    """An amount with exactly two decimals and a dot (BR-DEC, BR-FR)."""
    return f"{value:.2f}"


def number(value: Decimal) -> str:
    """A quantity or unit price, without exponent or trailing zeros beyond what matters."""
    return f"{value.normalize():f}"


def price(value: Decimal) -> str:
    """A unit price: at least two decimals, more when the price has them."""
    places = max(2, -int(value.normalize().as_tuple().exponent))
    return f"{value:.{places}f}"


def rate(value: Decimal) -> str:
    return f"{value:.2f}"


def _date(parent: etree._Element, tag: str, day: dt.date, *, qualified: bool = False) -> None:
    holder = _el(parent, tag)
    _el(holder, "qdt:DateTimeString" if qualified else "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


class _Writer:
    def __init__(self, document: InvoiceDocument, totals: Totals, profile: Profile) -> None:
        self.doc = document
        self.totals = totals
        self.profile = profile
        self.full = profile == Profile.EN16931

    def root(self) -> etree._Element:
        root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
        context = _el(root, "rsm:ExchangedDocumentContext")
        if self.doc.business_process:
            _el(
                _el(context, "ram:BusinessProcessSpecifiedDocumentContextParameter"),
                "ram:ID",
                self.doc.business_process,
            )
        _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", self.profile.value)
        self.exchanged_document(_el(root, "rsm:ExchangedDocument"))
        transaction = _el(root, "rsm:SupplyChainTradeTransaction")
        if self.profile != Profile.MINIMUM:
            for line, line_amounts in zip(self.doc.lines, self.totals.lines, strict=True):
                self.line(_el(transaction, "ram:IncludedSupplyChainTradeLineItem"), line, line_amounts)
        self.agreement(_el(transaction, "ram:ApplicableHeaderTradeAgreement"))
        self.delivery(_el(transaction, "ram:ApplicableHeaderTradeDelivery"))
        self.settlement(_el(transaction, "ram:ApplicableHeaderTradeSettlement"))
        return root

    # ---- header ----------------------------------------------------------------------

    def exchanged_document(self, parent: etree._Element) -> None:
        _el(parent, "ram:ID", self.doc.number)
        _el(parent, "ram:TypeCode", self.doc.type_code.value)
        _date(parent, "ram:IssueDateTime", self.doc.issue_date)
        if self.profile == Profile.MINIMUM:
            return
        for note in mentions.notes(self.doc):
            element = _el(parent, "ram:IncludedNote")
            _el(element, "ram:Content", note.content)
            if note.subject:
                _el(element, "ram:SubjectCode", note.subject.value)

    def agreement(self, parent: etree._Element) -> None:
        if self.doc.buyer_reference:
            _el(parent, "ram:BuyerReference", self.doc.buyer_reference)
        self.party(_el(parent, "ram:SellerTradeParty"), self.doc.seller, seller=True)
        self.party(_el(parent, "ram:BuyerTradeParty"), self.doc.buyer, seller=False)
        if self.doc.purchase_order:
            _el(_el(parent, "ram:BuyerOrderReferencedDocument"), "ram:IssuerAssignedID", self.doc.purchase_order)
        if self.doc.contract_reference and self.profile != Profile.MINIMUM:
            _el(_el(parent, "ram:ContractReferencedDocument"), "ram:IssuerAssignedID", self.doc.contract_reference)

    def party(self, parent: etree._Element, party: Party, *, seller: bool) -> None:
        minimum = self.profile == Profile.MINIMUM
        if party.siret and not minimum:
            _el(parent, "ram:GlobalID", party.siret, schemeID=SIRET_SCHEME)
        _el(parent, "ram:Name", party.name)
        if seller and self.full:
            legal_information = mentions.seller_legal_line(party)
            if legal_information:
                _el(parent, "ram:Description", legal_information)
        if party.siren or (party.trading_name and not minimum):
            legal = _el(parent, "ram:SpecifiedLegalOrganization")
            if party.siren:
                _el(legal, "ram:ID", party.siren, schemeID=SIREN_SCHEME)
            if party.trading_name and not minimum:
                _el(legal, "ram:TradingBusinessName", party.trading_name)
        if self.full and (party.contact_name or party.phone or party.email):
            contact = _el(parent, "ram:DefinedTradeContact")
            if party.contact_name:
                _el(contact, "ram:PersonName", party.contact_name)
            if party.phone:
                _el(_el(contact, "ram:TelephoneUniversalCommunication"), "ram:CompleteNumber", party.phone)
            if party.email:
                _el(_el(contact, "ram:EmailURIUniversalCommunication"), "ram:URIID", party.email)
        if minimum:
            if seller:
                _el(_el(parent, "ram:PostalTradeAddress"), "ram:CountryID", party.address.country_code)
        else:
            self.address(_el(parent, "ram:PostalTradeAddress"), party.address)
            routing = party.routing_address
            if routing:
                _el(_el(parent, "ram:URIUniversalCommunication"), "ram:URIID", routing.value, schemeID=routing.scheme)
        if party.vat_number and (seller or not minimum):
            _el(_el(parent, "ram:SpecifiedTaxRegistration"), "ram:ID", party.vat_number, schemeID="VA")

    def address(self, parent: etree._Element, address: PostalAddress) -> None:
        if address.postcode:
            _el(parent, "ram:PostcodeCode", address.postcode)
        for tag, value in (
            ("ram:LineOne", address.line1),
            ("ram:LineTwo", address.line2),
            ("ram:LineThree", address.line3),
        ):
            if value:
                _el(parent, tag, value)
        if address.city:
            _el(parent, "ram:CityName", address.city)
        _el(parent, "ram:CountryID", address.country_code)
        if address.subdivision:
            _el(parent, "ram:CountrySubDivisionName", address.subdivision)

    def delivery(self, parent: etree._Element) -> None:
        if self.profile == Profile.MINIMUM:
            return
        if self.doc.delivery_address:
            ship_to = _el(parent, "ram:ShipToTradeParty")
            if self.doc.delivery_party_name:
                _el(ship_to, "ram:Name", self.doc.delivery_party_name)
            self.address(_el(ship_to, "ram:PostalTradeAddress"), self.doc.delivery_address)
        _date(_el(parent, "ram:ActualDeliverySupplyChainEvent"), "ram:OccurrenceDateTime", self.doc.operation_date)

    def settlement(self, parent: etree._Element) -> None:
        doc, totals = self.doc, self.totals
        minimum = self.profile == Profile.MINIMUM
        if doc.payment_reference and not minimum:
            _el(parent, "ram:PaymentReference", doc.payment_reference)
        foreign = doc.currency != doc.accounting_currency and doc.vat_total_in_accounting_currency is not None
        if foreign and not minimum:
            _el(parent, "ram:TaxCurrencyCode", doc.accounting_currency)
        _el(parent, "ram:InvoiceCurrencyCode", doc.currency)
        if not minimum:
            for means in doc.payment_means:
                element = _el(parent, "ram:SpecifiedTradeSettlementPaymentMeans")
                _el(element, "ram:TypeCode", means.code.value)
                if means.information and self.full:
                    _el(element, "ram:Information", means.information)
                if means.iban:
                    account = _el(element, "ram:PayeePartyCreditorFinancialAccount")
                    _el(account, "ram:IBANID", means.iban)
                    if means.account_name and self.full:
                        _el(account, "ram:AccountName", means.account_name)
                if means.bic and self.full:
                    _el(_el(element, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", means.bic)
            for breakdown in totals.vat_breakdown:
                self.header_tax(_el(parent, "ram:ApplicableTradeTax"), breakdown)
            if doc.billing_period:
                self.period(_el(parent, "ram:BillingSpecifiedPeriod"), doc.billing_period)
            for adjustment in doc.allowances_charges:
                self.allowance_charge(_el(parent, "ram:SpecifiedTradeAllowanceCharge"), adjustment)
            terms_text = mentions.payment_terms_text(doc)
            due_date = doc.effective_due_date
            if terms_text or due_date:
                terms = _el(parent, "ram:SpecifiedTradePaymentTerms")
                if terms_text:
                    _el(terms, "ram:Description", terms_text)
                if due_date:
                    _date(terms, "ram:DueDateDateTime", due_date)
        summation = _el(parent, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
        if not minimum:
            _el(summation, "ram:LineTotalAmount", amount(totals.line_total))
            if doc.allowances_charges:
                _el(summation, "ram:ChargeTotalAmount", amount(totals.charge_total))
                _el(summation, "ram:AllowanceTotalAmount", amount(totals.allowance_total))
        _el(summation, "ram:TaxBasisTotalAmount", amount(totals.tax_basis_total))
        _el(summation, "ram:TaxTotalAmount", amount(totals.tax_total), currencyID=doc.currency)
        if foreign and doc.vat_total_in_accounting_currency is not None:
            _el(
                summation,
                "ram:TaxTotalAmount",
                amount(doc.vat_total_in_accounting_currency),
                currencyID=doc.accounting_currency,
            )
        if totals.rounding and self.full:
            _el(summation, "ram:RoundingAmount", amount(totals.rounding))
        _el(summation, "ram:GrandTotalAmount", amount(totals.grand_total))
        if totals.prepaid and not minimum:
            _el(summation, "ram:TotalPrepaidAmount", amount(totals.prepaid))
        _el(summation, "ram:DuePayableAmount", amount(totals.due_payable))
        if not minimum:
            for preceding in doc.preceding_invoices:
                reference = _el(parent, "ram:InvoiceReferencedDocument")
                _el(reference, "ram:IssuerAssignedID", preceding.number)
                if preceding.issue_date:
                    _date(reference, "ram:FormattedIssueDateTime", preceding.issue_date, qualified=True)

    def header_tax(self, parent: etree._Element, breakdown: VatBreakdown) -> None:
        _el(parent, "ram:CalculatedAmount", amount(breakdown.tax))
        _el(parent, "ram:TypeCode", "VAT")
        if breakdown.exemption_reason:
            _el(parent, "ram:ExemptionReason", breakdown.exemption_reason)
        _el(parent, "ram:BasisAmount", amount(breakdown.basis))
        _el(parent, "ram:CategoryCode", breakdown.category.value)
        if breakdown.exemption_code:
            _el(parent, "ram:ExemptionReasonCode", breakdown.exemption_code)
        if self.doc.vat_on_debits and breakdown.category == VatCategory.STANDARD:
            _el(parent, "ram:DueDateTypeCode", VAT_ON_DEBITS_CODE)
        if breakdown.category != VatCategory.OUTSIDE_SCOPE:  # BR-O-05: no rate for O
            _el(parent, "ram:RateApplicablePercent", rate(breakdown.rate))

    def category_tax(self, parent: etree._Element, category: VatCategory, vat_rate: Decimal) -> None:
        _el(parent, "ram:TypeCode", "VAT")
        _el(parent, "ram:CategoryCode", category.value)
        if category != VatCategory.OUTSIDE_SCOPE:
            _el(parent, "ram:RateApplicablePercent", rate(vat_rate))

    def allowance_charge(self, parent: etree._Element, adjustment: AllowanceCharge) -> None:
        _el(_el(parent, "ram:ChargeIndicator"), "udt:Indicator", "true" if adjustment.is_charge else "false")
        if adjustment.percent is not None:
            _el(parent, "ram:CalculationPercent", rate(adjustment.percent))
        if adjustment.base_amount is not None:
            _el(parent, "ram:BasisAmount", amount(adjustment.base_amount))
        _el(parent, "ram:ActualAmount", amount(adjustment.amount))
        if adjustment.reason_code:
            _el(parent, "ram:ReasonCode", adjustment.reason_code)
        if adjustment.reason:
            _el(parent, "ram:Reason", adjustment.reason)
        self.category_tax(_el(parent, "ram:CategoryTradeTax"), adjustment.vat_category, adjustment.vat_rate)

    def period(self, parent: etree._Element, period: Period) -> None:
        _date(parent, "ram:StartDateTime", period.start)
        _date(parent, "ram:EndDateTime", period.end)

    # ---- lines -----------------------------------------------------------------------

    def line(self, parent: etree._Element, line: InvoiceLine, amounts: LineAmounts) -> None:
        document_line = _el(parent, "ram:AssociatedDocumentLineDocument")
        _el(document_line, "ram:LineID", line.line_id)
        if line.note:
            _el(_el(document_line, "ram:IncludedNote"), "ram:Content", line.note)
        product = _el(parent, "ram:SpecifiedTradeProduct")
        if line.seller_item_id and self.full:
            _el(product, "ram:SellerAssignedID", line.seller_item_id)
        _el(product, "ram:Name", line.name)
        if line.description and self.full:
            _el(product, "ram:Description", line.description)
        agreement = _el(parent, "ram:SpecifiedLineTradeAgreement")
        _el(_el(agreement, "ram:NetPriceProductTradePrice"), "ram:ChargeAmount", price(line.net_unit_price))
        _el(
            _el(parent, "ram:SpecifiedLineTradeDelivery"),
            "ram:BilledQuantity",
            number(line.quantity),
            unitCode=line.unit_code,
        )
        settlement = _el(parent, "ram:SpecifiedLineTradeSettlement")
        self.category_tax(_el(settlement, "ram:ApplicableTradeTax"), line.vat_category, line.vat_rate)
        if line.period:
            self.period(_el(settlement, "ram:BillingSpecifiedPeriod"), line.period)
        if amounts.discount:
            allowance = _el(settlement, "ram:SpecifiedTradeAllowanceCharge")
            _el(_el(allowance, "ram:ChargeIndicator"), "udt:Indicator", "false")
            if line.discount_percent is not None and self.full:
                _el(allowance, "ram:CalculationPercent", rate(line.discount_percent))
                _el(allowance, "ram:BasisAmount", amount(amounts.gross))
            _el(allowance, "ram:ActualAmount", amount(amounts.discount))
            _el(allowance, "ram:Reason", line.discount_reason)
        summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _el(summation, "ram:LineTotalAmount", amount(amounts.net))

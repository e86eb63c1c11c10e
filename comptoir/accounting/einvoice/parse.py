"""Read a received Factur-X PDF or CII XML into an ``InvoiceDocument``, defensively.

``parse_einvoice(data)`` either returns a ``ParsedInvoice`` (the document, the totals the
file states, and warnings where they differ from ours or where we dropped something) or
raises one ``InvalidEInvoice(code, message)``. Nothing in the file is trusted:

* sizes are capped before anything is parsed;
* the kind is sniffed from the bytes, never from the file name;
* XML never loads a DTD, an external entity or anything over the network, and a document
  with a DOCTYPE or entity declaration is refused outright (XXE, "billion laughs");
* the XML must be a UN/CEFACT CrossIndustryInvoice of a known Factur-X profile and pass
  that profile's XSD before a single value is read;
* a PDF must carry ``factur-x.xml`` (or a legacy name) as an embedded file.

Codes (stable, for the API and tests): ``empty``, ``too_large``, ``not_xml``,
``doctype_forbidden``, ``malformed_xml``, ``wrong_root``, ``unknown_profile``,
``schema_invalid``, ``profile_without_lines``, ``pdf_unreadable``, ``pdf_without_xml``,
``unsupported_content``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from django.utils.translation import gettext as _
from lxml import etree

from comptoir.accounting.einvoice.cii import NSMAP, RSM
from comptoir.accounting.einvoice.model import (
    ZERO,
    AllowanceCharge,
    ElectronicAddress,
    InvoiceDocument,
    InvoiceLine,
    InvoiceTypeCode,
    Note,
    NoteSubject,
    OperationCategory,
    Party,
    PaymentMeans,
    PaymentMeansCode,
    Period,
    PostalAddress,
    PrecedingInvoice,
    VatCategory,
)
from comptoir.accounting.einvoice.totals import Totals, compute_totals
from comptoir.accounting.einvoice.validate import (
    SCHEMATRON_FILES,
    profile_level,
    safe_parser,
    schematron_problems,
    xsd_problems,
)
from comptoir.kernel.errors import ValidationFailed

MAX_XML_BYTES = 5 * 1024 * 1024
MAX_PDF_BYTES = 20 * 1024 * 1024
# Names under which hybrid invoices carry their XML (Factur-X, then the legacy ZUGFeRD ones).
PDF_XML_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class InvalidEInvoice(ValidationFailed):
    """A received file is not an e-invoice we accept; ``code`` says why, ``message`` to whom."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, fields={"file": [message]})


@dataclass(frozen=True, slots=True)
class ParseWarning:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class StatedTotals:
    """The totals as the file states them (BG-22), to compare with ``compute_totals``."""

    line_total: Decimal | None
    allowance_total: Decimal | None
    charge_total: Decimal | None
    tax_basis_total: Decimal | None
    tax_total: Decimal | None
    grand_total: Decimal | None
    due_payable: Decimal | None


@dataclass(frozen=True, slots=True)
class ParsedInvoice:
    document: InvoiceDocument
    totals: Totals  # recomputed by us
    stated: StatedTotals
    level: str  # factur-x profile level: basic, en16931, extended
    source: Literal["pdf", "xml"]
    xml: bytes
    warnings: tuple[ParseWarning, ...]


def parse_einvoice(data: bytes, *, check_rules: bool = False) -> ParsedInvoice:
    """Parse a Factur-X PDF or a CII XML. ``check_rules`` adds schematron findings as warnings."""
    if not data:
        raise InvalidEInvoice("empty", _("The file is empty."))
    if data[:5] == b"%PDF-":
        return parse_cii(extract_xml_from_pdf(data), source="pdf", check_rules=check_rules)
    return parse_cii(data, source="xml", check_rules=check_rules)


def extract_xml_from_pdf(data: bytes) -> bytes:
    """The embedded invoice XML of a Factur-X/ZUGFeRD PDF."""
    from pypdf import PdfReader

    if len(data) > MAX_PDF_BYTES:
        raise InvalidEInvoice(
            "too_large", _("The PDF is larger than %(size)d MB.") % {"size": MAX_PDF_BYTES // 1024 // 1024}
        )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise InvalidEInvoice("pdf_unreadable", _("The PDF is encrypted; an e-invoice must not be."))
        attachments = {name.lower(): contents for name, contents in reader.attachments.items()}
    except InvalidEInvoice:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise InvalidEInvoice("pdf_unreadable", _("The PDF cannot be read: it is damaged or not a PDF.")) from exc
    for name in PDF_XML_NAMES:
        if attachments.get(name):
            return attachments[name][0]
    raise InvalidEInvoice(
        "pdf_without_xml",
        _(
            "This PDF carries no invoice XML (no factur-x.xml inside): it is not a Factur-X invoice. "
            "Ask the supplier for the Factur-X file or enter the bill by hand."
        ),
    )


def parse_cii(xml: bytes, *, source: Literal["pdf", "xml"] = "xml", check_rules: bool = False) -> ParsedInvoice:
    root = _safe_root(xml)
    if etree.QName(root).namespace != RSM or etree.QName(root).localname != "CrossIndustryInvoice":
        raise InvalidEInvoice(
            "wrong_root",
            _("This XML is not a UN/CEFACT Cross Industry Invoice (CII), the syntax of Factur-X."),
        )
    level = profile_level(root)
    if not level:
        raise InvalidEInvoice(
            "unknown_profile", _("The invoice does not name a known Factur-X profile (BT-24 guideline identifier).")
        )
    problems = xsd_problems(root, level)
    if problems:
        details = "; ".join(problem.message for problem in problems[:3])
        raise InvalidEInvoice(
            "schema_invalid",
            _("The invoice XML does not follow the Factur-X schema: %(details)s") % {"details": details},
        )
    if level in ("minimum", "basicwl"):
        raise InvalidEInvoice(
            "profile_without_lines",
            _(
                "This invoice uses the Factur-X %(profile)s profile, which has no invoice lines and is not a "
                "valid e-invoice in France. Ask the supplier for the EN 16931 profile."
            )
            % {"profile": level.upper()},
        )
    reader = _Reader(root)
    try:
        document = reader.document()
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise InvalidEInvoice(
            "unsupported_content", _("The invoice cannot be read: %(detail)s") % {"detail": str(exc)[:300]}
        ) from exc
    try:
        totals = compute_totals(document)
    except ValueError as exc:
        raise InvalidEInvoice(
            "unsupported_content", _("The invoice cannot be read: %(detail)s") % {"detail": str(exc)[:300]}
        ) from exc
    warnings = list(reader.warnings)
    warnings += _compare(document, totals, reader.stated, reader.stated_lines)
    if level == "extended":
        warnings.append(
            ParseWarning("extended_profile", _("EXTENDED profile: only the EN 16931 part of the invoice was read."))
        )
    if check_rules:
        clean = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
        for problem in schematron_problems(clean, SCHEMATRON_FILES[level]):
            warnings.append(ParseWarning("rule", f"{problem.rule}: {problem.message}"))
    return ParsedInvoice(
        document=document,
        totals=totals,
        stated=reader.stated,
        level=level,
        source=source,
        xml=xml,
        warnings=tuple(warnings),
    )


def _safe_root(xml: bytes) -> etree._Element:
    if len(xml) > MAX_XML_BYTES:
        raise InvalidEInvoice(
            "too_large", _("The invoice XML is larger than %(size)d MB.") % {"size": MAX_XML_BYTES // 1024 // 1024}
        )
    head = xml.lstrip(b"\xef\xbb\xbf \t\r\n")
    utf16 = xml.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not head.startswith(b"<") and not utf16:
        raise InvalidEInvoice("not_xml", _("The file is neither an XML invoice nor a PDF."))
    if _DECLARATION.search(xml):
        # No invoice needs a DTD; refusing them outright closes XXE and entity expansion.
        raise InvalidEInvoice(
            "doctype_forbidden", _("The XML declares a DOCTYPE or entities, which e-invoices never do: refused.")
        )
    try:
        root = etree.fromstring(xml, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise InvalidEInvoice(
            "malformed_xml", _("The XML is malformed or truncated (%(error)s).") % {"error": str(exc)[:200]}
        ) from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # Caught here when an encoding (e.g. UTF-16) hid the declaration from the byte scan.
        raise InvalidEInvoice(
            "doctype_forbidden", _("The XML declares a DOCTYPE or entities, which e-invoices never do: refused.")
        )
    return root


class _Reader:
    """Maps a schema-valid CII tree onto the model, collecting warnings as it goes."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.warnings: list[ParseWarning] = []
        self.stated = StatedTotals(None, None, None, None, None, None, None)
        self.stated_lines: dict[str, Decimal] = {}

    # -- helpers --

    def _all(self, node: etree._Element, path: str) -> list[etree._Element]:
        return list(node.xpath(path, namespaces=NSMAP))

    def _one(self, node: etree._Element, path: str) -> etree._Element | None:
        found = self._all(node, path)
        return found[0] if found else None

    def _text(self, node: etree._Element | None, path: str) -> str:
        if node is None:
            return ""
        found = self._one(node, path)
        return (found.text or "").strip() if found is not None else ""

    def _decimal(self, node: etree._Element | None, path: str) -> Decimal | None:
        text = self._text(node, path)
        if not text:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(_("%(value)s is not a number") % {"value": text[:40]}) from exc
        if not value.is_finite():
            raise ValueError(_("%(value)s is not a number") % {"value": text[:40]})
        return value

    def _date(self, node: etree._Element | None, path: str) -> dt.date | None:
        text = self._text(node, path)
        if not text:
            return None
        try:
            return dt.datetime.strptime(text, "%Y%m%d").date()
        except ValueError as exc:
            raise ValueError(_("%(value)s is not a date in the YYYYMMDD format") % {"value": text[:40]}) from exc

    def warn(self, code: str, message: str) -> None:
        self.warnings.append(ParseWarning(code, message))

    # -- document --

    def document(self) -> InvoiceDocument:
        root = self.root
        header = self._one(root, "rsm:ExchangedDocument")
        transaction = self._one(root, "rsm:SupplyChainTradeTransaction")
        agreement = self._one(transaction, "ram:ApplicableHeaderTradeAgreement") if transaction is not None else None
        delivery = self._one(transaction, "ram:ApplicableHeaderTradeDelivery") if transaction is not None else None
        settlement = self._one(transaction, "ram:ApplicableHeaderTradeSettlement") if transaction is not None else None
        if header is None or transaction is None or agreement is None or settlement is None:
            raise ValueError(_("the invoice lacks its header, parties or settlement"))
        issue_date = self._date(header, "ram:IssueDateTime/udt:DateTimeString")
        if issue_date is None:
            raise ValueError(_("the issue date is missing"))
        type_text = self._text(header, "ram:TypeCode")
        try:
            type_code = InvoiceTypeCode(type_text)
        except ValueError as exc:
            raise ValueError(_("document type %(code)s is not supported") % {"code": type_text[:10]}) from exc

        exemptions, vat_on_debits = self.header_taxes(settlement)
        lines = tuple(
            self.line(item, exemptions) for item in self._all(transaction, "ram:IncludedSupplyChainTradeLineItem")
        )
        self.summation(settlement)
        ship_to = self._one(delivery, "ram:ShipToTradeParty") if delivery is not None else None
        period = self._one(settlement, "ram:BillingSpecifiedPeriod")
        seller = self._one(agreement, "ram:SellerTradeParty")
        buyer = self._one(agreement, "ram:BuyerTradeParty")
        assert seller is not None and buyer is not None  # the XSD requires both
        terms = self._one(settlement, "ram:SpecifiedTradePaymentTerms")
        prepaid = self._decimal(
            settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TotalPrepaidAmount"
        )
        rounding = self._decimal(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:RoundingAmount")
        return InvoiceDocument(
            number=self._text(header, "ram:ID"),
            type_code=type_code,
            issue_date=issue_date,
            seller=self.party(seller),
            buyer=self.party(buyer),
            lines=lines,
            currency=self._text(settlement, "ram:InvoiceCurrencyCode"),
            operation_category=self.operation_category(),
            delivery_date=self._date(
                delivery, "ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/udt:DateTimeString"
            ),
            billing_period=self.period(period) if period is not None else None,
            due_date=self._date(terms, "ram:DueDateDateTime/udt:DateTimeString"),
            payment_terms=self._text(terms, "ram:Description"),
            preceding_invoices=tuple(
                PrecedingInvoice(
                    self._text(reference, "ram:IssuerAssignedID"),
                    self._date(reference, "ram:FormattedIssueDateTime/qdt:DateTimeString"),
                )
                for reference in self._all(settlement, "ram:InvoiceReferencedDocument")
            ),
            buyer_reference=self._text(agreement, "ram:BuyerReference"),
            purchase_order=self._text(agreement, "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
            contract_reference=self._text(agreement, "ram:ContractReferencedDocument/ram:IssuerAssignedID"),
            allowances_charges=tuple(
                self.allowance_charge(element, exemptions)
                for element in self._all(settlement, "ram:SpecifiedTradeAllowanceCharge")
            ),
            delivery_address=self.address(self._one(ship_to, "ram:PostalTradeAddress"))
            if ship_to is not None
            else None,
            delivery_party_name=self._text(ship_to, "ram:Name"),
            vat_on_debits=vat_on_debits,
            payment_means=tuple(
                means
                for element in self._all(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
                if (means := self.payment_means(element)) is not None
            ),
            payment_reference=self._text(settlement, "ram:PaymentReference"),
            notes=tuple(self.notes(header)),
            prepaid_amount=prepaid or ZERO,
            rounding_amount=rounding or ZERO,
        )

    def operation_category(self) -> OperationCategory | None:
        code = self._text(
            self.root, "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"
        )
        return {"B": OperationCategory.GOODS, "S": OperationCategory.SERVICES, "M": OperationCategory.MIXED}.get(
            code[:1] if len(code) == 2 else ""
        )

    def notes(self, header: etree._Element) -> list[Note]:
        result = []
        for element in self._all(header, "ram:IncludedNote"):
            content = self._text(element, "ram:Content")
            if not content:
                continue
            subject_code = self._text(element, "ram:SubjectCode")
            subject = NoteSubject(subject_code) if subject_code in {s.value for s in NoteSubject} else None
            result.append(Note(content, subject))
        return result

    def party(self, element: etree._Element) -> Party:
        name = self._text(element, "ram:Name")
        siren = ""
        legal_id = self._one(element, "ram:SpecifiedLegalOrganization/ram:ID")
        if legal_id is not None and legal_id.get("schemeID") == "0002":
            siren = (legal_id.text or "").strip()
            if not re.fullmatch(r"\d{9}", siren):
                self.warn(
                    "bad_siren",
                    _("%(name)s: the SIREN %(siren)s is not 9 digits; ignored.") % {"name": name, "siren": siren[:20]},
                )
                siren = ""
        siret = ""
        for global_id in self._all(element, "ram:GlobalID[@schemeID='0009']"):
            candidate = (global_id.text or "").strip()
            if re.fullmatch(r"\d{14}", candidate) and (not siren or candidate.startswith(siren)):
                siret = candidate
        vat_number = ""
        for registration in self._all(element, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"):
            candidate = (registration.text or "").strip().replace(" ", "")
            if re.fullmatch(r"[A-Z]{2}[A-Za-z0-9+*.]{2,13}", candidate):
                vat_number = candidate
            else:
                self.warn(
                    "bad_vat_number",
                    _("%(name)s: VAT number %(vat)s is malformed; ignored.") % {"name": name, "vat": candidate[:20]},
                )
        uri = self._one(element, "ram:URIUniversalCommunication/ram:URIID")
        electronic_address = None
        if uri is not None and (uri.text or "").strip():
            electronic_address = ElectronicAddress((uri.text or "").strip(), uri.get("schemeID") or "EM")
        address = self.address(self._one(element, "ram:PostalTradeAddress"))
        if address is None:
            raise ValueError(_("%(name)s has no postal address with a country") % {"name": name})
        return Party(
            name=name,
            address=address,
            siren=siren,
            siret=siret,
            vat_number=vat_number,
            trading_name=self._text(element, "ram:SpecifiedLegalOrganization/ram:TradingBusinessName"),
            email=self._text(element, "ram:DefinedTradeContact/ram:EmailURIUniversalCommunication/ram:URIID"),
            phone=self._text(element, "ram:DefinedTradeContact/ram:TelephoneUniversalCommunication/ram:CompleteNumber"),
            contact_name=self._text(element, "ram:DefinedTradeContact/ram:PersonName"),
            electronic_address=electronic_address,
        )

    def address(self, element: etree._Element | None) -> PostalAddress | None:
        if element is None:
            return None
        country = self._text(element, "ram:CountryID")
        if not country:
            return None
        return PostalAddress(
            country_code=country,
            line1=self._text(element, "ram:LineOne"),
            line2=self._text(element, "ram:LineTwo"),
            line3=self._text(element, "ram:LineThree"),
            postcode=self._text(element, "ram:PostcodeCode"),
            city=self._text(element, "ram:CityName"),
            subdivision=self._text(element, "ram:CountrySubDivisionName"),
        )

    def period(self, element: etree._Element) -> Period | None:
        start = self._date(element, "ram:StartDateTime/udt:DateTimeString")
        end = self._date(element, "ram:EndDateTime/udt:DateTimeString")
        if start and end:
            return Period(start, end)
        if start or end:
            self.warn("open_period", _("An invoicing period has only one end; it was ignored."))
        return None

    def header_taxes(self, settlement: etree._Element) -> tuple[dict[VatCategory, tuple[str, str]], bool]:
        """Exemption reasons per category (the model keeps them on lines) and the VAT-on-debits flag."""
        exemptions: dict[VatCategory, tuple[str, str]] = {}
        on_debits = False
        for tax in self._all(settlement, "ram:ApplicableTradeTax"):
            category = VatCategory(self._text(tax, "ram:CategoryCode"))
            reason = (self._text(tax, "ram:ExemptionReason"), self._text(tax, "ram:ExemptionReasonCode"))
            if any(reason):
                exemptions[category] = reason
            if self._text(tax, "ram:DueDateTypeCode") == "5":
                on_debits = True
        return exemptions, on_debits

    def line(self, item: etree._Element, exemptions: dict[VatCategory, tuple[str, str]]) -> InvoiceLine:
        line_id = self._text(item, "ram:AssociatedDocumentLineDocument/ram:LineID")
        price = self._decimal(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount")
        basis = self._decimal(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:BasisQuantity")
        if price is None:
            raise ValueError(_("line %(line)s has no net price") % {"line": line_id})
        if basis not in (None, Decimal(0), Decimal(1)):
            assert basis is not None
            price = price / basis  # a price per 100 units becomes a unit price
        quantity_element = self._one(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")
        quantity = self._decimal(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")
        if quantity is None or quantity_element is None:
            raise ValueError(_("line %(line)s has no quantity") % {"line": line_id})
        settlement = self._one(item, "ram:SpecifiedLineTradeSettlement")
        category = VatCategory(self._text(settlement, "ram:ApplicableTradeTax/ram:CategoryCode"))
        rate = self._decimal(settlement, "ram:ApplicableTradeTax/ram:RateApplicablePercent") or ZERO
        discount = ZERO
        reasons = []
        for allowance in self._all(settlement, "ram:SpecifiedTradeAllowanceCharge"):
            actual = self._decimal(allowance, "ram:ActualAmount") or ZERO
            if self._text(allowance, "ram:ChargeIndicator/udt:Indicator") == "true":
                self.warn(
                    "line_charge",
                    _("Line %(line)s has a line charge of %(amount)s, added to the price.")
                    % {"line": line_id, "amount": actual},
                )
                discount -= actual
            else:
                discount += actual
            reasons.append(self._text(allowance, "ram:Reason") or self._text(allowance, "ram:ReasonCode"))
        stated_net = self._decimal(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount")
        if stated_net is not None:
            self.stated_lines[line_id] = stated_net
        if discount < 0:
            # A net charge: fold it into the price so that the line total stays right.
            price = price + (-discount) / quantity if quantity else price
            discount = ZERO
        period = self._one(settlement, "ram:BillingSpecifiedPeriod")
        reason, code = exemptions.get(category, ("", ""))
        return InvoiceLine(
            line_id=line_id,
            name=self._text(item, "ram:SpecifiedTradeProduct/ram:Name"),
            description=self._text(item, "ram:SpecifiedTradeProduct/ram:Description"),
            seller_item_id=self._text(item, "ram:SpecifiedTradeProduct/ram:SellerAssignedID"),
            quantity=quantity,
            unit_code=quantity_element.get("unitCode") or "C62",
            net_unit_price=price,
            vat_category=category,
            vat_rate=rate,
            discount_amount=discount,
            discount_reason=next((r for r in reasons if r), "Remise"),
            vat_exemption_reason=reason,
            vat_exemption_code=code,
            period=self.period(period) if period is not None else None,
            note=self._text(item, "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content"),
        )

    def allowance_charge(
        self, element: etree._Element, exemptions: dict[VatCategory, tuple[str, str]]
    ) -> AllowanceCharge:
        category = VatCategory(self._text(element, "ram:CategoryTradeTax/ram:CategoryCode"))
        reason, code = exemptions.get(category, ("", ""))
        return AllowanceCharge(
            amount=self._decimal(element, "ram:ActualAmount") or ZERO,
            vat_category=category,
            vat_rate=self._decimal(element, "ram:CategoryTradeTax/ram:RateApplicablePercent") or ZERO,
            reason=self._text(element, "ram:Reason"),
            reason_code=self._text(element, "ram:ReasonCode"),
            is_charge=self._text(element, "ram:ChargeIndicator/udt:Indicator") == "true",
            percent=self._decimal(element, "ram:CalculationPercent"),
            base_amount=self._decimal(element, "ram:BasisAmount"),
            vat_exemption_reason=reason,
            vat_exemption_code=code,
        )

    def payment_means(self, element: etree._Element) -> PaymentMeans | None:
        code = self._text(element, "ram:TypeCode")
        if code not in {c.value for c in PaymentMeansCode}:
            self.warn("payment_means", _("Payment means code %(code)s is not handled; ignored.") % {"code": code[:10]})
            return None
        iban = self._text(element, "ram:PayeePartyCreditorFinancialAccount/ram:IBANID").replace(" ", "").upper()
        try:
            return PaymentMeans(
                code=PaymentMeansCode(code),
                iban=iban,
                bic=self._text(element, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID"),
                account_name=self._text(element, "ram:PayeePartyCreditorFinancialAccount/ram:AccountName"),
                information=self._text(element, "ram:Information"),
            )
        except ValueError:
            self.warn("payment_means", _("The bank account %(iban)s is malformed; ignored.") % {"iban": iban[:40]})
            return None

    def summation(self, settlement: etree._Element) -> None:
        total = self._one(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
        currency = self._text(settlement, "ram:InvoiceCurrencyCode")
        tax_total = None
        # BT-110 in the invoice currency; a second TaxTotalAmount (BT-111) is in the accounting currency.
        for element in self._all(total, "ram:TaxTotalAmount") if total is not None else []:
            if element.get("currencyID") in (None, "", currency):
                tax_total = self._decimal(element, ".")
        self.stated = StatedTotals(
            line_total=self._decimal(total, "ram:LineTotalAmount"),
            allowance_total=self._decimal(total, "ram:AllowanceTotalAmount"),
            charge_total=self._decimal(total, "ram:ChargeTotalAmount"),
            tax_basis_total=self._decimal(total, "ram:TaxBasisTotalAmount"),
            tax_total=tax_total,
            grand_total=self._decimal(total, "ram:GrandTotalAmount"),
            due_payable=self._decimal(total, "ram:DuePayableAmount"),
        )


def _compare(
    document: InvoiceDocument, totals: Totals, stated: StatedTotals, stated_lines: dict[str, Decimal]
) -> list[ParseWarning]:
    """One warning per amount where the file and our EN 16931 computation disagree."""
    labels = {
        "line_total": _("Sum of line amounts"),
        "allowance_total": _("Allowances"),
        "charge_total": _("Charges"),
        "tax_basis_total": _("Total excluding VAT"),
        "tax_total": _("Total VAT"),
        "grand_total": _("Total including VAT"),
        "due_payable": _("Amount due"),
    }
    warnings = []
    for field, label in labels.items():
        written = getattr(stated, field)
        computed = getattr(totals, field)
        if written is not None and written != computed:
            warnings.append(
                ParseWarning(
                    f"total_{field}",
                    _("%(label)s: the file says %(written)s, the lines give %(computed)s.")
                    % {"label": label, "written": written, "computed": computed},
                )
            )
    for amounts in totals.lines:
        written = stated_lines.get(amounts.line_id)
        if written is not None and written != amounts.net:
            warnings.append(
                ParseWarning(
                    "line_total",
                    _("Line %(line)s: the file says %(written)s, quantity × price gives %(computed)s.")
                    % {"line": amounts.line_id, "written": written, "computed": amounts.net},
                )
            )
    return warnings

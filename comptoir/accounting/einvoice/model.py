"""An invoice as EN 16931 sees it: frozen, typed, independent of our database rows.

Business terms are cited as BT-n / BG-n (EN 16931-1). Amounts are ``Decimal``; amounts of
money carry at most 2 decimals (BR-DEC-*), unit prices and quantities may carry more.
Constructors refuse what the standard could never accept (floats, 3-decimal amounts,
a rate on an "outside scope" line…) so the writers never have to guess.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class InvoiceTypeCode(StrEnum):
    """BT-3, UNTDID 1001 (the subset the French CTC accepts and we issue or receive)."""

    INVOICE = "380"
    CREDIT_NOTE = "381"
    CORRECTIVE = "384"
    DOWN_PAYMENT = "386"
    SELF_BILLED = "389"
    SELF_BILLED_CREDIT_NOTE = "261"
    FACTORED = "393"
    FACTORED_CREDIT_NOTE = "396"


class VatCategory(StrEnum):
    """BT-118 / BT-151, UNTDID 5305: the categories the French CTC allows (BR-FR-15)."""

    STANDARD = "S"
    ZERO_RATED = "Z"
    EXEMPT = "E"
    REVERSE_CHARGE = "AE"
    INTRA_EU = "K"
    EXPORT = "G"
    OUTSIDE_SCOPE = "O"


# Categories whose VAT breakdown needs an exemption reason (BR-E-10, BR-AE-10, BR-IC-10,
# BR-G-10, BR-O-10); S and Z must not have one.
EXEMPT_CATEGORIES = frozenset(
    {
        VatCategory.EXEMPT,
        VatCategory.REVERSE_CHARGE,
        VatCategory.INTRA_EU,
        VatCategory.EXPORT,
        VatCategory.OUTSIDE_SCOPE,
    }
)

# The legal wording printed (and written in BT-120) when the caller gives none. French law
# asks for the article, so these stay in French whatever the document language.
DEFAULT_EXEMPTIONS: dict[VatCategory, tuple[str, str]] = {
    VatCategory.REVERSE_CHARGE: ("Autoliquidation", "VATEX-EU-AE"),
    VatCategory.INTRA_EU: ("Exonération de TVA, art. 262 ter I du CGI", "VATEX-EU-IC"),
    VatCategory.EXPORT: ("Exonération de TVA, art. 262 I du CGI", "VATEX-EU-G"),
    VatCategory.OUTSIDE_SCOPE: ("Opération hors du champ d'application de la TVA", "VATEX-EU-O"),
}


class OperationCategory(StrEnum):
    """The 2026 mention "goods, services or both", carried in BT-23 (cadre de facturation)."""

    GOODS = "goods"
    SERVICES = "services"
    MIXED = "mixed"


class PaymentMeansCode(StrEnum):
    """BT-81, UNTDID 4461 (the usual ones)."""

    CASH = "10"
    CHEQUE = "20"
    CREDIT_TRANSFER = "30"
    BANK_CARD = "48"
    DIRECT_DEBIT = "49"
    SEPA_CREDIT_TRANSFER = "58"
    SEPA_DIRECT_DEBIT = "59"


class NoteSubject(StrEnum):
    """BT-21, UNTDID 4451: the subjects the French rules look for, and the general ones."""

    GENERAL = "AAI"
    EARLY_PAYMENT_DISCOUNT = "AAB"  # escompte (or "no discount")
    LATE_PAYMENT_PENALTY = "PMD"  # pénalités de retard
    RECOVERY_INDEMNITY = "PMT"  # indemnité forfaitaire de 40 €
    REGULATORY = "REG"
    TAX = "TXD"


# BT-1 in the French CTC: ≤ 35 characters, letters, digits and + - _ / (BR-FR-01/02).
INVOICE_NUMBER_RE = re.compile(r"^[A-Za-z0-9+\-_/]{1,35}$")
SIREN_RE = re.compile(r"^\d{9}$")
SIRET_RE = re.compile(r"^\d{14}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def _decimal(value: object, what: str) -> Decimal:
    if not isinstance(value, Decimal):
        # Floats carry binary rounding errors; ints are easy to pass by mistake as cents.
        raise TypeError(f"{what} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{what} must be a finite number")
    return value


def _amount(value: object, what: str) -> Decimal:
    """A money amount: Decimal with at most 2 decimals (BR-DEC-*)."""
    number = _decimal(value, what)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if exponent < -2 and number != number.quantize(Decimal("0.01")):
        raise ValueError(f"{what} must have at most 2 decimals, got {number}")
    return number


def _required(value: str, what: str) -> None:
    if not value or not value.strip():
        raise ValueError(f"{what} is required")


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """BG-5 / BG-8 / BG-15. ``country_code`` is ISO 3166-1 alpha-2 (BT-40/55/80)."""

    country_code: str
    line1: str = ""
    line2: str = ""
    line3: str = ""
    postcode: str = ""
    city: str = ""
    subdivision: str = ""

    def __post_init__(self) -> None:
        if not COUNTRY_RE.match(self.country_code):
            raise ValueError(f"country_code must be two capital letters, got {self.country_code!r}")

    @property
    def lines(self) -> tuple[str, ...]:
        """The address as printed, one string per line, empty parts left out."""
        city_line = " ".join(part for part in (self.postcode, self.city) if part)
        parts = (self.line1, self.line2, self.line3, city_line, self.subdivision, self.country_code)
        return tuple(part for part in parts if part)


@dataclass(frozen=True, slots=True)
class ElectronicAddress:
    """BT-34 / BT-49: where the e-invoice is routed. Scheme 0225 = French directory, EM = e-mail."""

    value: str
    scheme: str = "0225"

    def __post_init__(self) -> None:
        _required(self.value, "electronic address")
        _required(self.scheme, "electronic address scheme")


@dataclass(frozen=True, slots=True)
class Party:
    """Seller (BG-4) or buyer (BG-7), with what French law prints about a company.

    ``siren`` goes to the legal registration id (BT-30/BT-47, scheme 0002), ``siret`` to the
    party identifier (BT-29/BT-46, scheme 0009). ``legal_form``, ``share_capital`` and
    ``rcs_city`` are the seller's commercial-law mentions (BT-33 "additional legal
    information" in the XML).
    """

    name: str
    address: PostalAddress
    siren: str = ""
    siret: str = ""
    vat_number: str = ""
    trading_name: str = ""
    email: str = ""
    phone: str = ""
    contact_name: str = ""
    electronic_address: ElectronicAddress | None = None
    legal_form: str = ""
    share_capital: Decimal | None = None
    rcs_city: str = ""

    def __post_init__(self) -> None:
        _required(self.name, "party name")
        if self.siren and not SIREN_RE.match(self.siren):
            raise ValueError(f"SIREN must be 9 digits, got {self.siren!r}")
        if self.siret:
            if not SIRET_RE.match(self.siret):
                raise ValueError(f"SIRET must be 14 digits, got {self.siret!r}")
            if self.siren and not self.siret.startswith(self.siren):
                raise ValueError("SIRET must start with the SIREN")
        if self.vat_number and not COUNTRY_RE.match(self.vat_number[:2]):
            # BR-CO-09: a VAT identifier starts with its ISO country prefix.
            raise ValueError(f"VAT number must start with a country code, got {self.vat_number!r}")
        if self.share_capital is not None:
            _amount(self.share_capital, "share capital")

    @property
    def routing_address(self) -> ElectronicAddress | None:
        """BT-34/BT-49: the given address, else the SIREN in the French directory, else the e-mail."""
        if self.electronic_address:
            return self.electronic_address
        if self.siren:
            return ElectronicAddress(self.siren, "0225")
        if self.email:
            return ElectronicAddress(self.email, "EM")
        return None


@dataclass(frozen=True, slots=True)
class Period:
    """BG-14 / BG-26: an invoicing period, both ends included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a period cannot end before it starts")


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """BG-25. The net amount (BT-131) is computed by ``totals``: never given, never stored twice.

    The discount is either ``discount_percent`` of quantity × price or a fixed
    ``discount_amount`` (BG-27 line allowance); it is written with its reason (BR-42).
    """

    line_id: str
    name: str
    quantity: Decimal
    net_unit_price: Decimal
    vat_category: VatCategory
    vat_rate: Decimal
    unit_code: str = "C62"  # UN/ECE rec. 20: C62 one, HUR hour, DAY, KGM, MTR, LTR…
    description: str = ""
    discount_percent: Decimal | None = None
    discount_amount: Decimal = ZERO
    discount_reason: str = "Remise"
    vat_exemption_reason: str = ""
    vat_exemption_code: str = ""
    seller_item_id: str = ""
    period: Period | None = None
    note: str = ""

    def __post_init__(self) -> None:
        _required(self.line_id, "line id")
        _required(self.name, "line name")
        _required(self.unit_code, "unit code")
        _decimal(self.quantity, "quantity")
        price = _decimal(self.net_unit_price, "unit price")
        if price < 0:
            raise ValueError("a unit price cannot be negative (BR-27); use a negative quantity")
        _check_vat(self.vat_category, self.vat_rate)
        _amount(self.discount_amount, "discount amount")
        if self.discount_percent is not None:
            pct = _decimal(self.discount_percent, "discount percent")
            if not ZERO <= pct <= 100:
                raise ValueError("discount percent must be between 0 and 100")
            if self.discount_amount:
                raise ValueError("give a discount percent or a discount amount, not both")
        if self.has_discount and not self.discount_reason.strip():
            raise ValueError("a discount needs a reason (BR-42)")

    @property
    def has_discount(self) -> bool:
        return bool(self.discount_amount) or bool(self.discount_percent)


@dataclass(frozen=True, slots=True)
class AllowanceCharge:
    """BG-20 (document allowance) or BG-21 (document charge), with its VAT (BT-95/102)."""

    amount: Decimal
    vat_category: VatCategory
    vat_rate: Decimal
    reason: str
    is_charge: bool = False
    reason_code: str = ""
    percent: Decimal | None = None
    base_amount: Decimal | None = None
    vat_exemption_reason: str = ""
    vat_exemption_code: str = ""

    def __post_init__(self) -> None:
        if _amount(self.amount, "allowance/charge amount") < 0:
            raise ValueError("an allowance or charge amount is positive; the kind says which way it goes")
        if not self.reason.strip() and not self.reason_code:
            raise ValueError("an allowance or charge needs a reason or a reason code (BR-33/BR-38)")
        _check_vat(self.vat_category, self.vat_rate)
        if self.percent is not None:
            _decimal(self.percent, "percent")
        if self.base_amount is not None:
            _amount(self.base_amount, "base amount")


@dataclass(frozen=True, slots=True)
class PrecedingInvoice:
    """BG-3: the invoice a credit note or corrective invoice refers to (BT-25, BT-26)."""

    number: str
    issue_date: dt.date | None = None

    def __post_init__(self) -> None:
        _required(self.number, "preceding invoice number")


@dataclass(frozen=True, slots=True)
class Installment:
    """One due date of split payment terms, with the amount due then."""

    due_date: dt.date
    amount: Decimal

    def __post_init__(self) -> None:
        _amount(self.amount, "installment amount")


@dataclass(frozen=True, slots=True)
class PaymentMeans:
    """BG-16: how to pay (BT-81 code), and the account to credit for transfers (BG-17)."""

    code: PaymentMeansCode = PaymentMeansCode.SEPA_CREDIT_TRANSFER
    iban: str = ""
    bic: str = ""
    account_name: str = ""
    information: str = ""

    def __post_init__(self) -> None:
        if self.code in (PaymentMeansCode.SEPA_CREDIT_TRANSFER, PaymentMeansCode.CREDIT_TRANSFER) and not self.iban:
            raise ValueError("a credit transfer needs the account to credit (BR-61)")
        if self.iban and not re.match(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}$", self.iban):
            raise ValueError("IBAN must be written without spaces, in capitals")


@dataclass(frozen=True, slots=True)
class Note:
    """BG-1: free text with an optional subject code (BT-21)."""

    content: str
    subject: NoteSubject | None = None

    def __post_init__(self) -> None:
        _required(self.content, "note content")


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """One invoice or credit note, everything EN 16931 and French law need to write it.

    Payment mentions (French law, and notes PMD/PMT/AAB in the XML): ``late_payment_rate``
    is the annual penalty rate in percent (``None`` prints the legal default, three times
    the legal interest rate); ``recovery_indemnity`` is the fixed 40 € (B2B); an empty
    ``early_payment_discount`` prints "no discount for early payment".
    """

    number: str
    issue_date: dt.date
    seller: Party
    buyer: Party
    lines: tuple[InvoiceLine, ...]
    type_code: InvoiceTypeCode = InvoiceTypeCode.INVOICE
    currency: str = "EUR"
    operation_category: OperationCategory | None = None
    delivery_date: dt.date | None = None
    billing_period: Period | None = None
    due_date: dt.date | None = None
    payment_terms: str = ""
    installments: tuple[Installment, ...] = ()
    preceding_invoices: tuple[PrecedingInvoice, ...] = ()
    buyer_reference: str = ""
    purchase_order: str = ""
    contract_reference: str = ""
    allowances_charges: tuple[AllowanceCharge, ...] = ()
    delivery_address: PostalAddress | None = None
    delivery_party_name: str = ""
    vat_on_debits: bool = False
    late_payment_rate: Decimal | None = None
    recovery_indemnity: Decimal = Decimal("40.00")
    early_payment_discount: str = ""
    payment_means: tuple[PaymentMeans, ...] = ()
    payment_reference: str = ""
    notes: tuple[Note, ...] = ()
    prepaid_amount: Decimal = ZERO
    rounding_amount: Decimal = ZERO
    # Non-EUR invoices also state the VAT total in euros (BT-6 / BT-111, BR-FR).
    vat_total_in_accounting_currency: Decimal | None = None
    accounting_currency: str = "EUR"
    # Free-form line printed under the seller block (e.g. "Entrepreneur individuel (EI)").
    extra_legal_mentions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # The French format rule for BT-1 applies to what we issue: ``build_cii`` checks it,
        # received invoices from abroad may number their documents otherwise.
        _required(self.number, "invoice number")
        if not self.lines:
            raise ValueError("an invoice has at least one line (BR-16)")
        if len({line.line_id for line in self.lines}) != len(self.lines):
            raise ValueError("line ids must be unique")
        if not CURRENCY_RE.match(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code, got {self.currency!r}")
        _amount(self.prepaid_amount, "prepaid amount")
        _amount(self.rounding_amount, "rounding amount")
        _amount(self.recovery_indemnity, "recovery indemnity")
        if self.late_payment_rate is not None:
            _decimal(self.late_payment_rate, "late payment rate")
        if self.vat_total_in_accounting_currency is not None:
            _amount(self.vat_total_in_accounting_currency, "VAT total in accounting currency")
        if self.due_date and self.due_date < self.issue_date and self.type_code != InvoiceTypeCode.DOWN_PAYMENT:
            raise ValueError("the due date cannot be before the issue date")
        if self.type_code in (InvoiceTypeCode.CREDIT_NOTE, InvoiceTypeCode.CORRECTIVE) and not self.preceding_invoices:
            # BR-FR-CO-04/05: a credit note or corrective invoice cites what it corrects.
            raise ValueError("a credit note or corrective invoice must cite the invoice it corrects")
        if self.type_code == InvoiceTypeCode.CORRECTIVE and len(self.preceding_invoices) != 1:
            raise ValueError("a corrective invoice cites exactly one invoice")
        categories = {line.vat_category for line in self.lines} | {ac.vat_category for ac in self.allowances_charges}
        if VatCategory.OUTSIDE_SCOPE in categories and len(categories) > 1:
            # BR-O-11..14: an "outside scope" invoice has no other VAT category.
            raise ValueError("an invoice with an outside-scope (O) line cannot have other VAT categories")

    @property
    def is_credit_note(self) -> bool:
        return self.type_code in (
            InvoiceTypeCode.CREDIT_NOTE,
            InvoiceTypeCode.SELF_BILLED_CREDIT_NOTE,
            InvoiceTypeCode.FACTORED_CREDIT_NOTE,
        )

    @property
    def business_process(self) -> str:
        """BT-23 "cadre de facturation": B1/S1/M1 for a plain invoice of goods/services/both."""
        if self.operation_category is None:
            return ""
        return {OperationCategory.GOODS: "B1", OperationCategory.SERVICES: "S1", OperationCategory.MIXED: "M1"}[
            self.operation_category
        ]

    @property
    def operation_date(self) -> dt.date:
        """The date of the sale or service: given, else the period's end, else the issue date."""
        if self.delivery_date:
            return self.delivery_date
        if self.billing_period:
            return self.billing_period.end
        return self.issue_date

    @property
    def effective_due_date(self) -> dt.date | None:
        """BT-9: the due date, or the first installment's when payment is split."""
        if self.due_date:
            return self.due_date
        if self.installments:
            return min(installment.due_date for installment in self.installments)
        return None


def _check_vat(category: VatCategory, rate: object) -> None:
    VatCategory(category)  # refuses unknown codes
    value = _decimal(rate, "VAT rate")
    if value < 0 or value >= 100:
        raise ValueError(f"VAT rate must be a percentage, got {value}")
    if category == VatCategory.STANDARD and value == 0:
        raise ValueError("a standard-rated (S) line has a rate above zero (BR-S-05)")
    if category != VatCategory.STANDARD and value != 0:
        raise ValueError(f"VAT category {category} has a zero rate")

"""French VAT decisions: which tax, which code, which mention, which accounts.

Pure functions and data, no database. Invoices, bills and the VAT return call ``decide``
with what they know about a line (the product's VAT category, the partner's fiscal
position, goods or services, sale or purchase) and book what it says.

Sources: COMPLIANCE-FR.md §3 (rates, chargeability, cross-border regimes, PCG accounts)
and §7 (EN 16931 category codes). Choices this module makes where the rules leave room:

* **One collected-VAT account** (44571), not one sub-account per rate: the breakdown per
  rate comes from the tax lines of the invoices, not from the chart.
* **Waiting accounts for VAT on receipts** (services, unless the débits option):
  44574 "TVA collectée en attente" on sales, 44564 "TVA déductible en attente" on
  purchases. At payment the amount moves to 44571 / 44566. The VAT return therefore reads
  the exact accounts listed in ``VAT_ACCOUNTS``, never a prefix such as ``4457``.
* **Self-assessed VAT** (reverse charge of any kind: intra-EU goods or services, services
  from outside the EU, domestic sub-contracting) is credited to 4452 and, when deductible,
  debited to 445662 (44562 for fixed assets). Both legs have the same amount.
* **Invoice mentions** are the French legal wording, printed verbatim whatever the language
  of the invoice (the same text goes into the Factur-X exemption reason, BT-120);
  ``explanation`` is the translated sentence shown in the interface.
* Place of supply first: when the operation is not taxable in France (intra-EU B2B, export,
  services to a non-EU business) the cross-border regime decides; otherwise the product's
  category and the company's regime (franchise) decide.

Not covered (§3 leaves them out or flags them for verification): Corsica and overseas
(DOM) rates for companies established there, distance sales to EU consumers above the
EU-wide threshold (OSS), import VAT (self-assessed from the customs declaration), margin
schemes. ``FRENCH_CTC_RATES`` lists every rate a French e-invoice may carry, for
validating received invoices.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

__all__ = [
    "FRENCH_CTC_RATES",
    "VAT_ACCOUNTS",
    "Chargeability",
    "FiscalPosition",
    "Operation",
    "ReverseCharge",
    "Side",
    "TaxDecision",
    "VatCategory",
    "VatCode",
    "decide",
]

ZERO = Decimal("0")


class VatCategory(StrEnum):
    """The VAT category a product (or a free-text line) carries."""

    STANDARD = "standard"  # 20 %
    INTERMEDIATE = "intermediate"  # 10 %: restaurants, passenger transport, renovation works…
    REDUCED = "reduced"  # 5.5 %: food, books, energy-saving works…
    SUPER_REDUCED = "super_reduced"  # 2.1 %: reimbursed medicines, press
    EXEMPT_CARE_EDUCATION = "exempt_261_4"  # CGI art. 261-4: medical care, education, training
    EXEMPT_FINANCE = "exempt_261c_1"  # CGI art. 261 C 1°: banking and financial operations
    EXEMPT_INSURANCE = "exempt_261c_2"  # CGI art. 261 C 2°: insurance and reinsurance
    OUT_OF_SCOPE = "out_of_scope"  # not a supply for VAT purposes (damages, some subsidies)


class FiscalPosition(StrEnum):
    """Where the customer or supplier stands for VAT, set on the partner."""

    FRANCE = "france"
    EU_BUSINESS = "eu_business"  # established in another EU state, with a valid VAT number
    EU_CONSUMER = "eu_consumer"  # in another EU state without a VAT number (consumer, non-taxable)
    NON_EU = "non_eu"  # outside the EU: exports, services to foreign businesses
    FRANCE_REVERSE_CHARGE = "france_reverse_charge"  # domestic reverse charge (construction sub-contracting)


class Operation(StrEnum):
    GOODS = "goods"
    SERVICES = "services"


class Side(StrEnum):
    SALE = "sale"
    PURCHASE = "purchase"


class VatCode(StrEnum):
    """EN 16931 VAT category codes (UNTDID 5305), the ones BR-FR-15 allows."""

    STANDARD = "S"
    ZERO_RATED = "Z"  # no French operation is zero-rated; kept to read received invoices
    EXEMPT = "E"
    REVERSE_CHARGE = "AE"
    INTRA_EU = "K"
    EXPORT = "G"
    OUTSIDE_SCOPE = "O"


class Chargeability(StrEnum):
    """When the VAT becomes due (exigibilité), hence when it is declared or deducted."""

    DEBITS = "debits"  # on delivery or invoicing
    RECEIPTS = "receipts"  # when the price is paid (services by default)


RATES: dict[VatCategory, Decimal] = {
    VatCategory.STANDARD: Decimal("20"),
    VatCategory.INTERMEDIATE: Decimal("10"),
    VatCategory.REDUCED: Decimal("5.5"),
    VatCategory.SUPER_REDUCED: Decimal("2.1"),
}
"""Mainland rates in percent; every other category carries 0."""

FRENCH_CTC_RATES: frozenset[Decimal] = frozenset(
    Decimal(r)
    for r in ("0", "0.9", "1.05", "1.75", "2.1", "5.5", "7", "8.5", "9.2", "9.6", "10", "13", "19.6", "20", "20.6")
)
"""Rates the French CTC schematron accepts (BT-96/103/119/152), old ones included."""

# PCG accounts (numbers as in the PCG; a chart that pads numbers keeps these as prefixes).
SALES_GOODS = "707"
SALES_SERVICES = "706"
PURCHASES_GOODS = "607"
PURCHASES_SERVICES = "604"
VAT_COLLECTED = "44571"
VAT_COLLECTED_WAITING = "44574"
VAT_DEDUCTIBLE = "44566"
VAT_DEDUCTIBLE_WAITING = "44564"
VAT_DEDUCTIBLE_FIXED_ASSETS = "44562"
VAT_SELF_ASSESSED = "4452"
VAT_SELF_ASSESSED_DEDUCTIBLE = "445662"

VAT_ACCOUNTS: dict[str, str] = {
    VAT_SELF_ASSESSED: "TVA due autoliquidée (intracommunautaire et autres autoliquidations)",
    VAT_DEDUCTIBLE_FIXED_ASSETS: "TVA déductible sur immobilisations",
    VAT_DEDUCTIBLE_WAITING: "TVA déductible en attente (prestations payées à régler)",
    VAT_DEDUCTIBLE: "TVA déductible sur autres biens et services",
    VAT_SELF_ASSESSED_DEDUCTIBLE: "TVA déductible autoliquidée",
    VAT_COLLECTED: "TVA collectée",
    VAT_COLLECTED_WAITING: "TVA collectée en attente d'encaissement (prestations)",
}
"""Every VAT account ``decide`` can return, with its chart label: the chart must hold them."""

OPTION_DEBITS_MENTION = "Option pour le paiement de la taxe d'après les débits"


@dataclass(frozen=True, slots=True)
class _Exemption:
    vatex: str
    mention: str
    explanation: str | Promise


_FRANCHISE = _Exemption(
    "VATEX-FR-FRANCHISE",
    "TVA non applicable, art. 293 B du CGI",
    _("VAT franchise for small businesses: no VAT is charged (CGI art. 293 B)."),
)
_CATEGORY_EXEMPTIONS: dict[VatCategory, _Exemption] = {
    VatCategory.EXEMPT_CARE_EDUCATION: _Exemption(
        "VATEX-FR-CGI261-4",
        "Exonération de TVA, article 261-4 du CGI",
        _("Exempt from VAT: medical care, education or training (CGI art. 261-4)."),
    ),
    VatCategory.EXEMPT_FINANCE: _Exemption(
        "VATEX-FR-CGI261C-1",
        "Exonération de TVA, article 261 C 1° du CGI",
        _("Exempt from VAT: banking and financial operation (CGI art. 261 C 1°)."),
    ),
    VatCategory.EXEMPT_INSURANCE: _Exemption(
        "VATEX-FR-CGI261C-2",
        "Exonération de TVA, article 261 C 2° du CGI",
        _("Exempt from VAT: insurance or reinsurance operation (CGI art. 261 C 2°)."),
    ),
}
_OUT_OF_SCOPE = _Exemption(
    "VATEX-EU-O",
    "Opération non soumise à la TVA",
    _("Not a supply for VAT purposes: no VAT. An invoice cannot mix such lines with taxed ones (EN 16931 BR-O)."),
)
_INTRA_EU_GOODS = _Exemption(
    "VATEX-EU-IC",
    "Exonération de TVA, article 262 ter I du CGI",
    _(
        "Intra-EU supply of goods to a business with a valid VAT number: exempt in France "
        "(CGI art. 262 ter I). Both VAT numbers go on the invoice; declare it in the EU recapitulative statement."
    ),
)
_EU_SERVICES = _Exemption(
    "VATEX-EU-AE",
    "Autoliquidation",
    _(
        "Service to a business in another EU state: VAT is due by the customer there (reverse charge, "
        "CGI art. 259-1 and 283-2). Print the customer's VAT number; declare it in the DES."
    ),
)
_EXPORT_GOODS = _Exemption(
    "VATEX-EU-G",
    "Exonération de TVA, article 262 I du CGI",
    _("Export of goods outside the EU: exempt (CGI art. 262 I). Keep the customs proof of exit."),
)
_NON_EU_SERVICES = _Exemption(
    "VATEX-EU-G",
    "TVA non applicable, article 259-1 du CGI",
    _("Service to a business outside the EU: taxable where the customer is established, no French VAT."),
)
_DOMESTIC_REVERSE_CHARGE = _Exemption(
    "VATEX-FR-AE",
    "Autoliquidation",
    _("Domestic reverse charge (construction sub-contracting, CGI art. 283-2 nonies): the customer pays the VAT."),
)


@dataclass(frozen=True, slots=True)
class ReverseCharge:
    """The two legs a buyer books when it self-assesses VAT (autoliquidation).

    Same amount on both legs: ``base × rate / 100``. ``deductible_account`` is ``None``
    when the buyer may not deduct (VAT franchise): the self-assessed VAT is then a cost.
    """

    rate: Decimal
    collected_account: str
    deductible_account: str | None


@dataclass(frozen=True, slots=True)
class TaxDecision:
    """What to charge, print and book for one invoice or bill line.

    * ``code`` / ``rate``: EN 16931 category (BT-151) and rate in percent (BT-152) as they
      appear on the invoice. Every code but S carries rate 0.
    * ``exemption_code`` / ``mention``: VATEX code (BT-121) and legal text (BT-120), set for
      every code but S. ``mentions`` is everything the invoice must print for this line's
      regime (the exemption text, or the débits option), ``explanation`` the translated
      sentence for the interface.
    * ``chargeability``: when the invoiced VAT (or the self-assessed VAT) becomes due;
      ``None`` when there is none.
    * ``base_account``: default revenue or expense account when the product names none
      (``None`` for fixed assets: the asset's own class 2 account).
    * ``vat_account``: where the invoiced VAT is booked when the invoice is posted;
      ``settled_vat_account``: where it moves when the invoice is paid (VAT on receipts
      only). ``None`` when no VAT is invoiced, or when the buyer cannot deduct it
      (franchise: the VAT stays in the expense).
    * ``reverse_charge``: the self-assessment legs on purchases, ``None`` otherwise.
    * ``buyer_vat_id_required``: the invoice must show the customer's EU VAT number.
    """

    code: VatCode
    rate: Decimal
    exemption_code: str | None
    mention: str | None
    mentions: tuple[str, ...]
    explanation: str | Promise
    chargeability: Chargeability | None
    base_account: str | None
    vat_account: str | None
    settled_vat_account: str | None
    reverse_charge: ReverseCharge | None
    buyer_vat_id_required: bool

    @property
    def charges_vat(self) -> bool:
        """True when the invoice itself carries VAT (category S)."""
        return self.code is VatCode.STANDARD


def decide(
    category: VatCategory,
    fiscal_position: FiscalPosition,
    operation: Operation,
    side: Side | str = Side.SALE,
    option_debits: bool = False,
    *,
    franchise: bool = False,
    fixed_asset: bool = False,
) -> TaxDecision:
    """Decide the VAT treatment of one line.

    ``side`` is the company's side: ``sale`` (we issue the invoice, ``fiscal_position`` is
    the customer's) or ``purchase`` (we receive it, ``fiscal_position`` is the supplier's).
    ``option_debits`` is the issuer's option to pay VAT on services when invoicing rather
    than when paid: ours on a sale, the supplier's (printed on its invoice) on a purchase.
    ``franchise``: our company is under the franchise en base (CGI art. 293 B) — its sales
    carry no VAT and it deducts none. ``fixed_asset``: the purchase is a fixed asset (VAT
    deducted on 44562). Never raises for valid enum values.
    """
    side = Side(side)
    category = VatCategory(category)
    fiscal_position = FiscalPosition(fiscal_position)
    operation = Operation(operation)
    if side is Side.SALE:
        return _decide_sale(category, fiscal_position, operation, option_debits, franchise)
    return _decide_purchase(category, fiscal_position, operation, option_debits, franchise, fixed_asset)


def _is_exempt(category: VatCategory) -> bool:
    return category not in RATES


def _untaxed(
    code: VatCode,
    exemption: _Exemption,
    base_account: str | None,
    *,
    buyer_vat_id_required: bool = False,
    reverse_charge: ReverseCharge | None = None,
    chargeability: Chargeability | None = None,
) -> TaxDecision:
    return TaxDecision(
        code=code,
        rate=ZERO,
        exemption_code=exemption.vatex,
        mention=exemption.mention,
        mentions=(exemption.mention,),
        explanation=exemption.explanation,
        chargeability=chargeability,
        base_account=base_account,
        vat_account=None,
        settled_vat_account=None,
        reverse_charge=reverse_charge,
        buyer_vat_id_required=buyer_vat_id_required,
    )


def _chargeability(operation: Operation, option_debits: bool) -> Chargeability:
    if operation is Operation.SERVICES and not option_debits:
        return Chargeability.RECEIPTS
    return Chargeability.DEBITS


def _decide_sale(
    category: VatCategory,
    position: FiscalPosition,
    operation: Operation,
    option_debits: bool,
    franchise: bool,
) -> TaxDecision:
    goods = operation is Operation.GOODS
    revenue = SALES_GOODS if goods else SALES_SERVICES
    if category is VatCategory.OUT_OF_SCOPE:
        return _untaxed(VatCode.OUTSIDE_SCOPE, _OUT_OF_SCOPE, revenue)
    if position is FiscalPosition.EU_BUSINESS:
        if goods:
            return _untaxed(VatCode.INTRA_EU, _INTRA_EU_GOODS, revenue, buyer_vat_id_required=True)
        return _untaxed(VatCode.REVERSE_CHARGE, _EU_SERVICES, revenue, buyer_vat_id_required=True)
    if position is FiscalPosition.NON_EU:
        return _untaxed(VatCode.EXPORT, _EXPORT_GOODS if goods else _NON_EU_SERVICES, revenue)
    if position is FiscalPosition.FRANCE_REVERSE_CHARGE:
        return _untaxed(VatCode.REVERSE_CHARGE, _DOMESTIC_REVERSE_CHARGE, revenue)
    # Taxable in France: FRANCE, and EU consumers (B2C: place of supply of the seller).
    if franchise:
        return _untaxed(VatCode.EXEMPT, _FRANCHISE, revenue)
    if _is_exempt(category):
        return _untaxed(VatCode.EXEMPT, _CATEGORY_EXEMPTIONS[category], revenue)
    chargeability = _chargeability(operation, option_debits)
    on_receipts = chargeability is Chargeability.RECEIPTS
    opted = not goods and option_debits
    return TaxDecision(
        code=VatCode.STANDARD,
        rate=RATES[category],
        exemption_code=None,
        mention=None,
        mentions=(OPTION_DEBITS_MENTION,) if opted else (),
        explanation=_("VAT due when the customer pays (services).")
        if on_receipts
        else _("VAT due on delivery or invoicing."),
        chargeability=chargeability,
        base_account=revenue,
        vat_account=VAT_COLLECTED_WAITING if on_receipts else VAT_COLLECTED,
        settled_vat_account=VAT_COLLECTED if on_receipts else None,
        reverse_charge=None,
        buyer_vat_id_required=False,
    )


def _decide_purchase(
    category: VatCategory,
    position: FiscalPosition,
    operation: Operation,
    option_debits: bool,
    franchise: bool,
    fixed_asset: bool,
) -> TaxDecision:
    goods = operation is Operation.GOODS
    expense = None if fixed_asset else (PURCHASES_GOODS if goods else PURCHASES_SERVICES)
    deductible = VAT_DEDUCTIBLE_FIXED_ASSETS if fixed_asset else VAT_DEDUCTIBLE
    if category is VatCategory.OUT_OF_SCOPE:
        return _untaxed(VatCode.OUTSIDE_SCOPE, _OUT_OF_SCOPE, expense)

    def self_assessed(code: VatCode, exemption: _Exemption, explanation: str | Promise) -> TaxDecision:
        if _is_exempt(category):
            # An operation exempt in France stays exempt when acquired: nothing to self-assess.
            return _with_explanation(
                _untaxed(code, exemption, expense), _("Exempt operation bought abroad: nothing to self-assess.")
            )
        legs = ReverseCharge(
            rate=RATES[category],
            collected_account=VAT_SELF_ASSESSED,
            deductible_account=None
            if franchise
            else (VAT_DEDUCTIBLE_FIXED_ASSETS if fixed_asset else VAT_SELF_ASSESSED_DEDUCTIBLE),
        )
        decision = _untaxed(code, exemption, expense, reverse_charge=legs, chargeability=Chargeability.DEBITS)
        return _with_explanation(decision, explanation)

    if position is FiscalPosition.EU_BUSINESS:
        if goods:
            return self_assessed(
                VatCode.INTRA_EU,
                _INTRA_EU_GOODS,
                _("Intra-EU acquisition of goods: we self-assess the French VAT (collected and deductible)."),
            )
        return self_assessed(
            VatCode.REVERSE_CHARGE,
            _EU_SERVICES,
            _("Service bought from an EU business: we self-assess the French VAT (collected and deductible)."),
        )
    if position is FiscalPosition.NON_EU:
        if goods:
            return _with_explanation(
                _untaxed(VatCode.EXPORT, _EXPORT_GOODS, expense),
                _("Import of goods: the import VAT comes from the customs declaration, not from this bill."),
            )
        return self_assessed(
            VatCode.REVERSE_CHARGE,
            _EU_SERVICES,
            _("Service bought from a business outside the EU: we self-assess the French VAT (CGI art. 283-1)."),
        )
    if position is FiscalPosition.FRANCE_REVERSE_CHARGE:
        return self_assessed(
            VatCode.REVERSE_CHARGE,
            _DOMESTIC_REVERSE_CHARGE,
            _("Domestic reverse charge: we self-assess the VAT (CGI art. 283-2 nonies)."),
        )
    if position is FiscalPosition.EU_CONSUMER:
        # A non-taxable seller (private person) charges no VAT; any foreign VAT is a cost.
        return _with_explanation(
            _untaxed(VatCode.OUTSIDE_SCOPE, _OUT_OF_SCOPE, expense),
            _("Bought from a non-taxable person: no VAT to deduct."),
        )
    if _is_exempt(category):
        return _untaxed(VatCode.EXEMPT, _CATEGORY_EXEMPTIONS[category], expense)
    chargeability = _chargeability(operation, option_debits)
    on_receipts = chargeability is Chargeability.RECEIPTS
    if franchise:
        vat_account = settled = None
        explanation: str | Promise = _("VAT franchise: the VAT paid is not deductible and stays in the cost.")
    elif on_receipts:
        vat_account, settled = VAT_DEDUCTIBLE_WAITING, deductible
        explanation = _("VAT deductible once the supplier is paid (services).")
    else:
        vat_account, settled = deductible, None
        explanation = _("VAT deductible on receipt of the invoice.")
    return TaxDecision(
        code=VatCode.STANDARD,
        rate=RATES[category],
        exemption_code=None,
        mention=None,
        mentions=(OPTION_DEBITS_MENTION,) if not goods and option_debits else (),
        explanation=explanation,
        chargeability=chargeability,
        base_account=expense,
        vat_account=vat_account,
        settled_vat_account=settled,
        reverse_charge=None,
        buyer_vat_id_required=False,
    )


def _with_explanation(decision: TaxDecision, explanation: str | Promise) -> TaxDecision:
    return replace(decision, explanation=explanation)

"""EN 16931 totals, computed so that the validation rules hold by construction.

The algorithm (COMPLIANCE-FR §7.5):

1. each line's net amount BT-131 = round(quantity × net price − discount, 2);
2. BT-106 = Σ BT-131; BT-107 / BT-108 = Σ document allowances / charges;
   BT-109 = BT-106 − BT-107 + BT-108 (BR-CO-10…13);
3. VAT breakdown per (category, rate): base BT-116 = Σ line nets + charges − allowances
   of that group, tax BT-117 = round(base × rate / 100, 2) — rounded once per rate, never
   per line (BR-CO-17, BR-S-08/09);
4. BT-110 = Σ BT-117; BT-112 = BT-109 + BT-110; BT-115 = BT-112 − BT-113 + BT-114
   (BR-CO-14…16).

Rounding is ROUND_HALF_UP (half away from zero), the project's one policy
(``kernel.money.quantize``), so the PDF, the XML and the ledger agree to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from comptoir.accounting.einvoice.model import (
    DEFAULT_EXEMPTIONS,
    EXEMPT_CATEGORIES,
    ZERO,
    AllowanceCharge,
    InvoiceDocument,
    InvoiceLine,
    VatCategory,
)
from comptoir.kernel.money import quantize

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class VatBreakdown:
    """BG-23: one VAT category and rate, its taxable base and its tax."""

    category: VatCategory
    rate: Decimal
    basis: Decimal  # BT-116
    tax: Decimal  # BT-117
    exemption_reason: str = ""  # BT-120
    exemption_code: str = ""  # BT-121


@dataclass(frozen=True, slots=True)
class LineAmounts:
    """What a line contributes: the discount actually granted and the net amount BT-131."""

    line_id: str
    gross: Decimal  # quantity × net price, to the cent (the base of a percent discount)
    discount: Decimal  # BT-136, 2 decimals
    net: Decimal  # BT-131, 2 decimals


@dataclass(frozen=True, slots=True)
class Totals:
    """BG-22 document totals and the BG-23 VAT breakdown."""

    lines: tuple[LineAmounts, ...]
    line_total: Decimal  # BT-106
    allowance_total: Decimal  # BT-107
    charge_total: Decimal  # BT-108
    tax_basis_total: Decimal  # BT-109
    tax_total: Decimal  # BT-110
    grand_total: Decimal  # BT-112
    prepaid: Decimal  # BT-113
    rounding: Decimal  # BT-114
    due_payable: Decimal  # BT-115
    vat_breakdown: tuple[VatBreakdown, ...]

    def line(self, line_id: str) -> LineAmounts:
        return next(amounts for amounts in self.lines if amounts.line_id == line_id)


def line_amounts(line: InvoiceLine) -> LineAmounts:
    """BT-131 for one line: quantity × price less its discount, rounded once to the cent.

    A percent discount applies to quantity × price rounded to the cent, the base written
    beside it in the XML (BT-137), so base × percent gives back the discount.
    """
    exact = line.quantity * line.net_unit_price
    gross = quantize(exact)
    if line.discount_percent is not None:
        discount = quantize(gross * line.discount_percent / HUNDRED)
    else:
        discount = line.discount_amount
    return LineAmounts(line_id=line.line_id, gross=gross, discount=discount, net=quantize(exact - discount))


def compute_totals(document: InvoiceDocument) -> Totals:
    """Every document total and the VAT breakdown of ``document``."""
    return compute(
        document.lines,
        document.allowances_charges,
        prepaid=document.prepaid_amount,
        rounding=document.rounding_amount,
    )


def compute(
    lines: Iterable[InvoiceLine],
    allowances_charges: Iterable[AllowanceCharge] = (),
    *,
    prepaid: Decimal = ZERO,
    rounding: Decimal = ZERO,
) -> Totals:
    """The EN 16931 computation on bare lines and document allowances/charges."""
    line_list = tuple(lines)
    adjustments = tuple(allowances_charges)
    amounts = tuple(line_amounts(line) for line in line_list)

    # Group bases by (category, rate); the exemption reason belongs to the group.
    bases: dict[tuple[VatCategory, Decimal], Decimal] = {}
    exemptions: dict[tuple[VatCategory, Decimal], tuple[str, str]] = {}

    def add(category: VatCategory, rate: Decimal, amount: Decimal, reason: str, code: str) -> None:
        key = (VatCategory(category), rate.normalize())
        bases[key] = bases.get(key, ZERO) + amount
        if reason or code:
            known = exemptions.setdefault(key, (reason, code))
            if known != (reason, code):
                raise ValueError(
                    f"lines with VAT category {category} at {rate} % give different exemption reasons: "
                    f"{known} and {(reason, code)}; one breakdown carries one reason"
                )

    for line, line_amount in zip(line_list, amounts, strict=True):
        add(line.vat_category, line.vat_rate, line_amount.net, line.vat_exemption_reason, line.vat_exemption_code)
    for adjustment in adjustments:
        signed = adjustment.amount if adjustment.is_charge else -adjustment.amount
        add(
            adjustment.vat_category,
            adjustment.vat_rate,
            signed,
            adjustment.vat_exemption_reason,
            adjustment.vat_exemption_code,
        )

    breakdown = []
    for (category, rate), basis in sorted(bases.items(), key=_breakdown_order):
        reason, code = exemptions.get((category, rate), ("", ""))
        if category in EXEMPT_CATEGORIES and not (reason or code):
            reason, code = DEFAULT_EXEMPTIONS.get(category, ("", ""))
        if category == VatCategory.EXEMPT and not (reason or code):
            raise ValueError("an exempt (E) line needs its legal exemption reason (BR-E-10)")
        tax = quantize(basis * rate / HUNDRED)
        breakdown.append(
            VatBreakdown(
                category=category,
                rate=quantize(rate),
                basis=quantize(basis),
                tax=tax,
                exemption_reason=reason,
                exemption_code=code,
            )
        )

    line_total = sum((a.net for a in amounts), ZERO)
    allowance_total = sum((a.amount for a in adjustments if not a.is_charge), ZERO)
    charge_total = sum((a.amount for a in adjustments if a.is_charge), ZERO)
    tax_basis_total = line_total - allowance_total + charge_total
    tax_total = sum((b.tax for b in breakdown), ZERO)
    grand_total = tax_basis_total + tax_total
    return Totals(
        lines=amounts,
        line_total=quantize(line_total),
        allowance_total=quantize(allowance_total),
        charge_total=quantize(charge_total),
        tax_basis_total=quantize(tax_basis_total),
        tax_total=quantize(tax_total),
        grand_total=quantize(grand_total),
        prepaid=quantize(prepaid),
        rounding=quantize(rounding),
        due_payable=quantize(grand_total - prepaid + rounding),
        vat_breakdown=tuple(breakdown),
    )


def _breakdown_order(item: tuple[tuple[VatCategory, Decimal], Decimal]) -> tuple[int, Decimal]:
    """Standard rates first, highest rate first, then the other categories in a stable order."""
    (category, rate), _ = item
    return (list(VatCategory).index(category), -rate)

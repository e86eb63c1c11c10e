"""EN 16931 totals: worked examples and properties that must hold for any invoice."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comptoir.accounting.einvoice.model import AllowanceCharge, InvoiceLine, VatCategory
from comptoir.accounting.einvoice.tests import samples
from comptoir.accounting.einvoice.totals import compute, compute_totals, line_amounts

S = VatCategory.STANDARD
CENT = D("0.01")


def test_standard_invoice_totals_worked_by_hand():
    totals = compute_totals(samples.standard_invoice())
    # 3 × 333.33 = 999.99, 5 % = 49.9995 → 50.00, net 949.99
    assert totals.line("1").discount == D("50.00")
    assert totals.line("1").net == D("949.99")
    # 2.5 h × 65 = 162.50
    assert totals.line("2").net == D("162.50")
    # 12.345 × 1.2345 = 15.2399025, − 0.50 = 14.7399025 → 14.74
    assert totals.line("3").net == D("14.74")
    assert totals.line_total == D("1197.16")
    assert (totals.allowance_total, totals.charge_total) == (D("10.00"), D("15.00"))
    assert totals.tax_basis_total == D("1202.16")
    by_rate = {b.rate: (b.basis, b.tax) for b in totals.vat_breakdown}
    # 20 %: 949.99 + 69.93 − 10 + 15 = 1024.92 → 204.984 → 204.98
    assert by_rate == {
        D("20.00"): (D("1024.92"), D("204.98")),
        D("10.00"): (D("162.50"), D("16.25")),
        D("5.50"): (D("14.74"), D("0.81")),
    }
    assert totals.tax_total == D("222.04")
    assert totals.grand_total == D("1424.20")
    assert totals.due_payable == D("1424.20")


def test_vat_is_rounded_once_per_rate_not_per_line():
    # Three lines of 0.05 at 10 %: per-line VAT would be 3 × 0.01 = 0.03; on the base it is 0.02.
    lines = [
        InvoiceLine(str(i), "Vis", quantity=D("1"), net_unit_price=D("0.05"), vat_category=S, vat_rate=D("10"))
        for i in range(3)
    ]
    totals = compute(lines)
    assert totals.vat_breakdown[0].basis == D("0.15")
    assert totals.vat_breakdown[0].tax == D("0.02")  # 0.015 half-up


def test_half_up_rounding_away_from_zero_for_negative_lines():
    line = InvoiceLine("1", "Reprise", quantity=D("-1"), net_unit_price=D("0.125"), vat_category=S, vat_rate=D("20"))
    assert line_amounts(line).net == D("-0.13")


def test_prepaid_and_rounding_amounts_change_only_the_amount_due():
    line = InvoiceLine(
        "1", "Acompte déduit", quantity=D("1"), net_unit_price=D("100"), vat_category=S, vat_rate=D("20")
    )
    totals = compute([line], prepaid=D("50.00"), rounding=D("0.01"))
    assert totals.grand_total == D("120.00")
    assert totals.due_payable == D("70.01")


def test_exempt_line_without_reason_is_refused():
    line = InvoiceLine(
        "1", "Formation", quantity=D("1"), net_unit_price=D("100"), vat_category=VatCategory.EXEMPT, vat_rate=D("0")
    )
    with pytest.raises(ValueError, match="BR-E-10"):
        compute([line])


def test_one_breakdown_cannot_carry_two_exemption_reasons():
    def line(i: str, reason: str) -> InvoiceLine:
        return InvoiceLine(
            i,
            "x",
            quantity=D("1"),
            net_unit_price=D("1"),
            vat_category=VatCategory.EXEMPT,
            vat_rate=D("0"),
            vat_exemption_reason=reason,
        )

    with pytest.raises(ValueError, match="different exemption reasons"):
        compute([line("1", "art. 261 A"), line("2", "art. 261 B")])


def test_model_refuses_floats_three_decimal_amounts_and_wrong_rates():
    with pytest.raises(TypeError):
        InvoiceLine("1", "x", quantity=1.0, net_unit_price=D("1"), vat_category=S, vat_rate=D("20"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 decimals"):
        AllowanceCharge(D("1.005"), S, D("20"), reason="Remise")
    with pytest.raises(ValueError, match="BR-S-05"):
        InvoiceLine("1", "x", quantity=D("1"), net_unit_price=D("1"), vat_category=S, vat_rate=D("0"))
    with pytest.raises(ValueError, match="zero rate"):
        InvoiceLine(
            "1", "x", quantity=D("1"), net_unit_price=D("1"), vat_category=VatCategory.INTRA_EU, vat_rate=D("20")
        )


# ---- properties -------------------------------------------------------------------------

RATES = [D("20"), D("10"), D("5.5"), D("2.1")]

quantities = st.decimals(min_value=D("-50"), max_value=D("1000"), places=3, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=D("0"), max_value=D("100000"), places=4, allow_nan=False, allow_infinity=False)
percents = st.one_of(st.none(), st.decimals(min_value=D("0"), max_value=D("100"), places=2))


@st.composite
def invoice_lines(draw: st.DrawFn) -> list[InvoiceLine]:
    count = draw(st.integers(min_value=1, max_value=8))
    lines = []
    for i in range(count):
        category = draw(st.sampled_from([S, S, S, VatCategory.REVERSE_CHARGE, VatCategory.ZERO_RATED]))
        rate = draw(st.sampled_from(RATES)) if category == S else D("0")
        lines.append(
            InvoiceLine(
                str(i + 1),
                "article",
                quantity=draw(quantities),
                net_unit_price=draw(prices),
                vat_category=category,
                vat_rate=rate,
                discount_percent=draw(percents),
            )
        )
    return lines


@st.composite
def adjustments(draw: st.DrawFn) -> list[AllowanceCharge]:
    result = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        result.append(
            AllowanceCharge(
                draw(st.decimals(min_value=D("0"), max_value=D("5000"), places=2)),
                S,
                draw(st.sampled_from(RATES)),
                reason="Remise" if draw(st.booleans()) else "Frais",
                is_charge=draw(st.booleans()),
            )
        )
    return result


@settings(max_examples=200, deadline=None)
@given(
    lines=invoice_lines(), extras=adjustments(), prepaid=st.decimals(min_value=D("0"), max_value=D("1000"), places=2)
)
def test_totals_satisfy_the_en16931_calculation_rules(lines, extras, prepaid):
    totals = compute(lines, extras, prepaid=prepaid)
    every_amount = [
        totals.line_total,
        totals.allowance_total,
        totals.charge_total,
        totals.tax_basis_total,
        totals.tax_total,
        totals.grand_total,
        totals.due_payable,
        *(a.net for a in totals.lines),
        *(b.basis for b in totals.vat_breakdown),
        *(b.tax for b in totals.vat_breakdown),
    ]
    # BR-DEC-*: every amount has exactly 2 decimals.
    assert all(amount == amount.quantize(CENT) for amount in every_amount)
    # BR-CO-10, 13: sums of the rounded values, nothing re-rounded on the way.
    assert totals.line_total == sum((a.net for a in totals.lines), D(0))
    assert totals.tax_basis_total == totals.line_total - totals.allowance_total + totals.charge_total
    # The breakdown partitions the taxable base (BR-S-08 and friends, summed).
    assert sum((b.basis for b in totals.vat_breakdown), D(0)) == totals.tax_basis_total
    # BR-CO-17: each rate's tax is its base × rate, rounded once, half up.
    for b in totals.vat_breakdown:
        exact = b.basis * b.rate / 100
        assert abs(b.tax - exact) <= D("0.005")
        assert b.tax == exact.quantize(CENT, rounding="ROUND_HALF_UP")
    # BR-CO-14, 15, 16.
    assert totals.tax_total == sum((b.tax for b in totals.vat_breakdown), D(0))
    assert totals.grand_total == totals.tax_basis_total + totals.tax_total
    assert totals.due_payable == totals.grand_total - prepaid
    # One breakdown per (category, rate).
    keys = [(b.category, b.rate) for b in totals.vat_breakdown]
    assert len(keys) == len(set(keys))


@settings(max_examples=100, deadline=None)
@given(lines=invoice_lines())
def test_each_line_net_is_quantity_times_price_less_discount_to_the_cent(lines):
    totals = compute(lines)
    for line, amounts in zip(lines, totals.lines, strict=True):
        exact = line.quantity * line.net_unit_price
        assert abs(amounts.net - (exact - amounts.discount)) <= D("0.005")
        if line.discount_percent is not None:
            assert amounts.gross == exact.quantize(CENT, rounding="ROUND_HALF_UP")
            assert amounts.discount == (amounts.gross * line.discount_percent / 100).quantize(
                CENT, rounding="ROUND_HALF_UP"
            )

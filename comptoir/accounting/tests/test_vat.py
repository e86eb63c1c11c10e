"""French VAT decisions (COMPLIANCE-FR §3): one row per case the note describes, plus properties."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comptoir.accounting import vat
from comptoir.accounting.vat import (
    Chargeability,
    FiscalPosition,
    Operation,
    ReverseCharge,
    Side,
    VatCategory,
    VatCode,
    decide,
)

STD, INT, RED, SUP = (VatCategory.STANDARD, VatCategory.INTERMEDIATE, VatCategory.REDUCED, VatCategory.SUPER_REDUCED)
CARE, INSURANCE = VatCategory.EXEMPT_CARE_EDUCATION, VatCategory.EXEMPT_INSURANCE
FR, EU, EUC, NON_EU, FR_RC = (
    FiscalPosition.FRANCE,
    FiscalPosition.EU_BUSINESS,
    FiscalPosition.EU_CONSUMER,
    FiscalPosition.NON_EU,
    FiscalPosition.FRANCE_REVERSE_CHARGE,
)
GOODS, SERVICES = Operation.GOODS, Operation.SERVICES
DEBITS, RECEIPTS = Chargeability.DEBITS, Chargeability.RECEIPTS
OPTION = "Option pour le paiement de la taxe d'après les débits"
D = Decimal


@dataclass(frozen=True)
class Inputs:
    category: VatCategory
    position: FiscalPosition
    operation: Operation
    side: Side
    option_debits: bool = False
    franchise: bool = False
    fixed_asset: bool = False


@dataclass(frozen=True)
class Expected:
    code: str
    rate: str
    base: str | None
    vat_account: str | None = None
    settled: str | None = None
    charge: Chargeability | None = None
    vatex: str | None = None
    mentions: tuple[str, ...] = ()
    rc: ReverseCharge | None = None
    vat_id: bool = False


def sale(category: VatCategory, position: FiscalPosition, operation: Operation, **kw: bool) -> Inputs:
    return Inputs(category, position, operation, Side.SALE, **kw)


def buy(category: VatCategory, position: FiscalPosition, operation: Operation, **kw: bool) -> Inputs:
    return Inputs(category, position, operation, Side.PURCHASE, **kw)


IC = "Exonération de TVA, article 262 ter I du CGI"
EXPORT = "Exonération de TVA, article 262 I du CGI"
AUTOLIQ = "Autoliquidation"
FRANCHISE = "TVA non applicable, art. 293 B du CGI"
NOT_SUBJECT = "Opération non soumise à la TVA"
RC_20 = ReverseCharge(D("20"), "4452", "445662")


def reason(vatex: str, mention: str) -> dict[str, Any]:
    return {"vatex": vatex, "mentions": (mention,)}


K = reason("VATEX-EU-IC", IC)
AE = reason("VATEX-EU-AE", AUTOLIQ)
AE_FR = reason("VATEX-FR-AE", AUTOLIQ)
G = reason("VATEX-EU-G", EXPORT)
O_ = reason("VATEX-EU-O", NOT_SUBJECT)
E_FRANCHISE = reason("VATEX-FR-FRANCHISE", FRANCHISE)


def exempt(vatex: str, article: str) -> dict[str, Any]:
    return reason(vatex, f"Exonération de TVA, article {article} du CGI")


CASES: dict[str, tuple[Inputs, Expected]] = {
    # §3.1 rates and §3.2 chargeability, domestic sales: D 411 / C 706-707 / C 44571 (§3.5).
    "fr-goods-20": (sale(STD, FR, GOODS), Expected("S", "20", "707", "44571", charge=DEBITS)),
    "fr-goods-10": (sale(INT, FR, GOODS), Expected("S", "10", "707", "44571", charge=DEBITS)),
    "fr-goods-5.5": (sale(RED, FR, GOODS), Expected("S", "5.5", "707", "44571", charge=DEBITS)),
    "fr-goods-2.1": (sale(SUP, FR, GOODS), Expected("S", "2.1", "707", "44571", charge=DEBITS)),
    # Services: on receipts by default; the waiting account moves to 44571 at payment (§3.5).
    "fr-services-receipts": (sale(STD, FR, SERVICES), Expected("S", "20", "706", "44574", "44571", RECEIPTS)),
    "fr-services-10-receipts": (sale(INT, FR, SERVICES), Expected("S", "10", "706", "44574", "44571", RECEIPTS)),
    # The débits option: VAT at invoicing, and the option printed on the invoice.
    "fr-services-debits": (
        sale(STD, FR, SERVICES, option_debits=True),
        Expected("S", "20", "706", "44571", charge=DEBITS, mentions=(OPTION,)),
    ),
    # The option concerns services; goods are on debits anyway and print nothing.
    "fr-goods-option": (sale(STD, FR, GOODS, option_debits=True), Expected("S", "20", "707", "44571", charge=DEBITS)),
    # EU consumers: taxable where the seller is (France), like a domestic sale.
    "eu-consumer-goods": (sale(STD, EUC, GOODS), Expected("S", "20", "707", "44571", charge=DEBITS)),
    "eu-consumer-services": (sale(RED, EUC, SERVICES), Expected("S", "5.5", "706", "44574", "44571", RECEIPTS)),
    # §3.3 intra-EU B2B goods: exempt (262 ter I), both VAT numbers.
    "eu-b2b-goods": (sale(STD, EU, GOODS), Expected("K", "0", "707", vat_id=True, **K)),
    # §3.3 B2B services to an EU business: no French VAT, "Autoliquidation", buyer VAT number.
    "eu-b2b-services": (sale(STD, EU, SERVICES), Expected("AE", "0", "706", vat_id=True, **AE)),
    # The place of supply abroad wins over a French exemption of the product.
    "eu-b2b-exempt-training": (sale(CARE, EU, SERVICES), Expected("AE", "0", "706", vat_id=True, **AE)),
    # §3.3 export of goods: exempt (262 I); services to a non-EU business: taxable abroad.
    "export-goods": (sale(STD, NON_EU, GOODS), Expected("G", "0", "707", **G)),
    "export-services": (
        sale(INT, NON_EU, SERVICES),
        Expected("G", "0", "706", vatex="VATEX-EU-G", mentions=("TVA non applicable, article 259-1 du CGI",)),
    ),
    # §3.3 domestic reverse charge (construction sub-contracting).
    "fr-reverse-charge": (sale(STD, FR_RC, SERVICES), Expected("AE", "0", "706", **AE_FR)),
    # §3.3 franchise en base: no VAT, art. 293 B mention.
    "franchise-goods": (sale(STD, FR, GOODS, franchise=True), Expected("E", "0", "707", **E_FRANCHISE)),
    "franchise-services": (sale(RED, EUC, SERVICES, franchise=True), Expected("E", "0", "706", **E_FRANCHISE)),
    # Exempt operations carry their legal basis (BR-E-10).
    "fr-exempt-care": (sale(CARE, FR, SERVICES), Expected("E", "0", "706", **exempt("VATEX-FR-CGI261-4", "261-4"))),
    "fr-exempt-finance": (
        sale(VatCategory.EXEMPT_FINANCE, FR, SERVICES),
        Expected("E", "0", "706", **exempt("VATEX-FR-CGI261C-1", "261 C 1°")),
    ),
    "fr-exempt-insurance": (
        sale(INSURANCE, FR, SERVICES),
        Expected("E", "0", "706", **exempt("VATEX-FR-CGI261C-2", "261 C 2°")),
    ),
    "out-of-scope": (sale(VatCategory.OUT_OF_SCOPE, EU, SERVICES), Expected("O", "0", "706", **O_)),
    # Purchases (§3.5): D 6xx + D 44566 / C 401.
    "buy-fr-goods": (buy(STD, FR, GOODS), Expected("S", "20", "607", "44566", charge=DEBITS)),
    "buy-fr-goods-5.5": (buy(RED, FR, GOODS), Expected("S", "5.5", "607", "44566", charge=DEBITS)),
    # §3.2: the buyer deducts once the supplier's VAT is chargeable, i.e. when it pays a service.
    "buy-fr-services": (buy(STD, FR, SERVICES), Expected("S", "20", "604", "44564", "44566", RECEIPTS)),
    "buy-fr-services-debits": (
        buy(STD, FR, SERVICES, option_debits=True),
        Expected("S", "20", "604", "44566", charge=DEBITS, mentions=(OPTION,)),
    ),
    # Fixed assets: 44562.
    "buy-fr-fixed-asset": (buy(STD, FR, GOODS, fixed_asset=True), Expected("S", "20", None, "44562", charge=DEBITS)),
    "buy-fr-fixed-asset-service": (
        buy(STD, FR, SERVICES, fixed_asset=True),
        Expected("S", "20", None, "44564", "44562", RECEIPTS),
    ),
    # Intra-EU purchase: D 607 + D 445662 / C 401 + C 4452 (§3.5), at the French rate of the goods.
    "buy-eu-goods": (buy(STD, EU, GOODS), Expected("K", "0", "607", charge=DEBITS, rc=RC_20, **K)),
    "buy-eu-goods-5.5": (
        buy(RED, EU, GOODS),
        Expected("K", "0", "607", charge=DEBITS, rc=ReverseCharge(D("5.5"), "4452", "445662"), **K),
    ),
    "buy-eu-services": (buy(STD, EU, SERVICES), Expected("AE", "0", "604", charge=DEBITS, rc=RC_20, **AE)),
    "buy-eu-fixed-asset": (
        buy(STD, EU, GOODS, fixed_asset=True),
        Expected("K", "0", None, charge=DEBITS, rc=ReverseCharge(D("20"), "4452", "44562"), **K),
    ),
    "buy-eu-exempt": (buy(VatCategory.EXEMPT_FINANCE, EU, SERVICES), Expected("AE", "0", "604", **AE)),
    # Services from outside the EU: the French buyer self-assesses too.
    "buy-non-eu-services": (
        buy(INT, NON_EU, SERVICES),
        Expected("AE", "0", "604", charge=DEBITS, rc=ReverseCharge(D("10"), "4452", "445662"), **AE),
    ),
    # Imports: the customs declaration carries the import VAT, the bill none.
    "buy-import-goods": (buy(STD, NON_EU, GOODS), Expected("G", "0", "607", **G)),
    "buy-fr-reverse-charge": (buy(STD, FR_RC, SERVICES), Expected("AE", "0", "604", charge=DEBITS, rc=RC_20, **AE_FR)),
    "buy-private-seller": (buy(STD, EUC, GOODS), Expected("O", "0", "607", **O_)),
    "buy-fr-exempt": (
        buy(INSURANCE, FR, SERVICES),
        Expected("E", "0", "604", **exempt("VATEX-FR-CGI261C-2", "261 C 2°")),
    ),
    # A company under franchise deducts nothing: the VAT it pays stays in the cost…
    "buy-franchise": (buy(STD, FR, GOODS, franchise=True), Expected("S", "20", "607", charge=DEBITS)),
    # …and it still self-assesses on EU services, without deduction.
    "buy-franchise-eu-services": (
        buy(STD, EU, SERVICES, franchise=True),
        Expected("AE", "0", "604", charge=DEBITS, rc=ReverseCharge(D("20"), "4452", None), **AE),
    ),
}


def _decide(i: Inputs) -> vat.TaxDecision:
    return decide(
        i.category,
        i.position,
        i.operation,
        side=i.side,
        option_debits=i.option_debits,
        franchise=i.franchise,
        fixed_asset=i.fixed_asset,
    )


@pytest.mark.parametrize(("inputs", "expected"), CASES.values(), ids=CASES.keys())
def test_decide_table(inputs: Inputs, expected: Expected) -> None:
    got = _decide(inputs)
    assert (got.code, got.rate) == (VatCode(expected.code), D(expected.rate))
    assert got.exemption_code == expected.vatex
    assert got.mentions == expected.mentions
    assert got.chargeability == expected.charge
    assert got.base_account == expected.base
    assert got.vat_account == expected.vat_account
    assert got.settled_vat_account == expected.settled
    assert got.reverse_charge == expected.rc
    assert got.buyer_vat_id_required == expected.vat_id
    assert str(got.explanation)


def test_side_accepts_plain_strings() -> None:
    assert decide(STD, FR, GOODS, side="purchase").vat_account == "44566"
    assert decide(STD, FR, GOODS, "sale").vat_account == "44571"


def test_every_account_decide_returns_is_listed_for_the_chart() -> None:
    seen: set[str] = set()
    for inputs, _expected in CASES.values():
        d = _decide(inputs)
        seen |= {a for a in (d.vat_account, d.settled_vat_account) if a}
        if d.reverse_charge:
            seen |= {a for a in (d.reverse_charge.collected_account, d.reverse_charge.deductible_account) if a}
    assert seen == set(vat.VAT_ACCOUNTS)


def test_mainland_rates_are_accepted_by_the_french_ctc() -> None:
    assert set(vat.RATES.values()) <= vat.FRENCH_CTC_RATES
    assert D("0") in vat.FRENCH_CTC_RATES


VATEX_BY_CODE = {
    VatCode.REVERSE_CHARGE: {"VATEX-EU-AE", "VATEX-FR-AE"},
    VatCode.INTRA_EU: {"VATEX-EU-IC"},
    VatCode.EXPORT: {"VATEX-EU-G"},
    VatCode.OUTSIDE_SCOPE: {"VATEX-EU-O"},
}


@given(
    category=st.sampled_from(VatCategory),
    position=st.sampled_from(FiscalPosition),
    operation=st.sampled_from(Operation),
    side=st.sampled_from(Side),
    option_debits=st.booleans(),
    franchise=st.booleans(),
    fixed_asset=st.booleans(),
)
def test_decide_is_total_and_consistent(
    category: VatCategory,
    position: FiscalPosition,
    operation: Operation,
    side: Side,
    option_debits: bool,
    franchise: bool,
    fixed_asset: bool,
) -> None:
    d = decide(category, position, operation, side, option_debits, franchise=franchise, fixed_asset=fixed_asset)
    # (rate, code): only S carries a rate, and that rate is a French one; every other code is 0 with a reason.
    if d.code is VatCode.STANDARD:
        assert d.rate in vat.RATES.values()
        assert d.exemption_code is None and d.mention is None
        assert d.chargeability is not None
        assert d.reverse_charge is None
    else:
        assert d.rate == 0
        assert d.exemption_code and d.mention and d.mention in d.mentions
        assert d.vat_account is None and d.settled_vat_account is None
    assert d.code is not VatCode.ZERO_RATED
    assert d.rate in vat.FRENCH_CTC_RATES
    if d.code is VatCode.EXEMPT:
        assert d.exemption_code is not None and d.exemption_code.startswith("VATEX-FR-")
    elif d.code in VATEX_BY_CODE:
        assert d.exemption_code in VATEX_BY_CODE[d.code]
    # Reverse-charge legs only on purchases, only at a French rate, never both deductible and under franchise.
    if d.reverse_charge:
        assert side is Side.PURCHASE and d.code in {VatCode.REVERSE_CHARGE, VatCode.INTRA_EU}
        assert d.reverse_charge.rate in vat.RATES.values()
        assert d.reverse_charge.collected_account == "4452"
        assert (d.reverse_charge.deductible_account is None) == franchise
        assert d.chargeability is Chargeability.DEBITS
    # Receipts only for services taxed in France without the option, with a waiting account that settles.
    if d.chargeability is Chargeability.RECEIPTS:
        assert operation is Operation.SERVICES and not option_debits
        assert (d.vat_account is None) == (d.settled_vat_account is None)
    else:
        assert d.settled_vat_account is None
    if side is Side.SALE:
        assert d.base_account in {"706", "707"}
        assert not franchise or d.code is not VatCode.STANDARD
    else:
        assert (d.base_account is None) == fixed_asset
        if franchise:
            assert d.vat_account is None

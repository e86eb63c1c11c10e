"""The pricing engine: which rule wins (table of examples), exact units, one rounding, explanations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comptoir.catalog import pricing, services, units
from comptoir.catalog.pricing import Step, apply_discount, apply_discounts, line_amount
from comptoir.kernel.errors import NotFound, ValidationFailed

from .conftest import Catalog

pytestmark = pytest.mark.django_db

# Two customers (contacts organizations: catalog keeps their ids), created first by ``book``.
CUSTOMER = "wholesaler"
OTHER_CUSTOMER = "martin"


@pytest.fixture
def book(catalog: Catalog) -> SimpleNamespace:
    """List price 100.00 (per unit); a general list, a wholesale group list with breaks, a customer list."""
    actor = catalog.actor()
    customers = {CUSTOMER: catalog.organization("Grossiste Durand"), OTHER_CUSTOMER: catalog.organization()}
    ovens = services.category_create(actor=actor, name="Fours")
    deck = services.category_create(actor=actor, name="À sole", parent_id=ovens.pk)
    product = catalog.product("FOUR", category_id=deck.pk, sale_price="100.00")
    other = catalog.product("PETRIN", sale_price="40.00")
    group = services.customer_group_create(actor=actor, name="Wholesale")
    services.customer_group_add(actor=actor, group_id=group.pk, organization_id=customers[CUSTOMER])
    general = services.price_list_create(actor=actor, name="Public")
    wholesale = services.price_list_create(actor=actor, name="Wholesale", customer_group_id=group.pk, priority=20)
    breaks = services.price_list_create(actor=actor, name="Wholesale breaks", customer_group_id=group.pk)
    rule = services.rule_create
    rule(actor=actor, price_list_id=general.pk, target="all", discount_percent="2")
    rule(actor=actor, price_list_id=general.pk, target="category", category_id=ovens.pk, discount_percent="3")
    rule(actor=actor, price_list_id=general.pk, target="all", min_quantity="100", discount_percent="20",
         valid_to=dt.date(2020, 12, 31))  # fmt: skip
    rule(actor=actor, price_list_id=wholesale.pk, target="all", discount_percent="10")
    rule(actor=actor, price_list_id=breaks.pk, target="all", min_quantity="10", method="price_list",
         base_price_list_id=wholesale.pk, discount_percent="5")  # fmt: skip
    rule(actor=actor, price_list_id=breaks.pk, target="all", min_quantity="50", method="fixed", fixed_price="70.00")
    mine = services.price_list_create(actor=actor, name="Boulangerie Martin", customer_id=customers[OTHER_CUSTOMER])
    rule(actor=actor, price_list_id=mine.pk, target="product", product_id=product.pk, method="fixed",
         fixed_price="88.88")  # fmt: skip
    return SimpleNamespace(
        customers=customers, product=product, other=other, group=group, deck=deck, ovens=ovens, general=general
    )


# (customer, quantity, unit code, expected unit price, expected explanation)
EXAMPLES = [
    (None, "1", "unit", "97.00", "List price 100.00; price list “Public” −3 % → 97.00"),  # category beats all
    (CUSTOMER, "1", "unit", "90.00", "List price 100.00; group “Wholesale” −10 % → 90.00"),  # group beats general
    (CUSTOMER, "10", "unit", "85.50", "List price 100.00; group “Wholesale” −10 %; from 10 u −5 % → 85.50"),
    (
        CUSTOMER,
        "1",
        "dozen",
        "1026.00",  # 1 dozen = 12 units: the 10-unit break applies, priced per dozen
        "List price 100.00; group “Wholesale” −10 %; from 10 u −5 %; per dz (× 12) → 1026.00",
    ),
    (CUSTOMER, "60", "unit", "70.00", "from 50 u: price 70.00 → 70.00"),  # highest break reached
    (OTHER_CUSTOMER, "60", "unit", "88.88", "customer price list “Boulangerie Martin”: price 88.88 → 88.88"),
    (None, "150", "unit", "97.00", "List price 100.00; price list “Public” −3 % → 97.00"),  # expired break
]


@pytest.mark.parametrize(("customer", "quantity", "unit", "price", "explanation"), EXAMPLES)
def test_examples(
    catalog: Catalog, book: SimpleNamespace, customer: str | None, quantity: str, unit: str, price: str,
    explanation: str,
) -> None:  # fmt: skip
    quote = pricing.price_for(
        catalog.actor("sales"), product=book.product.pk, quantity=quantity, uom=catalog.uom(unit).pk,
        customer_id=book.customers.get(customer), on_date=dt.date(2026, 6, 1),
    )  # fmt: skip
    assert quote.unit_price == Decimal(price)
    assert quote.explanation == explanation
    assert quote.recompute() == quote.unit_price
    assert quote.total == (Decimal(quantity) * quote.unit_price).quantize(Decimal("0.01"))


def test_group_simulated_without_customer_and_dates(catalog: Catalog, book: SimpleNamespace) -> None:
    actor = catalog.actor("sales")
    quote = pricing.price_for(actor, product=book.product, quantity=10, customer_group_id=book.group.pk)
    assert quote.unit_price == Decimal("85.50")
    services.price_list_update(actor=catalog.actor(), price_list_id=book.general.pk, valid_from=dt.date(2030, 1, 1))
    assert pricing.price_for(actor, product=book.product).unit_price == Decimal("100.00")  # no list: list price
    assert pricing.price_for(actor, product=book.product).explanation == "List price 100.00 → 100.00"


def test_other_product_gets_the_all_rule(catalog: Catalog, book: SimpleNamespace) -> None:
    quote = pricing.price_for(catalog.actor("sales"), product=book.other.pk)
    assert quote.unit_price == Decimal("39.20")  # 40 − 2 %


def test_units_and_rounding_step(catalog: Catalog) -> None:
    flour = catalog.product("FARINE", sale_price="1.35", sale_uom_id=catalog.uom("kg").pk,
                            purchase_uom_id=catalog.uom("kg").pk)  # fmt: skip
    actor = catalog.actor("sales")
    per_gram = pricing.price_for(actor, product=flour, quantity=250, uom=catalog.uom("g").pk)
    assert str(per_gram.unit_price) == "0.00135" and per_gram.total == Decimal("0.34")
    promo = services.price_list_create(actor=catalog.actor(), name="Promo")
    services.rule_create(actor=catalog.actor(), price_list_id=promo.pk, discount_percent="33.333")
    quote = pricing.price_for(actor, product=flour, quantity=1)
    assert quote.unit_price == Decimal("0.90")  # 1.35 × 0.66667 = 0.9000045 → rounded once
    assert [s.places for s in quote.steps][-1] == 2 and quote.recompute() == Decimal("0.90")
    with pytest.raises(ValidationFailed) as bad:
        pricing.price_for(actor, product=flour, quantity=0, uom=catalog.uom("hour").pk)
    assert set(bad.value.fields) == {"quantity", "uom"}
    with pytest.raises(ValidationFailed) as currency:
        pricing.price_for(actor, product=flour, currency="USD")
    assert set(currency.value.fields) == {"currency"}
    with pytest.raises(NotFound):
        pricing.price_for(catalog.personas.outsider_actor(), product=flour.pk)


def test_discount_helpers() -> None:
    assert apply_discount(Decimal("100"), Decimal("10")) == Decimal("90")
    assert apply_discounts(Decimal("100"), [Decimal("10"), Decimal("5")]) == Decimal("85.5")
    assert apply_discount(Decimal("100"), Decimal("-5")) == Decimal("105")
    assert line_amount(Decimal("3"), Decimal("0.335")) == Decimal("1.01")  # 1.005 → half up
    assert line_amount(Decimal("2"), Decimal("10.00"), Decimal("12.5")) == Decimal("17.50")
    with pytest.raises(TypeError):
        apply_discount(1.5, Decimal("1"))  # type: ignore[arg-type]


# --- Properties -------------------------------------------------------------------------

factors = st.fractions(min_value=Fraction(1, 10**6), max_value=10**6).filter(lambda f: f > 0)


def unit(factor: Fraction, category: int = 1) -> Any:
    return SimpleNamespace(factor_numerator=factor.numerator, factor_denominator=factor.denominator,
                           category_id=category)  # fmt: skip


@given(quantity=st.decimals(min_value=0, max_value=10**9, places=3), a=factors, b=factors)
def test_conversion_round_trips_exactly(quantity: Decimal, a: Fraction, b: Fraction) -> None:
    there = units.convert_quantity(quantity, unit(a), unit(b))
    assert units.convert_quantity(there, unit(b), unit(a)) == quantity
    price = units.convert_price(quantity, unit(a), unit(b))
    # A price per unit times a quantity in that unit is the same amount in any unit.
    assert price * there == quantity * quantity


def test_conversion_refuses_other_categories() -> None:
    with pytest.raises(units.UnitMismatch):
        units.convert_quantity(1, unit(Fraction(1)), unit(Fraction(1), category=2))


percents = st.decimals(min_value=-100, max_value=100, places=3)
prices = st.decimals(min_value=0, max_value=10**9, places=2)


@given(price=prices, discounts=st.lists(percents, max_size=6))
def test_price_never_negative_and_steps_recompute(price: Decimal, discounts: list[Decimal]) -> None:
    steps = [Step("list", price, amount=price)]
    running = price
    for percent in discounts:
        running = apply_discount(running, percent)
        steps.append(Step(f"{percent}", running, percent=percent))
    rounded = units.to_decimal(running, 2)
    steps.append(Step("round", rounded, places=2))
    assert rounded >= 0
    recomputed: Decimal | None = None
    for step in steps:
        recomputed = step.apply(recomputed)
        assert recomputed == step.price
    assert recomputed == rounded


@given(value=st.fractions(min_value=-(10**9), max_value=10**9), places=st.integers(0, 6))
def test_rounding_is_half_up_and_exact(value: Fraction, places: int) -> None:
    rounded = units.to_decimal(value, places)
    assert abs(Fraction(rounded) - value) <= Fraction(1, 2 * 10**places)
    assert rounded.as_tuple().exponent == -places


# The fixture's product and rule are rewritten by every example, so sharing them is intended.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
@given(
    list_price=st.decimals(min_value=0, max_value=10**6, places=2),
    discount=percents,
    quantity=st.decimals(min_value=Decimal("0.001"), max_value=10**4, places=3),
)
def test_engine_quotes_recompute(catalog_for_properties: Catalog, list_price: Decimal, discount: Decimal,
                                 quantity: Decimal) -> None:  # fmt: skip
    catalog = catalog_for_properties
    actor = catalog.actor()
    services.product_update(actor=actor, product_id=catalog.product_id, sale_price=list_price)  # type: ignore[attr-defined]
    services.rule_update(actor=actor, rule_id=catalog.rule_id, discount_percent=discount)  # type: ignore[attr-defined]
    quote = pricing.price_for(actor, product=catalog.product_id, quantity=quantity,  # type: ignore[attr-defined]
                              uom=catalog.uom("g").pk)  # fmt: skip
    assert quote.unit_price >= 0
    assert quote.recompute() == quote.unit_price
    assert Decimal(quote.explanation.rsplit("→ ", 1)[1]) == quote.unit_price


@pytest.fixture
def catalog_for_properties(catalog: Catalog) -> Catalog:
    product = catalog.product("KG", sale_uom_id=catalog.uom("kg").pk, purchase_uom_id=catalog.uom("kg").pk)
    price_list = services.price_list_create(actor=catalog.actor(), name="Any")
    rule = services.rule_create(actor=catalog.actor(), price_list_id=price_list.pk, discount_percent="1")
    catalog.product_id = product.pk  # type: ignore[attr-defined]
    catalog.rule_id = rule.pk  # type: ignore[attr-defined]
    return catalog

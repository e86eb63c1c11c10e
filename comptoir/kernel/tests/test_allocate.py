"""Largest-remainder allocation: the parts always add up to the total, to the cent."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from comptoir.kernel.money import allocate

# Amounts up to ±10^12 with 2 places; weights are positive Decimals or ints (quantities, prices, percentages).
totals = st.decimals(min_value=Decimal("-1000000000000"), max_value=Decimal("1000000000000"), places=2)
weight = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    st.decimals(min_value=Decimal("0"), max_value=Decimal("1000000"), places=4),
)
weights = st.lists(weight, min_size=1, max_size=30).filter(lambda ws: sum(Decimal(w) for w in ws) > 0)


@settings(max_examples=400, deadline=None)
@given(total=totals, ws=weights)
@example(total=Decimal("100.00"), ws=[1, 1, 1])
@example(total=Decimal("0.01"), ws=[Decimal("0.0001"), 10**9])
@example(total=Decimal("999999999999.99"), ws=[Decimal("0.0003"), Decimal("0.0007"), 3, 999999999])
def test_parts_add_up_and_stay_within_a_cent_of_the_exact_share(total, ws):
    parts = allocate(total, ws)
    assert len(parts) == len(ws)
    assert sum(parts, Decimal(0)) == total
    weight_sum = sum(Fraction(Decimal(w)) for w in ws)
    for part, w in zip(parts, ws, strict=True):
        assert part.as_tuple().exponent == -2
        exact = Fraction(total) * Fraction(Decimal(w)) / weight_sum
        assert abs(Fraction(part) - exact) < Fraction(1, 100)
        if w == 0:
            assert part == 0


@settings(max_examples=200, deadline=None)
@given(total=totals, ws=weights)
def test_deterministic_and_signs_follow_the_total(total, ws):
    first = allocate(total, ws)
    assert allocate(total, list(ws)) == first
    # A negative total is split symmetrically to its opposite.
    assert allocate(-total, ws) == [-p for p in first]
    for part in first:
        assert part == 0 or (part > 0) == (total > 0)


@settings(max_examples=200, deadline=None)
@given(total=totals, ws=st.lists(st.integers(min_value=1, max_value=10**6), min_size=2, max_size=12, unique=True))
def test_permuting_weights_permutes_the_parts_when_no_ties(total, ws):
    units = abs(int(total * 100))
    weight_sum = sum(ws)
    remainders = [Fraction(units * w, weight_sum) % 1 for w in ws]
    assume(len(set(remainders)) == len(remainders))
    parts = allocate(total, ws)
    reversed_parts = allocate(total, list(reversed(ws)))
    assert list(reversed(reversed_parts)) == parts


def test_ties_go_to_the_earliest_parts():
    assert allocate(Decimal("0.01"), [1, 1, 1]) == [Decimal("0.01"), Decimal("0.00"), Decimal("0.00")]
    assert allocate(Decimal("0.02"), [1, 1, 1]) == [Decimal("0.01"), Decimal("0.01"), Decimal("0.00")]
    assert allocate(Decimal("100.00"), [1, 1, 1]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert allocate(Decimal("-100.00"), [1, 1, 1]) == [Decimal("-33.34"), Decimal("-33.33"), Decimal("-33.33")]


def test_largest_remainder_wins_over_position():
    # Exact shares 0.333…, 0.666…: the second part has the larger remainder and takes the cent.
    assert allocate(Decimal("0.01"), [1, 2]) == [Decimal("0.00"), Decimal("0.01")]
    assert allocate(Decimal("10.00"), [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")]) == [
        Decimal("5.00"),
        Decimal("2.50"),
        Decimal("2.50"),
    ]


def test_zero_total_gives_zero_parts():
    assert allocate(Decimal("0"), [1, 2, 3]) == [Decimal("0.00")] * 3


def test_other_places():
    parts = allocate(Decimal("1"), [1, 1, 1], places=3)
    assert parts == [Decimal("0.334"), Decimal("0.333"), Decimal("0.333")]
    assert allocate(Decimal("10"), [1, 2], places=0) == [Decimal("3"), Decimal("7")]


def test_total_is_rounded_to_the_places_first():
    assert sum(allocate(Decimal("10.005"), [1, 1]), Decimal(0)) == Decimal("10.01")


@pytest.mark.parametrize(
    ("ws", "message"),
    [
        ([], "at least one weight"),
        ([0, 0], "must not all be zero"),
        ([Decimal("0")], "must not all be zero"),
        ([1, -1, 2], "non-negative"),
        ([Decimal("-0.5")], "non-negative"),
    ],
)
def test_bad_weights_raise(ws, message):
    with pytest.raises(ValueError, match=message):
        allocate(Decimal("10.00"), ws)


def test_floats_are_refused():
    with pytest.raises(TypeError):
        allocate(10.0, [1, 1])
    with pytest.raises(TypeError):
        allocate(Decimal("10.00"), [0.5, 0.5])

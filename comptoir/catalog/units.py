"""Exact unit conversions: a unit is an exact fraction of its category's reference unit.

Quantities and prices convert as ``Fraction``s; nothing is rounded here unless asked
(``to_decimal``, half up, exactly).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Protocol


class UnitLike(Protocol):
    factor_numerator: int
    factor_denominator: int
    category_id: int


class UnitMismatch(ValueError):
    """The two units measure different things (kilograms and hours)."""


def factor(unit: UnitLike) -> Fraction:
    return Fraction(unit.factor_numerator, unit.factor_denominator)


def convert_quantity(quantity: Fraction | Decimal | int, source: UnitLike, target: UnitLike) -> Fraction:
    """``quantity`` of ``source`` expressed in ``target``, exactly (3 boxes of 12 → 36 units)."""
    if source.category_id != target.category_id:
        raise UnitMismatch("units of different categories")
    return Fraction(quantity) * factor(source) / factor(target)


def convert_price(price: Fraction | Decimal | int, source: UnitLike, target: UnitLike) -> Fraction:
    """A price per ``source`` expressed per ``target``, exactly (12.00 a box of 12 → 1.00 a unit)."""
    if source.category_id != target.category_id:
        raise UnitMismatch("units of different categories")
    return Fraction(price) * factor(target) / factor(source)


def to_decimal(value: Fraction | Decimal | int, places: int) -> Decimal:
    """Round half away from zero (the project's policy) to ``places`` decimals, exactly:
    integer arithmetic on the fraction, never an intermediate binary or decimal division."""
    scaled = Fraction(value) * 10**places
    units, remainder = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * remainder >= scaled.denominator:
        units += 1
    sign = -1 if scaled < 0 else 1
    return Decimal(sign * units).scaleb(-places)

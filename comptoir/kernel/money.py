"""Money: Decimal in Python, stored exactly as an integer count of minor units.

SQLite stores Django's DecimalField as a float and sums it as a float, so amounts that are
summed would drift. MoneyField stores cents (or any fixed scale) in a BIGINT and exposes a
Decimal, so ``SUM()`` is exact on every engine. One rounding policy lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core import checks
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

# The one rounding policy of the project: half away from zero, as French invoicing expects.
ROUNDING = ROUND_HALF_UP
CENT = Decimal("0.01")


def to_decimal(value: Any) -> Decimal:
    """Convert input to Decimal, refusing floats (they carry binary rounding errors)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not allowed near money; pass a str or Decimal")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def quantize(value: Any, places: int = 2) -> Decimal:
    """Round to ``places`` decimals with the project's rounding policy."""
    exponent = Decimal(1).scaleb(-places)
    return to_decimal(value).quantize(exponent, rounding=ROUNDING)


def allocate(total: Decimal, weights: Sequence[Decimal | int], places: int = 2) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights`` so the parts add up exactly.

    Largest-remainder method: each part gets the floor of its exact share (in minor units),
    then the units left over go one by one to the parts with the largest remainders (ties to
    the earliest part). Negative totals are split symmetrically.
    """
    total = quantize(total, places)
    weight_values = [to_decimal(w) for w in weights]
    if not weight_values:
        raise ValueError("allocate needs at least one weight")
    if any(w < 0 for w in weight_values):
        raise ValueError("weights must be non-negative")
    weight_sum = sum(weight_values, Decimal(0))
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    sign = -1 if total < 0 else 1
    units = int(abs(total).scaleb(places))
    shares = [Decimal(units) * w / weight_sum for w in weight_values]
    floors = [int(s) for s in shares]
    left = units - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(sign * f).scaleb(-places) for f in floors]


class ScaledIntegerField(models.BigIntegerField):
    """A Decimal with a fixed number of places, stored as a scaled integer (exact SUM)."""

    description = "Decimal stored as an integer count of 10^-places units"

    def __init__(self, *args: Any, places: int = 2, **kwargs: Any) -> None:
        self.places = places
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.places != 2:
            kwargs["places"] = self.places
        return name, path, args, kwargs

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if not 0 <= self.places <= 9:
            errors.append(checks.Error("places must be between 0 and 9", obj=self))
        return errors

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-self.places)

    def to_python(self, value: Any) -> Decimal | None:
        # Validation (full_clean, deserialization) must refuse, not silently round, extra decimals.
        if value is None or value == "":
            return None
        try:
            exact = to_decimal(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(str(exc), code="invalid") from exc
        if not exact.is_finite():
            raise ValidationError(_("Enter a finite number."), code="invalid")
        try:
            rounded = exact.quantize(Decimal(1).scaleb(-self.places), rounding=ROUNDING)
        except InvalidOperation as exc:
            raise ValidationError(_("This number is too large."), code="invalid") from exc
        if exact != rounded:
            raise ValidationError(
                _("Use at most %(places)s decimal places.") % {"places": self.places}, code="max_decimal_places"
            )
        return rounded

    def get_prep_value(self, value: Any) -> int | None:
        if value is None:
            return None
        if hasattr(value, "resolve_expression"):
            return value
        exact = to_decimal(value)
        if not exact.is_finite():
            raise ValueError(f"{value} is not a finite amount")
        scaled = exact.scaleb(self.places)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.places} decimal places")
        return int(scaled)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        return value

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        defaults: dict[str, Any] = {"form_class": forms.DecimalField, "decimal_places": self.places}
        defaults.update(kwargs)
        return models.Field.formfield(self, **defaults)


class MoneyField(ScaledIntegerField):
    """An amount of money in minor units (2 places by default); the currency lives beside it."""


class QuantityField(ScaledIntegerField):
    """A quantity, exact to ``places`` decimals (3 by default: grams, millilitres)."""

    def __init__(self, *args: Any, places: int = 3, **kwargs: Any) -> None:
        super().__init__(*args, places=places, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = models.BigIntegerField.deconstruct(self)
        if self.places != 3:
            kwargs["places"] = self.places
        return name, path, args, kwargs


def exact_sum(queryset: models.QuerySet, field_name: str) -> Decimal:
    """SUM of a ScaledIntegerField, computed by the database as an integer, returned as Decimal."""
    field = queryset.model._meta.get_field(field_name)
    assert isinstance(field, ScaledIntegerField)
    raw = queryset.aggregate(total=Sum(field_name, output_field=models.BigIntegerField()))["total"]
    return Decimal(int(raw or 0)).scaleb(-field.places)

"""MoneyField / QuantityField store exact scaled integers; the database sums them exactly."""

import random
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import translation

from comptoir.kernel.money import CENT, exact_sum, quantize, to_decimal
from tests.kerneltest.models import Amount

pytestmark = pytest.mark.django_db

ROWS = 100_000


@pytest.fixture(autouse=True)
def english():
    # Messages are asserted in the source language; the default language is French.
    with translation.override("en"):
        yield


def test_hundred_thousand_amounts_sum_exactly_in_the_database():
    rng = random.Random(20260105)
    # Random cents in ±1,000,000.00: exactly representable as Decimal, not as binary floats.
    amounts = [Decimal(rng.randint(-100_000_000, 100_000_000)).scaleb(-2) for _ in range(ROWS)]
    Amount.objects.bulk_create([Amount(amount=a) for a in amounts], batch_size=5_000)

    expected = sum(amounts, Decimal(0))
    total = exact_sum(Amount.objects.all(), "amount")

    assert Amount.objects.count() == ROWS
    assert isinstance(total, Decimal)
    assert total == expected
    assert total.as_tuple().exponent == -2
    # A filtered sum is exact too (the selector case: sum of one customer's invoices).
    positives = exact_sum(Amount.objects.filter(amount__gt=0), "amount")
    assert positives == sum((a for a in amounts if a > 0), Decimal(0))


def test_float_storage_would_have_drifted():
    # Why the field exists: summing these as binary floats (what SQLite does with a DecimalField) drifts.
    rng = random.Random(7)
    amounts = [Decimal(rng.randint(-100_000_000, 100_000_000)).scaleb(-2) for _ in range(10_000)]
    as_floats = sum(float(a) for a in amounts)
    exact = sum(amounts, Decimal(0))
    assert Decimal(as_floats) != exact
    naive = 0.0
    for _ in range(10):
        naive += 0.1  # plain accumulation, as a database does (Python's sum() compensates)
    assert naive != 1.0
    assert sum([Decimal("0.10")] * 10) == Decimal("1.00")


def test_stored_as_integer_minor_units():
    row = Amount.objects.create(amount=Decimal("1234.56"), quantity=Decimal("2.125"))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT amount, quantity FROM {Amount._meta.db_table} WHERE id = %s", [row.pk])
        raw_amount, raw_quantity = cursor.fetchone()
    assert int(raw_amount) == 123456
    assert int(raw_quantity) == 2125


@pytest.mark.parametrize(
    "value",
    ["0.00", "0.01", "-0.01", "999999999.99", "-999999999.99", "12.3", "7"],
)
def test_round_trip(value):
    row = Amount.objects.create(amount=Decimal(value))
    loaded = Amount.objects.get(pk=row.pk).amount
    assert loaded == Decimal(value)
    assert loaded.as_tuple().exponent == -2
    assert isinstance(loaded, Decimal)


def test_string_and_int_inputs_are_accepted():
    row = Amount.objects.create(amount="10.50", quantity=3)
    row.refresh_from_db()
    assert row.amount == Decimal("10.50")
    assert row.quantity == Decimal("3.000")


def test_none_is_stored_as_null_and_sum_of_nothing_is_zero():
    row = Amount.objects.create(amount=None)
    assert Amount.objects.get(pk=row.pk).amount is None
    assert exact_sum(Amount.objects.all(), "amount") == Decimal("0.00")
    assert exact_sum(Amount.objects.none(), "amount") == Decimal(0)


def test_negative_values():
    Amount.objects.create(amount=Decimal("-10.05"))
    Amount.objects.create(amount=Decimal("3.02"))
    assert exact_sum(Amount.objects.all(), "amount") == Decimal("-7.03")
    assert Amount.objects.filter(amount__lt=0).get().amount == Decimal("-10.05")


def test_float_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="floats are not allowed"), transaction.atomic():
        Amount.objects.create(amount=0.1)
    assert Amount.objects.count() == 0


def test_too_many_decimals_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="more than 2 decimal places"), transaction.atomic():
        Amount.objects.create(amount=Decimal("1.005"))
    with pytest.raises(ValueError, match="more than 3 decimal places"), transaction.atomic():
        Amount.objects.create(quantity=Decimal("1.0005"))
    assert Amount.objects.count() == 0


def test_trailing_zeros_beyond_places_are_fine():
    row = Amount.objects.create(amount=Decimal("1.5000"))
    row.refresh_from_db()
    assert row.amount == Decimal("1.50")


def test_non_finite_and_non_numbers_are_refused():
    with pytest.raises(ValueError, match="not a finite"), transaction.atomic():
        Amount.objects.create(amount=Decimal("NaN"))
    with pytest.raises(ValueError, match="not a finite"), transaction.atomic():
        Amount.objects.create(amount=Decimal("-Infinity"))
    with pytest.raises(ValueError, match="not a number"), transaction.atomic():
        Amount.objects.create(amount="twelve")
    assert Amount.objects.count() == 0


def test_full_clean_reports_field_errors_instead_of_rounding():
    row = Amount(amount=Decimal("1.005"), quantity=Decimal("1.0005"))
    with pytest.raises(ValidationError) as excinfo:
        row.full_clean()
    assert set(excinfo.value.message_dict) == {"amount", "quantity"}
    assert "2 decimal places" in excinfo.value.message_dict["amount"][0]
    assert "3 decimal places" in excinfo.value.message_dict["quantity"][0]

    with pytest.raises(ValidationError) as excinfo:
        Amount(amount=0.1).full_clean()
    assert "floats" in excinfo.value.message_dict["amount"][0]

    with pytest.raises(ValidationError) as excinfo:
        Amount(amount="abc").full_clean()
    assert "amount" in excinfo.value.message_dict

    ok = Amount(amount="12.5", quantity="0.125")
    ok.full_clean()
    assert ok.amount == Decimal("12.50")
    assert ok.quantity == Decimal("0.125")


def test_quantity_field_has_three_places():
    field = Amount._meta.get_field("quantity")
    assert field.places == 3
    row = Amount.objects.create(quantity=Decimal("0.001"))
    row.refresh_from_db()
    assert row.quantity == Decimal("0.001")
    assert row.quantity.as_tuple().exponent == -3
    Amount.objects.create(quantity=Decimal("2.999"))
    assert exact_sum(Amount.objects.all(), "quantity") == Decimal("3.000")


def test_deconstruct_keeps_default_places_out_of_migrations():
    assert "places" not in Amount._meta.get_field("amount").deconstruct()[3]
    assert "places" not in Amount._meta.get_field("quantity").deconstruct()[3]


def test_quantize_uses_half_up_rounding():
    assert quantize("2.345") == Decimal("2.35")
    assert quantize("-2.345") == Decimal("-2.35")
    assert quantize("2.344") == Decimal("2.34")
    assert quantize("1.0005", 3) == Decimal("1.001")
    assert CENT == Decimal("0.01")
    with pytest.raises(TypeError):
        to_decimal(1.5)

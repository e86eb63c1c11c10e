"""The revaluation reads the open foreign-currency invoices, what was settled on them after the
date, their booked lines and the rates in a fixed number of queries, however many invoices are
open and in however many currencies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sized
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from comptoir.accounting import currency, revaluation
from comptoir.accounting.models import FiscalYear
from comptoir.accounting.models_currency import CurrencyRate
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def open_invoices(books: Books, count: int, code: str = "USD") -> None:
    for index in range(count):
        books.posted([line(unit_price=f"{100 + index}.00")], currency=code, issue_date=today())


def queries(read: Callable[[], Sized]) -> tuple[int, int]:
    """(queries issued, items found) of one reading."""
    with CaptureQueriesContext(connection) as captured:
        found = read()
    return len(captured.captured_queries), len(found)


def test_open_invoices_and_the_revaluation_read_a_fixed_number_of_queries(books: Books) -> None:
    day = today()
    company_id = books.company_id
    currency.rate_set(actor=books.actor(), currency="USD", date=day, rate="1.1")
    year = FiscalYear.objects.get(company_id=company_id, start_date__lte=day, end_date__gte=day)
    readings: dict[str, Callable[[], Sized]] = {
        "open invoices": lambda: revaluation._open_invoices(company_id, day),
        "revaluation": lambda: revaluation.compute(company_id, day).items,
        "closing check": lambda: revaluation.closing_check(company_id, year),
    }
    open_invoices(books, 1)
    one = {name: queries(read) for name, read in readings.items()}
    open_invoices(books, 4)
    five = {name: queries(read) for name, read in readings.items()}
    assert {name: found for name, (_count, found) in one.items()} == dict.fromkeys(readings, 1)
    assert {name: found for name, (_count, found) in five.items()} == {"open invoices": 5, "revaluation": 5,
                                                                        "closing check": 1}  # fmt: skip
    assert {name: count for name, (count, _found) in five.items()} == {
        name: count for name, (count, _found) in one.items()
    }
    assert one["open invoices"][0] == 2  # the company's currency, then the invoices
    assert revaluation.closing_check(company_id, year)[0].count == 5


def test_the_rates_of_several_currencies_are_read_in_one_query(books: Books) -> None:
    day = today()
    company_id = books.company_id
    for code, rate in (("USD", "1.1"), ("GBP", "0.85"), ("CHF", "0.95")):
        currency.rate_set(actor=books.actor(), currency=code, date=day - dt.timedelta(days=1), rate="9")
        currency.rate_set(actor=books.actor(), currency=code, date=day, rate=rate)  # the latest one counts
    open_invoices(books, 2)
    one_currency = queries(lambda: revaluation.compute(company_id, day).items)
    open_invoices(books, 1, "GBP")
    open_invoices(books, 2, "CHF")
    three_currencies = queries(lambda: revaluation.compute(company_id, day).items)
    assert (one_currency[1], three_currencies[1]) == (2, 5)
    assert three_currencies[0] == one_currency[0]
    assert revaluation.compute(company_id, day).rates == {"CHF": Decimal("0.95"), "GBP": Decimal("0.85"),
                                                          "USD": Decimal("1.1")}  # fmt: skip
    # Currencies without a rate on the day: the same field error, on the first in code order, as
    # when they were read one at a time in the invoices' (currency) order.
    CurrencyRate.objects.filter(company_id=company_id, currency__in=["CHF", "GBP"]).delete()
    with pytest.raises(ValidationFailed) as caught:
        revaluation.compute(company_id, day)
    assert list(caught.value.fields) == ["date"] and "CHF" in caught.value.fields["date"][0]
    assert currency.rates_on(company_id, ["EUR", "USD"], day) == {"EUR": Decimal(1), "USD": Decimal("1.1")}

"""The revaluation reads the open foreign-currency invoices, what was settled on them after the
date and their booked lines in a fixed number of queries, however many invoices are open."""

from __future__ import annotations

from collections.abc import Callable, Sized

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from comptoir.accounting import currency, revaluation
from comptoir.accounting.models import FiscalYear
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def open_usd_invoices(books: Books, count: int) -> None:
    for index in range(count):
        books.posted([line(unit_price=f"{100 + index}.00")], currency="USD", issue_date=today())


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
    open_usd_invoices(books, 1)
    one = {name: queries(read) for name, read in readings.items()}
    open_usd_invoices(books, 4)
    five = {name: queries(read) for name, read in readings.items()}
    assert {name: found for name, (_count, found) in one.items()} == dict.fromkeys(readings, 1)
    assert {name: found for name, (_count, found) in five.items()} == {"open invoices": 5, "revaluation": 5,
                                                                        "closing check": 1}  # fmt: skip
    assert {name: count for name, (count, _found) in five.items()} == {
        name: count for name, (count, _found) in one.items()
    }
    assert one["open invoices"][0] == 2  # the company's currency, then the invoices
    assert revaluation.closing_check(company_id, year)[0].count == 5

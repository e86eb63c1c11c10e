"""``pricing.prices_for``: one rules query for all the lines of a document, each line priced
exactly as ``price_for`` prices it alone (rule per line, quantity breaks, date ranges, units, errors)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from comptoir.catalog import pricing, services
from comptoir.catalog.models import Product
from comptoir.kernel.errors import ValidationFailed

from .conftest import Catalog
from .test_pricing import CUSTOMER, OTHER_CUSTOMER, book  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

# (product, quantity, unit code): the cases of test_pricing's table on one document, and a unit error.
LINES = [
    ("product", "1", "unit"),
    ("product", "10", "unit"),  # the group's 10-unit break, based on the wholesale list
    ("product", "60", "unit"),  # the highest break reached
    ("product", "150", "unit"),  # the 100-unit break of the general list, valid until 2020
    ("product", "1", "dozen"),  # 12 units: the 10-unit break, priced per dozen
    ("other", "5", "unit"),  # no product or category rule: the "all" rule
    ("other", "150", "unit"),  # the "all" rule's 100-unit break, valid until 2020 only
    ("product", "2", "hour"),  # not a unit of the same kind: that line's error only
]


def _joined(*ids: int) -> dict[int, Product]:
    return Product.objects.select_related("sale_uom", "category").in_bulk(list(ids))


@pytest.mark.parametrize("customer", [None, CUSTOMER, OTHER_CUSTOMER])
@pytest.mark.parametrize("on_date", [dt.date(2020, 6, 1), dt.date(2026, 6, 1)])
def test_each_line_priced_as_alone(catalog: Catalog, book: SimpleNamespace, customer: str | None,  # noqa: F811
                                   on_date: dt.date) -> None:  # fmt: skip
    actor = catalog.actor("sales")
    customer_id = book.customers.get(customer)
    products = _joined(book.product.pk, book.other.pk)
    lines = [(products[getattr(book, name).pk], quantity, catalog.uom(unit)) for name, quantity, unit in LINES]
    together = pricing.prices_for(actor, lines=lines, customer_id=customer_id, on_date=on_date, currency="EUR")
    assert len(together) == len(LINES)
    for (product, quantity, uom), found in zip(lines, together, strict=True):
        try:
            alone = pricing.price_for(actor, product=product.pk, quantity=quantity, uom=uom.pk,
                                      customer_id=customer_id, on_date=on_date, currency="EUR")  # fmt: skip
        except ValidationFailed as exc:
            assert isinstance(found, ValidationFailed) and found.fields == exc.fields
        else:
            assert found == alone  # price, steps, explanation, list and rule
    assert isinstance(together[-1], ValidationFailed) and set(together[-1].fields) == {"uom"}
    if customer is None:  # the dated break applies only on its dates: 40.00 − 20 %, else − 2 %
        assert together[6].unit_price == Decimal("32.00" if on_date.year == 2020 else "39.20")  # type: ignore[union-attr]


def test_one_rules_query_for_all_lines(catalog: Catalog, book: SimpleNamespace) -> None:  # noqa: F811
    actor = catalog.actor("sales")
    products = _joined(book.product.pk, book.other.pk)
    unit = catalog.uom("unit")
    customer_id = book.customers[OTHER_CUSTOMER]  # its own list and the general one (no list based on another)

    def count(lines: list[tuple[Product, str, object]]) -> int:
        with CaptureQueriesContext(connection) as queries:
            pricing.prices_for(actor, lines=lines, customer_id=customer_id, on_date=dt.date(2026, 6, 1))  # type: ignore[arg-type]
        return len(queries.captured_queries)

    one = count([(products[book.product.pk], "1", unit)])
    many = count([(products[pk], str(q), unit) for pk in (book.product.pk, book.other.pk) for q in (1, 10, 60)])
    assert one == many == 2  # the lists that count (the customer's group by a subquery), then their rules


def test_no_list_no_rules_query(catalog: Catalog) -> None:
    product = catalog.product("SEUL", sale_price="12.34")
    actor = catalog.actor("sales")
    lines = [(_joined(product.pk)[product.pk], "3", None)]
    customer_id = catalog.organization()
    with CaptureQueriesContext(connection) as queries:
        (found,) = pricing.prices_for(actor, lines=lines, customer_id=customer_id)
    assert len(queries.captured_queries) == 1
    assert not isinstance(found, ValidationFailed) and found.explanation == "List price 12.34 → 12.34"
    services.price_list_create(actor=catalog.actor(), name="Vide")  # a list without rules: same price
    (again,) = pricing.prices_for(actor, lines=lines, customer_id=customer_id)
    assert again == found

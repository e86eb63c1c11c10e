"""Quote lines priced from the catalog with one pricing query for all lines: each line keeps the
price and explanation it would get alone, and the catalog's errors stay on their line, in order."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from comptoir.catalog import pricing
from comptoir.catalog import services as catalog_services
from comptoir.catalog.models import Uom
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.testing import Personas
from comptoir.sales.models_quotes import QuoteLine
from comptoir.sales.tests.quotes_kit import Shop, make_shop, product_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(personas: Personas) -> Iterator[Shop]:
    with translation.override("en"):
        yield make_shop(personas)


def test_each_line_gets_its_own_rule(shop: Shop) -> None:
    admin = shop.actor("management")
    mine = catalog_services.price_list_create(actor=admin, name="Martin", customer_id=shop.customer.pk)
    rule = catalog_services.rule_create
    rule(actor=admin, price_list_id=mine.pk, target="all", discount_percent="10")
    rule(actor=admin, price_list_id=mine.pk, target="product", product_id=shop.chair.pk, min_quantity="5",
         method="fixed", fixed_price="70.00")  # fmt: skip
    lines = [product_line(shop.chair, "1"), product_line(shop.chair, "6"), product_line(shop.book, "2"),
             product_line(shop.design, "1", "400")]  # fmt: skip
    quote = shop.quote(lines)
    stored = list(QuoteLine.objects.filter(quote=quote).order_by("position"))
    actor = shop.actor()
    for line, (product, quantity) in zip(stored[:3], [(shop.chair, 1), (shop.chair, 6), (shop.book, 2)], strict=True):
        alone = pricing.price_for(actor, product=product.pk, quantity=quantity, customer_id=shop.customer.pk,
                                  on_date=quote.issue_date, currency=quote.currency)  # fmt: skip
        assert (line.unit_price, line.price_explanation) == (alone.unit_price, alone.explanation)
    assert [line.unit_price for line in stored] == [Decimal("72"), Decimal("70"), Decimal("18"), Decimal("400")]
    assert stored[1].price_explanation == "from 5 u: price 70.00 → 70.00"  # the break reached
    assert stored[3].price_explanation == ""  # a price given is not the catalog's


def test_pricing_queries_do_not_grow_with_lines(shop: Shop) -> None:
    admin = shop.actor("management")
    mine = catalog_services.price_list_create(actor=admin, name="Martin", customer_id=shop.customer.pk)
    catalog_services.rule_create(actor=admin, price_list_id=mine.pk, target="all", discount_percent="10")

    def count(lines: list[dict[str, str]]) -> int:
        with CaptureQueriesContext(connection) as queries:
            shop.quote(lines)
        return len(queries.captured_queries)

    count([product_line(shop.chair)])  # first number of the year
    one = count([product_line(shop.chair)])
    assert count([product_line(p, q) for p in (shop.chair, shop.book, shop.design) for q in ("1", "7")]) == one


def test_catalog_errors_stay_on_their_line_in_order(shop: Shop) -> None:
    other_kind = Uom.objects.filter(company_id=shop.company_id).exclude(
        category_id=shop.chair.sale_uom.category_id).first()  # fmt: skip
    assert other_kind is not None
    lines = [product_line(shop.chair, "2", uom_id=other_kind.pk, discount_percent="120"),
             product_line(shop.book, "1", vat_code="zero"), product_line(shop.design, "1")]  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        shop.quote(lines)
    fields = caught.value.fields or {}
    assert list(fields) == ["lines.0.uom_id", "lines.0.discount_percent", "lines.1.vat_code"]
    assert fields["lines.0.uom_id"] == [f"Choose a unit that measures the same thing as {shop.chair.sale_uom.symbol}."]

"""Statements written once read and write what the ORM reads and writes, on both engines."""

from decimal import Decimal

import pytest
from django.core.exceptions import FieldFetchBlocked
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from comptoir.catalog import services as catalog_services
from comptoir.catalog.models import Product, ProductCategory
from comptoir.kernel import audit
from comptoir.kernel.context import Actor
from comptoir.kernel.models import AuditEntry
from comptoir.kernel.statements import Select, Update, insert_rows, instance
from comptoir.org.services import module_set
from comptoir.org.testing import make_company

PRODUCT = Select(Product, ["id", "reference", "sale_price", "is_archived", "sale_uom_id", "created_at"],
                 "{company_id} = %s", order_by="{reference}")  # fmt: skip
LOCKED = Select(Product, ["sale_price", "reference"], "{pk} = %s", lock=True)
ENTRY = Select(AuditEntry, ["changes", "at", "object_id"], "{id} = %s")
REPRICE = Update(Product, ["sale_price", "is_archived", "updated_at"], "{company_id} = %s AND {id} = %s")


@pytest.fixture
def products() -> tuple[int, list[Product]]:
    company = make_company(name="Déclarations", siren="842157638")
    actor = Actor.system(company.pk)
    module_set(actor=actor, module="catalog", enabled=True)
    made = [
        catalog_services.product_create(actor=actor, reference=reference, name_fr=reference, kind="goods",
                                        sale_price=price, vat_category="standard")
        for reference, price in (("B-2", "1249.90"), ("A-1", "0.17"), ("C-3", "80"))
    ]  # fmt: skip
    return company.pk, made


@pytest.mark.postgres
@pytest.mark.django_db
def test_rows_are_what_values_list_reads(products: tuple[int, list[Product]]) -> None:
    company_id, _made = products
    expected = list(
        Product.objects.filter(company_id=company_id).order_by("reference").values_list(*PRODUCT.field_names)
    )
    rows = PRODUCT.rows(company_id)
    assert rows == expected
    assert [type(value) for value in rows[0]] == [type(value) for value in expected[0]]
    assert rows[0][2] == Decimal("0.17") and rows[0][2].as_tuple().exponent == -2
    assert PRODUCT.one(company_id) == expected[0]
    assert PRODUCT.one(-1) is None


@pytest.mark.postgres
@pytest.mark.django_db
def test_instances_hold_the_fields_read_and_defer_the_others(products: tuple[int, list[Product]]) -> None:
    company_id, made = products
    found = PRODUCT.instances(company_id)
    assert [p.pk for p in found] == sorted((p.pk for p in made), key=lambda pk: Product.objects.get(pk=pk).reference)
    first = found[0]
    assert first.reference == "A-1" and first.sale_price == Decimal("0.17") and not first._state.adding
    assert "name_fr" in first.get_deferred_fields()
    # The project's fetch mode, as a queryset's instances have it: a lazy load raises in tests...
    with pytest.raises(FieldFetchBlocked):
        _ = first.name_fr
    made_here = instance(Product, ["reference", "id"], [first.reference, first.pk])
    assert (made_here.pk, made_here.reference) == (first.pk, "A-1") and "name_fr" in made_here.get_deferred_fields()
    with pytest.raises(FieldFetchBlocked):
        _ = made_here.sale_price
    # ...and reads the field in production (as with .only()).
    with override_settings(COMPTOIR_FETCH_MODE="peers"), CaptureQueriesContext(connection) as deferred:
        assert PRODUCT.instances(company_id)[0].name_fr == "A-1"
    assert len(deferred.captured_queries) == 2  # the statement, then the deferred field
    with pytest.raises(ValueError, match="not columns"):
        instance(Product, ["id", "nope"], [1, 2])
    assert LOCKED.instance(-1) is None


@pytest.mark.postgres
@pytest.mark.django_db
def test_json_and_datetimes_come_back_converted() -> None:
    company = make_company(name="Journal", siren="842157638")
    with transaction.atomic():
        entry = audit.record(Actor.system(company.pk), "test.write", object_type="x", object_id=7,
                             changes={"amount": [None, Decimal("1.50")], "nested": {"a": [1, 2]}})  # fmt: skip
    assert ENTRY.one(entry.pk) == AuditEntry.objects.filter(pk=entry.pk).values_list(*ENTRY.field_names).get()
    changes, at, object_id = ENTRY.one(entry.pk)  # type: ignore[misc]
    assert changes == {"amount": [None, "1.50"], "nested": {"a": [1, 2]}} and at == entry.at and object_id == "7"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_locking_select_says_for_no_key_update_on_postgresql_only(products: tuple[int, list[Product]]) -> None:
    _company_id, made = products
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        assert LOCKED.one(made[0].pk) == (Decimal("1249.90"), "B-2")
    sql = next(q["sql"] for q in captured.captured_queries if "catalog_product" in q["sql"])
    if connection.vendor == "postgresql":
        assert sql.endswith("FOR NO KEY UPDATE")
    else:  # SQLite has no row locks: its IMMEDIATE transactions serialise writers
        assert "FOR " not in sql


@pytest.mark.postgres
@pytest.mark.django_db
def test_update_writes_through_each_fields_preparation(products: tuple[int, list[Product]]) -> None:
    company_id, made = products
    now = timezone.now()
    assert REPRICE.run([Decimal("12.5"), True, now], company_id, made[1].pk) == 1
    assert REPRICE.run([Decimal("1"), True, now], company_id + 1000, made[1].pk) == 0  # another company: no row
    product = Product.objects.get(pk=made[1].pk)
    assert (product.sale_price, product.is_archived, product.updated_at) == (Decimal("12.50"), True, now)
    assert Product.objects.get(pk=made[0].pk).sale_price == Decimal("1249.90")


def test_a_name_that_is_not_a_column_is_refused() -> None:
    with pytest.raises(ValueError, match="not a column"):  # a relation seen from the other side
        Select(ProductCategory, ["id", "products"], "{pk} = %s")._compile(connection)


@pytest.mark.postgres
@pytest.mark.django_db
def test_insert_rows_stores_what_bulk_create_stores_and_returns_the_ids_in_order(
    products: tuple[int, list[Product]],
) -> None:
    _company_id, made = products
    model = made[0]
    columns = [f.attname for f in Product._meta.concrete_fields if not f.primary_key and f.name != "image"]
    now = timezone.now()
    rows = []
    for n in range(250):  # more than one statement's worth
        values = {name: getattr(model, name) for name in columns}
        values |= {"reference": f"R-{n:03}", "sale_price": Decimal(n) / 100, "created_at": now, "updated_at": now,
                   "search_text": f"r-{n:03}"}  # fmt: skip
        rows.append([values[name] for name in columns])
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        ids = insert_rows(Product, [*columns, "image"], [[*row, ""] for row in rows], returning_pk=True)
    inserts = [q for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert 2 <= len(inserts) <= 3  # batched, not one per row
    stored = dict(Product.objects.filter(pk__in=ids).values_list("pk", "reference"))
    assert [stored[pk] for pk in ids] == [f"R-{n:03}" for n in range(250)]
    assert Product.objects.get(reference="R-249").sale_price == Decimal("2.49")
    assert Product.objects.get(reference="R-007").created_at == now
    assert insert_rows(Product, columns, []) == []  # nothing to write: no statement

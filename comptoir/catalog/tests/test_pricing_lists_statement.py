"""The price lists that count, read by one statement written once, are those the ORM's filter selected:
for everyone, the customer's group (read by the same statement, simulated, or known to be none)
and the customer; active, in the currencies, valid on the date; with the group their labels name."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from comptoir.catalog import pricing, services
from comptoir.catalog.models import CustomerGroupMember, PriceList

from .conftest import Catalog

pytestmark = pytest.mark.django_db


def _orm_lists(company_id: int, currencies: list[str], on_date: dt.date, customer_id: int | None,
               customer_group_id: int | None, group_known: bool) -> dict[int, tuple[str, str | None]]:  # fmt: skip
    """The reference: the filter the engine applied before the statement (by id: name, group's name)."""
    whose = Q(customer_id__isnull=True, customer_group__isnull=True)
    if customer_group_id is not None:
        whose |= Q(customer_group_id=customer_group_id)
    elif not group_known and customer_id is not None:
        members = CustomerGroupMember.objects.filter(company_id=company_id, organization_id=customer_id)
        whose |= Q(customer_group_id__in=members.values("group_id"))
    if customer_id is not None:
        whose |= Q(customer_id=customer_id)
    valid = (Q(valid_from__isnull=True) | Q(valid_from__lte=on_date)) & (
        Q(valid_to__isnull=True) | Q(valid_to__gte=on_date))  # fmt: skip
    rows = PriceList.objects.filter(Q(company_id=company_id, is_active=True, currency__in=currencies) & valid & whose)
    return {row.pk: (row.name, row.customer_group.name if row.customer_group else None)
            for row in rows.select_related("customer_group")}  # fmt: skip


def test_lists_are_those_the_orm_filter_selected(catalog: Catalog) -> None:
    actor = catalog.actor()
    member, loner = catalog.organization("Grossiste Durand"), catalog.organization()
    group = services.customer_group_create(actor=actor, name="Wholesale")
    other_group = services.customer_group_create(actor=actor, name="Retail")
    services.customer_group_add(actor=actor, group_id=group.pk, organization_id=member)
    make = services.price_list_create
    make(actor=actor, name="Public")
    make(actor=actor, name="Public USD", currency="USD")
    make(actor=actor, name="Wholesale", customer_group_id=group.pk, priority=20)
    make(actor=actor, name="Retail", customer_group_id=other_group.pk)
    make(actor=actor, name="Durand", customer_id=member)
    make(actor=actor, name="Martin", customer_id=loner)
    make(actor=actor, name="Summer", valid_from=dt.date(2026, 6, 1), valid_to=dt.date(2026, 8, 31))
    closed = make(actor=actor, name="Closed")
    services.price_list_update(actor=actor, price_list_id=closed.pk, is_active=False)
    unused = services.customer_group_create(actor=actor, name="Without lists")
    PriceList.objects.create(company=catalog.personas.other_company, name="Other company's")
    days = [dt.date(2026, 5, 31), dt.date(2026, 6, 1), dt.date(2026, 8, 31), dt.date(2026, 9, 1)]
    cases = [
        (customer, group_id, known)
        for customer in (member, loner, None)
        for group_id, known in ((None, False), (None, True), (other_group.pk, False), (unused.pk, True))
    ]
    seen = set()
    for day in days:
        for currencies in (["EUR"], ["USD"], ["EUR", "USD"]):
            for customer, group_id, known in cases:
                found = pricing._lists(catalog.company_id, currencies, day, customer, group_id, known)
                expected = _orm_lists(catalog.company_id, currencies, day, customer, group_id, known)
                named = {pk: (row.name, row.customer_group.name if row.customer_group else None)
                         for pk, row in found.items()}  # fmt: skip
                assert named == expected, (day, currencies, customer, group_id, known)
                seen |= set(expected)
    assert {PriceList.objects.get(pk=pk).name for pk in seen} == {
        "Public", "Public USD", "Wholesale", "Retail", "Durand", "Martin", "Summer"}  # fmt: skip
    assert pricing._lists(None, ["EUR"], days[0], member, None, False) == {}


def test_lists_carry_what_the_engine_reads_without_another_query(catalog: Catalog) -> None:
    actor = catalog.actor()
    member = catalog.organization("Grossiste Durand")
    group = services.customer_group_create(actor=actor, name="Wholesale")
    services.customer_group_add(actor=actor, group_id=group.pk, organization_id=member)
    wholesale = services.price_list_create(actor=actor, name="Wholesale", customer_group_id=group.pk, priority=20)
    services.rule_create(actor=actor, price_list_id=wholesale.pk, target="all", discount_percent="10")
    product = catalog.product("FOUR", sale_price="100.00")
    with CaptureQueriesContext(connection) as queries:
        found = pricing._lists(catalog.company_id, ["EUR"], dt.date(2026, 1, 5), member, None, False)
        row = found[wholesale.pk]
        assert (row.name, row.currency, row.priority, row.customer_group_id, row.customer_id) == (
            "Wholesale", "EUR", 20, group.pk, None)  # fmt: skip
        assert row.customer_group is not None and row.customer_group.name == "Wholesale"
    assert len(queries.captured_queries) == 1
    quote = pricing.price_for(actor, product=product.pk, customer_id=member)
    assert quote.explanation == "List price 100.00; group “Wholesale” −10 % → 90.00"
    assert quote.price_list_id == wholesale.pk

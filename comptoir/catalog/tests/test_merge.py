"""Merging two organizations: their customer group and their own price lists follow the survivor."""

from __future__ import annotations

from typing import Any

import pytest

from comptoir.catalog import merge as catalog_merge
from comptoir.catalog import services
from comptoir.catalog.models import CustomerGroupMember, PriceList
from comptoir.catalog.tests.conftest import Catalog
from comptoir.contacts import merge
from comptoir.kernel.models import AuditEntry, OutboxEvent, SubscriberRun
from comptoir.org.testing import enable_modules

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(catalog: Catalog) -> Catalog:
    enable_modules(catalog.personas, "contacts", "catalog")
    return catalog


def _merge(shop: Catalog, survivor: int, other: int, capture: Any) -> None:
    with capture(execute=True):
        merge.organization_merge(actor=shop.actor("management"), survivor_id=survivor, other_id=other)


def test_the_survivor_takes_the_others_group_and_price_lists(
    shop: Catalog, django_capture_on_commit_callbacks: Any
) -> None:
    actor = shop.actor()
    survivor, other = shop.organization("Boulangerie Martin"), shop.organization("BOULANGERIE MARTIN SARL")
    wholesale = services.customer_group_create(actor=actor, name="Grossistes")
    services.customer_group_add(actor=actor, group_id=wholesale.pk, organization_id=other)
    own = services.price_list_create(actor=actor, name="Tarif Martin", customer_id=other, priority=30)
    public = services.price_list_create(actor=actor, name="Public")

    _merge(shop, survivor, other, django_capture_on_commit_callbacks)

    assert list(CustomerGroupMember.objects.filter(company_id=shop.company_id).values_list(
        "organization_id", "group_id")) == [(survivor, wholesale.pk)]  # fmt: skip
    assert PriceList.objects.get(pk=own.pk).customer_id == survivor
    assert PriceList.objects.get(pk=public.pk).customer_id is None
    entry = AuditEntry.objects.get(action="catalog.customer_merged")
    assert entry.object_id == str(survivor)
    assert entry.changes["repointed"] == {"catalog.customergroupmember": 1, "catalog.pricelist": 1}
    event = OutboxEvent.objects.get(name="contacts.merged")
    assert SubscriberRun.objects.filter(event=event, subscriber=catalog_merge.SUBSCRIBER).exists()


def test_the_survivor_keeps_its_own_group(shop: Catalog, django_capture_on_commit_callbacks: Any) -> None:
    actor = shop.actor()
    survivor, other = shop.organization("Epicerie Fine"), shop.organization("EPICERIE FINE")
    retail = services.customer_group_create(actor=actor, name="Détaillants")
    wholesale = services.customer_group_create(actor=actor, name="Grossistes")
    services.customer_group_add(actor=actor, group_id=retail.pk, organization_id=survivor)
    services.customer_group_add(actor=actor, group_id=wholesale.pk, organization_id=other)

    _merge(shop, survivor, other, django_capture_on_commit_callbacks)

    members = CustomerGroupMember.objects.filter(company_id=shop.company_id)
    assert list(members.values_list("organization_id", "group_id")) == [(survivor, retail.pk)]
    changes = AuditEntry.objects.get(action="catalog.customer_merged").changes
    assert changes["other_group_id"] == wholesale.pk


def test_repointing_again_changes_nothing_and_other_companies_are_untouched(shop: Catalog) -> None:
    actor = shop.actor()
    survivor, other = shop.organization("A"), shop.organization("B")
    services.price_list_create(actor=actor, name="Tarif B", customer_id=other)
    outsider = shop.personas.other_company.pk
    assert catalog_merge.repoint_organization(outsider, survivor, other) == {}
    assert PriceList.objects.get(name="Tarif B").customer_id == other
    assert catalog_merge.repoint_organization(shop.company_id, survivor, other) == {"catalog.pricelist": 1}
    assert catalog_merge.repoint_organization(shop.company_id, survivor, other) == {}
    assert AuditEntry.objects.filter(action="catalog.customer_merged").count() == 1


def test_merging_people_leaves_the_catalog_alone(shop: Catalog) -> None:
    event = OutboxEvent(name="contacts.merged", company_id=shop.company_id,
                        payload={"kind": "person", "survivor_id": 1, "other_id": 2})  # fmt: skip
    catalog_merge.on_merged(event)
    assert not AuditEntry.objects.filter(action="catalog.customer_merged").exists()

"""Quotes on the 360° page (same record rule as the pages, paging without repeats) and the demo loader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation

from comptoir.catalog import demo as catalog_demo
from comptoir.contacts.models import Organization
from comptoir.contacts.timeline import ORGANIZATION, PERSON, Subject, key_figures, timeline
from comptoir.kernel.context import Actor
from comptoir.org.testing import Personas
from comptoir.sales import demo, quotes
from comptoir.sales.models_quotes import Quote, QuoteState
from comptoir.sales.tests.quotes_kit import Shop, make_shop, product_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(personas: Personas) -> Iterator[Shop]:
    with translation.override("en"):
        yield make_shop(personas)


def test_quotes_on_the_organization_timeline_follow_the_record_rule(shop: Shop) -> None:
    seller = shop.personas.users["sales"]
    own = Organization.objects.create(company=shop.personas.company, legal_name="Client du vendeur", owner=seller)
    made = [shop.quote(organization=own, title=f"Devis {n}") for n in range(3)]
    quotes.quote_mark_sent(actor=shop.actor(), quote_id=made[0].pk)
    hidden = shop.quote()
    entries, cursor = timeline(shop.actor("sales"), Subject(ORGANIZATION, own.pk), limit=2, kinds=["quotes"])
    assert [e.key for e in entries] == [made[2].pk, made[1].pk] and cursor
    rest, end = timeline(shop.actor("sales"), Subject(ORGANIZATION, own.pk), before=cursor, limit=2, kinds=["quotes"])
    assert [e.key for e in rest] == [made[0].pk] and end is None
    assert rest[0].badge == "Sent" and rest[0].url == f"/sales/quotes/{made[0].pk}/"
    assert timeline(shop.actor("sales"), Subject(ORGANIZATION, shop.customer.pk), kinds=["quotes"])[0] == []
    assert [e.key for e in timeline(shop.actor(), Subject(ORGANIZATION, shop.customer.pk),
                                    kinds=["quotes"])[0]] == [hidden.pk]  # fmt: skip
    figures = {f.code: f for f in key_figures(shop.actor("sales"), Subject(ORGANIZATION, own.pk))}
    assert figures["open_quotes"].raw == "480.00"  # 3 × 2 chairs at 80.00
    assert timeline(shop.actor("production"), Subject(ORGANIZATION, own.pk), kinds=["quotes"])[0] == []


def test_quotes_on_the_contact_timeline(shop: Shop) -> None:
    from comptoir.contacts.models import Person

    person = Person.objects.create(company=shop.personas.company, first_name="Jeanne", last_name="Martin")
    quote = quotes.quote_create(actor=shop.actor(), organization_id=shop.customer.pk, contact_id=person.pk,
                                lines=[product_line(shop.chair)])  # fmt: skip
    entries, _cursor = timeline(shop.actor(), Subject(PERSON, person.pk), kinds=["quotes"])
    assert [e.key for e in entries] == [quote.pk]


def test_demo_loader_makes_quotes_once(personas: Personas) -> None:
    from comptoir.org.testing import enable_modules

    enable_modules(personas, "contacts", "accounting", "crm", "catalog", "sales")
    Organization.objects.create(company=personas.company, legal_name="Boulangerie Martin")
    Organization.objects.create(company=personas.company, legal_name="Pâtisserie Leroy")
    system = Actor.system(personas.company.pk)
    catalog_demo.load(system)
    demo.load(system)
    states = sorted(Quote.objects.filter(company=personas.company).values_list("state", flat=True))
    assert states == sorted([QuoteState.DRAFT, QuoteState.SENT, QuoteState.ACCEPTED, QuoteState.REFUSED])
    demo.load(system)
    assert Quote.objects.filter(company=personas.company).count() == 4

"""Lists at volume: constant queries (3 vs 30 rows), deep pages, digit searches, the count."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.contacts import selectors, services
from comptoir.contacts.models import Affiliation, Organization
from comptoir.kernel import pagination
from comptoir.kernel.pagination import paginate
from comptoir.org.models import Team, User
from comptoir.org.testing import Personas, enable_modules

pytestmark = pytest.mark.django_db


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts", "crm")
    return personas


def _login(client: Client, personas: Personas, role: str) -> Client:
    user = personas.users[role]
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language="en"
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def _rows(p: Personas, start: int, count: int) -> None:
    """Organizations and people owned by the salesperson, each person at an organization."""
    admin, owner = p.actor("admin"), p.users["sales"]
    for i in range(start, start + count):
        org = services.organization_create(actor=admin, legal_name=f"Boulangerie n°{i:03}", owner_id=owner.pk)
        person = services.person_create(actor=admin, first_name="Zoé", last_name=f"Lefèvre {i:03}", owner_id=owner.pk)
        Affiliation.objects.create(person=person, organization=org, is_primary=True)


URLS = [
    "/contacts/organizations/",
    "/contacts/organizations/?sort=-name&lifecycle_stage=prospect",
    "/contacts/organizations/?q=boulangerie",
    "/contacts/people/",
    "/contacts/people/?q=lefevre",
    "/search/?q=lefevre",
    "/api/v1/organizations",
    "/api/v1/people",
]


@pytest.mark.parametrize("role", ["sales", "management"])
def test_list_queries_do_not_grow_with_rows(
    p: Personas, client: Client, role: str, django_assert_max_num_queries: Any
) -> None:
    team = Team.objects.create(company=p.company, name="Lyon", manager=p.users["management"])
    team.members.add(p.users["sales"])
    _login(client, p, role)
    _rows(p, 0, 3)
    counts = {}
    for url in URLS:
        client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200, url
        counts[url] = len(ctx.captured_queries)
    _rows(p, 3, 27)
    for url in URLS:
        with django_assert_max_num_queries(counts[url]):
            assert client.get(url).status_code == 200, url


def test_deep_pages_read_the_same_rows(p: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    """From DEFERRED_JOIN_FROM on, a page is read ids-first: same rows, same order, same total."""
    _rows(p, 0, 25)
    Organization.objects.filter(legal_name__endswith="7").update(is_archived=True)  # filtered out
    for role in ("sales", "management"):
        actor = p.actor(role)
        for sort in ("name", "-name", "owner", "-created_at"):
            rows = selectors.organization_list(actor, sort=sort)
            monkeypatch.setattr(pagination, "DEFERRED_JOIN_FROM", 10**9)
            plain = [paginate(rows, n, page_size=4) for n in (1, 3, 6, 7)]
            monkeypatch.setattr(pagination, "DEFERRED_JOIN_FROM", 1)
            deferred = [paginate(rows, n, page_size=4) for n in (1, 3, 6, 7)]
            assert [[o.pk for o in page.items] for page in plain] == [[o.pk for o in page.items] for page in deferred]
            assert [page.count for page in plain] == [page.count for page in deferred] == [23] * 4
            assert [len(page.items) for page in deferred] == [4, 4, 3, 0]
            assert all(not o.tags.all() for o in deferred[0].items)  # prefetches still apply
        people = selectors.person_list(actor, filters={"q": "zoe"})
        page = paginate(people, 2, page_size=10)
        assert [str(x) for x in page.items] == [f"Zoé Lefèvre {i:03}" for i in range(10, 20)] and page.count == 25


def test_phone_in_groups_matches_by_its_digits(p: Personas) -> None:
    admin = p.actor("admin")
    hit = services.organization_create(actor=admin, legal_name="Fournil", phone="+33142720000")
    # Every two-digit group of the query appears in this one, but not the number itself.
    services.organization_create(actor=admin, legal_name="Moulin 01 42 72 00", phone="+33299887766")
    rows = selectors.organization_list(admin, filters={"q": "01 42 72 00 00"})
    assert [o.pk for o in rows] == [hit.pk]
    siren = services.organization_create(actor=admin, legal_name="Pétrin", siren="842157638")
    assert [o.pk for o in selectors.organization_list(admin, filters={"q": "842 157 638"})] == [siren.pk]

"""Contacts selectors: record rules, accent/case-insensitive search, filters, sorts, query counts."""

from __future__ import annotations

import pytest

from comptoir.contacts import selectors, services
from comptoir.contacts.models import Organization, Person
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.pagination import paginate
from comptoir.kernel.testkit import count_queries
from comptoir.org.models import Team
from comptoir.org.selectors import build_actor
from comptoir.org.testing import Personas, enable_modules, make_user


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


def names(rows) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(str(r) for r in rows)


def test_record_rules(p: Personas) -> None:
    me = p.users["sales"]
    teammate = make_user(p.company, "sales", email="teammate@dupont.test")
    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    lead = make_user(p.company, "sales", email="lead@dupont.test")
    team = Team.objects.create(company=p.company, name="Nord", manager=lead)
    team.members.add(me, teammate)
    admin = p.actor("admin")
    services.organization_create(actor=admin, legal_name="Mine", owner_id=me.pk)
    services.organization_create(actor=admin, legal_name="Teammate's", owner_id=teammate.pk)
    services.organization_create(actor=admin, legal_name="Stranger's", owner_id=stranger.pk)
    services.organization_create(actor=admin, legal_name="Team row", owner_id=None, team_id=team.pk)
    Organization.objects.create(company=p.other_company, legal_name="Elsewhere")

    def seen(user) -> list[str]:  # type: ignore[no-untyped-def]
        return names(selectors.visible_organizations(build_actor(user, p.company.pk, "ui")))

    assert seen(me) == ["Mine", "Team row", "Teammate's"]
    assert seen(teammate) == ["Mine", "Team row", "Teammate's"]
    assert seen(lead) == ["Mine", "Team row", "Teammate's"]
    assert seen(stranger) == ["Stranger's"]
    for role in ("marketing", "service", "finance", "operations", "management", "admin"):
        assert names(selectors.visible_organizations(p.actor(role))) == ["Mine", "Stranger's", "Team row", "Teammate's"]
    for role in ("production", "hr"):
        assert names(selectors.visible_organizations(p.actor(role))) == []
        with pytest.raises(PermissionDenied):
            selectors.organization_list(p.actor(role))
    assert names(selectors.visible_organizations(p.outsider_actor())) == ["Elsewhere"]
    # Whoever "sees all" gets exactly the company's rows (statements written once stand for the rule then).
    company_rows = names(Organization.objects.filter(company=p.company))
    for role in ("sales", "marketing", "service", "finance", "operations", "management", "admin", "production", "hr"):
        actor = p.actor(role)
        if selectors.sees_all_organizations(actor):
            assert names(selectors.visible_organizations(actor)) == company_rows, role
    assert not selectors.sees_all_organizations(build_actor(me, p.company.pk, "ui"))
    assert not selectors.sees_all_organizations(p.actor("production"))  # no contacts at all
    assert selectors.sees_all_organizations(p.actor("admin"))
    stranger_org = Organization.objects.get(legal_name="Stranger's")
    with pytest.raises(NotFound):
        selectors.organization_detail(p.actor("sales"), stranger_org.pk)
    with pytest.raises(NotFound):
        selectors.organization_detail(p.outsider_actor(), stranger_org.pk)


@pytest.fixture
def data(p: Personas) -> Personas:
    actor = p.actor("sales")
    org = services.organization_create(
        actor=actor, legal_name="Boulangerie Lefèvre", siren="732829320", phone="04 78 00 00 00"
    )
    services.address_add(actor=actor, organization_id=org.pk, line1="1 rue A", city="Lyon")
    services.organization_create(actor=actor, legal_name="ÉCOLE Supérieure", email="contact@ecole.fr")
    services.person_create(
        actor=actor, first_name="Hélène", last_name="Lefèvre", email="helene@lefevre.fr", phone="06 12 34 56 78",
        organization_id=org.pk,
    )  # fmt: skip
    services.person_create(actor=actor, first_name="Jean", last_name="Martin", email="jean@martin.fr")
    return p


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lefevre", ["Boulangerie Lefèvre"]),
        ("LEFÈVRE", ["Boulangerie Lefèvre"]),
        ("ecole", ["ÉCOLE Supérieure"]),
        ("superieure ecole", ["ÉCOLE Supérieure"]),
        ("732 829 320", ["Boulangerie Lefèvre"]),
        ("04 78 00", ["Boulangerie Lefèvre"]),
        ("+33478", ["Boulangerie Lefèvre"]),
        ("ecole.fr", ["ÉCOLE Supérieure"]),
        ("nothing", []),
    ],
)
def test_organization_search(data: Personas, query: str, expected: list[str]) -> None:
    assert names(selectors.organization_list(data.actor("sales"), filters={"q": query})) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lefevre", ["Hélène Lefèvre"]),
        ("helene lefevre", ["Hélène Lefèvre"]),
        ("HELENE@LEFEVRE", ["Hélène Lefèvre"]),
        ("06 12 34", ["Hélène Lefèvre"]),
        ("0612345678", ["Hélène Lefèvre"]),
        ("martin", ["Jean Martin"]),
    ],
)
def test_person_search(data: Personas, query: str, expected: list[str]) -> None:
    assert names(selectors.person_list(data.actor("sales"), filters={"q": query})) == expected


@pytest.mark.parametrize("cap", [1, 1000])
def test_search_over_and_under_the_match_cap_gives_the_same_rows(
    data: Personas, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    # Under the cap the list is read from the matching ids; over it, from the plain filter.
    actor = data.actor("sales")
    services.organization_create(actor=actor, legal_name="Lefèvre Frères")
    monkeypatch.setattr(selectors, "SEARCH_MATCH_CAP", cap)
    rows = selectors.organization_list(actor, filters={"q": "lefevre"}, sort="-name")
    assert [str(r) for r in rows] == ["Lefèvre Frères", "Boulangerie Lefèvre"]
    assert names(selectors.person_list(actor, filters={"q": "lefevre"})) == ["Hélène Lefèvre"]
    assert names(selectors.organization_list(actor, filters={"q": "nothing"})) == []


def test_filters_and_sorts(data: Personas) -> None:
    actor = data.actor("sales")
    lefevre = Organization.objects.get(legal_name__startswith="Boulangerie")
    assert names(selectors.organization_list(actor, filters={"city": "lyon"})) == ["Boulangerie Lefèvre"]
    assert names(selectors.organization_list(actor, filters={"country": "fr"})) == ["Boulangerie Lefèvre"]
    services.organization_update(actor=actor, organization_id=lefevre.pk, lifecycle_stage="customer")
    assert names(selectors.organization_list(actor, filters={"lifecycle_stage": "customer"})) == ["Boulangerie Lefèvre"]
    services.tags_set(actor=actor, organization_id=lefevre.pk, names=["VIP"])
    tag = selectors.tag_list(actor).get()
    assert names(selectors.organization_list(actor, filters={"tag": str(tag.pk)})) == ["Boulangerie Lefèvre"]
    services.organization_archive(actor=actor, organization_id=lefevre.pk)
    assert names(selectors.organization_list(actor)) == ["ÉCOLE Supérieure"]
    assert names(selectors.organization_list(actor, filters={"archived": "true"})) == ["Boulangerie Lefèvre"]
    rows = selectors.organization_list(actor, filters={"archived": "false"}, sort="-name")
    assert [str(r) for r in rows] == ["ÉCOLE Supérieure"]
    assert names(selectors.person_list(actor, filters={"organization": str(lefevre.pk)})) == ["Hélène Lefèvre"]
    assert names(selectors.person_list(actor, filters={"owner": str(data.users["sales"].pk)})) == [
        "Hélène Lefèvre",
        "Jean Martin",
    ]
    assert names(selectors.person_list(actor, filters={"owner": "none"})) == []
    assert [str(r) for r in selectors.person_list(actor, sort="-name")] == ["Jean Martin", "Hélène Lefèvre"]


def test_bad_filters_and_sort_are_422(data: Personas) -> None:
    with pytest.raises(ValidationFailed) as exc:
        selectors.organization_list(
            data.actor("sales"),
            filters={"lifecycle_stage": "x", "owner": "abc", "team": "-1", "do_not_contact": "maybe"},
            sort="password",
        )
    assert set(exc.value.fields) == {"lifecycle_stage", "owner", "team", "do_not_contact", "sort"}


def test_detail_prefetches_everything(data: Personas) -> None:
    actor = data.actor("sales")
    org = Organization.objects.get(legal_name__startswith="Boulangerie")
    person = Person.objects.get(last_name="Lefèvre")
    services.consent_record(actor=actor, person_id=person.pk, channel="email", granted=True, source="Salon")
    detail = selectors.organization_detail(actor, org.pk)
    with count_queries() as ctx:  # FETCH_RAISE would fail on any lazy load, and nothing is queried
        assert [str(a.person) for a in detail.affiliations.all()] == ["Hélène Lefèvre"]
        assert [a.city for a in detail.addresses.all()] == ["Lyon"]
        assert list(detail.tags.all()) == []
    assert len(ctx.captured_queries) == 0
    detail_p = selectors.person_detail(actor, person.pk)
    with count_queries() as ctx:
        assert [str(a.organization) for a in detail_p.affiliations.all()] == ["Boulangerie Lefèvre"]
        assert selectors.current_consents(detail_p)["email"].granted is True
    assert len(ctx.captured_queries) == 0


def _populate(p: Personas, n: int) -> None:
    actor = p.actor("sales")
    for i in range(n):
        org = services.organization_create(actor=actor, legal_name=f"Org {i:03}")
        services.tags_set(actor=actor, organization_id=org.pk, names=[f"t{i % 3}"])
        services.person_create(actor=actor, last_name=f"Person {i:03}", organization_id=org.pk)


@pytest.mark.parametrize("kind", ["organizations", "people"])
def test_list_query_count_is_constant(p: Personas, kind: str) -> None:
    def cost() -> int:
        actor = p.actor("sales")
        rows = selectors.organization_list(actor) if kind == "organizations" else selectors.person_list(actor)
        with count_queries() as ctx:
            page = paginate(rows, 1, 50)
            for obj in page.items:
                [t.name for t in obj.tags.all()]
                if kind == "people":
                    [str(a.organization) for a in obj.affiliations.all()]
        return len(ctx.captured_queries)

    _populate(p, 1)
    one = cost()
    _populate(p, 49)
    assert cost() == one


def test_global_search_provider(data: Personas) -> None:
    results = selectors.search(data.actor("sales"), "lefevre", 10)
    assert sorted(r["kind"] for r in results) == ["organization", "person"]
    assert selectors.search(data.actor("production"), "lefevre", 10) == []
    assert selectors.search(data.outsider_actor(), "lefevre", 10) == []

"""Roles × read paths: the UI list, the API list, the export and the global search return
exactly the same rows for every role, and the rows the record rules promise."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from comptoir.contacts import services
from comptoir.contacts.models import Organization, Person
from comptoir.kernel.authz import ROLES
from comptoir.org.models import Team, User
from comptoir.org.testing import Personas, enable_modules, make_user

Q = "matrice"


def _client(user: User) -> Client:
    User.objects.filter(pk=user.pk).update(
        language="en", totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now()
    )
    user.refresh_from_db()
    client = Client()
    client.force_login(user)
    return client


def _ui(client: Client, kind: str) -> set[int] | None:
    response = client.get(reverse(f"contacts:{kind}"), {"q": Q})
    if response.status_code == 403:
        return None
    assert response.status_code == 200
    assert response.context["page"].pages == 1
    return {row["obj"].pk for row in response.context["rows"]}


def _api(client: Client, kind: str) -> set[int] | None:
    response = client.get(f"/api/v1/{kind}", {"q": Q, "page_size": "100"})
    if response.status_code == 403:
        return None
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["items"]}


def _export(client: Client, kind: str) -> set[int] | None:
    response = client.get(reverse(f"contacts:{kind}_export"), {"q": Q, "format": "csv"})
    if response.status_code == 403:
        return None
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    return {int(row[0]) for row in list(csv.reader(io.StringIO(text)))[1:]}


def _search(client: Client, kind: str) -> set[int]:
    response = client.get(reverse("web:search"), {"q": Q})
    assert response.status_code == 200
    wanted = "organization" if kind == "organizations" else "person"
    prefix = "/contacts/organizations/" if kind == "organizations" else "/contacts/people/"
    return {
        int(item["url"].removeprefix(prefix).strip("/"))
        for group in response.context["groups"]
        for item in group.items
        if item.get("kind") == wanted
    }


@pytest.fixture
def world(personas: Personas) -> dict[str, object]:
    p = personas
    enable_modules(p, "contacts")
    me = p.users["sales"]
    teammate = make_user(p.company, "sales", email="teammate@dupont.test")
    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    lead = make_user(p.company, "sales", email="lead@dupont.test")
    team = Team.objects.create(company=p.company, name="Nord", manager=lead)
    team.members.add(me, teammate)
    admin = p.actor("admin")
    orgs: dict[str, int] = {}
    people: dict[str, int] = {}
    for label, owner, team_id in [
        ("mine", me.pk, None), ("teammate", teammate.pk, None), ("stranger", stranger.pk, None),
        ("team", None, team.pk),
    ]:  # fmt: skip
        orgs[label] = services.organization_create(
            actor=admin, legal_name=f"Matrice {label}", owner_id=owner, team_id=team_id
        ).pk
        people[label] = services.person_create(
            actor=admin, last_name=f"Matrice {label}", owner_id=owner, team_id=team_id
        ).pk
    # Noise that no path may ever show: another company, an archived row, a non-matching row.
    Organization.objects.create(company=p.other_company, legal_name="Matrice ailleurs", search_text="matrice ailleurs")
    Person.objects.create(company=p.other_company, last_name="Matrice ailleurs", search_text="matrice ailleurs")
    services.organization_archive(
        actor=admin,
        organization_id=services.organization_create(actor=admin, legal_name="Matrice archivée", owner_id=me.pk).pk,
    )
    services.organization_create(actor=admin, legal_name="Autre", owner_id=me.pk)
    everything = set(orgs)
    expected: dict[str, set[str] | None] = {}
    for role in ROLES:
        expected[role] = None if role in ("production", "hr") else everything
    expected["sales"] = {"mine", "teammate", "team"}
    users = {**{role: p.users[role] for role in ROLES}, "teammate": teammate, "stranger": stranger, "lead": lead}
    expected["teammate"] = {"mine", "teammate", "team"}
    expected["lead"] = {"mine", "teammate", "team"}
    expected["stranger"] = {"stranger"}
    return {"users": users, "expected": expected, "orgs": orgs, "people": people}


@pytest.mark.parametrize("who", [*ROLES, "teammate", "stranger", "lead"])
def test_every_read_path_returns_the_same_rows(world: dict, who: str) -> None:
    client = _client(world["users"][who])
    labels = world["expected"][who]
    can_export = who not in ("production", "hr", "operations")
    for kind, ids in (("organizations", world["orgs"]), ("people", world["people"])):
        if labels is None:
            assert _ui(client, kind) is None
            assert _api(client, kind) is None
            assert _export(client, kind) is None
            assert _search(client, kind) == set()
            continue
        expected = {ids[label] for label in labels}
        assert _ui(client, kind) == expected, (who, kind, "ui")
        assert _api(client, kind) == expected, (who, kind, "api")
        assert _search(client, kind) == expected, (who, kind, "search")
        exported = _export(client, kind)
        if can_export:
            assert exported == expected, (who, kind, "export")
        else:
            assert exported is None

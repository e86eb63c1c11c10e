"""Tags, addresses and contact points API: CRUD, per-field errors with nothing written,
and the same record rules as the pages (another team's contact is a 404 on every path)."""

from __future__ import annotations

import pytest
from django.test import Client

from comptoir.contacts import services, tags
from comptoir.contacts.models import Address, ContactPoint, Organization, Person, Tag
from comptoir.contacts.tests.test_api import API, call, error, key
from comptoir.kernel.models import AuditEntry
from comptoir.kernel.testkit import count_queries
from comptoir.org.testing import Personas, enable_modules, make_user

SIREN = "732829320"


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


@pytest.fixture
def far(p: Personas) -> dict[str, object]:
    """An organization and a person owned by a salesperson of no team of ours, with an address and a contact point."""
    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    admin = p.actor("admin")
    org = services.organization_create(actor=admin, legal_name="Loin", siren=SIREN, owner_id=stranger.pk)
    address = services.address_add(actor=admin, organization_id=org.pk, line1="1 rue A", city="Lyon")
    person = services.person_create(actor=admin, last_name="Loin", owner_id=stranger.pk)
    point = services.contact_point_add(actor=admin, person_id=person.pk, kind="email", value="loin@x.fr")
    return {"org": org, "address": address, "person": person, "point": point}


def test_tags_crud(client: Client, p: Personas) -> None:
    sales, manager = key(p, "sales"), key(p, "management")
    created = call(client, "post", f"{API}/tags", sales, {"name": "Client", "color": "#FF0000"})
    assert created.status_code == 201, created.content
    tag = created.json()
    assert tag == {"id": tag["id"], "name": "Client", "color": "#ff0000", "organization_count": 0, "person_count": 0}
    clash = error(call(client, "post", f"{API}/tags", sales, {"name": "CLIÉNT"}), 422)
    assert list(clash["fields"]) == ["name"]
    assert error(call(client, "post", f"{API}/tags", sales, {"name": "x", "colour": "red"}), 422)["fields"]
    assert Tag.objects.count() == 1
    services.organization_create(actor=p.actor("sales"), legal_name="Acme", tag_ids=[tag["id"]])
    listed = call(client, "get", f"{API}/tags?sort=-organization_count", sales).json()
    assert listed["count"] == 1 and listed["items"][0]["organization_count"] == 1
    assert error(call(client, "get", f"{API}/tags?sort=color", sales), 422)["fields"]
    # Renaming and deleting reach every contact: tag managers only.
    error(call(client, "patch", f"{API}/tags/{tag['id']}", sales, {"name": "Clients"}), 403)
    renamed = call(client, "patch", f"{API}/tags/{tag['id']}", manager, {"name": "Clients"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Clients"
    assert call(client, "get", f"{API}/tags/{tag['id']}", sales).json()["name"] == "Clients"
    deleted = call(client, "delete", f"{API}/tags/{tag['id']}", manager)
    assert deleted.status_code == 200 and deleted.json() == {"id": tag["id"], "organizations": 1, "people": 0}
    error(call(client, "get", f"{API}/tags/{tag['id']}", sales), 404)
    assert not Organization.tags.through.objects.exists()
    # Another company's tags are not ours to see; a read-only key cannot write.
    outsider = tags.tag_create(actor=p.outsider_actor(), name="Ailleurs")
    error(call(client, "get", f"{API}/tags/{outsider.pk}", sales), 404)
    error(call(client, "post", f"{API}/tags", key(p, "sales", ["contacts:read"]), {"name": "Lu"}), 403)


def test_tag_list_queries_do_not_grow(client: Client, p: Personas) -> None:
    secret = key(p, "sales")
    tags.tag_create(actor=p.actor("sales"), name="t0")
    call(client, "get", f"{API}/tags", secret)  # warm the per-process caches (modules, permissions)
    with count_queries() as one:
        assert call(client, "get", f"{API}/tags", secret).json()["count"] == 1
    for i in range(1, 8):
        services.person_create(actor=p.actor("sales"), last_name=f"P{i}", tag_names=[f"t{i}", "t0"])
    with count_queries() as many:
        assert call(client, "get", f"{API}/tags", secret).json()["count"] == 8
    assert len(many) == len(one)


def test_addresses_crud(client: Client, p: Personas) -> None:
    secret = key(p, "sales")
    org = services.organization_create(actor=p.actor("sales"), legal_name="Acme", siren=SIREN)
    url = f"{API}/organizations/{org.pk}/addresses"
    first = call(client, "post", url, secret, {"line1": "1 rue A", "city": "Lyon", "is_default": True})
    assert first.status_code == 201, first.content
    assert first.json()["kind"] == "billing" and first.json()["country"] == "FR" and first.json()["is_default"]
    body = {"line1": "2 rue B", "city": "Lyon", "siret": "73282932000074", "kind": "delivery"}
    second = call(client, "post", url, secret, body).json()
    bad = error(call(client, "post", url, secret, {"line1": "", "siret": "84215763800011", "country": "FRA"}), 422)
    assert set(bad["fields"]) == {"line1", "city", "siret", "country"}
    assert Address.objects.count() == 2
    patched = call(client, "patch", f"{API}/addresses/{second['id']}", secret, {"kind": "billing", "is_default": True})
    assert patched.status_code == 200 and patched.json()["is_default"] is True
    listed = call(client, "get", url, secret).json()
    assert [(a["id"], a["is_default"]) for a in listed] == [(second["id"], True), (first.json()["id"], False)]
    bad = error(call(client, "patch", f"{API}/addresses/{second['id']}", secret, {"siret": "84215763800011"}), 422)
    assert list(bad["fields"]) == ["siret"]
    error(call(client, "patch", f"{API}/addresses/{second['id']}", secret, {"street": "x"}), 422)
    assert call(client, "get", f"{API}/addresses/{second['id']}", secret).json()["siret"] == "73282932000074"
    removed = call(client, "delete", f"{API}/addresses/{second['id']}", secret)
    assert removed.status_code == 204 and removed.content == b""
    error(call(client, "get", f"{API}/addresses/{second['id']}", secret), 404)
    actions = AuditEntry.objects.filter(action__startswith="contacts.address_").values_list("action", flat=True)
    assert sorted(actions) == ["contacts.address_add"] * 2 + ["contacts.address_remove", "contacts.address_update"]


def test_another_team_s_addresses_and_contact_points_are_404(client: Client, p: Personas, far: dict) -> None:
    secret = key(p, "sales")
    org, address, person, point = far["org"], far["address"], far["person"], far["point"]
    for method, url, body in [
        ("get", f"{API}/organizations/{org.pk}/addresses", None),
        ("post", f"{API}/organizations/{org.pk}/addresses", {"line1": "x", "city": "y"}),
        ("get", f"{API}/addresses/{address.pk}", None),
        ("patch", f"{API}/addresses/{address.pk}", {"city": "Paris"}),
        ("delete", f"{API}/addresses/{address.pk}", None),
        ("get", f"{API}/people/{person.pk}/contact-points", None),
        ("post", f"{API}/people/{person.pk}/contact-points", {"kind": "email", "value": "a@b.fr"}),
        ("get", f"{API}/contact-points/{point.pk}", None),
        ("patch", f"{API}/contact-points/{point.pk}", {"label": "x"}),
        ("delete", f"{API}/contact-points/{point.pk}", None),
        ("post", f"{API}/contact-points/{point.pk}/primary", {}),
    ]:
        error(call(client, method, url, secret, body), 404)
    assert list(Address.objects.values_list("line1", "city")) == [("1 rue A", "Lyon")]
    assert list(ContactPoint.objects.values_list("value", "label")) == [("loin@x.fr", "")]
    assert Person.objects.get(pk=person.pk).email == ""
    # The manager sees every contact: the same paths answer.
    manager = key(p, "management")
    assert call(client, "patch", f"{API}/addresses/{address.pk}", manager, {"city": "Paris"}).json()["city"] == "Paris"
    assert len(call(client, "get", f"{API}/people/{person.pk}/contact-points", manager).json()) == 1


def test_contact_points_crud(client: Client, p: Personas) -> None:
    secret = key(p, "sales")
    person = services.person_create(actor=p.actor("sales"), last_name="Martin", email="m@acme.fr")
    url = f"{API}/people/{person.pk}/contact-points"
    created = call(client, "post", url, secret, {"kind": "phone", "value": "04 78 00 00 00", "label": "bureau"})
    assert created.status_code == 201, created.content
    point = created.json()
    assert point == {
        "id": point["id"], "person_id": person.pk, "kind": "phone", "value": "+33478000000",
        "display": "04 78 00 00 00", "label": "bureau",
    }  # fmt: skip
    bad = error(call(client, "post", url, secret, {"kind": "email", "value": "M@acme.fr"}), 422)
    assert list(bad["fields"]) == ["value"]
    bad = error(call(client, "post", url, secret, {"kind": "pager", "value": "1"}), 422)
    assert list(bad["fields"]) == ["kind"]
    error(call(client, "post", url, secret, {"kind": "email"}), 422)
    assert ContactPoint.objects.count() == 1
    email = call(client, "post", url, secret, {"kind": "email", "value": "Perso@X.fr"}).json()
    assert email["value"] == "perso@x.fr" and email["display"] == "perso@x.fr"
    patched = call(client, "patch", f"{API}/contact-points/{point['id']}", secret, {"value": "+41 44 668 18 00"})
    assert patched.status_code == 200 and patched.json()["display"] == "+41 44 668 18 00"
    error(call(client, "patch", f"{API}/contact-points/{point['id']}", secret, {"value": "abc"}), 422)
    assert call(client, "get", f"{API}/contact-points/{point['id']}", secret).json()["value"] == "+41446681800"
    primary = call(client, "post", f"{API}/contact-points/{email['id']}/primary", secret, {})
    assert primary.status_code == 200, primary.content
    body = primary.json()
    assert body["email"] == "perso@x.fr"
    assert {(c["kind"], c["value"]) for c in body["contact_points"]} == {
        ("phone", "+41446681800"),
        ("email", "m@acme.fr"),
    }
    assert call(client, "get", f"{API}/people/{person.pk}?", secret).json()["email"] == "perso@x.fr"
    removed = call(client, "delete", f"{API}/contact-points/{point['id']}", secret)
    assert removed.status_code == 204
    assert [c["kind"] for c in call(client, "get", url, secret).json()] == ["email"]


def test_openapi_lists_the_new_paths(client: Client, p: Personas) -> None:
    paths = client.get(f"{API}/openapi.json").json()["paths"]
    for path in (
        "/api/v1/tags", "/api/v1/tags/{tag_id}", "/api/v1/organizations/{organization_id}/addresses",
        "/api/v1/addresses/{address_id}", "/api/v1/people/{person_id}/contact-points",
        "/api/v1/contact-points/{contact_point_id}", "/api/v1/contact-points/{contact_point_id}/primary",
    ):  # fmt: skip
        assert path in paths, path
    assert set(paths["/api/v1/addresses/{address_id}"]) == {"get", "patch", "delete"}


def test_contacts_take_tags_by_name(client: Client, p: Personas) -> None:
    secret = key(p, "sales")
    tags.tag_create(actor=p.actor("sales"), name="Client")
    created = call(
        client, "post", f"{API}/organizations", secret, {"legal_name": "Acme", "tag_names": ["client", "Neuf"]}
    )
    assert created.status_code == 201, created.content
    assert sorted(t["name"] for t in created.json()["tags"]) == ["Client", "Neuf"]
    bad = error(call(client, "post", f"{API}/people", secret, {"last_name": "", "tag_names": ["Autre"]}), 422)
    assert list(bad["fields"]) == ["last_name"]
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["Client", "Neuf"]
    person = call(client, "post", f"{API}/people", secret, {"last_name": "Martin", "tag_names": ["neuf"]}).json()
    patched = call(client, "patch", f"{API}/people/{person['id']}", secret, {"tag_names": ["Salon"]})
    assert sorted(t["name"] for t in patched.json()["tags"]) == ["Neuf", "Salon"]

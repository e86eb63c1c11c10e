"""Contacts API: CRUD, filters, sort, pagination, and the permission matrix
(anonymous 401, missing scope 403, other company 404, wrong role 403, module off 404)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from comptoir.contacts import services
from comptoir.contacts.models import Organization, Person
from comptoir.kernel.testkit import count_queries
from comptoir.org import services as org_services
from comptoir.org.testing import Personas, enable_modules

API = "/api/v1"
RW = ["contacts:read", "contacts:write"]


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


def key(p: Personas, role: str, scopes: list[str] | None = None) -> str:
    _key, secret = org_services.apikey_create(actor=p.actor(role), name=f"{role}", scopes=scopes or RW)
    return secret


def call(client: Client, method: str, url: str, secret: str | None = None, body: Any = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    if method == "get":
        return client.get(url, headers=headers)
    return getattr(client, method)(url, data=json.dumps(body or {}), content_type="application/json", headers=headers)


def error(response, status: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    data = response.json()
    assert set(data) == {"code", "message", "fields"}
    return data


def test_crud_organization(client: Client, p: Personas) -> None:
    secret = key(p, "sales")
    body = {
        "legal_name": "Boulangerie Lefèvre",
        "siret": "73282932000074",
        "phone": "04 78 00 00 00",
        "naf_code": "1071c",
    }
    created = call(client, "post", f"{API}/organizations", secret, body)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["siren"] == "732829320" and body["phone"] == "+33478000000" and body["naf_code"] == "10.71C"
    assert body["owner_id"] == p.users["sales"].pk
    org_id = body["id"]
    got = call(client, "get", f"{API}/organizations/{org_id}", secret).json()
    assert got["legal_name"] == "Boulangerie Lefèvre"
    patched = call(client, "patch", f"{API}/organizations/{org_id}", secret, {"trade_name": "Lefèvre", "tag_ids": []})
    assert patched.status_code == 200 and patched.json()["trade_name"] == "Lefèvre"
    listed = call(client, "get", f"{API}/organizations?q=LEFEVRE", secret).json()
    assert [r["id"] for r in listed["items"]] == [org_id] and listed["count"] == 1
    archived = call(client, "post", f"{API}/organizations/{org_id}/archive", secret, {})
    assert archived.json()["is_archived"] is True
    assert call(client, "get", f"{API}/organizations", secret).json()["count"] == 0
    assert call(client, "get", f"{API}/organizations?archived=true", secret).json()["count"] == 1
    restored = call(client, "post", f"{API}/organizations/{org_id}/archive", secret, {"archived": False})
    assert restored.json()["is_archived"] is False


def test_crud_person(client: Client, p: Personas) -> None:
    secret = key(p, "sales")
    org = services.organization_create(actor=p.actor("sales"), legal_name="Acme")
    body = {"first_name": "Hélène", "last_name": "Lefèvre", "email": "H@Acme.fr", "organization_id": org.pk}
    created = call(client, "post", f"{API}/people", secret, {**body, "role": "CEO"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["email"] == "h@acme.fr"
    assert body["organizations"] == [
        {"organization_id": org.pk, "organization_name": "Acme", "role": "CEO", "is_primary": True}
    ]
    person_id = body["id"]
    patched = call(
        client, "patch", f"{API}/people/{person_id}", secret, {"job_title": "CEO", "lifecycle_stage": "lead"}
    )
    assert patched.json()["lifecycle_stage"] == "lead"
    listed = call(client, "get", f"{API}/people?q=helene&organization={org.pk}", secret).json()
    assert [r["id"] for r in listed["items"]] == [person_id]
    assert call(client, "post", f"{API}/people/{person_id}/archive", secret, {}).json()["is_archived"] is True


def test_validation_errors_are_422_per_field_and_write_nothing(client: Client, p: Personas) -> None:
    secret = key(p, "sales")
    data = error(
        call(client, "post", f"{API}/organizations", secret, {"legal_name": "", "siren": "123", "email": "x"}), 422
    )
    assert set(data["fields"]) == {"legal_name", "siren", "email"}
    data = error(call(client, "post", f"{API}/organizations", secret, {"legal_name": "A", "unknown": 1}), 422)
    assert "unknown" in data["fields"]
    data = error(call(client, "post", f"{API}/people", secret, {"first_name": "x"}), 422)
    assert set(data["fields"]) == {"last_name"}
    data = error(call(client, "post", f"{API}/people", secret, {"last_name": "X", "lifecycle_stage": "boss"}), 422)
    assert "lifecycle_stage" in data["fields"]
    assert Organization.objects.count() == 0 and Person.objects.count() == 0
    error(call(client, "get", f"{API}/organizations?sort=password", secret), 422)
    error(call(client, "get", f"{API}/organizations?page=0", secret), 422)
    error(call(client, "get", f"{API}/organizations?owner=abc", secret), 422)
    error(call(client, "get", f"{API}/organizations/99999999999999999999", secret), 422)
    error(call(client, "post", f"{API}/organizations", secret, {"legal_name": None}), 422)


def test_sort_and_pagination(client: Client, p: Personas) -> None:
    secret = key(p, "sales")
    for name in ("Charlie", "Alpha", "Bravo"):
        services.organization_create(actor=p.actor("sales"), legal_name=name)
    first = call(client, "get", f"{API}/organizations?sort=-name&page_size=2", secret).json()
    assert first["count"] == 3 and first["pages"] == 2
    second = call(client, "get", f"{API}/organizations?sort=-name&page_size=2&page=2", secret).json()
    assert [r["legal_name"] for r in first["items"] + second["items"]] == ["Charlie", "Bravo", "Alpha"]


def test_list_query_count_constant(client: Client, p: Personas) -> None:
    secret = key(p, "sales")

    def cost() -> int:
        with count_queries() as ctx:
            assert call(client, "get", f"{API}/people?page_size=50", secret).status_code == 200
        return len(ctx.captured_queries)

    org = services.organization_create(actor=p.actor("sales"), legal_name="Acme")
    services.tags_set(actor=p.actor("sales"), organization_id=org.pk, names=["a"])
    person = services.person_create(actor=p.actor("sales"), last_name="P0", organization_id=org.pk)
    services.tags_set(actor=p.actor("sales"), person_id=person.pk, names=["a"])
    cost()  # the key's first use records it: measure steady requests
    one = cost()
    for i in range(1, 50):
        person = services.person_create(actor=p.actor("sales"), last_name=f"P{i}", organization_id=org.pk)
        services.tags_set(actor=p.actor("sales"), person_id=person.pk, names=["a", f"b{i}"])
    assert cost() == one


# --- Permission matrix ----------------------------------------------------------------


def endpoints(org_id: int, person_id: int) -> list[tuple[str, str, str, Any]]:
    """(name, method, url, body) of every endpoint."""
    return [
        ("org_list", "get", f"{API}/organizations", None),
        ("org_get", "get", f"{API}/organizations/{org_id}", None),
        ("org_create", "post", f"{API}/organizations", {"legal_name": "New"}),
        ("org_update", "patch", f"{API}/organizations/{org_id}", {"notes": "x"}),
        ("org_archive", "post", f"{API}/organizations/{org_id}/archive", {}),
        ("person_list", "get", f"{API}/people", None),
        ("person_get", "get", f"{API}/people/{person_id}", None),
        ("person_create", "post", f"{API}/people", {"last_name": "New"}),
        ("person_update", "patch", f"{API}/people/{person_id}", {"notes": "x"}),
        ("person_archive", "post", f"{API}/people/{person_id}/archive", {}),
    ]


WRITES = {"org_create", "org_update", "org_archive", "person_create", "person_update", "person_archive"}
BY_ID = {"org_get", "org_update", "org_archive", "person_get", "person_update", "person_archive"}


@pytest.fixture
def rows(p: Personas) -> tuple[Organization, Person]:
    org = services.organization_create(actor=p.actor("sales"), legal_name="Acme")
    person = services.person_create(actor=p.actor("sales"), last_name="Martin")
    return org, person


def test_anonymous_is_401(client: Client, p: Personas, rows: tuple[Organization, Person]) -> None:
    for _name, method, url, body in endpoints(rows[0].pk, rows[1].pk):
        assert error(call(client, method, url, None, body), 401)["code"] == "unauthenticated"


def test_read_scope_cannot_write(client: Client, p: Personas, rows: tuple[Organization, Person]) -> None:
    read_only = key(p, "sales", ["contacts:read"])
    no_contacts = key(p, "sales", ["org:read"])
    for name, method, url, body in endpoints(rows[0].pk, rows[1].pk):
        response = call(client, method, url, read_only, body)
        if name in WRITES:
            error(response, 403)
        else:
            assert response.status_code == 200, (name, response.content)
        error(call(client, method, url, no_contacts, body), 403)


def test_other_company_is_404(client: Client, p: Personas, rows: tuple[Organization, Person]) -> None:
    from comptoir.org.services import module_set

    module_set(actor=p.outsider_actor(), module="contacts", enabled=True)
    _key, secret = org_services.apikey_create(actor=p.outsider_actor(), name="x", scopes=RW)
    for name, method, url, body in endpoints(rows[0].pk, rows[1].pk):
        response = call(client, method, url, secret, body)
        if name in BY_ID:
            error(response, 404)
        elif name in ("org_list", "person_list"):
            assert response.json()["count"] == 0


def test_wrong_role_is_403_and_invisible_row_404(
    client: Client, p: Personas, rows: tuple[Organization, Person]
) -> None:
    operations = key(p, "operations", ["contacts:read", "contacts:write"])
    for name, method, url, body in endpoints(rows[0].pk, rows[1].pk):
        response = call(client, method, url, operations, body)
        if name in WRITES:
            error(response, 403)  # operations sees every contact, changes none
        else:
            assert response.status_code == 200
    production = key(p, "production", ["contacts:read"])
    error(call(client, "get", f"{API}/organizations", production), 403)
    # A salesperson outside the owner's team: the row does not exist for them.
    from comptoir.org.testing import make_user

    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    from comptoir.org.selectors import build_actor

    _key, secret = org_services.apikey_create(actor=build_actor(stranger, p.company.pk, "api"), name="s", scopes=RW)
    for name, method, url, body in endpoints(rows[0].pk, rows[1].pk):
        if name in BY_ID:
            error(call(client, method, url, secret, body), 404)


def test_module_off_is_404(client: Client, personas: Personas) -> None:
    secret = key(personas, "sales", ["org:read"])
    assert error(call(client, "get", f"{API}/organizations", secret), 404)["code"] == "module_disabled"

"""The merge API (needs the duplicates router mounted before the contacts router: see the report)."""

from __future__ import annotations

import pytest
from django.test import Client

from comptoir.contacts.tests.dup_helpers import org
from comptoir.contacts.tests.test_merge import _login, _orgs
from comptoir.org.testing import Personas, enable_modules

API = "/api/v1"


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


def test_api_merge(client: Client, p: Personas) -> None:
    survivor, other = _orgs(p)
    _login(client, p.users["management"])
    body = {"survivor": survivor.pk, "other": other.pk, "fields": {"email": "other"}}
    response = client.post(f"{API}/organizations/merge", body, content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["id"] == survivor.pk and data["merged_id"] == other.pk
    assert data["repointed"]["contacts.address.organization"] == 2
    again = client.post(f"{API}/organizations/merge", body, content_type="application/json")
    assert again.status_code == 409 and again.json()["code"] == "already_merged"
    same = client.post(f"{API}/organizations/merge", {"survivor": survivor.pk, "other": survivor.pk},
                       content_type="application/json")  # fmt: skip
    assert same.status_code == 422 and "other" in same.json()["fields"]
    wrong = client.post(f"{API}/people/merge", {"survivor": 1, "other": 2, "fields": {"email": "x"}},
                        content_type="application/json")  # fmt: skip
    assert wrong.status_code == 422 and "fields.email" in wrong.json()["fields"]
    extra = client.post(f"{API}/people/merge", {"survivor": 1, "other": 2, "oops": 1}, content_type="application/json")
    assert extra.status_code == 422


def test_api_merge_permission_and_other_company(client: Client, p: Personas) -> None:
    survivor, other = _orgs(p)
    foreign = org(p.other_company, "Foreign")
    _login(client, p.users["sales"])
    body = {"survivor": survivor.pk, "other": other.pk}
    assert client.post(f"{API}/organizations/merge", body, content_type="application/json").status_code == 403
    _login(client, p.users["management"])
    body = {"survivor": survivor.pk, "other": foreign.pk}
    assert client.post(f"{API}/organizations/merge", body, content_type="application/json").status_code == 404

"""The API's hot path: one query to authenticate, one for a user page; nothing cached."""

from __future__ import annotations

import pytest
from django.test import Client

from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.testkit import count_queries
from comptoir.org import services
from comptoir.org.models import Membership, User
from comptoir.org.testing import Personas, make_user

URL = "/api/v1/users"


def key(personas: Personas, role: str = "admin") -> str:
    _key, secret = services.apikey_create(actor=personas.actor(role), name="k", scopes=["org:read", "kernel:read"])
    return secret


def get(client: Client, secret: str, url: str = URL):  # type: ignore[no-untyped-def]
    return client.get(url, headers={"Authorization": f"Bearer {secret}"})


def test_user_page_is_two_queries(personas, client):
    secret = key(personas)
    assert get(client, secret).status_code == 200  # records the key's last use (once a minute)
    with count_queries() as ctx:
        response = get(client, secret, f"{URL}?page_size=3&sort=-email")
    assert response.status_code == 200
    assert len(ctx.captured_queries) == 2, [q["sql"] for q in ctx.captured_queries]
    data = response.json()
    members = User.objects.filter(memberships__company=personas.company).distinct()
    assert data["count"] == members.count() and data["page_size"] == 3
    assert [u["email"] for u in data["items"]] == list(members.order_by("-email").values_list("email", flat=True)[:3])


def test_roles_are_those_held_in_the_current_company_sorted(personas, client):
    user = make_user(personas.company, "sales", email="multi@atelier-dupont.test")
    Membership.objects.create(user=user, company=personas.company, role="finance")
    Membership.objects.create(user=user, company=personas.other_company, role="admin")
    data = get(client, key(personas), f"{URL}?q=multi@").json()
    assert data["count"] == 1
    (row,) = data["items"]
    assert row["roles"] == ["finance", "sales"]
    assert set(row) == {"id", "email", "full_name", "language", "is_active", "date_joined", "roles"}
    # Same row as the single-user endpoint, which goes through the model and pydantic.
    assert get(client, key(personas), f"{URL}/{user.pk}").json() == row


def test_role_filter_keeps_all_roles_of_matching_users(personas, client):
    user = make_user(personas.company, "sales", email="both@atelier-dupont.test")
    Membership.objects.create(user=user, company=personas.company, role="hr")
    data = get(client, key(personas), f"{URL}?role=hr&page_size=50").json()
    rows = {r["email"]: r["roles"] for r in data["items"]}
    assert rows["both@atelier-dupont.test"] == ["hr", "sales"]
    assert all("hr" in roles for roles in rows.values())


def test_page_past_the_end(personas, client):
    data = get(client, key(personas), f"{URL}?page=50").json()
    assert (
        data["items"] == []
        and data["count"] == User.objects.filter(memberships__company=personas.company).distinct().count()
    )


def test_authentication_is_one_query_and_reads_memberships(personas):
    secret = key(personas, "sales")
    services.apikey_authenticate(secret)  # last use recorded
    with count_queries() as ctx:
        found = services.apikey_authenticate(secret)
    assert len(ctx.captured_queries) == 1
    assert found is not None
    assert found.membership_pairs == [(personas.company.pk, "sales")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("change", ["revoke", "leave_company", "deactivate"])
def test_a_key_stops_working_on_the_very_next_request(personas, client, change):
    secret = key(personas, "admin")
    assert get(client, secret).status_code == 200
    admin = personas.users["admin"]
    if change == "revoke":
        found = services.apikey_authenticate(secret)
        assert found is not None
        services.apikey_revoke(actor=personas.actor("admin"), key_id=found.pk)
    elif change == "leave_company":
        Membership.objects.filter(user=admin, company=personas.company).delete()
    else:
        User.objects.filter(pk=admin.pk).update(is_active=False)
    assert get(client, secret).status_code == 401


def test_owner_without_any_membership_is_refused(personas):
    user = make_user(personas.company, "sales", email="gone@atelier-dupont.test")
    actor = Actor(
        user=user, company_id=personas.company.pk, roles=frozenset({"sales"}), channel=Channel.UI,
        permissions=personas.actor("sales").permissions, company_ids=frozenset({personas.company.pk}),
    )  # fmt: skip
    _key, secret = services.apikey_create(actor=actor, name="k", scopes=["org:read"])
    Membership.objects.filter(user=user).delete()
    found = services.apikey_authenticate(secret)
    assert found is not None and found.membership_pairs == []  # type: ignore[attr-defined]
    from comptoir.org.api import actor_from_key

    assert actor_from_key(secret) is None

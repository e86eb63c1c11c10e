"""GET /api/v1/audit-entries: scoped to the company, filtered, paginated, newest first."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from comptoir.kernel import audit
from comptoir.kernel.context import Channel
from comptoir.kernel.models import AuditEntry
from comptoir.kernel.testkit import count_queries
from comptoir.org import services
from comptoir.org.models import ApiKey

URL = "/api/v1/audit-entries"


def key_for(personas, role="admin", scopes=("kernel:read",)) -> str:  # type: ignore[no-untyped-def]
    return services.apikey_create(actor=personas.actor(role), name="k", scopes=list(scopes))[1]


def get(client: Client, secret: str | None, query: str = ""):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return client.get(f"{URL}?{query}" if query else URL, headers=headers)


def record(actor, action: str, at: dt.datetime | None = None, **kwargs) -> AuditEntry:  # type: ignore[no-untyped-def]
    with transaction.atomic():
        entry = audit.record(actor, action, **kwargs)
    if at is not None:
        AuditEntry.objects.filter(pk=entry.pk).update(at=at)
    return entry


def error(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    data = response.json()
    assert set(data) == {"code", "message", "fields"}
    return data


def test_anonymous_and_bad_keys_are_401(personas, client):
    assert error(get(client, None), 401)["code"] == "unauthenticated"
    assert error(get(client, "cpt_nope"), 401)["code"] == "unauthenticated"
    secret = key_for(personas)
    ApiKey.objects.update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert error(get(client, secret), 401)["code"] == "unauthenticated"


def test_revoked_key_is_401(personas, client):
    secret = key_for(personas)
    services.apikey_revoke(actor=personas.actor("admin"), key_id=ApiKey.objects.get().pk)
    assert error(get(client, secret), 401)["code"] == "unauthenticated"


def test_key_without_kernel_scope_is_403(personas, client):
    secret = key_for(personas, "admin", ["org:write"])
    assert error(get(client, secret), 403)["code"] == "permission_denied"


@pytest.mark.parametrize("role", ["sales", "marketing", "service", "operations", "production", "hr"])
def test_roles_without_audit_permission_are_403(personas, client, role):
    assert error(get(client, key_for(personas, role)), 403)["code"] == "permission_denied"


@pytest.mark.parametrize("role", ["finance", "management", "admin"])
def test_roles_with_audit_permission_read_it(personas, client, role):
    assert get(client, key_for(personas, role)).status_code == 200


def test_only_own_company_newest_first(personas, client):
    secret = key_for(personas)
    now = timezone.now()
    old = record(personas.actor("admin"), "test.old", at=now - dt.timedelta(days=3), object_type="org.site")
    new = record(personas.actor("sales"), "test.new", at=now - dt.timedelta(hours=1))
    foreign = record(personas.outsider_actor(), "test.foreign")
    data = get(client, secret, "action=test.").json()
    assert [e["id"] for e in data["items"]] == [new.pk, old.pk]
    assert foreign.pk not in [e["id"] for e in get(client, secret, "page_size=500").json()["items"]]
    item = data["items"][1]
    assert item["action"] == "test.old" and item["object_type"] == "org.site" and item["channel"] == "ui"
    assert item["actor_id"] == personas.users["admin"].pk
    assert get(client, secret, "action=test.&sort=at").json()["items"][0]["id"] == old.pk


def test_filters(personas, client):
    secret = key_for(personas)
    today = timezone.localdate()
    admin, sales = personas.actor("admin"), personas.actor("sales", channel=Channel.API)
    record(admin, "site.create", object_type="org.site", object_id="41")
    record(sales, "site.update", object_type="org.site", object_id="42")
    record(admin, "company.update", at=timezone.now() - dt.timedelta(days=10))

    def actions(query: str) -> list[str]:
        response = get(client, secret, query)
        assert response.status_code == 200, response.content
        return sorted(e["action"] for e in response.json()["items"] if not e["action"].startswith("api_key."))

    assert actions(f"actor_id={personas.users['sales'].pk}") == ["site.update"]
    assert actions("channel=api") == ["site.update"]
    assert actions("action=site.") == ["site.create", "site.update"]
    assert actions("action=site.create") == ["site.create"]
    assert actions("object_type=org.site&object_id=42") == ["site.update"]
    assert actions(f"date_from={today - dt.timedelta(days=1)}") == ["site.create", "site.update"]
    assert actions(f"date_to={today - dt.timedelta(days=1)}") == ["company.update"]
    assert actions("q=sales@") == ["site.update"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("channel=email", "channel"),
        ("actor_id=abc", "actor_id"),
        ("actor_id=0", "actor_id"),
        ("date_from=2026-13-01", "date_from"),
        ("date_from=0001-01-01", "date_from"),
        ("date_from=2026-05-02&date_to=2026-05-01", "date_to"),
        ("sort=actor_label", "sort"),
        ("page_size=1000", "page_size"),
        ("q=a%00b", "q"),
    ],
)
def test_bad_filters_are_422(personas, client, query, field):
    data = error(get(client, key_for(personas), query), 422)
    assert field in data["fields"], data


def test_query_count_same_for_1_and_50_entries(personas, client):
    secret = key_for(personas)
    get(client, secret)  # records the key's last use, written at most once a minute

    def queries() -> int:
        with count_queries() as ctx:
            assert get(client, secret).status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    actor = personas.actor("admin")
    for i in range(49):
        record(actor, f"test.bulk{i}")
    assert get(client, secret).json()["count"] == 50
    assert queries() == few


def test_session_user_reads_audit(personas):
    client = Client()
    client.force_login(personas.users["finance"])
    assert client.get(URL).status_code == 200
    client.force_login(personas.users["sales"])
    assert error(client.get(URL), 403)["code"] == "permission_denied"

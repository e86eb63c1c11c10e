"""Notifications: notify inside a transaction, a user only sees and marks their own, API and page."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.kernel import notifications
from comptoir.kernel.errors import NotFound
from comptoir.kernel.models import Notification
from comptoir.org import services as org_services
from comptoir.org.models import User
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db
API = "/api/v1"


def _notify(personas: Personas, *roles: str, message: str = "Vous avez été mentionné.") -> list[Notification]:
    ids = [personas.users[r].pk for r in roles]
    with transaction.atomic():
        return notifications.notify(company_id=personas.company.pk, user_ids=ids, message=message, url="/crm/")


def test_notify_one_row_per_distinct_user_and_own_rows_only(personas: Personas) -> None:
    rows = _notify(personas, "sales", "sales", "finance")
    assert len(rows) == 2
    sales = personas.actor("sales")
    assert notifications.unread_count(sales) == 1
    assert [n.message for n in notifications.notification_list(sales)] == ["Vous avez été mentionné."]
    assert notifications.unread_count(personas.outsider_actor()) == 0
    finance_row = Notification.objects.get(user_id=personas.users["finance"].pk)
    with pytest.raises(NotFound):
        notifications.mark_read(sales, [finance_row.pk])
    with pytest.raises(NotFound):
        notifications.notification_get(sales, finance_row.pk)
    assert Notification.objects.get(pk=finance_row.pk).read_at is None
    assert notifications.mark_read(sales) == 1
    assert notifications.unread_count(sales) == 0


def test_notify_trims_long_messages(personas: Personas) -> None:
    long = _notify(personas, "sales", message="x" * 400)[0]
    assert len(long.message) == 300 and long.message.endswith("…")


def test_notify_outside_a_transaction_refuses(personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    class NoAtomic:
        in_atomic_block = False

    monkeypatch.setattr(notifications.transaction, "get_connection", lambda: NoAtomic())
    with pytest.raises(RuntimeError):
        notifications.notify(company_id=personas.company.pk, user_ids=[1], message="x")
    monkeypatch.undo()
    assert not Notification.objects.exists()


def key(personas: Personas, role: str, scopes: list[str]) -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=personas.actor(role), name=f"{role} key", scopes=scopes)
    return {"Authorization": f"Bearer {secret}"}


def test_api_list_and_mark_read(personas: Personas, client: Client) -> None:
    mine = _notify(personas, "sales")[0]
    theirs = _notify(personas, "finance")[0]
    h = key(personas, "sales", ["kernel:read"])
    assert client.get(API + "/notifications").status_code == 401
    listed = client.get(API + "/notifications?unread=true", headers=h)
    assert listed.status_code == 200 and [n["id"] for n in listed.json()["items"]] == [mine.pk]
    done = client.post(
        API + f"/notifications/{mine.pk}/read", data=json.dumps({}), headers=h, content_type="application/json"
    )
    assert done.status_code == 200 and done.json()["read_at"]
    other = client.post(API + f"/notifications/{theirs.pk}/read", headers=h)
    assert other.status_code == 404
    assert client.post(API + "/notifications/0/read", headers=h).status_code in (404, 422)
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert client.get(API + "/notifications?unread=true", headers=h).json()["items"] == []


def _login(client: Client, personas: Personas, role: str) -> User:
    user = personas.users[role]
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language="en"
    )
    user.refresh_from_db()
    client.force_login(user)
    return user


def test_page_badge_and_mark_read(personas: Personas, client: Client) -> None:
    _login(client, personas, "sales")
    page = client.get("/notifications/")
    assert page.status_code == 200 and b'id="unread-badge"' not in page.content
    mine = _notify(personas, "sales", message="Camille vous a mentionné.")[0]
    theirs = _notify(personas, "finance")[0]
    page = client.get("/notifications/")
    assert b'id="unread-badge"' in page.content and "Camille vous a mentionné." in page.content.decode()
    assert client.post("/notifications/", {"id": str(theirs.pk)}).status_code == 404
    assert client.post("/notifications/", {"id": "abc"}).status_code == 404
    assert client.post("/notifications/", {"id": str(mine.pk)}).status_code == 302
    assert Notification.objects.get(pk=mine.pk).read_at is not None
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert b'id="unread-badge"' not in client.get("/notifications/").content


def test_badge_costs_one_query_whatever_the_count(personas: Personas, client: Client) -> None:
    _login(client, personas, "sales")
    _notify(personas, "sales")
    client.get("/")
    with CaptureQueriesContext(connection) as few:
        client.get("/")
    for _i in range(5):
        _notify(personas, "sales")
    with CaptureQueriesContext(connection) as many:
        page = client.get("/")
    assert b'id="unread-badge"' in page.content and ">6<" in page.content.decode()
    assert len(many) == len(few)
    assert sum("kernel_notification" in q["sql"] for q in many.captured_queries) == 1


def test_anonymous_gets_no_badge_and_login_redirect(client: Client) -> None:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert client.get("/notifications/").status_code == 302
    with CaptureQueriesContext(connection) as queries:
        client.get("/login/")
    assert not any("kernel_notification" in q["sql"] for q in queries.captured_queries)

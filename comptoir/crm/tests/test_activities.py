"""Activities: services (validation, workflow, record rules, rights), "my day" buckets and queries, API, pages."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.contacts import services as contact_services
from comptoir.crm import activities, services
from comptoir.crm.models import Activity
from comptoir.kernel.context import Channel
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent
from comptoir.org import services as org_services
from comptoir.org.models import User
from comptoir.org.selectors import build_actor
from comptoir.org.testing import Personas, make_user

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
API = "/api/v1"


def _act(personas: Personas, role: str = "sales", **data: Any) -> Activity:
    data.setdefault("subject", "Rappeler M. Durand")
    data.setdefault("due_at", timezone.now())
    return activities.activity_create(actor=personas.actor(role), **data)


# --- Services -------------------------------------------------------------------------


def test_create_links_audit_and_defaults(crm: Personas) -> None:
    actor = crm.actor("sales")
    opp = services.opportunity_create(actor=actor, title="Four")
    org = contact_services.organization_create(actor=actor, legal_name="Boulangerie Martin")
    activity = _act(crm, kind="call", opportunity_id=opp.pk, organization_id=org.pk)
    assert activity.assignee_id == activity.owner_id == crm.users["sales"].pk
    assert AuditEntry.objects.filter(action="activity.create", object_id=str(activity.pk)).exists()
    personal = _act(crm, subject="Relire le devis")  # no link: a personal task
    assert personal.opportunity_id is None and personal.kind == "task"


def test_validation_per_field_writes_nothing(crm: Personas) -> None:
    other = contact_services.organization_create(actor=crm.outsider_actor(), legal_name="Ailleurs")
    with pytest.raises(ValidationFailed) as exc:
        _act(
            crm, subject=" ", due_at="demain", kind="fax", assignee_id=crm.outsider.pk, organization_id=other.pk,
            opportunity_id=999999, person_id=2**70, bogus=1,
        )  # fmt: skip
    expected = {"subject", "due_at", "kind", "assignee_id", "organization_id", "opportunity_id", "person_id", "bogus"}
    assert set(exc.value.fields) == expected
    assert not Activity.objects.exists()
    assert not OutboxEvent.objects.filter(name__startswith="crm.activity").exists()


def test_complete_twice_conflicts_and_reopen(crm: Personas) -> None:
    activity = _act(crm)
    done = activities.activity_complete(actor=crm.actor("sales"), activity_id=activity.pk, outcome="Devis accepté")
    assert done.done_at is not None and done.outcome == "Devis accepté"
    assert OutboxEvent.objects.filter(name="crm.activity_completed").count() == 1
    with pytest.raises(Conflict):
        activities.activity_complete(actor=crm.actor("sales"), activity_id=activity.pk)
    with pytest.raises(Conflict):
        activities.activity_update(actor=crm.actor("sales"), activity_id=activity.pk, subject="Autre")
    activities.activity_reopen(actor=crm.actor("sales"), activity_id=activity.pk)
    assert Activity.objects.get(pk=activity.pk).done_at is None
    with pytest.raises(Conflict):
        activities.activity_reopen(actor=crm.actor("sales"), activity_id=activity.pk)


def test_record_rules_and_rights(crm: Personas) -> None:
    activity = _act(crm)
    # Another salesperson outside the team, and another company: the row does not exist for them.
    other_sales = make_user(crm.company, "sales", email="other.sales@test.test")
    stranger = build_actor(other_sales, crm.company.pk, Channel.UI)
    for actor in (stranger, crm.outsider_actor()):
        with pytest.raises(NotFound):
            activities.activity_get(actor, activity.pk)
        with pytest.raises(NotFound):
            activities.activity_complete(actor=actor, activity_id=activity.pk)
    # Assigned to someone: the assignee sees it even if not the owner.
    assigned = _act(crm, assignee_id=other_sales.pk)
    assert activities.activity_get(stranger, assigned.pk).pk == assigned.pk
    # Management sees everything; service may view but not change.
    assert activities.activity_get(crm.actor("management"), activity.pk)
    with pytest.raises(PermissionDenied):
        _act(crm, role="service")
    with pytest.raises(PermissionDenied):
        activities.activity_complete(actor=crm.actor("finance"), activity_id=activity.pk)
    assert Activity.objects.get(pk=activity.pk).done_at is None


# --- My day ---------------------------------------------------------------------------


def test_my_day_buckets_in_company_time_zone(crm: Personas) -> None:
    # 00:30 in Paris on 10 March is still 9 March in UTC: the day is Paris's.
    now = dt.datetime(2026, 3, 10, 0, 30, tzinfo=PARIS)
    at = lambda d, h, m=0: dt.datetime(2026, 3, d, h, m, tzinfo=PARIS)  # noqa: E731
    overdue = _act(crm, subject="Hier soir", due_at=at(9, 23, 59))
    today_early = _act(crm, subject="Minuit", due_at=at(10, 0, 0))
    today_late = _act(crm, subject="Tard", due_at=at(10, 23, 59))
    _act(crm, subject="Demain", due_at=at(11, 0, 0))
    done = _act(crm, subject="Fait", due_at=at(10, 9))
    activities.activity_complete(actor=crm.actor("sales"), activity_id=done.pk)
    _act(crm, role="management", subject="Pas à moi", due_at=at(10, 9))
    day = activities.my_day(crm.actor("sales"), now=now)
    assert day.day == dt.date(2026, 3, 10)
    assert [a.pk for a in day.overdue] == [overdue.pk]
    assert [a.pk for a in day.today] == [today_early.pk, today_late.pk]


def test_my_day_constant_queries(crm: Personas) -> None:
    actor = crm.actor("sales")
    org = contact_services.organization_create(actor=actor, legal_name="Boulangerie Martin")
    opp = services.opportunity_create(actor=actor, title="Four", organization_id=org.pk)

    def count() -> tuple[int, activities.MyDay]:
        with CaptureQueriesContext(connection) as ctx:
            day = activities.my_day(actor)
            for a in day.overdue + day.today:  # every link the page shows, loaded without a query
                str(a.opportunity), str(a.organization), str(a.person), str(a.assignee)
        return len(ctx.captured_queries), day

    _act(crm, opportunity_id=opp.pk, organization_id=org.pk)
    few, _day = count()
    for i in range(15):
        _act(
            crm,
            subject=f"A{i}",
            opportunity_id=opp.pk,
            organization_id=org.pk,
            due_at=timezone.now() - dt.timedelta(days=i),
        )
    many, day = count()
    assert len(day.overdue) + len(day.today) == 16
    assert many == few


# --- API ------------------------------------------------------------------------------


def key(personas: Personas, role: str, scopes: list[str] | None = None) -> dict[str, str]:
    _k, secret = org_services.apikey_create(
        actor=personas.actor(role), name=f"{role} key", scopes=scopes or ["crm:write", "contacts:write"]
    )
    return {"Authorization": f"Bearer {secret}"}


def call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method == "get":
        return client.get(API + url, headers=headers)
    return getattr(client, method)(
        API + url, data=json.dumps(body or {}), content_type="application/json", headers=headers
    )


def test_api_lifecycle(crm: Personas, client: Client) -> None:
    h = key(crm, "sales")
    created = call(
        client, "post", "/activities", h, {"kind": "meeting", "subject": "Visite", "due_at": "2026-03-10T09:00:00"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    # No offset: the company's time zone (09:00 in Paris is 08:00 UTC in March).
    assert dt.datetime.fromisoformat(body["due_at"]) == dt.datetime(2026, 3, 10, 9, tzinfo=PARIS)
    aid = body["id"]
    listed = call(client, "get", "/activities?done=false", h)
    assert listed.status_code == 200 and [a["id"] for a in listed.json()["items"]] == [aid]
    patched = call(client, "patch", f"/activities/{aid}", h, {"subject": "Visite atelier"})
    assert patched.status_code == 200 and patched.json()["subject"] == "Visite atelier"
    done = call(client, "post", f"/activities/{aid}/complete", h, {"outcome": "OK"})
    assert done.status_code == 200 and done.json()["done_at"] and done.json()["outcome"] == "OK"
    again = call(client, "post", f"/activities/{aid}/complete", h, {})
    assert again.status_code == 409 and again.json()["code"] == "activity_done"
    assert call(client, "get", f"/activities/{aid}", h).json()["subject"] == "Visite atelier"


def test_api_errors(crm: Personas, client: Client) -> None:
    activity = _act(crm)
    assert call(client, "get", "/activities", {}).status_code == 401
    bad = call(client, "post", "/activities", key(crm, "sales"), {"subject": " ", "due_at": "2026-03-10T09:00:00"})
    assert bad.status_code == 422 and "subject" in bad.json()["fields"]
    read_only = key(crm, "sales", scopes=["crm:read"])
    assert call(client, "post", f"/activities/{activity.pk}/complete", read_only, {}).status_code == 403
    service = key(crm, "service", scopes=["crm:write"])
    assert call(client, "post", f"/activities/{activity.pk}/complete", service, {}).status_code == 404
    mgmt_owned = _act(crm, role="management")
    assert call(client, "get", f"/activities/{mgmt_owned.pk}", key(crm, "sales")).status_code == 404
    assert call(client, "get", "/activities/99999999999999999999", key(crm, "sales")).status_code in (404, 422)
    assert Activity.objects.get(pk=activity.pk).done_at is None


# --- Pages ----------------------------------------------------------------------------


def login(client: Client, personas: Personas, role: str) -> Client:
    user = personas.users[role]
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language="en"
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def test_my_day_page_form_and_htmx_complete(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    late = _act(crm, subject="En retard", due_at=timezone.now() - dt.timedelta(days=2))
    page = client.get("/crm/my-day/")
    assert page.status_code == 200
    assert "Overdue" in page.content.decode() and "En retard" in page.content.decode()
    form = client.post(
        "/crm/activities/new/",
        {"kind": "call", "subject": " ", "due_at": "2026-03-10T09:00", "assignee_id": crm.users["sales"].pk},
    )
    assert form.status_code == 200 and "is-invalid" in form.content.decode()
    assert Activity.objects.count() == 1
    saved = client.post(
        "/crm/activities/new/",
        {"kind": "call", "subject": "Appel", "due_at": "2026-03-10T09:00", "assignee_id": crm.users["sales"].pk},
    )
    assert saved.status_code == 302
    edit = client.get(f"/crm/activities/{late.pk}/edit/")
    assert edit.status_code == 200
    done = client.post(f"/crm/activities/{late.pk}/complete/", headers={"HX-Request": "true"})
    assert done.status_code == 200 and "Done" in done.content.decode() and "<html" not in done.content.decode()
    assert Activity.objects.get(pk=late.pk).done_at is not None
    again = client.post(f"/crm/activities/{late.pk}/complete/")
    assert again.status_code == 409

"""Follow-up rules: settings services, the idempotent run (tasks, manager alerts with a real SMTP
server), concurrent runs on real connections, API and settings pages."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from comptoir.contacts import services as contact_services
from comptoir.crm import activities, followups, services
from comptoir.crm.models import Activity, FollowUpFiring, FollowUpRule, Opportunity, Stage
from comptoir.crm.tests.smtp import Mailbox, smtp_server  # noqa: F401 - fixture "smtp"
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, Notification
from comptoir.org import services as org_services
from comptoir.org.models import Team
from comptoir.org.testing import PASSWORD, Personas, enable_modules

API = "/api/v1"
DAY = dt.timedelta(days=1)


def _stages(personas: Personas) -> list[Stage]:
    pipeline = services.pipeline_ensure_default(actor=personas.actor("management"))
    return list(pipeline.stages.order_by("sequence"))


def _rule(personas: Personas, **data: Any) -> FollowUpRule:
    data.setdefault("name", "Two weeks without news")
    data.setdefault("kind", "no_activity")
    data.setdefault("days", 14)
    return followups.rule_create(actor=personas.actor("management"), **data)


def _opp(personas: Personas, title: str = "Oven for Martin", **data: Any) -> Opportunity:
    return services.opportunity_create(actor=personas.actor("sales"), title=title, **data)


# --- Settings services ----------------------------------------------------------------


@pytest.mark.django_db
def test_rule_writes_validate_audit_and_need_manage_pipelines(crm: Personas) -> None:
    stages = _stages(crm)
    won = next(s for s in stages if s.kind == "won")
    with pytest.raises(PermissionDenied):
        followups.rule_create(actor=crm.actor("sales"), name="x", kind="no_activity", days=3)
    with pytest.raises(ValidationFailed) as exc:
        followups.rule_create(actor=crm.actor("management"), name=" ", kind="never", days=0, bogus=1)
    assert set(exc.value.fields) == {"name", "kind", "days", "bogus"}
    with pytest.raises(ValidationFailed) as exc:
        _rule(crm, kind="stale_stage")
    assert set(exc.value.fields) == {"stage_id"}
    with pytest.raises(ValidationFailed) as exc:
        _rule(crm, kind="stale_stage", stage_id=won.pk)
    assert set(exc.value.fields) == {"stage_id"}
    other = services.pipeline_ensure_default(actor=crm.outsider_actor())
    with pytest.raises(ValidationFailed) as exc:
        _rule(crm, pipeline_id=other.pk, stage_id=other.stages.first().pk)  # type: ignore[union-attr]
    assert set(exc.value.fields) == {"pipeline_id", "stage_id"}

    rule = _rule(crm, kind="stale_stage", stage_id=stages[1].pk, days=7)
    with pytest.raises(ValidationFailed) as exc:
        _rule(crm, name=rule.name)
    assert set(exc.value.fields) == {"name"}
    with pytest.raises(ValidationFailed):  # a stale-stage rule keeps its stage
        followups.rule_update(actor=crm.actor("management"), rule_id=rule.pk, stage_id=None)
    followups.rule_update(actor=crm.actor("management"), rule_id=rule.pk, is_active=False, days=10)
    rule.refresh_from_db()
    assert (rule.is_active, rule.days) == (False, 10)
    with pytest.raises(NotFound):
        followups.rule_get(crm.outsider_actor(), rule.pk)
    followups.rule_delete(actor=crm.actor("management"), rule_id=rule.pk)
    actions = list(AuditEntry.objects.filter(object_id=str(rule.pk), object_type="crm.followuprule")
                   .order_by("pk").values_list("action", flat=True))  # fmt: skip
    assert actions == ["followup_rule.create", "followup_rule.update", "followup_rule.delete"]


# --- The run --------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_activity_rule_creates_one_task_per_episode(crm: Personas) -> None:
    _stages(crm)
    org = contact_services.organization_create(actor=crm.actor("sales"), legal_name="Boulangerie Martin")
    quiet = _opp(crm, organization_id=org.pk)
    planned = _opp(crm, title="Planned")
    activities.activity_create(actor=crm.actor("sales"), subject="Visit", due_at=timezone.now() + 30 * DAY,
                               opportunity_id=planned.pk)  # fmt: skip
    won = _opp(crm, title="Won already")
    services.opportunity_mark_won(actor=crm.actor("sales"), opportunity_id=won.pk)
    _rule(crm)
    later = timezone.now() + 15 * DAY

    report = followups.run_followup_rules(now=later)
    assert (report.rules, report.tasks, report.alerts) == (1, 1, 0)
    task = Activity.objects.get(opportunity=quiet)
    assert task.kind == "task"
    assert task.assignee_id == task.owner_id == crm.users["sales"].pk
    assert task.organization_id == org.pk
    assert AuditEntry.objects.filter(action="followup_rule.fire", object_id=str(quiet.pk)).count() == 1

    # Re-running (every hour) does nothing: the task is open, and the episode already fired.
    assert followups.run_followup_rules(now=later + DAY).tasks == 0
    activities.activity_complete(actor=crm.actor("sales"), activity_id=task.pk, outcome="Left a message")
    assert followups.run_followup_rules(now=timezone.now() + 2 * DAY).tasks == 0  # done just now: not quiet yet
    # Two weeks after that call, a new episode: a new task.
    assert followups.run_followup_rules(now=timezone.now() + 15 * DAY).tasks == 1
    assert Activity.objects.filter(opportunity=quiet).count() == 2
    assert FollowUpFiring.objects.count() == 2
    # Another company's run sees none of this company's opportunities.
    assert followups.run_followup_rules(company_id=crm.other_company.pk, now=later).rules == 0


@pytest.mark.django_db
def test_stale_stage_alerts_the_team_manager_in_app_and_by_email(
    crm: Personas, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    stages = _stages(crm)
    manager = crm.users["management"]
    manager.language = "en"
    manager.save(update_fields=["language"])
    team = Team.objects.create(company=crm.company, name="Lyon", manager=manager)
    team.members.add(crm.users["sales"])
    opp = _opp(crm)
    rule = _rule(crm, name="Stuck in qualification", kind="stale_stage", stage_id=stages[0].pk, days=7)
    Opportunity.objects.filter(pk=opp.pk).update(stage_changed_at=timezone.now() - 8 * DAY)

    with django_capture_on_commit_callbacks(execute=True):
        report = followups.run_followup_rules()
    assert (report.tasks, report.alerts) == (0, 1)
    note = Notification.objects.get()
    assert note.user_id == manager.pk and note.url == f"/crm/opportunities/{opp.pk}/"
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["To"] == manager.email
    assert smtp.messages[0]["Subject"] == "Opportunity to follow up: Oven for Martin"
    assert "more than 7 days" in smtp.body()
    assert f"https://crm.example.test/crm/opportunities/{opp.pk}/" in smtp.body()

    with django_capture_on_commit_callbacks(execute=True):
        assert followups.run_followup_rules().alerts == 0
    assert len(smtp.messages) == 1
    # Moved on and back: a new stay in the stage, which alerts again once it is stale.
    services.opportunity_move_stage(actor=crm.actor("sales"), opportunity_id=opp.pk, stage_id=stages[1].pk)
    services.opportunity_move_stage(actor=crm.actor("sales"), opportunity_id=opp.pk, stage_id=stages[0].pk)
    assert followups.run_followup_rules().alerts == 0
    assert followups.run_followup_rules(now=timezone.now() + 8 * DAY).alerts == 1
    assert FollowUpFiring.objects.filter(rule=rule).count() == 2


@pytest.mark.django_db
def test_without_a_team_manager_those_who_manage_pipelines_are_alerted(crm: Personas) -> None:
    stages = _stages(crm)
    opp = _opp(crm)
    assert followups.manager_ids(crm.company.pk, opp) == sorted([crm.users["management"].pk, crm.users["admin"].pk])
    _rule(crm, kind="stale_stage", stage_id=stages[0].pk, days=3)
    assert followups.run_followup_rules(now=timezone.now() + 4 * DAY).alerts == 1
    assert set(Notification.objects.values_list("user_id", flat=True)) == {
        crm.users["management"].pk,
        crm.users["admin"].pk,
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_at_once_fire_each_rule_once(personas: Personas) -> None:
    enable_modules(personas, "contacts", "crm")
    stages = _stages(personas)
    opps = [_opp(personas, title=f"Deal {i}") for i in range(12)]
    _rule(personas)
    _rule(personas, name="Stuck", kind="stale_stage", stage_id=stages[0].pk, days=7)
    later = timezone.now() + 15 * DAY
    barrier = threading.Barrier(2)
    reports: list[followups.RunReport] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            reports.append(followups.run_followup_rules(now=later))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(r.tasks for r in reports) == 12
    assert sum(r.alerts for r in reports) == 12
    assert FollowUpFiring.objects.count() == 24
    for opp in opps:
        assert Activity.objects.filter(opportunity=opp).count() == 1


# --- API ------------------------------------------------------------------------------


def _key(personas: Personas, role: str) -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=personas.actor(role), name=f"{role} key", scopes=["crm:write"])
    return {"Authorization": f"Bearer {secret}"}


def _call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method in ("get", "delete"):
        return getattr(client, method)(API + url, headers=headers)
    return getattr(client, method)(API + url, data=json.dumps(body or {}), content_type="application/json",
                                   headers=headers)  # fmt: skip


@pytest.mark.django_db
def test_api_crud_run_and_rights(crm: Personas, client: Client) -> None:
    stages = _stages(crm)
    boss, sales = _key(crm, "management"), _key(crm, "sales")
    created = _call(client, "post", "/followup-rules", boss,
                    {"name": "Stuck", "kind": "stale_stage", "days": 7, "stage_id": stages[0].pk})  # fmt: skip
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    assert created.json()["is_active"] is True
    bad = _call(client, "post", "/followup-rules", boss, {"name": "No stage", "kind": "stale_stage", "days": 0})
    assert bad.status_code == 422
    assert "days" in bad.json()["fields"]
    bad = _call(client, "post", "/followup-rules", boss, {"name": "No stage", "kind": "stale_stage", "days": 3})
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"stage_id"}
    assert _call(client, "get", "/followup-rules", sales).status_code == 403
    assert _call(client, "post", "/followup-rules/run", sales).status_code == 403
    assert [r["id"] for r in _call(client, "get", "/followup-rules", boss).json()] == [rule_id]
    patched = _call(client, "patch", f"/followup-rules/{rule_id}", boss, {"is_active": False})
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert _call(client, "get", f"/followup-rules/{rule_id}", boss).json()["days"] == 7

    _call(client, "patch", f"/followup-rules/{rule_id}", boss, {"is_active": True, "days": 1})
    opp = _opp(crm)
    Opportunity.objects.filter(pk=opp.pk).update(stage_changed_at=timezone.now() - 2 * DAY)
    run = _call(client, "post", "/followup-rules/run", boss)
    assert run.status_code == 200, run.content
    assert run.json() == {"rules": 1, "tasks": 0, "alerts": 1, "errors": []}
    assert _call(client, "post", "/followup-rules/run", boss).json()["alerts"] == 0

    assert _call(client, "delete", f"/followup-rules/{rule_id}", boss).status_code == 204
    assert _call(client, "get", f"/followup-rules/{rule_id}", boss).status_code == 404
    assert _call(client, "get", "/followup-rules/99999999999999999999", boss).status_code == 422


# --- Pages ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_settings_pages_list_create_edit_deactivate_and_refuse_sales(crm: Personas, client: Client) -> None:
    stages = _stages(crm)
    client.login(email=crm.users["sales"].email, password=PASSWORD)
    assert client.get("/crm/settings/followups/").status_code == 403
    client.login(email=crm.users["management"].email, password=PASSWORD)
    page = client.get("/crm/settings/followups/")
    assert page.status_code == 200
    assert b'id="followup-rule-form"' in page.content

    invalid = client.post("/crm/settings/followups/", {"name": "Stuck", "kind": "stale_stage", "days": "7"})
    assert invalid.status_code == 422
    assert b'data-field-error="stage_id"' in invalid.content
    done = client.post("/crm/settings/followups/", {"name": "Stuck", "kind": "stale_stage", "days": "7",
                                                   "stage_id": str(stages[0].pk), "is_active": "on"})  # fmt: skip
    assert done.status_code == 302
    rule = FollowUpRule.objects.get(name="Stuck")
    assert client.get("/crm/settings/followups/").content.count(f'data-rule="{rule.pk}"'.encode()) == 1

    edit = client.post(f"/crm/settings/followups/{rule.pk}/edit/", {"name": "Stuck long", "kind": "stale_stage",
                       "days": "21", "stage_id": str(stages[0].pk), "is_active": "on"})  # fmt: skip
    assert edit.status_code == 302
    assert client.post(f"/crm/settings/followups/{rule.pk}/toggle/").status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.days, rule.is_active) == ("Stuck long", 21, False)
    assert b'data-active="0"' in client.get("/crm/settings/followups/").content
    assert client.post("/crm/settings/followups/run/").status_code == 302
    assert client.post(f"/crm/settings/followups/{rule.pk}/delete/").status_code == 302
    assert not FollowUpRule.objects.exists()

"""Audit trail: one entry per service call, with actor, channel and changes; tampering detected."""

import datetime as dt

import pyotp
import pytest
from django.db import transaction
from django.utils import timezone

from comptoir.kernel import audit
from comptoir.kernel.context import Actor, Channel, channel, current_channel
from comptoir.kernel.integrity import Report, check_audit
from comptoir.kernel.models import AuditEntry
from comptoir.kernel.modules import Module
from comptoir.kernel.modules import registry as module_registry
from comptoir.org import services
from comptoir.org.models import ApiKey, Site

pytestmark = pytest.mark.django_db


def _totp_enable(personas):
    user = personas.users["sales"]
    services.totp_begin(user=user)
    user.refresh_from_db()
    return {"code": pyotp.TOTP(user.totp_secret).now()}


# (role, action recorded, call) — each call is one org service.
SERVICE_CALLS = [
    ("admin", "company.update", lambda p, a: services.company_update(actor=a, city="Paris")),
    ("admin", "company.create", lambda p, a: services.company_create(actor=a, name="Neuve", legal_name="Neuve SAS")),
    (
        "admin",
        "site.create",
        lambda p, a: services.site_create(actor=a, name="Dépôt", siret="84215763800029"),
    ),
    (
        "admin",
        "site.update",
        lambda p, a: services.site_update(actor=a, site_id=Site.objects.get(company=p.company).pk, city="Villeurbanne"),
    ),
    (
        "admin",
        "user.add",
        lambda p, a: services.user_create(actor=a, email="new@example.com", full_name="New Person", roles=["sales"]),
    ),
    (
        "admin",
        "user.set_roles",
        lambda p, a: services.user_set_roles(actor=a, user_id=p.users["sales"].pk, roles=["sales", "finance"]),
    ),
    ("admin", "user.remove", lambda p, a: services.user_remove(actor=a, user_id=p.users["hr"].pk)),
    ("sales", "user.set_language", lambda p, a: services.user_set_language(actor=a, language="en")),
    ("admin", "module.enable", lambda p, a: services.module_set(actor=a, module="modapp", enabled=True)),
    ("sales", "api_key.create", lambda p, a: services.apikey_create(actor=a, name="ci", scopes=["org:read"])),
    (
        "sales",
        "api_key.revoke",
        lambda p, a: services.apikey_revoke(
            actor=a,
            key_id=ApiKey.objects.create(
                company=p.company, user=p.users["sales"], name="k", prefix="pfx12345", key_hash="h" * 64
            ).pk,
        ),
    ),
    ("sales", "user.totp_enable", lambda p, a: services.totp_confirm(actor=a, **_totp_enable(p))),
    ("admin", "user.totp_disable", lambda p, a: services.totp_disable(actor=a, user_id=p.users["sales"].pk)),
]


@pytest.mark.parametrize(("role", "action", "call"), SERVICE_CALLS, ids=[c[1] for c in SERVICE_CALLS])
@pytest.mark.parametrize("via", [Channel.UI, Channel.API])
def test_every_org_service_writes_exactly_one_entry(personas, role, action, call, via):
    actor = personas.actor(role, channel=via)
    before = AuditEntry.objects.count()
    call(personas, actor)
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.get(action=action)
    assert entry.actor_id == actor.user_id
    assert entry.actor_label == actor.user.email
    assert entry.channel == via
    assert entry.object_type
    assert entry.digest == audit.compute_digest(entry)
    if action not in {"user.remove", "api_key.revoke", "user.totp_enable", "user.totp_disable"}:
        assert entry.changes, f"{action} must record its changes"


def test_switch_company_is_audited(personas):
    from comptoir.org.models import Membership

    user = personas.users["sales"]
    Membership.objects.create(user=user, company=personas.other_company, role="sales")
    actor = personas.actor("sales")
    services.user_switch_company(actor=actor, company_id=personas.other_company.pk)
    entry = AuditEntry.objects.get(action="user.switch_company")
    assert entry.changes == {"default_company": [personas.company.pk, personas.other_company.pk]}
    assert entry.company_id == personas.other_company.pk


def test_changes_hold_old_and_new_values(personas):
    actor = personas.actor("admin")
    old_city = personas.company.city
    services.company_update(actor=actor, city="Paris", name=personas.company.name)
    entry = AuditEntry.objects.get(action="company.update")
    # Unchanged fields are left out.
    assert entry.changes == {"city": [old_city, "Paris"]}
    assert entry.company_id == personas.company.pk
    assert entry.object_id == str(personas.company.pk)
    assert entry.object_type == "org.company"


def test_a_no_op_update_writes_nothing(personas):
    actor = personas.actor("admin")
    services.company_update(actor=actor, city=personas.company.city)
    assert not AuditEntry.objects.filter(action="company.update").exists()


def test_channel_context_is_used_for_system_actors(personas):
    system = Actor.system(personas.company.pk)
    assert current_channel() == Channel.SYSTEM
    with channel(Channel.IMPORT):
        assert current_channel() == Channel.IMPORT
        with transaction.atomic():
            audit.record(system, "test.import", personas.company)
        with channel(Channel.TASK):
            with transaction.atomic():
                audit.record(system, "test.task", personas.company)
        assert current_channel() == Channel.IMPORT
    assert current_channel() == Channel.SYSTEM
    with transaction.atomic():
        audit.record(system, "test.system", personas.company)
    channels = dict(AuditEntry.objects.values_list("action", "channel"))
    assert channels == {"test.import": "import", "test.task": "task", "test.system": "system"}
    assert AuditEntry.objects.get(action="test.system").actor_label == "system"
    assert AuditEntry.objects.get(action="test.system").actor_id is None


def test_channel_context_resets_after_an_error():
    with pytest.raises(ValueError), channel(Channel.CLI):
        raise ValueError
    assert current_channel() == Channel.SYSTEM


def test_explicit_actor_channel_wins_over_context(personas):
    actor = personas.actor("admin", channel=Channel.API)
    with channel(Channel.TASK):
        services.company_update(actor=actor, city="Nantes")
    assert AuditEntry.objects.get(action="company.update").channel == Channel.API


def test_record_without_object_and_with_values_to_serialize(personas):
    import datetime as dt
    from decimal import Decimal

    actor = personas.actor("admin")
    with transaction.atomic():
        entry = audit.record(
            actor,
            "test.values",
            object_type="kernel.thing",
            object_id=0,
            changes={"amount": [Decimal("1.10"), Decimal("2.20")], "on": [None, dt.date(2026, 1, 5)]},
        )
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.object_id == "0"
    assert stored.changes == {"amount": ["1.10", "2.20"], "on": [None, "2026-01-05"]}
    assert stored.digest == audit.compute_digest(stored)


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_raises(personas):
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        audit.record(personas.actor("admin"), "test.x", personas.company)
    assert not AuditEntry.objects.filter(action="test.x").exists()


def test_failed_service_leaves_no_entry(personas):
    from comptoir.kernel.errors import ValidationFailed

    actor = personas.actor("admin")
    with pytest.raises(ValidationFailed):
        services.company_update(actor=actor, city="Paris", siren="123")
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "tamper",
    [
        {"changes": {"city": ["Lyon", "Marseille"]}},
        {"actor_label": "someone-else@example.com"},
        {"channel": "cli"},
        {"at": timezone.now() - dt.timedelta(days=3)},
        {"action": "company.create"},
    ],
    ids=["changes", "actor", "channel", "at", "action"],
)
def test_tampered_entry_is_reported(personas, tamper):
    actor = personas.actor("admin")
    services.company_update(actor=actor, city="Paris")
    services.company_update(actor=actor, city="Lille")
    target, untouched = AuditEntry.objects.filter(action="company.update").order_by("id")
    report = Report()
    check_audit(report)
    assert report.ok
    AuditEntry.objects.filter(pk=target.pk).update(**tamper)
    report = Report()
    check_audit(report, batch=1)  # batches of one also walk every entry
    assert report.checked["audit_entries"] == 2
    assert len(report.problems) == 1
    assert f"audit entry {target.pk}" in report.problems[0]
    assert f"audit entry {untouched.pk}" not in report.problems[0]


def test_module_specs_used_here_are_registered():
    # The module_set call above relies on the test-only module app.
    assert isinstance(module_registry.get("modapp"), Module)


@pytest.mark.django_db
def test_prepared_entries_are_written_in_order_by_one_insert_and_verify():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    actor = Actor.system(1)
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        first = audit.prepare(actor, "thing.create", object_type="x.thing", object_id=5, changes={"a": [None, 1]})
        second = audit.prepare(actor, "thing.post", object_type="x.thing", object_id=5, changes={"b": [None, "2"]})
        audit.save(first, second)
    assert len([q for q in captured.captured_queries if q["sql"].startswith("INSERT")]) == 1
    assert first.pk < second.pk
    stored = list(AuditEntry.objects.filter(object_type="x.thing").order_by("id"))
    assert [(e.pk, e.action, e.changes) for e in stored] == [(first.pk, "thing.create", {"a": [None, 1]}),
                                                             (second.pk, "thing.post", {"b": [None, "2"]})]  # fmt: skip
    assert all(audit.digest_matches(e) for e in stored)
    report = Report()
    check_audit(report)
    assert report.ok, report.problems


@pytest.mark.django_db(transaction=True)
def test_prepared_entries_are_saved_only_inside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        audit.save(audit.prepare(Actor.system(1), "thing.late", object_type="x.thing", object_id=5))
    assert not AuditEntry.objects.filter(action="thing.late").exists()

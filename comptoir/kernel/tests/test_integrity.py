"""Integrity checks: a clean database is ok; broken sequences, audit and outbox are reported."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from comptoir.kernel import events, sequences, tasks
from comptoir.kernel.integrity import Report, check_outbox, check_sequences, run_all
from comptoir.kernel.models import DocumentSequence, IssuedNumber, OutboxEvent
from comptoir.org import services

pytestmark = pytest.mark.django_db


def issue(n, company_id=1, kind="test"):
    with transaction.atomic():
        return [sequences.next_number(company_id=company_id, kind=kind, on_date=dt.date(2026, 2, 1)) for _ in range(n)]


def test_clean_database_is_ok(personas):
    services.company_update(actor=personas.actor("admin"), city="Paris")
    issue(3)
    issue(2, company_id=2)
    report = run_all()
    assert report.ok, report.problems
    assert report.checked == {"sequences": 2, "audit_entries": 1, "outbox_events": 0}


def test_empty_database_is_ok():
    report = run_all()
    assert report.ok
    assert report.checked == {"sequences": 0, "audit_entries": 0, "outbox_events": 0}


def test_deleted_issued_number_is_a_gap():
    issue(5)
    IssuedNumber.objects.filter(value=3).delete()
    report = Report()
    check_sequences(report)
    assert len(report.problems) == 1
    assert "counter says 5 issued, ledger holds 4 numbers from 1 to 5" in report.problems[0]


def test_deleted_last_number_is_reported():
    issue(5)
    IssuedNumber.objects.filter(value=5).delete()
    report = Report()
    check_sequences(report)
    assert not report.ok


def test_counter_moved_back_or_forward_is_reported():
    issue(3)
    DocumentSequence.objects.update(next_value=10)
    report = Report()
    check_sequences(report)
    assert "counter says 9 issued" in report.problems[0]


def test_counter_without_numbers_is_reported():
    DocumentSequence.objects.create(company_id=1, kind="x", year=2026, next_value=3)
    report = Report()
    check_sequences(report)
    assert "counter says 2 issued, ledger holds 0 numbers" in report.problems[0]


def test_only_the_broken_sequence_is_reported():
    issue(2, company_id=1)
    issue(2, company_id=2)
    IssuedNumber.objects.filter(sequence__company_id=2, value=1).delete()
    report = Report()
    check_sequences(report)
    assert len(report.problems) == 1
    assert "of company 2" in report.problems[0]


def test_stale_pending_event_is_reported():
    # Subscribed, so the event is pending until dispatched (an event nobody subscribes to is written done).
    events.subscribe("test.stale", lambda event: None, key="test.stale.noop")
    try:
        with transaction.atomic():
            event = events.publish("test.stale", company_id=1, payload={})
    finally:
        events.unsubscribe("test.stale", "test.stale.noop")
    report = Report()
    check_outbox(report)
    assert report.ok  # pending but fresh: the worker may not have picked it up yet
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - dt.timedelta(hours=2))
    report = Report()
    check_outbox(report)
    assert report.problems == ["1 event(s) pending for more than 1:00:00"]
    report = Report()
    check_outbox(report, stale_after=dt.timedelta(hours=3))
    assert report.ok


def test_failed_event_is_reported_until_retried():
    def broken(event):
        raise RuntimeError("down")

    events.subscribe("test.failing", broken, key="broken")
    try:
        with transaction.atomic():
            event = events.publish("test.failing", company_id=1, payload={})
        events.dispatch(event.pk)
        report = run_all()
        assert report.problems == ["1 event(s) whose subscribers failed"]
        assert report.checked["outbox_events"] == 1
    finally:
        events.unsubscribe("test.failing", "broken")
    # Without the subscriber the retry succeeds and the report is clean again.
    events.dispatch_pending()
    assert run_all().ok


def test_check_integrity_task_through_the_tasks_api(personas):
    issue(2)
    result = tasks.check_integrity.enqueue()
    # Test settings run tasks with Django's ImmediateBackend.
    assert result.status == "SUCCESSFUL"
    assert result.return_value == {
        "ok": True,
        "checked": {"sequences": 1, "audit_entries": 0, "outbox_events": 0},
        "problems": [],
    }
    IssuedNumber.objects.filter(value=1).delete()
    result = tasks.check_integrity.enqueue()
    assert result.return_value["ok"] is False
    assert len(result.return_value["problems"]) == 1


def test_dispatch_pending_events_task(personas):
    seen = []
    events.subscribe("test.task_pending", lambda e: seen.append(e.pk), key="seen")
    try:
        with transaction.atomic():
            event = events.publish("test.task_pending", company_id=1, payload={})
        result = tasks.dispatch_pending_events.enqueue()
    finally:
        events.unsubscribe("test.task_pending", "seen")
    assert result.return_value == 1
    assert seen == [event.pk]


def test_audit_entries_stay_verifiable_after_a_key_rotation(personas, settings):
    """The old key moved to SECRET_KEY_FALLBACKS keeps old entries valid; a foreign key does not."""
    from django.db import transaction

    from comptoir.kernel import audit
    from comptoir.kernel.integrity import Report, check_audit

    with transaction.atomic():
        audit.record(personas.actor("admin"), "test.rotation", personas.company)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-key-" + "x" * 40
    report = Report()
    check_audit(report)
    assert any("altered" in problem for problem in report.problems)
    settings.SECRET_KEY_FALLBACKS = [old_key]
    report = Report()
    check_audit(report)
    assert report.ok, report.problems

"""Activity reminders: sent once (notification + email through a real SMTP server), re-armed by
edits, retried through the outbox when the mail server is down, once under concurrent runs."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from comptoir.crm import activities, reminders, services
from comptoir.crm.models import Activity
from comptoir.crm.tests.smtp import Mailbox, free_port, smtp_mailers, smtp_server  # noqa: F401 - fixture "smtp"
from comptoir.kernel import events
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.models import Notification, OutboxEvent
from comptoir.org.testing import Personas

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


def _english(personas: Personas, role: str = "sales") -> None:
    user = personas.users[role]
    user.language = "en"
    user.save(update_fields=["language"])


def _planned(personas: Personas, *, due_in: dt.timedelta, remind_before: int | None = 15, **data: Any) -> Activity:
    due_at = NOW + due_in
    return activities.activity_create(
        actor=personas.actor("sales"),
        subject=data.pop("subject", "Call Mrs Martin"),
        due_at=due_at,
        remind_at=activities.remind_at_for(due_at, remind_before),
        **data,
    )


@pytest.mark.django_db
def test_due_reminder_notifies_and_emails_the_assignee_once(
    crm: Personas, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    _english(crm)
    opp = services.opportunity_create(actor=crm.actor("sales"), title="Oven for Martin")
    due = _planned(crm, due_in=dt.timedelta(minutes=10), opportunity_id=opp.pk)
    later = _planned(crm, due_in=dt.timedelta(hours=3), subject="Later")
    _planned(crm, due_in=dt.timedelta(minutes=5), remind_before=None, subject="No reminder")

    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_due_reminders(now=NOW) == 1

    due.refresh_from_db()
    assert due.reminded_at == NOW
    note = Notification.objects.get(user_id=crm.users["sales"].pk)
    assert note.url == f"/crm/opportunities/{opp.pk}/"
    assert "Call Mrs Martin" in note.message
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == crm.users["sales"].email
    assert mail["Subject"] == "Reminder: Call Mrs Martin"
    assert f"https://crm.example.test/crm/opportunities/{opp.pk}/" in smtp.body()
    assert "Oven for Martin" in smtp.body()

    # A second run (or the next one, five minutes later) sends nothing again.
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_due_reminders(now=NOW + dt.timedelta(minutes=5)) == 0
    assert len(smtp.messages) == 1
    later.refresh_from_db()
    assert later.reminded_at is None


@pytest.mark.django_db
def test_done_activities_and_activities_of_nobody_send_nothing(crm: Personas, smtp: Mailbox) -> None:
    done = _planned(crm, due_in=dt.timedelta(minutes=10))
    activities.activity_complete(actor=crm.actor("sales"), activity_id=done.pk)
    orphan = _planned(crm, due_in=dt.timedelta(minutes=10))
    Activity.objects.filter(pk=orphan.pk).update(assignee=None)
    assert reminders.send_due_reminders(now=NOW) == 0
    assert not Notification.objects.exists()
    orphan.refresh_from_db()
    assert orphan.reminded_at == NOW  # marked all the same: it is not looked at again


@pytest.mark.django_db
def test_editing_the_due_time_rearms_and_moves_the_reminder(crm: Personas, smtp: Mailbox) -> None:
    activity = _planned(crm, due_in=dt.timedelta(minutes=10))
    assert reminders.send_due_reminders(now=NOW) == 1
    new_due = NOW + dt.timedelta(days=1)
    activities.activity_update(actor=crm.actor("sales"), activity_id=activity.pk, due_at=new_due)
    activity.refresh_from_db()
    assert activity.reminded_at is None
    assert activity.remind_at == new_due - dt.timedelta(minutes=15)  # still "15 minutes before"
    assert reminders.send_due_reminders(now=NOW + dt.timedelta(hours=1)) == 0
    assert reminders.send_due_reminders(now=new_due - dt.timedelta(minutes=14)) == 1
    # Changing only the subject keeps the reminder sent.
    activities.activity_update(actor=crm.actor("sales"), activity_id=activity.pk, subject="Call back")
    activity.refresh_from_db()
    assert activity.reminded_at is not None
    assert Notification.objects.filter(user_id=crm.users["sales"].pk).count() == 2


@pytest.mark.django_db
def test_reminder_after_the_due_time_is_refused(crm: Personas) -> None:
    with pytest.raises(ValidationFailed) as exc:
        activities.activity_create(
            actor=crm.actor("sales"), subject="x", due_at=NOW, remind_at=NOW + dt.timedelta(minutes=1)
        )
    assert set(exc.value.fields) == {"remind_at"}
    with pytest.raises(ValidationFailed) as exc:
        activities.activity_create(actor=crm.actor("sales"), subject="x", due_at=NOW, remind_at="soon")
    assert set(exc.value.fields) == {"remind_at"}


@pytest.mark.django_db
def test_mail_server_down_the_outbox_retries_the_email(
    crm: Personas, smtp: Mailbox, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _planned(crm, due_in=dt.timedelta(minutes=10))
    settings.MAILERS = smtp_mailers(free_port())  # nobody listens there
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_due_reminders(now=NOW) == 1
    event = OutboxEvent.objects.get(name=reminders.EVENT)
    assert event.status == OutboxEvent.Status.FAILED
    assert Notification.objects.count() == 1  # in app, it was not lost
    assert smtp.messages == []

    settings.MAILERS = smtp_mailers(smtp.port)
    events.dispatch_pending()  # what the scheduler's kernel.dispatch_pending_events runs
    assert len(smtp.messages) == 1
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DONE
    events.dispatch_pending()
    assert len(smtp.messages) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_send_each_reminder_once(personas: Personas) -> None:
    from comptoir.org.testing import enable_modules

    enable_modules(personas, "contacts", "crm")
    for index in range(40):
        _planned(personas, due_in=dt.timedelta(minutes=10), subject=f"Call {index}")
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            counts.append(reminders.send_due_reminders(now=NOW))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(counts) == 40
    assert Notification.objects.count() == 40
    assert OutboxEvent.objects.filter(name=reminders.EVENT).count() == 40
    assert not Activity.objects.filter(reminded_at__isnull=True).exists()
    assert timezone.is_aware(Activity.objects.first().reminded_at)  # type: ignore[union-attr]

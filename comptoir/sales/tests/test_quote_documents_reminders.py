"""Quote reminders: the salesperson hears once of a sent quote nearing its date; lapsed ones expire."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from comptoir.crm.tests.smtp import Mailbox, smtp_server  # noqa: F401 - fixture "smtp"
from comptoir.kernel import schedule
from comptoir.kernel.models import Notification
from comptoir.org.testing import Personas
from comptoir.sales import quotes, reminders
from comptoir.sales.models_quotes import Quote, QuoteState
from comptoir.sales.tests.documents_kit import Desk, days, make_desk

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(personas: Personas) -> Desk:
    return make_desk(personas)


def sent_until(desk: Desk, valid_until: dt.date, **data: Any) -> Quote:
    quote = desk.quote(valid_until=valid_until, **data)
    quotes.quote_mark_sent(actor=desk.actor(), quote_id=quote.pk)
    return Quote.objects.get(pk=quote.pk)


def test_a_quote_near_its_date_is_reminded_once(
    desk: Desk, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    near = sent_until(desk, days(2))
    far = sent_until(desk, days(10))
    draft = desk.quote(valid_until=days(1))
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_quote_reminders() == 1
    near.refresh_from_db()
    assert near.reminder_sent_at is not None
    assert Quote.objects.get(pk=far.pk).reminder_sent_at is None
    assert Quote.objects.get(pk=draft.pk).reminder_sent_at is None

    salesperson = desk.personas.users["sales"]
    notes = list(Notification.objects.filter(user_id=salesperson.pk))
    assert len(notes) == 1
    assert near.number in notes[0].message and "Boulangerie Martin" in notes[0].message
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == salesperson.email
    assert near.number in mail["Subject"]
    body = smtp.body()
    assert "Boulangerie Martin" in body and "https://crm.example.test/" in body

    # Idempotent: the next runs send nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_quote_reminders() == 0
        assert reminders.send_quote_reminders() == 0
    assert len(smtp.messages) == 1
    assert Notification.objects.filter(user_id=salesperson.pk).count() == 1


def test_the_window_is_configurable(desk: Desk, settings: Any, smtp: Mailbox,
                                    django_capture_on_commit_callbacks: Any) -> None:  # fmt: skip
    quote = sent_until(desk, days(6))
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_quote_reminders() == 0
    settings.SALES_QUOTE_REMINDER_DAYS = 7
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_quote_reminders() == 1
    assert Quote.objects.get(pk=quote.pk).reminder_sent_at is not None


def test_answered_quotes_are_not_reminded_and_lapsed_ones_expire(
    desk: Desk, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    accepted = sent_until(desk, days(1))
    quotes.quote_accept(actor=desk.actor(), quote_id=accepted.pk, version=1, via="salesperson")
    lapsed = sent_until(desk, days(3))
    Quote.objects.filter(pk=lapsed.pk).update(valid_until=days(-1))
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_quote_reminders() == 0
    assert Quote.objects.get(pk=lapsed.pk).state == QuoteState.EXPIRED
    assert Quote.objects.get(pk=accepted.pk).reminder_sent_at is None
    assert smtp.messages == []


def test_the_reminder_run_is_a_periodic_task() -> None:
    names = {task.name: task for task in schedule.registered()}
    assert "sales.send_quote_reminders" in names
    assert names["sales.send_quote_reminders"].every == dt.timedelta(hours=1)

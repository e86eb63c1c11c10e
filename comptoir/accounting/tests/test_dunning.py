"""Dunning: levels climbed one at a time, one notice per customer and day, email with the
statement (real local SMTP server), the account manager's task, penalties, API and pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from comptoir.accounting import dunning
from comptoir.accounting.models import DunningNotice, InvoicingSettings
from comptoir.accounting.tests.invoices_kit import Books, make_books
from comptoir.accounting.tests.payments_kit import pay, post_invoice
from comptoir.accounting.tests.test_api import call, error, key
from comptoir.accounting.tests.test_views import login
from comptoir.contacts.models import Organization
from comptoir.crm.models import Activity
from comptoir.crm.tests.smtp import Mailbox, free_port, smtp_mailers, smtp_server  # noqa: F401 - fixture "smtp"
from comptoir.kernel import events
from comptoir.kernel.errors import PermissionDenied, ValidationFailed
from comptoir.org.testing import Personas, enable_modules

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def due(invoice: Any) -> dt.date:
    assert invoice.due_date is not None
    return invoice.due_date  # type: ignore[no-any-return]


def overdue_invoice(books: Books, net: str = "100.00") -> Any:
    Organization.objects.filter(pk=books.customer.pk).update(email="compta@martin.example", owner=None)
    return post_invoice(books, net)


def test_default_levels_and_one_level_at_a_time(books: Books) -> None:
    actor = books.actor()
    assert [(lv.sequence, lv.days_after_due, lv.include_penalties) for lv in dunning.levels(books.company_id)] == [
        (1, 7, False), (2, 30, False), (3, 45, True)
    ]  # fmt: skip
    invoice = overdue_invoice(books)
    day0 = due(invoice)
    assert dunning.proposals(actor, day0 + dt.timedelta(days=6)) == []
    # 50 days late and never reminded: the friendly reminder first, not the final notice.
    [first] = dunning.proposals(actor, day0 + dt.timedelta(days=50))
    assert first.level.sequence == 1 and [i.number for i in first.invoices] == [invoice.number]
    notices = dunning.run(actor=actor, today=day0 + dt.timedelta(days=7))
    assert [n.level.sequence for n in notices] == [1] and notices[0].total_due == Decimal("120.00")
    assert dunning.run(actor=actor, today=day0 + dt.timedelta(days=7)) == []  # same day: nothing more
    assert dunning.proposals(actor, day0 + dt.timedelta(days=29)) == []
    assert dunning.run(actor=actor, today=day0 + dt.timedelta(days=30))[0].level.sequence == 2
    final = dunning.proposals(actor, day0 + dt.timedelta(days=45))[0]
    assert final.level.sequence == 3 and final.indemnity == Decimal("40.00")
    assert dunning.run(actor=actor, today=day0 + dt.timedelta(days=45))[0].indemnity == Decimal("40.00")
    assert dunning.proposals(actor, day0 + dt.timedelta(days=400)) == []  # every level reached
    assert DunningNotice.objects.filter(organization_id=books.customer.pk).count() == 3


def test_penalties_follow_the_invoicing_rate_and_payments_stop_the_reminders(books: Books) -> None:
    actor = books.actor()
    InvoicingSettings.objects.filter(company_id=books.company_id).update(late_payment_rate=Decimal("12.00"))
    invoice = overdue_invoice(books)
    day0 = due(invoice)
    for days in (7, 30):
        dunning.run(actor=actor, today=day0 + dt.timedelta(days=days))
    final = dunning.proposals(actor, day0 + dt.timedelta(days=73))[0]
    # 120.00 × 12 % × 73 / 365 = 2.88
    assert final.penalties == Decimal("2.88") and final.indemnity == Decimal("40.00")
    pay(books, "120.00", [(invoice, "120.00")])
    assert dunning.proposals(actor, day0 + dt.timedelta(days=73)) == []


def test_one_notice_per_customer_at_its_highest_level(books: Books) -> None:
    actor = books.actor()
    old = overdue_invoice(books, "100.00")
    dunning.run(actor=actor, today=due(old) + dt.timedelta(days=7))
    newer = post_invoice(books, "50.00")
    day = max(due(old) + dt.timedelta(days=30), due(newer) + dt.timedelta(days=7))
    [proposal] = dunning.proposals(actor, day)
    assert proposal.level.sequence == 2
    assert {(i.number, i.level.sequence) for i in proposal.invoices} == {(old.number, 2), (newer.number, 1)}
    assert proposal.total == Decimal("180.00")


def test_the_email_leaves_through_the_outbox_with_the_statement(
    books: Books, smtp: Mailbox, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    invoice = overdue_invoice(books)
    settings.MAILERS = smtp_mailers(free_port())  # the mail server is down at first
    with django_capture_on_commit_callbacks(execute=True):
        [notice] = dunning.run(actor=books.actor(), today=due(invoice) + dt.timedelta(days=7))
    assert smtp.messages == [] and DunningNotice.objects.get(pk=notice.pk).sent_at is None
    settings.MAILERS = smtp_mailers(smtp.port)
    events.dispatch_pending()
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == "compta@martin.example"
    body = smtp.body()
    assert invoice.number in body and "120,00" in body
    attachments = [part for part in message.walk() if part.get_content_type() == "application/pdf"]
    payload = attachments[0].get_payload(decode=True) if len(attachments) == 1 else None
    assert isinstance(payload, bytes) and payload.startswith(b"%PDF")
    assert DunningNotice.objects.get(pk=notice.pk).sent_at is not None
    events.dispatch_pending()
    assert len(smtp.messages) == 1


def test_formal_reminder_gives_the_account_manager_a_task(
    books: Books, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    enable_modules(books.personas, "crm")
    invoice = overdue_invoice(books)
    owner = books.personas.users["sales"]
    Organization.objects.filter(pk=books.customer.pk).update(owner=owner)
    actor = books.actor()
    dunning.run(actor=actor, today=due(invoice) + dt.timedelta(days=7))  # email only: no task
    with django_capture_on_commit_callbacks(execute=True):
        dunning.run(actor=actor, today=due(invoice) + dt.timedelta(days=30))
    task = Activity.objects.get(organization_id=books.customer.pk)
    assert task.assignee_id == owner.pk and invoice.number in task.notes


def test_levels_are_validated_and_only_finance_runs(books: Books) -> None:
    actor = books.actor()
    with pytest.raises(ValidationFailed) as caught:
        dunning.level_create(actor=actor, sequence=1, name="", days_after_due=0, body="{oops}")
    assert {"sequence", "name", "days_after_due", "body"} <= set(caught.value.fields)
    level = dunning.level_create(actor=actor, sequence=4, name="Contentieux", days_after_due=90, action="activity")
    assert dunning.level_update(actor=actor, level_id=level.pk, is_active=False).is_active is False
    with pytest.raises(PermissionDenied):
        dunning.proposals(books.actor("sales"))
    with pytest.raises(PermissionDenied):
        dunning.run(actor=books.actor("sales"))


def test_dunning_api(books: Books, client: Client) -> None:
    invoice = overdue_invoice(books)
    h = key(books.ledger, "finance")
    levels = call(client, "get", "/dunning/levels", h)
    assert levels.status_code == 200 and [lv["sequence"] for lv in levels.json()] == [1, 2, 3]
    day = (due(invoice) + dt.timedelta(days=8)).isoformat()
    proposals = call(client, "get", f"/dunning/proposals?date={day}", h).json()
    assert proposals[0]["invoices"][0]["number"] == invoice.number and proposals[0]["level"] == 1
    error(call(client, "post", "/dunning/levels", h, {"sequence": 1, "name": "Doublon", "days_after_due": 3}), 422)
    error(call(client, "get", "/dunning/proposals?date=notadate", h), 422)
    created = call(client, "post", "/dunning/levels", h, {"sequence": 5, "name": "Avocat", "days_after_due": 120})
    assert created.status_code == 201
    patched = call(client, "patch", f"/dunning/levels/{created.json()['id']}", h, {"days_after_due": 100})
    assert patched.json()["days_after_due"] == 100
    assert call(client, "get", "/dunning/notices", h).json()["count"] == 0
    assert call(client, "get", "/dunning/levels", key(books.ledger, "sales")).status_code == 403


def test_dunning_pages(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    login(client, books.ledger, "finance")
    page = client.get("/accounting/dunning/")
    assert page.status_code == 200 and 'id="dunning-none"' in page.content.decode()
    [notice] = dunning.run(actor=books.actor(), today=due(invoice) + dt.timedelta(days=7))
    html = client.get("/accounting/dunning/").content.decode()
    assert f'data-notice="{notice.pk}"' in html
    levels = client.get("/accounting/dunning/levels/")
    assert levels.status_code == 200 and 'data-level="3"' in levels.content.decode()
    bad = client.post("/accounting/dunning/levels/new/", {"sequence": "2", "name": "X", "days_after_due": "5",
                                                          "action": "email"})  # fmt: skip
    assert bad.status_code == 422
    good = client.post("/accounting/dunning/levels/new/", {"sequence": "6", "name": "Huissier",
                                                           "days_after_due": "180", "action": "activity"})  # fmt: skip
    assert good.status_code == 302
    sent = client.post("/accounting/dunning/", {})
    assert sent.status_code == 302
    login(client, books.ledger, "sales")
    assert client.get("/accounting/dunning/").status_code == 403

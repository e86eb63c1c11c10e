"""Automatic dunning: the per-company setting (off by default; service, page, API), the daily
task run as the system through the scheduler (clock injected), the three modes, do-not-contact,
once per company and day (two real PostgreSQL connections), and the levels written at setup,
never on read."""

from __future__ import annotations

import datetime as dt
import importlib
import threading
import time
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounting import dunning, services
from comptoir.accounting.models import DunningLevel, DunningNotice, DunningSettings
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books, make_books
from comptoir.accounting.tests.payments_kit import post_invoice
from comptoir.accounting.tests.test_api import call, error, key
from comptoir.accounting.tests.test_views import login
from comptoir.contacts.models import Organization
from comptoir.crm.models import Activity
from comptoir.crm.tests.smtp import Mailbox, smtp_server  # noqa: F401 - fixture "smtp"
from comptoir.kernel import schedule
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent
from comptoir.kernel.schedule import PeriodicScheduler
from comptoir.org.models import Company
from comptoir.org.testing import Personas, enable_modules, make_personas


def issued() -> dt.date:
    """60 days back: due 30 days later at the latest, so overdue, level 1 due."""
    return today() - dt.timedelta(days=60)


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def overdue(books: Books, *, email: str = "compta@martin.example", owner: Any = None, **flags: Any) -> Any:
    Organization.objects.filter(pk=books.customer.pk).update(email=email, owner=owner, **flags)
    return post_invoice(books, "100.00", issue_date=issued())


def switch_on(books: Books, mode: str = "email") -> DunningSettings:
    return dunning.settings_update(actor=books.actor(), auto_enabled=True, auto_mode=mode)


# --- Levels: written at setup, read without writing ------------------------------------------


@pytest.mark.django_db
def test_levels_are_created_at_setup_with_an_audit_entry_and_reading_writes_nothing(books: Books) -> None:
    assert [lv.sequence for lv in dunning.levels(books.company_id)] == [1, 2, 3]
    setup = AuditEntry.objects.filter(company_id=books.company_id, action="dunning_level.setup")
    assert setup.count() == 1
    services.setup_company_accounting(actor=books.actor("admin"))  # idempotent: no second set, no second entry
    assert DunningLevel.objects.filter(company_id=books.company_id).count() == 3 and setup.count() == 1
    # A company without levels: reading them (service, proposals) writes nothing.
    DunningLevel.objects.filter(company_id=books.company_id).delete()
    with CaptureQueriesContext(connection) as queries:
        assert dunning.levels(books.company_id) == []
        assert dunning.proposals(books.actor(), today()) == []
    assert not any(q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE")) for q in queries.captured_queries)
    assert not DunningLevel.objects.filter(company_id=books.company_id).exists()


@pytest.mark.django_db
def test_pages_and_api_read_levels_without_writing(books: Books, client: Client) -> None:
    DunningLevel.objects.filter(company_id=books.company_id).delete()
    login(client, books.ledger, "finance")
    assert client.get("/accounting/dunning/levels/").status_code == 200
    assert client.get("/accounting/dunning/levels/new/").status_code == 200
    assert call(client, "get", "/dunning/levels", key(books.ledger, "finance")).json() == []
    assert not DunningLevel.objects.filter(company_id=books.company_id).exists()


@pytest.mark.django_db
def test_data_migration_gives_existing_books_their_levels(books: Books) -> None:
    migration = importlib.import_module("comptoir.accounting.migrations.0010_dunning_automatic")
    DunningLevel.objects.filter(company_id=books.company_id).delete()
    other = Company.objects.create(name="Sans comptabilité")
    migration.default_levels(django_apps, None)
    assert [lv.sequence for lv in dunning.levels(books.company_id)] == [1, 2, 3]
    assert dunning.levels(other.pk) == []  # no books, no levels
    renamed = DunningLevel.objects.get(company_id=books.company_id, sequence=1)
    renamed.name = "Petit rappel"
    renamed.save()
    migration.default_levels(django_apps, None)  # run again: nothing added, nothing overwritten
    assert DunningLevel.objects.filter(company_id=books.company_id).count() == 3
    assert DunningLevel.objects.get(pk=renamed.pk).name == "Petit rappel"


# --- The setting: service, API, page ---------------------------------------------------------


@pytest.mark.django_db
def test_setting_is_off_by_default_validated_per_field_and_audited(books: Books) -> None:
    current = dunning.settings_of(books.company_id)
    assert (current.auto_enabled, current.auto_mode, current.pk) == (False, "email", None)
    assert not DunningSettings.objects.exists()  # reading wrote nothing
    with pytest.raises(ValidationFailed) as caught:
        dunning.settings_update(actor=books.actor(), auto_enabled="yes", auto_mode="fax", colour="red")
    assert set(caught.value.fields) == {"auto_enabled", "auto_mode", "colour"}
    assert not DunningSettings.objects.exists()
    with pytest.raises(PermissionDenied):
        dunning.settings_update(actor=books.actor("sales"), auto_enabled=True)
    row = switch_on(books, "both")
    assert (row.auto_enabled, row.auto_mode) == (True, "both")
    entry = AuditEntry.objects.get(action="dunning_settings.update", object_id=str(row.pk))
    assert entry.changes["auto_enabled"] == [False, True] and entry.changes["auto_mode"] == ["email", "both"]


@pytest.mark.django_db
def test_setting_api(books: Books, client: Client) -> None:
    h = key(books.ledger, "finance")
    got = call(client, "get", "/dunning/settings", h)
    assert got.status_code == 200 and got.json() == {"auto_enabled": False, "auto_mode": "email", "last_auto_run": None}
    bad = error(call(client, "patch", "/dunning/settings", h, {"auto_enabled": True, "auto_mode": "fax"}), 422)
    assert set(bad["fields"]) == {"auto_mode"}
    assert not DunningSettings.objects.exists()
    done = call(client, "patch", "/dunning/settings", h, {"auto_enabled": True, "auto_mode": "activity"})
    assert done.status_code == 200 and done.json()["auto_mode"] == "activity" and done.json()["auto_enabled"]
    assert call(client, "get", "/dunning/settings", key(books.ledger, "sales")).status_code == 403
    assert (
        call(client, "patch", "/dunning/settings", key(books.ledger, "sales"), {"auto_enabled": False}).status_code
        == 403
    )
    assert DunningSettings.objects.get(company_id=books.company_id).auto_enabled is True


@pytest.mark.django_db
def test_setting_page(books: Books, client: Client) -> None:
    login(client, books.ledger, "finance")
    overview = client.get("/accounting/dunning/").content.decode()
    assert 'id="dunning-automatic-link"' in overview and "Automatic reminders: off" in overview
    page = client.get("/accounting/dunning/automatic/")
    assert page.status_code == 200 and 'id="dunning-automatic-form"' in page.content.decode()
    bad = client.post("/accounting/dunning/automatic/", {"auto_enabled": "on", "auto_mode": "fax"})
    assert bad.status_code == 422 and not DunningSettings.objects.exists()
    good = client.post("/accounting/dunning/automatic/", {"auto_enabled": "on", "auto_mode": "both"})
    assert good.status_code == 302
    assert DunningSettings.objects.filter(company_id=books.company_id, auto_enabled=True, auto_mode="both").exists()
    assert "Automatic reminders: on" in client.get("/accounting/dunning/").content.decode()
    login(client, books.ledger, "sales")
    assert client.get("/accounting/dunning/automatic/").status_code == 403


# --- The daily task ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_task_is_registered_daily_and_the_scheduler_runs_it_as_the_system(
    books: Books, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    periodic = {p.name: p for p in schedule.registered()}["accounting.send_dunning_reminders"]
    assert periodic.every == dt.timedelta(hours=1)
    invoice = overdue(books)
    start = dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.UTC)
    scheduler = PeriodicScheduler(now=start, tasks=[periodic])
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduler.tick(start) == ["accounting.send_dunning_reminders"]
    assert not DunningNotice.objects.exists()  # off by default: nothing sent
    switch_on(books)
    day = timezone.localdate()  # the task reads the clock when it runs: this day, or the next past midnight
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduler.tick(start + dt.timedelta(minutes=59)) == []
        assert scheduler.tick(start + dt.timedelta(hours=1)) == ["accounting.send_dunning_reminders"]
    notice = DunningNotice.objects.get()
    assert (notice.organization_id, notice.action, notice.created_by_id) == (books.customer.pk, "email", None)
    assert notice.lines.get().invoice_id == invoice.pk
    assert len(smtp.messages) == 1 and smtp.messages[0]["To"] == "compta@martin.example"
    assert any(part.get_content_type() == "application/pdf" for part in smtp.messages[0].walk())
    run = AuditEntry.objects.get(action="dunning.auto_run")
    assert run.channel == "task" and run.actor_id is None and run.changes["notices"] == [None, 1]
    assert AuditEntry.objects.get(action="dunning.notice").channel == "task"
    # The next tick the same day (or a second scheduler): nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduler.tick(start + dt.timedelta(hours=2)) == ["accounting.send_dunning_reminders"]
    assert DunningNotice.objects.count() == 1 and len(smtp.messages) == 1
    assert AuditEntry.objects.filter(action="dunning.auto_run").count() == 1
    ran = DunningSettings.objects.get(company_id=books.company_id).last_auto_run
    assert ran is not None and ran.isoformat() == run.changes["date"][1] and ran in (day, timezone.localdate())


@pytest.mark.django_db
def test_next_days_climb_the_levels_once_a_day(books: Books) -> None:
    invoice = overdue(books)
    switch_on(books)
    assert invoice.due_date is not None
    day = invoice.due_date + dt.timedelta(days=7)
    assert [n.level.sequence for n in dunning.run_automatic(books.company_id, day) or []] == [1]
    assert dunning.run_automatic(books.company_id, day) is None  # same day: not run again
    assert dunning.run_automatic(books.company_id, day + dt.timedelta(days=1)) == []  # ran, nothing due
    assert [n.level.sequence for n in dunning.run_automatic(books.company_id, invoice.due_date
                                                            + dt.timedelta(days=30)) or []] == [2]  # fmt: skip
    assert dunning.run_automatic_all(invoice.due_date + dt.timedelta(days=30)) == {}


@pytest.mark.django_db
def test_activity_mode_creates_the_account_managers_task_and_sends_no_email(
    books: Books, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    enable_modules(books.personas, "crm")
    owner = books.personas.users["sales"]
    invoice = overdue(books, owner=owner)
    switch_on(books, "activity")
    with django_capture_on_commit_callbacks(execute=True):
        assert dunning.run_automatic_all() == {books.company_id: 1}
    notice = DunningNotice.objects.select_related("level").get()
    assert notice.action == "activity" and notice.sent_to == "" and notice.level.action == "email"
    task = Activity.objects.get(organization_id=books.customer.pk)
    assert task.assignee_id == owner.pk and invoice.number in task.notes
    assert smtp.messages == []


@pytest.mark.django_db
def test_both_mode_emails_and_creates_the_task(
    books: Books, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    enable_modules(books.personas, "crm")
    overdue(books, owner=books.personas.users["sales"])
    switch_on(books, "both")
    with django_capture_on_commit_callbacks(execute=True):
        dunning.run_automatic_all()
    assert DunningNotice.objects.get().action == "both"
    assert len(smtp.messages) == 1 and Activity.objects.filter(organization_id=books.customer.pk).count() == 1


@pytest.mark.django_db
def test_do_not_contact_customers_get_no_email(
    books: Books, smtp: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    enable_modules(books.personas, "crm")
    overdue(books, owner=books.personas.users["sales"], do_not_contact=True)
    switch_on(books, "email")
    with django_capture_on_commit_callbacks(execute=True):
        assert dunning.run_automatic_all() == {books.company_id: 0}
    assert not DunningNotice.objects.exists() and smtp.messages == []
    # "Both": the account manager still follows the customer up, without any email.
    DunningSettings.objects.filter(company_id=books.company_id).update(auto_mode="both", last_auto_run=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert dunning.run_automatic_all() == {books.company_id: 1}
    notice = DunningNotice.objects.get()
    assert (notice.action, notice.sent_to) == ("activity", "")
    assert smtp.messages == [] and Activity.objects.filter(organization_id=books.customer.pk).count() == 1


@pytest.mark.django_db
def test_companies_without_the_setting_or_the_module_are_left_alone(books: Books) -> None:
    overdue(books)
    switch_on(books)
    from comptoir.kernel.models import ModuleActivation

    ModuleActivation.objects.filter(company_id=books.company_id, module="accounting").update(enabled=False)
    assert dunning.run_automatic_all() == {}
    ModuleActivation.objects.filter(company_id=books.company_id, module="accounting").update(enabled=True)
    dunning.settings_update(actor=books.actor(), auto_enabled=False)
    assert dunning.run_automatic_all() == {} and not DunningNotice.objects.exists()


# --- Real concurrency (PostgreSQL) -------------------------------------------------------------


def _threads(work: list[Any]) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrap(fn: Any) -> None:
        try:
            fn()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in work]
    for each in threads:
        each.start()
    for each in threads:
        each.join(timeout=120)
    return errors


def _company_with_overdue_customers(count: int) -> Books:
    """``count`` (1 to 3) customers with an overdue invoice each, automatic reminders on."""
    books = make_books(make_personas())
    overdue(books)
    for org in (books.eu_customer, books.export_customer)[: count - 1]:
        Organization.objects.filter(pk=org.pk).update(email=f"compta{org.pk}@example.test")
        post_invoice(books, "100.00", organization=org, issue_date=issued())
    switch_on(books)
    return books


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_connections_running_the_daily_task_at_once_record_each_notice_once() -> None:
    books = _company_with_overdue_customers(3)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def run() -> None:
        barrier.wait(timeout=30)
        results.append(dunning.run_automatic(books.company_id, today()))

    assert _threads([run, run]) == []
    assert sorted(len(r) if r is not None else -1 for r in results) == [-1, 3]  # one ran, the other saw the day done
    assert DunningNotice.objects.count() == 3
    assert OutboxEvent.objects.filter(name=dunning.NOTICE_EVENT).count() == 3
    assert AuditEntry.objects.filter(action="dunning.auto_run").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_unique_constraint_stops_a_second_overlapping_run_of_the_same_day() -> None:
    """Below the daily stamp: two runs overlap (the first holds its notice uncommitted while the
    second inserts the same customer, level and day); the second waits, then records nothing."""
    books = _company_with_overdue_customers(1)
    actor = Actor.system(books.company_id, channel="task")
    inserted, results = threading.Event(), dict[str, Any]()

    def first() -> None:
        with transaction.atomic():
            results["first"] = dunning.run(actor=actor, today=today())
            inserted.set()
            time.sleep(1.0)  # the second run is now blocked on the unique index

    def second() -> None:
        assert inserted.wait(timeout=30)
        started = time.monotonic()
        results["second"] = dunning.run(actor=actor, today=today())
        results["waited"] = time.monotonic() - started

    assert _threads([first, second]) == []
    assert len(results["first"]) == 1 and results["second"] == [] and results["waited"] > 0.5
    assert DunningNotice.objects.count() == 1
    assert OutboxEvent.objects.filter(name=dunning.NOTICE_EVENT).count() == 1

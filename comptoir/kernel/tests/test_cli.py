"""The ``comptoir`` command: integrity check exit codes, clean refusals of bad input."""

from __future__ import annotations

import datetime as dt
import io
import os
import sqlite3
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from comptoir.config.cli import NightlyScheduler
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.models import AuditEntry
from comptoir.org import services

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _company_with_audit() -> AuditEntry:
    company = services.company_create(actor=Actor.system(None, Channel.CLI), name="Atelier", legal_name="Atelier SAS")
    return AuditEntry.objects.get(object_type="org.company", object_id=str(company.pk))


@pytest.mark.django_db
def test_check_integrity_clean_database_exits_zero() -> None:
    _company_with_audit()
    out = io.StringIO()
    call_command("check_integrity", stdout=out)
    assert "Integrity OK" in out.getvalue()
    assert "1 audit entries" in out.getvalue()


@pytest.mark.django_db
def test_check_integrity_reports_a_tampered_audit_entry_with_exit_code_one() -> None:
    entry = _company_with_audit()
    AuditEntry.objects.filter(pk=entry.pk).update(actor_label="someone else")
    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("check_integrity", stdout=out)
    assert excinfo.value.returncode == 1
    assert f"audit entry {entry.pk} (company.create) was altered" in out.getvalue()


@pytest.mark.django_db
def test_check_integrity_enqueue_hands_the_check_to_the_task_backend() -> None:
    out = io.StringIO()
    call_command("check_integrity", "--enqueue", stdout=out)
    assert "enqueued" in out.getvalue()


@pytest.mark.django_db
def test_scheduler_enqueues_once_a_day_at_the_chosen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    from comptoir.kernel import tasks

    class FakeTask:
        def enqueue(self) -> None:
            calls.append(1)

    monkeypatch.setattr(tasks, "check_integrity", FakeTask())
    start = dt.datetime(2026, 3, 10, 12, 0, tzinfo=PARIS)
    scheduler = NightlyScheduler(dt.time(2, 30), PARIS, now=start)
    assert scheduler.next_run == dt.datetime(2026, 3, 11, 2, 30, tzinfo=PARIS)
    assert scheduler.tick(dt.datetime(2026, 3, 11, 2, 29, tzinfo=PARIS)) is False
    assert scheduler.tick(dt.datetime(2026, 3, 11, 2, 30, 5, tzinfo=PARIS)) is True
    assert scheduler.tick(dt.datetime(2026, 3, 11, 2, 31, tzinfo=PARIS)) is False
    assert scheduler.next_run == dt.datetime(2026, 3, 12, 2, 30, tzinfo=PARIS)
    assert calls == [1]


@pytest.mark.django_db
def test_create_admin_refuses_bad_input_and_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from comptoir.org.models import Company, User

    monkeypatch.setenv("COMPTOIR_ADMIN_PASSWORD", "a-long-passphrase")
    with translation.override("en"), pytest.raises(CommandError) as excinfo:
        call_command(
            "create_admin", "--email", "not-an-email", "--full-name", "Anne", "--company", "Atelier", "--siren", "123"
        )
    assert "siren: Invalid SIREN" in str(excinfo.value)
    with pytest.raises(CommandError) as excinfo:
        call_command("create_admin", "--email", "not-an-email", "--full-name", "Anne", "--company", "Atelier")
    assert "email:" in str(excinfo.value)
    assert Company.objects.count() == 0
    assert User.objects.count() == 0
    assert AuditEntry.objects.count() == 0


@pytest.mark.django_db
def test_create_admin_creates_the_company_and_its_administrator(monkeypatch: pytest.MonkeyPatch) -> None:
    from comptoir.org.models import Membership

    monkeypatch.setenv("COMPTOIR_ADMIN_PASSWORD", "a-long-passphrase")
    out = io.StringIO()
    call_command(
        "create_admin", "--email", "Boss@Atelier.test", "--full-name", "Anne Boss", "--company", "Atelier",
        "--siren", "512345679", stdout=out,
    )  # fmt: skip
    membership = Membership.objects.select_related("user", "company").get()
    assert (membership.user.email, membership.role, membership.company.siren) == (
        "boss@atelier.test",
        "admin",
        "512345679",
    )
    assert membership.user.check_password("a-long-passphrase")
    assert set(AuditEntry.objects.values_list("channel", flat=True)) == {Channel.CLI}


# --- The real command, in a subprocess --------------------------------------------------


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no test settings, SQLite in a throwaway data directory."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COMPTOIR_", "DJANGO_")) and k not in {"DATABASE_URL", "SECRET_KEY"}
    }
    env.update({"COMPTOIR_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


def _comptoir(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "comptoir.config.cli", *args],
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--port", "99999"], "invalid port '99999'"),
        (["demo", "--port", "http"], "invalid port 'http'"),
        (["demo", "--workers", "9"], "invalid worker count '9'"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["demo", "--data-dir", "/dev/null/comptoir"], "cannot use data directory /dev/null/comptoir"),
        (["demo", "--host", "no-such-host.invalid", "--data-dir", "{tmp}"], "unknown host 'no-such-host.invalid'"),
        (["serve"], "SECRET_KEY is not set"),
        (["serve", "--port", "0"], "invalid port '0'"),
        (["migrate"], "SECRET_KEY must be set"),
    ],
)
def test_bad_input_gets_a_clear_message_and_no_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    result = _comptoir(tmp_path, *[a.replace("{tmp}", str(tmp_path / "d")) for a in args])
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_command_is_refused(tmp_path: Path) -> None:
    result = _comptoir(tmp_path, "no-such-command", COMPTOIR_DEBUG="1")
    assert result.returncode != 0
    assert "Unknown command: 'no_such_command'" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_integrity_command_end_to_end(tmp_path: Path) -> None:
    """migrate → create-admin → check-integrity (0) → tamper with SQLite → check-integrity (1)."""
    admin = ["create-admin", "--email", "boss@atelier.test", "--full-name", "Anne Boss", "--company", "Atelier"]
    for step in (["migrate", "--verbosity", "0"], admin):
        done = _comptoir(tmp_path, *step, COMPTOIR_DEBUG="1", COMPTOIR_ADMIN_PASSWORD="a-long-passphrase")
        assert done.returncode == 0, done.stderr
    clean = _comptoir(tmp_path, "check-integrity", COMPTOIR_DEBUG="1")
    assert clean.returncode == 0, clean.stderr
    assert "Integrity OK" in clean.stdout

    with sqlite3.connect(tmp_path / "data" / "comptoir.sqlite3") as db:
        entry_id = db.execute("SELECT min(id) FROM kernel_auditentry").fetchone()[0]
        db.execute("UPDATE kernel_auditentry SET changes = '{}' WHERE id = ?", (entry_id,))
    tampered = _comptoir(tmp_path, "check-integrity", COMPTOIR_DEBUG="1")
    assert tampered.returncode == 1
    assert f"PROBLEM: audit entry {entry_id} " in tampered.stdout
    assert "1 integrity problem(s) found" in tampered.stderr
    assert "Traceback" not in tampered.stderr

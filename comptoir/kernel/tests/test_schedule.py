"""Periodic tasks: the registry, the scheduler's clock (injected: nothing sleeps), the CLI's loop step."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.tasks import task

from comptoir.config.cli import NightlyScheduler, scheduler_step
from comptoir.kernel import schedule
from comptoir.kernel.schedule import PeriodicScheduler, PeriodicTask

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
START = dt.datetime(2026, 3, 10, 12, 0, tzinfo=PARIS)
RUNS: list[str] = []


@task()
def record_run() -> int:
    RUNS.append("ran")
    return len(RUNS)


class Broken:
    def enqueue(self) -> None:
        raise ConnectionError("database down")


def test_registry_holds_the_apps_periodic_tasks_and_refuses_nonsense() -> None:
    names = {p.name: p.every for p in schedule.registered()}
    assert names["crm.send_due_reminders"] == dt.timedelta(minutes=5)
    assert names["crm.run_followup_rules"] == dt.timedelta(hours=1)
    assert names["kernel.dispatch_pending_events"] == dt.timedelta(minutes=10)
    with pytest.raises(ValueError):
        schedule.register("test.never", record_run, every=dt.timedelta(0))
    with pytest.raises(TypeError):
        schedule.register("test.not_a_task", print, every=dt.timedelta(minutes=1))
    schedule.register("test.twice", record_run, every=dt.timedelta(minutes=1))
    schedule.register("test.twice", record_run, every=dt.timedelta(minutes=2))
    try:
        assert [p.every for p in schedule.registered() if p.name == "test.twice"] == [dt.timedelta(minutes=2)]
    finally:
        schedule.unregister("test.twice")
    assert "test.twice" not in {p.name for p in schedule.registered()}


@pytest.mark.django_db
def test_scheduler_runs_each_task_at_start_then_every_period() -> None:
    RUNS.clear()
    every5 = PeriodicTask("test.every5", record_run, dt.timedelta(minutes=5))
    scheduler = PeriodicScheduler(now=START, tasks=[every5])
    assert scheduler.tick(START) == ["test.every5"]  # at start: a restart catches up at once
    assert scheduler.tick(START + dt.timedelta(minutes=4, seconds=59)) == []
    assert scheduler.tick(START + dt.timedelta(minutes=5)) == ["test.every5"]
    # A long pause (laptop asleep) runs it once, not once per missed period.
    assert scheduler.tick(START + dt.timedelta(hours=2)) == ["test.every5"]
    assert scheduler.tick(START + dt.timedelta(hours=2, minutes=1)) == []
    assert RUNS == ["ran", "ran", "ran"]  # the immediate task backend of the tests ran them


@pytest.mark.django_db
def test_failed_enqueue_is_retried_at_the_next_tick_and_others_still_run() -> None:
    RUNS.clear()
    broken = PeriodicTask("test.broken", Broken(), dt.timedelta(minutes=5))
    fine = PeriodicTask("test.fine", record_run, dt.timedelta(minutes=5))
    scheduler = PeriodicScheduler(now=START, tasks=[broken, fine])
    assert scheduler.tick(START) == ["test.fine"]
    assert scheduler.next_run["test.broken"] == START  # still due
    assert scheduler.tick(START + dt.timedelta(seconds=20)) == []


@pytest.mark.django_db
def test_cli_scheduler_step_enqueues_nightly_and_periodic_tasks() -> None:
    RUNS.clear()
    nightly = NightlyScheduler(dt.time(2, 30), PARIS, now=START)
    periodic = PeriodicScheduler(now=START, tasks=[PeriodicTask("test.hourly", record_run, dt.timedelta(hours=1))])
    assert scheduler_step(nightly, periodic, START) == ["test.hourly"]
    assert scheduler_step(nightly, periodic, START + dt.timedelta(minutes=30)) == []
    night = dt.datetime(2026, 3, 11, 2, 30, tzinfo=PARIS)
    assert scheduler_step(nightly, periodic, night) == ["kernel.check_integrity", "test.hourly"]
    assert RUNS == ["ran", "ran"]

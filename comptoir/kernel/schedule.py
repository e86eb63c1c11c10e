"""Periodic tasks: apps register a Django task to enqueue every so often; the scheduler enqueues them.

Apps register in their ``apps.py`` ``ready()`` (through their ``tasks`` module)::

    schedule.register("crm.send_due_reminders", send_due_reminders, every=timedelta(minutes=5))

``comptoir scheduler`` (and the demo process) call ``PeriodicScheduler.tick`` in their loop.
The schedule lives in memory: after a restart every task runs once at once, then every
``every``. Tasks must therefore be idempotent (run twice, or by two schedulers, harmlessly).
The scheduler only enqueues; workers run the tasks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    task: Any  # a django.tasks Task (anything with .enqueue())
    every: dt.timedelta


_registry: dict[str, PeriodicTask] = {}


def register(name: str, task: Any, *, every: dt.timedelta) -> None:
    """Enqueue ``task`` every ``every``; registering a name again replaces it."""
    if every <= dt.timedelta(0):
        raise ValueError(f"periodic task {name}: 'every' must be positive")
    if not callable(getattr(task, "enqueue", None)):
        raise TypeError(f"periodic task {name}: expected a task with .enqueue()")
    _registry[name] = PeriodicTask(name=name, task=task, every=every)


def unregister(name: str) -> None:
    _registry.pop(name, None)


def registered() -> list[PeriodicTask]:
    return sorted(_registry.values(), key=lambda p: p.name)


class PeriodicScheduler:
    """When each periodic task is next due. ``now`` is injected so tests never sleep."""

    def __init__(self, now: dt.datetime | None = None, tasks: Iterable[PeriodicTask] | None = None) -> None:
        start = now or timezone.now()
        self.tasks = list(registered() if tasks is None else tasks)
        self.next_run: dict[str, dt.datetime] = {p.name: start for p in self.tasks}

    def tick(self, now: dt.datetime | None = None) -> list[str]:
        """Enqueue the tasks due at ``now``; returns their names. A failed enqueue is retried next tick."""
        now = now or timezone.now()
        enqueued: list[str] = []
        for periodic in self.tasks:
            if now < self.next_run[periodic.name]:
                continue
            try:
                periodic.task.enqueue()
            except Exception:  # the scheduler must outlive a database hiccup
                logger.exception("could not enqueue the periodic task %s", periodic.name)
                continue
            # From now, not from the planned time: a long pause does not cause a burst of runs.
            self.next_run[periodic.name] = now + periodic.every
            enqueued.append(periodic.name)
        return enqueued


def _register_kernel_tasks() -> None:
    from comptoir.kernel.tasks import dispatch_pending_events

    # Events whose dispatch failed (a mail server down, a worker killed) are retried.
    register("kernel.dispatch_pending_events", dispatch_pending_events, every=dt.timedelta(minutes=10))


_register_kernel_tasks()

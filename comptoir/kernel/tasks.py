"""Background tasks of the kernel (Django's Tasks API)."""

from __future__ import annotations

from typing import Any

from django.tasks import task

from comptoir.kernel.context import Channel, channel


@task()
def dispatch_event(event_id: int) -> bool:
    from comptoir.kernel.events import dispatch

    with channel(Channel.TASK):
        return dispatch(event_id)


@task()
def dispatch_pending_events() -> int:
    from comptoir.kernel.events import dispatch_pending

    with channel(Channel.TASK):
        return dispatch_pending()


@task()
def check_integrity() -> dict[str, Any]:
    """Nightly integrity check of sequences, audit and outbox; the result is kept by the backend."""
    from comptoir.kernel.integrity import run_all

    with channel(Channel.TASK):
        report = run_all()
    return {"ok": report.ok, "checked": report.checked, "problems": report.problems}

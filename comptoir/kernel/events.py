"""Domain events through a transactional outbox.

``publish`` writes an ``OutboxEvent`` row in the caller's transaction: an event exists only
if the change committed. After commit, the event is dispatched (inline, or by a background
task in production). Each subscriber runs in its own transaction together with a
``SubscriberRun`` row that is unique per (event, subscriber), so a retried or duplicated
dispatch never runs a subscriber twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from comptoir.kernel.models import OutboxEvent, SubscriberRun

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]
_subscribers: dict[str, list[tuple[str, Handler]]] = {}


def subscribe(event_name: str, handler: Handler, *, key: str | None = None) -> None:
    """Register ``handler`` for ``event_name``; ``key`` names it durably (default: dotted path)."""
    key = key or f"{handler.__module__}.{handler.__qualname__}"
    handlers = _subscribers.setdefault(event_name, [])
    if all(existing != key for existing, _ in handlers):
        handlers.append((key, handler))


def unsubscribe(event_name: str, key: str) -> None:
    _subscribers[event_name] = [(k, h) for k, h in _subscribers.get(event_name, []) if k != key]


def subscribers_of(event_name: str) -> list[tuple[str, Handler]]:
    return list(_subscribers.get(event_name, []))


def publish(name: str, *, company_id: int | None, payload: dict[str, Any]) -> OutboxEvent:
    """Record the event in the current transaction and dispatch it after commit."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events.publish must be called inside the service's transaction")
    event = OutboxEvent.objects.create(name=name, company_id=company_id, payload=payload)
    transaction.on_commit(lambda: _after_commit(event.pk, name))
    return event


def _after_commit(event_id: int, name: str = "") -> None:
    if getattr(settings, "EVENTS_DISPATCH", "inline") == "inline":
        if name and not subscribers_of(name):
            # Nothing to run: the event is done. One UPDATE, without reading the row back
            # (``dispatch`` would read it only to find no subscriber); a concurrent dispatch
            # that already processed it is left as it wrote it.
            OutboxEvent.objects.filter(pk=event_id, status=OutboxEvent.Status.PENDING).update(
                attempts=F("attempts") + 1, status=OutboxEvent.Status.DONE, processed_at=timezone.now(), last_error=""
            )
            return
        dispatch(event_id)
    else:
        from comptoir.kernel.tasks import dispatch_event

        dispatch_event.enqueue(event_id)


def dispatch(event_id: int) -> bool:
    """Run every subscriber of the event that has not run yet. Returns True when all succeeded."""
    event = next(iter(OutboxEvent.objects.filter(pk=event_id).order_by()[:1]), None)  # by primary key: no ORDER BY
    if event is None or event.status == OutboxEvent.Status.DONE:
        return True
    ok = True
    for key, handler in subscribers_of(event.name):
        try:
            with transaction.atomic():
                # The unique row is the idempotency guard: a second run fails here first.
                SubscriberRun.objects.create(event=event, subscriber=key)
                handler(event)
        except IntegrityError:
            continue  # already handled by an earlier or concurrent dispatch
        except Exception as exc:  # a subscriber's failure must not lose the event
            ok = False
            logger.exception("subscriber %s failed on event %s", key, event.pk)
            event.last_error = f"{key}: {exc}"[:2000]
    OutboxEvent.objects.filter(pk=event.pk).update(
        attempts=event.attempts + 1,
        status=OutboxEvent.Status.DONE if ok else OutboxEvent.Status.FAILED,
        processed_at=timezone.now(),
        last_error="" if ok else event.last_error,
    )
    return ok


def dispatch_pending(limit: int = 1000) -> int:
    """Dispatch events left pending or failed (worker restart, subscriber error)."""
    ids = list(
        OutboxEvent.objects.filter(status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.FAILED])
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    for event_id in ids:
        dispatch(event_id)
    return len(ids)

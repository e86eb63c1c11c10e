"""Domain events through a transactional outbox.

``publish`` writes an ``OutboxEvent`` row in the caller's transaction: an event exists only
if the change committed. After commit, the event is dispatched (inline, or by a background
task in production). Each subscriber runs in its own transaction together with a
``SubscriberRun`` row that is unique per (event, subscriber), so a retried or duplicated
dispatch never runs a subscriber twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from comptoir.kernel.audit import insert_row
from comptoir.kernel.models import OutboxEvent, SubscriberRun

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]
Condition = Callable[[dict[str, Any]], bool]
_subscribers: dict[str, list[tuple[str, Handler]]] = {}
_conditions: dict[tuple[str, str], Condition] = {}


def subscribe(event_name: str, handler: Handler, *, key: str | None = None, when: Condition | None = None) -> None:
    """Register ``handler`` for ``event_name``; ``key`` names it durably (default: dotted path).

    ``when`` tells from the payload alone whether the handler has anything to do (a credit
    note, an order with an opportunity): for the other events it is not run at all — no
    transaction, no ``SubscriberRun`` — and an event no subscriber wants is written done.
    """
    key = key or f"{handler.__module__}.{handler.__qualname__}"
    handlers = _subscribers.setdefault(event_name, [])
    if all(existing != key for existing, _ in handlers):
        handlers.append((key, handler))
    if when is None:
        _conditions.pop((event_name, key), None)
    else:
        _conditions[(event_name, key)] = when


def unsubscribe(event_name: str, key: str) -> None:
    _subscribers[event_name] = [(k, h) for k, h in _subscribers.get(event_name, []) if k != key]
    _conditions.pop((event_name, key), None)


def subscribers_of(event_name: str) -> list[tuple[str, Handler]]:
    return list(_subscribers.get(event_name, []))


def _wanted_by(event_name: str, payload: dict[str, Any]) -> list[tuple[str, Handler]]:
    """The subscribers with something to do for this payload."""
    return [(key, handler) for key, handler in _subscribers.get(event_name, ())
            if (condition := _conditions.get((event_name, key))) is None or condition(payload)]  # fmt: skip


def publish(name: str, *, company_id: int | None, payload: dict[str, Any]) -> OutboxEvent:
    """Record the event in the current transaction and dispatch it after commit.

    An event nobody subscribes to, or whose subscribers' ``when`` all say no, is written
    already done (one INSERT, nothing after commit): it is kept for the record, and there is
    nothing to run. Subscribers are registered when the apps load, so the answer cannot
    change between here and commit.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events.publish must be called inside the service's transaction")
    now = timezone.now()
    # The subscribers get the payload as the database would give it back (tuples → lists, keys → strings).
    event = OutboxEvent(name=name, company_id=company_id, payload=json.loads(json.dumps(payload)), created_at=now)
    if not _wanted_by(name, event.payload):
        event.status, event.attempts, event.processed_at = OutboxEvent.Status.DONE, 1, now
    # One plain INSERT (SQL compiled once): services publish while holding their row locks.
    event.pk = insert_row(OutboxEvent, {column: getattr(event, column) for column in _EVENT_COLUMNS}, returning_pk=True)
    if event.status == OutboxEvent.Status.PENDING:
        transaction.on_commit(lambda: _after_commit(event))
    return event


_EVENT_COLUMNS = ("company_id", "name", "payload", "created_at", "status", "attempts", "processed_at", "last_error")


def _after_commit(event: OutboxEvent) -> None:
    if getattr(settings, "EVENTS_DISPATCH", "inline") == "inline":
        _run_subscribers(event)
    else:
        from comptoir.kernel.tasks import dispatch_event

        dispatch_event.enqueue(event.pk)


def dispatch(event_id: int) -> bool:
    """Run every subscriber of the event that has not run yet. Returns True when all succeeded."""
    event = next(iter(OutboxEvent.objects.filter(pk=event_id).order_by()[:1]), None)  # by primary key: no ORDER BY
    if event is None or event.status == OutboxEvent.Status.DONE:
        return True
    return _run_subscribers(event)


def _run_subscribers(event: OutboxEvent) -> bool:
    """Run the event's subscribers, each in its own transaction, and record the outcome.

    Right after commit the publisher's own copy of the event is passed here, not read back:
    a concurrent dispatch of the same event (the retry task) is harmless, each subscriber's
    unique ``SubscriberRun`` row lets only one of them run it.
    """
    ok = True
    for key, handler in _wanted_by(event.name, event.payload or {}):
        try:
            with transaction.atomic():
                # The unique row is the idempotency guard: a second run fails here first.
                insert_row(SubscriberRun, {"event_id": event.pk, "subscriber": key, "done_at": timezone.now()})
                handler(event)
        except IntegrityError:
            continue  # already handled by an earlier or concurrent dispatch
        except Exception as exc:  # a subscriber's failure must not lose the event
            ok = False
            logger.exception("subscriber %s failed on event %s", key, event.pk)
            event.last_error = f"{key}: {exc}"[:2000]
    OutboxEvent.objects.filter(pk=event.pk).update(
        attempts=F("attempts") + 1,
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

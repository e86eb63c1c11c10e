"""Notifications: short messages for one user (a mention in a note, ...), read in the top bar.

Other apps call ``notify`` from inside their service's transaction, so a notification exists
exactly when the write that caused it does. A user only ever sees their own notifications.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound
from comptoir.kernel.models import Notification

MESSAGE_MAX = 300
URL_MAX = 500


def notify(*, company_id: int, user_ids: Iterable[int], message: str, url: str = "") -> list[Notification]:
    """One notification per distinct user, in one insert, within the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("notifications.notify must be called inside the service's transaction")
    text = str(message)
    if len(text) > MESSAGE_MAX:
        text = text[: MESSAGE_MAX - 1] + "…"
    link = url if len(url) <= URL_MAX else ""
    rows = [
        Notification(company_id=company_id, user_id=user_id, message=text, url=link)
        for user_id in sorted(set(user_ids))
    ]
    return Notification.objects.bulk_create(rows)


def notification_list(actor: Actor) -> QuerySet[Notification]:
    """The actor's own notifications in their current company, newest first."""
    if actor.user_id is None:
        return Notification.objects.none()
    return Notification.objects.filter(company_id=actor.company_id, user_id=actor.user_id)


def notification_get(actor: Actor, notification_id: int) -> Notification:
    found = notification_list(actor).filter(pk=notification_id).first()
    if found is None:
        raise NotFound("notification_not_found")
    return found


def unread_count(actor: Actor) -> int:
    return notification_list(actor).filter(read_at__isnull=True).count()


@transaction.atomic
def mark_read(actor: Actor, ids: Iterable[int] | None = None) -> int:
    """Mark the given notifications (all unread ones if ``ids`` is None) read; 404 if one is not the actor's."""
    rows = notification_list(actor)
    if ids is not None:
        wanted = set(ids)
        if not wanted:
            return 0
        if rows.filter(pk__in=wanted).count() != len(wanted):
            raise NotFound("notification_not_found")
        rows = rows.filter(pk__in=wanted)
    return rows.filter(read_at__isnull=True).update(read_at=timezone.now())

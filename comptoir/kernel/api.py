"""REST endpoints of the kernel: the audit trail (read only) and the caller's notifications."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema

from comptoir.kernel import apikit, notifications, selectors
from comptoir.kernel.apikit import MAX_ID, ListParams, page_of, responses
from comptoir.kernel.context import Channel
from comptoir.kernel.models import Notification

router = apikit.router(tags=["audit"])

ChannelName = Literal[tuple(code for code, _label in Channel.choices)]  # type: ignore[valid-type]


class AuditEntryOut(Schema):
    id: int
    at: dt.datetime
    actor_id: int | None
    actor_label: str
    channel: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    changes: dict[str, Any] = Field(description="Changed fields as {field: [old, new]}.")


class AuditFilters(ListParams):
    actor_id: int | None = Field(None, ge=1, le=MAX_ID, description="Only entries by this user.")
    channel: ChannelName | None = Field(None, description="ui, api, import, task, cli or system.")  # type: ignore[valid-type]
    action: str | None = Field(
        None, max_length=80, description="Exact action, or a prefix ending with a dot (`site.`)."
    )
    object_type: str | None = Field(None, max_length=100, description="e.g. `org.site`.")
    object_id: str | None = Field(None, max_length=64)
    date_from: dt.date | None = Field(None, description="First day included (YYYY-MM-DD).")
    date_to: dt.date | None = Field(None, description="Last day included (YYYY-MM-DD).")
    q: str | None = Field(None, max_length=200, description="Search author, action, object and label.")


AUDIT_SORT = {"at": "at", "action": "action", "object_type": "object_type"}


@router.get("/audit-entries", response=responses(page_of(AuditEntryOut)), summary="List audit entries")
def audit_entry_list(request: HttpRequest, params: Query[AuditFilters]) -> dict[str, Any]:
    """The company's audit trail, newest first. Needs the `kernel:read` scope and the audit permission.
    Sort: `at`, `action`, `object_type`."""
    entries = selectors.audit_list(
        apikit.actor(request),
        actor_id=params.actor_id,
        channel=params.channel,
        action=params.action,
        object_type=params.object_type,
        object_id=params.object_id,
        date_from=params.date_from,
        date_to=params.date_to,
        q=params.q,
    )
    return apikit.paginate(entries, params, sort=AUDIT_SORT, default_sort="-at")


class NotificationOut(Schema):
    id: int
    message: str
    url: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationFilters(ListParams):
    unread: bool | None = Field(None, description="true: unread only; false: read only.")


@router.get("/notifications", response=responses(page_of(NotificationOut)), summary="List my notifications")
def notification_list(request: HttpRequest, params: Query[NotificationFilters]) -> dict[str, Any]:
    """The caller's own notifications in the current company, newest first. Sort: `created_at`."""
    rows = notifications.notification_list(apikit.actor(request))
    if params.unread is not None:
        rows = rows.filter(read_at__isnull=params.unread)
    return apikit.paginate(rows, params, sort={"created_at": "created_at"}, default_sort="-created_at")


@router.post(
    "/notifications/{notification_id}/read", response=responses(NotificationOut), summary="Mark a notification read"
)
def notification_read(request: HttpRequest, notification_id: int = Path(..., ge=1, le=MAX_ID)) -> Notification:
    actor = apikit.actor(request)
    notifications.mark_read(actor, [notification_id])
    return notifications.notification_get(actor, notification_id)

"""Reads of the kernel: the audit trail, scoped to the actor's company."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.models import AuditEntry

CHANNELS = [code for code, _label in Channel.choices]


def _as_date(value: Any, field: str, errors: dict[str, list[str]]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        day = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            errors[field] = [_("Enter a valid date (YYYY-MM-DD).")]
            return None
    # Far-off years overflow once shifted to UTC; nothing was audited then anyway.
    if not 1900 <= day.year <= 9000:
        errors[field] = [_("Enter a date between 1900 and 9000.")]
        return None
    return day


def _day_start(day: dt.date) -> dt.datetime:
    # Days are the user's days (current time zone), stored instants are UTC.
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


def audit_list(
    actor: Actor,
    *,
    actor_id: int | str | None = None,
    channel: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    q: str | None = None,
) -> QuerySet[AuditEntry]:
    """Audit entries of the actor's company, newest first, narrowed by the given filters.

    ``date_from`` and ``date_to`` are inclusive calendar days in the current time zone;
    ``action`` matches exactly, or as a prefix when it ends with a dot (``"site."``);
    ``q`` searches the author, action, object type, id and label. Bad filters → 422.
    """
    require(actor, "kernel.view_audit")
    errors: dict[str, list[str]] = {}
    entries = AuditEntry.objects.filter(company_id=actor.company_id)
    if actor.company_id is None:
        entries = entries.none()
    if actor_id not in (None, ""):
        try:
            entries = entries.filter(actor_id=int(actor_id))
        except (TypeError, ValueError):
            errors["actor_id"] = [_("Enter a whole number.")]
    if channel:
        if channel not in CHANNELS:
            errors["channel"] = [_("Choose among: %(values)s.") % {"values": ", ".join(CHANNELS)}]
        else:
            entries = entries.filter(channel=channel)
    if action:
        action = action.strip()
        entries = entries.filter(action__startswith=action) if action.endswith(".") else entries.filter(action=action)
    if object_type:
        entries = entries.filter(object_type=object_type.strip())
    if object_id not in (None, ""):
        entries = entries.filter(object_id=str(object_id).strip())
    start = _as_date(date_from, "date_from", errors)
    end = _as_date(date_to, "date_to", errors)
    if start and end and start > end:
        errors["date_to"] = [_("The end date must be on or after the start date.")]
    if start:
        entries = entries.filter(at__gte=_day_start(start))
    if end:
        entries = entries.filter(at__lt=_day_start(end + dt.timedelta(days=1)))
    if q and q.strip():
        term = q.strip()
        entries = entries.filter(
            Q(actor_label__icontains=term)
            | Q(action__icontains=term)
            | Q(object_type__icontains=term)
            | Q(object_id=term)
            | Q(object_repr__icontains=term)
        )
    if errors:
        raise ValidationFailed(fields=errors)
    return entries.order_by("-at", "-id")


def audit_facets(actor: Actor) -> dict[str, list[str]]:
    """Distinct actions and object types of the company, to offer as filter choices."""
    require(actor, "kernel.view_audit")
    base = AuditEntry.objects.filter(company_id=actor.company_id).order_by()
    return {
        "actions": sorted(set(base.values_list("action", flat=True).distinct())),
        "object_types": sorted(set(base.values_list("object_type", flat=True).distinct())),
    }


def audit_authors(actor: Actor) -> list[tuple[int, str]]:
    """(actor_id, label) of people who appear in the company's trail, for the user filter."""
    require(actor, "kernel.view_audit")
    rows = (
        AuditEntry.objects.filter(company_id=actor.company_id, actor_id__isnull=False)
        .order_by()
        .values_list("actor_id", "actor_label")
        .distinct()
    )
    return sorted(set(rows), key=lambda row: (row[1].lower(), row[0]))


def audit_export_rows(actor: Actor, **filters: Any) -> QuerySet[AuditEntry]:
    """The same rows as ``audit_list`` with the same filters, for those allowed to export."""
    require(actor, "kernel.export_audit")
    return audit_list(actor, **filters)

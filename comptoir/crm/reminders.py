"""Activity reminders: an in-app notification and an email to the assignee, sent once.

``send_due_reminders`` runs every few minutes (``crm.tasks``). Each run claims the due
reminders under row locks (``SKIP LOCKED`` on PostgreSQL: concurrent runs share the work
instead of waiting) and a conditional update (``reminded_at IS NULL``: on SQLite, which has
no row locks, the second writer finds the row already claimed). Claiming, the notification
and an outbox event commit together.

The email goes through the outbox (``events.publish`` → subscriber ``email_reminder``) rather
than ``transaction.on_commit``: an on-commit callback is lost when the process dies after the
commit or the mail server is down, leaving a reminder marked sent that nobody received. The
outbox row survives; a failed send leaves the event FAILED and ``dispatch_pending_events``
(scheduled by the kernel) retries it. The subscriber's run is recorded once per event, so a
retry after success sends nothing twice (bar a crash between the SMTP answer and the commit).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from comptoir.crm.models import Activity
from comptoir.kernel import events, notifications
from comptoir.kernel.models import OutboxEvent
from comptoir.org.models import Company

EVENT = "crm.activity_reminder_due"
BATCH = 500


def _zone(company: Company) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(company.timezone or "Europe/Paris")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Europe/Paris")


def activity_url(activity: Activity) -> str:
    """Where a reminder leads: the opportunity when there is one, else the activity form."""
    if activity.opportunity_id is not None:
        return reverse("crm:opportunity", args=[activity.opportunity_id])
    return reverse("crm:activity_edit", args=[activity.pk])


def absolute(path: str) -> str:
    return getattr(settings, "COMPTOIR_BASE_URL", "http://localhost:8000").rstrip("/") + path


def _due_text(activity: Activity, company: Company) -> str:
    return formats.date_format(timezone.localtime(activity.due_at, _zone(company)), "SHORT_DATETIME_FORMAT")


def send_due_reminders(now: dt.datetime | None = None, limit: int = BATCH) -> int:
    """Send the reminders due at ``now`` that were not sent yet; returns how many this run sent."""
    now = now or timezone.now()
    with transaction.atomic():
        due = (
            Activity.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(done_at__isnull=True, reminded_at__isnull=True, remind_at__lte=now)
            .select_related("assignee", "company")
            .order_by("remind_at", "pk")[:limit]
        )
        sent = 0
        for activity in list(due):
            claimed = Activity.objects.filter(pk=activity.pk, reminded_at__isnull=True).update(reminded_at=now)
            if not claimed or activity.assignee is None or not activity.assignee.is_active:
                continue  # another run took it, or nobody to remind (still marked: sent once)
            with translation.override(activity.assignee.language):
                message = _("Reminder: “%(subject)s” is due %(due)s.") % {
                    "subject": activity.subject,
                    "due": _due_text(activity, activity.company),
                }
            notifications.notify(
                company_id=activity.company_id,
                user_ids=[activity.assignee.pk],
                message=message,
                url=activity_url(activity),
            )
            events.publish(
                EVENT,
                company_id=activity.company_id,
                payload={"activity_id": activity.pk, "user_id": activity.assignee.pk},
            )
            sent += 1
    return sent


def email_reminder(event: OutboxEvent) -> None:
    """Outbox subscriber: the reminder email, in the assignee's language."""
    activity = (
        Activity.objects.select_related("assignee", "company", "opportunity", "organization", "person")
        .filter(pk=event.payload["activity_id"])
        .first()
    )
    if activity is None or activity.assignee is None or activity.assignee_id != event.payload["user_id"]:
        return  # deleted or reassigned since: the new assignee gets their own reminder
    user = activity.assignee
    with translation.override(user.language):
        subject = _("Reminder: %(subject)s") % {"subject": activity.subject}
        lines = [
            _("%(kind)s “%(subject)s” is due %(due)s.")
            % {
                "kind": activity.get_kind_display(),
                "subject": activity.subject,
                "due": _due_text(activity, activity.company),
            }
        ]
        for label, linked in (
            (_("Opportunity"), activity.opportunity),
            (_("Organization"), activity.organization),
            (_("Person"), activity.person),
        ):
            if linked is not None:
                lines.append(f"{label}: {linked}")
        if activity.notes:
            lines += ["", activity.notes]
        lines += ["", _("Open it: %(url)s") % {"url": absolute(activity_url(activity))}]
    EmailMessage(subject=subject, body="\n".join(lines), to=[user.email]).send()

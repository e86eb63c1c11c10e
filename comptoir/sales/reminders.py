"""Quote reminders: the salesperson hears of a sent quote about to lapse without an answer.

``send_quote_reminders`` runs hourly (registered below in ``kernel.schedule``). It first
flips the quotes whose validity date has passed to ``expired`` (``quotes.expire_all_quotes``),
then picks the quotes still ``sent`` whose ``valid_until`` falls within
``SALES_QUOTE_REMINDER_DAYS`` days (default 3) and that were never reminded: each gets an
in-app notification for its salesperson and an outbox event whose subscriber emails them.
A quote is reminded once: ``reminder_sent_at`` is claimed with a conditional update under
row locks (``SKIP LOCKED`` on PostgreSQL), as ``crm.reminders`` does, so two runs at once
share the work and never remind twice. The email goes through the outbox so that a mail
server that is down delays it instead of losing it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.tasks import task
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from comptoir.kernel import audit, events, notifications, schedule
from comptoir.kernel.context import Actor, Channel, channel
from comptoir.kernel.models import OutboxEvent
from comptoir.sales.models_quotes import Quote, QuoteState

EVENT = "sales.quote_reminder_due"
DEFAULT_DAYS = 3
BATCH = 500


def reminder_days() -> int:
    return max(0, int(getattr(settings, "SALES_QUOTE_REMINDER_DAYS", DEFAULT_DAYS)))


def absolute(path: str) -> str:
    return getattr(settings, "COMPTOIR_BASE_URL", "http://localhost:8000").rstrip("/") + path


def quote_path(quote_id: int) -> str:
    """The quote's page in the app (the quote pages are the quote services' own)."""
    for name in ("sales:quote", "sales:quote_detail"):
        try:
            return reverse(name, args=[quote_id])
        except NoReverseMatch:
            continue
    return reverse("sales:quote_pdf", args=[quote_id])


def _expire(today: dt.date) -> int:
    from comptoir.sales import quotes as quote_services

    return quote_services.expire_all_quotes(today)


def send_quote_reminders(now: dt.datetime | None = None, *, days: int | None = None, limit: int = BATCH) -> int:
    """Expire lapsed quotes, then remind the salespeople of quotes nearing their date; returns how many."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    _expire(today)
    horizon = today + dt.timedelta(days=reminder_days() if days is None else days)
    sent = 0
    with transaction.atomic():
        due = (
            Quote.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                state=QuoteState.SENT, reminder_sent_at__isnull=True, valid_until__gte=today, valid_until__lte=horizon
            )
            .select_related("owner", "organization")
            .order_by("valid_until", "pk")[:limit]
        )
        for quote in list(due):
            claimed = Quote.objects.filter(pk=quote.pk, reminder_sent_at__isnull=True, state=QuoteState.SENT).update(
                reminder_sent_at=now
            )
            if not claimed:
                continue  # another run took it
            owner = quote.owner
            audit.record(Actor.system(quote.company_id, channel=Channel.TASK), "quote.reminder", quote,
                         changes={"valid_until": [None, quote.valid_until.isoformat()],
                                  "owner": [None, owner.email if owner else None]})  # fmt: skip
            if owner is None or not owner.is_active:
                continue  # nobody to remind: still marked, once is once
            with translation.override(owner.language):
                message = _("Quote %(number)s for %(customer)s expires on %(date)s without an answer.") % {
                    "number": quote.number,
                    "customer": quote.organization,
                    "date": formats.date_format(quote.valid_until, "SHORT_DATE_FORMAT"),
                }
            notifications.notify(
                company_id=quote.company_id, user_ids=[owner.pk], message=message, url=quote_path(quote.pk)
            )
            events.publish(EVENT, company_id=quote.company_id, payload={"quote_id": quote.pk, "user_id": owner.pk})
            sent += 1
    return sent


def email_reminder(event: OutboxEvent) -> None:
    """Outbox subscriber: the reminder email to the salesperson, in their language."""
    quote = (
        Quote.objects.select_related("owner", "organization", "contact").filter(pk=event.payload["quote_id"]).first()
    )
    if quote is None or quote.owner is None or quote.owner_id != event.payload["user_id"]:
        return  # deleted or handed to someone else since
    if quote.state != QuoteState.SENT:
        return  # answered (or cancelled) between the reminder and its email
    user = quote.owner
    with translation.override(user.language):
        date = formats.date_format(quote.valid_until, "SHORT_DATE_FORMAT")
        subject = _("Quote %(number)s expires on %(date)s") % {"number": quote.number, "date": date}
        lines = [
            _("Quote %(number)s for %(customer)s expires on %(date)s and the customer has not answered yet.")
            % {"number": quote.number, "customer": quote.organization, "date": date},
            _("Total incl. VAT: %(amount)s %(currency)s")
            % {"amount": formats.number_format(quote.total_amount, 2, use_l10n=True), "currency": quote.currency},
        ]
        if quote.contact is not None:
            lines.append(_("Contact: %(name)s") % {"name": quote.contact})
        lines += ["", _("Open it: %(url)s") % {"url": absolute(quote_path(quote.pk))}]
    EmailMessage(subject=subject, body="\n".join(lines), to=[user.email]).send()


@task()
def send_quote_reminders_task() -> int:
    with channel(Channel.TASK):
        return send_quote_reminders()


def register() -> None:
    """Called from the sales app's ``ready()``: the periodic task and the email subscriber."""
    schedule.register("sales.send_quote_reminders", send_quote_reminders_task, every=dt.timedelta(hours=1))
    events.subscribe(EVENT, email_reminder, key="sales.reminders.email")

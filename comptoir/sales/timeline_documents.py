"""What sending and online acceptance add to the 360° timeline: each version sent, and each
acceptance recorded (who accepted, which version, online or by the salesperson).

The quotes themselves are the ``quotes`` source (``sales.timeline``); these two sources add
the events of their life. One query per source and page, starting from
``quotes.visible_quotes`` (the record rule of the quote pages and the API).
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from comptoir.contacts.timeline import ORGANIZATION, PERSON, Before, Subject, TimelineEntry, TimelineRegistry
from comptoir.kernel.context import Actor
from comptoir.sales.models_quotes import AcceptanceVia, QuoteVersion

MODULE = "sales"


def _quote_filter(subject: Subject, prefix: str = "") -> dict[str, int] | None:
    if subject.kind == ORGANIZATION:
        return {f"{prefix}organization_id": subject.id}
    if subject.kind == PERSON:
        return {f"{prefix}contact_id": subject.id}
    return None


def fetch_sent(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    """Each version of the subject's quotes, when it was sent."""
    from comptoir.sales.quotes import can_view, visible_quotes

    where = _quote_filter(subject)
    if where is None or not can_view(actor):
        return []
    rows = QuoteVersion.objects.filter(sent_at__isnull=False, quote__in=visible_quotes(actor).filter(**where))
    if before is not None:
        rows = rows.filter(before.q("sent_at"))
    entries = []
    for row in rows.order_by("-sent_at", "-pk").values("pk", "version", "sent_at", "quote_id", "quote__number")[:limit]:
        entries.append(
            TimelineEntry(
                at=row["sent_at"],
                kind="quote_sent",
                title=_("Quote %(number)s v%(version)s sent")
                % {"number": row["quote__number"], "version": row["version"]},
                url=reverse("sales:quote", args=[row["quote_id"]]),
                key=row["pk"],
            )
        )
    return entries


def fetch_accepted(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    """Each acceptance: by whom, which version, online or recorded by the salesperson."""
    from comptoir.sales.quotes import can_view, visible_quotes

    where = _quote_filter(subject)
    if where is None or not can_view(actor):
        return []
    rows = visible_quotes(actor).filter(accepted_at__isnull=False, **where)
    if before is not None:
        rows = rows.filter(before.q("accepted_at"))
    entries = []
    for row in rows.order_by("-accepted_at", "-pk").values(
        "pk", "number", "accepted_at", "accepted_by_name", "accepted_version", "acceptance_via"
    )[:limit]:
        online = row["acceptance_via"] == AcceptanceVia.ONLINE
        entries.append(
            TimelineEntry(
                at=row["accepted_at"],
                kind="quote_accepted",
                title=_("Quote %(number)s v%(version)s accepted")
                % {"number": row["number"], "version": row["accepted_version"]},
                body=(_("Online, by %(name)s") if online else _("Recorded by the salesperson (%(name)s)"))
                % {"name": row["accepted_by_name"] or "—"},
                url=reverse("sales:quote", args=[row["pk"]]),
                badge=str(_("Accepted")),
                key=row["pk"],
            )
        )
    return entries


def register(target: TimelineRegistry) -> None:
    target.register_source("quote_sent", gettext_lazy("Quotes sent"), fetch_sent, module=MODULE)
    target.register_source("quote_accepted", gettext_lazy("Quotes accepted"), fetch_accepted, module=MODULE)

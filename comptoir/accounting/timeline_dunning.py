"""Dunning notices on the customer's 360° timeline (the customer's reminder history).

Shown to whoever sees the customer's invoices (a salesperson sees their customers' reminders).
"""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from django.utils.translation import gettext_lazy

from comptoir.accounting.invoices import MANAGE, VIEW
from comptoir.accounting.models import DunningNotice
from comptoir.accounting.timeline import MODULE, _money
from comptoir.contacts.timeline import ORGANIZATION, Before, Subject, TimelineEntry, TimelineRegistry
from comptoir.kernel.context import Actor


def fetch_notices(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    if subject.kind != ORGANIZATION or not (actor.has_perm(VIEW) or actor.has_perm(MANAGE)):
        return []
    rows = DunningNotice.objects.filter(company_id=actor.company_id, organization_id=subject.id)
    if before is not None:
        rows = rows.filter(before.q("created_at"))
    url = reverse("accounting:dunning") if actor.has_perm(MANAGE) else ""
    return [
        TimelineEntry(
            at=row["created_at"], kind="dunning", key=row["pk"], url=url,
            title=gettext_lazy("Payment reminder: %(level)s") % {"level": row["level__name"]},
            body=_money(Decimal(row["total_due"])), actor=row["created_by__full_name"] or "",
        )
        for row in rows.order_by("-created_at", "-pk").values(
            "pk", "created_at", "level__name", "total_due", "created_by__full_name"
        )[:limit]
    ]  # fmt: skip


def register(target: TimelineRegistry) -> None:
    target.register_source("dunning", gettext_lazy("Payment reminders"), fetch_notices, module=MODULE)

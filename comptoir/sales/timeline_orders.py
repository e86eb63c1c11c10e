"""Sales orders on the customer's 360° timeline (``contacts.timeline`` registry).

One entry per confirmed order, at its confirmation, newest first; the reads start from
``order_selectors.visible_orders`` (the actor's record rule).
"""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from comptoir.contacts.timeline import ORGANIZATION, Before, Subject, TimelineEntry, TimelineRegistry
from comptoir.kernel.context import Actor
from comptoir.sales.models_orders import OrderState
from comptoir.sales.order_selectors import visible_orders

SOURCE = "sales_orders"


def fetch_orders(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    if subject.kind != ORGANIZATION:
        return []
    rows = visible_orders(actor).filter(organization_id=subject.id, confirmed_at__isnull=False)
    if before is not None:
        rows = rows.filter(before.q("confirmed_at"))
    states = dict(OrderState.choices)
    entries = []
    for row in rows.order_by("-confirmed_at", "-pk").values(
        "pk", "number", "state", "total_amount", "currency", "confirmed_at", "owner__full_name"
    )[:limit]:
        amount = formats.number_format(Decimal(row["total_amount"]), 2, use_l10n=True, force_grouping=True)
        entries.append(TimelineEntry(
            at=row["confirmed_at"] or timezone.now(), kind="sales_order",
            title=str(_("Sales order %(number)s confirmed") % {"number": row["number"]}),
            url=reverse("sales:order", args=[row["pk"]]), body=f"{amount} {row['currency']}",
            actor=row["owner__full_name"] or "", badge=str(states.get(row["state"], row["state"])), key=row["pk"],
        ))  # fmt: skip
    return entries


def register(registry: TimelineRegistry) -> None:
    registry.register_source(SOURCE, _("Sales orders"), fetch_orders, module="sales")

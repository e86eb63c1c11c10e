"""Payments on an organization's 360° timeline (received and sent, cancelled ones badged).

Registered from ``AccountingConfig.ready`` next to the invoices' source. Only actors who may
view payments see them.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import BigIntegerField, Sum
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext_lazy, pgettext

from comptoir.accounting.models_payments import Payment, PaymentDirection, PaymentState
from comptoir.accounting.payments import VIEW
from comptoir.contacts.timeline import ORGANIZATION, Before, KeyFigure, Subject, TimelineEntry, TimelineRegistry
from comptoir.kernel.context import Actor


def fetch_payments(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    """The organization's payments, at the time they were recorded."""
    if subject.kind != ORGANIZATION or not actor.has_perm(VIEW):
        return []
    rows = Payment.objects.filter(company_id=actor.company_id, organization_id=subject.id)
    if before is not None:
        rows = rows.filter(before.q("created_at"))
    entries = []
    for row in rows.order_by("-created_at", "-pk").values(
        "pk", "created_at", "direction", "state", "amount", "currency", "method", "reference",
        "created_by__full_name", "journal_entry__number",
    )[:limit]:  # fmt: skip
        received = row["direction"] == PaymentDirection.INBOUND
        amount = f"{formats.number_format(row['amount'], 2, use_l10n=True, force_grouping=True)} {row['currency']}"
        title = gettext_lazy("Payment received: %(amount)s") if received else gettext_lazy("Payment sent: %(amount)s")
        entries.append(
            TimelineEntry(
                at=row["created_at"],
                kind="payment",
                title=str(title % {"amount": amount}),
                url=reverse("accounting:payment", args=[row["pk"]]),
                body=" — ".join(part for part in (row["journal_entry__number"] or "", row["reference"]) if part),
                actor=row["created_by__full_name"] or "",
                badge=pgettext("payment state", "Cancelled") if row["state"] == PaymentState.CANCELLED else "",
                key=row["pk"],
            )
        )
    return entries


def credit_figures(actor: Actor, subject: Subject) -> list[KeyFigure]:
    """The credit the organization's payments left (a customer's overpayment, usable later)."""
    if subject.kind != ORGANIZATION or not actor.has_perm(VIEW):
        return []
    cents = Payment.objects.filter(
        company_id=actor.company_id, organization_id=subject.id, state=PaymentState.POSTED,
        direction=PaymentDirection.INBOUND, unallocated__gt=0,
    ).aggregate(total=Sum("unallocated", output_field=BigIntegerField()))["total"]  # fmt: skip
    if not cents:
        return []
    credit = Decimal(int(cents)).scaleb(-2)
    return [
        KeyFigure(
            label=gettext_lazy("Customer credit"), code="customer_credit", tone="warning", raw=str(credit),
            value=f"{formats.number_format(credit, 2, use_l10n=True, force_grouping=True)} EUR",
            url=reverse("accounting:payments") + f"?organization={subject.id}&state=posted",
        )
    ]  # fmt: skip


def register(target: TimelineRegistry) -> None:
    target.register_source("payments", gettext_lazy("Payments"), fetch_payments, module="accounting")
    target.register_figures("payments", credit_figures, module="accounting")

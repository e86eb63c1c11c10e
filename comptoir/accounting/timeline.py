"""What accounting adds to an organization's 360° page: its invoices and credit notes, and
key figures (outstanding receivable, overdue amount, invoiced this year).

Plugged into ``contacts.timeline.registry`` from ``AccountingConfig.ready``. Every read
starts from ``invoice_selectors.visible_invoices``: a salesperson sees the customer
invoices of the organizations they see, finance every invoice and bill.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, Q, Sum
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy

from comptoir.accounting.invoice_selectors import overdue_q, visible_invoices
from comptoir.accounting.invoices import CUSTOMER_KINDS, MANAGE, VIEW
from comptoir.accounting.models import InvoiceKind, InvoiceState
from comptoir.contacts.timeline import ORGANIZATION, Before, KeyFigure, Subject, TimelineEntry, TimelineRegistry
from comptoir.kernel.context import Actor

MODULE = "accounting"


def _money(value: Decimal, currency: str = "EUR") -> str:
    return f"{formats.number_format(value, 2, use_l10n=True, force_grouping=True)} {currency}"


def fetch_invoices(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    """Posted invoices, credit notes and bills of the organization, at the time they were posted."""
    if subject.kind != ORGANIZATION:
        return []
    rows = visible_invoices(actor).filter(organization_id=subject.id, posted_at__isnull=False)
    if before is not None:
        rows = rows.filter(before.q("posted_at"))
    kinds = dict(InvoiceKind.choices)
    states = dict(InvoiceState.choices)
    entries = []
    for row in rows.order_by("-posted_at", "-pk").values(
        "pk", "kind", "number", "state", "total_amount", "currency", "posted_at", "posted_by__full_name",
        "supplier_reference",
    )[:limit]:  # fmt: skip
        title = f"{kinds.get(row['kind'], row['kind'])} {row['number']}"
        if row["supplier_reference"]:
            title += f" ({row['supplier_reference']})"
        entries.append(
            TimelineEntry(
                at=row["posted_at"] or timezone.now(),
                kind=row["kind"],
                title=title,
                url=reverse("accounting:invoice", args=[row["pk"]]),
                body=_money(Decimal(row["total_amount"]), row["currency"]),
                actor=row["posted_by__full_name"] or "",
                badge=str(states.get(row["state"], row["state"])),
                key=row["pk"],
            )
        )
    return entries


def _cents(raw: Any) -> Decimal:
    return Decimal(int(raw or 0)).scaleb(-2)


def compute_figures(actor: Actor, subject: Subject) -> list[KeyFigure]:
    """Outstanding receivable, overdue amount and invoiced this year: one SQL query."""
    if subject.kind != ORGANIZATION or not (actor.has_perm(VIEW) or actor.has_perm(MANAGE)):
        return []
    rows = visible_invoices(actor).filter(organization_id=subject.id, kind__in=CUSTOMER_KINDS)
    today = timezone.localdate()
    is_open = Q(state__in=[InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID])
    invoice = Q(kind=InvoiceKind.CUSTOMER_INVOICE)
    credit = Q(kind=InvoiceKind.CUSTOMER_CREDIT_NOTE)
    this_year = Q(posted_at__isnull=False, issue_date__gte=dt.date(today.year, 1, 1))
    # Amounts are integer cents (MoneyField): the sums are exact on both databases.
    figures = rows.order_by().aggregate(
        open_invoices=Sum("residual_amount", filter=is_open & invoice, output_field=BigIntegerField()),
        open_credits=Sum("residual_amount", filter=is_open & credit, output_field=BigIntegerField()),
        overdue=Sum("residual_amount", filter=overdue_q(today) & invoice, output_field=BigIntegerField()),
        invoiced=Sum("untaxed_amount", filter=this_year & invoice, output_field=BigIntegerField()),
        credited=Sum("untaxed_amount", filter=this_year & credit, output_field=BigIntegerField()),
    )
    outstanding = _cents(figures["open_invoices"]) - _cents(figures["open_credits"])
    overdue = _cents(figures["overdue"])
    invoiced = _cents(figures["invoiced"]) - _cents(figures["credited"])
    url = reverse("accounting:invoices") + f"?organization_id={subject.id}"
    return [
        KeyFigure(gettext_lazy("Outstanding receivable"), _money(outstanding), url=url + "&state=open",
                  code="receivable", raw=str(outstanding)),
        KeyFigure(gettext_lazy("Overdue"), _money(overdue), url=url + "&overdue=1", code="overdue_amount",
                  tone="danger" if overdue else "", raw=str(overdue)),
        KeyFigure(gettext_lazy("Invoiced this year (excl. VAT)"), _money(invoiced), url=url, code="invoiced_year",
                  tone="success" if invoiced else "", raw=str(invoiced)),
    ]  # fmt: skip


def register(target: TimelineRegistry) -> None:
    target.register_source("invoices", gettext_lazy("Invoices"), fetch_invoices, module=MODULE)
    target.register_figures("accounting", compute_figures, module=MODULE)

"""What quotes add to an organization's (or a person's) 360° page: each quote, at the time it
was made, with its state, and a key figure (open quotes and their amount).

Plugged into ``contacts.timeline.registry`` from ``SalesConfig.ready``. Every read starts
from ``quotes.visible_quotes``: the same record rule as the quote pages and the API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, Count, Q, Sum
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext_lazy

from comptoir.contacts.timeline import ORGANIZATION, PERSON, Before, KeyFigure, Subject, TimelineEntry, TimelineRegistry
from comptoir.kernel.context import Actor
from comptoir.sales.models_quotes import QuoteState
from comptoir.sales.quotes import can_view, visible_quotes

MODULE = "sales"


def _money(value: Decimal, currency: str = "EUR") -> str:
    return f"{formats.number_format(value, 2, use_l10n=True, force_grouping=True)} {currency}"


def _subject_q(subject: Subject) -> Q | None:
    if subject.kind == ORGANIZATION:
        return Q(organization_id=subject.id)
    if subject.kind == PERSON:
        return Q(contact_id=subject.id)
    return None


def fetch_quotes(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    """The quotes of the organization (or addressed to the person), newest first."""
    rule = _subject_q(subject)
    if rule is None or not can_view(actor):
        return []
    rows = visible_quotes(actor).filter(rule)
    if before is not None:
        rows = rows.filter(before.q("created_at"))
    states = dict(QuoteState.choices)
    entries = []
    for row in rows.order_by("-created_at", "-pk").values(
        "pk", "number", "version", "title", "state", "total_amount", "currency", "created_at", "owner__full_name",
    )[:limit]:  # fmt: skip
        title = str(gettext_lazy("Quote %(number)s") % {"number": row["number"]})
        if row["version"] > 1:
            title += f" v{row['version']}"
        body = _money(Decimal(row["total_amount"]), row["currency"])
        if row["title"]:
            body = f"{row['title']} — {body}"
        entries.append(
            TimelineEntry(
                at=row["created_at"], kind="quote", title=title, url=reverse("sales:quote", args=[row["pk"]]),
                body=body, actor=row["owner__full_name"] or "", badge=str(states.get(row["state"], row["state"])),
                key=row["pk"],
            )
        )  # fmt: skip
    return entries


def _cents(raw: Any) -> Decimal:
    return Decimal(int(raw or 0)).scaleb(-2)


def compute_figures(actor: Actor, subject: Subject) -> list[KeyFigure]:
    """Open quotes (draft or sent) of the organization and their amount excl. VAT: one query."""
    if subject.kind != ORGANIZATION or not can_view(actor):
        return []
    figures = (
        visible_quotes(actor).filter(organization_id=subject.id, state__in=[QuoteState.DRAFT, QuoteState.SENT])
        .order_by().aggregate(count=Count("pk"), amount=Sum("untaxed_amount", output_field=BigIntegerField()))
    )  # fmt: skip
    amount = _cents(figures["amount"])
    url = reverse("sales:quotes") + f"?organization_id={subject.id}&state=open"
    value = f"{figures['count']} · {_money(amount)}"
    return [KeyFigure(gettext_lazy("Open quotes (excl. VAT)"), value, url=url, code="open_quotes", raw=str(amount))]


def register(target: TimelineRegistry) -> None:
    target.register_source("quotes", gettext_lazy("Quotes"), fetch_quotes, module=MODULE)
    target.register_figures("sales_quotes", compute_figures, module=MODULE)

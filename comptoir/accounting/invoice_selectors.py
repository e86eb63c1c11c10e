"""Reads of invoices. The record rule lives here once: pages, API, exports and the 360° timeline start from it.

Finance (``manage_invoices``) and whoever holds ``view_all_invoices`` see every invoice and
bill of the company. Anyone else with ``view_invoices`` (a salesperson) sees the customer
invoices and credit notes of the organizations the contacts record rules let them see,
and no vendor bill.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.accounting.invoices import CUSTOMER_KINDS, MANAGE, OPEN_STATES, VIEW, VIEW_ALL
from comptoir.accounting.models import Invoice, InvoiceKind, InvoiceState, PaymentTerm
from comptoir.contacts.selectors import visible_organizations
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed

LIST_FIELDS = (
    "id", "kind", "state", "number", "supplier_reference", "organization_id", "partner_name", "issue_date",
    "due_date", "currency", "untaxed_amount", "tax_amount", "total_amount", "residual_amount", "created_at",
    "journal_entry_id",
)  # fmt: skip
SORTS = {
    "date": ("issue_date", "id"), "-date": ("-issue_date", "-id"), "number": ("number", "id"),
    "-number": ("-number", "-id"), "due": ("due_date", "id"), "-due": ("-due_date", "-id"),
    "total": ("total_amount", "id"), "-total": ("-total_amount", "-id"),
}  # fmt: skip


def sees_all(actor: Actor) -> bool:
    return actor.has_perm(VIEW_ALL) or actor.has_perm(MANAGE)


def require_view(actor: Actor) -> None:
    """403 for whoever may see no invoice at all (pages, API and exports answer alike)."""
    if not (actor.has_perm(VIEW) or actor.has_perm(MANAGE)):
        raise PermissionDenied("permission_denied")


def visible_invoices(actor: Actor) -> QuerySet[Invoice]:
    if actor.company_id is None or not (actor.has_perm(VIEW) or actor.has_perm(MANAGE)):
        return Invoice.objects.none()
    rows = Invoice.objects.filter(company_id=actor.company_id)
    if sees_all(actor):
        return rows
    return rows.filter(kind__in=CUSTOMER_KINDS, organization_id__in=visible_organizations(actor).values("pk"))


def overdue_q(today: dt.date | None = None) -> Q:
    return Q(state__in=[InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID],
             due_date__lt=today or timezone.localdate())  # fmt: skip


def invoice_list(actor: Actor, filters: Mapping[str, Any] | None = None, sort: str | None = None) -> QuerySet[Invoice]:
    """Invoices the actor sees, filtered: kind, state, organization_id, date_from, date_to, overdue, q."""
    require_view(actor)
    filters = filters or {}
    errors: dict[str, list[str]] = {}
    rows = visible_invoices(actor)
    kind = filters.get("kind")
    if kind:
        if kind == "customer":
            rows = rows.filter(kind__in=CUSTOMER_KINDS)
        elif kind == "vendor":
            rows = rows.exclude(kind__in=CUSTOMER_KINDS)
        elif kind in InvoiceKind.values:
            rows = rows.filter(kind=kind)
        else:
            errors["kind"] = [_("Unknown kind.")]
    state = filters.get("state")
    if state:
        if state == "open":
            rows = rows.filter(state__in=[InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID])
        elif state in InvoiceState.values:
            rows = rows.filter(state=state)
        else:
            errors["state"] = [_("Unknown state.")]
    organization = filters.get("organization_id")
    if organization not in (None, ""):
        try:
            number = int(organization)
        except (TypeError, ValueError):
            errors["organization_id"] = [_("Choose a valid value.")]
        else:
            rows = rows.filter(organization_id=number) if 0 < number < 2**63 else rows.none()
    for name, lookup in (("date_from", "issue_date__gte"), ("date_to", "issue_date__lte")):
        value = filters.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, dt.date):
            rows = rows.filter(**{lookup: value})
            continue
        try:
            rows = rows.filter(**{lookup: dt.date.fromisoformat(str(value))})
        except ValueError:
            errors[name] = [_("Enter a valid date (YYYY-MM-DD).")]
    if filters.get("overdue") in (True, "1", "true", "on"):
        rows = rows.filter(overdue_q())
    q = str(filters.get("q") or "").strip()[:100]
    if q:
        rows = rows.filter(Q(number__icontains=q) | Q(partner_name__icontains=q) | Q(supplier_reference__icontains=q))
    if errors:
        raise ValidationFailed(fields=errors)
    return rows.order_by(*SORTS.get(sort or "", SORTS["-date"]))


def invoice_get(actor: Actor, invoice_id: int) -> Invoice:
    require_view(actor)
    if not isinstance(invoice_id, int) or not 0 < invoice_id < 2**63:
        raise NotFound("invoice_not_found")
    invoice = (
        visible_invoices(actor)
        .select_related("journal_entry", "origin", "payment_term", "partner_account", "site")
        .filter(pk=invoice_id)
        .first()
    )
    if invoice is None:
        raise NotFound("invoice_not_found")
    return invoice


def invoice_detail(actor: Actor, invoice_id: int) -> Invoice:
    """One invoice with its lines, VAT breakdown, schedule and credit notes."""
    invoice = invoice_get(actor, invoice_id)
    invoice.line_rows = list(invoice.lines.select_related("product", "account").order_by("sequence", "id"))  # type: ignore[attr-defined]
    invoice.tax_rows = list(invoice.taxes.order_by("id"))  # type: ignore[attr-defined]
    invoice.installment_rows = list(invoice.installments.order_by("sequence", "id"))  # type: ignore[attr-defined]
    invoice.credit_note_rows = list(  # type: ignore[attr-defined]
        visible_invoices(actor)
        .filter(origin_id=invoice.pk)
        .order_by("id")
        .values("id", "number", "state", "total_amount")
    )
    invoice.file_rows = list(invoice.files.values("id", "role", "filename", "size", "sha256"))  # type: ignore[attr-defined]
    return invoice


def invoice_for_entry(actor: Actor, entry_id: int) -> dict[str, Any] | None:
    """The invoice a journal entry was booked from, when the actor may see it (entry page link back)."""
    found = visible_invoices(actor).filter(journal_entry_id=entry_id).values("id", "number", "kind").first()
    return dict(found) if found else None


def payment_terms(actor: Actor) -> QuerySet[PaymentTerm]:
    if actor.company_id is None or not (actor.has_perm(VIEW) or actor.has_perm(MANAGE)):
        return PaymentTerm.objects.none()
    return PaymentTerm.objects.filter(company_id=actor.company_id).prefetch_related("lines").order_by("name", "id")


def open_states() -> tuple[str, ...]:
    return tuple(OPEN_STATES)

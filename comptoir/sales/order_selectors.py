"""Reads of sales orders. The record rule lives here once: pages, API, exports, the timeline.

``sales.view_all`` (finance, operations, management) sees every order of the company; a
salesperson (``sales.view_orders``) sees the orders of the customers the contacts record
rules show them. Whoever lacks ``sales.view_orders`` sees none (403 on the pages).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from comptoir.contacts.selectors import visible_organizations
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.sales.models_orders import (
    InvoicingMilestone,
    InvoicingPolicy,
    OrderInvoice,
    OrderState,
    SalesOrder,
    SalesOrderLine,
)
from comptoir.sales.orders import MANAGE, VIEW, VIEW_ALL

SORTS = {
    "number": ("number", "id"), "-number": ("-number", "-id"), "date": ("order_date", "id"),
    "-date": ("-order_date", "-id"), "total": ("total_amount", "id"), "-total": ("-total_amount", "-id"),
    "created": ("id",), "-created": ("-id",),
}  # fmt: skip
SCOPES = ("mine", "all")


def require_view(actor: Actor) -> None:
    if not actor.has_perm(VIEW):
        raise PermissionDenied("permission_denied")


def visible_orders(actor: Actor) -> QuerySet[SalesOrder]:
    if actor.company_id is None or not actor.has_perm(VIEW):
        return SalesOrder.objects.none()
    rows = SalesOrder.objects.filter(company_id=actor.company_id)
    if actor.has_perm(VIEW_ALL):
        return rows
    return rows.filter(organization_id__in=visible_organizations(actor).values("pk"))


def order_list(actor: Actor, filters: Mapping[str, Any] | None = None, sort: str | None = None) -> QuerySet[SalesOrder]:
    """Orders the actor sees: state, policy, organization_id, scope (mine/all), date_from, date_to, q."""
    require_view(actor)
    filters = filters or {}
    errors: dict[str, list[str]] = {}
    rows = visible_orders(actor)
    state = filters.get("state")
    if state:
        if state in OrderState.values:
            rows = rows.filter(state=state)
        else:
            errors["state"] = [_("Unknown state.")]
    policy = filters.get("invoicing_policy")
    if policy:
        if policy in InvoicingPolicy.values:
            rows = rows.filter(invoicing_policy=policy)
        else:
            errors["invoicing_policy"] = [_("Unknown invoicing policy.")]
    scope = filters.get("scope") or "all"
    if scope not in SCOPES:
        errors["scope"] = [_("Unknown scope.")]
    elif scope == "mine":
        rows = rows.filter(owner_id=actor.user_id)
    organization = filters.get("organization_id")
    if organization not in (None, ""):
        try:
            number = int(organization)
        except (TypeError, ValueError):
            errors["organization_id"] = [_("Choose a valid value.")]
        else:
            rows = rows.filter(organization_id=number) if 0 < number < 2**63 else rows.none()
    for name, lookup in (("date_from", "order_date__gte"), ("date_to", "order_date__lte")):
        value = filters.get(name)
        if value in (None, ""):
            continue
        try:
            rows = rows.filter(**{lookup: value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))})
        except ValueError:
            errors[name] = [_("Enter a valid date (YYYY-MM-DD).")]
    q = str(filters.get("q") or "").strip()[:100]
    if q:
        rows = rows.filter(Q(number__icontains=q) | Q(organization__legal_name__icontains=q)
                           | Q(customer_reference__icontains=q))  # fmt: skip
    if sort not in (None, "") and sort not in SORTS:
        errors["sort"] = [_("Unknown sort.")]
    if errors:
        raise ValidationFailed(fields=errors)
    return rows.select_related("organization", "owner").order_by(*SORTS.get(sort or "", SORTS["-created"]))


def order_get(actor: Actor, order_id: Any) -> SalesOrder:
    """One order with its lines, plan and invoice links (one query each)."""
    require_view(actor)
    if not isinstance(order_id, int) or isinstance(order_id, bool) or not 0 < order_id < 2**63:
        raise NotFound("order_not_found")
    lines = SalesOrderLine.objects.select_related("uom", "product").order_by("position", "id")
    plan = InvoicingMilestone.objects.select_related("invoice").order_by("position", "id")
    order = (
        visible_orders(actor)
        .select_related("organization", "contact", "opportunity", "owner", "payment_term", "quote", "site")
        .prefetch_related(
            Prefetch("lines", queryset=lines),
            Prefetch("milestones", queryset=plan),
            Prefetch("invoice_links", queryset=OrderInvoice.objects.select_related("invoice").order_by("id")),
        )
        .filter(pk=order_id)
        .first()
    )  # fmt: skip
    if order is None:
        raise NotFound("order_not_found")
    return order


def can_manage(actor: Actor) -> bool:
    return actor.has_perm(MANAGE)


def order_for_quote(actor: Actor, quote_id: int) -> SalesOrder | None:
    """The order made from a quote, if the actor sees it."""
    return visible_orders(actor).filter(quote_id=quote_id).first()


def order_history(actor: Actor, order: SalesOrder, limit: int = 50) -> list[Any]:
    """The order's audit entries, newest first (who did what; the order is already visible)."""
    from comptoir.kernel.models import AuditEntry

    return list(
        AuditEntry.objects.filter(company_id=actor.company_id, object_type="sales.salesorder", object_id=str(order.pk))
        .only("at", "actor_label", "action", "channel")
        .order_by("-at", "-id")[:limit]
    )

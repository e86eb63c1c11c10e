"""Sales order pages: list (filters, scope, export), detail (lines ordered/delivered/invoiced,
invoicing plan, linked invoices, history), order from an accepted quote, confirm, cancel,
invoice, record a delivery. Views parse, call one service or selector, render.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.kernel import modules
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.exports import export_response
from comptoir.kernel.pagination import paginate
from comptoir.sales import deliveries, invoicing, orders
from comptoir.sales import order_selectors as selectors
from comptoir.sales.forms_orders import CancelOrderForm, DeliveryForm, InvoiceOrderForm
from comptoir.sales.models_orders import InvoicingPolicy, OrderState


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def orders_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, sales on for the company (404 otherwise), orders visible (403)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        actor = _actor(request)
        if not modules.is_enabled(actor.company_id, "sales"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        selectors.require_view(actor)
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    return query.urlencode()


FILTER_NAMES = ("state", "invoicing_policy", "scope", "organization_id", "date_from", "date_to", "q")
SORT_CHOICES = [("-created", _("Newest first")), ("-number", _("Number")), ("-date", _("Order date")),
                ("-total", _("Largest amount"))]  # fmt: skip
EXPORT_COLUMNS: list[tuple[Any, Any]] = [
    (_("Number"), "number"), (_("State"), lambda r: r.get_state_display()),
    (_("Customer"), lambda r: r.organization.legal_name), (_("Order date"), "order_date"),
    (_("Commitment date"), "commitment_date"), (_("Invoicing"), lambda r: r.get_invoicing_policy_display()),
    (_("Total excl. VAT"), "untaxed_amount"), (_("VAT"), "tax_amount"), (_("Total incl. VAT"), "total_amount"),
    (_("Invoiced excl. VAT"), "invoiced_amount"), (_("Currency"), "currency"),
    (_("Salesperson"), lambda r: r.owner.full_name if r.owner else ""),
]  # fmt: skip


@orders_page
@require_GET
def order_list(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    filters = {name: request.GET.get(name, "") for name in FILTER_NAMES}
    sort = request.GET.get("sort") or "-created"
    rows = selectors.order_list(actor, filters, sort)
    fmt = request.GET.get("format")
    if fmt:
        return export_response(rows.iterator(chunk_size=2000), EXPORT_COLUMNS, "sales-orders", fmt)
    page = paginate(rows, _int(request.GET.get("page")) or 1)
    context = {
        "page": page, "filters": filters, "sort": sort, "query": _query_without_page(request),
        "states": OrderState.choices, "policies": InvoicingPolicy.choices, "sort_choices": SORT_CHOICES,
    }  # fmt: skip
    return render(request, "sales/orders/list.html", context)


def _detail_context(request: HttpRequest, order_id: int, **extra: Any) -> dict[str, Any]:
    actor = _actor(request)
    order = selectors.order_get(actor, order_id)
    can_manage = selectors.can_manage(actor)
    can_invoice = can_manage and actor.has_perm("accounting.manage_invoices") and order.state == OrderState.CONFIRMED
    lines = list(order.lines.all())
    return {
        "order": order, "lines": lines, "milestones": list(order.milestones.all()),
        "links": list(order.invoice_links.all()), "history": selectors.order_history(actor, order),
        "can_manage": can_manage, "can_invoice": can_invoice,
        "can_deliver": can_manage and order.state == OrderState.CONFIRMED
        and any(invoicing.is_goods(line) for line in lines),
        "actions": [t for t in orders.ORDER.actions_from(order.state, actor)],
        "invoice_form": extra.pop("invoice_form", None) or InvoiceOrderForm(),
        "cancel_form": CancelOrderForm(), "can_view_invoices": actor.has_perm("accounting.view_invoices")
        or actor.has_perm("accounting.manage_invoices"),
    } | extra  # fmt: skip


@orders_page
@require_GET
def order_detail(request: HttpRequest, order_id: int) -> HttpResponseBase:
    return render(request, "sales/orders/detail.html", _detail_context(request, order_id))


@orders_page
@require_http_methods(["GET", "POST"])
def order_from_quote(request: HttpRequest, quote_id: int) -> HttpResponseBase:
    """GET: what will happen; POST: the confirmed order of the accepted quote."""
    actor = _actor(request)
    existing = selectors.order_for_quote(actor, quote_id)
    if existing is not None:
        return redirect("sales:order", existing.pk)
    if request.method == "POST":
        if not selectors.can_manage(actor):
            raise PermissionDenied("permission_denied")
        policy = request.POST.get("invoicing_policy") or None
        try:
            reference = request.POST.get("customer_reference", "")
            order = orders.order_create_from_quote(actor=actor, quote_id=quote_id, invoicing_policy=policy,
                                                   customer_reference=reference)  # fmt: skip
        except ValidationFailed as exc:
            return render(request, "sales/orders/from_quote.html",
                          {"quote_id": quote_id, "errors": exc.fields, "policies": InvoicingPolicy.choices},
                          status=422)  # fmt: skip
        messages.success(request, _("Order %(number)s confirmed.") % {"number": order.number})
        return redirect("sales:order", order.pk)
    return render(request, "sales/orders/from_quote.html", {"quote_id": quote_id, "policies": InvoicingPolicy.choices})


@orders_page
@require_POST
def order_confirm(request: HttpRequest, order_id: int) -> HttpResponseBase:
    order = orders.order_confirm(actor=_actor(request), order_id=order_id)
    messages.success(request, _("Order %(number)s confirmed.") % {"number": order.number})
    return redirect("sales:order", order.pk)


@orders_page
@require_POST
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponseBase:
    orders.order_cancel(actor=_actor(request), order_id=order_id, reason=request.POST.get("reason", ""))
    messages.success(request, _("Order cancelled."))
    return redirect("sales:order", order_id)


@orders_page
@require_POST
def order_invoice(request: HttpRequest, order_id: int) -> HttpResponseBase:
    form = InvoiceOrderForm(request.POST)
    form.is_valid()
    data = form.cleaned_data if form.is_valid() else {}
    try:
        invoice = invoicing.invoice_order(
            actor=_actor(request), order_id=order_id, mode=data.get("mode") or None,
            percent=data.get("percent") or None, amount=data.get("amount") or None, post=bool(data.get("post")),
        )  # fmt: skip
    except ValidationFailed as exc:
        for name, errors in exc.fields.items():
            form.add_error(name if name in form.fields else None, errors)
        return render(request, "sales/orders/detail.html", _detail_context(request, order_id, invoice_form=form),
                      status=422)  # fmt: skip
    messages.success(request, _("Invoice created from the order."))
    return redirect("accounting:invoice", invoice.pk)


@orders_page
@require_http_methods(["GET", "POST"])
def order_deliver(request: HttpRequest, order_id: int) -> HttpResponseBase:
    """Record a delivery (until the inventory module takes over, see ``deliveries``)."""
    actor = _actor(request)
    pending = deliveries.deliverable_lines(actor, order_id)
    order = selectors.order_get(actor, order_id)
    form = DeliveryForm(request.POST or None)
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and form.is_valid():
        quantities = {str(p.order_line_id): request.POST.get(f"line-{p.order_line_id}", "").strip()
                      for p in pending if request.POST.get(f"line-{p.order_line_id}", "").strip()}  # fmt: skip
        try:
            data = form.cleaned_data
            deliveries.record_delivery(actor=actor, order_id=order_id, quantities=quantities,
                                       reference=data["reference"], date=data["date"])  # fmt: skip
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Delivery recorded."))
            return redirect("sales:order", order_id)
    return render(request, "sales/orders/deliver.html",
                  {"order": order, "pending": pending, "form": form, "errors": errors,
                   "posted": request.POST}, status=422 if errors else 200)  # fmt: skip


PLAN_ROWS = 6


@orders_page
@require_http_methods(["GET", "POST"])
def order_plan(request: HttpRequest, order_id: int) -> HttpResponseBase:
    """The invoicing plan: down payments and milestones not invoiced yet (rows left empty are dropped)."""
    actor = _actor(request)
    order = selectors.order_get(actor, order_id)
    if not selectors.can_manage(actor):
        raise PermissionDenied("permission_denied")
    billed = [row for row in order.milestones.all() if row.invoice_id]
    pending = [row for row in order.milestones.all() if not row.invoice_id]
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        rows = []
        for index in range(PLAN_ROWS):
            row = {name: request.POST.get(f"{name}-{index}", "").strip() for name in ("kind", "label", "percent",
                                                                                      "amount")}  # fmt: skip
            if row["percent"] or row["amount"]:
                rows.append({k: v for k, v in row.items() if v})
        try:
            orders.order_set_plan(actor=actor, order_id=order_id, milestones=rows)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Invoicing plan saved."))
            return redirect("sales:order", order_id)
    initial = [{"kind": r.kind, "label": r.label, "percent": "" if r.percent is None else f"{r.percent:f}",
                "amount": "" if r.amount is None else f"{r.amount:f}"} for r in pending]  # fmt: skip
    initial += [{"kind": "milestone", "label": "", "percent": "", "amount": ""}] * (PLAN_ROWS - len(initial))
    if request.method == "POST":
        initial = [{name: request.POST.get(f"{name}-{i}", "") for name in ("kind", "label", "percent", "amount")}
                   for i in range(PLAN_ROWS)]  # fmt: skip
    context = {"order": order, "billed": billed, "rows": list(enumerate(initial[:PLAN_ROWS])), "errors": errors,
               "kinds": [("down_payment", _("Down payment")), ("milestone", _("Milestone"))]}  # fmt: skip
    return render(request, "sales/orders/plan.html", context, status=422 if errors else 200)

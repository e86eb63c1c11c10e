"""Sales orders API (/api/v1/sales/orders): see docs/api.md for conventions.

List, read, create (a draft for a customer, or the confirmed order of an accepted quote),
change, confirm, cancel, set the invoicing plan, invoice (``mode`` order/delivery/
down_payment/milestone) and record deliveries. Quantities and amounts travel as decimal
strings. The record rules are the pages': a salesperson sees their customers' orders.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import ValidationFailed
from comptoir.sales import deliveries, invoicing, orders
from comptoir.sales import order_selectors as selectors

router = apikit.module_router("sales")

ObjectId = Path(..., ge=1, le=MAX_ID)
OptionalId = Field(None, ge=1, le=MAX_ID)
DECIMAL_HELP = 'Decimal string, e.g. `"12.50"`.'
State = Literal["draft", "confirmed", "done", "cancelled"]
Policy = Literal["order", "delivery"]
MONEY = ("untaxed_amount", "tax_amount", "total_amount", "invoiced_amount")


class AddressIn(InputSchema):
    line1: str = Field("", max_length=200)
    line2: str = Field("", max_length=200)
    postal_code: str = Field("", max_length=20)
    city: str = Field("", max_length=100)
    country: str = Field("", max_length=2)


class OrderLineIn(InputSchema):
    id: int | None = Field(None, ge=1, le=MAX_ID, description="An existing line to keep (on update).")
    kind: Literal["product", "text", "section"] = "product"
    product_id: int | None = OptionalId
    description: str = Field("", max_length=4000, description="The product's name when empty.")
    operation: Literal["goods", "services"] | None = None
    quantity: str = Field("", max_length=30, description=DECIMAL_HELP + " At most 3 decimals.")
    uom_id: int | None = OptionalId
    unit_price: str = Field("", max_length=30, description=DECIMAL_HELP + " Excluding VAT, at most 4 decimals.")
    discount_percent: str = Field("", max_length=10, description=DECIMAL_HELP)
    vat_code: str = Field("", max_length=20, description="VAT category (standard, reduced…).")


class OrderCreateIn(InputSchema):
    quote_id: int | None = Field(None, ge=1, le=MAX_ID, description="An accepted quote: the order is confirmed.")
    organization_id: int | None = OptionalId
    contact_id: int | None = OptionalId
    opportunity_id: int | None = OptionalId
    payment_term_id: int | None = OptionalId
    invoicing_policy: Policy | None = None
    customer_reference: str = Field("", max_length=100)
    commitment_date: dt.date | None = None
    notes: str = Field("", max_length=4000)
    delivery_address: AddressIn | None = None
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="An active site of the company; the head office "
                                "when omitted, null: the company as a whole. From a quote: the quote's when "
                                "omitted.")  # fmt: skip
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=500)


class OrderUpdateIn(InputSchema):
    contact_id: int | None = OptionalId
    payment_term_id: int | None = OptionalId
    invoicing_policy: Policy | None = None
    customer_reference: str | None = Field(None, max_length=100)
    commitment_date: dt.date | None = None
    notes: str | None = Field(None, max_length=4000)
    delivery_address: AddressIn | None = None
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="Null: the company as a whole.")
    lines: list[OrderLineIn] | None = Field(None, max_length=500)


class CancelIn(InputSchema):
    reason: str = Field("", max_length=2000)


class PlanRowIn(InputSchema):
    kind: Literal["down_payment", "milestone"]
    label: str = Field("", max_length=200)
    percent: str = Field("", max_length=10, description=DECIMAL_HELP)
    amount: str = Field("", max_length=30, description=DECIMAL_HELP + " Down payments only, excluding VAT.")


class PlanIn(InputSchema):
    milestones: list[PlanRowIn] = Field(..., max_length=50)


class InvoiceIn(InputSchema):
    mode: Literal["order", "delivery", "down_payment", "milestone"] | None = None
    percent: str = Field("", max_length=10, description="Down payment percentage. " + DECIMAL_HELP)
    amount: str = Field("", max_length=30, description="Down payment amount excluding VAT. " + DECIMAL_HELP)
    milestone_id: int | None = OptionalId
    post: bool = Field(False, description="Post the invoice at once (else a draft for finance).")


class DeliveryIn(InputSchema):
    quantities: dict[str, str] = Field(..., description="Order line id → quantity delivered (negative: a return).")
    reference: str = Field("", max_length=100)
    date: dt.date | None = None


class OrderSummaryOut(Schema):
    id: int
    number: str
    state: State
    organization_id: int
    owner_id: int | None
    invoicing_policy: Policy
    order_date: dt.date | None
    commitment_date: dt.date | None
    currency: str
    untaxed_amount: str
    tax_amount: str
    total_amount: str
    invoiced_amount: str


class OrderLineOut(Schema):
    id: int
    position: int
    kind: str
    product_id: int | None
    description: str
    operation: str
    quantity: str
    quantity_delivered: str
    quantity_invoiced: str
    uom_id: int | None
    unit_price: str
    discount_percent: str
    vat_code: str
    vat_rate: str
    net_amount: str


class PlanRowOut(Schema):
    id: int
    kind: str
    label: str
    percent: str | None
    amount: str | None
    invoice_id: int | None


class OrderInvoiceOut(Schema):
    invoice_id: int
    kind: str
    number: str
    state: str
    untaxed_amount: str
    total_amount: str


class OrderOut(OrderSummaryOut):
    quote_id: int | None
    opportunity_id: int | None
    contact_id: int | None
    payment_term_id: int | None
    site_id: int | None
    fiscal_position: str
    customer_reference: str
    delivery_address: dict[str, str]
    notes: str
    confirmed_at: dt.datetime | None
    lines: list[OrderLineOut]
    milestones: list[PlanRowOut]
    invoices: list[OrderInvoiceOut]
    actions: list[str]


class InvoiceCreatedOut(Schema):
    invoice_id: int
    state: str
    number: str
    untaxed_amount: str
    total_amount: str
    order: OrderOut


class DeliveryOut(Schema):
    reference: str
    date: dt.date
    quantities: dict[str, str]
    order: OrderOut


class OrderFilters(ListParams):
    state: State | None = None
    invoicing_policy: Policy | None = None
    scope: Literal["mine", "all"] | None = None
    organization_id: int | None = OptionalId
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str | None = Field(None, max_length=100)


def order_out(actor: Actor, order_id: int) -> dict[str, Any]:
    order = selectors.order_get(actor, order_id)
    actions = [t.action for t in orders.ORDER.actions_from(order.state, actor)]
    if order.state == "confirmed" and actor.has_perm(orders.MANAGE):
        actions += ["invoice", "record_delivery"]
    return {
        **{name: getattr(order, name) for name in (
            "id", "number", "state", "organization_id", "owner_id", "invoicing_policy", "order_date",
            "commitment_date", "currency", "quote_id", "opportunity_id", "contact_id", "payment_term_id",
            "fiscal_position", "customer_reference", "delivery_address", "notes", "confirmed_at", "site_id")},
        **{name: str(getattr(order, name)) for name in MONEY},
        "lines": [{
            "id": line.pk, "position": line.position, "kind": line.kind, "product_id": line.product_id,
            "description": line.description, "operation": line.operation, "quantity": str(line.quantity),
            "quantity_delivered": str(line.quantity_delivered), "quantity_invoiced": str(line.quantity_invoiced),
            "uom_id": line.uom_id, "unit_price": str(line.unit_price), "discount_percent": str(line.discount_percent),
            "vat_code": line.vat_code, "vat_rate": str(line.vat_rate), "net_amount": str(line.net_amount),
        } for line in order.lines.all()],
        "milestones": [{
            "id": row.pk, "kind": row.kind, "label": row.label,
            "percent": None if row.percent is None else str(row.percent),
            "amount": None if row.amount is None else str(row.amount), "invoice_id": row.invoice_id,
        } for row in order.milestones.all()],
        "invoices": [{
            "invoice_id": link.invoice_id, "kind": link.kind, "number": link.invoice.number,
            "state": link.invoice.state, "untaxed_amount": str(link.invoice.untaxed_amount),
            "total_amount": str(link.invoice.total_amount),
        } for link in order.invoice_links.all()],
        "actions": actions,
    }  # fmt: skip


def _lines(lines: list[OrderLineIn] | None) -> list[dict[str, Any]] | None:
    if lines is None:
        return None
    return [{k: v for k, v in line.model_dump().items() if v not in (None, "")} for line in lines]


API_SORT = {"number": "number", "date": "order_date", "total": "total_amount", "id": "id"}
SUMMARY_FIELDS = tuple(OrderSummaryOut.model_fields)


@router.get("/orders", response=responses(page_of(OrderSummaryOut)), summary="List sales orders")
def order_list(request: HttpRequest, params: Query[OrderFilters]) -> HttpResponse:
    """Orders the caller may see. Sort: `number`, `date`, `total`, `id`."""
    filters = params.model_dump(include={"state", "invoicing_policy", "scope", "organization_id", "date_from",
                                         "date_to", "q"})  # fmt: skip
    rows = selectors.order_list(apikit.actor(request), filters).values(*SUMMARY_FIELDS)

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return row | {name: str(row[name]) for name in MONEY}

    return apikit.paginate_rows(request, rows, params, item=OrderSummaryOut, convert=convert, sort=API_SORT,
                                default_sort="-id")  # fmt: skip


# What an order made from a quote copies from it (the quote's lines, customer, terms and notes).
_FROM_QUOTE = ("organization_id", "contact_id", "opportunity_id", "payment_term_id", "notes", "delivery_address",
               "lines")  # fmt: skip


@router.post("/orders", response=responses(OrderOut, status=201), summary="Create an order (or one from a quote)")
def order_create(request: HttpRequest, payload: OrderCreateIn) -> Status:
    actor = apikit.actor(request)
    if payload.quote_id is not None:
        # The quote decides these: a value sent with it would be silently dropped, so it is refused per field.
        taken = [name for name in _FROM_QUOTE if getattr(payload, name) not in (None, "", [])]
        if taken:
            message = str(_("Taken from the quote: change it on the order once it is created."))
            raise ValidationFailed("set_by_quote", fields={name: [message] for name in taken})
        # The site sent replaces the quote's (an explicit null: the company as a whole); omitted: the quote's.
        site = {"site_id": payload.site_id} if "site_id" in payload.model_fields_set else {}
        order = orders.order_create_from_quote(
            actor=actor, quote_id=payload.quote_id, invoicing_policy=payload.invoicing_policy,
            commitment_date=payload.commitment_date, customer_reference=payload.customer_reference, **site,
        )  # fmt: skip
    else:
        data = payload.model_dump(exclude={"quote_id", "lines"}, exclude_none=True)
        if "site_id" in payload.model_fields_set:  # an explicit null: the company as a whole, not the head office
            data["site_id"] = payload.site_id
        order = orders.order_create(actor=actor, lines=_lines(payload.lines) or [], **data)
    return Status(201, order_out(actor, order.pk))


@router.get("/orders/{order_id}", response=responses(OrderOut), summary="Get an order")
def order_get(request: HttpRequest, order_id: int = ObjectId) -> Any:
    return order_out(apikit.actor(request), order_id)


@router.patch("/orders/{order_id}", response=responses(OrderOut), summary="Change an order")
def order_update(request: HttpRequest, payload: OrderUpdateIn, order_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    data = payload.model_dump(exclude_unset=True, exclude={"lines"})
    if payload.lines is not None:
        data["lines"] = _lines(payload.lines)
    orders.order_update(actor=actor, order_id=order_id, **data)
    return order_out(actor, order_id)


@router.post("/orders/{order_id}/confirm", response=responses(OrderOut), summary="Confirm (number) an order")
def order_confirm(request: HttpRequest, order_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    orders.order_confirm(actor=actor, order_id=order_id)
    return order_out(actor, order_id)


@router.post("/orders/{order_id}/cancel", response=responses(OrderOut), summary="Cancel an order")
def order_cancel(request: HttpRequest, order_id: int = ObjectId, payload: CancelIn | None = None) -> Any:
    actor = apikit.actor(request)
    orders.order_cancel(actor=actor, order_id=order_id, reason=payload.reason if payload else "")
    return order_out(actor, order_id)


@router.put("/orders/{order_id}/plan", response=responses(OrderOut), summary="Set the invoicing plan")
def order_plan(request: HttpRequest, payload: PlanIn, order_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    rows = [{k: v for k, v in row.model_dump().items() if v != ""} for row in payload.milestones]
    orders.order_set_plan(actor=actor, order_id=order_id, milestones=rows)
    return order_out(actor, order_id)


@router.post("/orders/{order_id}/invoice", response=responses(InvoiceCreatedOut, status=201),
             summary="Invoice the order (next invoice by policy, down payment or milestone)")  # fmt: skip
def order_invoice(request: HttpRequest, payload: InvoiceIn, order_id: int = ObjectId) -> Status:
    actor = apikit.actor(request)
    invoice = invoicing.invoice_order(actor=actor, order_id=order_id, mode=payload.mode,
                                      percent=payload.percent or None, amount=payload.amount or None,
                                      milestone_id=payload.milestone_id, post=payload.post)  # fmt: skip
    return Status(201, {
        "invoice_id": invoice.pk, "state": invoice.state, "number": invoice.number,
        "untaxed_amount": str(invoice.untaxed_amount), "total_amount": str(invoice.total_amount),
        "order": order_out(actor, order_id),
    })  # fmt: skip


@router.post("/orders/{order_id}/deliveries", response=responses(DeliveryOut, status=201),
             summary="Record a delivery (until the inventory module does)")  # fmt: skip
def order_deliver(request: HttpRequest, payload: DeliveryIn, order_id: int = ObjectId) -> Status:
    actor = apikit.actor(request)
    result = deliveries.record_delivery(actor=actor, order_id=order_id, quantities=payload.quantities,
                                        reference=payload.reference, date=payload.date)  # fmt: skip
    return Status(201, {
        "reference": result.reference, "date": result.date,
        "quantities": {str(k): str(v) for k, v in result.quantities.items()}, "order": order_out(actor, order_id),
    })  # fmt: skip

"""Deliveries of sales orders: the service interface the inventory module will plug into.

Sales does not know about stock. It exposes what remains to deliver and records what was
delivered; the future inventory module (a higher layer cannot be imported from here, but
inventory sits *below* sales, so it will not import sales either) is wired in through
``DeliveryBackend``:

* ``deliverable_lines(actor, order_id)`` — the storable-product lines of a confirmed order
  with the quantity still to deliver (ordered − delivered), as ``DeliverableLine``s.
* ``record_delivery(*, actor, order_id, quantities, reference, date)`` — adds delivered
  quantities (``{order_line_id: quantity}``, positive; a negative quantity records a return),
  never beyond the ordered quantity nor below zero, audits it, publishes
  ``sales.order_delivered`` and refreshes the order's state. Under the "delivery" invoicing
  policy, what it records becomes invoiceable.

Until inventory exists, the order page's "Record delivery" action and
``POST /api/v1/sales/orders/{id}/deliveries`` call ``record_delivery`` directly. When
inventory lands, its picking validation will publish an event (or call a hook registered
with ``set_backend``) and sales' subscriber will call ``record_delivery`` with the picking's
reference: the order side does not change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.invoices import _parse_decimal
from comptoir.accounting.services import _add, _parse_date, _required_text
from comptoir.kernel import audit, events
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.sales.models_orders import OrderLineKind, OrderState, SalesOrderLine
from comptoir.sales.orders import _locked, order_lines

MAX_QUANTITY = Decimal("1e9")
DELIVERED_EVENT = "sales.order_delivered"


@dataclass(frozen=True)
class DeliverableLine:
    order_line_id: int
    product_id: int | None
    description: str
    uom_code: str
    ordered: Decimal
    delivered: Decimal
    to_deliver: Decimal


@dataclass(frozen=True)
class Delivery:
    order_id: int
    reference: str
    date: dt.date
    quantities: dict[int, Decimal]


class DeliveryBackend(Protocol):
    """What an inventory module implements to take over deliveries (see the module docstring)."""

    def deliverable_lines(self, actor: Actor, order_id: int) -> list[DeliverableLine]: ...

    def record_delivery(self, *, actor: Actor, order_id: int, quantities: Any, reference: Any = "",
                        date: Any = None) -> Delivery: ...  # fmt: skip


def deliverable_lines(actor: Actor, order_id: int) -> list[DeliverableLine]:
    """Lines of goods still to deliver on a confirmed order the actor sees (services excluded)."""
    from comptoir.sales.invoicing import is_goods
    from comptoir.sales.order_selectors import order_get

    order = order_get(actor, order_id)
    if order.state != OrderState.CONFIRMED:
        return []
    result = []
    for line in order.lines.all():
        if not is_goods(line):
            continue
        ordered, delivered = Decimal(line.quantity), Decimal(line.quantity_delivered)
        result.append(DeliverableLine(
            order_line_id=line.pk, product_id=line.product_id, description=line.name,
            uom_code=(line.uom.unece_code if line.uom else "") or "C62", ordered=ordered, delivered=delivered,
            to_deliver=max(ordered - delivered, Decimal(0)),
        ))  # fmt: skip
    return result


@transaction.atomic
def record_delivery(*, actor: Actor, order_id: int, quantities: Any, reference: Any = "",
                    date: Any = None) -> Delivery:  # fmt: skip
    """Add delivered quantities to a confirmed order's lines (see the module docstring)."""
    from comptoir.sales.invoicing import refresh_invoiced

    order = _locked(actor, order_id)
    if order.state != OrderState.CONFIRMED:
        raise Conflict("order_not_deliverable", _("Only a confirmed order that is not fully delivered is delivered."))
    errors: dict[str, list[str]] = {}
    text = _required_text(errors, "reference", reference, 100, False)
    day = _parse_date(errors, "date", date, required=False) or timezone.localdate()
    lines = {line.pk: line for line in order_lines(order)}
    if not isinstance(quantities, dict) or not quantities:
        _add(errors, "quantities", _("Enter the quantities delivered."))
        raise ValidationFailed(fields=errors)
    changed: dict[int, Decimal] = {}
    for key, value in quantities.items():
        name = f"quantities.{key}"
        try:
            line_id = int(key)
        except (TypeError, ValueError):
            _add(errors, name, _("The order has no such line."))
            continue
        line = lines.get(line_id)
        if line is None or line.kind != OrderLineKind.PRODUCT:
            _add(errors, name, _("The order has no such line."))
            continue
        quantity = _parse_decimal(errors, name, value, places=3, default=Decimal(0), minimum=-MAX_QUANTITY,
                                  maximum=MAX_QUANTITY)  # fmt: skip
        if not quantity:
            continue
        total = Decimal(line.quantity_delivered) + quantity
        if total > Decimal(line.quantity):
            _add(errors, name, _("At most %(n)s left to deliver.")
                 % {"n": (Decimal(line.quantity) - Decimal(line.quantity_delivered)).normalize()})  # fmt: skip
        elif total < 0:
            _add(errors, name, _("More returned than delivered."))
        else:
            changed[line_id] = quantity
    if not errors and not changed:
        _add(errors, "quantities", _("Enter the quantities delivered."))
    if errors:
        raise ValidationFailed(fields=errors)
    for line_id, quantity in changed.items():
        line = lines[line_id]
        line.quantity_delivered = Decimal(line.quantity_delivered) + quantity  # type: ignore[assignment]
    SalesOrderLine.objects.bulk_update([lines[i] for i in changed], ["quantity_delivered", "updated_at"])
    refresh_invoiced(order)
    payload = {str(k): str(v) for k, v in changed.items()}
    audit.record(actor, "sales_order.deliver", order, changes={"delivered": [None, payload],
                                                                "reference": [None, text]})  # fmt: skip
    events.publish(DELIVERED_EVENT, company_id=order.company_id, payload={
        "order_id": order.pk, "number": order.number, "reference": text, "date": day.isoformat(),
        "quantities": payload})  # fmt: skip
    return Delivery(order_id=order.pk, reference=text, date=day, quantities=changed)

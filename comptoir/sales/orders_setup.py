"""Start-up wiring of sales orders (called once from ``SalesConfig.ready``).

The order number series, the 360° timeline source, the link from an invoice back to its
order (``accounting.source_links``) and the subscriber that keeps invoiced quantities in
step with credit notes posted in accounting.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext

from comptoir.accounting import source_links
from comptoir.contacts.timeline import registry as timeline_registry
from comptoir.kernel import events
from comptoir.kernel.context import Actor


def _order_link(actor: Actor, source_id: str) -> source_links.SourceLink | None:
    from comptoir.sales.order_selectors import visible_orders

    try:
        order_id = int(source_id)
    except ValueError:
        return None
    if not 0 < order_id < 2**63:
        return None
    row = visible_orders(actor).filter(pk=order_id).values("pk", "number").first()
    if row is None:
        return None
    label = gettext("Sales order %(number)s") % {"number": row["number"] or f"#{row['pk']}"}
    return source_links.SourceLink(label, reverse("sales:order", args=[row["pk"]]))


def register() -> None:
    from comptoir.accounting.models import InvoiceKind
    from comptoir.sales import invoicing, orders, timeline_orders

    orders.register_sequences()
    timeline_orders.register(timeline_registry)
    source_links.register(orders.SOURCE_TYPE, _order_link)
    # Only a credit note changes what an order counts (an invoice counts from its draft on).
    events.subscribe("accounting.invoice_posted", invoicing.on_invoice_posted, key="sales.orders.invoice_posted",
                     when=lambda payload: payload.get("kind") == InvoiceKind.CUSTOMER_CREDIT_NOTE)  # fmt: skip
    for name in ("accounting.invoice_deleted", "accounting.invoice_cancelled"):
        events.subscribe(name, invoicing.on_invoice_draft_gone, key="sales.orders.invoice_draft_gone")

"""``{% invoice_payments_panel invoice %}``: the payments of an invoice and the button to pay it.

One line in the invoice page (owned by the invoices module) shows this panel; what it reads
and who may see it is decided here.
"""

from __future__ import annotations

from typing import Any

from django import template

from comptoir.accounting import payments

register = template.Library()


@register.inclusion_tag("accounting/payments/_invoice_panel.html", takes_context=True)
def invoice_payments_panel(context: dict[str, Any], invoice: Any) -> dict[str, Any]:
    request = context.get("request")
    actor = getattr(request, "actor", None)
    if actor is None or invoice is None or not actor.has_perm(payments.VIEW):
        return {"visible": False}
    return {
        "visible": True,
        "invoice": invoice,
        "allocations": payments.invoice_allocations(actor, invoice.pk),
        "can_pay": actor.has_perm(payments.REGISTER) and invoice.state in payments.OPEN_STATES,
        "can_view_ledger": actor.has_perm("accounting.view_ledger"),
    }

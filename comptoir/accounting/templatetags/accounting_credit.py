"""``{% invoice_credit_panel invoice %}``: the credit note allocations of an invoice or credit
note, and on a credit note with something left, the button to allocate it.

One line in the invoice page shows this panel; what it reads and who may see it is decided here.
"""

from __future__ import annotations

from typing import Any

from django import template

from comptoir.accounting import credit_allocation

register = template.Library()


@register.inclusion_tag("accounting/terms/_credit_panel.html", takes_context=True)
def invoice_credit_panel(context: dict[str, Any], invoice: Any) -> dict[str, Any]:
    request = context.get("request")
    actor = getattr(request, "actor", None)
    if actor is None or invoice is None or not invoice.number:
        return {"visible": False}
    rows = credit_allocation.allocations_of(actor, invoice.pk)
    is_credit = invoice.kind in credit_allocation.SETTLES
    can_allocate = (is_credit and actor.has_perm(credit_allocation.REGISTER)
                    and invoice.state in credit_allocation.OPEN_STATES)  # fmt: skip
    return {
        "visible": bool(rows) or can_allocate,
        "invoice": invoice,
        "is_credit": is_credit,
        "rows": rows,
        "can_allocate": can_allocate,
    }

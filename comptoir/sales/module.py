"""The sales module (quotes, sales orders, invoicing from orders): needs CRM, catalog and accounting."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.modules import Module, NavEntry, registry


def register() -> None:
    registry.register(
        Module(
            code="sales",
            label=_("Sales"),
            description=_("Quotes, sales orders and invoicing from orders."),
            requires=("crm", "catalog", "accounting"),
            nav=(
                NavEntry(label=_("Quotes"), url_name="sales:quotes", permission="sales.view_quotes"),
                NavEntry(label=_("Sales orders"), url_name="sales:orders", permission="sales.view_orders"),
            ),
        )
    )

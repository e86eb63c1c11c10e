"""The sales module (quotes, sales orders, invoicing from orders): needs CRM, catalog and accounting."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.modules import Module, registry


def register() -> None:
    registry.register(
        Module(
            code="sales",
            label=_("Sales"),
            description=_("Quotes, sales orders and invoicing from orders."),
            requires=("crm", "catalog", "accounting"),
            # Nav entries join as their pages land (lead edits this file).
            nav=(),
        )
    )

"""The banking module (bank accounts, statements, reconciliation): needs accounting."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.modules import Module, NavEntry, registry


def register() -> None:
    registry.register(
        Module(
            code="banking",
            label=_("Banking"),
            description=_("Bank accounts, statement import and bank reconciliation."),
            requires=("accounting",),
            nav=(
                NavEntry(label=_("Bank accounts"), url_name="banking:accounts", permission="banking.view_bank"),
                NavEntry(label=_("Reconciliation"), url_name="banking:reconcile", permission="banking.view_bank"),
                NavEntry(label=_("Reconciliation rules"), url_name="banking:rules", permission="banking.view_bank"),
            ),
        )
    )

"""The banking module (bank accounts, statements, reconciliation): needs accounting."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.modules import Module, registry


def register() -> None:
    registry.register(
        Module(
            code="banking",
            label=_("Banking"),
            description=_("Bank accounts, statement import and bank reconciliation."),
            requires=("accounting",),
            # Nav entries join as their pages land (lead edits this file).
            nav=(),
        )
    )

"""The accounting module (general ledger): needs the contacts module for partner accounts."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.modules import Module, NavEntry, registry


def register() -> None:
    from comptoir.accounting.services import on_module_enabled

    registry.register(
        Module(
            code="accounting",
            label=_("Accounting"),
            description=_("Chart of accounts, journals, journal entries, trial balance and general ledger."),
            requires=("contacts",),
            on_enable=on_module_enabled,
            nav=(
                NavEntry(label=_("Journal entries"), url_name="accounting:home", permission="accounting.view_ledger"),
            ),
        )
    )

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
                NavEntry(label=_("Invoices"), url_name="accounting:invoices", permission="accounting.view_invoices"),
                NavEntry(
                    label=_("Journal entries"), url_name="accounting:entries", permission="accounting.view_ledger"
                ),
                NavEntry(label=_("Payments"), url_name="accounting:payments", permission="accounting.view_payments"),
                NavEntry(
                    label=_("Payment reminders"), url_name="accounting:dunning", permission="accounting.manage_invoices"
                ),
                NavEntry(label=_("Payment terms"), url_name="accounting:terms", permission="accounting.view_invoices"),
                NavEntry(
                    label=_("Trial balance"), url_name="accounting:trial_balance", permission="accounting.view_ledger"
                ),
                NavEntry(
                    label=_("Balance sheet"), url_name="accounting:balance_sheet", permission="accounting.view_ledger"
                ),
                NavEntry(
                    label=_("Income statement"),
                    url_name="accounting:income_statement",
                    permission="accounting.view_ledger",
                ),
                NavEntry(
                    label=_("Aged receivables"),
                    url_name="accounting:aged_receivables",
                    permission="accounting.view_ledger",
                ),
                NavEntry(
                    label=_("Aged payables"), url_name="accounting:aged_payables", permission="accounting.view_ledger"
                ),
                NavEntry(label=_("VAT return"), url_name="accounting:vat_return", permission="accounting.view_ledger"),
                NavEntry(
                    label=_("Chart of accounts"), url_name="accounting:accounts", permission="accounting.view_ledger"
                ),
                NavEntry(label=_("Journals"), url_name="accounting:journals", permission="accounting.view_ledger"),
                NavEntry(
                    label=_("Fiscal years and lock date"),
                    url_name="accounting:periods",
                    permission="accounting.view_ledger",
                ),
                NavEntry(
                    label=_("Ledger verification"), url_name="accounting:verify", permission="accounting.view_ledger"
                ),
            ),
        )
    )

from django.utils.translation import gettext_lazy as _

PERMISSIONS = {
    "accounting.view_ledger": _("View the ledger: entries, chart of accounts, trial balance, general ledger"),
    "accounting.post_entries": _("Write draft journal entries, post and reverse them"),
    "accounting.manage_chart": _("Manage the chart of accounts, journals and fiscal years"),
    "accounting.lock_periods": _("Set the lock date and close fiscal years"),
    "accounting.export": _("Export the trial balance, the general ledger and the journals"),
    "accounting.view_invoices": _("View the invoices, credit notes and bills of the customers and suppliers one sees"),
    "accounting.view_all_invoices": _("See every invoice and bill of the company, whoever the customer's owner"),
    "accounting.manage_invoices": _("Write draft invoices and bills, post them, issue credit notes, send invoices"),
    "accounting.view_payments": _("View payments, their allocations and the partners' credits"),
    "accounting.register_payments": _("Register payments, use credits and cancel payments"),
    "accounting.match_lines": _("Match and unmatch customer and supplier lines (lettrage)"),
}

# Finance keeps the books: it posts, locks and exports (issue 4). Management reads the
# ledger, exports it and may lock a period too (e.g. after the accountant's review).
MATRIX = {
    "finance": list(PERMISSIONS),
    "management": [
        "accounting.view_ledger",
        "accounting.lock_periods",
        "accounting.export",
        "accounting.view_invoices",
        "accounting.view_all_invoices",
        "accounting.view_payments",
    ],
    # A salesperson sees the invoices of the customers they see (contacts record rules), not the ledger.
    "sales": ["accounting.view_invoices"],
}

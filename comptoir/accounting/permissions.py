from django.utils.translation import gettext_lazy as _

PERMISSIONS = {
    "accounting.view_ledger": _("View the ledger: entries, chart of accounts, trial balance, general ledger"),
    "accounting.post_entries": _("Write draft journal entries, post and reverse them"),
    "accounting.manage_chart": _("Manage the chart of accounts, journals and fiscal years"),
    "accounting.lock_periods": _("Set the lock date and close fiscal years"),
    "accounting.export": _("Export the trial balance and the general ledger"),
}

# Locking a period is irreversible: the bookkeeper prepares, management (or the
# administrator) locks, so one person alone cannot both write and seal the books.
MATRIX = {
    "finance": [
        "accounting.view_ledger",
        "accounting.post_entries",
        "accounting.manage_chart",
        "accounting.export",
    ],
    "management": ["accounting.view_ledger", "accounting.lock_periods", "accounting.export"],
}

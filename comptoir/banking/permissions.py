from django.utils.translation import gettext_lazy as _

PERMISSIONS = {
    "banking.view_bank": _("View bank accounts, statements and reconciliation"),
    "banking.manage_bank": _("Manage bank accounts, import statements and reconcile them"),
    "banking.manage_rules": _("Manage reconciliation rules"),
}

MATRIX = {
    "finance": ["banking.view_bank", "banking.manage_bank", "banking.manage_rules"],
    "management": ["banking.view_bank"],
}

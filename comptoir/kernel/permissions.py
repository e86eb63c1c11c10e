from django.utils.translation import gettext_lazy as _

PERMISSIONS = {
    "kernel.view_audit": _("View the audit trail"),
    "kernel.export_audit": _("Export the audit trail"),
    "kernel.check_integrity": _("Run the integrity check"),
}

MATRIX = {
    "management": ["kernel.view_audit", "kernel.export_audit"],
    "finance": ["kernel.view_audit"],
}

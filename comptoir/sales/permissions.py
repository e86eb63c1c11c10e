from django.utils.translation import gettext_lazy as _

PERMISSIONS = {
    "sales.view_quotes": _("View quotes (salespeople: their own and their team's customers)"),
    "sales.manage_quotes": _("Create, send and revise quotes; mark them accepted"),
    "sales.view_orders": _("View sales orders"),
    "sales.manage_orders": _("Confirm, change and cancel sales orders; invoice them"),
    "sales.view_all": _("See every quote and order of the company, not only their customers'"),
    "sales.view_kpis": _("See sales KPIs (conversion, win rate, revenue)"),
}

_SELL = ["sales.view_quotes", "sales.manage_quotes", "sales.view_orders", "sales.manage_orders"]

# Salespeople sell to their customers; finance invoices every order; management sees all.
MATRIX = {
    "sales": _SELL,
    "service": ["sales.view_quotes", "sales.view_orders"],
    "finance": ["sales.view_quotes", "sales.view_orders", "sales.manage_orders", "sales.view_all", "sales.view_kpis"],
    "operations": ["sales.view_orders", "sales.view_all"],
    "management": [*_SELL, "sales.view_all", "sales.view_kpis"],
}

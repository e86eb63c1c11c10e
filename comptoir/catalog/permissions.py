from django.utils.translation import gettext_lazy as _

PERMISSIONS = {
    "catalog.view_product": _("View products, categories and units of measure"),
    "catalog.change_product": _("Create and change products, product categories and units of measure"),
    "catalog.view_pricing": _("See price lists, customer groups and simulate prices"),
    "catalog.manage_pricing": _("Manage price lists, their rules and customer groups"),
    "catalog.view_costs": _("See purchase prices"),
}

_VIEW = ["catalog.view_product"]
_PRICES = [*_VIEW, "catalog.view_pricing"]

# Sales quote prices (they see price lists, not costs); operations buys and keeps the
# catalogue (costs, no price lists); management holds everything.
MATRIX = {
    "sales": _PRICES,
    "marketing": _PRICES,
    "service": _VIEW,
    "finance": [*_PRICES, "catalog.view_costs"],
    "operations": [*_VIEW, "catalog.change_product", "catalog.view_costs"],
    "production": _VIEW,
    "management": [*_PRICES, "catalog.change_product", "catalog.manage_pricing", "catalog.view_costs"],
}

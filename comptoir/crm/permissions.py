from django.utils.translation import gettext_lazy as _

PERMISSIONS = {
    "crm.view_opportunity": _("View leads and opportunities"),
    "crm.change_opportunity": _("Create and change leads and opportunities, mark them won or lost"),
    "crm.view_all_opportunities": _(
        "See every lead and opportunity of the company, not only one's own and one's team's"
    ),
    "crm.manage_pipelines": _("Manage pipelines, stages, lost reasons and CRM settings"),
    "crm.view_amounts": _("See opportunity amounts"),
}

_SELL = ["crm.view_opportunity", "crm.change_opportunity", "crm.view_amounts"]

# Marketing holds view_amounts, but the company may hide amounts from it (CrmSettings):
# the rule lives in crm.selectors.can_see_amounts.
MATRIX = {
    "sales": _SELL,
    "marketing": [*_SELL, "crm.view_all_opportunities"],
    "service": ["crm.view_opportunity"],
    "finance": ["crm.view_opportunity", "crm.view_all_opportunities", "crm.view_amounts"],
    "management": [*_SELL, "crm.view_all_opportunities", "crm.manage_pipelines"],
}

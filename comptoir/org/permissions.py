from django.utils.translation import gettext_lazy as _

PERMISSIONS = {
    "org.view_company": _("View the company"),
    "org.change_company": _("Change the company's identity"),
    "org.view_site": _("View sites"),
    "org.manage_sites": _("Create and change sites"),
    "org.view_user": _("View users"),
    "org.manage_users": _("Invite users and assign roles"),
    "org.manage_own_api_keys": _("Create and revoke one's own API keys"),
    "org.manage_api_keys": _("Revoke anyone's API keys"),
    "org.manage_modules": _("Switch modules on and off"),
}

_EVERYONE = ["org.view_company", "org.view_site", "org.view_user", "org.manage_own_api_keys"]

MATRIX = {
    "sales": _EVERYONE,
    "marketing": _EVERYONE,
    "service": _EVERYONE,
    "finance": _EVERYONE,
    "operations": _EVERYONE,
    "production": _EVERYONE,
    "hr": _EVERYONE,
    "management": [*_EVERYONE, "org.manage_sites"],
}

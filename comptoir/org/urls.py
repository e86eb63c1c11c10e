"""Settings pages (company, sites, users and roles, API keys, modules), under /settings/."""

from django.urls import path
from django.views.generic import RedirectView

from comptoir.org import views

app_name = "org"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="org:company"), name="index"),
    path("company/", views.company, name="company"),
    path("company/edit/", views.company_edit, name="company_edit"),
    path("sites/", views.sites, name="sites"),
    path("sites/new/", views.site_create, name="site_create"),
    path("sites/<int:site_id>/", views.site_edit, name="site_edit"),
    path("users/", views.users, name="users"),
    path("users/new/", views.user_create, name="user_create"),
    path("users/<int:user_id>/roles/", views.user_roles, name="user_roles"),
    path("users/<int:user_id>/remove/", views.user_remove, name="user_remove"),
    path("users/<int:user_id>/reset-2fa/", views.user_totp_reset, name="user_totp_reset"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/new/", views.api_key_create, name="api_key_create"),
    path("api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("modules/", views.modules, name="modules"),
]

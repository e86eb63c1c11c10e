from django.urls import path

from comptoir.org import views_auth
from comptoir.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("notifications/", views.notification_list, name="notifications"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("login/", views_auth.login_view, name="login"),
    path("login/verify/", views_auth.verify_view, name="login_verify"),
    path("logout/", views_auth.logout_view, name="logout"),
    path("account/2fa/", views_auth.totp_enrol_view, name="totp"),
    path("account/2fa/disable/", views_auth.totp_disable_view, name="totp_disable"),
    path("language/", views_auth.language_view, name="language"),
    path("company/switch/", views_auth.company_switch_view, name="company_switch"),
]

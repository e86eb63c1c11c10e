"""Banking pages, mounted at /banking/."""

from django.urls import include, path

app_name = "banking"

urlpatterns = [
    path("", include("comptoir.banking.urls_accounts")),
    path("", include("comptoir.banking.urls_reconcile")),
]

"""Sales pages, mounted at /sales/ (the customer's public quote page lives in urls_public)."""

from django.urls import include, path

app_name = "sales"

urlpatterns = [
    path("", include("comptoir.sales.urls_quotes")),
    path("", include("comptoir.sales.urls_orders")),
    path("", include("comptoir.sales.urls_kpis")),
    path("", include("comptoir.sales.urls_public")),
]

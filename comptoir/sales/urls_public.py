"""Sales pages: the customer's quote behind a signed link (no login), and the quote documents."""

from django.urls import include, path

from comptoir.sales import views_public

urlpatterns = [
    path("q/<str:token>/", views_public.quote_public, name="quote_public"),
    path("q/<str:token>/pdf/", views_public.quote_public_pdf, name="quote_public_pdf"),
    path("", include("comptoir.sales.urls_documents")),
]

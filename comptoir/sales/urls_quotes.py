"""Sales pages: quotes (list, form, detail, actions; htmx totals and autocompletes)."""

from django.urls import path

from comptoir.sales import views_quotes

urlpatterns = [
    path("quotes/", views_quotes.quotes, name="quotes"),
    path("quotes/new/", views_quotes.quote_new, name="quote_new"),
    path("quotes/totals/", views_quotes.quote_totals, name="quote_totals"),
    path(
        "quotes/autocomplete/organizations/",
        views_quotes.autocomplete_organizations,
        name="quote_autocomplete_organizations",
    ),
    path("quotes/autocomplete/products/", views_quotes.autocomplete_products, name="quote_autocomplete_products"),
    path("quotes/<int:quote_id>/", views_quotes.quote, name="quote"),
    path("quotes/<int:quote_id>/edit/", views_quotes.quote_edit, name="quote_edit"),
    path("quotes/<int:quote_id>/do/<slug:action>/", views_quotes.quote_action, name="quote_action"),
]

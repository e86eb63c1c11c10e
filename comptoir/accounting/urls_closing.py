"""Accounting pages: year-end closing (joined to accounting/urls.py, namespace "accounting")."""

from django.urls import URLPattern, path

from comptoir.accounting import views_closing, views_currency

urlpatterns: list[URLPattern] = [
    path("periods/<accid:fiscal_year_id>/closing/", views_closing.year_end, name="year_end"),
    # Multi-currency: exchange rates, and the revaluation at the year's end.
    path("currency-rates/", views_currency.rates, name="currency_rates"),
    path("periods/<accid:fiscal_year_id>/revalue/", views_currency.revalue, name="year_end_revalue"),
    path("periods/<accid:fiscal_year_id>/provision/", views_currency.provision, name="year_end_provision"),
]

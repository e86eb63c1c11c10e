"""Accounting pages: year-end closing (joined to accounting/urls.py, namespace "accounting")."""

from django.urls import URLPattern, path

from comptoir.accounting import views_closing

urlpatterns: list[URLPattern] = [
    path("periods/<accid:fiscal_year_id>/closing/", views_closing.year_end, name="year_end"),
]

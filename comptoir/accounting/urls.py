"""Accounting pages, mounted at /accounting/."""

from django.urls import path

from comptoir.accounting import views

app_name = "accounting"

urlpatterns = [
    path("", views.home, name="home"),
]

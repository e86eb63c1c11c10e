"""Settings pages (company, sites, users and roles, API keys, modules) and sign-in pages."""

from django.urls import path  # noqa: F401

app_name = "org"

urlpatterns: list = []

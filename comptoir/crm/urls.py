"""CRM pages, mounted at /crm/."""

from django.urls import URLPattern

app_name = "crm"

urlpatterns: list[URLPattern] = []

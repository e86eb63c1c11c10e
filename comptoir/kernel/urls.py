"""The audit page and its export."""

from django.urls import path  # noqa: F401

app_name = "kernel"

urlpatterns: list = []

"""Accounting pages: statements (joined to accounting/urls.py, namespace \"accounting\")."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []

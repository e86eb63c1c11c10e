"""The audit page and its export."""

from django.urls import path

from comptoir.kernel import views

app_name = "kernel"

urlpatterns = [
    path("", views.audit, name="audit"),
    path("export/", views.audit_export, name="audit_export"),
]

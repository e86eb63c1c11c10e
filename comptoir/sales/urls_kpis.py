"""Sales pages: KPIs and targets."""

from django.urls import path

from comptoir.sales import views_kpis

urlpatterns = [
    path("kpis/", views_kpis.dashboard, name="kpis"),
    path("kpis/targets/", views_kpis.targets, name="targets"),
    path("kpis/targets/<int:target_id>/delete/", views_kpis.target_delete, name="target_delete"),
]

"""Accounting pages: dunning (joined to accounting/urls.py, namespace "accounting")."""

from django.urls import URLPattern, path

from comptoir.accounting import views_dunning

urlpatterns: list[URLPattern] = [
    path("dunning/", views_dunning.overview, name="dunning"),
    path("dunning/levels/", views_dunning.level_list, name="dunning_levels"),
    path("dunning/automatic/", views_dunning.automatic, name="dunning_automatic"),
    path("dunning/levels/new/", views_dunning.level_edit, name="dunning_level_new"),
    path("dunning/levels/<accid:level_id>/", views_dunning.level_edit, name="dunning_level"),
]

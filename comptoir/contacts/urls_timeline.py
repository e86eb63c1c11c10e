"""The timeline fragments of the organization and person pages (htmx "load more" and filters)."""

from django.urls import URLPattern, path

from comptoir.contacts import views_timeline

urlpatterns: list[URLPattern] = [
    path(
        "organizations/<int:organization_id>/timeline/",
        views_timeline.organization_timeline,
        name="organization_timeline",
    ),
    path("people/<int:person_id>/timeline/", views_timeline.person_timeline, name="person_timeline"),
]

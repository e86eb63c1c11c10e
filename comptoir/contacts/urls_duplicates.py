"""Duplicate detection and merge pages (part of the ``contacts`` URL namespace)."""

from django.urls import URLPattern, path

from comptoir.contacts import views_duplicates as views

urlpatterns: list[URLPattern] = [
    path("duplicates/", views.duplicate_list, name="duplicates"),
    path("duplicates/check/", views.duplicate_check, name="duplicate_check"),
    path("duplicates/scan/", views.duplicate_scan, name="duplicate_scan"),
    path("duplicates/<int:candidate_id>/dismiss/", views.duplicate_dismiss, name="duplicate_dismiss"),
    path("duplicates/merge/<str:kind>/<int:survivor_id>/<int:other_id>/", views.merge_screen, name="duplicate_merge"),
]

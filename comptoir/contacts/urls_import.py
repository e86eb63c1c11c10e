"""Import pages and GDPR pages of the contacts app."""

from django.urls import URLPattern, path

from comptoir.contacts import views_import

urlpatterns: list[URLPattern] = [
    path("import/", views_import.import_start, name="import_start"),
    path("import/<int:job_id>/", views_import.import_detail, name="import_detail"),
    path("import/<int:job_id>/mapping/", views_import.import_mapping, name="import_mapping"),
    path("import/<int:job_id>/progress/", views_import.import_progress, name="import_progress"),
    path("import/<int:job_id>/commit/", views_import.import_commit, name="import_commit"),
    path("people/<int:person_id>/personal-data/", views_import.person_personal_data, name="person_personal_data"),
    path("people/<int:person_id>/erase/", views_import.person_erase, name="person_erase"),
]

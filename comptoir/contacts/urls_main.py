"""Contacts lists, details and forms (organizations, people), saved views and exports."""

from django.urls import URLPattern, path

from comptoir.contacts import views

urlpatterns: list[URLPattern] = [
    path("organizations/", views.organizations, name="organizations"),
    path("organizations/export/", views.organizations_export, name="organizations_export"),
    path("organizations/new/", views.organization_create, name="organization_create"),
    path("organizations/<int:organization_id>/", views.organization_detail, name="organization_detail"),
    path("organizations/<int:organization_id>/edit/", views.organization_edit, name="organization_edit"),
    path("organizations/<int:organization_id>/archive/", views.organization_archive, name="organization_archive"),
    path("organizations/<int:organization_id>/addresses/", views.address_add, name="address_add"),
    path("addresses/<int:address_id>/remove/", views.address_remove, name="address_remove"),
    path("people/", views.people, name="people"),
    path("people/export/", views.people_export, name="people_export"),
    path("people/new/", views.person_create, name="person_create"),
    path("people/<int:person_id>/", views.person_detail, name="person_detail"),
    path("people/<int:person_id>/edit/", views.person_edit, name="person_edit"),
    path("people/<int:person_id>/archive/", views.person_archive, name="person_archive"),
    path("people/<int:person_id>/consents/", views.consent_record, name="consent_record"),
    path("people/<int:person_id>/organizations/", views.affiliation_set, name="affiliation_set"),
    path(
        "people/<int:person_id>/organizations/<int:organization_id>/remove/",
        views.affiliation_remove,
        name="affiliation_remove",
    ),
    path("views/<str:list_name>/save/", views.saved_view_save, name="saved_view_save"),
    path("views/<int:view_id>/delete/", views.saved_view_delete, name="saved_view_delete"),
]

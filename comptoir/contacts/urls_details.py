"""Tags, address edits and contact points pages (part of the ``contacts`` URL namespace)."""

from django.urls import URLPattern, path

from comptoir.contacts import views_details as views

urlpatterns: list[URLPattern] = [
    path("tags/", views.tag_list, name="tags"),
    path("tags/new/", views.tag_create, name="tag_create"),
    path("tags/<int:tag_id>/edit/", views.tag_edit, name="tag_edit"),
    path("tags/<int:tag_id>/delete/", views.tag_delete, name="tag_delete"),
    path("addresses/<int:address_id>/edit/", views.address_edit, name="address_edit"),
    path("addresses/<int:address_id>/default/", views.address_make_default, name="address_make_default"),
    path("people/<int:person_id>/contact-points/", views.contact_point_add, name="contact_point_add"),
    path("contact-points/<int:contact_point_id>/edit/", views.contact_point_edit, name="contact_point_edit"),
    path("contact-points/<int:contact_point_id>/remove/", views.contact_point_remove, name="contact_point_remove"),
    path(
        "contact-points/<int:contact_point_id>/primary/",
        views.contact_point_make_primary,
        name="contact_point_make_primary",
    ),
]

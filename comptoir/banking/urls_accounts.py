"""Banking pages: bank accounts, statements, CSV layouts, statement import."""

from django.urls import path

from comptoir.banking import views_accounts as views

urlpatterns: list = [
    path("accounts/", views.account_list, name="accounts"),
    path("accounts/new/", views.account_create, name="account_create"),
    path("accounts/<int:bank_account_id>/", views.account_detail, name="account"),
    path("accounts/<int:bank_account_id>/edit/", views.account_edit, name="account_edit"),
    path("accounts/<int:bank_account_id>/archive/", views.account_archive, name="account_archive"),
    path("accounts/<int:bank_account_id>/csv-layouts/new/", views.mapping_edit, name="mapping_create"),
    path("accounts/<int:bank_account_id>/csv-layouts/<int:mapping_id>/", views.mapping_edit, name="mapping_edit"),
    path(
        "accounts/<int:bank_account_id>/csv-layouts/<int:mapping_id>/delete/",
        views.mapping_delete,
        name="mapping_delete",
    ),
    path("statements/<int:statement_id>/", views.statement_detail, name="statement"),
    path("import/", views.statement_import, name="import"),
]

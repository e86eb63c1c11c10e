"""Banking pages: the reconciliation screen and the reconciliation rules."""

from django.urls import path

from comptoir.banking import views_reconcile as views

urlpatterns: list = [
    path("reconcile/", views.reconcile_screen, name="reconcile"),
    path("reconcile/apply-rules/", views.reconcile_apply_rules, name="reconcile_apply_rules"),
    path("reconcile/lines/<int:line_id>/", views.reconcile_line, name="reconcile_line"),
    path("reconcile/lines/<int:line_id>/accept/", views.reconcile_accept, name="reconcile_accept"),
    path("reconcile/lines/<int:line_id>/split/", views.reconcile_split, name="reconcile_split"),
    path("reconcile/lines/<int:line_id>/manual/", views.reconcile_manual, name="reconcile_manual"),
    path("reconcile/lines/<int:line_id>/ignore/", views.reconcile_ignore, name="reconcile_ignore"),
    path("reconcile/lines/<int:line_id>/undo/", views.reconcile_undo, name="reconcile_undo"),
    path("rules/", views.rule_list, name="rules"),
    path("rules/new/", views.rule_edit, name="rule_create"),
    path("rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
]

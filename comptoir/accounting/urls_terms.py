"""Accounting pages: payment terms, partner profiles, credit note allocation and the invoice
form's autocomplete (joined to accounting/urls.py, namespace "accounting")."""

from django.urls import URLPattern, path

from comptoir.accounting import views_credit, views_terms

urlpatterns: list[URLPattern] = [
    path("terms/", views_terms.terms, name="terms"),
    path("terms/new/", views_terms.term_form, name="term_create"),
    path("terms/<accid:term_id>/edit/", views_terms.term_form, name="term_edit"),
    path("terms/<accid:term_id>/active/", views_terms.term_active, name="term_active"),
    path("terms/preview/", views_terms.term_preview, name="term_preview"),
    path("partners/<accid:organization_id>/profile/", views_terms.partner_profile, name="partner_profile"),
    path("invoices/<accid:invoice_id>/allocate/", views_credit.credit_allocate, name="credit_allocate"),
    path("autocomplete/organizations/", views_terms.autocomplete_organizations, name="autocomplete_organizations"),
    path("autocomplete/products/", views_terms.autocomplete_products, name="autocomplete_products"),
]

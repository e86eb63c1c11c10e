"""Accounting pages: statements (joined to accounting/urls.py, namespace \"accounting\")."""

from django.urls import URLPattern, path

from comptoir.accounting import views_statements as views

urlpatterns: list[URLPattern] = [
    path("statements/balance-sheet/", views.balance_sheet, name="balance_sheet"),
    path("statements/income-statement/", views.income_statement, name="income_statement"),
    path("statements/aged-receivables/", views.aged_receivables, name="aged_receivables"),
    path("statements/aged-payables/", views.aged_payables, name="aged_payables"),
    path("statements/partners/<accid:partner_account_id>/", views.partner_statement, name="partner_statement"),
    path("statements/vat-return/", views.vat_return_page, name="vat_return"),
]

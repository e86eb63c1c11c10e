"""Accounting pages, mounted at /accounting/."""

from django.urls import path, register_converter

from comptoir.accounting import views, views_reports


class IdConverter:
    """A database id: at most 18 digits, so it always fits a bigint (longer → 404, never 500)."""

    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "accid")

app_name = "accounting"

urlpatterns = [
    path("", views.entries, name="entries"),
    path("entries/new/", views.entry_create, name="entry_create"),
    path("entries/<accid:entry_id>/", views.entry, name="entry"),
    path("entries/<accid:entry_id>/edit/", views.entry_edit, name="entry_edit"),
    path("entries/<accid:entry_id>/post/", views.entry_post, name="entry_post"),
    path("entries/<accid:entry_id>/reverse/", views.entry_reverse, name="entry_reverse"),
    path("entries/<accid:entry_id>/delete/", views.entry_delete, name="entry_delete"),
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/new/", views.account_form, name="account_create"),
    path("accounts/<accid:account_id>/edit/", views.account_form, name="account_edit"),
    path("accounts/<accid:account_id>/active/", views.account_active, name="account_active"),
    path("accounts/<accid:account_id>/ledger/", views.general_ledger, name="general_ledger"),
    path("journals/", views.journals, name="journals"),
    path("journals/new/", views.journal_form, name="journal_create"),
    path("journals/<accid:journal_id>/edit/", views.journal_form, name="journal_edit"),
    path("journals/<accid:journal_id>/", views.journal_listing, name="journal_listing"),
    path("periods/", views.periods, name="periods"),
    path("trial-balance/", views.trial_balance, name="trial_balance"),
    path("verify/", views.verify, name="verify"),
    # Reports: FEC, PDF (views_reports)
    path("fec/", views_reports.fec_export_page, name="fec_export"),
    path("fec/check/", views_reports.fec_check_page, name="fec_check"),
    path("trial-balance/pdf/", views_reports.trial_balance_pdf, name="trial_balance_pdf"),
    path("accounts/<accid:account_id>/ledger/pdf/", views_reports.general_ledger_pdf, name="general_ledger_pdf"),
    path("journals/<accid:journal_id>/pdf/", views_reports.journal_listing_pdf, name="journal_listing_pdf"),
]

# Payments and matching (views_payments), mounted once the id converter above exists.
from comptoir.accounting.views_payments import payment_urls  # noqa: E402

urlpatterns += payment_urls()

# Invoices, credit notes and vendor bills (views_invoices).
from comptoir.accounting.views_invoices import invoice_urls  # noqa: E402

urlpatterns += invoice_urls()

# Financial statements, year-end closing and dunning, payment terms and partner profiles.
from comptoir.accounting import urls_closing, urls_dunning, urls_statements, urls_terms  # noqa: E402

urlpatterns += urls_statements.urlpatterns + urls_closing.urlpatterns + urls_terms.urlpatterns
urlpatterns += urls_dunning.urlpatterns

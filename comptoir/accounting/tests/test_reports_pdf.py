"""PDF of the trial balance, general ledger and journal listing: French and English, the
export permission, nothing fetched, and a clear way out past the row cap."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client, override_settings
from pypdf import PdfReader

from comptoir.accounting import reports_pdf, services
from comptoir.accounting.tests.conftest import Ledger, today
from comptoir.accounting.tests.test_views import login

pytestmark = pytest.mark.django_db


def post_sales(ledger: Ledger, count: int) -> None:
    actor = ledger.actor()
    for index in range(count):
        entry = services.entry_create(actor=actor, **ledger.entry_data(label=f"Facture Martin {index}"))
        services.entry_post(actor=actor, entry_id=entry.pk)


def pdf_text(response: Any) -> str:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_trial_balance_pdf_in_french_and_english(ledger: Ledger, client: Client) -> None:
    post_sales(ledger, 2)
    login(client, ledger, "finance")
    query = f"date_from={today().year}-01-01&date_to={today().year}-12-31"
    english = pdf_text(client.get(f"/accounting/trial-balance/pdf/?{query}&lang=en"))
    assert "Trial balance" in english and "Atelier Dupont" in english and "842 157 638" in english
    assert "Sales of services" in english or "706" in english
    assert "240.00" in english
    french = pdf_text(client.get(f"/accounting/trial-balance/pdf/?{query}&lang=fr"))
    assert "240,00" in french and "Atelier Dupont" in french
    response = client.get(f"/accounting/trial-balance/pdf/?{query}")
    assert response["Content-Disposition"] == 'attachment; filename="trial-balance.pdf"'
    page = client.get(f"/accounting/trial-balance/?{query}").content.decode()
    assert f'href="/accounting/trial-balance/pdf/?{query.replace("&", "&amp;")}" data-export="pdf"' in page


def test_general_ledger_and_journal_listing_pdf(ledger: Ledger, client: Client) -> None:
    post_sales(ledger, 3)
    login(client, ledger, "management")
    text = pdf_text(client.get(f"/accounting/accounts/{ledger.accounts['411']}/ledger/pdf/?lang=en"))
    assert "General ledger" in text and "Facture Martin 2" in text and "360.00" in text
    text = pdf_text(client.get(f"/accounting/journals/{ledger.journals['VT']}/pdf/?lang=en"))
    assert "Journal VT" in text and text.count("Facture Martin") >= 3 and "360.00" in text
    assert client.get(f"/accounting/journals/{ledger.journals['VT']}/pdf/?date_from=bad").status_code == 422
    assert client.get("/accounting/accounts/999999/ledger/pdf/").status_code == 404


def test_pdf_past_the_cap_sends_back_to_the_page_with_what_to_do(ledger: Ledger, client: Client) -> None:
    post_sales(ledger, 2)
    login(client, ledger, "finance")
    with override_settings(COMPTOIR_REPORT_PDF_MAX_ROWS=5):
        url = f"/accounting/journals/{ledger.journals['VT']}/pdf/?date_from={today().year}-01-01"
        response = client.get(url, follow=True)
    assert (
        response.redirect_chain[0][0] == f"/accounting/journals/{ledger.journals['VT']}/?date_from={today().year}-01-01"
    )
    assert "More than 5 lines: too long for a PDF. Narrow the period or export XLSX." in response.content.decode()
    with override_settings(COMPTOIR_REPORT_PDF_MAX_ROWS=5):
        ledger_pdf = client.get(f"/accounting/accounts/{ledger.accounts['706']}/ledger/pdf/")
        assert ledger_pdf.status_code == 200  # 2 lines on 706
    assert reports_pdf.max_rows() == reports_pdf.MAX_ROWS


def test_pdf_needs_the_export_permission(ledger: Ledger, client: Client) -> None:
    login(client, ledger, "sales")
    assert client.get("/accounting/trial-balance/pdf/").status_code == 403
    assert client.get(f"/accounting/journals/{ledger.journals['VT']}/pdf/").status_code == 403

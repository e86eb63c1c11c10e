"""Importing bank statements in a real browser: finance creates a bank account, previews a
French CSV export with a layout typed on the page, imports it without choosing the file
again, sees the result, imports a CAMT.053 file, and filters the account's lines (htmx)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from comptoir.banking.models import BankStatement, CsvMapping
from comptoir.banking.tests.kit import FILES, setup_banking
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, Personas

from .conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_account_preview_and_import(page, personas: Personas) -> None:  # type: ignore[no-untyped-def]
    setup_banking(personas)
    user = personas.users["finance"]
    User.objects.filter(pk=user.pk).update(language="en")
    login(page, user.email, PASSWORD)

    page.goto("/banking/accounts/")
    with page.expect_navigation():
        page.click("#new-bank-account")
    page.fill("#id_name", "Crédit Agricole")
    page.fill("#id_iban", "FR76 3000 6000 0112 3456 7890 189")
    page.fill("#id_bic", "AGRIFRPPXXX")
    with page.expect_navigation():
        page.click("#bank-account-form button[type=submit]")
    assert page.locator("#account-iban").inner_text() == "FR76 3000 6000 0112 3456 7890 189"

    with page.expect_navigation():
        page.click("#import-statement")
    page.set_input_files("#id_file", str(FILES / "bank_fr_cp1252.csv"))
    page.click("#csv-layout summary")
    page.fill("#id_skip_lines", "1")
    page.fill("#id_date_column", "Date")
    page.fill("#id_label_column", "Libellé")
    page.fill("#id_debit_column", "Débit")
    page.fill("#id_credit_column", "Crédit")
    page.fill("#id_reference_column", "Référence")
    page.fill("#id_save_as", "Export CA")
    with page.expect_navigation():
        page.click("#preview-button")
    assert "PRLV EDF ÉLECTRICITÉ" in page.locator("#import-preview").inner_text()
    assert page.locator("#staged-file").is_visible()
    with page.expect_navigation():
        page.click("#import-button")
    assert "5 lines imported" in page.locator("#import-result").inner_text()
    assert CsvMapping.objects.get().name == "Export CA"

    page.set_input_files("#id_file", str(FILES / "camt053_v02.xml"))
    with page.expect_navigation():
        page.click("#import-button")
    assert "3 lines imported" in page.locator("#import-result").inner_text()
    assert BankStatement.objects.count() == 2

    page.goto(f"/banking/accounts/{BankStatement.objects.first().bank_account_id}/")
    assert page.locator("#lines tr[data-line]").count() == 8
    page.fill("#line-q", "boulangerie")
    expect(page.locator("#lines tr[data-line]")).to_have_count(2)
    assert "1,200.00" in page.locator("#lines").inner_text()

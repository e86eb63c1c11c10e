"""Banking pages: account list/form/page, statement page, CSV layouts, the import page
(upload, preview, CSV layout, result, errors per row), permissions, module gate, queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.banking.imports import statement_import
from comptoir.banking.models import BankAccount, BankStatement, CsvMapping
from comptoir.banking.tests.kit import CSV_LAYOUT, IBAN, make_account, read, setup_banking
from comptoir.org.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank(personas):
    setup_banking(personas)
    return personas


def login(client: Client, personas: Any, role: str) -> Client:
    user = personas.users[role]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    user.refresh_from_db()
    client.force_login(user)
    return client


def test_create_edit_archive_account(bank, client: Client) -> None:
    login(client, bank, "finance")
    assert client.get("/banking/accounts/").status_code == 200
    bad = client.post("/banking/accounts/new/", {"name": "CA", "iban": "FR76 0000", "currency": "EUR"})
    assert bad.status_code == 422 and 'data-field-error="iban"' in bad.content.decode()
    created = client.post("/banking/accounts/new/", {"name": "CA", "iban": "fr76 3000 6000 0112 3456 7890 189",
                                                     "bic": "AGRIFRPPXXX", "currency": "EUR"})  # fmt: skip
    account = BankAccount.objects.select_related("journal").get()
    assert created.status_code == 302 and created["Location"] == f"/banking/accounts/{account.pk}/"
    assert account.iban == IBAN and account.journal.code == "BQ"
    page = client.get(f"/banking/accounts/{account.pk}/").content.decode()
    assert "FR76 3000 6000 0112 3456 7890 189" in page and "No statement imported yet." in page
    edited = client.post(f"/banking/accounts/{account.pk}/edit/", {"name": "CA Pro", "iban": IBAN, "bic": "",
                                                                  "currency": "EUR"})  # fmt: skip
    assert edited.status_code == 302
    client.post(f"/banking/accounts/{account.pk}/archive/", {"active": "0"})
    account.refresh_from_db()
    assert (account.name, account.active) == ("CA Pro", False)
    listing = client.get("/banking/accounts/").content.decode()
    assert "CA Pro" not in listing and "CA Pro" in client.get("/banking/accounts/?archived=all").content.decode()


def test_import_camt_result_then_duplicate_refused(bank, client: Client) -> None:
    account = make_account(bank)
    login(client, bank, "finance")
    upload = SimpleUploadedFile("mars.xml", read("camt053_v02.xml"))
    response = client.post("/banking/import/", {"bank_account": account.pk, "file": upload, "action": "import"})
    html = response.content.decode()
    assert response.status_code == 200 and 'id="import-result"' in html
    assert "3 lines imported" in html and "0 skipped" in html
    upload = SimpleUploadedFile("mars.xml", read("camt053_v02.xml"))
    again = client.post("/banking/import/", {"bank_account": account.pk, "action": "import", "file": upload})
    assert again.status_code == 422 and "already imported" in again.content.decode()
    assert BankStatement.objects.count() == 1
    page = client.get(f"/banking/accounts/{account.pk}/").content.decode()
    assert "VIR SEPA RECU BOULANGERIE MARTIN" in page and "STMT-2026-03-001" in page
    statement = BankStatement.objects.get()
    detail = client.get(f"/banking/statements/{statement.pk}/").content.decode()
    assert "1,804.10" in detail and "FRAIS TENUE DE COMPTE" in detail


def test_csv_preview_then_import_saves_the_layout(bank, client: Client) -> None:
    account = make_account(bank)
    login(client, bank, "finance")
    data = {"bank_account": account.pk, "action": "preview", "save_as": "Export CA", **CSV_LAYOUT,
            "debit_positive": "on", "file": SimpleUploadedFile("juin.csv", read("bank_fr_cp1252.csv"))}  # fmt: skip
    preview = client.post("/banking/import/", data)
    html = preview.content.decode()
    assert preview.status_code == 200 and 'id="import-preview"' in html and "PRLV EDF ÉLECTRICITÉ" in html
    assert not BankStatement.objects.exists()
    staged = html.split('name="staged" value="')[1][:32]
    final = client.post("/banking/import/", data | {"action": "import", "file": "", "staged": staged,
                                                    "staged_name": "juin.csv"})  # fmt: skip
    assert final.status_code == 200 and "5 lines imported" in final.content.decode()
    assert CsvMapping.objects.get(bank_account=account).name == "Export CA"
    assert BankStatement.objects.get().file_name == "juin.csv"


def test_bad_rows_are_listed_and_nothing_written(bank, client: Client) -> None:
    account = make_account(bank)
    login(client, bank, "finance")
    response = client.post("/banking/import/", {
        "bank_account": account.pk, "action": "import", **(CSV_LAYOUT | {"skip_lines": 0}),
        "file": SimpleUploadedFile("bad.csv", read("bank_fr_bad_rows.csv")),
    })  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 422 and 'id="row-errors"' in html
    assert 'data-row="3"' in html and 'data-row="4"' in html and 'data-row="5"' in html
    assert "31/06/2026" in html and not BankStatement.objects.exists()
    hostile = client.post("/banking/import/", {"bank_account": account.pk, "action": "import",
                                               "file": SimpleUploadedFile("x.xml", read("xxe.xml"))})  # fmt: skip
    assert hostile.status_code == 422 and "DOCTYPE" in hostile.content.decode()
    missing = client.post("/banking/import/", {"bank_account": account.pk, "action": "import"})
    assert missing.status_code == 422 and 'data-field-error="file"' in missing.content.decode()


def test_csv_layout_pages(bank, client: Client) -> None:
    account = make_account(bank)
    login(client, bank, "finance")
    url = f"/banking/accounts/{account.pk}/csv-layouts/new/"
    assert client.get(url).status_code == 200
    bad = client.post(url, {"name": "X", "date_column": "Date", "label_column": "L", "delimiter": ";",
                            "encoding": "cp1252", "decimal_separator": ",", "date_format": "%d/%m/%Y"})  # fmt: skip
    assert bad.status_code == 422 and 'data-field-error="amount_column"' in bad.content.decode()
    ok = client.post(url, {"name": "CA", **CSV_LAYOUT})
    assert ok.status_code == 302
    mapping = CsvMapping.objects.get()
    assert client.get(f"/banking/accounts/{account.pk}/csv-layouts/{mapping.pk}/").status_code == 200
    client.post(f"/banking/accounts/{account.pk}/csv-layouts/{mapping.pk}/delete/")
    assert not CsvMapping.objects.exists()


def test_permissions_and_module_gate(bank, client: Client) -> None:
    account = make_account(bank)
    login(client, bank, "management")
    assert client.get("/banking/accounts/").status_code == 200
    assert client.get(f"/banking/accounts/{account.pk}/").status_code == 200
    assert client.get("/banking/import/").status_code == 403
    assert client.get("/banking/accounts/new/").status_code == 403
    assert client.post(f"/banking/accounts/{account.pk}/archive/", {"active": "0"}).status_code == 403
    login(client, bank, "sales")
    assert client.get("/banking/accounts/").status_code == 403
    client.logout()
    outsider = bank.outsider
    User.objects.filter(pk=outsider.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now())
    client.force_login(outsider)
    assert client.get(f"/banking/accounts/{account.pk}/").status_code == 404


def test_account_page_queries_are_constant(bank, client: Client) -> None:
    account = make_account(bank)
    login(client, bank, "finance")
    url = f"/banking/accounts/{account.pk}/?state=all"

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
            assert client.get("/banking/accounts/").status_code == 200
        return len(ctx.captured_queries)

    statement_import(actor=bank.actor("finance"), data=read("camt053_v02.xml"), bank_account_id=account.pk)
    count()
    small = count()
    statement_import(actor=bank.actor("finance"), data=read("camt053_v08.xml"), bank_account_id=account.pk)
    make_account(bank, name="Other", iban="")
    assert count() == small


def test_statement_pages_and_locked_ledger_on_edit(bank, client: Client) -> None:
    account = make_account(bank)
    login(client, bank, "finance")
    for number in range(12):  # the same lines again: skipped, but each statement is new
        data = read("camt053_v02.xml").replace(b"STMT-2026-03-001", f"STMT-{number:02}".encode())
        statement_import(actor=bank.actor("finance"), data=data, bank_account_id=account.pk)
    page = client.get(f"/banking/accounts/{account.pk}/?state=all&page=2").content.decode()
    assert 'href="?state=all&amp;page=2&amp;spage=2"' in page  # the statements' pager keeps the lines' page
    assert page.count("data-statement=") == 10
    form = client.get(f"/banking/accounts/{account.pk}/edit/").content.decode()
    assert 'name="journal_id"' not in form and "cannot change once statements are imported" in form

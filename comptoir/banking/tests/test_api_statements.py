"""Banking API: bank accounts CRUD, CSV layouts, statement import (multipart), lists with
filters, errors, permissions and scopes, constant query counts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from comptoir.banking.models import BankStatementLine
from comptoir.banking.tests.kit import CSV_LAYOUT, IBAN, make_account, read, setup_banking
from comptoir.org import services as org_services

pytestmark = pytest.mark.django_db
API = "/api/v1/banking"


@pytest.fixture
def bank(personas):
    setup_banking(personas)
    return personas


def key(personas: Any, role: str, scopes: list[str] | None = None) -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=personas.actor(role), name=f"{role} key",
                                            scopes=scopes or ["banking:write"])  # fmt: skip
    return {"Authorization": f"Bearer {secret}"}


def upload(client: Client, headers: dict[str, str], name: str, data: bytes | None = None, **fields: Any) -> Any:
    content = read(name) if data is None else data
    return client.post(f"{API}/statements/import", data={"file": SimpleUploadedFile(name, content), **fields},
                       headers=headers)  # fmt: skip


def test_bank_account_crud(bank, client: Client) -> None:
    h = key(bank, "finance")
    created = client.post(f"{API}/bank-accounts", data=json.dumps({"name": "CA", "iban": "fr76 3000 6000 0112 3456 "
                          "7890 189", "bic": "AGRIFRPPXXX"}), content_type="application/json", headers=h)  # fmt: skip
    assert created.status_code == 201, created.content
    account = created.json()
    assert account["iban"] == IBAN and account["iban_display"].startswith("FR76 3000")
    assert (account["journal_code"], account["account_code"], account["open_lines"]) == ("BQ", "512", 0)
    bad = client.post(f"{API}/bank-accounts", data=json.dumps({"name": "X", "iban": "FR00 1234"}),
                      content_type="application/json", headers=h)  # fmt: skip
    assert bad.status_code == 422 and "iban" in bad.json()["fields"]
    url = f"{API}/bank-accounts/{account['id']}"
    changed = client.patch(url, data=json.dumps({"bank_name": "Crédit Agricole"}), content_type="application/json",
                           headers=h)  # fmt: skip
    assert changed.status_code == 200 and changed.json()["bank_name"] == "Crédit Agricole"
    assert client.post(f"{url}/archive", headers=h).json()["active"] is False
    assert client.get(f"{API}/bank-accounts", headers=h).json()["count"] == 0
    assert client.get(f"{API}/bank-accounts?archived=all", headers=h).json()["count"] == 1
    assert client.post(f"{url}/restore", headers=h).json()["active"] is True
    assert client.get(url, headers=key(bank, "management", ["banking:read"])).status_code == 200


def test_import_and_lists(bank, client: Client) -> None:
    account = make_account(bank)
    h = key(bank, "finance")
    response = upload(client, h, "camt053_v02.xml", bank_account_id=account.pk)
    assert response.status_code == 201, response.content
    result = response.json()
    assert (result["source_format"], result["imported"], result["skipped"]) == ("camt053", 3, 0)
    assert result["statements"][0]["closing_balance"] == "1804.10"
    again = upload(client, h, "camt053_v02.xml", bank_account_id=account.pk)
    assert again.status_code == 422 and again.json()["code"] == "already_imported"
    # Found by IBAN without bank_account_id; the CSV layout as a JSON form field.
    assert upload(client, h, "camt053_v08.xml").status_code == 201
    csv = upload(client, h, "bank_fr_cp1252.csv", bank_account_id=account.pk, layout=json.dumps(CSV_LAYOUT))
    assert csv.status_code == 201 and csv.json()["imported"] == 5
    statements = client.get(f"{API}/statements?bank_account_id={account.pk}", headers=h).json()
    assert statements["count"] == 4 and statements["items"][0]["source_format"] == "csv"
    statement_id = statements["items"][-1]["id"]
    lines = client.get(f"{API}/statement-lines?statement_id={statement_id}&sort=booking_date", headers=h).json()
    assert [line["amount"] for line in lines["items"]] == ["1200.00", "-45.90", "-350.00"]
    filtered = client.get(f"{API}/statement-lines?q=urssaf&state=open&date_from=2026-04-01&date_to=2026-04-30",
                          headers=h).json()  # fmt: skip
    assert filtered["count"] == 1 and filtered["items"][0]["partner_name"] == "URSSAF Ile-de-France"
    assert client.get(f"{API}/statement-lines?state=bogus", headers=h).status_code == 422
    assert client.get(f"{API}/statements/{statement_id}", headers=h).json()["reference"] == "STMT-2026-03-001"
    assert client.get(f"{API}/bank-accounts/{account.pk}", headers=h).json()["open_lines"] == 11


def test_import_errors(bank, client: Client) -> None:
    account = make_account(bank)
    h = key(bank, "finance")
    rows = upload(client, h, "bank_fr_bad_rows.csv", bank_account_id=account.pk,
                  layout=json.dumps(CSV_LAYOUT | {"skip_lines": 0}))  # fmt: skip
    assert rows.status_code == 422 and set(rows.json()["fields"]) == {"rows.3", "rows.4", "rows.5"}
    xxe = upload(client, h, "xxe.xml", bank_account_id=account.pk)
    assert xxe.status_code == 422 and xxe.json()["code"] == "doctype_forbidden"
    wrong = upload(client, h, "camt053_wrong_iban.xml", bank_account_id=account.pk)
    assert wrong.status_code == 422 and wrong.json()["code"] == "wrong_account"
    assert upload(client, h, "ofx2_xml.ofx", bank_account_id=999999).status_code == 404
    assert upload(client, h, "bank_fr_cp1252.csv", bank_account_id=account.pk, layout="[1]").status_code == 422
    assert not BankStatementLine.objects.exists()


def test_csv_mappings(bank, client: Client) -> None:
    account = make_account(bank)
    h = key(bank, "finance")
    url = f"{API}/bank-accounts/{account.pk}/csv-mappings"
    created = client.post(url, data=json.dumps(CSV_LAYOUT | {"name": "CA"}), content_type="application/json",
                          headers=h)  # fmt: skip
    assert created.status_code == 201, created.content
    assert client.get(url, headers=h).json()[0]["encoding"] == "cp1252"
    mapping_id = created.json()["id"]
    imported = upload(client, h, "bank_fr_cp1252.csv", bank_account_id=account.pk, mapping_id=mapping_id)
    assert imported.status_code == 201 and imported.json()["imported"] == 5
    assert client.delete(f"{url}/{mapping_id}", headers=h).status_code == 204
    assert client.get(url, headers=h).json() == []


def test_permissions_and_scopes(bank, client: Client) -> None:
    account = make_account(bank)
    reader = key(bank, "finance", ["banking:read"])
    assert upload(client, reader, "camt053_v02.xml", bank_account_id=account.pk).status_code == 403
    management = key(bank, "management", ["banking:write"])
    assert client.get(f"{API}/statements", headers=management).status_code == 200
    assert upload(client, management, "camt053_v02.xml", bank_account_id=account.pk).status_code == 403
    sales = key(bank, "sales", ["banking:write"])
    assert client.get(f"{API}/bank-accounts", headers=sales).status_code == 403
    outsider = org_services.apikey_create(actor=bank.outsider_actor(), name="o", scopes=["banking:write"])[1]
    response = client.get(f"{API}/bank-accounts/{account.pk}", headers={"Authorization": f"Bearer {outsider}"})
    assert response.status_code in (403, 404)  # module off for the other company, or not found
    assert client.get(f"{API}/bank-accounts").status_code == 401


def test_line_list_query_count_is_constant(bank, client: Client) -> None:
    account = make_account(bank)
    h = key(bank, "finance")
    upload(client, h, "camt053_v02.xml", bank_account_id=account.pk)

    def count(size: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"{API}/statement-lines?page_size={size}", headers=h).status_code == 200
            assert client.get(f"{API}/statements?page_size={size}", headers=h).status_code == 200
            assert client.get(f"{API}/bank-accounts?page_size={size}", headers=h).status_code == 200
        return len(ctx.captured_queries)

    small = count(1)
    upload(client, h, "camt053_v08.xml")
    make_account(bank, name="Other", iban="")
    assert count(50) == small

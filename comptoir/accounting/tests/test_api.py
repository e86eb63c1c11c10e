"""The accounting API: chart, journals, fiscal years, entries (draft → post → reverse),
reports, verification, errors per field, permissions, query counts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from comptoir.accounting import services
from comptoir.accounting.models import EntryState, JournalEntry
from comptoir.accounting.tests.conftest import Ledger, open_previous_year, today
from comptoir.org import services as org_services

pytestmark = pytest.mark.django_db
API = "/api/v1/accounting"


def key(ledger: Ledger, role: str, scopes: list[str] | None = None) -> dict[str, str]:
    _k, secret = org_services.apikey_create(
        actor=ledger.actor(role), name=f"{role} key", scopes=scopes or ["accounting:write", "contacts:write"]
    )
    return {"Authorization": f"Bearer {secret}"}


def call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method == "get":
        return client.get(API + url, headers=headers)
    data = body if isinstance(body, str) else json.dumps(body or {})
    return getattr(client, method)(API + url, data=data, content_type="application/json", headers=headers)


def error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    data = response.json()
    assert set(data) == {"code", "message", "fields"}
    if code:
        assert data["code"] == code
    return data


def entry_body(ledger: Ledger, **extra: Any) -> dict[str, Any]:
    body = ledger.entry_data(**extra)
    body["date"] = body["date"].isoformat()
    body["lines"] = [{k: v for k, v in line.items() if v not in ("", None)} for line in body["lines"]]
    return body


def test_entry_lifecycle(ledger: Ledger, client: Client) -> None:
    h = key(ledger, "finance")
    created = call(client, "post", "/entries", h, entry_body(ledger, ref="FA-2026-00012"))
    assert created.status_code == 201, created.content
    entry = created.json()
    assert entry["state"] == "draft" and entry["total"] == "120.00" and entry["actions"] == ["update", "delete", "post"]
    assert [line["account_code"] for line in entry["lines"]] == ["411", "706", "44571"]
    assert entry["lines"][0]["partner_code"] == ledger.customer.code
    changed = call(client, "patch", f"/entries/{entry['id']}", h, {"label": "Facture FA-12"})
    assert changed.json()["label"] == "Facture FA-12"
    posted = call(client, "post", f"/entries/{entry['id']}/post", h)
    assert posted.status_code == 200
    data = posted.json()
    assert data["state"] == "posted" and data["number"] == f"VT-{data['date'][:4]}-00001" and data["chain_number"] == 1
    assert len(data["hash"]) == 64 and data["actions"] == ["reverse"]
    error(call(client, "patch", f"/entries/{entry['id']}", h, {"label": "x"}), 409, "entry_posted")
    error(call(client, "delete", f"/entries/{entry['id']}", h), 409, "entry_posted")
    reversal = call(client, "post", f"/entries/{entry['id']}/reverse", h, {"date": today().isoformat()})
    assert reversal.status_code == 201
    assert reversal.json()["reversal_of_id"] == entry["id"] and reversal.json()["lines"][0]["credit"] == "120.00"
    assert call(client, "get", f"/entries/{entry['id']}", h).json()["reversed_by_id"] == reversal.json()["id"]
    verify = call(client, "get", "/verify", h).json()
    assert verify["ok"] and verify["entries"] == 2
    draft = call(client, "post", "/entries", h, entry_body(ledger)).json()
    assert call(client, "delete", f"/entries/{draft['id']}", h).status_code == 204
    error(call(client, "get", f"/entries/{draft['id']}", h), 404)


def test_errors_per_field_and_nothing_written(ledger: Ledger, client: Client) -> None:
    h = key(ledger, "finance")
    body = entry_body(ledger)
    body["lines"][1]["credit"] = "99.00"
    data = error(call(client, "post", "/entries", h, body), 422)
    assert "lines" in data["fields"]
    body["lines"][0].pop("partner_account_id")
    body["lines"][1]["credit"] = "1.234"
    data = error(call(client, "post", "/entries", h, body), 422)
    assert "lines.1.credit" in data["fields"]  # the schema refuses 3 decimals
    body["lines"][1]["credit"] = 100  # a JSON number
    data = error(call(client, "post", "/entries", h, body), 422)
    assert "lines.1.credit" in data["fields"]
    body["lines"][1]["credit"] = "100.00"
    data = error(call(client, "post", "/entries", h, body), 422)
    assert set(data["fields"]) == {"lines.0.partner_account_id"}
    error(call(client, "post", "/entries", h, "{not json"), 422, "invalid_body")
    error(call(client, "get", "/entries?sort=bogus", h), 422)
    error(call(client, "get", f"/entries/{2**63}", h), 422)
    assert not JournalEntry.objects.exists()


def test_locked_period_refused_in_the_api(ledger: Ledger, client: Client) -> None:
    h = key(ledger, "finance")
    open_previous_year(ledger)
    day = today() - dt.timedelta(days=2)
    settings = call(client, "put", "/settings/lock-date", h, {"lock_date": day.isoformat()})
    assert settings.status_code == 200 and settings.json()["lock_date"] == day.isoformat()
    data = error(call(client, "post", "/entries", h, entry_body(ledger, date=day)), 422)
    assert "date" in data["fields"]
    data = error(call(client, "put", "/settings/lock-date", h, {"lock_date": "2000-01-01"}), 422)
    assert "lock_date" in data["fields"]
    year = call(client, "get", "/fiscal-years", h).json()[-1]
    closed = call(client, "post", f"/fiscal-years/{year['id']}/close", h)
    assert closed.status_code == 200 and closed.json()["state"] == "closed"


def test_chart_journals_and_years(ledger: Ledger, client: Client) -> None:
    h = key(ledger, "finance")
    page = call(client, "get", "/accounts?page_size=5&sort=code", h).json()
    assert page["count"] == len(ledger.accounts) and page["items"][0]["code"] == "101"
    assert call(client, "get", "/accounts?q=411", h).json()["items"][0]["code"] == "411"
    created = call(client, "post", "/accounts", h, {"code": "5121", "name": "Banque 2", "type": "bank"})
    assert created.status_code == 201
    error(call(client, "post", "/accounts", h, {"code": "5121", "name": "Doublon"}), 422)
    error(call(client, "post", "/accounts", h, {"code": "9", "name": "X"}), 422)
    off = call(client, "patch", f"/accounts/{created.json()['id']}", h, {"is_active": False, "name": "Banque B"})
    assert off.json()["is_active"] is False and off.json()["name"] == "Banque B"
    journal = call(client, "post", "/journals", h, {"code": "bq2", "name": "Banque 2", "kind": "bank"})
    assert journal.status_code == 201 and journal.json()["code"] == "BQ2"
    assert len(call(client, "get", "/journals", h).json()) == 7
    year = call(client, "post", "/fiscal-years", h, {"start_date": f"{today().year + 1}-01-01",
                                                     "end_date": f"{today().year + 1}-12-31"})  # fmt: skip
    assert year.status_code == 201 and year.json()["name"] == str(today().year + 1)
    partners = call(client, "get", "/partner-accounts", h).json()
    assert {p["code"] for p in partners["items"]} == {ledger.customer.code, ledger.supplier.code}
    same = call(client, "post", "/partner-accounts", h,
                {"organization_id": ledger.customer.organization_id, "kind": "customer"})  # fmt: skip
    assert same.json()["id"] == ledger.customer.pk


def test_reports(ledger: Ledger, client: Client) -> None:
    actor = ledger.actor()
    for _ in range(3):
        entry = services.entry_create(actor=actor, **ledger.entry_data())
        services.entry_post(actor=actor, entry_id=entry.pk)
    h = key(ledger, "management", ["accounting:read"])
    balance = call(client, "get", "/trial-balance", h).json()
    rows = {row["code"]: row for row in balance["rows"]}
    assert rows["411"]["debit"] == "360.00" and rows["706"]["balance"] == "-300.00"
    assert balance["total_debit"] == balance["total_credit"] == "360.00"
    by_partner = call(client, "get", "/trial-balance?by_partner=true", h).json()
    assert {r["partner_code"] for r in by_partner["rows"] if r["code"] == "411"} == {ledger.customer.code}
    gl = call(client, "get", f"/accounts/{ledger.accounts['411']}/ledger?page_size=2", h).json()
    assert gl["count"] == 3 and [line["balance"] for line in gl["items"]] == ["120.00", "240.00"]
    second = call(client, "get", f"/accounts/{ledger.accounts['411']}/ledger?page_size=2&page=2", h).json()
    assert second["items"][0]["balance"] == "360.00"
    # A read-only key cannot write.
    error(call(client, "post", "/entries", h, entry_body(ledger)), 403)


@pytest.mark.parametrize(("role", "status"), [("finance", 200), ("management", 200), ("sales", 403),
                                              ("marketing", 403)])  # fmt: skip
def test_permission_matrix(ledger: Ledger, client: Client, role: str, status: int) -> None:
    h = key(ledger, role, ["accounting:write"])
    for url in ("/entries", "/accounts", "/journals", "/fiscal-years", "/trial-balance", "/verify"):
        assert call(client, "get", url, h).status_code == status, url
    can_post = call(client, "post", "/entries", h, entry_body(ledger)).status_code
    assert can_post == (201 if role == "finance" else 403)


def test_module_off_is_404(ledger: Ledger, client: Client) -> None:
    h = key(ledger, "finance")
    org_services.module_set(actor=ledger.actor("admin"), module="accounting", enabled=False)
    error(call(client, "get", "/entries", h), 404, "module_disabled")


def test_list_queries_constant(ledger: Ledger, client: Client) -> None:
    h = key(ledger, "finance")
    actor = ledger.actor()

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = call(client, "get", url, h)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    entry = services.entry_create(actor=actor, **ledger.entry_data())
    services.entry_post(actor=actor, entry_id=entry.pk)
    count("/entries")  # the key's first use records its last-used time
    one = count("/entries?page_size=100")
    one_ledger = count(f"/accounts/{ledger.accounts['411']}/ledger?page_size=100")
    for _ in range(49):
        entry = services.entry_create(actor=actor, **ledger.entry_data())
        services.entry_post(actor=actor, entry_id=entry.pk)
    assert count("/entries?page_size=100") == one
    assert count(f"/accounts/{ledger.accounts['411']}/ledger?page_size=100") == one_ledger
    assert count(f"/entries/{entry.pk}") <= 6
    assert JournalEntry.objects.filter(state=EntryState.POSTED).count() == 50

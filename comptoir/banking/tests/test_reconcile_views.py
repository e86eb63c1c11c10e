"""Reconciliation screen and rules pages (htmx and plain posts), and the API; constant queries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from comptoir.accounting.models import Account, InvoiceState
from comptoir.accounting.models_payments import Payment
from comptoir.accounting.tests.payments_kit import post_invoice
from comptoir.banking import rules
from comptoir.banking.models import BankStatementLine, LineState
from comptoir.banking.models_rules import ReconciliationRule, StatementLineMatch
from comptoir.banking.tests.reconcile_kit import Bank, fresh, make_bank
from comptoir.org import services as org_services
from comptoir.org.testing import PASSWORD, Personas

API = "/api/v1/banking"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def bank(personas: Personas) -> Bank:
    return make_bank(personas)


def login(client: Client, bank: Bank, role: str = "finance") -> Client:
    assert client.login(email=bank.books.personas.users[role].email, password=PASSWORD)
    return client


def key(bank: Bank, role: str, scopes: list[str]) -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=bank.actor(role, "api"), name=f"{role} key", scopes=scopes)
    return {"Authorization": f"Bearer {secret}"}


def post_json(client: Client, url: str, data: Any, headers: dict[str, str]) -> Any:
    return client.post(url, data=json.dumps(data), content_type="application/json", headers=headers)


# --- Screen -----------------------------------------------------------------------------


def test_screen_shows_proposals_with_reasons_in_constant_queries(bank: Bank, client: Client) -> None:
    login(client, bank)
    invoice = post_invoice(bank.books, "100.00")
    others = [post_invoice(bank.books, f"{20 + i}.00") for i in range(8)]
    bank.line("120.00", label=f"VIR SEPA {invoice.number}", partner_name="Boulangerie Martin")
    url = reverse("banking:reconcile")
    client.get(url)  # warm up (session, caches)
    with CaptureQueriesContext(connection) as one:
        page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-proposal="inv:{invoice.pk}"' in html and invoice.number in html
    assert "Boulangerie Martin" in html
    for extra in others:
        bank.line(str(extra.total_amount), label=f"VIR {extra.number}")
    bank.line("-8.00", label="FRAIS")
    with CaptureQueriesContext(connection) as ten:
        assert client.get(url).status_code == 200
    assert len(ten) == len(one)


def test_accept_with_htmx_answers_the_line_and_the_invoice_is_paid(bank: Bank, client: Client) -> None:
    login(client, bank)
    invoice = post_invoice(bank.books, "100.00")
    line = bank.line("120.00", label=f"VIR {invoice.number}")
    url = reverse("banking:reconcile_accept", args=[line.pk])
    first = client.post(url, {"proposal": f"inv:{invoice.pk}"}, headers=HTMX)
    assert first.status_code == 200
    assert 'data-state="reconciled"' in first.content.decode() and invoice.number in first.content.decode()
    # The double click: same answer, still one payment.
    second = client.post(url, {"proposal": f"inv:{invoice.pk}"}, headers=HTMX)
    assert second.status_code == 200
    assert Payment.objects.filter(company_id=bank.company_id).count() == 1
    assert fresh(invoice).state == InvoiceState.PAID
    undo = client.post(reverse("banking:reconcile_undo", args=[line.pk]), {})
    assert undo.status_code == 302
    assert fresh(invoice).state == InvoiceState.POSTED


def test_split_manual_ignore_forms(bank: Bank, client: Client) -> None:
    login(client, bank)
    first, second = post_invoice(bank.books, "100.00"), post_invoice(bank.books, "100.00")
    line = bank.line("150.00", label="VIR MARTIN")
    bad = client.post(reverse("banking:reconcile_split", args=[line.pk]),
                      {f"amount-{first.pk}": "120.00", f"amount-{second.pk}": "abc"}, headers=HTMX)  # fmt: skip
    assert bad.status_code == 200 and "line-errors" in bad.content.decode()
    ok = client.post(reverse("banking:reconcile_split", args=[line.pk]),
                     {f"amount-{first.pk}": "120.00", f"amount-{second.pk}": "30.00", "remainder": "refuse"},
                     headers=HTMX)  # fmt: skip
    assert 'data-state="reconciled"' in ok.content.decode()
    assert fresh(second).residual_amount == 90
    fees = bank.line("-4.00", label="COMMISSION")
    account = Account.objects.get(company_id=bank.company_id, code="627")
    posted = client.post(reverse("banking:reconcile_manual", args=[fees.pk]),
                         {"account_id": account.pk, "label": "Commission", "vat_rate": ""}, headers=HTMX)  # fmt: skip
    assert "627" in posted.content.decode()
    other = bank.line("500.00", label="VIREMENT INTERNE")
    empty = client.post(reverse("banking:reconcile_ignore", args=[other.pk]), {"reason": ""}, headers=HTMX)
    assert "line-errors" in empty.content.decode()
    client.post(reverse("banking:reconcile_ignore", args=[other.pk]), {"reason": "Transfert"})
    assert BankStatementLine.objects.get(pk=other.pk).state == LineState.IGNORED


def test_screen_rights(bank: Bank, client: Client) -> None:
    invoice = post_invoice(bank.books, "100.00")
    line = bank.line("120.00", label=f"VIR {invoice.number}")
    login(client, bank, "management")
    page = client.get(reverse("banking:reconcile"))
    assert page.status_code == 200 and "accept-form" not in page.content.decode()
    assert client.post(reverse("banking:reconcile_accept", args=[line.pk]),
                       {"proposal": f"inv:{invoice.pk}"}).status_code == 403  # fmt: skip
    client.logout()
    login(client, bank, "sales")
    assert client.get(reverse("banking:reconcile")).status_code == 403
    client.logout()
    assert client.get(reverse("banking:reconcile")).status_code == 302  # to the login page
    assert not StatementLineMatch.objects.exists()


def test_rules_pages(bank: Bank, client: Client) -> None:
    login(client, bank)
    account = Account.objects.get(company_id=bank.company_id, code="627")
    form = client.get(reverse("banking:rule_create"))
    assert form.status_code == 200
    bad = client.post(reverse("banking:rule_create"), {"name": "Frais", "direction": "any", "action": "post",
                                                       "sequence": "10", "account_id": account.pk})  # fmt: skip
    assert bad.status_code == 422 and "is-invalid" in bad.content.decode()
    ok = client.post(reverse("banking:rule_create"), {"name": "Frais", "direction": "outbound", "action": "post",
                                                      "sequence": "10", "account_id": account.pk,
                                                      "label_contains": "FRAIS", "is_active": "on"})  # fmt: skip
    assert ok.status_code == 302
    rule = ReconciliationRule.objects.get()
    listing = client.get(reverse("banking:rules"))
    assert "Frais" in listing.content.decode()
    bank.line("-3.00", label="FRAIS CB")
    client.post(reverse("banking:reconcile_apply_rules"))
    match = StatementLineMatch.objects.get(is_active=True)
    assert match.rule_id == rule.pk
    screen = client.get(reverse("banking:reconcile") + "?state=reconciled")
    assert "Frais" in screen.content.decode() and 'data-kind="rule"' in screen.content.decode()
    client.post(reverse("banking:rule_delete", args=[rule.pk]))
    assert not ReconciliationRule.objects.exists()
    client.logout()
    login(client, bank, "management")
    assert client.get(reverse("banking:rule_create")).status_code == 403


# --- API --------------------------------------------------------------------------------


def test_api_proposals_accept_replay_undo(bank: Bank, client: Client) -> None:
    h = key(bank, "finance", ["banking:write", "accounting:write"])
    invoice = post_invoice(bank.books, "100.00")
    line = bank.line("120.00", label=f"VIR {invoice.number}")
    found = client.get(f"{API}/statement-lines/{line.pk}/proposals", headers=h)
    assert found.status_code == 200, found.content
    best = found.json()["proposals"][0]
    assert best["key"] == f"inv:{invoice.pk}" and best["items"][0]["number"] == invoice.number
    assert any(r["code"] == "number" and invoice.number in r["text"] for r in best["reasons"])
    first = post_json(client, f"{API}/statement-lines/{line.pk}/accept", {"proposal": best["key"]}, h)
    assert first.status_code == 201, first.content
    again = post_json(client, f"{API}/statement-lines/{line.pk}/accept", {"proposal": best["key"]}, h)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"] and again.json()["replayed"]
    assert Payment.objects.filter(company_id=bank.company_id).count() == 1
    undone = post_json(client, f"{API}/statement-lines/{line.pk}/undo", {}, h)
    assert undone.status_code == 200 and undone.json()["state"] == "open"
    conflict = post_json(client, f"{API}/statement-lines/{line.pk}/undo", {}, h)
    assert conflict.status_code == 409


def test_api_bad_input_and_rights(bank: Bank, client: Client) -> None:
    h = key(bank, "finance", ["banking:write", "accounting:write"])
    invoice = post_invoice(bank.books, "100.00")
    line = bank.line("120.00")
    cases = [
        ("accept", {"proposal": "inv:x"}, 422),
        ("accept", {}, 422),
        ("split", {"allocations": []}, 422),
        ("split", {"allocations": [{"invoice_id": invoice.pk, "amount": "1.001"}]}, 422),
        ("split", {"allocations": [{"invoice_id": invoice.pk, "amount": "500.00"}]}, 422),
        ("manual", {"account_id": 0}, 422),
        ("ignore", {"reason": ""}, 422),
        ("undo", {"date": "2026-13-01"}, 422),
    ]
    for action, payload, status in cases:
        answer = post_json(client, f"{API}/statement-lines/{line.pk}/{action}", payload, h)
        assert answer.status_code == status, (action, payload, answer.content)
        assert "code" in answer.json()
    assert client.get(f"{API}/statement-lines/999999/proposals", headers=h).status_code == 404
    read_only = key(bank, "management", ["banking:read"])
    assert client.get(f"{API}/statement-lines/{line.pk}/proposals", headers=read_only).status_code == 200
    denied = post_json(client, f"{API}/statement-lines/{line.pk}/ignore", {"reason": "x"}, read_only)
    assert denied.status_code == 403
    assert BankStatementLine.objects.get(pk=line.pk).state == LineState.OPEN


def test_api_rules_crud_and_manual(bank: Bank, client: Client) -> None:
    h = key(bank, "finance", ["banking:write", "accounting:write"])
    account = Account.objects.get(company_id=bank.company_id, code="627")
    created = post_json(client, f"{API}/rules", {"name": "Frais", "label_contains": "FRAIS", "account_id": account.pk,
                                                 "amount_max": "20.00", "vat_rate": "20"}, h)  # fmt: skip
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["amount_max"] == "20.00" and rule["vat_rate"] == "20"
    bad = post_json(client, f"{API}/rules", {"name": "X", "label_regex": "(", "account_id": account.pk}, h)
    assert bad.status_code == 422 and "label_regex" in bad.json()["fields"]
    changed = client.patch(f"{API}/rules/{rule['id']}", data=json.dumps({"name": "Frais CB"}),
                           content_type="application/json", headers=h)  # fmt: skip
    assert changed.status_code == 200 and changed.json()["name"] == "Frais CB"
    assert [r["id"] for r in client.get(f"{API}/rules", headers=h).json()] == [rule["id"]]
    line = bank.line("-12.00", label="FRAIS TENUE")
    applied = post_json(client, f"{API}/reconcile/apply-rules", {}, h)
    assert applied.json() == {"reconciled": 1}
    other = bank.line("-30.00", label="INTERETS")
    manual = post_json(client, f"{API}/statement-lines/{other.pk}/manual", {"account_id": account.pk}, h)
    assert manual.status_code == 201 and manual.json()["kind"] == "manual"
    assert BankStatementLine.objects.get(pk=line.pk).state == LineState.RECONCILED
    assert client.delete(f"{API}/rules/{rule['id']}", headers=h).status_code == 204
    assert not rules.rule_list(bank.actor()).exists()

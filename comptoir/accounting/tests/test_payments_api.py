"""Payments API: register (201, replay 200 with the Idempotency-Key header, 409 on another
content), errors per allocation, list and detail, cancel, use a credit, matching, the
permission matrix, query counts of the list."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from comptoir.accounting.models import InvoiceState, JournalLine
from comptoir.accounting.models_payments import Payment
from comptoir.accounting.tests.invoices_kit import Books
from comptoir.accounting.tests.payments_kit import TODAY, books, fresh, pay, post_invoice
from comptoir.org import services as org_services

pytestmark = pytest.mark.django_db
__all__ = ["books"]
API = "/api/v1/accounting"


def key(books: Books, role: str) -> dict[str, str]:
    _k, secret = org_services.apikey_create(actor=books.actor(role), name=f"{role} key",
                                            scopes=["accounting:write", "contacts:write"])  # fmt: skip
    return {"Authorization": f"Bearer {secret}"}


def post(client: Client, url: str, headers: dict[str, str], body: Any) -> Any:
    return client.post(API + url, data=json.dumps(body), content_type="application/json", headers=headers)


def body(books: Books, amount: str, allocations: Any, **extra: Any) -> dict[str, Any]:
    data = {"organization_id": books.customer.pk, "amount": amount, "date": TODAY.isoformat(),
            "journal_id": books.ledger.journals["BQ"], "method": "transfer", "allocations": allocations}  # fmt: skip
    return data | extra


def test_register_replay_and_key_conflict(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    h = key(books, "finance") | {"Idempotency-Key": "3c1e9a"}
    data = body(books, "150.00", [{"invoice_id": invoice.pk, "amount": "120.00"}], reference="VIR 88")
    created = post(client, "/payments", h, data)
    assert created.status_code == 201, created.content
    payment = created.json()
    assert payment["state"] == "posted" and payment["unallocated"] == "30.00" and payment["amount"] == "150.00"
    assert payment["entry_number"].startswith("BQ-") and payment["partner_code"] == books.ledger.customer.code
    assert payment["allocations"] == [{"id": payment["allocations"][0]["id"], "invoice_id": invoice.pk,
                                       "invoice_number": invoice.number, "amount": "120.00",
                                       "date": TODAY.isoformat(), "from_credit": False, "is_active": True}]  # fmt: skip
    replay = post(client, "/payments", h, data)
    assert replay.status_code == 200 and replay.json() == payment
    conflict = post(client, "/payments", h, data | {"amount": "151.00"})
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_key_reused"
    # The key may also travel in the body; both must agree when both are sent.
    mismatch = post(client, "/payments", h, data | {"idempotency_key": "other"})
    assert mismatch.status_code == 422 and "idempotency_key" in mismatch.json()["fields"]
    assert Payment.objects.count() == 1 and fresh(invoice).state == InvoiceState.PAID


def test_errors_per_allocation_and_schema_errors(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    h = key(books, "finance")
    refused = post(client, "/payments", h, body(books, "500.00", [
        {"invoice_id": invoice.pk, "amount": "121.00"}, {"invoice_id": 987654, "amount": "1.00"}]))  # fmt: skip
    assert refused.status_code == 422
    assert set(refused.json()["fields"]) == {"allocations.0.amount", "allocations.1.invoice_id"}
    malformed = post(client, "/payments", h, body(books, "12.345", [{"invoice_id": invoice.pk, "amount": 5}],
                                                  method="bitcoin", surprise=1))  # fmt: skip
    assert malformed.status_code == 422
    fields = malformed.json()["fields"]
    assert {"amount", "method", "surprise", "allocations.0.amount"} <= set(fields)
    both = post(client, "/payments", h, body(books, "5.00", [{"invoice_id": invoice.pk, "amount": "5.00"}], auto=True))
    assert both.status_code == 422 and list(both.json()["fields"]) == ["allocations"]
    assert not Payment.objects.exists()


def test_list_detail_cancel_and_use_credit(books: Books, client: Client) -> None:
    first, second = post_invoice(books), post_invoice(books, "50.00")
    h = key(books, "finance")
    created = post(client, "/payments", h, body(books, "150.00", [], auto=True))
    assert created.status_code == 201
    payment = created.json()
    # auto: the oldest invoice in full (120), then 30 of the second.
    assert [(a["invoice_id"], a["amount"]) for a in payment["allocations"]] == [(first.pk, "120.00"),
                                                                                 (second.pk, "30.00")]  # fmt: skip
    credit = post(client, "/payments", h, body(books, "40.00", []))
    lender = credit.json()
    used = post(client, f"/payments/{lender['id']}/use-credit", h, {"invoice_id": second.pk, "amount": "30.00"})
    assert used.status_code == 200 and used.json()["unallocated"] == "10.00"
    assert fresh(second).state == InvoiceState.PAID
    listing = client.get(f"{API}/payments?organization_id={books.customer.pk}&state=posted", headers=h).json()
    assert listing["count"] == 2 and [row["id"] for row in listing["items"]] == [lender["id"], payment["id"]]
    assert client.get(f"{API}/payments?direction=outbound", headers=h).json()["count"] == 0
    cancelled = post(client, f"/payments/{payment['id']}/cancel", h, {})
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["cancel_entry_id"] and all(not a["is_active"] for a in cancelled.json()["allocations"])
    assert fresh(first).state == InvoiceState.POSTED and fresh(second).state == InvoiceState.PARTIALLY_PAID
    again = post(client, f"/payments/{payment['id']}/cancel", h, {})
    assert again.status_code == 409
    assert client.get(f"{API}/payments/987654", headers=h).status_code == 404


def test_matching_endpoints(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    credit = pay(books, "120.00", [])
    h = key(books, "finance")
    line = JournalLine.objects.get(entry_id=invoice.journal_entry_id, partner_account__isnull=False)
    lines = client.get(f"{API}/partner-accounts/{books.ledger.customer.pk}/lines", headers=h).json()
    assert {row["id"] for row in lines["items"]} == {line.pk, credit.credit_line_id}
    matched = post(client, "/matching/match", h, {"line_ids": [line.pk, credit.credit_line_id]})
    assert matched.status_code == 200 and matched.json()["code"] == "AA" and matched.json()["full"]
    assert client.get(f"{API}/partner-accounts/{books.ledger.customer.pk}/lines", headers=h).json()["count"] == 0
    unmatched = post(client, "/matching/unmatch", h, {"line_ids": [line.pk]})
    assert sorted(unmatched.json()["line_ids"]) == sorted([line.pk, credit.credit_line_id])
    bad = post(client, "/matching/match", h, {"line_ids": [line.pk, 987654]})
    assert bad.status_code == 422 and "line_ids" in bad.json()["fields"]


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [("finance", 200, 201), ("management", 200, 403), ("sales", 403, 403), ("marketing", 403, 403)],
)
def test_permission_matrix(books: Books, client: Client, role: str, read: int, write: int) -> None:
    invoice = post_invoice(books)
    h = key(books, role)
    assert client.get(f"{API}/payments", headers=h).status_code == read
    response = post(client, "/payments", h, body(books, "10.00", [{"invoice_id": invoice.pk, "amount": "10.00"}]))
    assert response.status_code == write, response.content
    match = post(client, "/matching/match", h, {"line_ids": [1, 2]})
    assert match.status_code in ((403,) if role != "finance" else (422,))


def test_payment_list_query_count_does_not_grow_with_rows(books: Books, client: Client) -> None:
    h = key(books, "finance")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{API}/payments", headers=h)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    invoice = post_invoice(books)
    pay(books, "10.00", [(invoice, "10.00")])
    count()  # the key's first use is recorded once
    few = count()
    for _ in range(6):
        pay(books, "10.00", [(invoice, "10.00")])
    assert count() == few <= 8
    detail = Payment.objects.first()
    assert detail is not None
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"{API}/payments/{detail.pk}", headers=h).status_code == 200
    assert len(ctx.captured_queries) <= 8

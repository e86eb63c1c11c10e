"""Payment pages: register from an invoice (amount prefilled, double submit records once),
one payment for several invoices with errors per invoice, list, detail, cancel, use the
credit, the matching page, the timeline, permissions and query counts."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounting.models import InvoiceState, JournalLine
from comptoir.accounting.models_payments import Payment, PaymentState
from comptoir.accounting.tests.invoices_kit import Books
from comptoir.accounting.tests.payments_kit import TODAY, books, fresh, partner_codes, pay, post_invoice
from comptoir.accounting.timeline_payments import credit_figures, fetch_payments
from comptoir.contacts.timeline import ORGANIZATION, Subject, registry
from comptoir.org.models import User

pytestmark = pytest.mark.django_db
__all__ = ["books"]


def login(client: Client, books: Books, role: str) -> Client:
    user = books.personas.users[role]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    user.refresh_from_db()
    client.force_login(user)
    return client


def form(books: Books, key: str, amount: str, **extra: str) -> dict[str, str]:
    return {"date": TODAY.isoformat(), "journal_id": str(books.ledger.journals["BQ"]), "method": "transfer",
            "amount": amount, "reference": "VIR 12", "idempotency_key": key} | extra  # fmt: skip


def hidden_key(html: str) -> str:
    found = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', html)
    assert found is not None
    return found.group(1)


def test_pay_an_invoice_from_its_page_and_a_double_submit_records_once(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    login(client, books, "finance")
    page = client.get(f"/accounting/invoices/{invoice.pk}/").content.decode()
    assert 'id="invoice-payments"' in page and f'href="/accounting/payments/new/?invoice={invoice.pk}"' in page
    form_page = client.get(f"/accounting/payments/new/?invoice={invoice.pk}").content.decode()
    assert 'name="amount" value="120.00"' in form_page
    key = hidden_key(form_page)
    assert hidden_key(client.get(f"/accounting/payments/new/?invoice={invoice.pk}").content.decode()) != key
    data = form(books, key, "120.00", invoice=str(invoice.pk))
    first = client.post("/accounting/payments/new/", data)
    payment = Payment.objects.get()
    assert first.status_code == 302 and first["Location"] == f"/accounting/payments/{payment.pk}/"
    second = client.post("/accounting/payments/new/", data)  # the double click
    assert second.status_code == 302 and second["Location"] == first["Location"]
    assert Payment.objects.count() == 1 and fresh(invoice).state == InvoiceState.PAID
    detail = client.get(first["Location"]).content.decode()
    assert 'data-state="posted"' in detail and invoice.number in detail and "already recorded" in detail
    after = client.get(f"/accounting/invoices/{invoice.pk}/").content.decode()
    assert 'id="invoice-pay"' not in after and f'data-payment="{payment.pk}"' in after


def test_paying_more_than_due_from_an_invoice_keeps_the_rest_as_credit(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    login(client, books, "finance")
    response = client.post("/accounting/payments/new/", form(books, "k" * 32, "150.00", invoice=str(invoice.pk)))
    assert response.status_code == 302
    payment = Payment.objects.get()
    assert payment.unallocated == D("30.00") and fresh(invoice).state == InvoiceState.PAID
    assert client.get(f"/accounting/payments/new/?invoice={invoice.pk}").status_code == 404  # nothing left to pay
    again = client.post("/accounting/payments/new/", form(books, "j" * 32, "10.00", invoice=str(invoice.pk)))
    assert again.status_code == 422 and "not open for payment" in again.content.decode()
    assert Payment.objects.count() == 1


def test_one_payment_for_several_invoices_reports_errors_per_invoice(books: Books, client: Client) -> None:
    first, second = post_invoice(books), post_invoice(books, "50.00")
    login(client, books, "finance")
    url = f"/accounting/payments/new/?organization={books.customer.pk}"
    page = client.get(url).content.decode()
    assert f'name="allocate-{first.pk}"' in page and f'name="allocate-{second.pk}"' in page
    key = hidden_key(page)
    data = form(books, key, "200.00", organization=str(books.customer.pk), direction="inbound")
    refused = client.post("/accounting/payments/new/", data | {f"allocate-{first.pk}": "130.00",
                                                                f"allocate-{second.pk}": "60.00"})  # fmt: skip
    assert refused.status_code == 422
    html = refused.content.decode()
    assert (
        f'data-field-error="allocation-{first.pk}"' in html and f'data-field-error="allocation-{second.pk}"' not in html
    )
    assert hidden_key(html) == key and not Payment.objects.exists()
    accepted = client.post("/accounting/payments/new/", data | {f"allocate-{first.pk}": "120.00",
                                                                 f"allocate-{second.pk}": "60.00"})  # fmt: skip
    assert accepted.status_code == 302
    assert fresh(first).state == fresh(second).state == InvoiceState.PAID
    assert Payment.objects.get().unallocated == D("20.00")


def test_detail_cancel_and_use_credit(books: Books, client: Client) -> None:
    first, second = post_invoice(books), post_invoice(books, "50.00")
    lender = pay(books, "150.00", [(first, "120.00")])
    login(client, books, "finance")
    detail = client.get(f"/accounting/payments/{lender.pk}/").content.decode()
    assert 'id="credit-form"' in detail and 'data-credit="30.00"' in detail
    wrong = client.post(f"/accounting/payments/{lender.pk}/use-credit/", {"invoice_id": second.pk, "amount": "31.00"})
    assert wrong.status_code == 422 and "is-invalid" in wrong.content.decode()
    used = client.post(f"/accounting/payments/{lender.pk}/use-credit/", {"invoice_id": second.pk, "amount": "30.00"})
    assert used.status_code == 302 and fresh(second).residual_amount == D("30.00")
    cancelled = client.post(f"/accounting/payments/{lender.pk}/cancel/", {"date": TODAY.isoformat()})
    assert cancelled.status_code == 302
    lender.refresh_from_db()
    assert lender.state == PaymentState.CANCELLED
    assert fresh(first).state == InvoiceState.POSTED and fresh(second).state == InvoiceState.POSTED
    page = client.get(f"/accounting/payments/{lender.pk}/").content.decode()
    assert 'id="payment-reversal"' in page and 'id="payment-cancel"' not in page


def test_matching_page_matches_and_unmatches(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    credit = pay(books, "120.00", [])
    line = JournalLine.objects.get(entry_id=invoice.journal_entry_id, partner_account__isnull=False)
    login(client, books, "finance")
    url = f"/accounting/partners/{books.ledger.customer.pk}/matching/"
    ledger = client.get(
        f"/accounting/accounts/{books.ledger.accounts['411']}/ledger/?partner={books.ledger.customer.pk}"
    )
    assert f'href="{url}"' in ledger.content.decode()
    page = client.get(url).content.decode()
    assert f'data-line="{line.pk}"' in page and f'data-line="{credit.credit_line_id}"' in page
    matched = client.post(url + "apply/", {"line": [line.pk, credit.credit_line_id], "match": "1"})
    assert matched.status_code == 302 and partner_codes(invoice) == ["AA"]
    assert f'data-line="{line.pk}"' not in client.get(url).content.decode()  # open lines only
    assert 'data-code="AA"' in client.get(url + "?all=1").content.decode()
    one_side = client.post(url + "apply/", {"line": [line.pk], "match": "1"}, follow=True)
    assert "already fully matched" in one_side.content.decode()
    client.post(url + "apply/", {"line": [line.pk], "unmatch": "1"})
    assert partner_codes(invoice) == [""]


@pytest.mark.parametrize(
    ("role", "view", "register"), [("finance", 200, 200), ("management", 200, 403), ("sales", 403, 403)]
)
def test_page_permissions(books: Books, client: Client, role: str, view: int, register: int) -> None:
    invoice = post_invoice(books)
    payment = pay(books, "10.00", [(invoice, "10.00")])
    login(client, books, role)
    assert client.get("/accounting/payments/").status_code == view
    assert client.get(f"/accounting/payments/{payment.pk}/").status_code == view
    assert client.get(f"/accounting/payments/new/?invoice={invoice.pk}").status_code == register
    cancel = client.post(f"/accounting/payments/{payment.pk}/cancel/", {"date": TODAY.isoformat()})
    assert cancel.status_code == (302 if register == 200 else 403)
    panel = client.get(f"/accounting/invoices/{invoice.pk}/")
    if panel.status_code == 200:
        assert ('id="invoice-payments"' in panel.content.decode()) == (view == 200)


def test_payments_list_query_count_does_not_grow(books: Books, client: Client) -> None:
    invoice = post_invoice(books)
    pay(books, "10.00", [(invoice, "10.00")])
    login(client, books, "finance")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/accounting/payments/")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    count()
    few = count()
    for _ in range(5):
        pay(books, "10.00", [(invoice, "10.00")])
    pay(books, "5.00", [], organization_id=books.eu_customer.pk)
    assert count() == few


def test_timeline_shows_payments_and_the_customer_credit(books: Books) -> None:
    invoice = post_invoice(books)
    pay(books, "150.00", [(invoice, "120.00")])
    subject = Subject(ORGANIZATION, books.customer.pk)
    assert "payments" in registry.sources and registry.sources["payments"].module == "accounting"
    entries = fetch_payments(books.actor(), subject, None, 10)
    assert len(entries) == 1 and entries[0].kind == "payment" and "150" in entries[0].title
    assert fetch_payments(books.actor("sales"), subject, None, 10) == []
    figures = credit_figures(books.actor(), subject)
    assert [(f.code, f.raw) for f in figures] == [("customer_credit", "30.00")]

"""Currency gaps: a reversed foreign-currency entry nets to zero in the currency too; a credit note
in a foreign currency allocated to an invoice booked at another rate books the realised exchange
difference (666/766) so both documents are matched at zero in EUR."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from comptoir.accounting import credit_allocation, currency, invoices, revaluation, services, terms
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import FiscalYear, Invoice, InvoiceKind, InvoiceState, JournalEntry, JournalLine
from comptoir.accounting.tests.conftest import next_year, today
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.accounting.tests.payments_kit import fresh, partner_codes
from comptoir.accounting.tests.test_api import call, key
from comptoir.accounting.tests.test_views import login
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.kernel.models import AuditEntry
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


def _days_back() -> tuple[dt.date, dt.date, dt.date]:
    """20, 10 and 3 days back, in one fiscal year with its year end after them (the year-end tests revalue
    at DAY2's rate): from 1 to 20 January, last year's 11, 21 and 28 December instead."""
    now = today()
    if (now - dt.timedelta(days=20)).year == now.year:
        return now - dt.timedelta(days=20), now - dt.timedelta(days=10), now - dt.timedelta(days=3)
    return dt.date(now.year - 1, 12, 11), dt.date(now.year - 1, 12, 21), dt.date(now.year - 1, 12, 28)


# Taken at import: still in the past, and in one fiscal year, once the run has crossed midnight.
DAY0, DAY1, DAY2 = _days_back()


@pytest.fixture
def books(personas: Personas) -> Books:
    b = make_books(personas)
    actor = b.actor()
    for day, rate in ((DAY0, "1.1"), (DAY1, "1.25"), (DAY2, "1.0")):
        currency.rate_set(actor=actor, currency="USD", date=day, rate=rate)
    return b


# --- 2. Reversal copies the currency amounts -------------------------------------------------


def _usd_entry(books: Books) -> JournalEntry:
    """A posted manual entry in USD: 1000 USD at 1.25 → 800.00 EUR, bank against a customer."""
    ledger = books.ledger
    actor = books.actor()
    lines = currency.convert_lines(
        [{"account_id": ledger.accounts["512"], "label": "USD", "debit": D("1000.00"), "credit": D(0)},
         {"account_id": ledger.accounts["411"], "partner_account_id": ledger.customer.pk, "label": "USD",
          "debit": D(0), "credit": D("1000.00")}], "USD", D("1.25"),
    )  # fmt: skip
    plain, stamps = currency.split_stamps(lines)
    entry = services.entry_create(actor=actor, journal_id=ledger.journals["OD"], date=DAY1, label="USD", lines=plain)
    currency.stamp(entry, stamps)
    return services.entry_post(actor=actor, entry_id=entry.pk)


def _currency_lines(entry_id: int) -> list[tuple[D, D, D | None, str]]:
    return list(JournalLine.objects.filter(entry_id=entry_id).order_by("sequence")
                .values_list("debit", "credit", "amount_currency", "currency"))  # fmt: skip


def test_reversal_copies_negated_currency_amounts(books: Books) -> None:
    entry = _usd_entry(books)
    assert _currency_lines(entry.pk) == [(D("800.00"), D(0), D("1000.00"), "USD"),
                                         (D(0), D("800.00"), D("-1000.00"), "USD")]  # fmt: skip
    reversal = services.entry_reverse(actor=books.actor(), entry_id=entry.pk, date=DAY2)
    assert _currency_lines(reversal.pk) == [(D(0), D("800.00"), D("-1000.00"), "USD"),
                                            (D("800.00"), D(0), D("1000.00"), "USD")]  # fmt: skip
    both = JournalLine.objects.filter(entry_id__in=[entry.pk, reversal.pk])
    assert sum((row.amount_currency for row in both), D(0)) == 0
    assert sum((row.debit - row.credit for row in both), D(0)) == 0
    assert verify_chain(books.company_id).ok


def test_reversal_from_the_api_and_the_page_keep_the_currency(books: Books, client: Client) -> None:
    first, second = _usd_entry(books), _usd_entry(books)
    response = call(client, "post", f"/entries/{first.pk}/reverse", key(books.ledger, "finance"),
                    {"date": DAY2.isoformat()})  # fmt: skip
    assert response.status_code == 201, response.content
    assert [row[2:] for row in _currency_lines(response.json()["id"])] == [
        (D("-1000.00"), "USD"),
        (D("1000.00"), "USD"),
    ]
    login(client, books.ledger, "finance")
    response = client.post(reverse("accounting:entry_reverse", args=[second.pk]), {"date": DAY2.isoformat()})
    assert response.status_code == 302
    reversal = JournalEntry.objects.get(reversal_of=second)
    assert [row[2:] for row in _currency_lines(reversal.pk)] == [(D("-1000.00"), "USD"), (D("1000.00"), "USD")]


# --- 3. Foreign-currency credit note allocation: realised exchange difference ------------------


def _document(books: Books, kind: str, day: dt.date, price: str = "1000.00") -> Invoice:
    extra: dict[str, Any] = {"supplier_reference": f"SUP-{kind}-{day}"} if kind == InvoiceKind.VENDOR_BILL else {}
    return books.posted([line(unit_price=price)], kind=kind, currency="USD", issue_date=day, **extra)


def _credit(books: Books, origin: Invoice, day: dt.date) -> Invoice:
    draft = invoices.invoice_credit(actor=books.actor(), invoice_id=origin.pk)
    extra = {"supplier_reference": f"AV-{origin.pk}"} if draft.kind == InvoiceKind.VENDOR_REFUND else {}
    invoices.invoice_update(actor=books.actor(), invoice_id=draft.pk, issue_date=day, **extra)
    return invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=False)


def _eur(invoice: Invoice) -> D:
    return currency.invoice_company_total(invoice)


def _group_balance(invoice: Invoice) -> D:
    code = partner_codes(invoice)[0]
    rows = JournalLine.objects.filter(partner_account_id=invoice.partner_account_id, matching_code=code)
    return sum((row.debit - row.credit for row in rows), D(0))


@pytest.mark.parametrize(
    ("kind", "invoice_day", "credit_day", "account"),
    [
        (InvoiceKind.CUSTOMER_INVOICE, DAY0, DAY1, "666"),  # invoiced at 1.1, credited at 1.25: loss
        (InvoiceKind.CUSTOMER_INVOICE, DAY1, DAY2, "766"),  # invoiced at 1.25, credited at 1.0: gain
        (InvoiceKind.VENDOR_BILL, DAY0, DAY1, "766"),  # billed at 1.1, refunded at 1.25: gain
        (InvoiceKind.VENDOR_BILL, DAY1, DAY2, "666"),  # billed at 1.25, refunded at 1.0: loss
    ],
)
def test_credit_allocation_books_the_exchange_difference(
    books: Books, kind: str, invoice_day: dt.date, credit_day: dt.date, account: str
) -> None:
    invoice = _document(books, kind, invoice_day)
    credit = _credit(books, invoice, credit_day)
    assert invoice.currency == credit.currency == "USD" and invoice.total_amount == credit.total_amount
    expected = abs(_eur(invoice) - _eur(credit))
    assert expected > 0
    result = credit_allocation.credit_allocate(actor=books.actor(), credit_note_id=credit.pk,
                                               allocations=[{"invoice_id": invoice.pk,
                                                             "amount": str(invoice.total_amount)}])  # fmt: skip
    invoice, credit = fresh(invoice), fresh(credit)
    assert invoice.state == credit.state == InvoiceState.PAID
    entry_id = result.allocations[0].vat_entry_id
    assert entry_id is not None
    exchange = JournalLine.objects.filter(entry_id=entry_id, account__code__in=["666", "766"])
    booked = {code: (d, c) for code, d, c in exchange.values_list("account__code", "debit", "credit")}
    assert list(booked) == [account]
    assert booked[account] == ((expected, D(0)) if account == "666" else (D(0), expected))
    # Both documents' partner lines (and the difference's) share one full code and sum to zero in EUR.
    codes = partner_codes(invoice) + partner_codes(credit)
    assert len(set(codes)) == 1 and codes[0].isupper()
    assert _group_balance(invoice) == 0
    partner_balance = JournalLine.objects.filter(partner_account_id=invoice.partner_account_id, is_posted=True)
    assert sum((row.debit - row.credit for row in partner_balance), D(0)) == 0
    assert verify_chain(books.company_id).ok


def test_credit_allocation_in_two_parts_ends_at_zero(books: Books) -> None:
    invoice = _document(books, InvoiceKind.CUSTOMER_INVOICE, DAY0)
    credit = _credit(books, invoice, DAY1)
    half = (D(invoice.total_amount) / 2).quantize(D("0.01"))
    for amount in (half, D(invoice.total_amount) - half):
        credit_allocation.credit_allocate(actor=books.actor(), credit_note_id=credit.pk,
                                          allocations=[{"invoice_id": invoice.pk, "amount": str(amount)}])  # fmt: skip
    invoice = fresh(invoice)
    assert invoice.state == InvoiceState.PAID
    assert partner_codes(invoice)[0].isupper() and _group_balance(invoice) == 0
    loss = JournalLine.objects.filter(company_id=books.company_id, account__code="666", is_posted=True)
    assert sum((row.debit - row.credit for row in loss), D(0)) == _eur(invoice) - _eur(fresh(credit))


def test_exchange_difference_and_vat_on_receipts_share_one_entry(books: Books) -> None:
    """Services: VAT on receipts moves (44574 → 44571) with the allocation, in the same OD entry."""
    invoice = books.posted([line(unit_price="1000.00", operation="services")], currency="USD", issue_date=DAY0)
    credit = _credit(books, invoice, DAY1)
    allocations = [{"invoice_id": invoice.pk, "amount": str(invoice.total_amount)}]
    result = credit_allocation.credit_allocate(actor=books.actor(), credit_note_id=credit.pk, allocations=allocations)
    # The waiting VAT of both documents (181.82 at 1.1, 160.00 at 1.25) moves net; the difference on 411.
    assert _codes(result.allocations[0].vat_entry_id) == [
        ("44574", D("21.82"), D(0)),
        ("44571", D(0), D("21.82")),
        ("411", D(0), D("130.91")),
        ("666", D("130.91"), D(0)),
    ]
    invoice = fresh(invoice)
    assert partner_codes(invoice)[0].isupper() and _group_balance(invoice) == 0
    assert verify_chain(books.company_id).ok


def test_credit_allocation_in_euros_books_no_exchange_difference(books: Books) -> None:
    invoice = books.posted([line(unit_price="100.00")], issue_date=DAY0)
    credit = _credit(books, invoice, DAY1)
    allocations = [{"invoice_id": invoice.pk, "amount": "120.00"}]
    result = credit_allocation.credit_allocate(actor=books.actor(), credit_note_id=credit.pk, allocations=allocations)
    assert result.allocations[0].vat_entry_id is None
    assert not JournalLine.objects.filter(company_id=books.company_id, account__code__in=["666", "766"]).exists()


# --- 5. An archived payment term is refused on a draft ---------------------------------------

BALANCE_30 = [{"kind": "balance", "days": "30"}]


def _archived_term(books: Books, name: str = "Old term") -> int:
    term = invoices.payment_term_create(actor=books.actor(), name=name, lines=BALANCE_30)
    terms.payment_term_set_active(actor=books.actor(), term_id=term.pk, active=False)
    return term.pk


def test_service_refuses_an_archived_term_per_field_and_writes_nothing(books: Books) -> None:
    term_id = _archived_term(books)
    with pytest.raises(ValidationFailed) as caught:
        books.invoice(payment_term_id=term_id)
    assert set(caught.value.fields) == {"payment_term_id"}
    assert not Invoice.objects.filter(company_id=books.company_id).exists()
    draft = books.invoice()
    with pytest.raises(ValidationFailed) as caught:
        invoices.invoice_update(actor=books.actor(), invoice_id=draft.pk, payment_term_id=term_id, note="changed")
    assert set(caught.value.fields) == {"payment_term_id"}
    assert fresh(draft).payment_term_id != term_id and fresh(draft).note == ""


def test_a_draft_keeps_the_term_it_had_before_it_was_archived(books: Books) -> None:
    term = invoices.payment_term_create(actor=books.actor(), name="Kept", lines=BALANCE_30)
    draft = books.invoice(payment_term_id=term.pk)
    terms.payment_term_set_active(actor=books.actor(), term_id=term.pk, active=False)
    invoices.invoice_update(actor=books.actor(), invoice_id=draft.pk, payment_term_id=term.pk, note="still")
    assert (fresh(draft).payment_term_id, fresh(draft).note) == (term.pk, "still")


def test_api_refuses_an_archived_term_with_a_field_error(books: Books, client: Client) -> None:
    term_id = _archived_term(books)
    headers = key(books.ledger, "finance")
    body = {"kind": "customer_invoice", "organization_id": books.customer.pk, "payment_term_id": term_id,
            "lines": [{"name": "Conseil", "quantity": "1", "unit_price": "100.00"}]}  # fmt: skip
    response = call(client, "post", "/invoices", headers, body)
    assert response.status_code == 422, response.content
    assert set(response.json()["fields"]) == {"payment_term_id"}
    draft = books.invoice()
    response = call(client, "patch", f"/invoices/{draft.pk}", headers, {"payment_term_id": term_id})
    assert response.status_code == 422 and set(response.json()["fields"]) == {"payment_term_id"}
    assert fresh(draft).payment_term_id != term_id


def test_form_refuses_an_archived_term_on_the_field(books: Books, client: Client) -> None:
    term_id = _archived_term(books)
    login(client, books.ledger, "finance")
    data = {
        "organization_id": books.customer.pk, "issue_date": "", "delivery_date": "", "payment_term_id": term_id,
        "due_date": "", "fiscal_position": "", "language": "", "purchase_order": "", "note": "",
        "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "500",
        "lines-0-name": "Conseil", "lines-0-quantity": "1", "lines-0-unit_price": "100",
    }  # fmt: skip
    response = client.post("/accounting/invoices/new/?kind=customer_invoice", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-field-error="payment_term_id"' in html and "archived" in html
    assert not Invoice.objects.filter(company_id=books.company_id).exists()


# --- 4. Provision for unrealised exchange losses (6865 / 1515, reversed by 7865) ---------------


def _codes(entry_id: int | None) -> list[tuple[str, D, D]]:
    return list(JournalLine.objects.filter(entry_id=entry_id).order_by("sequence")
                .values_list("account__code", "debit", "credit"))  # fmt: skip


def _customer_usd(books: Books, price: str, day: dt.date = DAY0) -> Invoice:
    return books.posted([line(unit_price=price)], currency="USD", issue_date=day)


def _bill_usd(books: Books, price: str, reference: str) -> Invoice:
    return books.posted([line(unit_price=price)], kind=InvoiceKind.VENDOR_BILL, currency="USD", issue_date=DAY0,
                        supplier_reference=reference)  # fmt: skip


def test_net_unrealised_loss_is_provisioned_and_reversed_the_next_day(books: Books) -> None:
    _customer_usd(books, "1000.00")  # 1200 USD booked at 1.1 = 1090.91; at 1.25 = 960.00: loss 130.91
    preview = revaluation.revaluation_preview(books.actor(), DAY1)
    assert (preview.losses, preview.gains, preview.provision) == (D("130.91"), D(0), D("130.91"))
    assert preview.provision_entry is None
    done = revaluation.revalue(actor=books.actor(), date=DAY1)
    assert done.provision_entry is not None and done.provision_reversal is not None
    assert done.provision_entry.date == DAY1 and done.provision_reversal.date == DAY1 + dt.timedelta(days=1)
    assert _codes(done.provision_entry.pk) == [("6865", D("130.91"), D(0)), ("1515", D(0), D("130.91"))]
    assert _codes(done.provision_reversal.pk) == [("1515", D("130.91"), D(0)), ("7865", D(0), D("130.91"))]
    assert done.provision_reversal.reversal_of_id == done.provision_entry.pk
    assert revaluation.provision_at(books.company_id, DAY1) == (done.provision_entry, done.provision_reversal)
    assert AuditEntry.objects.filter(action="revaluation.provision", object_id=str(done.provision_entry.pk)).exists()
    provision = JournalLine.objects.filter(company_id=books.company_id, account__code="1515", is_posted=True)
    assert sum((row.debit - row.credit for row in provision), D(0)) == 0  # provisioned, then reversed
    assert verify_chain(books.company_id).ok
    with pytest.raises(Conflict):
        revaluation.provision_post(actor=books.actor(), date=DAY1)


def test_gains_offset_losses_and_a_net_gain_needs_no_provision(books: Books) -> None:
    _customer_usd(books, "500.00")  # 600 USD: 545.46 (454.55 + 90.91 VAT) → 480.00, loss 65.46
    _bill_usd(books, "1000.00", "US-1")  # we owe 1200 USD: 1090.91 → 960.00, gain 130.91
    done = revaluation.revalue(actor=books.actor(), date=DAY1)
    assert (done.losses, done.gains, done.provision) == (D("65.46"), D("130.91"), D(0))
    assert done.provision_entry is None
    assert not JournalLine.objects.filter(company_id=books.company_id, account__code__in=["6865", "1515"]).exists()
    with pytest.raises(ValidationFailed) as caught:
        revaluation.provision_post(actor=books.actor(), date=DAY1)
    assert set(caught.value.fields) == {"date"}


def test_a_net_loss_after_offsetting_gains_is_provisioned_for_the_difference(books: Books) -> None:
    _customer_usd(books, "1000.00")  # loss 130.91
    _bill_usd(books, "500.00", "US-2")  # gain 65.46
    done = revaluation.revalue(actor=books.actor(), date=DAY1)
    assert (done.losses, done.gains) == (D("130.91"), D("65.46"))
    assert done.provision == D("65.45") and done.provision_entry is not None
    assert _codes(done.provision_entry.pk) == [("6865", D("65.45"), D(0)), ("1515", D(0), D("65.45"))]


def test_provision_for_a_date_revalued_before_and_the_closing_page(books: Books, client: Client) -> None:
    year = FiscalYear.objects.get(company_id=books.company_id, start_date__lte=DAY1, end_date__gte=DAY1)
    next_year(books.company_id, year)
    with pytest.raises(Conflict):  # not revalued yet
        revaluation.provision_post(actor=books.actor(), date=year.end_date)
    # At the year-end rate (1.0) a customer invoice booked at 1.1 gains: 1090.91 → 1200.00.
    _customer_usd(books, "1000.00")
    done = revaluation.revalue(actor=books.actor(), date=year.end_date)
    assert done.gains == D("109.09") and done.provision_entry is None
    # A supplier bill entered late, dated before the year's end, turns the position into a loss:
    # 2400 USD booked 2181.82, 2400.00 at the year-end rate: 218.18 lost, 109.09 net.
    _bill_usd(books, "2000.00", "US-LATE")
    login(client, books.ledger, "finance")
    page = client.get(reverse("accounting:year_end", args=[year.pk])).content.decode()
    assert 'id="revaluation-done"' in page and 'id="provision-form"' in page
    assert client.post(reverse("accounting:year_end_provision", args=[year.pk])).status_code == 302
    entry, reversal = revaluation.provision_at(books.company_id, year.end_date)
    assert entry is not None and reversal is not None
    assert _codes(entry.pk) == [("6865", D("109.09"), D(0)), ("1515", D(0), D("109.09"))]
    assert reversal.date == year.end_date + dt.timedelta(days=1)
    page = client.get(reverse("accounting:year_end", args=[year.pk])).content.decode()
    assert 'id="provision-done"' in page and 'id="provision-form"' not in page
    assert client.post(reverse("accounting:year_end_provision", args=[year.pk])).status_code == 302  # refused: once
    assert (
        JournalEntry.objects.filter(source_type=revaluation.SOURCE_TYPE, source_id__contains="provision").count() == 2
    )
    assert verify_chain(books.company_id).ok


def test_provision_in_the_api(books: Books, client: Client) -> None:
    _customer_usd(books, "1000.00")
    headers = key(books.ledger, "finance")
    preview = call(client, "get", f"/revaluation?date={DAY1.isoformat()}", headers).json()
    assert preview["provision"] == "130.91" and preview["provision_entry_id"] is None
    posted = call(client, "post", "/revaluation", headers, {"date": DAY1.isoformat()})
    assert posted.status_code == 201, posted.content
    body = posted.json()
    assert body["provision_entry_id"] and body["provision_reversal_id"]
    again = call(client, "post", "/revaluation/provision", headers, {"date": DAY1.isoformat()})
    assert again.status_code == 409
    missing = call(client, "post", "/revaluation/provision", headers, {"date": DAY2.isoformat()})
    assert missing.status_code == 409
    bad = call(client, "post", "/revaluation/provision", headers, {"date": "2026-02-30"})
    assert bad.status_code == 422 and "date" in bad.json()["fields"]

"""Multi-currency: rates by date, invoices and payments in USD, exchange differences, revaluation, FEC."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from comptoir.accounting import closing, currency, fec, fec_export, invoices, payments, revaluation
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.einvoice import cii
from comptoir.accounting.models import FiscalYear, Invoice, InvoiceState, JournalEntry, JournalLine
from comptoir.accounting.models_currency import CurrencyRate
from comptoir.accounting.models_payments import Matching, Payment
from comptoir.accounting.tests.conftest import next_year, today
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.accounting.tests.payments_kit import fresh
from comptoir.accounting.tests.test_api import API, call, key
from comptoir.accounting.tests.test_views import login
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db
D = Decimal


def _days_back() -> tuple[dt.date, dt.date]:
    """Ten and three days back, in one fiscal year with its year end after both (the year-end tests revalue
    at DAY2's rate): from 1 to 10 January, last year's 21 and 28 December instead."""
    now = today()
    if (now - dt.timedelta(days=10)).year == now.year:
        return now - dt.timedelta(days=10), now - dt.timedelta(days=3)
    return dt.date(now.year - 1, 12, 21), dt.date(now.year - 1, 12, 28)


# Taken at import: still in the past, and in one fiscal year, once the run has crossed midnight.
DAY1, DAY2 = _days_back()


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def set_rates(books: Books) -> None:
    actor = books.actor()
    currency.rate_set(actor=actor, currency="usd", date=DAY1, rate="1.1")
    currency.rate_set(actor=actor, currency="USD", date=DAY2, rate="1.25")


def usd_invoice(books: Books, price: str = "1000.00", day: dt.date = DAY1) -> Invoice:
    return books.posted([line(unit_price=price)], currency="USD", issue_date=day)


def no_rate(error: ValidationFailed) -> bool:
    """The missing-rate message on the currency field (in the UI language: fr in the tests)."""
    message = error.fields["currency"][0]
    return "USD" in message and ("No exchange rate" in message or "Aucun taux de change" in message)


def lines_of(entry_id: int | None) -> list[tuple[str, D, D, D | None, str]]:
    return list(
        JournalLine.objects.filter(entry_id=entry_id).order_by("sequence")
        .values_list("account__code", "debit", "credit", "amount_currency", "currency")
    )  # fmt: skip


# --- Rates ----------------------------------------------------------------------------


def test_rate_on_takes_the_latest_rate_on_or_before_the_date(books: Books) -> None:
    set_rates(books)
    assert currency.rate_on(books.company_id, "USD", DAY1) == D("1.1")
    assert currency.rate_on(books.company_id, "USD", DAY2 - dt.timedelta(days=1)) == D("1.1")
    assert currency.rate_on(books.company_id, "USD", today()) == D("1.25")
    assert currency.rate_on(books.company_id, "EUR", today()) == D(1)
    with pytest.raises(ValidationFailed) as caught:
        currency.rate_on(books.company_id, "USD", DAY1 - dt.timedelta(days=1))
    assert no_rate(caught.value)


def test_rate_set_replaces_the_day_and_validates(books: Books) -> None:
    set_rates(books)
    currency.rate_set(actor=books.actor(), currency="USD", date=DAY1, rate="1.08501234")
    assert CurrencyRate.objects.get(company_id=books.company_id, currency="USD", date=DAY1).rate == D("1.08501234")
    with pytest.raises(ValidationFailed) as caught:
        currency.rate_set(actor=books.actor(), currency="XYZ", date="nope", rate="-1")
    assert set(caught.value.fields) == {"currency", "date", "rate"}
    with pytest.raises(ValidationFailed) as caught:
        currency.rate_set(actor=books.actor(), currency="EUR", date=DAY1, rate="1")
    assert "currency" in caught.value.fields


def test_rates_import_csv_all_or_nothing(books: Books) -> None:
    data = b"date,currency,rate\n2026-01-02,USD,1.09\n2026-01-02,GBP,0.85\n"
    count = currency.rates_import(actor=books.actor(), data=data)
    assert count == 2
    with pytest.raises(ValidationFailed) as caught:
        currency.rates_import(actor=books.actor(), data="2026-01-03;CHF;0.95\n2026-01-03;ZZZ;1\n")
    assert "rows.2.currency" in caught.value.fields
    assert not CurrencyRate.objects.filter(company_id=books.company_id, currency="CHF").exists()


def test_rates_import_bad_bytes_and_huge_rates_are_row_errors_not_crashes(books: Books) -> None:
    # A spreadsheet's Windows-1252 export (a "€" in the header, not UTF-8) still reads.
    assert (
        currency.rates_import(actor=books.actor(), data="date;devise (€);taux\n2026-01-04;USD;1.10\n".encode("cp1252"))
        == 1
    )
    # A rate of 1E+40 used to raise InvalidOperation while quantizing: now a per-row error.
    with pytest.raises(ValidationFailed) as caught:
        currency.rates_import(actor=books.actor(), data=b"2026-01-05,USD,1e40\n2026-01-05,GBP,\xff\n")
    assert set(caught.value.fields) == {"rows.1.rate", "rows.2.rate"}
    assert not CurrencyRate.objects.filter(company_id=books.company_id, date="2026-01-05").exists()
    with pytest.raises(ValidationFailed) as caught:
        currency.rate_set(actor=books.actor(), currency="USD", date=DAY1, rate="1E+40")
    assert "rate" in caught.value.fields


# --- Invoices -------------------------------------------------------------------------


def test_usd_invoice_is_posted_in_eur_at_the_issue_date_rate(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books, "1000.01")
    assert (invoice.total_amount, invoice.currency) == (D("1200.01"), "USD")
    rows = lines_of(invoice.journal_entry_id)
    assert sum(r[1] for r in rows) == sum(r[2] for r in rows)
    partner = rows[0]
    assert partner[0] == "411" and partner[3:] == (D("1200.01"), "USD")
    assert partner[1] == D("1090.92")  # 1200.01 / 1.1 = 1090.918...
    income = next(r for r in rows if r[0].startswith("70"))
    assert income[2] == D("909.10") and income[3] == D("-1000.01")  # 909.1000 → the rounding goes elsewhere
    vat_line = next(r for r in rows if r[0].startswith("445"))
    assert vat_line[3] == D("-200.00")


def test_usd_invoice_without_rate_is_a_field_error(books: Books) -> None:
    draft = books.invoice([line()], currency="USD", issue_date=DAY1)
    with pytest.raises(ValidationFailed) as caught:
        invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=False)
    assert no_rate(caught.value)
    assert Invoice.objects.get(pk=draft.pk).state == InvoiceState.DRAFT


def test_unknown_currency_is_refused(books: Books) -> None:
    with pytest.raises(ValidationFailed) as caught:
        books.invoice([line()], currency="XXQ")
    assert "currency" in caught.value.fields


def test_usd_invoice_document_carries_the_vat_total_in_eur(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books)
    document = invoices.invoice_document(invoice)
    assert document.currency == "USD"
    assert document.accounting_currency == "EUR"
    assert document.vat_total_in_accounting_currency == D("181.82")  # 200 / 1.1


# --- Payments -------------------------------------------------------------------------


def usd_pay(books: Books, amount: str, invoice: Invoice | None, part: str | None = None,
            day: dt.date = DAY2, **extra: object) -> Payment:  # fmt: skip
    allocations = [{"invoice_id": invoice.pk, "amount": part or amount}] if invoice else []
    return payments.payment_register(
        actor=books.actor(), organization_id=books.customer.pk, amount=amount, date=day, currency="USD",
        journal_id=books.ledger.journals["BQ"], method="transfer", allocations=allocations, **extra,
    )  # fmt: skip


def partner_balance(invoice: Invoice) -> D:
    rows = JournalLine.objects.filter(partner_account_id=invoice.partner_account_id).values_list("debit", "credit")
    return sum((d - c for d, c in rows), D(0))


def test_full_payment_at_another_rate_books_the_loss_and_matches(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books)  # 1200 USD at 1.1 = 1090.91 EUR
    payment = usd_pay(books, "1200.00", invoice)  # at 1.25 = 960.00 EUR
    assert payment.currency == "USD"
    rows = lines_of(payment.journal_entry_id)
    assert rows[0] == ("512", D("960.00"), D(0), D("1200.00"), "USD")
    assert rows[1] == ("411", D(0), D("1090.91"), D("-1200.00"), "USD")
    assert rows[2] == ("666", D("130.91"), D(0), None, "")
    assert sum(r[1] for r in rows) == sum(r[2] for r in rows)
    invoice = fresh(invoice)
    assert (invoice.state, invoice.residual_amount) == (InvoiceState.PAID, D(0))
    codes = set(JournalLine.objects.filter(partner_account_id=invoice.partner_account_id)
                .values_list("matching_code", flat=True))  # fmt: skip
    assert len(codes) == 1 and "" not in codes
    assert Matching.objects.get(partner_account_id=invoice.partner_account_id, undone=False).full
    assert partner_balance(invoice) == 0


def test_payment_at_a_better_rate_books_a_gain(books: Books) -> None:
    set_rates(books)
    currency.rate_set(actor=books.actor(), currency="USD", date=DAY2, rate="1.05")
    invoice = usd_invoice(books)
    payment = usd_pay(books, "1200.00", invoice)  # 1142.86 EUR
    rows = lines_of(payment.journal_entry_id)
    assert rows[2] == ("766", D(0), D("51.95"), None, "")  # 1142.86 - 1090.91
    assert partner_balance(invoice) == 0


def test_partial_payments_book_the_difference_on_the_settled_part(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books)  # 1090.91 EUR
    first = usd_pay(books, "400.00", invoice)
    rows = lines_of(first.journal_entry_id)
    assert rows[1][2] == D("363.64")  # 1090.91 × 400/1200
    assert rows[0][1] == D("320.00") and rows[2] == ("666", D("43.64"), D(0), None, "")
    invoice = fresh(invoice)
    assert (invoice.state, invoice.residual_amount) == (InvoiceState.PARTIALLY_PAID, D("800.00"))
    assert currency.residual_company(invoice) == D("727.27")
    second = usd_pay(books, "800.00", invoice, day=today())
    rows = lines_of(second.journal_entry_id)
    assert rows[1][2] == D("727.27")  # the rest exactly
    assert fresh(invoice).state == InvoiceState.PAID
    assert partner_balance(invoice) == 0
    assert Matching.objects.get(partner_account_id=invoice.partner_account_id, undone=False).full


def test_payment_with_a_credit_left_converts_the_credit_at_the_payment_rate(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books)
    payment = usd_pay(books, "1300.00", invoice, part="1200.00")
    rows = lines_of(payment.journal_entry_id)
    assert rows[0][1] == D("1040.00")
    assert rows[2] == ("411", D(0), D("80.00"), D("-100.00"), "USD")  # the credit at 1.25
    assert rows[3] == ("666", D("130.91"), D(0), None, "")
    assert sum(r[1] for r in rows) == sum(r[2] for r in rows)


def test_usd_invoice_refuses_a_payment_in_euros_and_missing_rate_is_a_field_error(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books)
    with pytest.raises(ValidationFailed) as caught:
        payments.payment_register(
            actor=books.actor(), organization_id=books.customer.pk, amount="100", date=DAY2,
            journal_id=books.ledger.journals["BQ"], method="transfer",
            allocations=[{"invoice_id": invoice.pk, "amount": "100"}],
        )  # fmt: skip
    assert "USD" in caught.value.fields["allocations.0.invoice_id"][0]
    with pytest.raises(ValidationFailed) as caught:
        usd_pay(books, "100.00", invoice, day=DAY1 - dt.timedelta(days=1))
    assert no_rate(caught.value)
    assert not Payment.objects.filter(company_id=books.company_id).exists()


def test_cancelling_a_usd_payment_reverses_the_currency_amounts(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books)
    payment = usd_pay(books, "1200.00", invoice)
    payments.payment_cancel(actor=books.actor(), payment_id=payment.pk)
    invoice = fresh(invoice)
    assert (invoice.state, invoice.residual_amount) == (InvoiceState.POSTED, D("1200.00"))
    reversal = JournalEntry.objects.get(reversal_of_id=payment.journal_entry_id)
    assert lines_of(reversal.pk)[0] == ("512", D(0), D("960.00"), D("-1200.00"), "USD")


# --- FEC ------------------------------------------------------------------------------


def test_fec_carries_the_currency_amounts_and_passes_the_checker(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books)
    usd_pay(books, "1200.00", invoice)
    fy = FiscalYear.objects.get(company_id=books.company_id, start_date__lte=DAY1, end_date__gte=DAY1)
    export = fec_export.prepare(books.actor(), fiscal_year_id=fy.pk)
    data = b"".join(fec_export.iter_bytes(export))
    report = fec.check_fec(io.BytesIO(data), filename=export.filename, fiscal_year_start=fy.start_date,
                           fiscal_year_end=fy.end_date, opening_journals=export.opening_journal_codes)  # fmt: skip
    assert report.ok, report.as_text()
    text = data.decode(fec.ENCODING).split("\r\n")
    header = text[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in text[1:-1]]
    customer = [(r["Debit"], r["Credit"], r["Montantdevise"], r["Idevise"]) for r in rows if r["CompteNum"] == "411"]
    assert customer == [("1090,91", "0,00", "1200,00", "USD"), ("0,00", "1090,91", "-1200,00", "USD")]
    loss = next(r for r in rows if r["CompteNum"] == "666")
    assert (loss["Montantdevise"], loss["Idevise"]) == ("", "")


# --- Revaluation ------------------------------------------------------------------------


def test_revaluation_books_the_unrealised_difference_and_reverses_it_next_day(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books)  # 1200 USD = 1090.91 EUR at 1.1
    usd_pay(books, "400.00", invoice)  # 800 USD left, booked 727.27 EUR
    day = DAY2  # rate 1.25: 800 USD = 640.00 EUR → unrealised loss 87.27
    preview = revaluation.revaluation_preview(books.actor(), day.isoformat())
    assert [(i.number, i.residual, i.booked, i.revalued) for i in preview.items] == [
        (invoice.number, D("800.00"), D("727.27"), D("640.00"))
    ]
    assert (preview.losses, preview.gains, preview.entry) == (D("87.27"), D(0), None)
    done = revaluation.revalue(actor=books.actor(), date=day)
    assert done.entry is not None and done.reversal is not None
    assert [r[:3] for r in lines_of(done.entry.pk)] == [("411", D(0), D("87.27")), ("476", D("87.27"), D(0))]
    assert [r[:3] for r in lines_of(done.reversal.pk)] == [("411", D("87.27"), D(0)), ("476", D(0), D("87.27"))]
    assert done.reversal.date == day + dt.timedelta(days=1)
    assert done.reversal.reversal_of_id == done.entry.pk
    codes = set(JournalLine.objects.filter(entry__in=[done.entry, done.reversal], partner_account__isnull=False)
                .values_list("matching_code", flat=True))  # fmt: skip
    assert len(codes) == 1 and "" not in codes
    with pytest.raises(Conflict):
        revaluation.revalue(actor=books.actor(), date=day)
    # The invoice itself is untouched: the payment of the rest books the realised difference.
    usd_pay(books, "800.00", invoice, day=today())
    assert fresh(invoice).state == InvoiceState.PAID
    assert partner_balance(invoice) == 0
    assert verify_chain(books.company_id).ok  # invoice, payments, revaluation and its reversal


def test_revaluation_of_a_vendor_bill_gain_goes_to_477(books: Books) -> None:
    set_rates(books)
    bill = books.posted([line(unit_price="1000.00")], kind="vendor_bill", currency="USD", issue_date=DAY1,
                        supplier_reference="US-1")  # fmt: skip
    # We owe 1200 USD = 1090.91 EUR; at 1.25 only 960.00: an unrealised gain of 130.91.
    done = revaluation.revalue(actor=books.actor(), date=DAY2)
    assert done.entry is not None
    assert [r[:3] for r in lines_of(done.entry.pk)] == [("401", D("130.91"), D(0)), ("477", D(0), D("130.91"))]
    assert bill.partner_account_id is not None


def test_revaluation_counts_what_was_paid_after_the_date_as_open(books: Books) -> None:
    set_rates(books)
    invoice = usd_invoice(books)
    usd_pay(books, "1200.00", invoice, day=today())  # paid after DAY2
    preview = revaluation.revaluation_preview(books.actor(), DAY2)
    assert [(i.residual, i.booked) for i in preview.items] == [(D("1200.00"), D("1090.91"))]
    assert revaluation.revaluation_preview(books.actor(), today()).items == []


def test_revaluation_without_items_or_with_a_bad_date_is_a_field_error(books: Books) -> None:
    with pytest.raises(ValidationFailed) as caught:
        revaluation.revalue(actor=books.actor(), date=today())
    assert "date" in caught.value.fields
    assert len(caught.value.fields["date"]) == 1
    set_rates(books)
    usd_invoice(books)
    assert revaluation.revaluation_preview(books.actor(), DAY1 - dt.timedelta(days=1)).items == []
    with pytest.raises(ValidationFailed) as caught:
        revaluation.revalue(actor=books.actor(), date="31/02/2026")
    assert "date" in caught.value.fields
    assert not JournalEntry.objects.filter(source_type=revaluation.SOURCE_TYPE).exists()


def test_closing_warns_until_the_year_end_is_revalued(books: Books) -> None:
    set_rates(books)
    usd_invoice(books)
    fy = FiscalYear.objects.get(company_id=books.company_id, start_date__lte=DAY1, end_date__gte=DAY1)
    problems = closing.closing_preview(books.actor(), fy.pk).problems
    warning = next(p for p in problems if p.code == "foreign_currency_not_revalued")
    assert not warning.blocking and warning.count == 1
    next_year(books.company_id, fy)
    revaluation.revalue(actor=books.actor(), date=fy.end_date)
    problems = closing.closing_preview(books.actor(), fy.pk).problems
    assert all(p.code != "foreign_currency_not_revalued" for p in problems)


# --- API ------------------------------------------------------------------------------


def test_api_rates_and_revaluation(books: Books, client: Client) -> None:
    headers = key(books.ledger, "finance")
    answer = call(client, "post", "/currency-rates", headers,
                  {"currency": "USD", "date": DAY1.isoformat(), "rate": "1.1"})  # fmt: skip
    assert answer.status_code == 201, answer.content
    assert answer.json()["currency"] == "USD" and D(answer.json()["rate"]) == D("1.1")
    answer = call(client, "post", "/currency-rates", headers,
                  {"currency": "QQQ", "date": DAY1.isoformat(), "rate": "1"})  # fmt: skip
    assert answer.status_code == 422 and "currency" in answer.json()["fields"]
    upload = SimpleUploadedFile("rates.csv", f"{DAY2.isoformat()},USD,1.25\n".encode(), content_type="text/csv")
    answer = client.post(API + "/currency-rates/import", {"file": upload}, headers=headers)
    assert answer.status_code == 201 and answer.json() == {"imported": 1}
    answer = call(client, "get", "/currency-rates?currency=usd", headers)
    assert answer.status_code == 200
    assert [(r["date"], D(r["rate"])) for r in answer.json()["items"]] == [
        (DAY2.isoformat(), D("1.25")), (DAY1.isoformat(), D("1.1"))
    ]  # fmt: skip
    invoice = usd_invoice(books)
    answer = call(client, "get", f"/revaluation?date={DAY2.isoformat()}", headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["losses"] == "130.91" and body["items"][0]["invoice_id"] == invoice.pk and body["entry_id"] is None
    answer = call(client, "post", "/revaluation", headers, {"date": DAY2.isoformat()})
    assert answer.status_code == 201 and answer.json()["entry_id"] and answer.json()["reversal_id"]
    answer = call(client, "post", "/revaluation", headers, {"date": DAY2.isoformat()})
    assert answer.status_code == 409
    sales = key(books.ledger, "sales")
    assert call(client, "post", "/currency-rates", sales,
                {"currency": "GBP", "date": DAY1.isoformat(), "rate": "0.85"}).status_code == 403  # fmt: skip


# --- Pages ----------------------------------------------------------------------------


def test_rates_page_lists_adds_imports_and_shows_field_errors(books: Books, client: Client) -> None:
    login(client, books.ledger, "finance")
    url = reverse("accounting:currency_rates")
    answer = client.post(url, {"currency": "usd", "date": DAY1.isoformat(), "rate": "1,1"})
    assert answer.status_code == 302
    answer = client.post(url, {"currency": "US", "date": "", "rate": "0"})
    assert answer.status_code == 422
    assert {"currency", "date", "rate"} <= set(answer.context["errors"])
    upload = SimpleUploadedFile("rates.csv", f"date,currency,rate\n{DAY2.isoformat()},USD,1.25\n".encode())
    assert client.post(url, {"file": upload}).status_code == 302
    answer = client.get(url + "?currency=USD")
    assert answer.status_code == 200
    assert [(r.date, r.rate) for r in answer.context["page"].items] == [(DAY2, D("1.25")), (DAY1, D("1.1"))]
    assert b'id="currency-rates"' in answer.content
    login(client, books.ledger, "management")
    answer = client.get(url)
    assert answer.status_code == 200 and b'id="rate-form"' not in answer.content
    assert client.post(url, {"currency": "GBP", "date": DAY1.isoformat(), "rate": "0.85"}).status_code == 403


def test_closing_page_previews_and_revalues_at_the_year_end(books: Books, client: Client) -> None:
    set_rates(books)
    invoice = usd_invoice(books)
    fy = FiscalYear.objects.get(company_id=books.company_id, start_date__lte=DAY1, end_date__gte=DAY1)
    next_year(books.company_id, fy)
    login(client, books.ledger, "finance")
    page = client.get(reverse("accounting:year_end", args=[fy.pk]))
    assert page.status_code == 200
    assert [i.invoice_id for i in page.context["revaluation"].items] == [invoice.pk]
    assert b'data-code="foreign_currency_not_revalued"' in page.content and b'id="revalue-form"' in page.content
    answer = client.post(reverse("accounting:year_end_revalue", args=[fy.pk]))
    assert answer.status_code == 302
    page = client.get(reverse("accounting:year_end", args=[fy.pk]))
    assert b'id="revaluation-done"' in page.content and b"foreign_currency_not_revalued" not in page.content
    entry, reversal = revaluation.entries_at(books.company_id, fy.end_date)
    assert entry is not None and reversal is not None and reversal.date == fy.end_date + dt.timedelta(days=1)


def test_api_invoice_and_payment_in_usd(books: Books, client: Client) -> None:
    set_rates(books)
    headers = key(books.ledger, "finance")
    answer = call(client, "post", "/invoices", headers, {
        "organization_id": books.customer.pk, "currency": "USD", "issue_date": DAY1.isoformat(),
        "lines": [{"name": "Conseil", "quantity": "1", "unit_price": "1000.00"}],
    })  # fmt: skip
    assert answer.status_code == 201, answer.content
    invoice_id = answer.json()["id"]
    answer = call(client, "post", f"/invoices/{invoice_id}/post", headers)
    assert answer.status_code == 200, answer.content
    assert answer.json()["currency"] == "USD" and answer.json()["residual_company_amount"] == "1090.91"
    answer = call(client, "post", "/payments", headers, {
        "organization_id": books.customer.pk, "amount": "400.00", "date": DAY2.isoformat(), "currency": "USD",
        "journal_id": books.ledger.journals["BQ"], "method": "transfer",
        "allocations": [{"invoice_id": invoice_id, "amount": "400.00"}],
    })  # fmt: skip
    assert answer.status_code == 201, answer.content
    assert answer.json()["currency"] == "USD"
    answer = call(client, "get", f"/invoices/{invoice_id}", headers)
    assert answer.json()["residual_amount"] == "800.00" and answer.json()["residual_company_amount"] == "727.27"
    answer = call(client, "post", "/payments", headers, {
        "organization_id": books.customer.pk, "amount": "10.00", "date": DAY2.isoformat(),
        "journal_id": books.ledger.journals["BQ"], "method": "transfer",
        "allocations": [{"invoice_id": invoice_id, "amount": "10.00"}],
    })  # fmt: skip
    assert answer.status_code == 422 and "allocations.0.invoice_id" in answer.json()["fields"]


def test_pages_invoice_and_payment_in_usd(books: Books, client: Client) -> None:
    set_rates(books)
    login(client, books.ledger, "finance")
    data = {
        "organization_id": books.customer.pk, "issue_date": DAY1.isoformat(), "delivery_date": "",
        "payment_term_id": "", "due_date": "", "fiscal_position": "", "language": "", "currency": "usd",
        "purchase_order": "", "note": "", "post": "1", "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "500", "lines-0-name": "Conseil",
        "lines-0-quantity": "1", "lines-0-unit_price": "1000",
    }  # fmt: skip
    response = client.post("/accounting/invoices/new/?kind=customer_invoice", data)
    invoice = Invoice.objects.get()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert (invoice.state, invoice.currency, invoice.total_amount) == (InvoiceState.POSTED, "USD", D("1200.00"))
    page = client.get(f"/accounting/payments/new/?invoice={invoice.pk}").content.decode()
    assert 'name="currency"' in page and 'value="USD"' in page
    found = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page)
    assert found is not None
    response = client.post("/accounting/payments/new/", {
        "date": DAY2.isoformat(), "journal_id": str(books.ledger.journals["BQ"]), "method": "transfer",
        "amount": "1200.00", "currency": "USD", "reference": "", "idempotency_key": found.group(1),
        "invoice": str(invoice.pk),
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    assert fresh(invoice).state == InvoiceState.PAID
    assert partner_balance(invoice) == 0


def test_usd_invoice_factur_x_stays_in_usd_with_the_vat_total_in_eur(books: Books) -> None:
    set_rates(books)
    invoice = books.posted([line(unit_price="1000.00")], currency="USD", issue_date=DAY1, render_pdf=True)
    xml = cii.build_cii(invoices.invoice_document(invoice)).decode()
    assert 'currencyID="EUR">181.82</ram:TaxTotalAmount>' in xml
    assert 'currencyID="USD">200.00</ram:TaxTotalAmount>' in xml
    assert "<ram:InvoiceCurrencyCode>USD</ram:InvoiceCurrencyCode>" in xml
    assert "<ram:TaxCurrencyCode>EUR</ram:TaxCurrencyCode>" in xml
    assert invoices.issued_pdf(invoice).size > 0

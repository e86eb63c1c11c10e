"""Financial statements: the balance sheet balances and carries the income statement's
result, the aged balances bucket by due date, the partner statement, the VAT return equals
the ledger to the cent; pages, exports, API, permissions and bad input."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client
from openpyxl import load_workbook
from pypdf import PdfReader

from comptoir.accounting import aged, closing, partner_statements, payments, services, statements, vat_return
from comptoir.accounting.models import FiscalYear, JournalLine, PartnerKind
from comptoir.accounting.tests.conftest import Ledger, open_previous_year, today
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.accounting.tests.test_api import API, error, key
from comptoir.accounting.tests.test_views import login
from comptoir.kernel.errors import PermissionDenied, ValidationFailed
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


def year_start() -> dt.date:
    return dt.date(today().year, 1, 1)


def mid_last_year() -> dt.date:
    return dt.date(today().year - 1, 6, 30)


D = Decimal


def post(ledger: Ledger, lines: list[dict[str, Any]], *, journal: str = "OD", date: dt.date | None = None,
         label: str = "Écriture") -> int:  # fmt: skip
    actor = ledger.actor()
    entry = services.entry_create(actor=actor, journal_id=ledger.journals[journal], date=date or today(), label=label,
                                  lines=lines)  # fmt: skip
    services.entry_post(actor=actor, entry_id=entry.pk)
    return entry.pk


def ensure_previous_year(ledger: Ledger) -> None:
    """A fiscal year for last year too, so that entries up to a year back can be posted."""
    open_previous_year(ledger)


def seed_year(ledger: Ledger, date: dt.date | None = None) -> None:
    """Capital, a sale, a purchase, a fixed asset, depreciation, a loan, tax and an overdraft (today by default)."""
    a = ledger
    date = date or today()
    post(a, [a.line("512", debit="1000.00"), a.line("101", credit="1000.00")], journal="BQ", date=date)
    post(a, [a.line("411", debit="1200.00"), a.line("706", credit="1000.00"), a.line("44571", credit="200.00")],
         journal="VT", date=date)  # fmt: skip
    post(a, [a.line("607", debit="500.00"), a.line("44566", debit="100.00"), a.line("401", credit="600.00")],
         journal="AC", date=date)  # fmt: skip
    post(a, [a.line("2183", debit="2000.00"), a.line("44562", debit="400.00"), a.line("401", credit="2400.00")],
         journal="AC", date=date)  # fmt: skip
    post(a, [a.line("6811", debit="300.00") if "6811" in a.accounts else a.line("641", debit="300.00"),
             a.line("28183", credit="300.00")], date=date)  # fmt: skip
    post(a, [a.line("661", debit="20.00"), a.line("771", credit="50.00"), a.line("512", debit="30.00")],
         journal="BQ", date=date)  # fmt: skip
    post(a, [a.line("695", debit="40.00"), a.line("444", credit="40.00")], date=date)
    # Pays the fixed-asset supplier: the bank goes into overdraft (1030 - 2400).
    post(a, [a.line("401", debit="2400.00"), a.line("512", credit="2400.00")], journal="BQ", date=date)


def test_balance_sheet_balances_and_carries_the_result(ledger: Ledger) -> None:
    seed_year(ledger)
    actor = ledger.actor()
    period = statements.resolve_period(actor, date_from=year_start(), date_to=dt.date(today().year, 12, 31))
    sheet = statements.balance_sheet(actor, period, compare=False)
    income = statements.income_statement(actor, period, compare=False)
    assert sheet.total_assets == sheet.total_liabilities and sheet.balanced
    # 1000 sales + 50 exceptional - 500 purchases - 300 - 20 - 40 = 190
    assert income.result == D("190.00") == sheet.result
    totals = {t.key: t.current for t in income.totals()}
    assert totals["operating_result"] == D("200.00") and totals["financial_result"] == D("-20.00")
    assert totals["exceptional_result"] == D("50.00") and totals["result"] == D("190.00")
    assert income.section("tax").line("income_tax").current == D("40.00")
    # The overdrawn bank is a debt; the VAT accounts netted (500 deductible - 200 collected) a receivable.
    debts = sheet.section("debts")
    assert debts.line("bank_debts").current == D("1370.00")
    assert sheet.section("current_assets").line("cash").current == 0
    assert sheet.section("current_assets").line("other_receivables").current == D("300.00")
    assert debts.line("tax_social").current == D("40.00")
    assert {a.code for a in sheet.section("current_assets").line("other_receivables").accounts} == {
        "44562", "44566", "44571"}  # fmt: skip
    tangible = sheet.section("fixed_assets").line("tangible")
    assert (tangible.gross, tangible.depreciation, tangible.current) == (D("2000.00"), D("300.00"), D("1700.00"))
    assert sheet.section("equity").line("capital").current == D("1000.00")
    # Each line lists its accounts for the drill-down to the general ledger.
    assert [a.code for a in debts.line("trade_payables").accounts] == ["401"]


def test_previous_period_and_opening_entries(ledger: Ledger) -> None:
    actor = ledger.actor()
    ensure_previous_year(ledger)
    seed_year(ledger, mid_last_year())
    previous = statements.resolve_period(actor, date_from=dt.date(today().year - 1, 1, 1),
                                         date_to=dt.date(today().year - 1, 12, 31))  # fmt: skip
    current = statements.resolve_period(actor, date_from=year_start(), date_to=dt.date(today().year, 12, 31))
    # Without a closing, last year's income and expenses are shown as awaiting allocation.
    a = ledger
    post(a, [a.line("411", debit="120.00"), a.line("706", credit="100.00"), a.line("44571", credit="20.00")],
         journal="VT")  # fmt: skip
    sheet = statements.balance_sheet(actor, current)
    assert sheet.balanced and sheet.result == D("100.00")
    assert sheet.section("equity").line("prior_results").current == D("190.00")
    assert sheet.section("equity").line("result").previous == D("190.00")
    assert sheet.previous_period == previous
    income = statements.income_statement(actor, current)
    assert income.previous_result == D("190.00") and income.result == D("100.00")
    # The closing carries the income statement's result forward (120) in the opening entry;
    # the sheet restarts there: nothing is summed twice.
    last_year = FiscalYear.objects.get(company_id=a.company_id, start_date=previous.date_from)
    closing.year_end_close(actor=a.actor("finance"), fiscal_year_id=last_year.pk)
    opening = closing.opening_entry_of(a.company_id, last_year.pk)
    assert opening is not None
    carried = JournalLine.objects.filter(entry=opening, account__code="120").aggregate(c=Sum("credit"))["c"]
    assert carried == income.previous_result
    sheet = statements.balance_sheet(actor, current)
    assert sheet.balanced and sheet.result == D("100.00")
    assert sheet.section("equity").line("prior_results").current == D("190.00")
    assert sheet.section("equity").line("capital").current == D("1000.00")
    assert sheet.section("debts").line("bank_debts").current == D("1370.00")


def test_period_input_errors(ledger: Ledger) -> None:
    actor = ledger.actor()
    with pytest.raises(ValidationFailed) as caught:
        statements.resolve_period(actor, date_from=dt.date(2026, 5, 1), date_to=dt.date(2026, 4, 1))
    assert "date_to" in caught.value.fields
    with pytest.raises(ValidationFailed) as caught:
        statements.resolve_period(actor, fiscal_year_id=999999)
    assert "fiscal_year" in caught.value.fields
    with pytest.raises(ValidationFailed) as caught:
        statements.parse_date("date_from", "2026-02-30")
    assert "date_from" in caught.value.fields
    year = FiscalYear.objects.filter(company_id=ledger.company_id).first()
    if year is not None:
        assert statements.resolve_period(actor, fiscal_year_id=year.pk).fiscal_year_id == year.pk
    with pytest.raises(PermissionDenied):
        statements.balance_sheet(ledger.actor("sales"), statements.Period(year_start(), today()))


def test_aged_buckets_on_known_dates(ledger: Ledger) -> None:
    a = ledger
    ensure_previous_year(ledger)
    as_of = today()
    for days, amount in ((-10, "10.00"), (0, "20.00"), (1, "30.00"), (30, "40.00"), (31, "50.00"), (60, "60.00"),
                         (61, "70.00"), (90, "80.00"), (91, "90.00")):  # fmt: skip
        due = as_of - dt.timedelta(days=days)
        post(a, [a.line("411", debit=amount, due_date=due.isoformat()), a.line("706", credit=amount)],
             journal="VT", date=min(due, as_of) - dt.timedelta(days=1))  # fmt: skip
    # A payment not matched yet counts against the customer (dated today: not due).
    post(a, [a.line("512", debit="5.00"), a.line("411", credit="5.00")], journal="BQ")
    # A supplier bill due in 45 days' past.
    bill_due = (as_of - dt.timedelta(days=45)).isoformat()
    post(a, [a.line("607", debit="100.00"), a.line("401", credit="100.00", due_date=bill_due)], journal="AC",
         date=as_of - dt.timedelta(days=50))  # fmt: skip
    report = aged.aged_balance(a.actor(), kind=PartnerKind.CUSTOMER, as_of=as_of)
    assert len(report.rows) == 1
    buckets = report.rows[0].buckets
    assert buckets == {"not_due": D("25.00"), "days_1_30": D("70.00"), "days_31_60": D("110.00"),
                       "days_61_90": D("150.00"), "days_over_90": D("90.00")}  # fmt: skip
    assert report.grand_total == D("445.00") == report.total("not_due") + D("420.00")
    payables = aged.aged_balance(a.actor(), kind=PartnerKind.SUPPLIER, as_of=as_of)
    assert payables.totals["days_31_60"] == D("100.00") and payables.grand_total == D("100.00")
    # Earlier, before the later lines existed, less is open.
    earlier = aged.aged_balance(a.actor(), kind=PartnerKind.CUSTOMER, as_of=as_of - dt.timedelta(days=60))
    assert earlier.grand_total == D("300.00")  # the items due 60, 61, 90, 91 days ago, dated a day before


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def test_aged_and_statement_follow_matching(books: Books) -> None:
    invoice = books.posted([line(unit_price="100.00")])
    actor = books.actor()
    partner_id = invoice.partner_account_id
    assert partner_id is not None
    report = aged.aged_balance(actor, kind=PartnerKind.CUSTOMER, as_of=today())
    assert report.grand_total == D("120.00")
    payments.payment_register(actor=actor, organization_id=books.customer.pk, amount="50.00", date=today(),
                              journal_id=books.ledger.journals["BQ"], method="transfer",
                              allocations=[{"invoice_id": invoice.pk, "amount": "50.00"}])  # fmt: skip
    assert aged.aged_balance(actor, kind=PartnerKind.CUSTOMER, as_of=today()).grand_total == D("70.00")
    payments.payment_register(actor=actor, organization_id=books.customer.pk, amount="70.00", date=today(),
                              journal_id=books.ledger.journals["BQ"], method="transfer",
                              allocations=[{"invoice_id": invoice.pk, "amount": "70.00"}])  # fmt: skip
    assert aged.aged_balance(actor, kind=PartnerKind.CUSTOMER, as_of=today()).rows == []
    result = partner_statements.statement(actor, partner_account_id=partner_id, date_from=year_start(), date_to=today())
    assert result.opening == 0 and result.closing == 0 and len(result.movements) == 3
    assert [row["balance"] for row in result.movements] == [D("120.00"), D("70.00"), D("0.00")]
    assert result.open_items == []
    pdf = partner_statements.statement_pdf(books.company_id, books.customer.pk, today(), "en")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert pdf.startswith(b"%PDF-") and "Statement of account" in text and "120.00" in text


def _ledger_movement(company_id: int, code: str, period: statements.Period) -> Decimal:
    """Credit minus debit of one VAT account in the period, straight from the lines."""
    sums = JournalLine.objects.filter(company_id=company_id, is_posted=True, account__code=code,
                                      date__gte=period.date_from, date__lte=period.date_to).aggregate(
        d=Sum("debit"), c=Sum("credit"))  # fmt: skip
    return (sums["c"] or D(0)) - (sums["d"] or D(0))


def test_vat_return_equals_the_ledger(books: Books) -> None:
    actor = books.actor()
    books.posted([line(unit_price="100.00"), line("Livre", unit_price="33.33", vat_category="reduced"),
                  line("Repas", unit_price="45.45", vat_category="intermediate")])  # fmt: skip
    books.posted([line(unit_price="10.01", vat_category="super_reduced")])
    services_invoice = books.posted([line("Audit", unit_price="1000.00", operation="services")])
    books.posted([line("Export", unit_price="300.00")], organization=books.export_customer)
    books.posted([line("Machine", unit_price="800.00")], organization=books.eu_customer)
    books.posted([line("Licence", unit_price="250.00", operation="services")], kind="vendor_bill",
                 organization=books.eu_supplier, supplier_reference="FI-1", issue_date=today())  # fmt: skip
    books.posted([line("Pièces", unit_price="400.00")], kind="vendor_bill", organization=books.eu_supplier,
                 supplier_reference="FI-2", issue_date=today())  # fmt: skip
    books.posted([line("Papier", unit_price="80.00")], kind="vendor_bill", supplier_reference="P-1",
                 issue_date=today())  # fmt: skip
    # VAT on receipts: half the services invoice is paid, its VAT half moves to 44571.
    payments.payment_register(actor=actor, organization_id=books.customer.pk, amount="600.00", date=today(),
                              journal_id=books.ledger.journals["BQ"], method="transfer",
                              allocations=[{"invoice_id": services_invoice.pk, "amount": "600.00"}])  # fmt: skip
    period = statements.Period(year_start(), dt.date(today().year, 12, 31))
    result = vat_return.vat_return(actor, period)
    company = books.company_id
    collected, self_assessed = (_ledger_movement(company, c, period) for c in ("44571", "4452"))
    deductible = -sum((_ledger_movement(company, c, period) for c in ("44566", "445662", "44562")), D(0))
    assert result.gross_due == collected + self_assessed
    assert result.deductible_total == deductible
    assert result.net_due - result.credit == collected + self_assessed - deductible
    assert result.ledger["collected_waiting"] == _ledger_movement(company, "44574", period) == D("100.00")
    assert self_assessed == D("130.00") and result.intra_eu_acquisitions_tax == D("80.00")
    # Boxes plus "other movements" add up to the ledger; the receipts VAT paid (100) is there.
    assert sum((b.tax for b in result.rates), D(0)) + result.other_movements == result.gross_due
    assert result.other_movements == D("100.00")
    # Booking the return (D 44571 + 4452 / C deductible accounts / C 44551) changes nothing.
    bl = books.ledger
    net = result.net_due
    settle = [bl.line("44571", debit=str(collected)), bl.line("4452", debit=str(self_assessed)),
              bl.line("44566", credit=str(result.ledger["deductible_other"])),
              bl.line("445662", credit=str(result.ledger["deductible_self_assessed"])),
              bl.line("44551", credit=str(net))]  # fmt: skip
    post(bl, [line for line in settle if line["debit"] != "0.00" and line["credit"] != "0.00"])
    again = vat_return.vat_return(actor, period)
    assert again.gross_due == result.gross_due and again.deductible_total == result.deductible_total
    assert _ledger_movement(company, "44571", period) == 0
    rates = {b.box: b for b in result.rates}
    assert rates["08"].base == D("100.00") + D("250.00") + D("400.00")
    assert rates["08"].tax == D("20.00") + D("50.00") + D("80.00")
    assert rates["09"].tax == D("1.83") and rates["9B"].tax == D("4.55") and rates["14"].tax == D("0.21")
    bases = {b.box: b.base for b in result.bases}
    assert bases["E1"] == D("300.00") and bases["F2"] == D("800.00") and bases["A3"] == D("250.00")
    assert bases["B2"] == D("400.00") and bases["A1"] == D("100.00") + D("33.33") + D("45.45") + D("10.01") + D(
        "1000.00")  # fmt: skip


# --- Pages, exports, API ---------------------------------------------------------------


def test_pages_exports_and_permissions(ledger: Ledger, client: Client) -> None:
    seed_year(ledger)
    login(client, ledger, "management")
    query = f"date_from={year_start().isoformat()}&date_to={today().year}-12-31"
    page = client.get(f"/accounting/statements/balance-sheet/?{query}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="not-balanced"' not in html and f"/accounting/accounts/{ledger.accounts['401']}/ledger/" in html
    assert client.get(f"/accounting/statements/income-statement/?{query}").status_code == 200
    assert client.get("/accounting/statements/aged-receivables/").status_code == 200
    assert client.get("/accounting/statements/aged-payables/?as_of=2026-01-31").status_code == 200
    assert client.get(f"/accounting/statements/vat-return/?{query}").status_code == 200
    statement_url = f"/accounting/statements/partners/{ledger.customer.pk}/"
    assert "Opening balance" in client.get(statement_url).content.decode()
    xlsx = client.get(f"/accounting/statements/balance-sheet/?{query}&format=xlsx")
    sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active  # type: ignore[attr-defined]
    values = [row for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "Section" and any(row[1] == "total_assets" for row in values)
    for url in ("balance-sheet/", "income-statement/", "aged-receivables/", "vat-return/",
                f"partners/{ledger.customer.pk}/"):  # fmt: skip
        response = client.get(f"/accounting/statements/{url}?{query}&format=pdf&lang=en")
        assert response.status_code == 200 and response.content.startswith(b"%PDF-"), url
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(
        client.get(f"/accounting/statements/income-statement/?{query}&format=pdf&lang=en").content)).pages)  # fmt: skip
    assert "Income statement" in text and "190.00" in text
    # Bad input: 422 with the message on the field.
    for bad in ("date_from=2026-13-01", "date_from=2026-05-01&date_to=2026-04-01", "fiscal_year=abc",
                "format=docx"):  # fmt: skip
        response = client.get(f"/accounting/statements/balance-sheet/?{bad}")
        assert response.status_code == 422, bad
        assert "invalid-feedback" in response.content.decode() or "text-danger" in response.content.decode()
    assert client.get("/accounting/statements/aged-receivables/?as_of=yesterday").status_code == 422
    assert client.get("/accounting/statements/partners/999999/").status_code == 404
    # The salesperson does not read the ledger; exporting needs the export permission.
    login(client, ledger, "sales")
    assert client.get("/accounting/statements/balance-sheet/").status_code == 403
    assert client.get("/accounting/statements/vat-return/").status_code == 403


def test_api(ledger: Ledger, client: Client) -> None:
    seed_year(ledger)
    headers = key(ledger, "finance", ["accounting:read"])
    query = f"date_from={year_start().isoformat()}&date_to={today().year}-12-31"
    data = client.get(f"{API}/statements/balance-sheet?{query}", headers=headers).json()
    totals = {t["key"]: t for t in data["totals"]}
    assert data["balanced"] is True and totals["total_assets"]["current"] == totals["total_liabilities"]["current"]
    assert totals["result"]["current"] == "190.00"
    income = client.get(f"{API}/statements/income-statement?{query}&compare=false", headers=headers).json()
    assert income["previous_period"] is None and income["totals"][-1]["current"] == "190.00"
    vat = client.get(f"{API}/statements/vat-return?{query}", headers=headers).json()
    assert vat["ledger"]["collected"] == "200.00" and vat["deductible_total"] == "500.00" and vat["credit"] == "300.00"
    aged_data = client.get(f"{API}/statements/aged-payables?as_of={today().isoformat()}", headers=headers).json()
    assert aged_data["totals"]["total"] == "600.00"
    partner = client.get(f"{API}/statements/partners/{ledger.customer.pk}", headers=headers).json()
    assert partner["closing"] == "1200.00" and partner["open_total"] == "1200.00"
    error(client.get(f"{API}/statements/balance-sheet?date_from=2026-05-01&date_to=2026-04-01", headers=headers),
          422)  # fmt: skip
    assert client.get(f"{API}/statements/balance-sheet?date_from=not-a-date", headers=headers).status_code == 422
    assert client.get(f"{API}/statements/vat-return?fiscal_year=999999", headers=headers).status_code == 422
    assert client.get(f"{API}/statements/partners/999999", headers=headers).status_code == 404
    sales = key(ledger, "sales", ["accounting:read"])
    assert client.get(f"{API}/statements/balance-sheet", headers=sales).status_code == 403

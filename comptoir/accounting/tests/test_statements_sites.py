"""Financial reports filtered by site: each report of one site equals a hand computation over
that site's lines (balance sheet, income statement with N-1, aged balances, statements of
account, VAT return, trial balance, general ledger); a site's balance sheet balances; the
site's VAT return is its ledger VAT accounts; another company's site or garbage is a field
error (pages 422 with the message, API 422 on ``site``); exports name the site; the pages'
query count does not grow with the data. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook
from pypdf import PdfReader

from comptoir.accounting import aged, partner_statements, selectors, services, statements, vat_return
from comptoir.accounting.models import JournalLine, PartnerKind
from comptoir.accounting.tests.conftest import Ledger, open_previous_year, today
from comptoir.accounting.tests.invoices_kit import line, make_books
from comptoir.accounting.tests.test_api import API, error, key
from comptoir.accounting.tests.test_views import login
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.models import Site
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


def year_start() -> dt.date:
    return dt.date(today().year, 1, 1)


def year_end() -> dt.date:
    return dt.date(today().year, 12, 31)


def mid_last_year() -> dt.date:
    return dt.date(today().year - 1, 6, 30)


D = Decimal


def make_sites(ledger: Ledger) -> tuple[Site, Site, Site]:
    """Two sites of the company (the second one closed) and one of the other company."""
    company, other = ledger.personas.company, ledger.personas.other_company
    lyon = Site.objects.create(company=company, name="Lyon Confluence", siret="99999999900011")
    paris = Site.objects.create(company=company, name="Paris Bastille", siret="99999999900029", is_active=False)
    foreign = Site.objects.create(company=other, name="Ailleurs", siret="99999999900044")
    return lyon, paris, foreign


def post(ledger: Ledger, lines: list[dict[str, Any]], *, site: Site | None, journal: str = "OD",
         date: dt.date | None = None) -> int:  # fmt: skip
    """A posted entry whose lines carry ``site`` (the entry's site; a closed site is accepted
    as for documents, whose site was checked when chosen), dated today by default."""
    actor = ledger.actor()
    entry = services.create_entry(actor, journal_id=ledger.journals[journal], date=date or today(), label="Écriture",
                                  lines=lines, site_id=site.pk if site else None)  # fmt: skip
    services.entry_post(actor=actor, entry_id=entry.pk)
    return entry.pk


def seed_site(ledger: Ledger, site: Site | None, scale: int = 1, date: dt.date | None = None) -> None:
    """Capital, a sale, a purchase, a fixed asset and its depreciation, a payment: balanced
    entries, all on ``site``, dated today by default; amounts multiplied by ``scale``."""
    a = ledger
    date = date or today()

    def m(amount: str) -> str:
        return str(D(amount) * scale)

    post(a, [a.line("512", debit=m("1000.00")), a.line("101", credit=m("1000.00"))], site=site, journal="BQ",
         date=date)  # fmt: skip
    post(a, [a.line("411", debit=m("1200.00"), due_date=date - dt.timedelta(days=40)),
             a.line("706", credit=m("1000.00")), a.line("44571", credit=m("200.00"))], site=site, journal="VT",
         date=date)  # fmt: skip
    post(a, [a.line("411", debit=m("60.00"), due_date=date + dt.timedelta(days=10)),
             a.line("706", credit=m("50.00")), a.line("44571", credit=m("10.00"))], site=site, journal="VT",
         date=date)  # fmt: skip
    post(a, [a.line("607", debit=m("500.00")), a.line("44566", debit=m("100.00")),
             a.line("401", credit=m("600.00"), due_date=date - dt.timedelta(days=95))], site=site, journal="AC",
         date=date)  # fmt: skip
    post(a, [a.line("2183", debit=m("2000.00")), a.line("44562", debit=m("400.00")),
             a.line("401", credit=m("2400.00"))], site=site, journal="AC", date=date)  # fmt: skip
    post(a, [a.line("641", debit=m("300.00")), a.line("28183", credit=m("300.00"))], site=site, date=date)
    post(a, [a.line("512", debit=m("200.00")), a.line("411", credit=m("200.00"))], site=site, journal="BQ",
         date=date)  # fmt: skip


@pytest.fixture
def sited(ledger: Ledger) -> tuple[Ledger, Site, Site, Site]:
    """Lyon (scale 1), Paris (closed, scale 3) and company-level lines (scale 5), this year."""
    lyon, paris, foreign = make_sites(ledger)
    seed_site(ledger, lyon, 1)
    seed_site(ledger, paris, 3)
    seed_site(ledger, None, 5)
    return ledger, lyon, paris, foreign


def balances(company_id: int, site: Site | None, date_from: dt.date | None, date_to: dt.date) -> dict[str, Decimal]:
    """Debit minus credit per account code of the posted lines (of ``site``), by hand."""
    rows = JournalLine.objects.filter(company_id=company_id, is_posted=True, date__lte=date_to)
    if site is not None:
        rows = rows.filter(site=site)
    if date_from is not None:
        rows = rows.filter(date__gte=date_from)
    found: dict[str, Decimal] = {}
    for code, debit, credit in rows.values_list("account__code", "debit", "credit"):
        found[code] = found.get(code, D(0)) + debit - credit
    return {code: value for code, value in found.items() if value}


def statement_accounts(statement: statements.BalanceSheet | statements.IncomeStatement) -> dict[str, Decimal]:
    return {item.code: item.current for s in statement.sections for line in s.lines for item in line.accounts}


# --- Statements -------------------------------------------------------------------------


def test_income_statement_of_a_site_is_its_lines(sited: tuple[Ledger, Site, Site, Site]) -> None:
    ledger, lyon, paris, _foreign = sited
    actor = ledger.actor()
    ensure_previous_year(ledger)
    post(ledger, [ledger.line("411", debit="24.00"), ledger.line("706", credit="20.00"),
                  ledger.line("44571", credit="4.00")], site=lyon, journal="VT", date=mid_last_year())  # fmt: skip
    post(ledger, [ledger.line("411", debit="36.00"), ledger.line("706", credit="30.00"),
                  ledger.line("44571", credit="6.00")], site=paris, journal="VT", date=mid_last_year())  # fmt: skip
    period = statements.resolve_period(actor, date_from=year_start(), date_to=year_end())
    results = {}
    for site in (lyon, paris, None):
        income = statements.income_statement(actor, period, site_id=site.pk if site else None)
        hand = balances(ledger.company_id, site, year_start(), year_end())
        expected = {code: (-value if code.startswith("7") else value) for code, value in hand.items()
                    if code[:1] in "67"}  # fmt: skip
        assert statement_accounts(income) == expected
        assert income.result == -sum((v for c, v in hand.items() if c[:1] in "67"), D(0))
        assert income.site == site
        results[site.pk if site else None] = income
    # Lyon: 1000 + 50 sales - 500 purchases - 300 wages = 250; Paris three times that.
    assert results[lyon.pk].result == D("250.00") and results[paris.pk].result == D("750.00")
    # The company's is every line: the two sites plus the company-level lines (5 × 250).
    assert results[None].result == D("250.00") * 9
    # The comparison (N-1) is the same site's.
    assert results[lyon.pk].previous_result == D("20.00") and results[paris.pk].previous_result == D("30.00")
    assert results[None].previous_result == D("50.00")


def ensure_previous_year(ledger: Ledger) -> None:
    """A fiscal year for last year too, so that entries up to a year back can be posted."""
    open_previous_year(ledger)


def test_balance_sheet_of_a_site_balances_and_is_its_lines(sited: tuple[Ledger, Site, Site, Site]) -> None:
    ledger, lyon, paris, _foreign = sited
    actor = ledger.actor()
    period = statements.resolve_period(actor, date_from=year_start(), date_to=year_end())
    for site, scale in ((lyon, 1), (paris, 3), (None, 9)):
        sheet = statements.balance_sheet(actor, period, site_id=site.pk if site else None)
        assert sheet.balanced and sheet.total_assets == sheet.total_liabilities
        assert sheet.result == D("250.00") * scale
        hand = balances(ledger.company_id, site, None, year_end())
        # Every balance-sheet account (classes 1-5) shows its balance, signed by side.
        shown = {code: value for code, value in statement_accounts(sheet).items() if code[:1] not in "67"}
        for code, value in hand.items():
            if code[:1] in "67":
                continue
            assert abs(shown[code]) == abs(value), (site, code)
        # Cash 1000 + 200 received; receivables 1260 - 200; fixed asset 2000 - 300.
        assets = sheet.section("current_assets")
        assert assets.line("cash").current == D("1200.00") * scale
        assert assets.line("trade_receivables").current == D("1060.00") * scale
        assert sheet.section("fixed_assets").line("tangible").current == D("1700.00") * scale
        # Total assets by hand: net fixed asset, receivables, bank, and the VAT accounts
        # netted (deductible 100 + 400 less collected 210: a receivable).
        vat = hand["44566"] + hand["44562"] + hand["44571"]
        assert vat == D("290.00") * scale
        assert sheet.total_assets == hand["2183"] + hand["28183"] + hand["411"] + hand["512"] + vat


def test_site_filter_refuses_another_companys_site_and_garbage(sited: tuple[Ledger, Site, Site, Site]) -> None:
    ledger, lyon, paris, foreign = sited
    actor = ledger.actor()
    period = statements.resolve_period(actor, date_from=year_start(), date_to=year_end())
    for bad in (foreign.pk, foreign, "abc", "0", -1, 2**70, "1.5"):
        with pytest.raises(ValidationFailed) as caught:
            statements.balance_sheet(actor, period, site_id=bad)
        assert set(caught.value.fields or {}) == {"site"}, bad
    with pytest.raises(ValidationFailed):
        aged.aged_balance(actor, kind=PartnerKind.CUSTOMER, as_of=today(), site_id=foreign.pk)
    with pytest.raises(ValidationFailed):
        vat_return.vat_return(actor, period, site_id="x")
    with pytest.raises(ValidationFailed):
        partner_statements.statement(actor, partner_account_id=ledger.customer.pk, site_id=foreign.pk)
    # A closed site of the company is accepted (its history stays readable); empty: the company.
    assert selectors.resolve_site(actor, str(paris.pk)) == paris and selectors.resolve_site(actor, "") is None
    assert selectors.resolve_site(actor, lyon) == lyon


# --- Aged balances and statements of account ---------------------------------------------


def hand_aged(company_id: int, kind: str, as_of: dt.date, site: Site | None) -> dict[str, Decimal]:
    """Bucket totals over the open partner lines, in Python: not fully matched on ``as_of``."""
    rows = JournalLine.objects.filter(company_id=company_id, is_posted=True, partner_account__kind=kind,
                                      date__lte=as_of)  # fmt: skip
    if site is not None:
        rows = rows.filter(site=site)
    sign = 1 if kind == PartnerKind.CUSTOMER else -1
    totals = dict.fromkeys(aged.BUCKET_KEYS, D(0))
    for debit, credit, due, day, code, matched in rows.values_list("debit", "credit", "due_date", "date",
                                                                 "matching_code", "matched_at"):  # fmt: skip
        if code and code.isupper() and matched is not None and matched <= as_of:
            continue
        late = (as_of - (due or day)).days
        bucket = ("not_due" if late <= 0 else "days_1_30" if late <= 30 else "days_31_60" if late <= 60
                  else "days_61_90" if late <= 90 else "days_over_90")  # fmt: skip
        totals[bucket] += sign * (debit - credit)
    return totals


def test_aged_balances_of_a_site_are_its_open_lines(sited: tuple[Ledger, Site, Site, Site]) -> None:
    ledger, lyon, paris, _foreign = sited
    actor = ledger.actor()
    # Matching: Lyon's 60.00 invoice line fully matched (upper case) in ten days: open until
    # then; a partial match (lower case) on Paris's invoice: open whatever the date.
    small = JournalLine.objects.get(site=lyon, partner_account=ledger.customer, debit=D("60.00"))
    later = today() + dt.timedelta(days=10)
    JournalLine.objects.filter(pk=small.pk).update(matching_code="AB", matched_at=later)
    paris_invoice = JournalLine.objects.get(site=paris, partner_account=ledger.customer, debit=D("3600.00"))
    JournalLine.objects.filter(pk=paris_invoice.pk).update(matching_code="ac", matched_at=today())
    in_45_days = today() + dt.timedelta(days=45)
    for kind in (PartnerKind.CUSTOMER, PartnerKind.SUPPLIER):
        for site in (lyon, paris, None):
            for as_of in (today(), later, in_45_days, today() - dt.timedelta(days=1)):
                report = aged.aged_balance(actor, kind=kind, as_of=as_of, site_id=site.pk if site else None)
                expected = hand_aged(ledger.company_id, kind, as_of, site)
                assert report.totals == expected, (kind, site, as_of)
                assert report.site == site
    # Today Lyon's 60.00 is still open (not due), the invoice 40 days late, the receipt not due.
    now = aged.aged_balance(actor, kind=PartnerKind.CUSTOMER, as_of=today(), site_id=lyon.pk)
    assert now.grand_total == D("1060.00") and now.totals["days_31_60"] == D("1200.00")
    assert now.totals["not_due"] == D("-140.00")
    # In 45 days the 60.00 is settled; the invoice is 85 days late, the receipt 45.
    after = aged.aged_balance(actor, kind=PartnerKind.CUSTOMER, as_of=in_45_days, site_id=lyon.pk)
    assert after.grand_total == D("1000.00") and after.totals["days_61_90"] == D("1200.00")
    assert after.totals["days_31_60"] == D("-200.00")
    payables = aged.aged_balance(actor, kind=PartnerKind.SUPPLIER, as_of=today(), site_id=paris.pk)
    assert payables.totals["days_over_90"] == D("1800.00") and payables.grand_total == D("9000.00")


def test_partner_statement_of_a_site(sited: tuple[Ledger, Site, Site, Site]) -> None:
    ledger, lyon, paris, _foreign = sited
    actor = ledger.actor()
    for site, scale in ((lyon, 1), (paris, 3), (None, 9)):
        result = partner_statements.statement(actor, partner_account_id=ledger.customer.pk, date_from=year_start(),
                                              date_to=year_end(), site_id=site.pk if site else None)  # fmt: skip
        lines = JournalLine.objects.filter(partner_account=ledger.customer, is_posted=True)
        if site is not None:
            lines = lines.filter(site=site)
        sums = lines.aggregate(d=Sum("debit"), c=Sum("credit"))
        assert result.closing == sums["d"] - sums["c"] == D("1060.00") * scale
        assert len(result.movements) == lines.count() == (3 if site else 9)
        assert result.open_total == D("1060.00") * scale and result.site == site
    pdf = partner_statements.render_pdf(ledger.company_id, partner_statements.statement(
        actor, partner_account_id=ledger.customer.pk, site_id=lyon.pk), "en")  # fmt: skip
    assert "Lyon Confluence" in "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


# --- VAT return, trial balance, general ledger -----------------------------------------------


def test_vat_return_of_a_site_is_its_ledger_vat_accounts(sited: tuple[Ledger, Site, Site, Site]) -> None:
    ledger, lyon, paris, _foreign = sited
    actor = ledger.actor()
    period = statements.resolve_period(actor, date_from=year_start(), date_to=year_end())
    # A return settled for the whole company (lines on no site) changes no site's figures.
    post(ledger, [ledger.line("44571", debit="50.00"), ledger.line("44566", credit="20.00"),
                  ledger.line("44551", credit="30.00")], site=None)  # fmt: skip
    # The settlement entry booked on Lyon is left out too.
    post(ledger, [ledger.line("44571", debit="7.00"), ledger.line("44551", credit="7.00")], site=lyon)
    for site, scale in ((lyon, 1), (paris, 3), (None, 9)):
        result = vat_return.vat_return(actor, period, site_id=site.pk if site else None)
        hand = balances(ledger.company_id, site, year_start(), year_end())
        settled = {"44571": D("57.00") if site is None else D("7.00") if site == lyon else D(0),
                   "44566": D("-20.00") if site is None else D(0)}  # fmt: skip
        assert result.ledger["collected"] == -(hand["44571"] - settled["44571"]) == D("210.00") * scale
        assert result.ledger["deductible_other"] == hand["44566"] - settled["44566"] == D("100.00") * scale
        assert result.ledger["deductible_fixed_assets"] == hand["44562"] == D("400.00") * scale
        assert result.gross_due == D("210.00") * scale and result.credit == D("290.00") * scale
        assert result.site == site


def test_vat_return_breakdown_takes_the_sites_invoices(personas: Personas) -> None:
    books = make_books(personas)
    ledger = books.ledger
    lyon, paris, _foreign = make_sites(ledger)
    Site.objects.filter(pk=paris.pk).update(is_active=True)
    actor = books.actor()
    books.posted([line(unit_price="100.00"), line("Livre", unit_price="50.00", vat_category="reduced")],
                 site_id=lyon.pk)  # fmt: skip
    books.posted([line(unit_price="300.00")], site_id=paris.pk)
    books.posted([line(unit_price="1000.00")])  # the company's default site (or none)
    period = statements.resolve_period(actor, date_from=year_start(), date_to=year_end())
    for site, base_20, tax_20, base_55 in ((lyon, "100.00", "20.00", "50.00"), (paris, "300.00", "60.00", "0")):
        result = vat_return.vat_return(actor, period, site_id=site.pk)
        rates = {box.box: box for box in result.rates}
        assert (rates["08"].base, rates["08"].tax, rates["09"].base) == (D(base_20), D(tax_20), D(base_55))
        assert {b.box: b.base for b in result.bases}["A1"] == D(base_20) + D(base_55)
        # The declared VAT is the site's ledger: the lines of its invoices on 44571.
        hand = balances(ledger.company_id, site, year_start(), year_end())
        assert result.ledger["collected"] == -hand["44571"] == rates["08"].tax + rates["09"].tax
        assert result.other_movements == 0
    whole = vat_return.vat_return(actor, period)
    assert {box.box: box for box in whole.rates}["08"].base == D("1400.00")


def test_trial_balance_and_general_ledger_of_a_site(sited: tuple[Ledger, Site, Site, Site]) -> None:
    ledger, lyon, paris, _foreign = sited
    actor = ledger.actor()
    ensure_previous_year(ledger)
    post(ledger, [ledger.line("512", debit="5.00"), ledger.line("101", credit="5.00")], site=lyon, date=mid_last_year())
    for site in (lyon, paris, None):
        site_id = site.pk if site else None
        balance = selectors.trial_balance(actor, date_from=year_start(), date_to=year_end(), site_id=site_id)
        hand = balances(ledger.company_id, site, year_start(), year_end())
        assert {row.code: row.balance for row in balance.rows if row.balance} == hand
        assert balance.total_debit == balance.total_credit
        _account, opening, rows = selectors.general_ledger(actor, account_id=ledger.accounts["512"],
                                                          date_from=year_start(), date_to=year_end(),
                                                          site_id=site_id)  # fmt: skip
        assert opening == (D("5.00") if site in (lyon, None) else D(0))
        final = selectors.ledger_rows(list(rows), opening)[-1]["balance"]
        assert final == opening + hand["512"]


# --- Pages, exports, API ---------------------------------------------------------------


PAGES = ("balance-sheet/", "income-statement/", "vat-return/", "aged-receivables/", "aged-payables/")


def test_pages_filter_by_site_and_keep_it_in_drill_downs(sited: tuple[Ledger, Site, Site, Site],
                                                         client: Client) -> None:  # fmt: skip
    ledger, lyon, _paris, foreign = sited
    login(client, ledger, "management")
    query = f"date_from={year_start().isoformat()}&date_to={year_end().isoformat()}&site={lyon.pk}"
    sheet = client.get(f"/accounting/statements/balance-sheet/?{query}").content.decode()
    assert 'id="site-note"' in sheet and "Lyon Confluence" in sheet and 'id="not-balanced"' not in sheet
    assert f'<option value="{lyon.pk}" selected>' in sheet and "Paris Bastille (closed)" in sheet
    assert f'href="/accounting/statements/vat-return/?site={lyon.pk}"' in sheet  # the other reports keep it
    assert (
        f"/ledger/?date_from={year_start().isoformat()}&amp;date_to={year_end().isoformat()}&amp;site={lyon.pk}"
        in sheet
    )
    vat = client.get(f"/accounting/statements/vat-return/?{query}").content.decode()
    assert 'id="vat-site-analysis"' in vat and f"&amp;site={lyon.pk}" in vat
    assert 'id="vat-site-analysis"' not in client.get("/accounting/statements/vat-return/").content.decode()
    before = today()  # the page's default date is read when it runs (a run may cross midnight)
    receivables = client.get(f"/accounting/statements/aged-receivables/?site={lyon.pk}").content.decode()
    assert any(f"?date_to={day.isoformat()}&amp;site={lyon.pk}" in receivables for day in (before, today()))
    partner = client.get(f"/accounting/statements/partners/{ledger.customer.pk}/?{query}").content.decode()
    assert f"&amp;site={lyon.pk}" in partner and 'id="closing">1060.00<' in partner
    balance = client.get(f"/accounting/trial-balance/?{query}").content.decode()
    assert f"&amp;site={lyon.pk}" in balance and 'id="total-debit">' in balance
    ledger_page = client.get(f"/accounting/accounts/{ledger.accounts['512']}/ledger/?{query}").content.decode()
    assert 'data-balance="1200.00"' in ledger_page and 'data-balance="10800.00"' not in ledger_page
    # Another company's site, or garbage: 422 with the message next to the field.
    for bad in (str(foreign.pk), "abc", "0", "-3", "99999999999999999999999"):
        for url in PAGES:
            response = client.get(f"/accounting/statements/{url}?site={bad}")
            assert response.status_code == 422, (url, bad)
            assert "Choose one of your company" in response.content.decode()
        assert client.get(f"/accounting/statements/partners/{ledger.customer.pk}/?site={bad}").status_code == 422
        assert client.get(f"/accounting/trial-balance/?site={bad}").status_code == 422
    response = client.get("/accounting/statements/balance-sheet/?site=abc&date_from=bad")
    assert response.status_code == 422 and response.content.decode().count("invalid-feedback") == 2


def _xlsx_rows(response: Any) -> list[tuple[Any, ...]]:
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]


def test_exports_name_the_site(sited: tuple[Ledger, Site, Site, Site], client: Client) -> None:
    ledger, lyon, _paris, _foreign = sited
    login(client, ledger, "management")
    query = f"date_from={year_start().isoformat()}&date_to={year_end().isoformat()}&site={lyon.pk}"
    for url in (*PAGES, f"partners/{ledger.customer.pk}/"):
        rows = _xlsx_rows(client.get(f"/accounting/statements/{url}?{query}&format=xlsx"))
        assert rows[0][0] == "Site" and all(row[0] == "Lyon Confluence" for row in rows[1:]), url
    csv_response = client.get(f"/accounting/statements/income-statement/?{query}&format=csv")
    text = b"".join(csv_response.streaming_content)  # type: ignore[attr-defined]
    lines = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert lines[0][0] == "Site" and lines[1][0] == "Lyon Confluence"
    for url in ("balance-sheet/", "vat-return/", "aged-receivables/"):
        response = client.get(f"/accounting/statements/{url}?{query}&format=pdf&lang=en")
        assert response.status_code == 200 and f"site-{lyon.pk}" in response["Content-Disposition"]
        text_pdf = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
        assert "Site Lyon Confluence" in text_pdf, url
        if url == "vat-return/":
            assert "Analysis view" in text_pdf
    rows = _xlsx_rows(client.get(f"/accounting/trial-balance/?{query}&format=xlsx"))
    assert rows[0][0] == "Site" and rows[1][0] == "Lyon Confluence"
    pdf = client.get(f"/accounting/trial-balance/pdf/?{query}&lang=en")
    assert "Site Lyon Confluence" in "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    # Without a site: no site column.
    assert _xlsx_rows(client.get("/accounting/statements/balance-sheet/?format=xlsx"))[0][0] == "Section"


def test_api_site_filter(sited: tuple[Ledger, Site, Site, Site], client: Client) -> None:
    ledger, lyon, paris, foreign = sited
    headers = key(ledger, "finance", ["accounting:read"])
    query = f"date_from={year_start().isoformat()}&date_to={year_end().isoformat()}"
    sheet = client.get(f"{API}/statements/balance-sheet?{query}&site={lyon.pk}", headers=headers).json()
    assert sheet["site"] == {"id": lyon.pk, "name": "Lyon Confluence"} and sheet["balanced"] is True
    assert {t["key"]: t["current"] for t in sheet["totals"]}["result"] == "250.00"
    income = client.get(f"{API}/statements/income-statement?{query}&site={paris.pk}", headers=headers).json()
    assert income["totals"][-1]["current"] == "750.00"
    vat = client.get(f"{API}/statements/vat-return?{query}&site={lyon.pk}", headers=headers).json()
    assert vat["ledger"]["collected"] == "210.00" and vat["site"]["id"] == lyon.pk
    receivables = client.get(f"{API}/statements/aged-receivables?site={lyon.pk}", headers=headers).json()
    assert receivables["totals"]["total"] == "1060.00"
    partner = client.get(f"{API}/statements/partners/{ledger.customer.pk}?site={paris.pk}", headers=headers).json()
    assert partner["closing"] == "3180.00" and partner["site"]["name"] == "Paris Bastille"
    whole = client.get(f"{API}/statements/balance-sheet?{query}", headers=headers).json()
    assert whole["site"] is None
    for bad in (str(foreign.pk), "abc", "0", "-1", "1e3"):
        for url in ("balance-sheet", "income-statement", "vat-return", "aged-receivables", "aged-payables",
                    f"partners/{ledger.customer.pk}"):  # fmt: skip
            body = error(client.get(f"{API}/statements/{url}?site={bad}", headers=headers), 422)
            assert "site" in body["fields"], (url, bad)


def test_trial_balance_and_general_ledger_check_the_site_themselves(sited: tuple[Ledger, Site, Site, Site],
                                                                    client: Client) -> None:  # fmt: skip
    """The selectors resolve the site (not only the pages): page, exports and API share the check.
    Another company's site or garbage is a field error on ``site``; a closed site of the company
    is accepted (its history stays readable)."""
    ledger, lyon, paris, foreign = sited
    actor = ledger.actor()
    bank = ledger.accounts["512"]
    for bad in (foreign.pk, foreign, "abc", "0", -1, 2**70, "1.5"):
        with pytest.raises(ValidationFailed) as caught:
            selectors.trial_balance(actor, date_from=year_start(), date_to=year_end(), site_id=bad)
        assert set(caught.value.fields or {}) == {"site"}, bad
        with pytest.raises(ValidationFailed) as caught:
            selectors.general_ledger(actor, account_id=bank, site_id=bad)
        assert set(caught.value.fields or {}) == {"site"}, bad
    assert selectors.trial_balance(actor, site_id=str(paris.pk)).site == paris
    assert selectors.trial_balance(actor).site is None
    # API: `site` on the trial balance and the general ledger, with the same figures as the selectors.
    headers = key(ledger, "finance", ["accounting:read"])
    query = f"date_from={year_start().isoformat()}&date_to={year_end().isoformat()}"
    for site in (lyon, paris):
        data = client.get(f"{API}/trial-balance?{query}&site={site.pk}", headers=headers).json()
        expected = selectors.trial_balance(actor, date_from=year_start(), date_to=year_end(), site_id=site.pk)
        assert data["site"] == {"id": site.pk, "name": site.name}
        assert {r["code"]: r["balance"] for r in data["rows"]} == {r.code: str(r.balance) for r in expected.rows}
        assert data["total_debit"] == str(expected.total_debit) and expected.total_debit > 0
        lines = client.get(f"{API}/accounts/{bank}/ledger?{query}&site={site.pk}", headers=headers).json()
        _account, opening, rows = selectors.general_ledger(actor, account_id=bank, date_from=year_start(),
                                                          date_to=year_end(), site_id=site.pk)  # fmt: skip
        assert [(i["id"], i["balance"]) for i in lines["items"]] == [
            (r["id"], str(r["balance"])) for r in selectors.ledger_rows(list(rows), opening)
        ]  # fmt: skip
    whole = client.get(f"{API}/trial-balance?{query}", headers=headers).json()
    assert whole["site"] is None
    assert whole["total_debit"] == str(selectors.trial_balance(actor, date_from=year_start(),
                                                               date_to=year_end()).total_debit)  # fmt: skip
    for bad in (str(foreign.pk), "abc", "0", "-1", "1e3"):
        for url in ("trial-balance", f"accounts/{bank}/ledger"):
            body = error(client.get(f"{API}/{url}?site={bad}", headers=headers), 422)
            assert "site" in body["fields"], (url, bad)
    # Pages and exports (CSV, XLSX, PDF): the same 422 on the field.
    login(client, ledger, "management")
    for bad in (str(foreign.pk), "abc"):
        for url in (f"/accounting/accounts/{bank}/ledger/?site={bad}",
                    f"/accounting/accounts/{bank}/ledger/?site={bad}&format=csv",
                    f"/accounting/accounts/{bank}/ledger/pdf/?site={bad}",
                    f"/accounting/trial-balance/?site={bad}&format=xlsx",
                    f"/accounting/trial-balance/pdf/?site={bad}"):  # fmt: skip
            response = client.get(url)
            assert response.status_code == 422, url
            assert "Choose one of your company" in response.content.decode(), url
    sheet = _xlsx_rows(client.get(f"/accounting/accounts/{bank}/ledger/?{query}&site={paris.pk}&format=xlsx"))
    assert sheet[0][0] == "Site" and len(sheet) > 1 and all(row[0] == "Paris Bastille" for row in sheet[1:])


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200, url
    return len(captured)


def test_page_query_count_does_not_grow_with_data(ledger: Ledger, client: Client) -> None:
    lyon, _paris, _foreign = make_sites(ledger)
    seed_site(ledger, lyon, 1)
    login(client, ledger, "management")
    query = f"date_from={year_start().isoformat()}&date_to={year_end().isoformat()}&site={lyon.pk}"
    urls = [f"/accounting/statements/{url}?{query}" for url in PAGES]
    urls += [f"/accounting/statements/partners/{ledger.customer.pk}/?{query}", f"/accounting/trial-balance/?{query}",
             f"/accounting/accounts/{ledger.accounts['411']}/ledger/?{query}"]  # fmt: skip
    _queries(client, urls[0])  # the session's first save
    before = {url: _queries(client, url) for url in urls}
    for scale in (2, 3, 4):
        seed_site(ledger, lyon, scale)
    more = Site.objects.create(company=ledger.personas.company, name="Nantes", siret="99999999900037")
    seed_site(ledger, more, 2)
    after = {url: _queries(client, url) for url in urls}
    assert after == before

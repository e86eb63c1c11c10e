"""Multi-currency: exchange rates by date and the conversion of entries to the company currency.

The ledger is kept in the company currency (EUR). A document in another currency (an
invoice, a payment) is booked with each line converted at the rate of its date, and the
line keeps its amount in the foreign currency (``JournalLine.amount_currency``, signed like
debit − credit, and ``currency``): the FEC prints them (Montantdevise, Idevise).

A rate is how many units of the foreign currency make 1 EUR on a date (the ECB's way:
1 EUR = 1.0850 USD), exact to 8 places. The rate of a day is the latest one on or before it.
Conversion: ``EUR = round(amount / rate, 2)`` (half-up, kernel/money); the rounding of an
entry's lines goes on its largest line so the entry balances exactly in EUR.

Realised exchange differences (payments.py, and credit notes allocated to invoices booked at
another rate: credit_allocation.py) go to 666 Pertes de change / 766 Gains de
change; unrealised ones at closing to 476/477 (revaluation.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.models import Account, Invoice, JournalEntry, JournalLine
from comptoir.accounting.models_currency import RATE_PLACES, CurrencyRate
from comptoir.kernel import audit
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.kernel.money import quantize
from comptoir.org.models import Company

VIEW = "accounting.view_ledger"
MANAGE = "accounting.manage_chart"
LOSS_ACCOUNT, GAIN_ACCOUNT = "666", "766"
MAX_IMPORT_ROWS = 20000
MAX_IMPORT_BYTES = 2 * 1024 * 1024  # a rates file is a few hundred KB at most
ZERO = Decimal(0)
# ISO 4217 active codes (2024), without funds and precious metals.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF
    GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP
    LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW
    ZWG""".split()
)


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


def company_currency(company_id: int) -> str:
    return Company.objects.filter(pk=company_id).values_list("currency", flat=True).first() or "EUR"


def parse_currency(errors: dict[str, list[str]], name: str, value: Any) -> str:
    code = str(value or "").strip().upper()
    if code not in ISO_4217:
        _add(errors, name, _("Enter a three-letter ISO 4217 currency code, e.g. USD."))
    return code


def parse_rate(errors: dict[str, list[str]], name: str, value: Any) -> Decimal:
    try:
        rate = Decimal(str(value).strip().replace(",", ".")) if value not in (None, "") else None
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or rate <= 0:
        _add(errors, name, _("Enter a rate greater than zero (units of the currency for 1 EUR)."))
        return ZERO
    # The size first: quantizing 1E+40 to 8 places would raise InvalidOperation.
    if rate >= 10**9 or rate != rate.quantize(Decimal(1).scaleb(-RATE_PLACES)):
        _add(
            errors, name, _("Use at most %(places)s decimal places and less than a billion.") % {"places": RATE_PLACES}
        )
        return ZERO
    return rate


def _parse_day(errors: dict[str, list[str]], name: str, value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        _add(errors, name, _("Enter a valid date (YYYY-MM-DD)."))
        return None


def _store(actor: Actor, currency: str, day: dt.date, rate: Decimal) -> CurrencyRate:
    found = CurrencyRate.objects.select_for_update().filter(company_id=actor.company_id, currency=currency,
                                                            date=day).first()  # fmt: skip
    before = found.rate if found else None
    if found is None:
        found = CurrencyRate(  # type: ignore[misc]  # a scaled Decimal field
            company_id=actor.company_id, currency=currency, date=day, rate=rate,
            created_by_id=actor.user_id)  # fmt: skip
    found.rate = rate  # type: ignore[assignment]
    found.save()
    audit.record(actor, "currency_rate.set", found, changes={"currency": [None, currency], "date": [None, day],
                 "rate": [before, rate]})  # fmt: skip
    return found


@transaction.atomic
def rate_set(*, actor: Actor, currency: Any, date: Any, rate: Any) -> CurrencyRate:
    """Set the rate of a currency on a date (replaces that day's rate)."""
    require(actor, MANAGE)
    assert actor.company_id is not None
    errors: dict[str, list[str]] = {}
    code = parse_currency(errors, "currency", currency)
    day = _parse_day(errors, "date", date)
    value = parse_rate(errors, "rate", rate)
    if "currency" not in errors and code == company_currency(actor.company_id):
        _add(errors, "currency", _("The company currency has no rate: choose another currency."))
    if errors:
        raise ValidationFailed(fields=errors)
    assert day is not None
    return _store(actor, code, day, value)


def _decode(data: bytes) -> str:
    """UTF-8, else Windows-1252 (spreadsheets' CSV exports); rates files are dates, codes and
    digits, so an undecodable byte becomes a bad row reported as such, never a crash."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _read_bounded(data: bytes | str | IO[bytes]) -> bytes | str:
    """The file's content, refused above ``MAX_IMPORT_BYTES``; an upload is read no further
    than one byte past the limit."""
    content = data if isinstance(data, bytes | str) else data.read(MAX_IMPORT_BYTES + 1)
    size = len(content.encode()) if isinstance(content, str) else len(content)
    if size > MAX_IMPORT_BYTES:
        raise ValidationFailed("too_large", fields={"file": [str(_("The file is larger than 2 MB."))]})
    return content


@transaction.atomic
def rates_import(*, actor: Actor, data: bytes | str | IO[bytes]) -> int:
    """Import ``date,currency,rate`` rows (header optional, ``,`` or ``;``): all or nothing.

    ``data``: the file's bytes, its text, or the uploaded file itself (read here, within the limit)."""
    require(actor, MANAGE)
    assert actor.company_id is not None
    content = _read_bounded(data)
    text = _decode(content) if isinstance(content, bytes) else content
    dialect = ";" if text.count(";") > text.count(",") else ","
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=dialect) if any(cell.strip() for cell in row)]
    if rows and rows[0] and rows[0][0].strip().lower() == "date":
        rows = rows[1:]
    errors: dict[str, list[str]] = {}
    if not rows:
        _add(errors, "file", _("The file has no rates."))
    if len(rows) > MAX_IMPORT_ROWS:
        _add(errors, "file", _("At most %(n)s rates per file.") % {"n": MAX_IMPORT_ROWS})
    home = company_currency(actor.company_id)
    parsed: dict[tuple[str, dt.date], Decimal] = {}
    for index, row in enumerate(rows[:MAX_IMPORT_ROWS]):
        prefix = f"rows.{index + 1}."
        if len(row) != 3:
            _add(errors, f"rows.{index + 1}", _("Expected three columns: date, currency, rate."))
            continue
        day = _parse_day(errors, prefix + "date", row[0])
        code = parse_currency(errors, prefix + "currency", row[1])
        value = parse_rate(errors, prefix + "rate", row[2])
        if code == home:
            _add(errors, prefix + "currency", _("The company currency has no rate: choose another currency."))
        if day is not None and value:
            parsed[(code, day)] = value
    if errors:
        raise ValidationFailed(fields=errors)
    for (code, day), value in parsed.items():
        _store(actor, code, day, value)
    return len(parsed)


def rates_list(actor: Actor, *, currency: str = "") -> QuerySet[CurrencyRate]:
    require(actor, VIEW)
    queryset = CurrencyRate.objects.filter(company_id=actor.company_id)
    if currency:
        queryset = queryset.filter(currency=currency.strip().upper())
    return queryset.order_by("currency", "-date", "-id")


def rate_on(company_id: int, currency: str, day: dt.date, *, field: str = "currency") -> Decimal:
    """Units of ``currency`` for 1 company-currency unit on ``day``: the latest rate on or before it.

    1 for the company currency. No rate: ``ValidationFailed`` on ``field``.
    """
    if currency == company_currency(company_id):
        return Decimal(1)
    found = (
        CurrencyRate.objects.filter(company_id=company_id, currency=currency, date__lte=day)
        .order_by("-date").values_list("rate", flat=True).first()
    )  # fmt: skip
    if found is None:
        raise _no_rate(field, currency, day)
    return Decimal(found)


def rates_on(
    company_id: int, currencies: Iterable[str], day: dt.date, *, field: str = "currency"
) -> dict[str, Decimal]:
    """``rate_on`` of several currencies, read in one query however many they are (and one for
    the company currency): {code: rate}, in code order. The first code without a rate raises."""
    codes = sorted(set(currencies))
    if not codes:
        return {}
    home = company_currency(company_id)
    latest = (
        CurrencyRate.objects.filter(company_id=company_id, currency=OuterRef("currency"), date__lte=day)
        .order_by("-date").values("pk")[:1]
    )  # fmt: skip
    found = dict(
        CurrencyRate.objects.filter(company_id=company_id, currency__in=[c for c in codes if c != home],
                                    pk=Subquery(latest)).values_list("currency", "rate")
    )  # fmt: skip
    rates: dict[str, Decimal] = {}
    for code in codes:
        if code != home and code not in found:
            raise _no_rate(field, code, day)
        rates[code] = Decimal(1) if code == home else Decimal(found[code])
    return rates


def _no_rate(field: str, currency: str, day: dt.date) -> ValidationFailed:
    return ValidationFailed(fields={field: [str(
        _("No exchange rate for %(currency)s on or before %(date)s: add one in the exchange rates.")
        % {"currency": currency, "date": day.isoformat()})]})  # fmt: skip


def to_company(amount: Decimal, rate: Decimal) -> Decimal:
    """An amount in a foreign currency in the company currency, to the cent."""
    return quantize(Decimal(amount) / rate)


def convert_lines(lines: Sequence[dict[str, Any]], currency: str, rate: Decimal) -> list[dict[str, Any]]:
    """Entry lines written in ``currency`` → the same lines in the company currency.

    Each line keeps its foreign amount (``amount_currency`` signed, ``currency``); the
    rounding of the conversion goes on the largest line, so debits equal credits exactly.
    Lines that already carry ``company_amount`` (signed) keep that amount in EUR.
    """
    converted: list[dict[str, Any]] = []
    signed_eur: list[Decimal] = []
    for line in lines:
        signed = Decimal(line.get("debit") or 0) - Decimal(line.get("credit") or 0)
        fixed = line.get("company_amount")
        eur = Decimal(fixed) if fixed is not None else to_company(signed, rate)
        converted.append({k: v for k, v in line.items() if k != "company_amount"}
                         | {"amount_currency": signed, "currency": currency})  # fmt: skip
        signed_eur.append(eur)
    gap = sum(signed_eur, ZERO)
    free = [i for i, line in enumerate(lines) if line.get("company_amount") is None]
    if gap and free:  # lines with a fixed EUR amount leave their gap to the caller (exchange difference)
        largest = max(free, key=lambda i: abs(signed_eur[i]))
        signed_eur[largest] -= gap
    for line, eur in zip(converted, signed_eur, strict=True):
        line["debit"] = eur if eur > 0 else ZERO
        line["credit"] = -eur if eur < 0 else ZERO
    return converted


def split_stamps(lines: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[Decimal | None, str]]]:
    """Lines for ``create_entry`` (without the currency keys) and their (amount_currency, currency)."""
    plain, stamps = [], []
    for line in lines:
        plain.append({k: v for k, v in line.items() if k not in ("amount_currency", "currency")})
        stamps.append((line.get("amount_currency"), line.get("currency") or ""))
    return plain, stamps


def stamp(entry: JournalEntry, stamps: Sequence[tuple[Decimal | None, str]]) -> None:
    """Write the foreign amounts on a draft entry's lines (in the order they were given)."""
    ids = list(JournalLine.objects.filter(entry=entry).order_by("sequence", "id").values_list("pk", flat=True))
    for pk, (amount, code) in zip(ids, stamps, strict=True):
        if code:
            JournalLine.objects.filter(pk=pk).update(amount_currency=amount, currency=code)


# --- Invoices and payments in a foreign currency ----------------------------------------


def invoice_company_total(invoice: Invoice) -> Decimal:
    """What the invoice's partner lines booked in the company currency (positive)."""
    rows = JournalLine.objects.filter(
        entry_id=invoice.journal_entry_id, partner_account_id=invoice.partner_account_id
    ).values_list("debit", "credit")
    return abs(sum((Decimal(d) - Decimal(c) for d, c in rows), ZERO))


def _settled_share(invoice: Invoice, company_total: Decimal, paid: Decimal) -> Decimal:
    total = Decimal(invoice.total_amount)
    if not total or paid >= total:
        return company_total
    return quantize(company_total * paid / total)


def settled_company_amount(invoice: Invoice, part: Decimal, company_total: Decimal | None = None) -> Decimal:
    """The company-currency share of the invoice that paying ``part`` (in its currency) settles.

    Cumulative, like the VAT on receipts: the share of what is paid after, minus the share
    of what was paid before, so the last payment settles exactly what is left in EUR.
    """
    company_total = invoice_company_total(invoice) if company_total is None else company_total
    paid_before = Decimal(invoice.total_amount) - Decimal(invoice.residual_amount)
    return _settled_share(invoice, company_total, paid_before + part) - _settled_share(
        invoice, company_total, paid_before
    )


def residual_company(invoice: Invoice) -> Decimal:
    """What is still due on a posted invoice, in the company currency at its booking rate."""
    if invoice.currency == company_currency(invoice.company_id) or not invoice.journal_entry_id:
        return Decimal(invoice.residual_amount)
    company_total = invoice_company_total(invoice)
    paid = Decimal(invoice.total_amount) - Decimal(invoice.residual_amount)
    return company_total - _settled_share(invoice, company_total, paid)


def payment_lines(
    company_id: int, code: str, day: dt.date, lines: Sequence[dict[str, Any]],
    parts: Sequence[tuple[Invoice, Decimal]], has_credit: bool, label: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """A payment's lines written in ``code`` → in the company currency, with the realised difference.

    ``lines`` are the payment's: the bank line, one partner line per invoice in ``parts``, the
    credit line when ``has_credit``, then lines already in EUR (VAT on receipts), kept as they
    are. The bank and the credit are converted at the payment date's rate; each invoice's line
    takes the EUR its part settles at the invoice's rate; the gap is the realised exchange
    difference: 766 Gains de change (credit) or 666 Pertes de change (debit).
    """
    rate = rate_on(company_id, code, day)
    count = 1 + len(parts) + (1 if has_credit else 0)
    head, tail = list(lines[:count]), list(lines[count:])

    def signed(line: dict[str, Any]) -> Decimal:
        return Decimal(line.get("debit") or 0) - Decimal(line.get("credit") or 0)

    bank_eur = to_company(signed(head[0]), rate)
    fixed: list[Decimal] = [bank_eur]
    allocated = ZERO
    for (invoice, part), line in zip(parts, head[1 : 1 + len(parts)], strict=True):
        share = settled_company_amount(invoice, part)
        fixed.append(share if signed(line) > 0 else -share)
        allocated += signed(line)
    if has_credit:
        fixed.append(-bank_eur - to_company(allocated, rate))
    converted = [
        {k: v for k, v in line.items()} | {"company_amount": eur} for line, eur in zip(head, fixed, strict=True)
    ]
    result = convert_lines(converted, code, rate)
    gap = sum(fixed, ZERO)
    if gap:
        result.append(exchange_difference_line(company_id, -gap, label))
    return result + tail


def exchange_difference_line(company_id: int, signed: Decimal, label: str) -> dict[str, Any]:
    """The realised exchange difference ``signed`` like debit − credit: a debit on 666 Pertes de
    change (a loss), a credit on 766 Gains de change (a gain). Payments and credit allocations."""
    target = LOSS_ACCOUNT if signed > 0 else GAIN_ACCOUNT
    account_id = Account.objects.filter(company_id=company_id, code=target, is_active=True).values_list(
        "pk", flat=True).first()  # fmt: skip
    if account_id is None:
        raise Conflict("account_missing", _("Account %(code)s is missing from the chart.") % {"code": target})
    return {"account_id": account_id, "label": label[:200],
            "debit": signed if signed > 0 else ZERO, "credit": -signed if signed < 0 else ZERO}  # fmt: skip

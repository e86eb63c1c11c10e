"""Revaluation of open foreign-currency items at a date (closing), PCG art. 420-5.

At the end of a fiscal year, receivables and payables in a foreign currency still open are
converted at that day's rate. The difference with what they were booked at (the invoice's
rate, less what payments settled) is unrealised: it does not go to the income statement but
to 476 Différences de conversion – Actif (an unrealised loss) or 477 Différences de
conversion – Passif (an unrealised gain), against the partner accounts. The entry (general
journal, "OD") is reversed on the next day, the first day of the next period: the realised
difference is then booked by the payment (payments.py, 666/766).

When the net unrealised position is a loss (losses on 476 above gains on 477: PCG art. 322-5,
the global exchange position), the prudence principle calls for a provision: 6865 Dotations
aux provisions financières against 1515 Provisions pour pertes de change, at the same date,
reversed on the next day (first day of the next year) by 1515 against 7865 Reprises sur
provisions financières. ``revalue`` books it with the revaluation; ``provision_post`` books it
for a date revalued before (the closing page proposes it).

Each revaluation line is matched with its reversal line (lettrage), so neither stays open on
the partner account.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import closing, matching
from comptoir.accounting import currency as currency_services
from comptoir.accounting import services as ledger
from comptoir.accounting.models import (
    Account,
    AccountType,
    FiscalYear,
    Invoice,
    InvoiceKind,
    InvoiceState,
    Journal,
    JournalEntry,
    JournalKind,
    JournalLine,
)
from comptoir.accounting.models_credit import CreditAllocation
from comptoir.accounting.models_payments import PaymentAllocation
from comptoir.kernel import audit
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, ValidationFailed

SOURCE_TYPE = "accounting.revaluation"
ASSET_ACCOUNT, LIABILITY_ACCOUNT = "476", "477"
ACCOUNT_NAMES = {
    ASSET_ACCOUNT: "Différence de conversion - Actif",
    LIABILITY_ACCOUNT: "Différence de conversion - Passif",
}
PROVISION_ACCOUNT, PROVISION_EXPENSE, PROVISION_INCOME = "1515", "6865", "7865"
PROVISION_ACCOUNTS = {
    PROVISION_ACCOUNT: ("Provisions pour pertes de change", AccountType.OTHER),
    PROVISION_EXPENSE: ("Dotations aux provisions financières", AccountType.EXPENSE),
    PROVISION_INCOME: ("Reprises sur provisions financières", AccountType.INCOME),
}
VIEW = "accounting.view_ledger"
POST = "accounting.post_entries"
ZERO = Decimal(0)
STATES = (InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID, InvoiceState.PAID)
# The partner line's side: customers owe us (debit), we owe suppliers (credit).
DEBIT_KINDS = (InvoiceKind.CUSTOMER_INVOICE, InvoiceKind.VENDOR_REFUND)


def _in_company_language(message: Any) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return str(message)


@dataclass
class Item:
    invoice_id: int
    number: str
    partner_name: str
    partner_account_id: int
    account_id: int
    currency: str
    residual: Decimal  # in the invoice's currency, at the date
    booked: Decimal  # signed (debit positive), in EUR at the invoice's rate
    rate: Decimal
    revalued: Decimal  # signed, in EUR at the date's rate
    site_id: int | None = None  # the invoice's: its revaluation lines are booked on the same site

    @property
    def difference(self) -> Decimal:
        """Signed like the partner line: > 0 an unrealised gain (477), < 0 a loss (476)."""
        return self.revalued - self.booked


@dataclass
class Revaluation:
    day: dt.date
    items: list[Item] = field(default_factory=list)
    rates: dict[str, Decimal] = field(default_factory=dict)
    entry: JournalEntry | None = None
    reversal: JournalEntry | None = None
    provision_entry: JournalEntry | None = None
    provision_reversal: JournalEntry | None = None

    @property
    def gains(self) -> Decimal:
        return sum((i.difference for i in self.items if i.difference > 0), ZERO)

    @property
    def losses(self) -> Decimal:
        return -sum((i.difference for i in self.items if i.difference < 0), ZERO)

    @property
    def provision(self) -> Decimal:
        """The provision for exchange losses the position calls for: the net unrealised loss, or 0."""
        return max(self.losses - self.gains, ZERO)


def _open_invoices(company_id: int, day: dt.date) -> list[Invoice]:
    home = currency_services.company_currency(company_id)
    return list(
        Invoice.objects.filter(company_id=company_id, state__in=STATES, issue_date__lte=day,
                               journal_entry__isnull=False, partner_account__isnull=False)
        .exclude(currency=home).order_by("currency", "issue_date", "pk")
    )  # fmt: skip


def _paid_after(invoices: list[Invoice], day: dt.date) -> dict[int, Decimal]:
    """What was settled on each invoice after ``day`` (payments and credit notes)."""
    ids = [i.pk for i in invoices]
    after: dict[int, Decimal] = defaultdict(Decimal)
    for invoice_id, amount in (
        PaymentAllocation.objects.filter(invoice_id__in=ids, is_active=True, date__gt=day)
        .values_list("invoice_id").annotate(total=Sum("amount")).values_list("invoice_id", "total")
    ):  # fmt: skip
        after[invoice_id] += Decimal(amount)
    for invoice_id, credit_note_id, amount in CreditAllocation.objects.filter(
        Q(invoice_id__in=ids) | Q(credit_note_id__in=ids), is_active=True, date__gt=day
    ).values_list("invoice_id", "credit_note_id", "amount"):
        for target in (invoice_id, credit_note_id):
            if target in ids:
                after[target] += Decimal(amount)
    return after


def _booked(invoices: list[Invoice]) -> dict[int, tuple[Decimal, int]]:
    """Each invoice's partner lines in EUR (signed) and their account."""
    by_entry = {i.journal_entry_id: i for i in invoices}
    result: dict[int, tuple[Decimal, int]] = {}
    for entry_id, partner_id, account_id, debit, credit in JournalLine.objects.filter(
        entry_id__in=list(by_entry), partner_account__isnull=False
    ).values_list("entry_id", "partner_account_id", "account_id", "debit", "credit"):
        invoice = by_entry[entry_id]
        if partner_id != invoice.partner_account_id:
            continue
        total, _account = result.get(invoice.pk, (ZERO, account_id))
        result[invoice.pk] = (total + Decimal(debit) - Decimal(credit), account_id)
    return result


def compute(company_id: int, day: dt.date) -> Revaluation:
    """The open foreign-currency items at ``day`` and their unrealised differences (no write)."""
    result = Revaluation(day=day)
    invoices = _open_invoices(company_id, day)
    after = _paid_after(invoices, day)
    booked = _booked(invoices)
    still_open: list[tuple[Invoice, Decimal, Decimal]] = []
    for invoice in invoices:
        total = Decimal(invoice.total_amount)
        residual = min(total, Decimal(invoice.residual_amount) + after.get(invoice.pk, ZERO))
        if residual > 0 and invoice.pk in booked:
            still_open.append((invoice, total, residual))
    # The rates of the open items' currencies only, in one query (no rate is needed for the others).
    result.rates = currency_services.rates_on(company_id, (i.currency for i, _t, _r in still_open), day, field="date")
    for invoice, total, residual in still_open:
        rate = result.rates[invoice.currency]
        signed_total, account_id = booked[invoice.pk]
        sign = Decimal(1) if signed_total > 0 else Decimal(-1)
        company_total = abs(signed_total)
        # What is still booked for the open part: the total less the share settled (currency.py).
        settled = currency_services._settled_share(invoice, company_total, total - residual)
        result.items.append(Item(
            invoice_id=invoice.pk, number=invoice.number, partner_name=invoice.partner_name,
            partner_account_id=invoice.partner_account_id or 0, account_id=account_id, currency=invoice.currency,
            residual=residual, booked=sign * (company_total - settled), rate=rate,
            revalued=sign * currency_services.to_company(residual, rate), site_id=invoice.site_id,
        ))  # fmt: skip
    return result


def revaluation_preview(actor: Actor, day: Any) -> Revaluation:
    require(actor, VIEW)
    assert actor.company_id is not None
    result = compute(actor.company_id, _parse_day(day))
    result.entry, result.reversal = entries_at(actor.company_id, result.day)
    result.provision_entry, result.provision_reversal = provision_at(actor.company_id, result.day)
    return result


def _parse_day(value: Any) -> dt.date:
    errors: dict[str, list[str]] = {}
    day = ledger._parse_date(errors, "date", value)
    if errors or day is None:
        raise ValidationFailed(fields=errors or {"date": [str(_("Enter a valid date."))]})
    return day


def entries_at(company_id: int, day: dt.date) -> tuple[JournalEntry | None, JournalEntry | None]:
    """The revaluation posted at ``day`` and its reversal, if any."""
    found = JournalEntry.objects.filter(company_id=company_id, source_type=SOURCE_TYPE, source_id=day.isoformat(),
                                        reversal_of__isnull=True).first()  # fmt: skip
    reversal = JournalEntry.objects.filter(reversal_of=found).first() if found else None
    return found, reversal


def provision_at(company_id: int, day: dt.date) -> tuple[JournalEntry | None, JournalEntry | None]:
    """The provision for exchange losses booked at ``day`` and its reversal, if any."""
    found = JournalEntry.objects.filter(company_id=company_id, source_type=SOURCE_TYPE,
                                        source_id=f"{day.isoformat()}:provision").first()  # fmt: skip
    reversal = JournalEntry.objects.filter(reversal_of=found).first() if found else None
    return found, reversal


def _provision_accounts(company_id: int, actor: Actor) -> dict[str, int]:
    codes = list(PROVISION_ACCOUNTS)
    found = dict(Account.objects.filter(company_id=company_id, code__in=codes).values_list("code", "pk"))
    for code, (name, kind) in PROVISION_ACCOUNTS.items():
        if code not in found:  # not in the seeded chart: added on first use, like 476/477
            account = Account.objects.create(company_id=company_id, code=code, name=name, type=kind)
            audit.record(actor, "account.create", account, changes={"code": [None, code]})
            found[code] = account.pk
    return found


def _book_provision(actor: Actor, result: Revaluation, journal_id: int) -> None:
    """Post the provision (6865 / 1515) at the date and its reversal (1515 / 7865) the next day."""
    company_id = actor.company_id
    assert company_id is not None
    amount, day = result.provision, result.day
    accounts = _provision_accounts(company_id, actor)
    label = _in_company_language(_("Provision for exchange losses on %(day)s") % {"day": day.isoformat()})
    lines: list[dict[str, Any]] = [
        {"account_id": accounts[PROVISION_EXPENSE], "label": label, "debit": amount, "credit": ZERO},
        {"account_id": accounts[PROVISION_ACCOUNT], "label": label, "debit": ZERO, "credit": amount},
    ]
    entry = _post(actor, lines, day, label, f"{day.isoformat()}:provision", journal_id)
    reversal_label = _in_company_language(
        _("Reversal of the provision for exchange losses %(number)s") % {"number": entry.number}
    )
    reversed_lines: list[dict[str, Any]] = [
        {"account_id": accounts[PROVISION_ACCOUNT], "label": reversal_label, "debit": amount, "credit": ZERO},
        {"account_id": accounts[PROVISION_INCOME], "label": reversal_label, "debit": ZERO, "credit": amount},
    ]
    reversal = _post(actor, reversed_lines, day + dt.timedelta(days=1), reversal_label,
                     f"{day.isoformat()}:provision:reversal", journal_id, reversal_of=entry)  # fmt: skip
    audit.record(actor, "revaluation.provision", entry, changes={
        "date": [None, day], "amount": [None, amount], "reversal": [None, reversal.number],
    })  # fmt: skip
    result.provision_entry, result.provision_reversal = entry, reversal


def _check_periods(company_id: int, day: dt.date) -> None:
    next_day = day + dt.timedelta(days=1)
    errors: dict[str, list[str]] = {}
    for message in ledger._period_errors(company_id, day, for_posting=True):
        errors.setdefault("date", []).append(message)
    for message in ledger._period_errors(company_id, next_day, for_posting=True):
        errors.setdefault("date", []).append(str(_("The reversal on %(day)s: %(reason)s")
                                                 % {"day": next_day.isoformat(), "reason": message}))  # fmt: skip
    if errors:
        raise ValidationFailed(fields=errors)


@transaction.atomic
def provision_post(*, actor: Actor, date: Any) -> Revaluation:
    """Book the provision for exchange losses of a date already revalued (when it was not booked then)."""
    require(actor, POST)
    assert actor.company_id is not None
    company_id = actor.company_id
    day = _parse_day(date)
    entry, reversal = entries_at(company_id, day)
    if entry is None:
        raise Conflict("not_revalued", _("Revalue the open items on this date first."))
    if provision_at(company_id, day)[0] is not None:
        raise Conflict("provision_exists", _("The provision for exchange losses is already booked on this date."))
    _check_periods(company_id, day)
    # Serialised with a concurrent request by the revaluation entry's row.
    JournalEntry.objects.select_for_update().filter(pk=entry.pk).first()
    if provision_at(company_id, day)[0] is not None:
        raise Conflict("provision_exists", _("The provision for exchange losses is already booked on this date."))
    result = compute(company_id, day)
    result.entry, result.reversal = entry, reversal
    if not result.provision:
        raise ValidationFailed(fields={"date": [str(_("The unrealised position on this date is not a loss: "
                                                      "no provision is needed."))]})  # fmt: skip
    _book_provision(actor, result, _general_journal(company_id))
    return result


def _accounts(company_id: int, actor: Actor) -> dict[str, int]:
    found = dict(Account.objects.filter(company_id=company_id, code__in=list(ACCOUNT_NAMES)).values_list("code", "pk"))
    for code, name in ACCOUNT_NAMES.items():
        if code not in found:  # not in the seeded chart: added on first use
            account = Account.objects.create(company_id=company_id, code=code, name=name, type=AccountType.OTHER)
            audit.record(actor, "account.create", account, changes={"code": [None, code]})
            found[code] = account.pk
    return found


def _general_journal(company_id: int) -> int:
    found = (
        Journal.objects.filter(company_id=company_id, kind=JournalKind.GENERAL, is_active=True)
        .order_by("code", "pk").values_list("pk", flat=True).first()
    )  # fmt: skip
    if found is None:
        raise Conflict("journal_missing", _("No active general journal (OD): create one in the journals."))
    return found


def _post(
    actor: Actor, lines: list[dict[str, Any]], day: dt.date, label: str, source_id: str, journal_id: int,
    reversal_of: JournalEntry | None = None,
) -> JournalEntry:  # fmt: skip
    entry = ledger.create_entry(actor, journal_id=journal_id, date=day, label=label[:200], lines=lines,
                                source_type=SOURCE_TYPE, source_id=source_id)  # fmt: skip
    if reversal_of is not None:  # before posting: the hash covers it
        JournalEntry.objects.filter(pk=entry.pk).update(reversal_of=reversal_of)
    return ledger.post_entry(actor, ledger._entry_locked(actor, entry.pk))


@transaction.atomic
def revalue(*, actor: Actor, date: Any) -> Revaluation:
    """Post the revaluation at ``date`` and its reversal on the next day; match each pair of lines."""
    require(actor, POST)
    assert actor.company_id is not None
    company_id = actor.company_id
    day = _parse_day(date)
    if entries_at(company_id, day)[0] is not None:
        raise Conflict("already_revalued", _("The open items were already revalued on this date."))
    next_day = day + dt.timedelta(days=1)
    _check_periods(company_id, day)
    result = compute(company_id, day)
    items = [i for i in result.items if i.difference]
    if not items:
        raise ValidationFailed(fields={"date": [str(_("No open foreign-currency item to revalue on this date."))]})
    partners = sorted({i.partner_account_id for i in items})
    for partner_id in partners:  # lock order: partner accounts, then the posting counter
        matching.lock_partner(company_id, partner_id)
    # Checked again under the locks: a concurrent revaluation of the same date has committed
    # while we waited, or a payment has moved a residual since the first reading.
    if entries_at(company_id, day)[0] is not None:
        raise Conflict("already_revalued", _("The open items were already revalued on this date."))
    result = compute(company_id, day)
    items = [i for i in result.items if i.difference]
    for partner_id in sorted({i.partner_account_id for i in items} - set(partners)):
        matching.lock_partner(company_id, partner_id)
    if not items:
        raise ValidationFailed(fields={"date": [str(_("No open foreign-currency item to revalue on this date."))]})
    accounts = _accounts(company_id, actor)
    journal_id = _general_journal(company_id)
    label = _in_company_language(_("Exchange revaluation on %(day)s") % {"day": day.isoformat()})
    lines: list[dict[str, Any]] = []
    for item in items:
        d = item.difference
        lines.append({"account_id": item.account_id, "partner_account_id": item.partner_account_id,
                      "label": f"{label} {item.number}"[:200], "debit": d if d > 0 else ZERO,
                      "credit": -d if d < 0 else ZERO, "site_id": item.site_id})  # fmt: skip
    # 476/477 per site, after the partner lines (matched by position below), so that a site's
    # statements show its own unrealised differences and still balance.
    gains: dict[int | None, Decimal] = defaultdict(Decimal)
    losses: dict[int | None, Decimal] = defaultdict(Decimal)
    for item in items:
        if item.difference > 0:
            gains[item.site_id] += item.difference
        else:
            losses[item.site_id] -= item.difference
    for site_id in sorted(gains, key=lambda s: s or 0):
        lines.append({"account_id": accounts[LIABILITY_ACCOUNT], "label": label, "credit": gains[site_id],
                      "site_id": site_id})  # fmt: skip
    for site_id in sorted(losses, key=lambda s: s or 0):
        lines.append({"account_id": accounts[ASSET_ACCOUNT], "label": label, "debit": losses[site_id],
                      "site_id": site_id})  # fmt: skip
    entry = _post(actor, lines, day, label, day.isoformat(), journal_id)
    reversed_lines = [line | {"debit": line.get("credit", ZERO), "credit": line.get("debit", ZERO)} for line in lines]
    reversal_label = _in_company_language(_("Reversal of %(number)s") % {"number": entry.number})
    reversal = _post(actor, reversed_lines, next_day, reversal_label, f"{day.isoformat()}:reversal", journal_id,
                     reversal_of=entry)  # fmt: skip
    first = list(JournalLine.objects.filter(entry=entry).order_by("sequence").values_list("pk", flat=True))
    second = list(JournalLine.objects.filter(entry=reversal).order_by("sequence").values_list("pk", flat=True))
    for index, item in enumerate(items):
        matching.match_group(actor, company_id=company_id, partner_account_id=item.partner_account_id,
                             line_ids=[first[index], second[index]], day=next_day)  # fmt: skip
    audit.record(actor, "revaluation.post", entry, changes={"date": [None, day], "gains": [None, result.gains],
                 "losses": [None, result.losses], "reversal": [None, reversal.number]})  # fmt: skip
    result.items, result.entry, result.reversal = items, entry, reversal
    if result.provision:  # a net unrealised loss: prudence calls for the provision (PCG art. 322-5)
        _book_provision(actor, result, journal_id)
    return result


# --- Closing check ----------------------------------------------------------------------


def closing_check(company_id: int, year: FiscalYear) -> list[closing.Problem]:
    """A warning when foreign-currency items are open at the year's end and it was not revalued."""
    if entries_at(company_id, year.end_date)[0] is not None:
        return []
    invoices = _open_invoices(company_id, year.end_date)
    if not invoices:
        return []
    after = _paid_after(invoices, year.end_date)
    count = sum(1 for i in invoices if Decimal(i.residual_amount) + after.get(i.pk, ZERO) > 0)
    if not count:
        return []
    return [closing.Problem(
        code="foreign_currency_not_revalued", blocking=False, count=count,
        message=str(_("%(count)s open item(s) in a foreign currency were not revalued at %(day)s "
                      "(exchange differences to 476/477; a provision for an unrealised loss).")
                    % {"count": count, "day": year.end_date.isoformat()}),
    )]  # fmt: skip


closing.register_check("accounting.revaluation", closing_check)

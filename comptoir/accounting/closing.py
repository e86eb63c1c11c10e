"""Year-end closing: checks, the year's result, opening entries (à-nouveaux) and the lock.

Closing a fiscal year does, in one transaction:

1. the checks — draft entries dated in the year, suspense accounts (471–475) with a balance,
   and whatever other modules register (banking: bank lines not reconciled). One blocking
   problem stops the close; warnings are shown and do not;
2. the year's result: income (class 7) minus expenses (class 6), from posted lines — the same
   figure as the income statement;
3. the next fiscal year, created when missing (same length as the closed one);
4. one opening entry in the AN journal, dated the first day of the next year: every
   balance-sheet account (classes 1 to 5) with its closing balance — customers and suppliers
   one line per partner account, so each sub-ledger carries over — and the result on 120
   (profit) or 129 (loss). Classes 6 and 7 start again from zero;
5. the year is closed and the lock date moves to its end: nothing can be posted in it again.

Posted entries are never changed: the opening entry is a new, posted, chained entry, and the
FEC of the next year starts with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import services
from comptoir.accounting.models import (
    Account,
    EntryState,
    FiscalYear,
    FiscalYearState,
    Invoice,
    InvoiceState,
    Journal,
    JournalEntry,
    JournalKind,
    JournalLine,
)
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound

SOURCE_TYPE = "accounting.year_end"
BALANCE_SHEET_CLASSES = ("1", "2", "3", "4", "5")
SUSPENSE_PREFIXES = ("471", "472", "473", "474", "475")
PROFIT_ACCOUNT, LOSS_ACCOUNT = "120", "129"


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    blocking: bool = True
    count: int = 0


# name → check(company_id, year) → problems. Modules above accounting register theirs
# (banking: unreconciled statement lines) so that accounting never imports them.
ClosingCheck = Callable[[int, FiscalYear], list[Problem]]
_checks: dict[str, ClosingCheck] = {}


def register_check(name: str, check: ClosingCheck) -> None:
    _checks[name] = check


def unregister_check(name: str) -> None:
    _checks.pop(name, None)


@dataclass
class OpeningLine:
    account_id: int
    account_code: str
    account_name: str
    partner_account_id: int | None
    partner_name: str
    debit: Decimal
    credit: Decimal


@dataclass
class Preview:
    year: FiscalYear
    next_start: dt.date
    next_end: dt.date
    next_year: FiscalYear | None
    income: Decimal
    expenses: Decimal
    problems: list[Problem] = field(default_factory=list)
    lines: list[OpeningLine] = field(default_factory=list)

    @property
    def result(self) -> Decimal:
        return self.income - self.expenses

    @property
    def blocking(self) -> list[Problem]:
        return [p for p in self.problems if p.blocking]

    @property
    def can_close(self) -> bool:
        return self.year.state == FiscalYearState.OPEN and not self.blocking

    @property
    def total(self) -> Decimal:
        return sum((line.debit for line in self.lines), Decimal(0))


def _year(actor: Actor, fiscal_year_id: int, *, lock: bool = False) -> FiscalYear:
    rows = FiscalYear.objects.filter(company_id=actor.company_id, pk=fiscal_year_id)
    year = (rows.select_for_update() if lock else rows).first()
    if year is None:
        raise NotFound("fiscal_year_not_found")
    return year


def _posted_lines(company_id: int, year: FiscalYear) -> Any:
    return JournalLine.objects.filter(
        company_id=company_id, is_posted=True, date__gte=year.start_date, date__lte=year.end_date
    )


def _builtin_problems(company_id: int, year: FiscalYear) -> list[Problem]:
    problems: list[Problem] = []
    if year.end_date > timezone.localdate():
        problems.append(Problem("fiscal_year_not_ended", str(_("A fiscal year can be closed once it has ended."))))
    earlier = FiscalYear.objects.filter(company_id=company_id, state=FiscalYearState.OPEN,
                                        start_date__lt=year.start_date).count()  # fmt: skip
    if earlier:
        problems.append(Problem("earlier_year_open", str(_("Close the earlier fiscal years first.")), count=earlier))
    drafts = JournalEntry.objects.filter(company_id=company_id, state=EntryState.DRAFT,
                                         date__gte=year.start_date, date__lte=year.end_date).count()  # fmt: skip
    if drafts:
        problems.append(Problem("drafts_in_year", str(
            _("%(n)s draft entries are dated in this fiscal year: post or delete them first.") % {"n": drafts}
        ), count=drafts))  # fmt: skip
    suspense = Q()
    for prefix in SUSPENSE_PREFIXES:
        suspense |= Q(account__code__startswith=prefix)
    open_suspense = (
        _posted_lines(company_id, year).filter(suspense)
        .values("account__code").annotate(debit=Sum("debit"), credit=Sum("credit"))
        .order_by("account__code")
    )  # fmt: skip
    for row in open_suspense:
        balance = (row["debit"] or Decimal(0)) - (row["credit"] or Decimal(0))
        if balance:
            problems.append(Problem("suspense_balance", str(
                _("Suspense account %(code)s still has a balance of %(amount)s: clear it before closing.")
                % {"code": row["account__code"], "amount": balance}
            )))  # fmt: skip
    draft_invoices = Invoice.objects.filter(
        company_id=company_id, state=InvoiceState.DRAFT, issue_date__gte=year.start_date, issue_date__lte=year.end_date
    ).count()
    if draft_invoices:
        problems.append(Problem("draft_invoices", str(
            _("%(n)s draft invoices are dated in this fiscal year; they will have to be dated in the next one.")
            % {"n": draft_invoices}
        ), blocking=False, count=draft_invoices))  # fmt: skip
    for name in ("120", "129"):
        if not Account.objects.filter(company_id=company_id, code=name, is_active=True).exists():
            problems.append(Problem("result_account_missing", str(
                _("Account %(code)s (result of the year) is missing or inactive.") % {"code": name}
            )))  # fmt: skip
    if not Journal.objects.filter(company_id=company_id, kind=JournalKind.OPENING, is_active=True).exists():
        problems.append(Problem("opening_journal_missing", str(_("No active opening balances (AN) journal."))))
    return problems


def _next_dates(year: FiscalYear) -> tuple[dt.date, dt.date]:
    start = year.end_date + dt.timedelta(days=1)
    months = (year.end_date.year - year.start_date.year) * 12 + year.end_date.month - year.start_date.month + 1
    return start, services._add_months(start, months) - dt.timedelta(days=1)


def _figures(company_id: int, year: FiscalYear) -> tuple[Decimal, Decimal, list[OpeningLine]]:
    """Income, expenses and the opening lines, each one GROUP BY over the year's posted lines."""
    lines = _posted_lines(company_id, year)
    by_class = {
        row["cls"]: (row["debit"] or Decimal(0), row["credit"] or Decimal(0))
        for row in lines.filter(Q(account__code__startswith="6") | Q(account__code__startswith="7"))
        .annotate(cls=_first_digit()).values("cls").annotate(debit=Sum("debit"), credit=Sum("credit"))
        .order_by()
    }  # fmt: skip
    expense_debit, expense_credit = by_class.get("6", (Decimal(0), Decimal(0)))
    income_debit, income_credit = by_class.get("7", (Decimal(0), Decimal(0)))
    balance_sheet = Q()
    for cls in BALANCE_SHEET_CLASSES:
        balance_sheet |= Q(account__code__startswith=cls)
    rows = (
        lines.filter(balance_sheet)
        .values("account_id", "account__code", "account__name", "partner_account_id",
                "partner_account__organization__legal_name")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .order_by("account__code", "partner_account__organization__legal_name", "partner_account_id")
    )  # fmt: skip
    opening: list[OpeningLine] = []
    for row in rows:
        balance = (row["debit"] or Decimal(0)) - (row["credit"] or Decimal(0))
        if not balance:
            continue
        opening.append(OpeningLine(
            account_id=row["account_id"], account_code=row["account__code"], account_name=row["account__name"],
            partner_account_id=row["partner_account_id"],
            partner_name=row["partner_account__organization__legal_name"] or "",
            debit=balance if balance > 0 else Decimal(0), credit=-balance if balance < 0 else Decimal(0),
        ))  # fmt: skip
    return income_credit - income_debit, expense_debit - expense_credit, opening


def _first_digit() -> Any:
    from django.db.models.functions import Substr

    return Substr("account__code", 1, 1)


def _result_line(company_id: int, result: Decimal) -> OpeningLine | None:
    if not result:
        return None
    code = PROFIT_ACCOUNT if result > 0 else LOSS_ACCOUNT
    account = Account.objects.filter(company_id=company_id, code=code).first()
    if account is None:
        return None
    return OpeningLine(
        account_id=account.pk, account_code=account.code, account_name=account.name, partner_account_id=None,
        partner_name="", debit=-result if result < 0 else Decimal(0), credit=result if result > 0 else Decimal(0),
    )  # fmt: skip


def closing_preview(actor: Actor, fiscal_year_id: int) -> Preview:
    """What closing the year would do: checks, result and opening lines (nothing written)."""
    require(actor, "accounting.view_ledger")
    assert actor.company_id is not None
    year = _year(actor, fiscal_year_id)
    return _preview(actor.company_id, year)


def _preview(company_id: int, year: FiscalYear) -> Preview:
    next_start, next_end = _next_dates(year)
    next_year = FiscalYear.objects.filter(company_id=company_id, start_date=next_start).first()
    income, expenses, lines = _figures(company_id, year)
    preview = Preview(year=year, next_start=next_start, next_end=next_end, next_year=next_year,
                      income=income, expenses=expenses, lines=lines)  # fmt: skip
    if year.state == FiscalYearState.CLOSED:
        preview.problems.append(Problem("fiscal_year_closed", str(_("This fiscal year is already closed."))))
        return preview
    result_line = _result_line(company_id, preview.result)
    if result_line is not None:
        preview.lines.append(result_line)
    preview.problems.extend(_builtin_problems(company_id, year))
    if next_year is not None and next_year.state == FiscalYearState.CLOSED:
        preview.problems.append(Problem("next_year_closed", str(_("The next fiscal year is already closed."))))
    if next_year is None and FiscalYear.objects.filter(company_id=company_id, start_date__lte=next_end,
                                                       end_date__gte=next_start).exists():  # fmt: skip
        preview.problems.append(Problem("next_year_overlap", str(
            _("A fiscal year overlaps %(start)s–%(end)s: create the next fiscal year yourself.")
            % {"start": next_start, "end": next_end}
        )))  # fmt: skip
    for check in list(_checks.values()):
        preview.problems.extend(check(company_id, year))
    return preview


@transaction.atomic
def year_end_close(*, actor: Actor, fiscal_year_id: int) -> FiscalYear:
    """Close the year for good and carry its balances forward (see the module docstring)."""
    require(actor, "accounting.lock_periods")
    assert actor.company_id is not None
    company_id = actor.company_id
    year = _year(actor, fiscal_year_id, lock=True)
    if year.state == FiscalYearState.CLOSED:
        raise Conflict("fiscal_year_closed", _("This fiscal year is already closed."))
    # The settings row before the posting counter, in the order lock_date_set and fiscal_year_close
    # take them (the other order deadlocked with a lock-date change on PostgreSQL).
    services._settings(company_id, lock=True)
    # Serialise with posting first: no entry may land in the year between the checks and the lock.
    services._serialise_with_posting(company_id)
    preview = _preview(company_id, year)
    if preview.blocking:
        raise Conflict(preview.blocking[0].code, preview.blocking[0].message)
    next_year = preview.next_year or services.fiscal_year_create(
        actor=actor, start_date=preview.next_start, end_date=preview.next_end
    )
    entry = None
    if preview.lines:
        if JournalEntry.objects.filter(company_id=company_id, source_type=SOURCE_TYPE,
                                       source_id=str(year.pk)).exists():  # fmt: skip
            raise Conflict("opening_entry_exists", _("The opening entry of this year already exists."))
        journal = Journal.objects.filter(company_id=company_id, kind=JournalKind.OPENING, is_active=True).order_by(
            "code"
        )[0]
        label = str(_("Opening balances from %(year)s") % {"year": year.name})
        entry = JournalEntry(company_id=company_id, created_by_id=actor.user_id, journal=journal,
                             date=next_year.start_date, label=label[:200], source_type=SOURCE_TYPE,
                             source_id=str(year.pk))  # fmt: skip
        entry.save()
        services._write_lines(entry, [
            {"account_id": line.account_id, "partner_account_id": line.partner_account_id,
             "label": (f"{label} — {line.partner_name}" if line.partner_name else label)[:200],
             "debit": line.debit, "credit": line.credit, "due_date": None}
            for line in preview.lines
        ])  # fmt: skip
        entry.save(update_fields=["total"])
        services.post_entry(actor, entry)
    closed = services.fiscal_year_close(actor=actor, fiscal_year_id=year.pk)
    audit.record(actor, "fiscal_year.year_end", closed, changes={
        "result": [None, str(preview.result)], "opening_entry_id": [None, entry.pk if entry else None],
        "next_fiscal_year_id": [None, next_year.pk],
    })  # fmt: skip
    events.publish("accounting.year_end_closed", company_id=company_id, payload={
        "fiscal_year_id": year.pk, "result": str(preview.result), "opening_entry_id": entry.pk if entry else None,
    })  # fmt: skip
    return closed


def opening_entry_of(company_id: int, fiscal_year_id: int) -> JournalEntry | None:
    """The opening entry the closing of ``fiscal_year_id`` generated, if any."""
    return JournalEntry.objects.filter(company_id=company_id, source_type=SOURCE_TYPE,
                                       source_id=str(fiscal_year_id)).first()  # fmt: skip


# Multi-currency: the revaluation of open foreign-currency items registers its check (a warning).
from comptoir.accounting import revaluation as _revaluation  # noqa: E402, F401

"""Every write of the ledger: chart, partner accounts, journals, fiscal years, lock date, entries.

Entries are drafts until posted. Posting (``entry_post``) is the legal validation: it takes
the journal's display number and the company-wide posting number from ``kernel.sequences``
in the posting transaction, chains the entry's hash to the previous posted entry, and
freezes the entry for good. Corrections are reversals (``entry_reverse``).

Higher-level accounting services (invoices, payments) build entries through the same
private helpers (``create_entry``/``post_entry``) after checking their own permission.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import chain, pcg
from comptoir.accounting.models import (
    Account,
    AccountingSettings,
    AccountType,
    EntryState,
    FiscalYear,
    FiscalYearState,
    Journal,
    JournalEntry,
    JournalKind,
    JournalLine,
    PartnerAccount,
    PartnerKind,
)
from comptoir.contacts.models import Organization
from comptoir.kernel import audit, events, statements
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.models import AuditEntry, DocumentSequence
from comptoir.kernel.sequences import Taken, next_number, record_numbers, take_number
from comptoir.kernel.statements import Update, insert_rows
from comptoir.org.models import Site

JOURNAL_NUMBER_FORMAT = "{prefix}-{year}-{n:05}"
PARTNER_KINDS: dict[str, tuple[str, str]] = {PartnerKind.CUSTOMER: ("accounting.partner.customer", "C"),
                 PartnerKind.SUPPLIER: ("accounting.partner.supplier", "F")}  # fmt: skip
MAX_LINES = 500
# Larger amounts are refused: a sum of MAX_LINES of them still fits a bigint of cents.
MAX_AMOUNT = Decimal("1e13")
_ACCOUNT_CODE = re.compile(r"^[1-8][0-9]{2,19}$")
_JOURNAL_CODE = re.compile(r"^[A-Z0-9]{1,10}$")
_CENT = Decimal("0.01")
ENTRY_FIELDS = ("journal_id", "date", "ref", "label", "site_id")
LINE_FIELDS = ("account_id", "partner_account_id", "label", "debit", "credit", "due_date", "site_id")


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


def _required_text(errors: dict[str, list[str]], name: str, value: Any, max_length: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        _add(errors, name, _("Enter text."))
        return ""
    text = value.strip()
    if required and not text:
        _add(errors, name, _("This field is required."))
    elif len(text) > max_length:
        _add(errors, name, _("At most %(n)s characters.") % {"n": max_length})
    elif "\x00" in text:
        _add(errors, name, _("Null characters are not allowed."))
    return text


def _parse_date(errors: dict[str, list[str]], name: str, value: Any, required: bool = True) -> dt.date | None:
    if value in (None, ""):
        if required:
            _add(errors, name, _("This field is required."))
        return None
    if isinstance(value, dt.datetime):
        _add(errors, name, _("Enter a date, not a date and time."))
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    _add(errors, name, _("Enter a valid date (YYYY-MM-DD)."))
    return None


def _parse_amount(errors: dict[str, list[str]], name: str, value: Any) -> Decimal:
    """A non-negative amount with at most 2 decimals; empty means zero. Floats are refused."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        _add(errors, name, _("Enter an amount as a decimal string, e.g. 1250.50."))
        return Decimal(0)
    try:
        amount = Decimal(value.strip().replace(",", ".") if isinstance(value, str) else value)
    except ArithmeticError:
        _add(errors, name, _("Enter a number."))
        return Decimal(0)
    if not amount.is_finite():
        _add(errors, name, _("Enter a number."))
    elif amount < 0:
        _add(errors, name, _("Enter a positive amount; use the other column for the opposite side."))
    elif amount >= MAX_AMOUNT:
        _add(errors, name, _("This amount is too large."))
    elif amount != amount.quantize(_CENT):
        _add(errors, name, _("Use at most 2 decimal places."))
    else:
        return amount.quantize(_CENT)
    return Decimal(0)


def _parse_id(errors: dict[str, list[str]], name: str, value: Any, required: bool) -> int | None:
    if value in (None, ""):
        if required:
            _add(errors, name, _("This field is required."))
        return None
    if isinstance(value, bool):
        _add(errors, name, _("Choose a valid value."))
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        _add(errors, name, _("Choose a valid value."))
        return None
    if not 0 < number < 2**63:
        _add(errors, name, _("Choose a valid value."))
        return None
    return number


def clean_site_id(
    errors: dict[str, list[str]],
    name: str,
    value: Any,
    company_id: int,
    *,
    active_only: bool = True,
    current: int | None = None,
) -> int | None:
    """The id of a site (establishment) of the company, or None when empty; an unknown site,
    a site of another company or (with ``active_only``) an inactive one is an error on ``name``.
    The document's ``current`` site stays accepted once closed (the forms keep offering it)."""
    site_id = _parse_id(errors, name, value, False)
    if site_id is None:
        return None
    sites = Site.objects.filter(company_id=company_id, pk=site_id)
    if active_only and site_id != current:
        sites = sites.filter(is_active=True)
    if not sites.exists():
        _add(errors, name, _("Unknown or inactive site."))
        return None
    return site_id


def default_site_id(company_id: int) -> int | None:
    """The company's head office when it has exactly one (active): the default site of documents."""
    heads = list(
        Site.objects.filter(company_id=company_id, is_head_office=True, is_active=True)
        .order_by()
        .values_list("pk", flat=True)[:2]
    )  # the count matters, not the order
    return heads[0] if len(heads) == 1 else None


def _unknown(errors: dict[str, list[str]], data: dict[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    for name in set(data) - set(allowed):
        _add(errors, f"{prefix}{name}", _("Unknown field."))


def _settings(company_id: int, *, lock: bool = False) -> AccountingSettings:
    AccountingSettings.objects.bulk_create([AccountingSettings(company_id=company_id)], ignore_conflicts=True)
    queryset = AccountingSettings.objects.select_for_update() if lock else AccountingSettings.objects
    return queryset.get(company_id=company_id)


def _journal_sequence_kind(journal_id: int) -> str:
    return f"accounting.journal.{journal_id}"


def _ensure_sequences(company_id: int, journals: Iterable[Journal] = ()) -> None:
    """Counter rows for the posting chain and the journals' numbers (year 0: the template
    whose prefix and format the yearly counters copy, see ``kernel.sequences.next_number``)."""
    rows = [DocumentSequence(company_id=company_id, kind=chain.CHAIN_KIND, year=0, prefix="", format="{n}")]
    rows += [
        DocumentSequence(
            company_id=company_id, kind=_journal_sequence_kind(j.pk), year=0, prefix=j.code,
            format=JOURNAL_NUMBER_FORMAT,
        )
        for j in journals
    ]  # fmt: skip
    DocumentSequence.objects.bulk_create(rows, ignore_conflicts=True)


def _serialise_with_posting(company_id: int) -> None:
    """Take the posting chain's counter lock: lock-date changes and postings then happen
    one after the other, so no entry is posted into a period locked meanwhile."""
    _ensure_sequences(company_id)
    list(
        DocumentSequence.objects.select_for_update()
        .filter(company_id=company_id, kind=chain.CHAIN_KIND, year=0)
        .values_list("pk", flat=True)
    )


# --- Company setup --------------------------------------------------------------------


@transaction.atomic
def setup_company_accounting(*, actor: Actor, company_id: int | None = None) -> dict[str, int]:
    """Load the PCG SME chart, the standard journals, the settings and the current fiscal
    year for a company. Idempotent: existing rows (maybe edited by the company) are kept.

    Runs when the module is switched on (the enabling already checked its permission) and
    from the demo loader.
    """
    company_id = company_id if company_id is not None else actor.company_id
    assert company_id is not None
    _settings(company_id)
    existing = set(Account.objects.filter(company_id=company_id).values_list("code", flat=True))
    new_accounts = [
        Account(company_id=company_id, code=a.code, name=a.name, type=a.type, reconcilable=a.reconcilable)
        for a in pcg.ACCOUNTS
        if a.code not in existing
    ]
    Account.objects.bulk_create(new_accounts, ignore_conflicts=True)
    accounts = dict(Account.objects.filter(company_id=company_id).values_list("code", "pk"))
    known_journals = set(Journal.objects.filter(company_id=company_id).values_list("code", flat=True))
    new_journals = [
        Journal(
            company_id=company_id, code=j.code, name=j.name, kind=j.kind,
            default_account_id=accounts.get(j.default_account) if j.default_account else None,
        )
        for j in pcg.JOURNALS
        if j.code not in known_journals
    ]  # fmt: skip
    Journal.objects.bulk_create(new_journals, ignore_conflicts=True)
    _ensure_sequences(company_id, Journal.objects.filter(company_id=company_id))
    created_year = 0
    if not FiscalYear.objects.filter(company_id=company_id).exists():
        year = timezone.localdate().year
        FiscalYear.objects.create(
            company_id=company_id, name=str(year), start_date=dt.date(year, 1, 1), end_date=dt.date(year, 12, 31)
        )
        created_year = 1
    from comptoir.accounting.dunning import ensure_default_levels  # dunning builds on invoices, on this module

    ensure_default_levels(actor=actor, company_id=company_id)  # the usual reminder levels, audited
    created = {"accounts": len(new_accounts), "journals": len(new_journals), "fiscal_years": created_year}
    if any(created.values()):
        audit.record(actor, "accounting.setup", object_type="accounting.chart", object_id=company_id,
                     changes=created, company_id=company_id)  # fmt: skip
    return created


def on_module_enabled(actor: Actor) -> None:
    from comptoir.accounting.invoices import setup_invoicing  # invoices build on the ledger

    setup_company_accounting(actor=actor)
    assert actor.company_id is not None
    setup_invoicing(actor.company_id)


# --- Chart of accounts ----------------------------------------------------------------

ACCOUNT_FIELDS = ("code", "name", "type", "reconcilable")


def _account_clean(actor: Actor, data: dict[str, Any], account: Account | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    _unknown(errors, data, ACCOUNT_FIELDS)
    cleaned: dict[str, Any] = {}
    if "code" in data or account is None:
        code = _required_text(errors, "code", data.get("code"), 20, True)
        if code and not _ACCOUNT_CODE.match(code):
            _add(errors, "code", _("Enter 3 to 20 digits starting with the class (1 to 8), e.g. 4110001."))
        elif (
            code
            and Account.objects.filter(company_id=actor.company_id, code=code)
            .exclude(pk=getattr(account, "pk", None))
            .exists()
        ):
            _add(errors, "code", _("Another account already has this number."))
        elif (
            account is not None and code != account.code
            and JournalLine.objects.filter(company_id=actor.company_id, account=account).exists()
        ):  # fmt: skip
            _add(errors, "code", _("The number of an account with entries cannot change."))
        cleaned["code"] = code
    if "name" in data or account is None:
        cleaned["name"] = _required_text(errors, "name", data.get("name"), 200, True)
    if "type" in data or account is None:
        kind = data.get("type") or AccountType.OTHER
        if kind not in AccountType.values:
            _add(errors, "type", _("Choose among: %(values)s.") % {"values": ", ".join(AccountType.values)})
        cleaned["type"] = kind
    if "reconcilable" in data:
        if not isinstance(data["reconcilable"], bool):
            _add(errors, "reconcilable", _("Enter true or false."))
        cleaned["reconcilable"] = data["reconcilable"]
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def account_create(*, actor: Actor, **data: Any) -> Account:
    require(actor, "accounting.manage_chart")
    cleaned = _account_clean(actor, data)
    account = Account.objects.create(company_id=actor.company_id, **cleaned)
    audit.record(actor, "account.create", account, changes=audit.diff({}, cleaned))
    return account


def _account_locked(actor: Actor, account_id: int) -> Account:
    account = Account.objects.select_for_update().filter(company_id=actor.company_id, pk=account_id).first()
    if account is None:
        raise NotFound("account_not_found")
    return account


@transaction.atomic
def account_update(*, actor: Actor, account_id: int, **data: Any) -> Account:
    require(actor, "accounting.manage_chart")
    account = _account_locked(actor, account_id)
    before = audit.snapshot(account, list(ACCOUNT_FIELDS))
    cleaned = _account_clean(actor, data, account)
    for name, value in cleaned.items():
        setattr(account, name, value)
    account.save()
    audit.record(actor, "account.update", account, changes=audit.diff(before, audit.snapshot(account, list(cleaned))))
    return account


@transaction.atomic
def account_set_active(*, actor: Actor, account_id: int, active: bool) -> Account:
    """Deactivate (or reactivate) an account: kept in reports, refused on new lines."""
    require(actor, "accounting.manage_chart")
    account = _account_locked(actor, account_id)
    if not active and PartnerAccount.objects.filter(account=account).exists():
        raise Conflict("account_has_partners", _("Customer or supplier accounts are booked on this account."))
    if account.is_active != active:
        account.is_active = active
        account.save(update_fields=["is_active", "updated_at"])
        audit.record(actor, "account.activate" if active else "account.deactivate", account,
                     changes={"is_active": [not active, active]})  # fmt: skip
    return account


# --- Partner (auxiliary) accounts -----------------------------------------------------


def _require_any(actor: Actor, *codenames: str) -> None:
    if not any(actor.has_perm(c) for c in codenames):
        require(actor, codenames[0])


@transaction.atomic
def partner_account_ensure(*, actor: Actor, organization_id: int, kind: str) -> PartnerAccount:
    """The customer or supplier account of an organization, created on first use
    (code C000001 / F000001 from a per-company counter, booked on 411 / 401)."""
    _require_any(actor, "accounting.post_entries", "accounting.manage_chart")
    assert actor.company_id is not None
    if kind not in PARTNER_KINDS:
        raise ValidationFailed(
            fields={"kind": [str(_("Choose among: %(values)s.") % {"values": "customer, supplier"})]}
        )
    organization = Organization.objects.filter(company_id=actor.company_id, pk=organization_id).first()
    if organization is None:
        raise ValidationFailed(fields={"organization_id": [str(_("Unknown organization."))]})
    found = PartnerAccount.objects.filter(organization=organization, kind=kind).first()
    if found is not None:
        return found
    # Serialise first uses of the same organization: the second finds the first's account.
    Organization.objects.select_for_update().filter(pk=organization.pk).exists()
    found = PartnerAccount.objects.filter(organization=organization, kind=kind).first()
    if found is not None:
        return found
    collective_code = pcg.CUSTOMERS_ACCOUNT if kind == PartnerKind.CUSTOMER else pcg.SUPPLIERS_ACCOUNT
    collective = Account.objects.filter(company_id=actor.company_id, code=collective_code).first()
    if collective is None:
        raise Conflict("collective_account_missing",
                       _("Account %(code)s is missing from the chart.") % {"code": collective_code})  # fmt: skip
    sequence_kind, prefix = PARTNER_KINDS[kind]
    DocumentSequence.objects.bulk_create(
        [DocumentSequence(company_id=actor.company_id, kind=sequence_kind, year=0, prefix=prefix,
                          format="{prefix}{n:06}")],
        ignore_conflicts=True,
    )  # fmt: skip
    issued = next_number(company_id=actor.company_id, kind=sequence_kind, on_date=timezone.localdate(),
                         object_type="contacts.organization", object_id=organization.pk)  # fmt: skip
    partner = PartnerAccount.objects.create(
        company_id=actor.company_id, organization=organization, kind=kind, code=issued.number,
        label=(organization.legal_name or organization.trade_name)[:200], account=collective,
    )  # fmt: skip
    audit.record(actor, "partner_account.create", partner, changes={"code": [None, partner.code]})
    return partner


# --- Journals -------------------------------------------------------------------------

JOURNAL_FIELDS = ("code", "name", "kind", "default_account_id")


def _journal_clean(actor: Actor, data: dict[str, Any], journal: Journal | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    _unknown(errors, data, JOURNAL_FIELDS)
    cleaned: dict[str, Any] = {}
    if "code" in data or journal is None:
        code = _required_text(errors, "code", data.get("code"), 10, True).upper()
        if code and not _JOURNAL_CODE.match(code):
            _add(errors, "code", _("Use 1 to 10 letters or digits, e.g. BQ2."))
        elif (
            code
            and Journal.objects.filter(company_id=actor.company_id, code=code)
            .exclude(pk=getattr(journal, "pk", None))
            .exists()
        ):
            _add(errors, "code", _("Another journal already has this code."))
        elif (
            journal is not None and code != journal.code
            and JournalEntry.objects.filter(company_id=actor.company_id, journal=journal).exists()
        ):  # fmt: skip
            _add(errors, "code", _("The code of a journal with entries cannot change."))
        cleaned["code"] = code
    if "name" in data or journal is None:
        cleaned["name"] = _required_text(errors, "name", data.get("name"), 100, True)
    if "kind" in data or journal is None:
        if data.get("kind") not in JournalKind.values:
            _add(errors, "kind", _("Choose among: %(values)s.") % {"values": ", ".join(JournalKind.values)})
        cleaned["kind"] = data.get("kind")
    if "default_account_id" in data:
        account_id = _parse_id(errors, "default_account_id", data["default_account_id"], False)
        if (
            account_id is not None
            and not Account.objects.filter(company_id=actor.company_id, pk=account_id, is_active=True).exists()
        ):
            _add(errors, "default_account_id", _("Unknown or inactive account."))
        cleaned["default_account_id"] = account_id
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def journal_create(*, actor: Actor, **data: Any) -> Journal:
    require(actor, "accounting.manage_chart")
    cleaned = _journal_clean(actor, data)
    journal = Journal.objects.create(company_id=actor.company_id, **cleaned)
    _ensure_sequences(actor.company_id or 0, [journal])
    audit.record(actor, "journal.create", journal, changes=audit.diff({}, cleaned))
    return journal


@transaction.atomic
def journal_update(*, actor: Actor, journal_id: int, **data: Any) -> Journal:
    require(actor, "accounting.manage_chart")
    journal = Journal.objects.select_for_update().filter(company_id=actor.company_id, pk=journal_id).first()
    if journal is None:
        raise NotFound("journal_not_found")
    before = audit.snapshot(journal, list(JOURNAL_FIELDS))
    cleaned = _journal_clean(actor, data, journal)
    for name, value in cleaned.items():
        setattr(journal, name, value)
    journal.save()
    if "code" in cleaned:
        DocumentSequence.objects.filter(company_id=actor.company_id, kind=_journal_sequence_kind(journal.pk)).update(
            prefix=journal.code
        )
    audit.record(actor, "journal.update", journal, changes=audit.diff(before, audit.snapshot(journal, list(cleaned))))
    return journal


@transaction.atomic
def journal_set_active(*, actor: Actor, journal_id: int, active: bool) -> Journal:
    require(actor, "accounting.manage_chart")
    journal = Journal.objects.select_for_update().filter(company_id=actor.company_id, pk=journal_id).first()
    if journal is None:
        raise NotFound("journal_not_found")
    if journal.is_active != active:
        journal.is_active = active
        journal.save(update_fields=["is_active", "updated_at"])
        audit.record(actor, "journal.activate" if active else "journal.deactivate", journal,
                     changes={"is_active": [not active, active]})  # fmt: skip
    return journal


# --- Fiscal years and lock date -------------------------------------------------------


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@transaction.atomic
def fiscal_year_create(*, actor: Actor, start_date: Any, end_date: Any, name: str = "") -> FiscalYear:
    """A fiscal year adjacent to the existing ones, of at most 24 months (a first or a
    transition year may be shorter or longer than 12 months)."""
    require(actor, "accounting.manage_chart")
    errors: dict[str, list[str]] = {}
    start = _parse_date(errors, "start_date", start_date)
    end = _parse_date(errors, "end_date", end_date)
    label = _required_text(errors, "name", name, 40, False)
    if start and end:
        if end < start:
            _add(errors, "end_date", _("The end must be after the start."))
        elif end >= _add_months(start, 24):
            _add(errors, "end_date", _("A fiscal year lasts at most 24 months."))
    if errors:
        raise ValidationFailed(fields=errors)
    assert start is not None and end is not None
    # Company row lock: two creations at once cannot both pass the overlap check.
    from comptoir.org.models import Company

    Company.objects.select_for_update().filter(pk=actor.company_id).exists()
    years = FiscalYear.objects.filter(company_id=actor.company_id)
    if years.filter(start_date__lte=end, end_date__gte=start).exists():
        raise ValidationFailed(fields={"start_date": [str(_("This period overlaps another fiscal year."))]})
    bounds = years.order_by("start_date").values_list("start_date", "end_date")
    if bounds:
        first_start, last_end = bounds[0][0], list(bounds)[-1][1]
        if start != last_end + dt.timedelta(days=1) and end != first_start - dt.timedelta(days=1):
            raise ValidationFailed(fields={"start_date": [str(
                _("Fiscal years follow each other: start on %(day)s.") % {"day": last_end + dt.timedelta(days=1)}
            )]})  # fmt: skip
    year = FiscalYear.objects.create(
        company_id=actor.company_id, start_date=start, end_date=end,
        name=label or (str(end.year) if start.year == end.year else f"{start.year}-{end.year}"),
    )  # fmt: skip
    audit.record(actor, "fiscal_year.create", year,
                 changes={"start_date": [None, start], "end_date": [None, end]})  # fmt: skip
    return year


@transaction.atomic
def lock_date_set(*, actor: Actor, lock_date: Any) -> AccountingSettings:
    """Lock every entry dated on or before ``lock_date``. The lock only moves forward."""
    require(actor, "accounting.lock_periods")
    errors: dict[str, list[str]] = {}
    day = _parse_date(errors, "lock_date", lock_date)
    if errors:
        raise ValidationFailed(fields=errors)
    assert day is not None and actor.company_id is not None
    config = _settings(actor.company_id, lock=True)
    if config.lock_date and day < config.lock_date:
        raise ValidationFailed(fields={"lock_date": [str(
            _("The lock date cannot move back (currently %(day)s).") % {"day": config.lock_date}
        )]})  # fmt: skip
    if day > timezone.localdate():
        raise ValidationFailed(fields={"lock_date": [str(_("The lock date cannot be in the future."))]})
    _serialise_with_posting(actor.company_id)
    drafts = JournalEntry.objects.filter(company_id=actor.company_id, state=EntryState.DRAFT, date__lte=day).count()
    if drafts:
        raise ValidationFailed(fields={"lock_date": [str(
            _("%(n)s draft entries are dated on or before this day: post or delete them first.") % {"n": drafts}
        )]})  # fmt: skip
    before = config.lock_date
    if before != day:
        config.lock_date = day
        config.save(update_fields=["lock_date", "updated_at"])
        audit.record(actor, "accounting.lock_date", config, changes={"lock_date": [before, day]})
        events.publish("accounting.lock_date_changed", company_id=actor.company_id,
                       payload={"lock_date": day.isoformat()})  # fmt: skip
    return config


@transaction.atomic
def fiscal_year_close(*, actor: Actor, fiscal_year_id: int) -> FiscalYear:
    """Close a fiscal year for good: no draft may remain in it, earlier years first; the lock
    date moves to its end. (Closing entries and carry-forward come with year-end closing.)"""
    require(actor, "accounting.lock_periods")
    assert actor.company_id is not None
    year = FiscalYear.objects.select_for_update().filter(company_id=actor.company_id, pk=fiscal_year_id).first()
    if year is None:
        raise NotFound("fiscal_year_not_found")
    if year.state == FiscalYearState.CLOSED:
        raise Conflict("fiscal_year_closed", _("This fiscal year is already closed."))
    if year.end_date > timezone.localdate():
        raise Conflict("fiscal_year_not_ended", _("A fiscal year can be closed once it has ended."))
    earlier = FiscalYear.objects.filter(
        company_id=actor.company_id, state=FiscalYearState.OPEN, start_date__lt=year.start_date
    )
    if earlier.exists():
        raise Conflict("earlier_year_open", _("Close the earlier fiscal years first."))
    config = _settings(actor.company_id, lock=True)
    _serialise_with_posting(actor.company_id)
    drafts = JournalEntry.objects.filter(
        company_id=actor.company_id, state=EntryState.DRAFT, date__gte=year.start_date, date__lte=year.end_date
    ).count()
    if drafts:
        raise Conflict("drafts_in_year",
                       _("%(n)s draft entries are dated in this fiscal year: post or delete them first.")
                       % {"n": drafts})  # fmt: skip
    year.state = FiscalYearState.CLOSED
    year.closed_at = timezone.now()
    year.closed_by_id = actor.user_id
    year.save(update_fields=["state", "closed_at", "closed_by", "updated_at"])
    if config.lock_date is None or config.lock_date < year.end_date:
        config.lock_date = year.end_date
        config.save(update_fields=["lock_date", "updated_at"])
    audit.record(actor, "fiscal_year.close", year, changes={"state": ["open", "closed"]})
    events.publish("accounting.fiscal_year_closed", company_id=actor.company_id,
                   payload={"fiscal_year_id": year.pk, "end_date": year.end_date.isoformat()})  # fmt: skip
    return year


# Per service call, the lock date and fiscal year of a (company, day) are read once for the
# checks made before the posting counter is taken (they are advisory: the check made after it,
# ``fresh=True``, is the one serialised with lock-date changes and always reads the database).
# The memo lives in a context variable for the duration of ``periods_read_once()`` only: never
# across calls, transactions or companies.
_PERIODS: contextvars.ContextVar[dict[tuple[int, dt.date], tuple[Any, Any]] | None] = contextvars.ContextVar(
    "accounting_periods", default=None
)


@contextlib.contextmanager
def periods_read_once() -> Iterator[None]:
    """Within the block (one service call), read each period once for the pre-lock checks. Reentrant."""
    if _PERIODS.get() is not None:
        yield
        return
    token = _PERIODS.set({})
    try:
        yield
    finally:
        _PERIODS.reset(token)


def _only(queryset: Any) -> Any:
    """The row of a lookup that matches at most one (a primary or unique key): no ORDER BY to build or run."""
    return next(iter(queryset.order_by()[:1]), None)


def _period_state(company_id: int, day: dt.date, *, fresh: bool = False) -> tuple[dt.date | None, FiscalYear | None]:
    """The company's lock date and the fiscal year containing ``day`` (memoised in ``periods_read_once``).

    One statement for both: the lock date as a scalar subquery, the year by a left join, so a
    company without a settings row or without a year still gets its row."""
    memo = _PERIODS.get()
    key = (company_id, day)
    if memo is not None and not fresh and key in memo:
        return memo[key]
    lock_date, year, _previous = _read_period(company_id, day, None)
    return lock_date, year


def _read_period(
    company_id: int, day: dt.date, link_to: int | None
) -> tuple[dt.date | None, FiscalYear | None, str | None]:
    """``_period_state`` read from the database (and memoised), with the hash of posted entry
    ``link_to`` when asked: posting reads both in one statement once it holds the counter."""
    connection = transaction.get_connection()
    settings_table, year_table = AccountingSettings._meta.db_table, FiscalYear._meta.db_table
    entry_table = JournalEntry._meta.db_table
    # The hash of the previous posted entry: one lookup on the (company, chain_number) unique index.
    link = (f"(SELECT e.hash FROM {entry_table} e WHERE e.company_id = %s AND e.chain_number = %s)"  # noqa: S608
            if link_to is not None else "NULL")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT s.lock_date FROM {settings_table} s WHERE s.company_id = %s), {link}, "  # noqa: S608
            "y.id, y.name, y.start_date, y.end_date, y.state "
            f"FROM (SELECT 1 AS one) AS o LEFT JOIN {year_table} y "
            "ON y.company_id = %s AND y.start_date <= %s AND y.end_date >= %s "
            "ORDER BY y.start_date, y.id LIMIT 1",  # FiscalYear's own ordering, as ``.first()``
            [company_id, *((company_id, link_to) if link_to is not None else ()), company_id, day, day],
        )
        lock_value, previous_hash, *year_values = cursor.fetchone()
    lock_date = _as_date(lock_value)
    year = None
    if year_values[0] is not None:
        pk, name, start, end, state = year_values
        # Only these columns are loaded; any other is read on access, as with ``.only()``.
        year = statements.instance(FiscalYear, ["id", "company_id", "name", "start_date", "end_date", "state"],
                                  [pk, company_id, name, _as_date(start), _as_date(end), state])  # fmt: skip
    memo = _PERIODS.get()
    if memo is not None:
        memo[(company_id, day)] = (lock_date, year)
    return lock_date, year, None if previous_hash is None else str(previous_hash)


def _as_date(value: Any) -> dt.date | None:
    """A date column read by raw SQL: SQLite returns the text of a subquery's date."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _period_errors(company_id: int, day: dt.date, *, for_posting: bool, fresh: bool = False) -> list[str]:
    """Why an entry may not be dated ``day`` (empty when it may); ``fresh`` bypasses the call's memo."""
    config, year = _period_state(company_id, day, fresh=fresh)
    return _period_messages(day, config, year, for_posting=for_posting)


def _period_messages(day: dt.date, config: dt.date | None, year: FiscalYear | None, *, for_posting: bool) -> list[str]:
    if config and day <= config:
        return [str(_("The period up to %(day)s is locked.") % {"day": config})]
    if year is not None and year.state == FiscalYearState.CLOSED:
        return [str(_("Fiscal year %(name)s is closed.") % {"name": year.name})]
    if year is None and for_posting:
        return [str(_("No open fiscal year contains this date: create the fiscal year first."))]
    return []


# --- Journal entries ------------------------------------------------------------------


class AccountRow(NamedTuple):
    """What posting checks and hashes of an account: read once per call (``ledger_rows``)."""

    pk: int
    code: str
    type: str
    reconcilable: bool
    is_active: bool


class PartnerRow(NamedTuple):
    pk: int
    code: str
    account_id: int


@dataclass
class LedgerRows:
    """The journal, accounts and partner accounts of an entry's lines, by id, as read in this transaction."""

    accounts: dict[int, AccountRow] = dataclasses.field(default_factory=dict)
    partners: dict[int, PartnerRow] = dataclasses.field(default_factory=dict)
    journal: Journal | None = None

    def merged(self, other: LedgerRows) -> LedgerRows:
        return LedgerRows({**self.accounts, **other.accounts}, {**self.partners, **other.partners},
                          self.journal or other.journal)  # fmt: skip

    def codes(self) -> dict[str, int]:
        """Active accounts by code (what an entry may be booked on)."""
        return {row.code: pk for pk, row in self.accounts.items() if row.is_active}


def ledger_rows(
    company_id: int, account_ids: Iterable[int] = (), partner_ids: Iterable[int] = (), account_codes: Iterable[str] = ()
) -> LedgerRows:
    """The company's accounts (by id or code) and partner accounts (by id) in one round trip.

    Plain SQL: posting reads these on every entry, and the ORM's compiling of two querysets
    costs more than the database answering them."""
    account_ids, partner_ids, account_codes = list(account_ids), list(partner_ids), list(account_codes)
    rows = LedgerRows()
    if not (account_ids or partner_ids or account_codes):
        return rows
    accounts_table, partners_table = Account._meta.db_table, PartnerAccount._meta.db_table
    wanted = []
    if account_ids:
        wanted.append(f"id IN ({', '.join(['%s'] * len(account_ids))})")
    if account_codes:
        wanted.append(f"code IN ({', '.join(['%s'] * len(account_codes))})")
    parts, params = [], []
    if wanted:
        parts.append(f"SELECT 0, id, code, type, reconcilable, is_active, NULL FROM {accounts_table} "  # noqa: S608
                     f"WHERE company_id = %s AND ({' OR '.join(wanted)})")  # fmt: skip
        params += [company_id, *account_ids, *account_codes]
    if partner_ids:
        parts.append(f"SELECT 1, id, code, NULL, NULL, NULL, account_id FROM {partners_table} "  # noqa: S608
                     f"WHERE company_id = %s AND id IN ({', '.join(['%s'] * len(partner_ids))})")  # fmt: skip
        params += [company_id, *partner_ids]
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for table, pk, code, kind, reconcilable, is_active, account_id in cursor.fetchall():
            if table == 0:
                rows.accounts[pk] = AccountRow(pk, code, kind, bool(reconcilable), bool(is_active))
            else:
                rows.partners[pk] = PartnerRow(pk, code, account_id)
    return rows


def _clean_entry(
    actor: Actor,
    data: dict[str, Any],
    entry: JournalEntry | None,
    *,
    active_sites: bool = True,
    found: dict[str, Any] | None = None,
    known: LedgerRows | None = None,
    period_later: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """Validate an entry's fields and lines; every problem is reported at once, per field.

    ``found`` (optional) receives the journal read for the check, so the caller need not read it
    again; with the accounts and partner accounts of the lines (``found["rows"]``).
    ``known`` (optional): the journal and rows the caller read in this transaction (``ledger_rows``).

    Sites (entry and lines) belong to the actor's company; ``active_sites=False`` also accepts
    a site deactivated since (reversals, documents whose site was checked when chosen).

    ``period_later``: the date's period (lock date, closed year) is checked by the caller once
    it holds the posting counter (``create_posted_entry``), unless something else is refused:
    then it is reported here with the rest, where it always was."""
    assert actor.company_id is not None
    errors: dict[str, list[str]] = {}
    later: tuple[int, dt.date] | None = None  # (position among the fields refused, day) of a deferred check
    _unknown(errors, data, (*ENTRY_FIELDS, "lines"))
    cleaned: dict[str, Any] = {}
    if "journal_id" in data or entry is None:
        journal_id = _parse_id(errors, "journal_id", data.get("journal_id"), True)
        if journal_id is not None:
            journal = known.journal if known is not None and known.journal is not None else None
            if journal is None or journal.pk != journal_id:
                journal = _only(Journal.objects.filter(company_id=actor.company_id, pk=journal_id, is_active=True))
            elif not (journal.company_id == actor.company_id and journal.is_active):
                journal = None
            if journal is None:
                _add(errors, "journal_id", _("Unknown or inactive journal."))
            elif found is not None:
                found["journal"] = journal
            cleaned["journal_id"] = journal_id
    if "date" in data or entry is None:
        day = _parse_date(errors, "date", data.get("date"))
        if day is not None:
            if period_later:
                later = (len(errors), day)
            else:
                for message in _period_errors(actor.company_id, day, for_posting=False):
                    _add(errors, "date", message)
            cleaned["date"] = day
    if "label" in data or entry is None:
        cleaned["label"] = _required_text(errors, "label", data.get("label"), 200, True)
    if "ref" in data:
        cleaned["ref"] = _required_text(errors, "ref", data.get("ref"), 100, False)
    if "site_id" in data:
        current = entry.site_id if entry else None
        cleaned["site_id"] = clean_site_id(errors, "site_id", data.get("site_id"), actor.company_id,
                                           active_only=active_sites, current=current)  # fmt: skip
    lines = None
    if "lines" in data or entry is None:
        lines = _clean_lines(actor.company_id, data.get("lines"), errors, active_sites=active_sites, known=known,
                             found=found)  # fmt: skip
    if errors and later is not None:
        position, day = later
        messages = _period_errors(actor.company_id, day, for_posting=False)
        if messages:  # in its place among the fields, as when checked in turn
            items = list(errors.items())
            errors = dict([*items[:position], ("date", messages), *items[position:]])
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned, lines


def _clean_lines(
    company_id: int, raw: Any, errors: dict[str, list[str]], *, active_sites: bool = True,
    known: LedgerRows | None = None, found: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    if not isinstance(raw, (list, tuple)):
        _add(errors, "lines", _("Enter the lines of the entry."))
        return []
    if len(raw) < 2:
        _add(errors, "lines", _("An entry has at least two lines."))
    if len(raw) > MAX_LINES:
        _add(errors, "lines", _("An entry has at most %(n)s lines.") % {"n": MAX_LINES})
        return []
    parsed: list[dict[str, Any]] = []
    for index, line in enumerate(raw):
        prefix = f"lines.{index}."
        if not isinstance(line, dict):
            _add(errors, f"lines.{index}", _("Enter a line."))
            parsed.append({})
            continue
        _unknown(errors, line, LINE_FIELDS, prefix)
        parsed.append({
            "account_id": _parse_id(errors, prefix + "account_id", line.get("account_id"), True),
            "partner_account_id": _parse_id(errors, prefix + "partner_account_id",
                                            line.get("partner_account_id"), False),
            "label": _required_text(errors, prefix + "label", line.get("label"), 200, False),
            "debit": _parse_amount(errors, prefix + "debit", line.get("debit")),
            "credit": _parse_amount(errors, prefix + "credit", line.get("credit")),
            "due_date": _parse_date(errors, prefix + "due_date", line.get("due_date"), required=False),
            "site_id": _parse_id(errors, prefix + "site_id", line.get("site_id"), False),
        })  # fmt: skip
    # The lines' own sites, checked in one query: sites of the company (and active, when asked).
    site_ids = {p["site_id"] for p in parsed if p.get("site_id")}
    if site_ids:
        sites = Site.objects.filter(company_id=company_id, pk__in=site_ids)
        known_sites = set((sites.filter(is_active=True) if active_sites else sites).values_list("pk", flat=True))
        for index, line in enumerate(parsed):
            if line.get("site_id") and line["site_id"] not in known_sites:
                _add(errors, f"lines.{index}.site_id", _("Unknown or inactive site."))
                line["site_id"] = None
    account_ids = {p["account_id"] for p in parsed if p.get("account_id")}
    partner_ids = {p["partner_account_id"] for p in parsed if p.get("partner_account_id")}
    rows = known if known is not None else LedgerRows()
    if not (account_ids <= rows.accounts.keys() and partner_ids <= rows.partners.keys()):
        rows = rows.merged(ledger_rows(company_id, account_ids - rows.accounts.keys(),
                                       partner_ids - rows.partners.keys()))  # fmt: skip
    accounts, partners = rows.accounts, rows.partners
    if found is not None:
        found["rows"] = rows
    debit_total = credit_total = Decimal(0)
    for index, line in enumerate(parsed):
        if not line:
            continue
        prefix = f"lines.{index}."
        debit, credit = line["debit"], line["credit"]
        if debit and credit:
            _add(errors, prefix + "credit", _("A line is either a debit or a credit, not both."))
        elif not debit and not credit and prefix + "debit" not in errors and prefix + "credit" not in errors:
            _add(errors, prefix + "debit", _("Enter a debit or a credit."))
        debit_total += debit
        credit_total += credit
        account = accounts.get(line["account_id"]) if line["account_id"] else None
        if line["account_id"] and (account is None or not account.is_active):
            _add(errors, prefix + "account_id", _("Unknown or inactive account."))
        partner = partners.get(line["partner_account_id"]) if line["partner_account_id"] else None
        if line["partner_account_id"] and partner is None:
            _add(errors, prefix + "partner_account_id", _("Unknown customer or supplier account."))
        if account is not None and account.is_active:
            third_party = account.type in (AccountType.RECEIVABLE, AccountType.PAYABLE)
            if partner is not None and not third_party:
                _add(errors, prefix + "partner_account_id",
                     _("Only customer and supplier accounts take a partner account."))  # fmt: skip
            elif partner is not None and partner.account_id != account.pk:
                _add(errors, prefix + "partner_account_id",
                     _("This partner account is booked on another account."))  # fmt: skip
            elif partner is None and not line["partner_account_id"] and third_party and account.reconcilable:
                _add(
                    errors,
                    prefix + "partner_account_id",
                    _("Choose the customer or supplier of this line (account %(code)s).") % {"code": account.code},
                )
    if len(parsed) >= 2 and not any(k.startswith("lines.") and k.endswith(("debit", "credit")) for k in errors):
        if debit_total != credit_total:
            _add(errors, "lines", _("The entry is not balanced: debits %(debit)s, credits %(credit)s.")
                 % {"debit": debit_total, "credit": credit_total})  # fmt: skip
    return parsed


def _line_rows(entry: JournalEntry, lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines as stored: numbered from 1 in the order given; a line without a site takes the entry's."""
    return [{**line, "sequence": index + 1, "site_id": line.get("site_id") or entry.site_id}
            for index, line in enumerate(lines)]  # fmt: skip


# Every column of a line, in the order of the compiled INSERT (``_insert_lines``).
_LINE_COLUMNS = (
    "created_at", "updated_at", "entry_id", "company_id", "sequence", "account_id", "partner_account_id", "label",
    "debit", "credit", "due_date", "amount_currency", "currency", "matching_code", "matched_at", "date",
    "journal_id", "is_posted", "site_id",
)  # fmt: skip


def _insert_lines(entry: JournalEntry, rows: Sequence[dict[str, Any]], *, posted: bool) -> list[int | None]:
    """INSERT the entry's lines, returning their ids in order: what ``bulk_create`` would store,
    by ``statements.insert_rows`` (SQL written once, not compiled per entry)."""
    now = timezone.now()
    values = [(now, now, entry.pk, entry.company_id, row["sequence"], row["account_id"], row.get("partner_account_id"),
               row.get("label", ""), row.get("debit", 0), row.get("credit", 0), row.get("due_date"),
               row.get("amount_currency"), row.get("currency", ""), "", None, entry.date, entry.journal_id, posted,
               row.get("site_id")) for row in rows]  # fmt: skip
    return insert_rows(JournalLine, _LINE_COLUMNS, values, returning_pk=True)


def _write_lines(entry: JournalEntry, lines: Sequence[dict[str, Any]], *, replace: bool = True) -> None:
    """Replace the draft's lines (``replace=False``: a new entry, none yet); a line without a site takes the entry's."""
    if replace:
        JournalLine.objects.filter(entry=entry).delete()
    # What create_entry remembered of the lines on this object is stale now: post_entry reads them back.
    for remembered in ("_written_lines", "line_ids"):
        entry.__dict__.pop(remembered, None)
    _insert_lines(entry, _line_rows(entry, lines), posted=False)
    entry.total = sum((line["debit"] for line in lines), Decimal(0))  # type: ignore[assignment]


def _checked_entry(
    actor: Actor,
    lines: Any,
    source_type: str,
    source_id: str,
    active_sites: bool,
    known: LedgerRows | None,
    data: dict[str, Any],
    *,
    period_later: bool = False,
) -> tuple[JournalEntry, list[dict[str, Any]]]:
    """Check a new entry; return it (not inserted) with its lines as they are to be stored."""
    assert actor.company_id is not None
    found: dict[str, Any] = {}
    cleaned, clean_lines = _clean_entry(actor, {**data, "lines": lines}, None, active_sites=active_sites,
                                        found=found, known=known, period_later=period_later)  # fmt: skip
    entry = JournalEntry(company_id=actor.company_id, created_by_id=actor.user_id, source_type=source_type,
                         source_id=str(source_id), **cleaned)  # fmt: skip
    entry.journal = found["journal"]  # the row just checked: ``post_entry`` reads its code and state
    entry.total = sum((line["debit"] for line in clean_lines or []), Decimal(0))  # type: ignore[assignment]
    rows = _line_rows(entry, clean_lines or [])
    # What posting hashes and checks, as written: ``post_entry`` need not read the lines back.
    vars(entry)["_ledger_rows"] = found["rows"]
    return entry, rows


def _created_audit(actor: Actor, entry: JournalEntry) -> AuditEntry:
    return audit.prepare(actor, "entry.create", entry, changes={"journal_id": [None, entry.journal_id],
                         "date": [None, entry.date], "total": [None, entry.total]}
                         | ({"site_id": [None, entry.site_id]} if entry.site_id else {}))  # fmt: skip


def _record_created(actor: Actor, entry: JournalEntry) -> None:
    audit.save(_created_audit(actor, entry))


def create_entry(
    actor: Actor, *, lines: Any, source_type: str = "", source_id: str = "", active_sites: bool = False,
    known: LedgerRows | None = None, **data: Any,
) -> JournalEntry:  # fmt: skip
    """Create a draft entry (no permission check: callers check theirs).

    ``site_id`` (entry) and each line's ``site_id`` must be sites of the company; documents
    pass the site they checked when it was chosen, so a site deactivated since is accepted
    unless ``active_sites`` (the manual entry form and API). ``known``: the journal and
    accounts the caller read in this transaction (``ledger_rows``), not read again.

    The entry remembers its lines as written (``entry.line_ids``: their ids in order), so
    ``post_entry`` on this same object does not read them back; only their currency columns
    (``currency.stamp``) may be written in between."""
    entry, rows = _checked_entry(actor, lines, source_type, source_id, active_sites, known, data)
    # The header in one statement compiled once, with its total; then the lines.
    audit.insert_instance(entry)
    _record_created(actor, entry)
    vars(entry).update(line_ids=_insert_lines(entry, rows, posted=False), _written_lines=rows)
    return entry


def create_posted_entry(
    actor: Actor, *, lines: Any, stamps: Sequence[tuple[Decimal | None, str]] = (), source_type: str = "",
    source_id: str = "", known: LedgerRows | None = None, **data: Any,
) -> JournalEntry:  # fmt: skip
    """``create_entry`` then ``post_entry`` (no permission check), each row written once: the
    numbers are taken first, then the header is inserted posted, numbered and hashed, then its
    lines, posted. ``stamps``: each line's foreign amount and currency, as ``currency.stamp``
    writes them. It stores, audits and publishes what create-then-post did.

    The period is checked once, after the posting counter (``_take_posting_numbers``), where
    ``post_entry`` checks it again; a refusal there is the one ``create_entry`` made (lock date,
    closed year) or ``post_entry`` (no fiscal year). Like every posting, it must run in a
    transaction that rolls back when it raises (a service's): the counters are taken by then."""
    entry, rows = _checked_entry(actor, lines, source_type, source_id, False, known, data, period_later=True)
    for row, (amount, code) in zip(rows, stamps or [(None, "")] * len(rows), strict=True):
        if code:
            row.update(amount_currency=amount, currency=code)
    vars(entry)["_pending_lines"] = rows
    return post_entry(actor, entry)


@transaction.atomic
def entry_create(*, actor: Actor, lines: Any, **data: Any) -> JournalEntry:
    require(actor, "accounting.post_entries")
    return create_entry(actor, lines=lines, active_sites=True, **data)


def _entry_locked(actor: Actor, entry_id: int) -> JournalEntry:
    entry = (
        JournalEntry.objects.select_for_update(of=("self",))
        .select_related("journal")
        .filter(company_id=actor.company_id, pk=entry_id)
        .first()
    )
    if entry is None:
        raise NotFound("entry_not_found")
    return entry


def _refuse_posted(entry: JournalEntry) -> None:
    if entry.state != EntryState.DRAFT:
        raise Conflict("entry_posted", _("A posted entry cannot be changed; reverse it instead."))


@transaction.atomic
def entry_update(*, actor: Actor, entry_id: int, **data: Any) -> JournalEntry:
    """Change a draft: the fields sent, and all its lines when ``lines`` is sent."""
    require(actor, "accounting.post_entries")
    entry = _entry_locked(actor, entry_id)
    _refuse_posted(entry)
    before = audit.snapshot(entry, ["journal_id", "date", "ref", "label", "total", "site_id"])
    old_site_id = entry.site_id
    cleaned, lines = _clean_entry(actor, data, entry)
    for name, value in cleaned.items():
        setattr(entry, name, value)
    if lines is not None:
        _write_lines(entry, lines)
    else:
        if {"date", "journal_id"} & set(cleaned):
            JournalLine.objects.filter(entry=entry).update(date=entry.date, journal_id=entry.journal_id)
        if entry.site_id != old_site_id:
            # The lines that followed the entry's site follow it still; a line's own site stays.
            JournalLine.objects.filter(entry=entry, site_id=old_site_id).update(site_id=entry.site_id)
    entry.save()
    audit.record(actor, "entry.update", entry,
                 changes=audit.diff(before, audit.snapshot(entry, list(before))) | (
                     {"lines": [None, len(lines)]} if lines is not None else {}))  # fmt: skip
    return entry


@transaction.atomic
def entry_delete(*, actor: Actor, entry_id: int) -> None:
    require(actor, "accounting.post_entries")
    entry = _entry_locked(actor, entry_id)
    _refuse_posted(entry)
    audit.record(actor, "entry.delete", entry, changes={"label": [entry.label, None], "total": [entry.total, None]})
    entry.delete()


def _post_errors(entry: JournalEntry, lines: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Why the entry may not be posted, but for its period (``_refuse_unpostable``);
    ``lines`` as ``_posting_lines`` gives them."""
    errors: dict[str, list[str]] = {}
    if len(lines) < 2:
        _add(errors, "lines", _("An entry has at least two lines."))
    debit = sum((line["debit"] for line in lines), Decimal(0))
    credit = sum((line["credit"] for line in lines), Decimal(0))
    if debit != credit or debit == 0:
        _add(errors, "lines", _("The entry is not balanced: debits %(debit)s, credits %(credit)s.")
             % {"debit": debit, "credit": credit})  # fmt: skip
    for index, line in enumerate(lines):
        if not line["account_active"]:
            message = _("Account %(code)s is inactive.") % {"code": line["account_code"]}
            _add(errors, f"lines.{index}.account_id", message)
    if not entry.journal.is_active:
        _add(errors, "journal_id", _("This journal is inactive."))
    return errors


def _refuse_unpostable(entry: JournalEntry, lines: list[dict[str, Any]]) -> None:
    """The checks made before the counters. The period is checked once they are held
    (``_take_posting_numbers``), or here with the other problems when there are some."""
    errors = _post_errors(entry, lines)
    if errors:
        for message in _period_errors(entry.company_id, entry.date, for_posting=True):
            _add(errors, "date", message)
        raise ValidationFailed("entry_not_postable", _("This entry cannot be posted."), fields=errors)


def _posting_lines(entry: JournalEntry) -> list[dict[str, Any]]:
    """The lines to check and hash, in order: as ``create_entry`` wrote them on this object
    (the account rows it read for its checks), else read from the database."""
    rows = entry.__dict__.get("_pending_lines")
    if rows is None:
        rows = entry.__dict__.get("_written_lines")
    if rows is not None:
        known: LedgerRows = entry.__dict__["_ledger_rows"]
        lines = []
        for row in rows:
            account = known.accounts[row["account_id"]]
            partner = known.partners[row["partner_account_id"]] if row.get("partner_account_id") else None
            lines.append({
                "sequence": row["sequence"], "account_code": account.code, "account_active": account.is_active,
                "partner_code": partner.code if partner else "", "label": row.get("label", ""),
                "debit": row["debit"], "credit": row["credit"], "due_date": row.get("due_date"),
                "site_id": row["site_id"],
            })  # fmt: skip
        return lines
    return [
        {"sequence": line["sequence"], "account_code": line["account__code"],
         "account_active": line["account__is_active"], "partner_code": line["partner_account__code"] or "",
         "label": line["label"], "debit": line["debit"], "credit": line["credit"], "due_date": line["due_date"],
         "site_id": line["site_id"]}
        for line in JournalLine.objects.filter(entry=entry).order_by("sequence", "id").values(
            "sequence", "account__code", "account__is_active", "partner_account__code", "label", "debit", "credit",
            "due_date", "site_id")
    ]  # fmt: skip


@dataclass(frozen=True)
class _PostingNumbers:
    number: Taken  # in the journal and fiscal year
    posting: Taken  # in the company's chain
    fiscal_year: FiscalYear
    previous_hash: str


def _take_posting_numbers(entry: JournalEntry, *, new: bool) -> _PostingNumbers:
    """Take the chain's number, then check the period and read the previous hash, then take the
    journal's number (its year is the fiscal year read). ``new``: an entry not inserted yet,
    refused as ``create_entry`` refuses a locked or closed period.

    The period is read here, after the chain's counter row is locked, and only here: lock-date
    changes and closings take the same row (``_serialise_with_posting``), so one committed
    before is seen now and none can commit until this transaction ends. (A read before the
    counter could be stale by then: that is why the check made before was made again here.)
    Every posting takes the chain's counter first, then its journal's: one order, no deadlock.
    """
    company_id = entry.company_id
    posting = take_number(company_id=company_id, kind=chain.CHAIN_KIND, on_date=entry.date)
    lock_date, year, found_hash = _read_period(company_id, entry.date, posting.value - 1 if posting.value > 1 else None)
    refused = _period_messages(entry.date, lock_date, year, for_posting=False)
    if refused and new:
        raise ValidationFailed(fields={"date": refused})
    refused = refused or _period_messages(entry.date, lock_date, year, for_posting=True)
    if refused:
        raise ValidationFailed("entry_not_postable", _("This entry cannot be posted."), fields={"date": refused})
    assert year is not None  # refused above when no fiscal year contains the date
    previous_hash = chain.GENESIS
    if posting.value > 1:
        if found_hash is None:
            raise Conflict("chain_broken", _("The previous posted entry is missing: run the ledger verification."))
        previous_hash = found_hash
    number = take_number(company_id=company_id, kind=_journal_sequence_kind(entry.journal_id), on_date=year.end_date)
    return _PostingNumbers(number, posting, year, previous_hash)


# A draft posted: the header's posting columns in one UPDATE written once.
_POST_DRAFT = Update(
    JournalEntry,
    ("state", "number", "chain_number", "fiscal_year_id", "ref", "posted_at", "posted_by_id", "previous_hash",
     "lines_hash", "hash", "updated_at"),
    "{id} = %s AND {state} = %s",
)  # fmt: skip
_POST_DRAFT_LINES = Update(JournalLine, ("is_posted",), "{entry_id} = %s")


def post_entry(actor: Actor, entry: JournalEntry) -> JournalEntry:
    """Post a locked draft (no permission check: callers check theirs). Must run in a transaction.

    A draft that ``create_entry`` returned in the same transaction needs no lock (no other
    transaction can see it): pass it as it is, with its journal. ``create_posted_entry`` passes
    an entry not inserted yet, with its lines: both are inserted here, posted.

    Everything but the period is read and checked before the numbers are taken; the posting
    counter (the company's busiest lock) is taken after, so it is held for a few short
    statements only; the period is read under it (``_take_posting_numbers``).
    """
    _refuse_posted(entry)
    lines = _posting_lines(entry)
    pending = entry.__dict__.pop("_pending_lines", None)  # ``create_posted_entry``: nothing inserted yet
    new = pending is not None
    with periods_read_once():
        _refuse_unpostable(entry, lines)
    lines_hash = chain.lines_digest(lines)
    taken = _take_posting_numbers(entry, new=new)
    number = taken.number.number
    entry.state = EntryState.POSTED
    entry.chain_number = taken.posting.value
    entry.fiscal_year = taken.fiscal_year
    entry.ref = entry.ref or number
    entry.posted_at = timezone.now()
    entry.posted_by_id = actor.user_id
    entry.previous_hash = taken.previous_hash
    entry.lines_hash = lines_hash
    header = {
        "company_id": entry.company_id, "chain_number": entry.chain_number, "number": number,
        "journal_code": entry.journal.code, "date": entry.date, "ref": entry.ref, "label": entry.label,
        "total": entry.total, "posted_at": entry.posted_at, "reversal_of_id": entry.reversal_of_id,
        "source_type": entry.source_type, "source_id": entry.source_id, "site_id": entry.site_id,
    }  # fmt: skip
    entry.hash = chain.entry_digest(header, lines_hash, taken.previous_hash)
    entry.updated_at = entry.posted_at
    audit_entries: list[AuditEntry] = []
    if new:
        # Created, updated and posted at once: one INSERT of the header as posted, then its lines.
        values = {f.attname: f.pre_save(entry, True) for f in JournalEntry._meta.concrete_fields if not f.primary_key}
        values.update(created_at=entry.posted_at, updated_at=entry.posted_at, number=number)
        entry.pk = audit.insert_row(JournalEntry, values, returning_pk=True)
        entry.created_at = entry.posted_at
        entry._state.adding, entry._state.db = False, transaction.get_connection().alias
        # As ``create_entry`` records it (the entry named before it has its number), written with the posting's.
        audit_entries.append(_created_audit(actor, entry))
    else:
        _POST_DRAFT.run([entry.state, number, entry.chain_number, taken.fiscal_year.pk, entry.ref, entry.posted_at,
                         entry.posted_by_id, entry.previous_hash, lines_hash, entry.hash, entry.updated_at],
                        entry.pk, EntryState.DRAFT)  # fmt: skip
    entry.number = number
    record_numbers([taken.number, taken.posting], object_type="accounting.journalentry", object_id=entry.pk)
    if new:
        vars(entry)["line_ids"] = _insert_lines(entry, pending, posted=True)
    else:
        _POST_DRAFT_LINES.run([True], entry.pk)
    entry.__dict__.pop("_written_lines", None)
    entry._loaded_posted = True
    audit_entries.append(audit.prepare(actor, "entry.post", entry, changes={"number": [None, entry.number],
                         "chain_number": [None, entry.chain_number], "hash": [None, entry.hash]}))  # fmt: skip
    audit.save(*audit_entries)
    events.publish("accounting.entry_posted", company_id=entry.company_id, payload={
        "entry_id": entry.pk, "number": entry.number, "chain_number": entry.chain_number,
        "journal": entry.journal.code, "date": entry.date.isoformat(), "total": str(entry.total),
        "source_type": entry.source_type, "source_id": entry.source_id,
    })  # fmt: skip
    return entry


@transaction.atomic
def entry_post(*, actor: Actor, entry_id: int) -> JournalEntry:
    require(actor, "accounting.post_entries")
    return post_entry(actor, _entry_locked(actor, entry_id))


@transaction.atomic
def entry_reverse(*, actor: Actor, entry_id: int, date: Any, label: str = "") -> JournalEntry:
    """Cancel a posted entry by a new posted entry with debits and credits swapped."""
    require(actor, "accounting.post_entries")
    original = _entry_locked(actor, entry_id)
    if original.state != EntryState.POSTED:
        raise Conflict("entry_not_posted", _("Only a posted entry is reversed; delete or edit a draft."))
    if JournalEntry.objects.filter(reversal_of=original).exists():
        raise Conflict("entry_already_reversed", _("This entry has already been reversed."))
    if original.source_type:
        # Reversing it here would leave the invoice or payment saying the opposite of the ledger.
        raise Conflict(
            "entry_from_document",
            _("This entry belongs to an invoice or a payment: issue a credit note or cancel the payment instead."),
        )
    with translation.override(settings.LANGUAGE_CODE):
        default_label = str(_("Reversal of %(number)s") % {"number": original.number})
    rows = list(
        JournalLine.objects.filter(entry=original).order_by("sequence", "id").values(
            *LINE_FIELDS, "amount_currency", "currency")
    )  # fmt: skip
    lines = [
        {"account_id": line["account_id"], "partner_account_id": line["partner_account_id"],
         "label": line["label"], "debit": line["credit"], "credit": line["debit"], "due_date": line["due_date"],
         "site_id": line["site_id"]}
        for line in rows
    ]  # fmt: skip
    # Each line keeps its site; the entry keeps the original's.
    reversal = create_entry(
        actor, journal_id=original.journal_id, date=date, label=(label or default_label)[:200], ref=original.number,
        lines=lines, source_type=original.source_type, source_id=original.source_id, site_id=original.site_id,
    )  # fmt: skip
    # The foreign-currency amounts are reversed too, so the pair nets to zero in the currency as well.
    for pk, line in zip(
        JournalLine.objects.filter(entry=reversal).order_by("sequence", "id").values_list("pk", flat=True),
        rows,
        strict=True,
    ):
        if line["currency"]:
            amount = line["amount_currency"]
            JournalLine.objects.filter(pk=pk).update(
                amount_currency=-Decimal(amount) if amount is not None else None, currency=line["currency"]
            )
    JournalEntry.objects.filter(pk=reversal.pk).update(reversal_of=original)
    reversal = post_entry(actor, _entry_locked(actor, reversal.pk))
    audit.record(actor, "entry.reverse", original, changes={"reversed_by": [None, reversal.number]})
    return reversal

"""Bank accounts and their CSV layouts: create, update, archive (every write, audited).

A bank account gets its own bank journal and 512 ledger account. The first account of a
company takes the standard ``BQ`` journal and the ``512`` account of the chart when no
other bank account uses them; later ones get ``BQ2``, ``BQ3``… and ``5121``, ``5122``…
created here (a direct call into the ledger, in the same transaction: a bank account
without its journal must not exist). Either can also be chosen among existing ones.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumError

from comptoir.accounting.models import Account, AccountType, Journal, JournalKind
from comptoir.accounting.services import (
    _ensure_sequences,  # journal counters, as journal_create does
    clean_site_id,
)
from comptoir.banking.models import BankAccount, BankStatement, CsvMapping
from comptoir.banking.parsers.csv import CsvLayout
from comptoir.kernel import audit
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.models import Company

ACCOUNT_FIELDS = ("name", "iban", "bic", "bank_name", "currency", "journal_id", "account_id", "site_id")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
BANK_ACCOUNT_CODE = "512"
BANK_JOURNAL_CODE = "BQ"


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


def _text(errors: dict[str, list[str]], name: str, value: Any, max_length: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        _add(errors, name, _("Enter text."))
        return ""
    value = value.strip()
    if required and not value:
        _add(errors, name, _("This field is required."))
    elif len(value) > max_length:
        _add(errors, name, _("Enter at most %(n)d characters.") % {"n": max_length})
    return value


def _id(errors: dict[str, list[str]], name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        _add(errors, name, _("Enter a valid id."))
        return None
    if isinstance(value, bool) or number <= 0:
        _add(errors, name, _("Enter a valid id."))
        return None
    return number


def normalize_iban(errors: dict[str, list[str]], value: str) -> str:
    if not value:
        return ""
    try:
        return str(stdnum_iban.validate(value))
    except StdnumError:
        _add(errors, "iban", _("This IBAN is not valid (check the country code, length and check digits)."))
        return ""


def normalize_bic(errors: dict[str, list[str]], value: str) -> str:
    if not value:
        return ""
    try:
        return str(stdnum_bic.validate(value))
    except StdnumError:
        _add(errors, "bic", _("This BIC is not valid (8 or 11 letters and digits, e.g. BNPAFRPPXXX)."))
        return ""


def _clean(actor: Actor, data: dict[str, Any], bank_account: BankAccount | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(data) - set(ACCOUNT_FIELDS))
    for name in unknown:
        _add(errors, name, _("Unknown field."))
    cleaned: dict[str, Any] = {}
    creating = bank_account is None
    pk = getattr(bank_account, "pk", None)
    if "name" in data or creating:
        name = _text(errors, "name", data.get("name"), 100, True)
        if name and BankAccount.objects.filter(company_id=actor.company_id, name=name).exclude(pk=pk).exists():
            _add(errors, "name", _("Another bank account already has this name."))
        cleaned["name"] = name
    if "iban" in data or creating:
        iban = normalize_iban(errors, _text(errors, "iban", data.get("iban"), 50, False))
        if iban and BankAccount.objects.filter(company_id=actor.company_id, iban=iban).exclude(pk=pk).exists():
            _add(errors, "iban", _("Another bank account already has this IBAN."))
        cleaned["iban"] = iban
    if "bic" in data or creating:
        cleaned["bic"] = normalize_bic(errors, _text(errors, "bic", data.get("bic"), 20, False))
    if "bank_name" in data or creating:
        cleaned["bank_name"] = _text(errors, "bank_name", data.get("bank_name"), 100, False)
    if "currency" in data or creating:
        currency = _text(errors, "currency", data.get("currency") or "EUR", 3, True).upper()
        if currency and not _CURRENCY.match(currency):
            _add(errors, "currency", _("Enter an ISO 4217 code, e.g. EUR."))
        elif bank_account is not None and currency != bank_account.currency and _has_statements(bank_account):
            _add(errors, "currency", _("The currency of an account with statements cannot change."))
        cleaned["currency"] = currency
    if "site_id" in data:  # an active site of the company; empty: none (the invoices' sites decide)
        cleaned["site_id"] = clean_site_id(errors, "site_id", data["site_id"], actor.company_id or 0)
    for name in ("journal_id", "account_id"):
        if name in data:
            value = _id(errors, name, data[name])
            if bank_account is not None and value != getattr(bank_account, name) and _has_statements(bank_account):
                _add(errors, name, _("The journal and ledger account of an account with statements cannot change."))
            if value is not None or creating:
                cleaned[name] = value
    if "account_id" in cleaned and cleaned["account_id"] is not None:
        account = Account.objects.filter(company_id=actor.company_id, pk=cleaned["account_id"], is_active=True).first()
        if account is None or not account.code.startswith(BANK_ACCOUNT_CODE):
            _add(errors, "account_id", _("Choose an active 512… bank account of the chart."))
        elif BankAccount.objects.filter(account=account).exclude(pk=pk).exists():
            _add(errors, "account_id", _("Another bank account already uses this ledger account."))
    if "journal_id" in cleaned and cleaned["journal_id"] is not None:
        journal = Journal.objects.filter(company_id=actor.company_id, pk=cleaned["journal_id"], is_active=True).first()
        if journal is None or journal.kind != JournalKind.BANK:
            _add(errors, "journal_id", _("Choose an active bank journal."))
        elif BankAccount.objects.filter(journal=journal).exclude(pk=pk).exists():
            _add(errors, "journal_id", _("Another bank account already uses this journal."))
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def _has_statements(bank_account: BankAccount) -> bool:
    return BankStatement.objects.filter(bank_account=bank_account).exists()


def _ledger_account(actor: Actor, company_id: int, name: str) -> Account:
    """The 512 account when free, else a new 5121, 5122…"""
    used = set(BankAccount.objects.filter(company_id=company_id).values_list("account_id", flat=True))
    codes = dict(Account.objects.filter(company_id=company_id, code__startswith=BANK_ACCOUNT_CODE)
                 .values_list("code", "pk"))  # fmt: skip
    base = Account.objects.filter(company_id=company_id, code=BANK_ACCOUNT_CODE, is_active=True).first()
    if base is not None and base.pk not in used:
        return base
    n = 1
    while f"{BANK_ACCOUNT_CODE}{n}" in codes:
        n += 1
    account = Account.objects.create(
        company_id=company_id, code=f"{BANK_ACCOUNT_CODE}{n}", name=f"{_('Bank')} {name}"[:200],
        type=AccountType.BANK, reconcilable=bool(base and base.reconcilable),
    )  # fmt: skip
    audit.record(actor, "account.create", account, changes=audit.diff({}, {"code": account.code, "name": account.name}))
    return account


def _journal(actor: Actor, company_id: int, name: str, account: Account) -> Journal:
    """The BQ journal when free, else a new BQ2, BQ3…, booked on ``account``."""
    used = set(BankAccount.objects.filter(company_id=company_id).values_list("journal_id", flat=True))
    codes = set(Journal.objects.filter(company_id=company_id).values_list("code", flat=True))
    base = Journal.objects.filter(company_id=company_id, code=BANK_JOURNAL_CODE, kind=JournalKind.BANK,
                                  is_active=True).first()  # fmt: skip
    if base is not None and base.pk not in used and base.default_account_id in (None, account.pk):
        return base
    n = 2
    while f"{BANK_JOURNAL_CODE}{n}" in codes:
        n += 1
    journal = Journal.objects.create(company_id=company_id, code=f"{BANK_JOURNAL_CODE}{n}", name=name[:100],
                                     kind=JournalKind.BANK, default_account=account)  # fmt: skip
    _ensure_sequences(company_id, [journal])
    audit.record(actor, "journal.create", journal, changes=audit.diff({}, {"code": journal.code, "name": journal.name}))
    return journal


@transaction.atomic
def bank_account_create(*, actor: Actor, **data: Any) -> BankAccount:
    """A bank account; its journal and 512 account are chosen (``journal_id``,
    ``account_id``) or set up here."""
    require(actor, "banking.manage_bank")
    assert actor.company_id is not None
    # Serialise creations in a company: two at once would both pick the free 512/BQ.
    Company.objects.select_for_update().filter(pk=actor.company_id).exists()
    cleaned = _clean(actor, data)
    account_id = cleaned.pop("account_id", None)
    journal_id = cleaned.pop("journal_id", None)
    if account_id is not None:
        account = Account.objects.get(pk=account_id)
    elif journal_id is not None:
        journal_account = Journal.objects.get(pk=journal_id).default_account_id
        account = (Account.objects.filter(pk=journal_account).first() if journal_account else None) or \
            _ledger_account(actor, actor.company_id, cleaned["name"])  # fmt: skip
    else:
        account = _ledger_account(actor, actor.company_id, cleaned["name"])
    journal = (
        Journal.objects.get(pk=journal_id)
        if journal_id is not None
        else _journal(actor, actor.company_id, cleaned["name"], account)
    )
    bank_account = BankAccount.objects.create(company_id=actor.company_id, journal=journal, account=account, **cleaned)
    audit.record(actor, "bank_account.create", bank_account,
                 changes=audit.diff({}, cleaned | {"journal": journal.code, "account": account.code}))  # fmt: skip
    return bank_account


def _locked(actor: Actor, bank_account_id: int) -> BankAccount:
    bank_account = (
        BankAccount.objects.select_for_update().filter(company_id=actor.company_id, pk=bank_account_id).first()
    )
    if bank_account is None:
        raise NotFound("bank_account_not_found", _("No such bank account."))
    return bank_account


@transaction.atomic
def bank_account_update(*, actor: Actor, bank_account_id: int, **data: Any) -> BankAccount:
    require(actor, "banking.manage_bank")
    bank_account = _locked(actor, bank_account_id)
    before = audit.snapshot(bank_account, list(ACCOUNT_FIELDS))
    cleaned = _clean(actor, data, bank_account)
    for name, value in cleaned.items():
        setattr(bank_account, name, value)
    bank_account.save()
    changes = audit.diff(before, audit.snapshot(bank_account, list(cleaned)))
    if changes:
        audit.record(actor, "bank_account.update", bank_account, changes=changes)
    return bank_account


@transaction.atomic
def bank_account_set_active(*, actor: Actor, bank_account_id: int, active: bool) -> BankAccount:
    """Archive (or restore) a bank account: kept with its statements, no more imports."""
    require(actor, "banking.manage_bank")
    bank_account = _locked(actor, bank_account_id)
    if bank_account.active != active:
        bank_account.active = active
        bank_account.save(update_fields=["active", "updated_at"])
        audit.record(actor, "bank_account.restore" if active else "bank_account.archive", bank_account,
                     changes={"active": [not active, active]})  # fmt: skip
    return bank_account


# --- CSV layouts ------------------------------------------------------------------------

MAPPING_FIELDS = (
    "name", "delimiter", "encoding", "decimal_separator", "date_format", "skip_lines", "date_column",
    "value_date_column", "amount_column", "debit_column", "credit_column", "label_column", "reference_column",
    "partner_column", "transaction_id_column", "debit_positive",
)  # fmt: skip


def clean_layout(data: dict[str, Any]) -> CsvLayout:
    """A ``CsvLayout`` from user input, or ``ValidationFailed`` per field."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name in MAPPING_FIELDS:
        if name == "name" or name not in data:
            continue
        value = data[name]
        if name == "skip_lines":
            try:
                values[name] = int(value or 0)
            except (TypeError, ValueError):
                _add(errors, name, _("Enter a number from 0 to 50."))
        elif name == "debit_positive":
            values[name] = bool(value)
        else:
            text = value if name == "delimiter" and value == "\t" else _text(errors, name, value, 100, False)
            values[name] = text
    layout = CsvLayout(**{"date_column": "", "label_column": ""} | values)
    for name, messages in layout.check().items():
        errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationFailed(fields=errors)
    return layout


@transaction.atomic
def csv_mapping_save(*, actor: Actor, bank_account_id: int, mapping_id: int | None = None, **data: Any) -> CsvMapping:
    """Create or update a bank account's saved CSV layout."""
    require(actor, "banking.manage_bank")
    bank_account = _locked(actor, bank_account_id)
    errors: dict[str, list[str]] = {}
    for name in sorted(set(data) - set(MAPPING_FIELDS)):
        _add(errors, name, _("Unknown field."))
    mapping = None
    if mapping_id is not None:
        mapping = CsvMapping.objects.filter(bank_account=bank_account, pk=mapping_id).first()
        if mapping is None:
            raise NotFound("csv_mapping_not_found", _("No such CSV layout."))
    name = _text(errors, "name", data.get("name", mapping.name if mapping else ""), 100, True)
    if (
        name
        and CsvMapping.objects.filter(bank_account=bank_account, name=name)
        .exclude(pk=getattr(mapping, "pk", None))
        .exists()
    ):
        _add(errors, "name", _("Another layout of this account has this name."))
    try:
        layout = clean_layout(data)
    except ValidationFailed as exc:
        for key, messages in exc.fields.items():
            errors.setdefault(key, []).extend(messages)
        layout = None
    if errors or layout is None:
        raise ValidationFailed(fields=errors)
    values = {f: getattr(layout, f) for f in MAPPING_FIELDS if f != "name"} | {"name": name}
    if mapping is None:
        mapping = CsvMapping.objects.create(bank_account=bank_account, **values)
        audit.record(actor, "csv_mapping.create", mapping, changes=audit.diff({}, values))
    else:
        before = audit.snapshot(mapping, list(MAPPING_FIELDS))
        for key, value in values.items():
            setattr(mapping, key, value)
        mapping.save()
        audit.record(actor, "csv_mapping.update", mapping,
                     changes=audit.diff(before, audit.snapshot(mapping, list(MAPPING_FIELDS))))  # fmt: skip
    return mapping


@transaction.atomic
def csv_mapping_delete(*, actor: Actor, bank_account_id: int, mapping_id: int) -> None:
    require(actor, "banking.manage_bank")
    bank_account = _locked(actor, bank_account_id)
    mapping = CsvMapping.objects.filter(bank_account=bank_account, pk=mapping_id).first()
    if mapping is None:
        raise NotFound("csv_mapping_not_found", _("No such CSV layout."))
    audit.record(actor, "csv_mapping.delete", mapping, changes={"name": [mapping.name, None]})
    mapping.delete()

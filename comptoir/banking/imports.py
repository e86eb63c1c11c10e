"""Statement import: parse a bank file, check it against the bank account, write it whole.

``statement_import`` is all-or-nothing: any unreadable row, a statement for another
account, another currency, a statement that does not balance, or a file (or statement id)
already imported refuses the whole file with a message per problem, and nothing is
written. Lines the account already has (same bank transaction id: overlapping statements)
are skipped and counted.

Decisions:
- Balances: when a statement gives both its opening and closing balance, opening + the
  sum of its lines must equal closing, else the file is refused (a statement that does not
  add up is truncated or corrupt; importing it would make reconciliation lie). When only
  one is given (OFX gives the closing balance only), nothing is checked.
- Account: when the file names its account (IBAN, or the French bank/branch/account
  numbers of OFX), it must be the chosen bank account's; without a chosen account each
  statement goes to the company's account with that IBAN.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.banking import parsers
from comptoir.banking.accounts import clean_layout
from comptoir.banking.models import BankAccount, BankStatement, BankStatementLine, CsvMapping, format_iban
from comptoir.banking.parsers.base import MAX_FILE_BYTES, ParsedStatement, StatementFileError
from comptoir.banking.parsers.csv import CsvLayout
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed

PREVIEW_ROWS = 20


@dataclass
class ImportResult:
    statements: list[BankStatement] = field(default_factory=list)
    imported: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    source_format: str = ""


@dataclass
class Preview:
    source_format: str
    statements: list[ParsedStatement]
    columns: list[str] = field(default_factory=list)


def _file_error(code: str, message: Any) -> StatementFileError:
    return StatementFileError(code, message)


def _layout(bank_account: BankAccount | None, mapping_id: Any, layout: dict[str, Any] | None) -> CsvLayout | None:
    if layout:
        return clean_layout(layout)
    if mapping_id in (None, ""):
        return None
    mapping = CsvMapping.objects.filter(pk=mapping_id, bank_account=bank_account).first() if bank_account else None
    if mapping is None:
        raise ValidationFailed(fields={"mapping_id": [str(_("Unknown CSV layout for this bank account."))]})
    return CsvLayout.from_object(mapping)


def _bank_account(actor: Actor, bank_account_id: Any) -> BankAccount | None:
    if bank_account_id in (None, ""):
        return None
    try:
        pk = int(bank_account_id)
    except (TypeError, ValueError):
        raise ValidationFailed(fields={"bank_account_id": [str(_("Enter a valid id."))]}) from None
    bank_account = BankAccount.objects.filter(company_id=actor.company_id, pk=pk).first()
    if bank_account is None:
        raise NotFound("bank_account_not_found", _("No such bank account."))
    return bank_account


def _parse(data: bytes, source_format: str, layout: CsvLayout | None) -> tuple[str, list[ParsedStatement]]:
    if not data:
        raise _file_error("empty", _("The file is empty."))
    if len(data) > MAX_FILE_BYTES:
        raise _file_error("too_large", _("The file is larger than %(size)d MB.") % {"size": MAX_FILE_BYTES >> 20})
    fmt = source_format or parsers.detect_format(data)
    if fmt not in ("camt053", "ofx", "csv"):
        raise ValidationFailed(fields={"source_format": [str(_("Choose among: camt053, ofx, csv."))]})
    return fmt, parsers.parse(data, fmt, layout)


def statement_preview(
    *, actor: Actor, data: bytes, bank_account_id: Any = None, source_format: str = "", mapping_id: Any = None,
    layout: dict[str, Any] | None = None,
) -> Preview:  # fmt: skip
    """Parse without writing: the statements and (CSV) the first rows, to check a layout."""
    require(actor, "banking.manage_bank")
    bank_account = _bank_account(actor, bank_account_id)
    csv_layout = _layout(bank_account, mapping_id, layout)
    fmt = source_format or parsers.detect_format(data)
    columns: list[str] = []
    if fmt == "csv" and csv_layout is not None:
        columns = parsers.csv_parser.header(data, csv_layout)
        statements = parsers.csv_parser.parse(data, csv_layout, limit=PREVIEW_ROWS)
    elif fmt == "csv":
        raise StatementFileError(
            "csv_layout_required", _("Choose or describe the CSV layout of this bank."),
            fields={"mapping_id": [str(_("Choose or describe the CSV layout of this bank."))]},
        )  # fmt: skip
    else:
        fmt, statements = _parse(data, fmt, None)
    return Preview(source_format=fmt, statements=statements, columns=columns)


def _account_matches(bank_account: BankAccount, statement: ParsedStatement) -> bool | None:
    """True/False when the file names its account, None when it does not."""
    if statement.account_iban:
        return statement.account_iban == bank_account.iban if bank_account.iban else None
    if statement.account_number and bank_account.iban:
        # French RIB parts in OFX: bank (5) + branch (5) + account (11) form the IBAN's BBAN.
        bban = bank_account.iban[4:]
        number = statement.account_number.replace(" ", "").upper()
        if statement.bank_id and not bban.startswith(statement.bank_id):
            return False
        return number[:11] in bban
    return None


def _route(
    actor: Actor, bank_account: BankAccount | None, statements: list[ParsedStatement]
) -> list[tuple[BankAccount, ParsedStatement]]:
    routed: list[tuple[BankAccount, ParsedStatement]] = []
    errors: list[str] = []
    codes: list[str] = []
    by_iban: dict[str, BankAccount] = {}
    if bank_account is None:
        ibans = [s.account_iban for s in statements if s.account_iban]
        by_iban = {a.iban: a for a in BankAccount.objects.filter(company_id=actor.company_id, iban__in=ibans)}
    for index, statement in enumerate(statements, start=1):
        label = statement.reference or str(_("statement %(n)d") % {"n": index})
        if bank_account is None:
            target = by_iban.get(statement.account_iban)
            if target is None:
                if statement.account_iban:
                    errors.append(str(_("%(statement)s is for IBAN %(iban)s, which is none of the bank accounts.")
                                      % {"statement": label, "iban": format_iban(statement.account_iban)}))  # fmt: skip
                else:
                    errors.append(str(_("%(statement)s does not name its account: choose the bank account.")
                                      % {"statement": label}))  # fmt: skip
                continue
        else:
            target = bank_account
            if _account_matches(target, statement) is False:
                named = format_iban(statement.account_iban) or statement.account_number
                errors.append(str(_("%(statement)s is for account %(named)s, not for %(account)s (%(iban)s).")
                                  % {"statement": label, "named": named, "account": target.name,
                                     "iban": target.iban_display}))  # fmt: skip
                continue
        if not target.active:
            codes.append("account_archived")
            errors.append(str(_("The bank account %(account)s is archived.") % {"account": target.name}))
            continue
        currencies = {statement.currency} | {line.currency for line in statement.lines}
        currencies.discard("")
        if currencies - {target.currency}:
            codes.append("wrong_currency")
            errors.append(str(_("%(statement)s is in %(currency)s, the account in %(account_currency)s.")
                              % {"statement": label, "currency": ", ".join(sorted(currencies)),
                                 "account_currency": target.currency}))  # fmt: skip
            continue
        routed.append((target, statement))
    if errors:
        code = codes[0] if len(codes) == len(errors) else "wrong_account"
        raise StatementFileError(code, errors[0], fields={"file": errors})
    return routed


def _check_balance(statement: ParsedStatement, label: str) -> str | None:
    if statement.opening_balance is None or statement.closing_balance is None:
        return None
    total = sum((line.amount for line in statement.lines), Decimal(0))
    if statement.opening_balance + total != statement.closing_balance:
        return str(
            _("%(statement)s does not add up: opening balance %(opening)s + lines %(total)s = %(computed)s, "
              "but the closing balance is %(closing)s.")
            % {"statement": label, "opening": statement.opening_balance, "total": total,
               "computed": statement.opening_balance + total, "closing": statement.closing_balance}
        )  # fmt: skip
    return None


@transaction.atomic
def statement_import(
    *, actor: Actor, data: bytes, bank_account_id: Any = None, source_format: str = "", filename: str = "",
    mapping_id: Any = None, layout: dict[str, Any] | None = None,
) -> ImportResult:  # fmt: skip
    """Import every statement of a bank file (CAMT.053, OFX, CSV), all or nothing."""
    require(actor, "banking.manage_bank")
    assert actor.company_id is not None
    bank_account = _bank_account(actor, bank_account_id)
    csv_layout = _layout(bank_account, mapping_id, layout)
    fmt, statements = _parse(data, source_format, csv_layout)
    routed = _route(actor, bank_account, statements)
    # Serialise imports per account: the duplicate checks below then see every commit.
    account_ids = sorted({account.pk for account, _statement in routed})
    list(BankAccount.objects.select_for_update().filter(pk__in=account_ids).order_by("pk").values_list("pk"))
    sha = hashlib.sha256(data).hexdigest()
    errors: list[str] = []
    duplicate = unbalanced = False
    result = ImportResult(source_format=fmt)
    per_account: dict[int, int] = {}
    plans: list[tuple[BankAccount, ParsedStatement, str, dt.date, dt.date, str]] = []
    for index, (account, statement) in enumerate(routed, start=1):
        label = statement.reference or str(_("statement %(n)d") % {"n": index})
        rank = per_account[account.pk] = per_account.get(account.pk, 0) + 1
        file_key = sha if rank == 1 else f"{sha}:{rank}"
        if BankStatement.objects.filter(bank_account=account, file_sha256=file_key).exists():
            errors.append(str(_("This file was already imported into %(account)s.") % {"account": account.name}))
            duplicate = True
            continue
        if statement.reference and BankStatement.objects.filter(bank_account=account,
                                                                reference=statement.reference).exists():  # fmt: skip
            errors.append(str(_("Statement %(reference)s was already imported into %(account)s.")
                              % {"reference": statement.reference, "account": account.name}))  # fmt: skip
            duplicate = True
            continue
        problem = _check_balance(statement, label)
        if problem:
            errors.append(problem)
            unbalanced = True
            continue
        start, end = statement.period()
        if start is None or end is None:
            errors.append(str(_("%(statement)s has no dates and no lines.") % {"statement": label}))
            continue
        if end < start:
            errors.append(str(_("%(statement)s ends before it starts.") % {"statement": label}))
            continue
        plans.append((account, statement, label, start, end, file_key))
    if errors:
        code = "already_imported" if duplicate else "unbalanced" if unbalanced else "refused"
        raise StatementFileError(code, errors[0], fields={"file": errors})
    now = timezone.now()
    user = actor.user if actor.user_id else None
    for account, statement, _label, start, end, file_key in plans:
        ids = [ln.transaction_id for ln in statement.lines if ln.transaction_id]
        known = set(
            BankStatementLine.objects.filter(bank_account=account, transaction_id__in=ids).values_list(
                "transaction_id", flat=True
            )
        )
        record = BankStatement.objects.create(
            company_id=actor.company_id, bank_account=account, reference=statement.reference, date_from=start,
            date_to=end, opening_balance=statement.opening_balance, closing_balance=statement.closing_balance,
            currency=account.currency, file_name=filename[:255], file_sha256=file_key, source_format=fmt,
            imported_at=now, imported_by=user, warnings=list(statement.warnings),
        )  # fmt: skip
        rows: list[BankStatementLine] = []
        skipped = 0
        for position, line in enumerate(statement.lines, start=1):
            if line.transaction_id and line.transaction_id in known:
                skipped += 1
                continue
            if line.transaction_id:
                known.add(line.transaction_id)
            rows.append(BankStatementLine(  # type: ignore[misc]  # MoneyFields take Decimals
                company_id=actor.company_id, statement=record, bank_account=account, position=position,
                booking_date=line.booking_date, value_date=line.value_date, amount=line.amount,
                currency=account.currency, label=line.label or "-", reference=line.reference,
                partner_name=line.partner_name, partner_iban=line.partner_iban, bank_code=line.bank_code,
                transaction_id=line.transaction_id,
            ))  # fmt: skip
        BankStatementLine.objects.bulk_create(rows, batch_size=500)
        record.line_count, record.skipped_count = len(rows), skipped
        if skipped:
            record.warnings = [*record.warnings, str(_("%(n)d lines were already imported and were skipped.")
                                                      % {"n": skipped})]  # fmt: skip
        record.save(update_fields=["line_count", "skipped_count", "warnings", "updated_at"])
        audit.record(actor, "bank_statement.import", record, changes={
            "bank_account": [None, account.pk], "reference": [None, record.reference], "format": [None, fmt],
            "file_sha256": [None, file_key], "lines": [None, len(rows)], "skipped": [None, skipped],
        })  # fmt: skip
        events.publish("banking.statement_imported", company_id=actor.company_id, payload={
            "statement_id": record.pk, "bank_account_id": account.pk, "lines": len(rows),
        })  # fmt: skip
        result.statements.append(record)
        result.imported += len(rows)
        result.skipped += skipped
        result.warnings.extend(record.warnings)
    return result

"""What every statement parser returns, and the errors it raises.

Parsers are pure Python: bytes in, ``ParsedStatement``s out (amounts as exact ``Decimal``,
signed: positive = money in). They never touch the database; ``banking.imports`` checks
the statements against the bank account and writes them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.errors import ValidationFailed

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_LINES = 20_000
# Amounts beyond this are refused: a sum of MAX_LINES of them still fits a bigint of cents.
MAX_AMOUNT = Decimal("1e13")
_CENT = Decimal("0.01")


class StatementFileError(ValidationFailed):
    """The file cannot be imported; ``fields["file"]`` says why, ``fields["rows.N"]`` per row."""

    def __init__(self, code: str, message: Any, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(code, message, fields=fields or {"file": [str(message)]})


@dataclass(slots=True)
class ParsedLine:
    booking_date: dt.date
    amount: Decimal
    label: str
    value_date: dt.date | None = None
    reference: str = ""
    partner_name: str = ""
    partner_iban: str = ""
    bank_code: str = ""
    transaction_id: str = ""
    currency: str = ""


@dataclass(slots=True)
class ParsedStatement:
    lines: list[ParsedLine] = field(default_factory=list)
    reference: str = ""
    currency: str = ""
    # The account the file says the statement is for: an IBAN (CAMT, some CSV) or the
    # bank/branch/account numbers of an OFX file (French banks give the RIB parts).
    account_iban: str = ""
    account_number: str = ""
    bank_id: str = ""
    branch_id: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    warnings: list[str] = field(default_factory=list)

    def period(self) -> tuple[dt.date | None, dt.date | None]:
        """The statement's dates, or those of its lines when the file gives none."""
        days = [line.booking_date for line in self.lines]
        start = self.date_from or (min(days) if days else self.date_to)
        end = self.date_to or (max(days) if days else self.date_from)
        return start, end


def clean_text(value: Any, max_length: int) -> str:
    """Collapse whitespace and cut to the column's length."""
    return re.sub(r"\s+", " ", str(value or "")).strip()[:max_length]


def parse_amount(raw: str, *, decimal_separator: str = ".") -> Decimal:
    """An exact amount from a bank file: ``-1 234,56``, ``1.234,56``, ``+12.5``, ``12,50-``.

    Raises ``ValueError`` with a message for the user when it is not a 2-decimal amount.
    """
    text = (raw or "").strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    text = text.replace("€", "").replace("EUR", "")
    negative = False
    if text.endswith("-"):
        negative, text = True, text[:-1]
    elif text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    if decimal_separator == ",":
        text = text.replace(".", "").replace("'", "").replace(",", ".")
    else:
        text = text.replace(",", "").replace("'", "")
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        raise ValueError(str(_("“%(value)s” is not an amount.") % {"value": (raw or "").strip()[:40]}))
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern above prevents it
        raise ValueError(str(_("“%(value)s” is not an amount.") % {"value": raw[:40]})) from exc
    if amount != amount.quantize(_CENT):
        raise ValueError(str(_("“%(value)s” has more than 2 decimal places.") % {"value": raw.strip()[:40]}))
    if abs(amount) >= MAX_AMOUNT:
        raise ValueError(str(_("“%(value)s” is too large.") % {"value": raw.strip()[:40]}))
    amount = amount.quantize(_CENT)
    return -amount if negative else amount


def compact_iban(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "").upper()

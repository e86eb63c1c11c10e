"""Document sequences: gapless numbers assigned inside the issuing transaction.

The counter row is locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's IMMEDIATE
transactions already serialize writers), incremented and recorded in ``IssuedNumber`` in
the caller's transaction, so a rollback returns the number and a commit keeps it: no gap,
no duplicate. Formats are configuration, never inferred from the previous number.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.audit import insert_row
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.models import DocumentSequence, IssuedNumber
from comptoir.kernel.statements import insert_rows

# Default formats per kind; a company may change them (DocumentSequence.format).
DEFAULT_FORMATS: dict[str, tuple[str, str, bool]] = {
    # kind: (prefix, format, restarts every year)
    "test": ("T", "{prefix}-{year}-{n:05}", True),
}


def register_kind(kind: str, prefix: str, fmt: str = "{prefix}-{year}-{n:05}", yearly: bool = True) -> None:
    DEFAULT_FORMATS[kind] = (prefix, fmt, yearly)


PLACEHOLDERS = {"prefix", "year", "yy", "n"}
# The number must fit IssuedNumber.number (100 characters), even with a large counter.
MAX_NUMBER_LENGTH = 100


def validate_format(fmt: str) -> None:
    """Accept only the known placeholders with short format specs (no attribute access, no padding bombs)."""

    def fail(message: str) -> ValidationFailed:
        return ValidationFailed("invalid_sequence_format", fields={"format": [message]})

    if not isinstance(fmt, str) or not fmt.strip():
        raise fail(str(_("The format is required.")))
    if len(fmt) > 80:
        raise fail(str(_("The format is too long (80 characters at most).")))
    names: set[str] = set()
    try:
        for _literal, name, spec, conversion in string.Formatter().parse(fmt):
            if name is None:
                continue
            if name not in PLACEHOLDERS:
                raise fail(str(_("Unknown placeholder {%(name)s}.") % {"name": name}))
            if conversion or (spec and (len(spec) > 4 or "{" in spec)):
                raise fail(str(_("Unsupported format for {%(name)s}.") % {"name": name}))
            names.add(name)
        sample = fmt.format(prefix="X" * 20, year=2026, yy="26", n=10**12)
    except ValueError as exc:
        raise fail(str(_("Bad format: %(error)s") % {"error": exc})) from exc
    if "n" not in names:
        raise fail(str(_("The format must contain {n}.")))
    if len(sample) > MAX_NUMBER_LENGTH:
        raise fail(str(_("The numbers would be too long.")))


@dataclass(frozen=True)
class Issued:
    value: int
    number: str


def _take(company_id: int, kind: str, year: int) -> tuple[int, int, str, str] | None:
    """Increment the counter and return (id, value taken, prefix, format) in one statement.

    ``UPDATE … RETURNING`` locks the row until the transaction ends (PostgreSQL) and is one
    round trip instead of SELECT FOR UPDATE + UPDATE: the lock is held for less time, which
    is what bounds throughput when many writers share one counter. SQLite ≥ 3.35 has it too.
    """
    table = DocumentSequence._meta.db_table
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET next_value = next_value + 1 "  # noqa: S608 (table name is ours)
            "WHERE company_id = %s AND kind = %s AND year = %s "
            "RETURNING id, next_value - 1, prefix, format",
            [company_id, kind, year],
        )
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), int(row[1]), str(row[2]), str(row[3]))


@dataclass(frozen=True)
class Taken:
    """A number taken from its counter and not yet recorded (``take_number``)."""

    sequence_id: int
    value: int
    number: str


def take_number(*, company_id: int, kind: str, on_date: dt.date) -> Taken:
    """Take the next number of ``kind``; ``record_number`` must follow in the same transaction.

    For a document whose row is inserted with its number (no UPDATE after the INSERT): take
    the number, insert the document, record the number with the document's id. The counter row
    stays locked from here until commit, so take it right before the document's INSERT.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("take_number must be called inside the issuing transaction")
    prefix, fmt, yearly = DEFAULT_FORMATS.get(kind, (kind.upper()[:3], "{prefix}-{year}-{n:05}", True))
    year = on_date.year if yearly else 0
    row = _take(company_id, kind, year)
    if row is None:
        # A new year keeps the company's own prefix and format from the latest year, not the default.
        latest = (
            DocumentSequence.objects.filter(company_id=company_id, kind=kind)
            .order_by("-year")
            .values("prefix", "format")
            .first()
        )
        if latest is not None:
            prefix, fmt = latest["prefix"], latest["format"]
        # Create the counter without racing: a concurrent insert wins and ours is ignored.
        DocumentSequence.objects.bulk_create(
            [DocumentSequence(company_id=company_id, kind=kind, year=year, prefix=prefix, format=fmt)],
            ignore_conflicts=True,
        )
        row = _take(company_id, kind, year)
        assert row is not None
    seq_id, value, seq_prefix, seq_format = row
    number = seq_format.format(prefix=seq_prefix, year=on_date.year, yy=f"{on_date.year % 100:02}", n=value)
    return Taken(sequence_id=seq_id, value=value, number=number)


def record_number(taken: Taken, *, object_type: str = "", object_id: object = "") -> Issued:
    """Record a taken number as issued to a document (one plain INSERT: the counter is locked)."""
    return record_numbers([taken], object_type=object_type, object_id=object_id)[0]


def record_numbers(takens: Sequence[Taken], *, object_type: str = "", object_id: object = "") -> list[Issued]:
    """Record numbers taken for one document (a journal entry's number and its chain number) in one INSERT."""
    now = timezone.now()
    rows = [
        {"sequence_id": taken.sequence_id, "value": taken.value, "number": taken.number,
         "object_type": object_type, "object_id": str(object_id), "issued_at": now}
        for taken in takens
    ]  # fmt: skip
    if len(rows) == 1:
        insert_row(IssuedNumber, rows[0])
    else:
        insert_rows(IssuedNumber, list(rows[0]), [list(row.values()) for row in rows])
    return [Issued(value=taken.value, number=taken.number) for taken in takens]


def next_number(*, company_id: int, kind: str, on_date: dt.date, object_type: str = "", object_id: str = "") -> Issued:
    """Issue the next number of ``kind`` for the company; must run inside a transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_number must be called inside the issuing transaction")
    taken = take_number(company_id=company_id, kind=kind, on_date=on_date)
    return record_number(taken, object_type=object_type, object_id=object_id)

"""Document sequences: gapless numbers assigned inside the issuing transaction.

The counter row is locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's IMMEDIATE
transactions already serialize writers), incremented and recorded in ``IssuedNumber`` in
the caller's transaction, so a rollback returns the number and a commit keeps it: no gap,
no duplicate. Formats are configuration, never inferred from the previous number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.models import DocumentSequence, IssuedNumber

# Default formats per kind; a company may change them (DocumentSequence.format).
DEFAULT_FORMATS: dict[str, tuple[str, str, bool]] = {
    # kind: (prefix, format, restarts every year)
    "test": ("T", "{prefix}-{year}-{n:05}", True),
}


def register_kind(kind: str, prefix: str, fmt: str = "{prefix}-{year}-{n:05}", yearly: bool = True) -> None:
    DEFAULT_FORMATS[kind] = (prefix, fmt, yearly)


def validate_format(fmt: str) -> None:
    try:
        sample = fmt.format(prefix="X", year=2026, yy="26", n=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValidationFailed(
            "invalid_sequence_format",
            fields={"format": [f"Unknown placeholder or bad format: {exc}"]},
        ) from exc
    if "{n" not in fmt or not sample:
        raise ValidationFailed("invalid_sequence_format", fields={"format": ["The format must contain {n}."]})


@dataclass(frozen=True)
class Issued:
    value: int
    number: str


def next_number(
    *, company_id: int, kind: str, on_date: dt.date, object_type: str = "", object_id: str = ""
) -> Issued:
    """Issue the next number of ``kind`` for the company; must run inside a transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_number must be called inside the issuing transaction")
    prefix, fmt, yearly = DEFAULT_FORMATS.get(kind, (kind.upper()[:3], "{prefix}-{year}-{n:05}", True))
    year = on_date.year if yearly else 0
    # Create the counter if missing without racing: conflicting inserts are ignored.
    DocumentSequence.objects.bulk_create(
        [DocumentSequence(company_id=company_id, kind=kind, year=year, prefix=prefix, format=fmt)],
        ignore_conflicts=True,
    )
    seq = DocumentSequence.objects.select_for_update().get(company_id=company_id, kind=kind, year=year)
    value = seq.next_value
    number = seq.format.format(prefix=seq.prefix, year=on_date.year, yy=f"{on_date.year % 100:02}", n=value)
    DocumentSequence.objects.filter(pk=seq.pk).update(next_value=value + 1)
    IssuedNumber.objects.create(
        sequence=seq, value=value, number=number, object_type=object_type, object_id=str(object_id)
    )
    return Issued(value=value, number=number)

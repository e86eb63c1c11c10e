"""CSV exports, read with a per-bank layout (``CsvLayout``, saved as ``models.CsvMapping``).

French banks export in cp1252 with ``;`` and decimal commas, dates as ``31/12/2026``,
and either one signed amount column or a debit and a credit column. Columns are named by
their header text or by their 1-based position. Every row is checked; any bad row refuses
the whole file, with one message per row (``rows.<line number>``).

CSV files carry no transaction id: unless a column gives one, each line gets a stable
synthetic id (hash of date, amount, label and its rank among identical rows of the file),
so importing an export that overlaps a previous one skips the lines already there.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from comptoir.banking.parsers.base import (
    MAX_FILE_BYTES,
    MAX_LINES,
    ParsedLine,
    ParsedStatement,
    StatementFileError,
    clean_text,
    compact_iban,
    parse_amount,
)

ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1", "iso-8859-15")
DELIMITERS = (";", ",", "\t", "|")
DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%m/%d/%Y", "%Y%m%d")
MAX_ROW_ERRORS = 100


@dataclass(frozen=True)
class CsvLayout:
    date_column: str
    label_column: str
    amount_column: str = ""
    debit_column: str = ""
    credit_column: str = ""
    value_date_column: str = ""
    reference_column: str = ""
    partner_column: str = ""
    transaction_id_column: str = ""
    delimiter: str = ";"
    encoding: str = "cp1252"
    decimal_separator: str = ","
    date_format: str = "%d/%m/%Y"
    skip_lines: int = 0
    debit_positive: bool = True

    @classmethod
    def from_object(cls, obj: Any) -> CsvLayout:
        """From a ``CsvMapping`` row or a dict with the same names."""
        names = [f.name for f in fields(cls)]
        get = obj.get if isinstance(obj, dict) else lambda n, d=None: getattr(obj, n, d)
        values: dict[str, Any] = {n: get(n) for n in names if get(n) is not None}
        return cls(**values)

    def check(self) -> dict[str, list[str]]:
        """The layout's own errors, per field (before any file is read)."""
        errors: dict[str, list[str]] = {}
        if not self.date_column.strip():
            errors["date_column"] = [str(_("Name the date column."))]
        if not self.label_column.strip():
            errors["label_column"] = [str(_("Name the label column."))]
        if not self.amount_column.strip() and not (self.debit_column.strip() and self.credit_column.strip()):
            errors["amount_column"] = [str(_("Name the amount column, or both the debit and credit columns."))]
        if self.delimiter not in DELIMITERS:
            errors["delimiter"] = [str(_("Choose among ; , tab and |."))]
        if self.encoding not in ENCODINGS:
            errors["encoding"] = [str(_("Choose among: %(values)s.") % {"values": ", ".join(ENCODINGS)})]
        if self.decimal_separator not in (",", "."):
            errors["decimal_separator"] = [str(_("Choose a comma or a point."))]
        if self.date_format not in DATE_FORMATS:
            errors["date_format"] = [str(_("Choose among: %(values)s.") % {"values": ", ".join(DATE_FORMATS)})]
        if not isinstance(self.skip_lines, int) or not 0 <= self.skip_lines <= 50:
            errors["skip_lines"] = [str(_("Enter a number from 0 to 50."))]
        return errors


def looks_like(data: bytes) -> bool:
    head = data[:2048]
    return b"<" not in head[:200] and any(sep.encode() in head for sep in DELIMITERS)


def _rows(data: bytes, layout: CsvLayout) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if len(data) > MAX_FILE_BYTES:
        raise StatementFileError(
            "too_large", _("The file is larger than %(size)d MB.") % {"size": MAX_FILE_BYTES // 1024 // 1024}
        )
    if b"\x00" in data[:4096]:
        raise StatementFileError("not_csv", _("The file is not a text (CSV) file."))
    try:
        text = data.decode(layout.encoding)
    except UnicodeDecodeError as exc:
        raise StatementFileError(
            "bad_encoding",
            _("The file is not in %(encoding)s (byte %(pos)d); choose another encoding.")
            % {"encoding": layout.encoding, "pos": exc.start},
        ) from exc
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    all_rows = [(reader.line_num, row) for row in reader]
    remaining = all_rows[layout.skip_lines :]
    while remaining and not any(cell.strip() for cell in remaining[0][1]):
        remaining = remaining[1:]
    if not remaining:
        raise StatementFileError("empty", _("The file has no header row."))
    header = [cell.strip() for cell in remaining[0][1]]
    return header, remaining[1:]


def header(data: bytes, layout: CsvLayout) -> list[str]:
    """The header row's columns, to build a layout."""
    return _rows(data, layout)[0]


def _column_index(header: list[str], spec: str, name: str, errors: dict[str, list[str]]) -> int | None:
    spec = (spec or "").strip()
    if not spec:
        return None
    if spec.isdigit():
        position = int(spec)
        if 1 <= position <= len(header):
            return position - 1
    else:
        folded = [h.casefold() for h in header]
        if spec.casefold() in folded:
            return folded.index(spec.casefold())
    errors[name] = [str(_("“%(column)s” is not a column of the file (columns: %(columns)s).")
                        % {"column": spec, "columns": ", ".join(header)[:300]})]  # fmt: skip
    return None


def parse(data: bytes, layout: CsvLayout, *, limit: int | None = None) -> list[ParsedStatement]:
    """One statement with every row of the file (the first ``limit`` for a preview)."""
    layout_errors = layout.check()
    if layout_errors:
        raise StatementFileError("bad_layout", _("The CSV layout is incomplete."), fields=layout_errors)
    head, rows = _rows(data, layout)
    errors: dict[str, list[str]] = {}
    col = {
        name: _column_index(head, getattr(layout, name), name, errors)
        for name in ("date_column", "label_column", "amount_column", "debit_column", "credit_column",
                     "value_date_column", "reference_column", "partner_column", "transaction_id_column")
    }  # fmt: skip
    if errors:
        raise StatementFileError("bad_layout", _("The CSV layout does not fit this file."), fields=errors)
    statement = ParsedStatement()
    seen: Counter[str] = Counter()
    for line_number, row in rows:
        if limit is not None and len(statement.lines) >= limit:
            break
        if not any(cell.strip() for cell in row):
            continue
        problems: list[str] = []

        def cell(name: str, row: list[str] = row) -> str:
            index = col[name]
            return row[index].strip() if index is not None and index < len(row) else ""

        booking = _date(cell("date_column"), layout.date_format, problems, str(_("date")))
        value_date = _date(cell("value_date_column"), layout.date_format, problems, str(_("value date")), False)
        amount = None
        try:
            if col["amount_column"] is not None:
                raw = cell("amount_column")
                if not raw:
                    raise ValueError(str(_("the amount is empty.")))
                amount = parse_amount(raw, decimal_separator=layout.decimal_separator)
            else:
                debit_raw, credit_raw = cell("debit_column"), cell("credit_column")
                if not debit_raw and not credit_raw:
                    raise ValueError(str(_("both debit and credit are empty.")))
                zero = Decimal(0)
                debit = parse_amount(debit_raw, decimal_separator=layout.decimal_separator) if debit_raw else zero
                credit = parse_amount(credit_raw, decimal_separator=layout.decimal_separator) if credit_raw else zero
                amount = credit - (abs(debit) if layout.debit_positive else -debit)
        except ValueError as exc:
            problems.append(f"{_('amount')}: {exc}")
        label = clean_text(cell("label_column"), 500)
        if not label:
            problems.append(str(_("the label is empty.")))
        if problems:
            if len(errors) < MAX_ROW_ERRORS:
                errors[f"rows.{line_number}"] = problems
            else:
                errors.setdefault("file", [str(_("More rows have errors; only the first ones are listed."))])
            continue
        assert booking is not None and amount is not None
        transaction_id = clean_text(cell("transaction_id_column"), 140)
        if not transaction_id:
            key = f"{booking.isoformat()}|{amount}|{label.casefold()}"
            seen[key] += 1
            digest = hashlib.sha256(f"{key}|{seen[key]}".encode()).hexdigest()[:40]
            transaction_id = f"csv:{digest}"
        statement.lines.append(
            ParsedLine(
                booking_date=booking, value_date=value_date, amount=amount, label=label,
                reference=clean_text(cell("reference_column"), 500),
                partner_name=clean_text(cell("partner_column"), 200),
                transaction_id=transaction_id,
            )
        )  # fmt: skip
        if len(statement.lines) > MAX_LINES:
            raise StatementFileError("too_many_lines", _("The file has more than %(n)d lines.") % {"n": MAX_LINES})
    if errors:
        count = len([k for k in errors if k.startswith("rows.")])
        raise StatementFileError(
            "bad_rows", _("%(n)d rows cannot be read; nothing was imported.") % {"n": count}, fields=errors
        )
    if not statement.lines:
        raise StatementFileError("empty", _("The file has no transaction rows."))
    statement.account_iban = compact_iban("")
    return [statement]


def _date(raw: str, fmt: str, problems: list[str], what: str, required: bool = True) -> dt.date | None:
    if not raw:
        if required:
            problems.append(str(_("the %(what)s is empty.") % {"what": what}))
        return None
    try:
        return dt.datetime.strptime(raw, fmt).date()
    except ValueError:
        problems.append(str(_("%(what)s: “%(value)s” does not match the format %(format)s.")
                            % {"what": what, "value": raw[:40], "format": fmt}))  # fmt: skip
        return None

"""CSV and XLSX export of any list, streamed so a big export never sits in memory.

A list view passes the rows it shows (an iterator, e.g. ``queryset.iterator()``) and its
columns; this module turns them into a download. CSV is streamed row by row; XLSX is
written by openpyxl's write-only mode into a spooled temporary file (a zip archive cannot
be streamed before it is finished), then streamed from there.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.kernel.errors import ValidationFailed

FORMATS = ("csv", "xlsx")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A cell starting with one of these is run as a formula by spreadsheets: neutralise it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 (hence XLSX) cannot hold.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

Getter = str | Callable[[Any], Any]
Column = tuple[Any, Getter]


def _value(row: Any, getter: Getter) -> Any:
    if callable(getter):
        return getter(row)
    if isinstance(row, Mapping):
        return row.get(getter)
    return getattr(row, getter, None)


def _safe_text(text: str) -> str:
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dt.date, Decimal, int, float, bool)):
        return str(value)
    return _safe_text(str(value))


def _xlsx_cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        # Excel has no time zones: write the local wall-clock time.
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, (dt.date, Decimal, int, float, bool)):
        return value
    return _safe_text(_ILLEGAL_XML.sub("", str(value)))


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[Any], columns: Sequence[Column]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The BOM makes Excel read the file as UTF-8 (accents in French data).
    yield "\ufeff" + writer.writerow([str(label) for label, _getter in columns])
    for row in rows:
        yield writer.writerow([_csv_cell(_value(row, getter)) for _label, getter in columns])


def _xlsx_file(rows: Iterable[Any], columns: Sequence[Column], sheet_title: str) -> Any:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title[:31] or "Export")
    sheet.append([str(label) for label, _getter in columns])
    for row in rows:
        sheet.append([_xlsx_cell(_value(row, getter)) for _label, getter in columns])
    # Up to 8 MiB stays in memory; bigger exports spill to disk.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    workbook.save(spool)
    spool.seek(0)
    return spool


def parse_format(fmt: str | None) -> str:
    fmt = (fmt or "").lower().strip()
    if fmt not in FORMATS:
        raise ValidationFailed(
            "invalid_format", fields={"format": [_("Choose among: %(values)s.") % {"values": ", ".join(FORMATS)}]}
        )
    return fmt


def export_response(
    rows_iter: Iterable[Any], columns: Sequence[Column], filename: str, fmt: str
) -> StreamingHttpResponse | FileResponse:
    """A download of ``rows_iter`` as ``fmt`` ("csv" or "xlsx"; anything else → 422).

    ``columns`` is a list of ``(header, getter)``: the getter is a key (for dicts), an
    attribute name, or a callable taking the row. ``filename`` has no extension.
    """
    fmt = parse_format(fmt)
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", filename).strip("-") or "export"
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_lines(rows_iter, columns), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{safe_name}.csv"'
        return response
    spool = _xlsx_file(rows_iter, columns, safe_name)
    return FileResponse(spool, as_attachment=True, filename=f"{safe_name}.xlsx", content_type=XLSX_CONTENT_TYPE)

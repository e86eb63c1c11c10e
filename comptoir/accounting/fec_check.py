"""Check an uploaded FEC file (page and API): refuse what is not a text file, then
``fec.check_fec`` it and turn the report into plain data.

Any file is welcome — ours, another software's, a hand-made one — in any encoding the
checker knows; the checker itself never fails on content. What is refused before it runs,
with a message per field: an empty file, a file bigger than ``max_bytes()``, and a binary
file (a PDF, a spreadsheet, an archive, an image), which would only produce a wall of
meaningless line errors.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import IO, Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from comptoir.accounting import fec
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import ValidationFailed

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# Start of the kinds of binary files people pick by mistake, for a precise message.
_MAGIC = {
    b"%PDF": "PDF",
    b"PK\x03\x04": "ZIP / XLSX / ODS",
    b"\xd0\xcf\x11\xe0": "XLS / DOC",
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"\x1f\x8b": "GZIP",
}


def max_bytes() -> int:
    return int(getattr(settings, "COMPTOIR_FEC_CHECK_MAX_BYTES", DEFAULT_MAX_BYTES))


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed("invalid_fec_file", message, fields={"file": [message]})


def refuse_size(size: int | None) -> None:
    """Refuse an empty or too big upload (callable before the body is read, from Content-Length)."""
    if size is not None and size > max_bytes():
        raise _refuse(
            _("The file is too big (%(size)s): the checker takes files up to %(max)s.")
            % {"size": filesizeformat(size), "max": filesizeformat(max_bytes())}
        )


def _binary_kind(head: bytes) -> str | None:
    """The kind of a binary file, or None for something that may be text (UTF-16 included:
    the checker reports it)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "?"
    return None


def check_upload(
    actor: Actor,
    stream: IO[bytes],
    *,
    name: str,
    size: int | None,
    fiscal_year_start: dt.date | None = None,
    fiscal_year_end: dt.date | None = None,
) -> fec.FecReport:
    """Check an uploaded file (a binary stream positioned at its start)."""
    require(actor, "accounting.view_ledger")
    refuse_size(size)
    if fiscal_year_start and fiscal_year_end and fiscal_year_end < fiscal_year_start:
        message = _("The end must be after the start.")
        raise ValidationFailed("invalid_fec_file", message, fields={"fiscal_year_end": [message]})
    head = stream.read(1 << 16)
    if not head:
        raise _refuse(_("The file is empty."))
    kind = _binary_kind(head)
    if kind == "?":
        raise _refuse(_("This is not a text file (it contains NUL bytes): a FEC is a text file, tab or | separated."))
    if kind is not None:
        raise _refuse(
            _("This is a %(kind)s file, not a text file: export the FEC as text (tab or | separated).") % {"kind": kind}
        )
    stream.seek(0)
    filename = os.path.basename(name.replace("\\", "/"))[:255] or None
    return fec.check_fec(
        stream, filename=filename, fiscal_year_start=fiscal_year_start, fiscal_year_end=fiscal_year_end
    )


def _issue(issue: fec.Issue) -> dict[str, Any]:
    return {"code": issue.code, "line": issue.line, "column": issue.column, "message": issue.message}


def report_data(report: fec.FecReport) -> dict[str, Any]:
    """The report as JSON-ready data (amounts as decimal strings)."""
    limit = report.max_issues_per_kind
    return {
        "ok": report.ok,
        "filename": report.filename,
        "encoding": report.encoding,
        "separator": {"\t": "tab"}.get(report.separator or "", report.separator),
        "line_ending": report.line_ending,
        "lines": report.lines,
        "entries": report.entries,
        "total_debit": str(report.total_debit),
        "total_credit": str(report.total_credit),
        "error_count": report.error_count,
        "warning_count": report.warning_count,
        "counts": dict(sorted(report.counts.items())),
        "not_listed": {code: n - limit for code, n in sorted(report.counts.items()) if n > limit},
        "errors": [_issue(issue) for issue in report.errors],
        "warnings": [_issue(issue) for issue in report.warnings],
    }

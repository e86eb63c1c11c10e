"""Bank statement parsers: CAMT.053, OFX and CSV, and format detection from the bytes."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from comptoir.banking.parsers import camt053, ofx
from comptoir.banking.parsers import csv as csv_parser
from comptoir.banking.parsers.base import ParsedLine, ParsedStatement, StatementFileError

__all__ = ["ParsedLine", "ParsedStatement", "StatementFileError", "detect_format", "parse"]


def detect_format(data: bytes) -> str:
    """``camt053``, ``ofx`` or ``csv``, sniffed from the content (never the file name)."""
    if camt053.looks_like(data):
        return "camt053"
    if ofx.looks_like(data):
        return "ofx"
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        raise StatementFileError("unknown_format", _("This XML file is neither a CAMT.053 statement nor an OFX file."))
    if csv_parser.looks_like(data):
        return "csv"
    raise StatementFileError("unknown_format", _("The file is neither CAMT.053, OFX nor CSV."))


def parse(data: bytes, source_format: str, layout: csv_parser.CsvLayout | None = None) -> list[ParsedStatement]:
    if source_format == "camt053":
        return camt053.parse(data)
    if source_format == "ofx":
        return ofx.parse(data)
    if source_format == "csv":
        if layout is None:
            message = _("Choose or describe the CSV layout of this bank.")
            raise StatementFileError("csv_layout_required", message, fields={"mapping": [str(message)]})
        return csv_parser.parse(data, layout)
    raise StatementFileError("unknown_format", _("Unknown format “%(format)s”.") % {"format": source_format[:20]})

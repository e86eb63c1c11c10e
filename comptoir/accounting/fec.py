"""FEC (fichier des écritures comptables): a streaming writer and a checker for any FEC file.

Pure functions, no database: the ledger turns its posted entries into ``FecRow``s (opening
entries first, then in order of validation) and ``write_fec`` streams them; ``check_fec``
reads any FEC file, ours or not, and lists every problem it finds, line by line.

Format (COMPLIANCE-FR.md §1.2–1.3, LPF art. A47 A-1), as the writer produces it:

* the 18 columns of ``FEC_COLUMNS``, in that order, named on the first line;
* separator: **tab** (§1.3 allows tab or ``|``; a tab cannot be typed into a label in a
  web form). Any tab, ``|``, CR or LF found in data is replaced by a space, so the file
  reads the same whichever separator a tool assumes;
* encoding: **ISO-8859-15**, no BOM (§1.3: "the safest choice"); a character it lacks is
  replaced by its closest ASCII form (``’`` → ``'``, ``ő`` → ``o``) or ``?``;
  ``encoding="utf-8"`` is available, without BOM;
* records end with **CRLF** (§1.3: "CR and/or LF"; CRLF suits every tool);
* dates ``AAAAMMJJ``; amounts with a decimal comma, two decimals, no thousands separator,
  a leading ``-`` when negative (only ``Montantdevise`` may be);
* file name ``<SIREN>FEC<closing date AAAAMMJJ>.txt`` (``fec_filename``).

The checker accepts tab or ``|``, ISO-8859-15 or UTF-8 (detected), CRLF, LF or CR, the 18
columns plus one establishment column, and the ``Montant``/``Sens`` variant of
``Debit``/``Credit``. Both the writer and the checker work in constant memory: the
writer is fed by a generator and writes in batches, the checker keeps one entry, one
counter per numbering sequence and the first ``max_issues_per_kind`` issues of each kind.
Every message is in ``MESSAGES``; docs/user/fec.md explains each.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Protocol

from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.money import CENT, ROUNDING, to_decimal

__all__ = [
    "FEC_COLUMNS",
    "MESSAGES",
    "FecReport",
    "FecRow",
    "Issue",
    "Severity",
    "check_fec",
    "fec_filename",
    "iter_fec_lines",
    "write_fec",
]

FEC_COLUMNS: tuple[str, ...] = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
)
"""The 18 mandatory columns, exact names, in order (§1.2)."""

SEPARATOR = "\t"
ENCODING = "iso-8859-15"
LINE_ENDING = "\r\n"
OPENING_JOURNALS: tuple[str, ...] = ("AN",)
"""Journal codes of opening entries (à-nouveaux), §4.3."""


# --- Writer ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FecRow:
    """One FEC line: one line of a posted journal entry."""

    journal_code: str
    journal_label: str
    entry_number: str
    entry_date: dt.date
    account_number: str
    account_label: str
    piece_ref: str
    piece_date: dt.date
    label: str
    debit: Decimal
    credit: Decimal
    validation_date: dt.date
    aux_number: str = ""
    aux_label: str = ""
    lettering: str = ""
    lettering_date: dt.date | None = None
    currency_amount: Decimal | None = None
    currency: str = ""


def fec_filename(siren: str, closing_date: dt.date) -> str:
    """``<SIREN>FEC<AAAAMMJJ>.txt`` where the date is the fiscal year's closing date (§1.3)."""
    if not re.fullmatch(r"\d{9}", siren):
        raise ValueError(f"a SIREN has 9 digits, got {siren!r}")
    return f"{siren}FEC{_date(closing_date)}.txt"


def _date(value: dt.date | None) -> str:
    return "" if value is None else f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _amount(value: Decimal | None) -> str:
    if value is None:
        return ""
    if not isinstance(value, Decimal):
        value = to_decimal(value)  # refuses floats
    text = format(value.quantize(CENT, rounding=ROUNDING), "f").replace(".", ",")
    return "0,00" if text == "-0,00" else text


_UNSAFE = re.compile(r"[\t\r\n|]+")


def _clean(text: str) -> str:
    """No separator (tab or |, whichever is used), CR or LF may reach the file: each run becomes a space."""
    return _UNSAFE.sub(" ", text).strip() if _UNSAFE.search(text) else text.strip()


def iter_fec_lines(
    rows: Iterable[FecRow], *, separator: str = SEPARATOR, line_ending: str = LINE_ENDING
) -> Iterator[str]:
    """Yield the header, then one line per row, each ended by ``line_ending`` (for streaming responses)."""
    if separator not in {"\t", "|"}:
        raise ValueError("the FEC separator is a tab or |")
    dates: dict[dt.date | None, str] = {}  # a year has few distinct dates; bounded below

    def date(value: dt.date | None) -> str:
        try:
            return dates[value]
        except KeyError:
            if len(dates) > 4096:
                dates.clear()
            text = dates[value] = _date(value)
            return text

    yield separator.join(FEC_COLUMNS) + line_ending
    for r in rows:
        texts: tuple[str, ...] = (r.journal_code, r.journal_label, r.entry_number, r.account_number)
        texts += (r.account_label, r.aux_number, r.aux_label, r.piece_ref, r.label, r.lettering, r.currency)
        # One search over the row's texts; cleaning field by field only when something needs it.
        clean = [_clean(t) for t in texts] if _UNSAFE.search("".join(texts)) else [t.strip() for t in texts]
        fields = (
            *clean[0:3],
            date(r.entry_date),
            *clean[3:8],
            date(r.piece_date),
            clean[8],
            _amount(r.debit),
            _amount(r.credit),
            clean[9],
            date(r.lettering_date),
            date(r.validation_date),
            _amount(r.currency_amount),
            clean[10],
        )
        yield separator.join(fields) + line_ending


# Typographic characters ISO-8859-15 lacks, mapped to what a reader expects.
_LATIN9_FALLBACK = str.maketrans(
    {"’": "'", "‘": "'", "‚": ",", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "…": "...", "\u202f": " "}
)


def encode_text(text: str, encoding: str = ENCODING) -> bytes:
    """Encode, replacing a character the encoding lacks by its closest ASCII form or ``?``."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        pass
    out = []
    for char in text.translate(_LATIN9_FALLBACK):
        try:
            out.append(char.encode(encoding))
        except UnicodeEncodeError:
            ascii_form = unicodedata.normalize("NFKD", char).encode("ascii", "ignore")
            # A fullwidth ｜ decomposes to |: it must not become a separator.
            out.append(ascii_form.replace(b"|", b" ") or b"?")
    return b"".join(out)


class BinaryWriter(Protocol):
    def write(self, data: bytes, /) -> object: ...


def write_fec(
    rows: Iterable[FecRow],
    stream: BinaryWriter,
    *,
    separator: str = SEPARATOR,
    encoding: str = ENCODING,
    line_ending: str = LINE_ENDING,
    batch: int = 1000,
) -> int:
    """Write a FEC file to a binary ``stream``; return the number of rows written.

    Consumes ``rows`` lazily and writes every ``batch`` lines, so memory does not grow with
    the number of rows. Pass a generator (a queryset's ``.iterator()``), not a list.
    """
    if encoding.lower().replace("_", "-") in {"utf-8-sig", "utf-16", "utf-32"}:
        raise ValueError("the FEC is written without a byte-order mark")
    count = -1  # the header is not a row
    pending: list[str] = []
    for count, line in enumerate(iter_fec_lines(rows, separator=separator, line_ending=line_ending)):  # noqa: B007
        pending.append(line)
        if len(pending) >= batch:
            stream.write(encode_text("".join(pending), encoding))
            pending.clear()
    if pending:
        stream.write(encode_text("".join(pending), encoding))
    return count


# --- Checker: messages ----------------------------------------------------------------


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


E, W = Severity.ERROR, Severity.WARNING

MESSAGES: dict[str, tuple[Severity, str | Promise]] = {
    # The file
    "file.empty": (E, _("The file is empty.")),
    "file.utf16": (E, _("The file is encoded in UTF-16: use ISO-8859-15 or UTF-8 without BOM. Nothing was checked.")),
    "file.line_endings": (W, _("Line endings are mixed (%(endings)s): use the same one throughout.")),
    "encoding.bom": (E, _("The file starts with a byte-order mark (BOM): remove it.")),
    "encoding.invalid": (E, _("This line is not valid UTF-8, unlike the lines before it: mixed encodings.")),
    "encoding.mixed": (W, _("This line contains UTF-8 characters in an ISO-8859-15 file (e.g. “Ã©” for “é”).")),
    "filename.pattern": (
        E,
        _("The file name %(name)s does not follow <SIREN>FEC<AAAAMMJJ>, e.g. 123456782FEC20261231.txt."),
    ),
    "filename.siren": (W, _("The SIREN %(siren)s in the file name fails its check digit.")),
    "filename.date": (E, _("The date %(value)s in the file name is not a valid AAAAMMJJ date.")),
    "filename.closing_date": (
        E,
        _("The date in the file name (%(found)s) is not the closing date of the fiscal year (%(expected)s)."),
    ),
    # The header
    "header.separator": (E, _("The header is separated by %(separator)s: use a tab or |.")),
    "header.mixed_separator": (E, _("The header mixes tabs and |: use one separator throughout.")),
    "header.count": (E, _("The header has %(found)s columns; the FEC has 18.")),
    "header.extra": (W, _("Extra column %(found)s after the 18th: only an establishment column is allowed there.")),
    "header.name": (E, _("Column %(position)s is named %(found)s instead of %(expected)s.")),
    "header.case": (E, _("Column %(position)s is spelt %(found)s instead of exactly %(expected)s.")),
    "header.order": (E, _("Column %(found)s is in position %(position)s instead of %(expected_position)s.")),
    "header.unusable": (E, _("The lines were not checked: without its 18 columns the header cannot be read.")),
    # Lines and fields
    "line.blank": (E, _("Empty line.")),
    "line.columns": (
        E,
        _(
            "The line has %(found)s fields instead of %(expected)s: "
            "the separator appears inside a value, or a field is missing."
        ),
    ),
    "line.mixed_separator": (E, _("The line is separated by %(found)s while the header uses %(expected)s.")),
    "field.required": (E, _("%(column)s is empty; it is mandatory.")),
    "field.date": (E, _("%(column)s = “%(value)s” is not a valid date in the form AAAAMMJJ.")),
    "field.currency": (E, _("Idevise = “%(value)s” is not a three-letter currency code (ISO 4217).")),
    "amount.decimal_point": (E, _("%(column)s = “%(value)s” uses a decimal point; use a comma (1234,50).")),
    "amount.thousands": (E, _("%(column)s = “%(value)s” has a thousands separator; write 1234567,89.")),
    "amount.scientific": (E, _("%(column)s = “%(value)s” is in scientific notation; write the digits.")),
    "amount.format": (
        E,
        _("%(column)s = “%(value)s” is not an amount: digits, a decimal comma and an optional leading sign."),
    ),
    "amount.decimals": (W, _("%(column)s = “%(value)s” has more than 2 decimals.")),
    "amount.negative": (E, _("%(column)s = “%(value)s” is negative; put the amount in the other column.")),
    "amount.both": (E, _("The line has both a debit (%(debit)s) and a credit (%(credit)s).")),
    "amount.zero": (W, _("The line has neither a debit nor a credit.")),
    "amount.sens": (E, _("Sens = “%(value)s”: expected D, C, +1 or -1.")),
    "account.pcg": (E, _("CompteNum “%(value)s” does not start with three digits of the PCG (classes 1 to 7).")),
    "account.off_balance": (
        E,
        _("CompteNum “%(value)s” is in class %(account_class)s: classes 8 and 9 stay out of the FEC."),
    ),
    "pair.aux": (E, _("CompAuxNum and CompAuxLib go together: %(filled)s is filled alone.")),
    "pair.lettering": (E, _("EcritureLet and DateLet go together: %(filled)s is filled alone.")),
    "pair.currency": (E, _("Montantdevise and Idevise go together: %(filled)s is filled alone.")),
    "date.outside_year": (E, _("EcritureDate %(value)s is outside the fiscal year (%(start)s to %(end)s).")),
    "date.before_year": (
        W,
        _(
            "EcritureDate %(value)s is more than 12 months before the closing date %(end)s: "
            "give the fiscal year's start if the year is longer."
        ),
    ),
    # Entries
    "entry.unbalanced": (
        E,
        _("Entry %(journal)s %(number)s does not balance: debit %(debit)s, credit %(credit)s."),
    ),
    "entry.split": (
        E,
        _(
            "Entry %(journal)s %(number)s appears again after other entries: "
            "its lines must be together, or the number is used twice."
        ),
    ),
    "entry.dates": (
        W,
        _("The lines of entry %(journal)s %(number)s do not share the same EcritureDate and ValidDate."),
    ),
    "entry.closing": (
        E,
        _(
            "Entry %(journal)s %(number)s closes classes 6 and 7 into the result (12x): "
            "closing entries stay out of the FEC."
        ),
    ),
    "entry.centralisation": (
        W,
        _(
            "Entry %(journal)s %(number)s looks like a centralisation (“%(label)s”): "
            "the FEC holds the detailed entries."
        ),
    ),
    "journal.label": (W, _("Journal %(journal)s is labelled both “%(first)s” and “%(other)s”.")),
    "opening.not_first": (
        E,
        _("Opening entry %(journal)s %(number)s comes after other entries: opening entries come first."),
    ),
    "opening.missing": (
        W,
        _(
            "No opening entries (journal %(journals)s): right for a first fiscal year, "
            "otherwise the opening balances are missing."
        ),
    ),
    "order.valid_date": (
        E,
        _(
            "Entry %(journal)s %(number)s, validated on %(value)s, follows an entry validated on %(previous)s: "
            "entries are sorted by validation date."
        ),
    ),
    "numbering.gap": (
        W,
        _("Numbering %(sequence)s jumps from %(previous)s to %(number)s: explain the break in the notice."),
    ),
    "numbering.order": (
        E,
        _("Numbering %(sequence)s: %(number)s comes after %(previous)s (number used twice or out of order)."),
    ),
    "numbering.not_numeric": (W, _("EcritureNum “%(value)s” does not end with digits: its continuity is not checked.")),
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: a code from ``MESSAGES``, where it is (line 1 is the header), and its values."""

    code: str
    line: int | None = None
    column: str | None = None
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return MESSAGES[self.code][0]

    @property
    def message(self) -> str:
        values = {"column": self.column or ""} | {k: str(v) for k, v in self.params.items()}
        return str(MESSAGES[self.code][1]) % values

    def __str__(self) -> str:
        where = gettext("line %(line)s") % {"line": self.line} if self.line else gettext("file")
        return f"{where}: {self.message}"


@dataclass
class FecReport:
    """What ``check_fec`` found. ``counts`` counts every issue; the lists keep the first ones of each kind."""

    filename: str | None = None
    encoding: str | None = None
    separator: str | None = None
    line_ending: str | None = None
    lines: int = 0
    entries: int = 0
    total_debit: Decimal = Decimal("0.00")
    total_credit: Decimal = Decimal("0.00")
    max_issues_per_kind: int = 100
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(n for code, n in self.counts.items() if MESSAGES[code][0] is Severity.ERROR)

    @property
    def warning_count(self) -> int:
        return sum(n for code, n in self.counts.items() if MESSAGES[code][0] is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """No error (warnings are things to explain in the notice, not faults)."""
        return self.error_count == 0

    def codes(self) -> set[str]:
        return set(self.counts)

    def add(self, issue: Issue) -> None:
        self.counts[issue.code] += 1
        if self.counts[issue.code] <= self.max_issues_per_kind:
            (self.errors if issue.severity is Severity.ERROR else self.warnings).append(issue)

    def as_text(self) -> str:
        """A plain-text report: a summary, then every kept issue, then how many were left out per kind."""
        out = [
            gettext("%(lines)s lines, %(entries)s entries; debit %(debit)s, credit %(credit)s.")
            % {"lines": self.lines, "entries": self.entries, "debit": self.total_debit, "credit": self.total_credit},
            # Two plural-aware halves: French says "1 erreur", "2 erreurs".
            ngettext("%(errors)s error", "%(errors)s errors", self.error_count) % {"errors": self.error_count}
            + ", "
            + ngettext("%(warnings)s warning.", "%(warnings)s warnings.", self.warning_count)
            % {"warnings": self.warning_count},
        ]
        for title, issues in ((gettext("Errors"), self.errors), (gettext("Warnings"), self.warnings)):
            if issues:
                out.append(f"{title}:")
                out.extend(f"  [{i.code}] {i}" for i in issues)
        for code, n in sorted(self.counts.items()):
            if n > self.max_issues_per_kind:
                out.append(
                    gettext("[%(code)s] %(more)s more not listed.")
                    % {"code": code, "more": n - self.max_issues_per_kind}
                )
        return "\n".join(out)


# --- Checker: reading -----------------------------------------------------------------

_MAX_LINE = 1 << 20  # a "line" longer than this is cut: the file is not a FEC anyway
_DATE_RE = re.compile(r"\d{8}")
_AMOUNT_RE = re.compile(r"[+-]?\d+(?:,\d+)?")
_THOUSANDS_RE = re.compile(r"[+-]?\d{1,3}(?:[. \u00a0\u202f']\d{3})+(?:[,.]\d+)?")
_SCIENTIFIC_RE = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_NUMBER_RE = re.compile(r"(.*?)(\d+)")
_FILENAME_RE = re.compile(r"(\d{9})FEC(\d{8})(?:\.[A-Za-z0-9]+)?")
_SEPARATOR_NAMES = {"\t": "tab", "|": "|", ";": ";", ",": ","}
_REQUIRED = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "ValidDate",
)
_REQUIRED_INDEXES = tuple(FEC_COLUMNS.index(name) for name in _REQUIRED)  # Debit/Credit: Montant/Sens alike
_SENS = {"D": True, "+1": True, "1": True, "C": False, "-1": False}
_ZERO = Decimal(0)


def _records(stream: IO[bytes], chunk_size: int = 1 << 16) -> Iterator[tuple[bytes, bytes]]:
    """Yield (content, terminator) for each record, terminators being CRLF, LF or CR."""
    carry = b""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        pieces = (carry + chunk).splitlines(keepends=True)
        carry = pieces.pop()
        if carry.endswith(b"\n"):
            pieces.append(carry)
            carry = b""
        for piece in pieces:
            yield _split_terminator(piece)
        if len(carry) > _MAX_LINE:
            yield carry, b""
            carry = b""
    if carry:
        yield _split_terminator(carry)


def _split_terminator(piece: bytes) -> tuple[bytes, bytes]:
    if piece.endswith(b"\r\n"):
        return piece[:-2], b"\r\n"
    if piece.endswith((b"\n", b"\r")):
        return piece[:-1], piece[-1:]
    return piece, b""


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _months_before(day: dt.date, months: int) -> dt.date:
    """The day after ``day`` minus ``months`` months (start of a year of that length ending on ``day``)."""
    nxt = day + dt.timedelta(days=1)
    year, month = divmod(nxt.year * 12 + nxt.month - 1 - months, 12)
    try:
        return nxt.replace(year=year, month=month + 1)
    except ValueError:  # 29, 30 or 31 in a shorter month
        return dt.date(year, month + 2, 1) if month < 11 else dt.date(year + 1, 1, 1)


def _show(value: dt.date) -> str:
    return value.isoformat()


@dataclass
class _Entry:
    journal: str
    number: str
    line: int
    entry_date: str
    valid_date: str
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)
    touches_result: bool = False
    touches_income_statement: bool = False
    label: str = ""
    dates_differ: bool = False


class _Numbering:
    """Continuity of EcritureNum under one hypothesis (one sequence per journal, or one for all)."""

    MAX_SEQUENCES = 10_000

    def __init__(self, per_journal: bool, keep: int) -> None:
        self.per_journal = per_journal
        self.keep = keep
        self.last: dict[tuple[str, str], int] = {}
        self.counts: Counter[str] = Counter()
        self.samples: list[Issue] = []

    def feed(self, journal: str, prefix: str, n: int, line: int) -> None:
        key = (journal if self.per_journal else "", prefix)
        previous = self.last.get(key)
        if previous is None:
            if len(self.last) < self.MAX_SEQUENCES:
                self.last[key] = n
            return
        if n == previous + 1:
            self.last[key] = n
            return
        code = "numbering.gap" if n > previous else "numbering.order"
        self.counts[code] += 1
        if self.counts[code] <= self.keep:
            sequence = f"{journal} {prefix}".strip() if self.per_journal else (prefix or "*")
            params = {"sequence": sequence, "previous": f"{prefix}{previous}", "number": f"{prefix}{n}"}
            self.samples.append(Issue(code, line, "EcritureNum", params))
        if n > previous:
            self.last[key] = n

    @property
    def faults(self) -> int:
        return sum(self.counts.values())


class _Checker:
    def __init__(
        self,
        report: FecReport,
        *,
        fiscal_year_start: dt.date | None,
        closing_date: dt.date | None,
        opening_journals: Collection[str],
        encoding: str | None,
    ) -> None:
        self.report = report
        self.start = fiscal_year_start
        self.end = closing_date
        self.soft_start = _months_before(closing_date, 12) if closing_date and not fiscal_year_start else None
        self.opening_journals = frozenset(opening_journals)
        self.encoding = encoding  # None: detect (ASCII until a line says UTF-8 or ISO-8859-15)
        self.endings: Counter[bytes] = Counter()
        self.date_cache: dict[str, dt.date | None] = {}
        self.entry: _Entry | None = None
        self.recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.journal_labels: dict[str, str] = {}
        self.other_labels: set[tuple[str, str]] = set()
        self.seen_other_entry = False
        self.seen_opening = False
        self.last_valid: dt.date | None = None
        self.by_journal = _Numbering(True, report.max_issues_per_kind)
        self.global_numbering = _Numbering(False, report.max_issues_per_kind)
        self.not_numeric = 0
        self.index: tuple[int, ...] = ()  # where each of the 18 columns is on a line
        self.names: tuple[str, ...] = FEC_COLUMNS
        self.width = 0
        self.separator = "\t"
        self.montant_sens = False

    def add(self, code: str, line: int | None = None, column: str | None = None, **params: object) -> None:
        report = self.report
        if report.counts[code] >= report.max_issues_per_kind:
            report.counts[code] += 1  # counted, not kept: skip building the issue
            return
        report.add(Issue(code, line, column, params))

    # -- decoding

    def decode(self, raw: bytes, line: int) -> str:
        if raw.isascii():
            return raw.decode("ascii")
        if self.encoding in (None, "utf-8"):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                if self.encoding == "utf-8":
                    self.add("encoding.invalid", line)
                else:
                    self.encoding = ENCODING
                return raw.decode(ENCODING)
            self.encoding = "utf-8"
            return text
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            self.add("encoding.mixed", line)
        return raw.decode(self.encoding, errors="replace")

    # -- header

    def header(self, text: str) -> bool:
        """Check the first line; return whether the data lines can be read."""
        tabs, pipes = text.count("\t"), text.count("|")
        if tabs and pipes:
            self.add("header.mixed_separator", 1)
        if tabs >= pipes and tabs:
            self.separator = "\t"
        elif pipes:
            self.separator = "|"
        else:
            self.separator = max((";", ","), key=text.count)
            self.add("header.separator", 1, separator=_SEPARATOR_NAMES[self.separator])
        self.report.separator = self.separator
        names = [n.strip() for n in text.split(self.separator)]
        self.width = len(names)
        expected = list(FEC_COLUMNS)
        if len(names) >= 13 and names[11:13] == ["Montant", "Sens"]:
            self.montant_sens = True
            expected[11:13] = ["Montant", "Sens"]
        if len(names) < len(expected):
            self.add("header.count", 1, found=len(names))
        for position, name in enumerate(names[len(expected) :], start=len(expected) + 1):
            self.add("header.extra", 1, found=name or f"#{position}")
        lowered = {n.lower(): i for i, n in enumerate(expected)}
        for position, (found, wanted) in enumerate(zip(names, expected, strict=False), start=1):
            if found == wanted:
                continue
            if found in expected:
                self.add("header.order", 1, found=found, position=position, expected_position=expected.index(found) + 1)
            elif found.lower() == wanted.lower():
                self.add("header.case", 1, found=found, position=position, expected=wanted)
            elif found.lower() in lowered:
                self.add("header.case", 1, found=found, position=position, expected=expected[lowered[found.lower()]])
            else:
                self.add("header.name", 1, found=found or "∅", position=position, expected=wanted)
        # Read the data by name when the columns are all there (even out of order), else by position.
        self.names = tuple(expected)
        by_name = {n.lower(): i for i, n in enumerate(names)}
        if all(n.lower() in by_name for n in expected):
            self.index = tuple(by_name[n.lower()] for n in expected)
        elif len(names) >= len(expected):
            self.index = tuple(range(len(expected)))
        else:
            self.add("header.unusable", 1)
            return False
        return True

    # -- lines

    def date(self, value: str) -> dt.date | None:
        try:
            return self.date_cache[value]
        except KeyError:
            pass
        parsed = None
        if _DATE_RE.fullmatch(value):
            try:
                parsed = dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
            except ValueError:
                parsed = None
        if len(self.date_cache) < 4096:
            self.date_cache[value] = parsed
        return parsed

    def check_date(self, line: int, column: str, value: str) -> dt.date | None:
        parsed = self.date(value)
        if parsed is None and value:
            self.add("field.date", line, column, value=value)
        return parsed

    def amount(self, line: int, column: str, value: str, *, signed: bool = False) -> Decimal | None:
        """Parse an amount written with a decimal comma; report its format problems."""
        if _AMOUNT_RE.fullmatch(value):
            if "," in value and len(value) - value.index(",") - 1 > 2:
                self.add("amount.decimals", line, column, value=value)
            number = Decimal(value.replace(",", "."))
            if number < 0 and not signed:
                self.add("amount.negative", line, column, value=value)
            return number
        if _SCIENTIFIC_RE.fullmatch(value):
            code = "amount.scientific"
        elif _THOUSANDS_RE.fullmatch(value):
            code = "amount.thousands"
        elif re.fullmatch(r"[+-]?\d*\.\d+", value):
            code = "amount.decimal_point"
        else:
            code = "amount.format"
        self.add(code, line, column, value=value)
        try:
            return Decimal(value.replace(",", ".")) if code == "amount.decimal_point" else None
        except InvalidOperation:
            return None

    def line(self, text: str, line: int) -> None:
        if not text.strip():
            self.add("line.blank", line)
            return
        fields = text.split(self.separator)
        if len(fields) != self.width:
            other = "|" if self.separator == "\t" else "\t"
            if len(text.split(other)) == self.width:
                self.add(
                    "line.mixed_separator",
                    line,
                    found=_SEPARATOR_NAMES[other],
                    expected=_SEPARATOR_NAMES.get(self.separator, self.separator),
                )
            else:
                self.add("line.columns", line, found=len(fields), expected=self.width)
            return
        self.report.lines += 1
        (
            journal,
            journal_label,
            number,
            entry_day,
            account,
            _account_label,
            aux_number,
            aux_label,
            _piece_ref,
            piece_day,
            label,
            debit_text,
            credit_text,
            lettering,
            lettering_day,
            valid_day,
            currency_amount,
            currency,
        ) = values = [fields[i].strip() for i in self.index]
        for i in _REQUIRED_INDEXES:
            if not values[i]:
                self.add("field.required", line, self.names[i])
        entry_date = self.check_date(line, "EcritureDate", entry_day)
        self.check_date(line, "PieceDate", piece_day)
        self.check_date(line, "DateLet", lettering_day)
        self.check_date(line, "ValidDate", valid_day)

        # Amounts (columns 12-13 hold Montant and Sens in that variant)
        debit: Decimal | None
        credit: Decimal | None
        if self.montant_sens:
            debit = credit = _ZERO
            value = self.amount(line, "Montant", debit_text) if debit_text else None
            if credit_text not in _SENS:
                self.add("amount.sens", line, "Sens", value=credit_text)
            elif value is not None:
                debit, credit = (value, _ZERO) if _SENS[credit_text] else (_ZERO, value)
        else:
            debit = self.amount(line, "Debit", debit_text) if debit_text else None
            credit = self.amount(line, "Credit", credit_text) if credit_text else None
            if debit is not None and credit is not None:
                if debit and credit:
                    self.add("amount.both", line, debit=debit_text, credit=credit_text)
                elif not debit and not credit:
                    self.add("amount.zero", line)
            debit, credit = debit or _ZERO, credit or _ZERO
        self.report.total_debit += debit
        self.report.total_credit += credit

        # Accounts, optional pairs
        if account:
            head = account[:3]
            if not (head.isascii() and head.isdigit() and len(head) == 3) or head[0] == "0":
                self.add("account.pcg", line, "CompteNum", value=account)
            elif head[0] in "89":
                self.add("account.off_balance", line, "CompteNum", value=account, account_class=head[0])
        if bool(aux_number) != bool(aux_label):
            self.pair(line, "pair.aux", "CompAuxNum" if aux_number else "CompAuxLib")
        if bool(lettering) != bool(lettering_day):
            self.pair(line, "pair.lettering", "EcritureLet" if lettering else "DateLet")
        if bool(currency_amount) != bool(currency):
            self.pair(line, "pair.currency", "Montantdevise" if currency_amount else "Idevise")
        if currency_amount:
            self.amount(line, "Montantdevise", currency_amount, signed=True)
        if currency and not _CURRENCY_RE.fullmatch(currency):
            self.add("field.currency", line, "Idevise", value=currency)

        # Fiscal year
        if entry_date is not None and self.end is not None:
            start = self.start or self.soft_start
            if entry_date > self.end or (self.start and entry_date < self.start):
                self.add(
                    "date.outside_year",
                    line,
                    "EcritureDate",
                    value=_show(entry_date),
                    start=_show(start) if start else "…",
                    end=_show(self.end),
                )
            elif self.soft_start and entry_date < self.soft_start:
                self.add("date.before_year", line, "EcritureDate", value=_show(entry_date), end=_show(self.end))

        # Journal label
        known = self.journal_labels.get(journal)
        if known is None:
            if len(self.journal_labels) < 1000:
                self.journal_labels[journal] = journal_label
        elif (
            known != journal_label
            and (journal, journal_label) not in self.other_labels
            and len(self.other_labels) < 1000
        ):
            self.other_labels.add((journal, journal_label))
            self.add("journal.label", line, "JournalLib", journal=journal, first=known, other=journal_label)

        # Entry
        entry = self.entry
        if entry is None or entry.journal != journal or entry.number != number:
            if entry is not None:
                self.close_entry(entry)
            entry = self.entry = _Entry(journal, number, line, entry_day, valid_day)
        elif entry_day != entry.entry_date or valid_day != entry.valid_date:
            entry.dates_differ = True
        entry.debit += debit
        entry.credit += credit
        if account.startswith("12"):
            entry.touches_result = True
        elif account.startswith(("6", "7")):
            entry.touches_income_statement = True
        if not entry.label and ("entralis" in label or "ENTRALIS" in label):
            entry.label = label

    def pair(self, line: int, code: str, filled: str) -> None:
        self.add(code, line, filled, filled=filled)

    def close_entry(self, e: _Entry) -> None:
        report = self.report
        report.entries += 1
        ids = {"journal": e.journal, "number": e.number}
        key = (e.journal, e.number)
        if key in self.recent:
            self.add("entry.split", e.line, "EcritureNum", **ids)
        self.recent[key] = None
        if len(self.recent) > 1000:
            self.recent.popitem(last=False)
        if e.debit != e.credit:
            self.add("entry.unbalanced", e.line, debit=_amount(e.debit), credit=_amount(e.credit), **ids)
        if e.dates_differ:
            self.add("entry.dates", e.line, **ids)
        if e.touches_result and e.touches_income_statement:
            self.add("entry.closing", e.line, **ids)
        if e.label:
            self.add("entry.centralisation", e.line, "EcritureLib", label=e.label, **ids)
        if e.journal in self.opening_journals:
            self.seen_opening = True
            if self.seen_other_entry:
                self.add("opening.not_first", e.line, "JournalCode", **ids)
        else:
            self.seen_other_entry = True
            validated = self.date(e.valid_date)
            if validated is not None:
                if self.last_valid is not None and validated < self.last_valid:
                    self.add(
                        "order.valid_date",
                        e.line,
                        "ValidDate",
                        value=_show(validated),
                        previous=_show(self.last_valid),
                        **ids,
                    )
                else:
                    self.last_valid = validated
        match = _NUMBER_RE.fullmatch(e.number)
        if match:
            prefix, digits = match.groups()
            self.by_journal.feed(e.journal, prefix, int(digits), e.line)
            self.global_numbering.feed(e.journal, prefix, int(digits), e.line)
        elif e.number:
            self.not_numeric += 1
            self.add("numbering.not_numeric", e.line, "EcritureNum", value=e.number)

    def finish(self) -> None:
        if self.entry is not None:
            self.close_entry(self.entry)
            self.entry = None
        # Numbering may be per journal or global (§4.3): judge it under the hypothesis that fits best.
        numbering = min(self.by_journal, self.global_numbering, key=lambda n: n.faults)
        for code, n in numbering.counts.items():
            kept = [i for i in numbering.samples if i.code == code]
            for issue in kept:
                self.report.add(issue)
            self.report.counts[code] += n - len(kept)
        if self.report.entries and not self.seen_opening:
            self.add("opening.missing", journals=", ".join(sorted(self.opening_journals)))
        used = [e for e in self.endings if e]
        if len(used) > 1:
            names = {b"\r\n": "CRLF", b"\n": "LF", b"\r": "CR"}
            self.add("file.line_endings", endings=", ".join(names[e] for e in used))
        if used:
            self.report.line_ending = {b"\r\n": "CRLF", b"\n": "LF", b"\r": "CR"}[self.endings.most_common(1)[0][0]]
        self.report.encoding = self.encoding or "ascii"


def _check_filename(report: FecReport, name: str, fiscal_year_end: dt.date | None) -> dt.date | None:
    """Check the file name; return the closing date it states, if readable."""
    match = _FILENAME_RE.fullmatch(name)
    if not match:
        report.add(Issue("filename.pattern", params={"name": name}))
        return None
    siren, stamp = match.groups()
    if not _luhn_ok(siren):
        report.add(Issue("filename.siren", params={"siren": siren}))
    try:
        closing = dt.date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
    except ValueError:
        report.add(Issue("filename.date", params={"value": stamp}))
        return None
    if fiscal_year_end is not None and closing != fiscal_year_end:
        report.add(Issue("filename.closing_date", params={"found": _show(closing), "expected": _show(fiscal_year_end)}))
    return closing


def check_fec(
    source: str | os.PathLike[str] | IO[bytes] | IO[str],
    *,
    filename: str | None = None,
    fiscal_year_start: dt.date | None = None,
    fiscal_year_end: dt.date | None = None,
    opening_journals: Collection[str] = OPENING_JOURNALS,
    encoding: str | None = None,
    max_issues_per_kind: int = 100,
) -> FecReport:
    """Check a FEC file (a path or an open binary stream) and report every problem.

    ``filename`` is the name to check when ``source`` is a stream (an upload); for a path,
    its own name is checked. The fiscal year defaults to the 12 months ending on the date
    in the file name. ``encoding`` forces one instead of detecting ASCII/UTF-8/ISO-8859-15.
    Reads the file once, in constant memory.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with path.open("rb") as stream:
            return check_fec(
                stream,
                filename=filename or path.name,
                fiscal_year_start=fiscal_year_start,
                fiscal_year_end=fiscal_year_end,
                opening_journals=opening_journals,
                encoding=encoding,
                max_issues_per_kind=max_issues_per_kind,
            )
    report = FecReport(filename=filename, max_issues_per_kind=max_issues_per_kind)
    closing = _check_filename(report, filename, fiscal_year_end) if filename else None
    checker = _Checker(
        report,
        fiscal_year_start=fiscal_year_start,
        closing_date=fiscal_year_end or closing,
        opening_journals=opening_journals,
        encoding=encoding,
    )
    binary: IO[bytes] = _Utf8Reader(source) if _is_text(source) else source  # type: ignore[assignment,arg-type]
    readable = True
    for number, (raw, ending) in enumerate(_records(binary), start=1):
        checker.endings[ending] += 1
        if number == 1:
            if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                checker.add("file.utf16")
                return report
            if raw.startswith(b"\xef\xbb\xbf"):
                checker.add("encoding.bom", 1)
                raw = raw[3:]
                checker.encoding = checker.encoding or "utf-8"
            readable = checker.header(checker.decode(raw, 1))
            continue
        if readable:
            checker.line(checker.decode(raw, number), number)
    if not checker.endings:
        checker.add("file.empty")
        return report
    checker.finish()
    return report


def _is_text(stream: Any) -> bool:
    return isinstance(stream.read(0), str)


class _Utf8Reader:
    """Present a text stream as a binary one (UTF-8), for ``check_fec`` on already-decoded text."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size).encode("utf-8")


# --- Command line ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m comptoir.accounting.fec check FILE [--start AAAAMMJJ] [--end AAAAMMJJ]``."""
    import argparse

    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_I18N=False)

    def day(text: str) -> dt.date:
        return dt.datetime.strptime(text, "%Y%m%d").date()

    parser = argparse.ArgumentParser(prog="python -m comptoir.accounting.fec")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check a FEC file and list every problem")
    check.add_argument("file")
    check.add_argument("--start", type=day, help="first day of the fiscal year (AAAAMMJJ)")
    check.add_argument("--end", type=day, help="closing date of the fiscal year (AAAAMMJJ)")
    check.add_argument("--encoding", help="force the encoding instead of detecting it")
    check.add_argument("--max", type=int, default=100, help="issues listed per kind (all are counted)")
    args = parser.parse_args(argv)
    report = check_fec(
        args.file,
        fiscal_year_start=args.start,
        fiscal_year_end=args.end,
        encoding=args.encoding,
        max_issues_per_kind=args.max,
    )
    print(report.as_text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The FEC of a fiscal year, read from the ledger and streamed (COMPLIANCE-FR.md §1).

``prepare`` checks the caller may export, resolves the fiscal year (or a date range) and
fixes what the file will hold: the posted entries of that year up to the last posting
number at that instant, so entries posted while the file streams never slip in half-way.
``iter_rows`` then turns them into ``fec.FecRow``s: opening entries (journals of kind
*opening*, e.g. AN) first, then every other entry in posting order — the order of
validation, so ``ValidDate`` never goes backwards. ``iter_bytes`` feeds them to
``fec.iter_fec_lines`` and encodes batches of lines for a ``StreamingHttpResponse``.

Memory stays constant: entries are read by keyset chunks on ``chain_number`` (the unique
``(company, chain_number)`` index), their lines in one joined query per chunk — two short
queries per ``CHUNK`` entries, no transaction held open while the client downloads.

Columns: ``EcritureNum`` is the entry's number (``VT-2026-00001``: continuous per journal
and fiscal year), ``PieceRef`` its reference (the number when it had none), ``PieceDate``
and ``EcritureDate`` its date, ``ValidDate`` the local date it was posted, ``EcritureLib``
the line's label or else the entry's, ``CompAuxNum``/``CompAuxLib`` the partner account,
``EcritureLet``/``DateLet`` the line's matching code and date (together or not at all).
Amounts are in euros; a line booked from a foreign-currency document also carries its
amount in that currency, signed like debit − credit, and the ISO code (``Montantdevise``,
``Idevise``; empty otherwise).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.accounting import fec
from comptoir.accounting.models import EntryState, FiscalYear, Journal, JournalEntry, JournalKind, JournalLine
from comptoir.kernel import audit
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.models import Company

CHUNK = 2000
# Lines joined into one encoded piece of the download.
BATCH = 1000
CONTENT_TYPE = f"text/plain; charset={fec.ENCODING}"

_ENTRY_FIELDS = ("id", "chain_number", "number", "date", "ref", "label", "posted_at", "journal__code", "journal__name")
_LINE_FIELDS = (
    "entry_id", "account__code", "account__name", "partner_account__code", "partner_account__label", "label",
    "debit", "credit", "matching_code", "matched_at", "amount_currency", "currency",
)  # fmt: skip


@dataclass(frozen=True)
class FecExport:
    """What one FEC file holds; made by ``prepare``."""

    company_id: int
    siren: str
    date_from: dt.date
    date_to: dt.date
    fiscal_year_id: int | None
    opening_journal_ids: tuple[int, ...]
    opening_journal_codes: tuple[str, ...]
    last_chain_number: int

    @property
    def filename(self) -> str:
        return fec.fec_filename(self.siren, self.date_to)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed("invalid_fec_export", message, fields={field: [message]})


def _fiscal_year(company_id: int, fiscal_year_id: int | None, year: int | None) -> FiscalYear | None:
    years = FiscalYear.objects.filter(company_id=company_id)
    if fiscal_year_id is not None:
        found = years.filter(pk=fiscal_year_id).first()
        if found is None:
            raise NotFound("fiscal_year_not_found", _("No such fiscal year."))
        return found
    if year is None:
        return None
    # The year of a fiscal year is the year it ends (as in the entries' numbers).
    matching = list(years.filter(end_date__year=year).order_by("end_date")[:2])
    if not matching:
        raise _invalid("year", _("No fiscal year ends in %(year)s.") % {"year": year})
    if len(matching) > 1:
        raise _invalid("year", _("Several fiscal years end in %(year)s: choose one by its id.") % {"year": year})
    return matching[0]


@transaction.atomic
def prepare(
    actor: Actor,
    *,
    fiscal_year_id: int | None = None,
    year: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> FecExport:
    """Check the request and fix the file's content; records who exported what (audit)."""
    require(actor, "accounting.export")
    company_id = actor.company_id
    assert company_id is not None
    fiscal_year = _fiscal_year(company_id, fiscal_year_id, year)
    if fiscal_year is not None:
        if date_from or date_to:
            raise _invalid("date_from", _("Choose a fiscal year or a date range, not both."))
        start, end = fiscal_year.start_date, fiscal_year.end_date
    else:
        if date_from is None or date_to is None:
            raise _invalid("fiscal_year", _("Choose a fiscal year (or both ends of a date range)."))
        if date_to < date_from:
            raise _invalid("date_to", _("The end must be after the start."))
        start, end = date_from, date_to
    siren = Company.objects.filter(pk=company_id).values_list("siren", flat=True).first() or ""
    if len(siren) != 9 or not siren.isdigit():
        raise _invalid(
            "siren", _("The FEC file is named after the company's SIREN: enter it in the company settings first.")
        )
    opening = list(
        Journal.objects.filter(company_id=company_id, kind=JournalKind.OPENING)
        .order_by("code")
        .values_list("pk", "code")
    )
    last = JournalEntry.objects.filter(company_id=company_id, state=EntryState.POSTED).aggregate(n=Max("chain_number"))
    export = FecExport(
        company_id=company_id,
        siren=siren,
        date_from=start,
        date_to=end,
        fiscal_year_id=fiscal_year.pk if fiscal_year is not None else None,
        opening_journal_ids=tuple(pk for pk, _code in opening),
        opening_journal_codes=tuple(code for _pk, code in opening),
        last_chain_number=last["n"] or 0,
    )
    audit.record(actor, "accounting.fec_export", object_type="accounting.fec", object_id=export.filename,
                 changes={"date_from": [None, start.isoformat()], "date_to": [None, end.isoformat()],
                          "last_chain_number": [None, export.last_chain_number]})  # fmt: skip
    return export


def _entries(export: FecExport, *, opening: bool) -> Any:
    rows = JournalEntry.objects.filter(
        company_id=export.company_id, state=EntryState.POSTED, chain_number__lte=export.last_chain_number
    )
    if export.fiscal_year_id is not None:
        rows = rows.filter(fiscal_year_id=export.fiscal_year_id)
    else:
        rows = rows.filter(date__gte=export.date_from, date__lte=export.date_to)
    if opening:
        return rows.filter(journal_id__in=export.opening_journal_ids)
    return rows.exclude(journal_id__in=export.opening_journal_ids) if export.opening_journal_ids else rows


def _entry_chunks(export: FecExport, *, opening: bool, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
    if opening and not export.opening_journal_ids:
        return
    rows = _entries(export, opening=opening).order_by("chain_number").values_list(*_ENTRY_FIELDS)
    after = 0
    while True:
        entries = list(rows.filter(chain_number__gt=after)[:chunk])
        if not entries:
            return
        yield entries
        if len(entries) < chunk:
            return
        after = entries[-1][1]


def iter_rows(export: FecExport, *, chunk: int = CHUNK) -> Iterator[fec.FecRow]:
    """The FEC rows: opening entries first, then the others, each group in posting order."""
    local = timezone.get_current_timezone()
    for opening in (True, False):
        for entries in _entry_chunks(export, opening=opening, chunk=chunk):
            lines: dict[int, list[tuple[Any, ...]]] = {entry[0]: [] for entry in entries}
            for line in (
                JournalLine.objects.filter(entry_id__in=list(lines))
                .order_by("entry_id", "sequence", "id")
                .values_list(*_LINE_FIELDS)
            ):
                lines[line[0]].append(line)
            for entry_id, _chain, number, day, ref, entry_label, posted_at, journal_code, journal_name in entries:
                valid = posted_at.astimezone(local).date()
                for line in lines[entry_id]:
                    _e, code, name, aux_code, aux_label, label, debit, credit, matching, matched_at = line[:10]
                    amount_cur, cur = line[10:]
                    lettered = bool(matching) and matched_at is not None
                    yield fec.FecRow(
                        journal_code=journal_code, journal_label=journal_name, entry_number=number, entry_date=day,
                        account_number=code, account_label=name, piece_ref=ref or number, piece_date=day,
                        label=label or entry_label, debit=debit, credit=credit, validation_date=valid,
                        aux_number=aux_code or "", aux_label=aux_label or "",
                        lettering=matching if lettered else "", lettering_date=matched_at if lettered else None,
                        currency_amount=amount_cur if cur else None, currency=cur or "",
                    )  # fmt: skip


def iter_bytes(export: FecExport, *, encoding: str = fec.ENCODING, batch: int = BATCH) -> Iterator[bytes]:
    """The encoded file, ``batch`` lines per piece (for a streaming response)."""
    pending: list[str] = []
    for line in fec.iter_fec_lines(iter_rows(export)):
        pending.append(line)
        if len(pending) >= batch:
            yield fec.encode_text("".join(pending), encoding)
            pending.clear()
    if pending:
        yield fec.encode_text("".join(pending), encoding)


def write(export: FecExport, stream: fec.BinaryWriter, *, encoding: str = fec.ENCODING) -> int:
    """Write the file to a binary stream; return the number of lines (header excluded)."""
    return fec.write_fec(iter_rows(export), stream, encoding=encoding)


def streaming_response(export: FecExport) -> Any:
    from django.http import StreamingHttpResponse

    response = StreamingHttpResponse(iter_bytes(export), content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response

"""The hash chain of posted entries: canonical content, hashing and verification.

Each posted entry stores ``hash = SHA-256(previous_hash, header, lines_hash)`` where the
header and the lines are serialised canonically (sorted-key JSON, amounts in cents, codes
rather than ids where an auditor reads them). The chain follows ``chain_number``, the
company-wide posting order (1, 2, 3… without gaps). ``iter_anomalies`` recomputes every
link in that order, reading entries by chunks of ``CHUNK`` so memory stays constant
whatever the size of the ledger. Why a plain (not keyed) hash: decision 0008.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Max
from django.utils.translation import gettext as _

from comptoir.kernel.models import DocumentSequence

# The previous hash of the first entry of a company.
GENESIS = "0" * 64
CHAIN_KIND = "accounting.chain"
CHUNK = 500


def _cents(value: Decimal | int) -> int:
    return int(Decimal(value).scaleb(2))


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _instant(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else ""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def lines_digest(lines: Sequence[dict[str, Any]]) -> str:
    """SHA-256 of the lines, in their order. Each dict: sequence, account_code,
    partner_code, label, debit, credit, due_date and optionally site_id.

    The site (the establishment, by id) is appended to a line's row only when it is set, so
    the lines posted before sites existed keep the digest they were posted with."""
    rows = []
    for line in lines:
        row = [
            line["sequence"], line["account_code"], line["partner_code"] or "", line["label"],
            _cents(line["debit"]), _cents(line["credit"]), _date(line["due_date"]),
        ]  # fmt: skip
        if line.get("site_id"):
            row.append(line["site_id"])
        rows.append(row)
    return hashlib.sha256(_dumps(rows)).hexdigest()


def entry_digest(header: dict[str, Any], lines_hash: str, previous_hash: str) -> str:
    """SHA-256 over the previous hash, the entry's header and its lines' digest."""
    content = {
        "company": header["company_id"],
        "chain": header["chain_number"],
        "number": header["number"],
        "journal": header["journal_code"],
        "date": _date(header["date"]),
        "ref": header["ref"],
        "label": header["label"],
        "total": _cents(header["total"]),
        "posted_at": _instant(header["posted_at"]),
        "reversal_of": header["reversal_of_id"],
        "source": [header["source_type"], header["source_id"]],
    }
    # Only when set (see lines_digest): entries posted without a site keep their hash.
    if header.get("site_id"):
        content["site"] = header["site_id"]
    payload = previous_hash.encode() + b"\n" + _dumps(content) + b"\n" + lines_hash.encode()
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class Anomaly:
    kind: str  # gap, previous_hash, hash, lines, unbalanced, line_state, missing_tail
    message: str
    chain_number: int | None = None
    entry_id: int | None = None
    number: str = ""


@dataclass
class VerifyReport:
    entries: int = 0
    last_chain_number: int = 0
    last_hash: str = GENESIS
    anomalies: list[Anomaly] = field(default_factory=list)
    # Anomalies beyond MAX_REPORTED are counted, not kept, so memory stays bounded.
    more: int = 0

    @property
    def ok(self) -> bool:
        return not self.anomalies

    @property
    def first_broken(self) -> Anomaly | None:
        return self.anomalies[0] if self.anomalies else None


MAX_REPORTED = 1000

_HEADER_FIELDS = (
    "id", "company_id", "chain_number", "number", "journal_id", "journal__code", "date", "ref", "label", "total",
    "posted_at", "reversal_of_id", "source_type", "source_id", "previous_hash", "lines_hash", "hash", "site_id",
)  # fmt: skip
_LINE_FIELDS = (
    "entry_id", "sequence", "account__code", "partner_account__code", "label", "debit", "credit", "due_date",
    "date", "journal_id", "is_posted", "site_id",
)  # fmt: skip


def _line_for_digest(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "sequence": row["sequence"], "account_code": row["account__code"],
        "partner_code": row["partner_account__code"], "label": row["label"], "debit": row["debit"],
        "credit": row["credit"], "due_date": row["due_date"], "site_id": row["site_id"],
    }  # fmt: skip


def iter_anomalies(company_id: int) -> Iterator[Anomaly | tuple[int, str]]:
    """Walk the chain; yield each anomaly, and ``(chain_number, hash)`` after each entry."""
    from comptoir.accounting.models import EntryState, JournalEntry, JournalLine

    expected = 1
    previous = GENESIS
    posted = JournalEntry.objects.filter(company_id=company_id, state=EntryState.POSTED)
    while True:
        chunk = list(posted.filter(chain_number__gte=expected).order_by("chain_number").values(*_HEADER_FIELDS)[:CHUNK])
        if not chunk:
            break
        lines_by_entry: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in chunk}
        for line in (
            JournalLine.objects.filter(entry_id__in=list(lines_by_entry))
            .order_by("entry_id", "sequence", "id")
            .values(*_LINE_FIELDS)
        ):
            lines_by_entry[line["entry_id"]].append(line)
        for row in chunk:
            yield from _check_entry(row, lines_by_entry[row["id"]], expected, previous)
            expected = row["chain_number"] + 1
            previous = row["hash"]
            yield (row["chain_number"], row["hash"])
    counter = DocumentSequence.objects.filter(company_id=company_id, kind=CHAIN_KIND).aggregate(n=Max("next_value"))[
        "n"
    ]
    issued = (counter or 1) - 1
    if issued > expected - 1:
        yield Anomaly(
            "missing_tail",
            _("Posting numbers %(first)s to %(last)s were issued but their entries are missing.")
            % {"first": expected, "last": issued},
            chain_number=expected,
        )
    orphans = JournalLine.objects.filter(company_id=company_id, is_posted=True, entry__state=EntryState.DRAFT)
    for entry_id in orphans.values_list("entry_id", flat=True).distinct()[:MAX_REPORTED]:
        yield Anomaly("line_state", _("A draft entry has lines marked as posted."), entry_id=entry_id)


def _check_entry(row: dict[str, Any], lines: list[dict[str, Any]], expected: int, previous: str) -> Iterator[Anomaly]:
    where = {"chain_number": row["chain_number"], "entry_id": row["id"], "number": row["number"]}
    if row["chain_number"] != expected:
        yield Anomaly(
            "gap",
            _("Posting numbers %(first)s to %(last)s are missing before this entry.")
            % {"first": expected, "last": row["chain_number"] - 1},
            **where,
        )
    if row["previous_hash"] != previous:
        yield Anomaly("previous_hash", _("The link to the previous entry does not match its hash."), **where)
    lines_hash = lines_digest([_line_for_digest(line) for line in lines])
    if lines_hash != row["lines_hash"]:
        yield Anomaly(
            "lines", _("The lines differ from what was posted (amount, account, label, date or site)."), **where
        )
    header = {**row, "journal_code": row["journal__code"]}
    if entry_digest(header, row["lines_hash"], row["previous_hash"]) != row["hash"]:
        yield Anomaly("hash", _("The entry differs from what was posted (its hash does not match)."), **where)
    debit = sum((line["debit"] for line in lines), Decimal(0))
    credit = sum((line["credit"] for line in lines), Decimal(0))
    if debit != credit or len(lines) < 2:
        yield Anomaly(
            "unbalanced",
            _("The entry is not balanced: debits %(debit)s, credits %(credit)s.") % {"debit": debit, "credit": credit},
            **where,
        )
    if any(
        not line["is_posted"] or line["date"] != row["date"] or line["journal_id"] != row["journal_id"]
        for line in lines
    ):
        yield Anomaly("line_state", _("Lines disagree with their entry's date, journal or state."), **where)


def verify_chain(company_id: int) -> VerifyReport:
    """Recompute the whole chain of the company; report every anomaly (the first ones in full)."""
    report = VerifyReport()
    for item in iter_anomalies(company_id):
        if isinstance(item, Anomaly):
            if len(report.anomalies) < MAX_REPORTED:
                report.anomalies.append(item)
            else:
                report.more += 1
        else:
            report.entries += 1
            report.last_chain_number, report.last_hash = item
    return report

"""Integrity checks of the kernel's ledgers: sequences, audit trail, outbox — and those
the apps register (``register_check``), e.g. the accounting hash chain.

Run nightly as a task and on demand by ``comptoir check-integrity``. Each check yields
problems as plain sentences; an empty report means everything holds.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Count, Max, Min
from django.utils import timezone

from comptoir.kernel.audit import digest_matches
from comptoir.kernel.models import AuditEntry, DocumentSequence, IssuedNumber, OutboxEvent

logger = logging.getLogger("comptoir.integrity")


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_sequences(report: Report) -> None:
    stats = {
        row["sequence_id"]: row
        for row in IssuedNumber.objects.values("sequence_id").annotate(n=Count("id"), lo=Min("value"), hi=Max("value"))
    }
    sequences = list(DocumentSequence.objects.all())
    for seq in sequences:
        row = stats.get(seq.pk, {"n": 0, "lo": None, "hi": None})
        issued = seq.next_value - 1
        if row["n"] != issued or (issued and (row["lo"] != 1 or row["hi"] != issued)):
            report.problems.append(
                f"sequence {seq.kind}/{seq.year or '-'} of company {seq.company_id}: counter says {issued} "
                f"issued, ledger holds {row['n']} numbers from {row['lo']} to {row['hi']}"
            )
    report.checked["sequences"] = len(sequences)


def check_audit(report: Report, batch: int = 5000) -> None:
    count = 0
    last_id = 0
    while True:
        entries = list(AuditEntry.objects.filter(id__gt=last_id).order_by("id")[:batch])
        if not entries:
            break
        for entry in entries:
            count += 1
            if not digest_matches(entry):
                report.problems.append(f"audit entry {entry.pk} ({entry.action}) was altered after it was written")
        last_id = entries[-1].pk
    report.checked["audit_entries"] = count


def check_outbox(report: Report, stale_after: dt.timedelta = dt.timedelta(hours=1)) -> None:
    threshold = timezone.now() - stale_after
    stale = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, created_at__lt=threshold).count()
    failed = OutboxEvent.objects.filter(status=OutboxEvent.Status.FAILED).count()
    if stale:
        report.problems.append(f"{stale} event(s) pending for more than {stale_after}")
    if failed:
        report.problems.append(f"{failed} event(s) whose subscribers failed")
    report.checked["outbox_events"] = OutboxEvent.objects.count()


Check = Callable[[Report], None]
# Checks of the layers above, plugged in from their AppConfig.ready().
_checks: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    """Add a check to every run: ``check(report)`` counts what it read in ``report.checked``
    and appends its problems to ``report.problems``. Registering a name again replaces it."""
    _checks[name] = check


def registered_checks() -> dict[str, Check]:
    return dict(_checks)


def run_all() -> Report:
    report = Report()
    check_sequences(report)
    check_audit(report)
    check_outbox(report)
    for name, check in _checks.items():
        try:
            check(report)
        except Exception as exc:
            # One broken check must not hide the others' results: it is a problem itself.
            logger.exception("integrity check %s failed", name)
            report.problems.append(f"check {name} could not run: {type(exc).__name__}: {exc}")
    return report

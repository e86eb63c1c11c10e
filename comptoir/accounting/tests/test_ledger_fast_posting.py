"""Posting in one go writes each row once (issue 6): numbers first, then the entry inserted posted.

``create_posted_entry`` takes the chain's number, reads the period and the previous hash in
one statement (the only period read: it is serialised with lock-date changes by the counter
row), takes the journal's number, then inserts the header already numbered and hashed — no
UPDATE of the entry — and its lines. It stores, audits and refuses what create-then-post did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from comptoir.accounting import chain, services
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import (
    AccountingSettings,
    EntryState,
    JournalEntry,
    JournalLine,
)
from comptoir.accounting.tests.conftest import Ledger, today, unpostable_day
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.models import AuditEntry, IssuedNumber, OutboxEvent

_COMPARED = (
    "journal_id", "date", "ref", "label", "state", "total", "fiscal_year_id", "created_by_id", "posted_by_id",
    "reversal_of_id", "source_type", "source_id", "site_id",
)  # fmt: skip


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _sql(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


def _data(ledger: Ledger, **extra: Any) -> dict[str, Any]:
    return {"journal_id": ledger.journals["VT"], "date": today(), "label": "Facture", "ref": "F-1",
            "lines": ledger.sale(), "source_type": "test.doc", "source_id": "42"} | extra  # fmt: skip


def test_the_entry_is_inserted_posted_and_numbered_with_no_update(ledger: Ledger) -> None:
    actor = ledger.actor()
    with transaction.atomic():
        draft = services.create_entry(actor, **_data(ledger))
        reference = services.post_entry(actor, services._entry_locked(actor, draft.pk))
        with CaptureQueriesContext(connection) as captured:
            entry = services.create_posted_entry(actor, **_data(ledger))
    sql = _sql(captured)
    entry_statements = [s for s in sql if "accounting_journalentry" in s]
    # One INSERT of the header; the previous hash is read inside the period's statement.
    assert len(entry_statements) == 2 and entry_statements[0].startswith("SELECT (SELECT")
    assert entry_statements[1].startswith('INSERT INTO "accounting_journalentry"')
    assert not [s for s in sql if s.startswith("UPDATE") and "accounting_journal" in s]
    counters = [i for i, s in enumerate(sql) if s.startswith("UPDATE") and "documentsequence" in s]
    periods = [i for i, s in enumerate(sql) if "accounting_accountingsettings" in s]
    # The period is read once, after the chain's counter and before the journal's.
    assert len(counters) == 2 and len(periods) == 1 and counters[0] < periods[0] < counters[1]
    stored = JournalEntry.objects.get(pk=entry.pk)
    expected = JournalEntry.objects.get(pk=reference.pk)
    assert {name: getattr(stored, name) for name in _COMPARED} == {name: getattr(expected, name) for name in _COMPARED}
    assert stored.state == EntryState.POSTED and stored.chain_number == expected.chain_number + 1
    assert stored.previous_hash == expected.hash and stored.hash == entry.hash and stored.number == entry.number
    assert stored.posted_at == stored.created_at == stored.updated_at == entry.posted_at
    assert stored.number.startswith("VT-") and stored.number != expected.number
    # The issued numbers name the entry, as next_number did.
    issued = IssuedNumber.objects.filter(object_type="accounting.journalentry", object_id=str(entry.pk))
    assert sorted(issued.values_list("number", flat=True)) == sorted([entry.number, str(entry.chain_number)])
    # Audited and published as create-then-post: the creation named as a draft is named.
    actions = list(
        AuditEntry.objects.filter(object_type="accounting.journalentry", object_id=str(entry.pk))
        .order_by("pk")
        .values_list("action", "object_repr")
    )
    assert actions == [("entry.create", f"Draft entry {entry.pk}"), ("entry.post", entry.number)]
    assert OutboxEvent.objects.filter(name="accounting.entry_posted", payload__entry_id=entry.pk).count() == 1
    report = verify_chain(ledger.company_id)
    assert report.ok, report.anomalies


def test_a_draft_posted_reads_the_period_and_the_link_in_one_statement(ledger: Ledger) -> None:
    actor = ledger.actor()
    with transaction.atomic():
        services.create_posted_entry(actor, **_data(ledger))
        draft = services.create_entry(actor, **_data(ledger))
        with CaptureQueriesContext(connection) as captured:
            entry = services.post_entry(actor, draft)
    sql = _sql(captured)
    assert len([s for s in sql if "accounting_accountingsettings" in s]) == 1
    assert len([s for s in sql if s.startswith("SELECT hash")]) == 0
    updates = [s for s in sql if s.startswith('UPDATE "accounting_journalentry"')]
    assert len(updates) == 1
    assert JournalEntry.objects.get(pk=entry.pk).state == EntryState.POSTED
    assert set(JournalLine.objects.filter(entry_id=entry.pk).values_list("is_posted", flat=True)) == {True}
    assert verify_chain(ledger.company_id).ok


def test_many_lines_are_inserted_in_batches_in_their_order(ledger: Ledger) -> None:
    actor = ledger.actor()
    lines = [ledger.line("706", credit="1.00", label=f"Ligne {n}") for n in range(120)]
    lines.append(ledger.line("411", debit="120.00", due_date=today() + dt.timedelta(days=30)))
    with transaction.atomic():
        entry = services.create_posted_entry(actor, journal_id=ledger.journals["VT"], date=today(), label="Gros",
                                             lines=lines)  # fmt: skip
    rows = list(JournalLine.objects.filter(entry_id=entry.pk).order_by("sequence").values_list("pk", "label"))
    assert [pk for pk, _label in rows] == vars(entry)["line_ids"]
    assert [label for _pk, label in rows] == [line.get("label", "") for line in lines]
    report = verify_chain(ledger.company_id)
    assert report.ok, report.anomalies
    assert chain.CHUNK >= 1 and report.last_hash == entry.hash


@pytest.mark.parametrize("problem", ["lock_date", "closed_year", "no_year"])
def test_refusals_are_those_create_then_post_made(ledger: Ledger, problem: str) -> None:
    """Locked or closed: refused as create_entry refused it (validation_failed); no fiscal
    year: as post_entry refused it (entry_not_postable). Nothing is left, no number taken."""
    actor = ledger.actor()
    day = unpostable_day(ledger, problem)
    with pytest.raises(ValidationFailed) as by_create, transaction.atomic():
        services.create_entry(actor, **_data(ledger, date=day))
        draft = JournalEntry.objects.get(company_id=ledger.company_id, state=EntryState.DRAFT)
        services.post_entry(actor, services._entry_locked(actor, draft.pk))
    issued = IssuedNumber.objects.count()
    with pytest.raises(ValidationFailed) as refused, transaction.atomic():
        services.create_posted_entry(actor, **_data(ledger, date=day))
    assert (refused.value.code, refused.value.fields) == (by_create.value.code, by_create.value.fields)
    assert refused.value.code == ("entry_not_postable" if problem == "no_year" else "validation_failed")
    assert IssuedNumber.objects.count() == issued
    assert not JournalEntry.objects.filter(company_id=ledger.company_id).exists()


def test_a_refusal_of_another_field_reports_the_period_in_its_place(ledger: Ledger) -> None:
    actor = ledger.actor()
    AccountingSettings.objects.filter(company_id=ledger.company_id).update(lock_date=today())
    unbalanced = [ledger.line("411", debit="120.00"), ledger.line("706", credit="100.00")]
    data = _data(ledger, lines=unbalanced, label="")
    with pytest.raises(ValidationFailed) as by_create, transaction.atomic():
        services.create_entry(actor, **data)
    with pytest.raises(ValidationFailed) as refused, transaction.atomic():
        services.create_posted_entry(actor, **data)
    assert by_create.value.fields is not None and refused.value.fields is not None
    assert list(refused.value.fields.items()) == list(by_create.value.fields.items())
    assert list(refused.value.fields)[:2] == ["date", "label"]


def test_the_period_after_the_counter_is_read_from_the_database(ledger: Ledger) -> None:
    """What the call read before (advisory, memoised) does not decide: a lock date committed
    before the counter was taken — here written in the same transaction — refuses the entry."""
    actor = ledger.actor()
    with transaction.atomic(), services.periods_read_once():
        assert services._period_errors(ledger.company_id, today(), for_posting=True) == []  # memoised: open
        AccountingSettings.objects.filter(company_id=ledger.company_id).update(lock_date=today())
        with pytest.raises(ValidationFailed) as refused:
            services.create_posted_entry(actor, **_data(ledger))
        transaction.set_rollback(True)
    assert refused.value.fields is not None and "locked" in " ".join(refused.value.fields["date"])

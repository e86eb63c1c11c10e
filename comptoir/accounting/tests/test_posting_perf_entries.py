"""Posting does its work once: lines written once and hashed as written, periods in one read.

``create_posted_entry`` inserts the lines already posted (no draft lines, then an UPDATE);
``post_entry`` on the object ``create_entry`` returned hashes the lines it wrote instead of
reading them back. Both must store exactly what the chain verification recomputes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from comptoir.accounting import chain, invoices, services
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import (
    Account,
    AccountingSettings,
    EntryState,
    FiscalYear,
    Invoice,
    InvoiceState,
    JournalEntry,
    JournalLine,
)
from comptoir.accounting.tests.conftest import Ledger, today, unpostable_day
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.models import Site
from comptoir.org.testing import Personas


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _lines(ledger: Ledger, site_id: int | None = None) -> list[dict[str, Any]]:
    return [
        ledger.line("411", debit="120.00", label="Client", due_date=today() + dt.timedelta(days=30)),
        ledger.line("706", credit="100.00", label="Vente", **({"site_id": site_id} if site_id else {})),
        ledger.line("44571", credit="20.00"),
    ]


def _line_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "accounting_journalline" in q["sql"]]


def _stored_lines(entry_id: int) -> list[dict[str, Any]]:
    return list(
        JournalLine.objects.filter(entry_id=entry_id).order_by("sequence").values(
            "pk", "sequence", "account_id", "partner_account_id", "label", "debit", "credit", "due_date", "site_id",
            "is_posted", "date", "journal_id", "amount_currency", "currency",
        )
    )  # fmt: skip


def test_posted_in_one_go_stores_and_hashes_what_create_then_post_did(ledger: Ledger) -> None:
    actor = ledger.actor()
    site = Site.objects.create(company_id=ledger.company_id, name="Atelier Lyon", siret="84215763800037")
    data: dict[str, Any] = {"journal_id": ledger.journals["VT"], "date": today(), "label": "Facture", "ref": "F-1"}
    with transaction.atomic():
        # The reference: a draft, then posted from a fresh read (every line read back).
        draft = services.create_entry(actor, lines=_lines(ledger, site.pk), **data)
        reference = services.post_entry(actor, services._entry_locked(actor, draft.pk))
        with CaptureQueriesContext(connection) as captured:
            entry = services.create_posted_entry(actor, lines=_lines(ledger, site.pk), **data)
    # One INSERT of the lines, nothing else on them: no draft lines, no UPDATE, no read back.
    statements = _line_queries(captured)
    assert len(statements) == 1 and statements[0].startswith("INSERT")
    assert entry.state == EntryState.POSTED and entry.lines_hash == reference.lines_hash
    stored, expected = _stored_lines(entry.pk), _stored_lines(reference.pk)
    assert [row.pop("pk") for row in stored] == vars(entry)["line_ids"]
    for row in expected:
        row.pop("pk")
    assert stored == expected
    assert all(row["is_posted"] for row in stored)
    assert stored[1]["site_id"] == site.pk and stored[0]["site_id"] is None
    report = verify_chain(ledger.company_id)
    assert report.ok, report.anomalies
    assert report.last_hash == JournalEntry.objects.get(pk=entry.pk).hash == entry.hash


def test_post_entry_on_the_created_object_hashes_the_lines_written(ledger: Ledger) -> None:
    actor = ledger.actor()
    with transaction.atomic():
        draft = services.create_entry(actor, lines=_lines(ledger), journal_id=ledger.journals["VT"], date=today(),
                                      label="Vente")  # fmt: skip
        with CaptureQueriesContext(connection) as captured:
            entry = services.post_entry(actor, draft)
    # The lines are not read back; only their posted flag is written.
    statements = _line_queries(captured)
    assert len(statements) == 1 and statements[0].startswith("UPDATE")
    rows = _stored_lines(entry.pk)
    assert [row["pk"] for row in rows] == vars(entry)["line_ids"]
    assert all(row["is_posted"] for row in rows)
    assert verify_chain(ledger.company_id).ok


def test_stamps_are_written_with_the_posted_lines(ledger: Ledger) -> None:
    actor = ledger.actor()
    stamps = [(Decimal("130.00"), "USD"), (None, ""), (Decimal("-21.67"), "USD")]
    with transaction.atomic():
        entry = services.create_posted_entry(
            actor, lines=_lines(ledger), stamps=stamps, journal_id=ledger.journals["VT"], date=today(), label="USD"
        )
    rows = _stored_lines(entry.pk)
    assert [(row["amount_currency"], row["currency"]) for row in rows] == [
        (Decimal("130.00"), "USD"), (None, ""), (Decimal("-21.67"), "USD")]  # fmt: skip
    assert verify_chain(ledger.company_id).ok


@pytest.mark.parametrize("problem", ["lock_date", "closed_year", "no_year"])
def test_a_posting_refused_after_the_counter_leaves_nothing(ledger: Ledger, problem: str) -> None:
    actor = ledger.actor()
    day = unpostable_day(ledger, problem)
    before = (JournalEntry.objects.count(), JournalLine.objects.count())
    with pytest.raises(ValidationFailed) as refused, transaction.atomic():
        services.create_posted_entry(actor, lines=_lines(ledger), journal_id=ledger.journals["VT"], date=day,
                                     label="Vente")  # fmt: skip
    assert refused.value.fields is not None and "date" in refused.value.fields
    expected = {"lock_date": "locked", "closed_year": "closed", "no_year": "No open fiscal year"}[problem]
    assert expected in " ".join(refused.value.fields["date"])
    assert (JournalEntry.objects.count(), JournalLine.objects.count()) == before


def test_the_period_is_one_statement(ledger: Ledger) -> None:
    day = today()
    AccountingSettings.objects.filter(company_id=ledger.company_id).update(lock_date=day - dt.timedelta(days=400))
    expected = FiscalYear.objects.get(company_id=ledger.company_id, start_date__lte=day, end_date__gte=day)
    with CaptureQueriesContext(connection) as captured:
        lock_date, year = services._period_state(ledger.company_id, day, fresh=True)
    assert len(captured.captured_queries) == 1
    assert lock_date == day - dt.timedelta(days=400)
    assert year is not None
    assert (year.pk, year.name, year.start_date, year.end_date, year.state) == (
        expected.pk, expected.name, expected.start_date, expected.end_date, expected.state)  # fmt: skip
    # A company without a settings row nor a year for the date: no lock, no year.
    AccountingSettings.objects.filter(company_id=ledger.company_id).delete()
    assert services._period_state(ledger.company_id, dt.date(1990, 1, 1), fresh=True) == (None, None)


def test_rows_the_caller_read_are_checked_as_read(ledger: Ledger) -> None:
    actor = ledger.actor()
    Account.objects.filter(pk=ledger.accounts["706"]).update(is_active=False)
    known = services.ledger_rows(ledger.company_id, account_codes=["411", "706", "44571"],
                                 partner_ids=[ledger.customer.pk])  # fmt: skip
    assert known.codes().keys() == {"411", "44571"}  # an inactive account is no target
    with pytest.raises(ValidationFailed) as refused, transaction.atomic():
        services.create_posted_entry(actor, lines=_lines(ledger), journal_id=ledger.journals["VT"], date=today(),
                                     label="Vente", known=known)  # fmt: skip
    assert refused.value.fields is not None
    assert "Unknown or inactive account." in refused.value.fields["lines.1.account_id"]
    # A row the caller did not read is read then, not taken as unknown.
    Account.objects.filter(pk=ledger.accounts["706"]).update(is_active=True)
    partial = services.ledger_rows(ledger.company_id, account_codes=["411"])
    with transaction.atomic():
        entry = services.create_posted_entry(actor, lines=_lines(ledger), journal_id=ledger.journals["VT"],
                                             date=today(), label="Vente", known=partial)  # fmt: skip
    assert entry.state == EntryState.POSTED and verify_chain(ledger.company_id).ok


# --- Invoices ---------------------------------------------------------------------------


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def test_invoice_posting_writes_its_entry_once_and_saves_what_changed(books: Books) -> None:
    actor = books.actor()
    books.posted()  # the first posting of the year creates the counters: measure the next one
    draft = books.invoice([line(), line("Livre", "2", "30.00", vat_category="reduced")])
    with CaptureQueriesContext(connection) as captured:
        posted = invoices.invoice_post(actor=actor, invoice_id=draft.pk, render_pdf=False)
    statements = _line_queries(captured)
    assert len(statements) == 1 and statements[0].startswith("INSERT")
    # Reads before the counter, the counters, the writes: no read twice, no full-chart read.
    # Reads before the counter, the three counters, the writes: nothing read twice, no full-chart read.
    queries = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(queries) <= 30, queries
    assert not [q for q in captured.captured_queries if "accounting_account" in q["sql"] and "IN" not in q["sql"]]
    stored = Invoice.objects.get(pk=posted.pk)
    for name in ("state", "number", "partner_account_id", "journal_entry_id", "issue_date", "posted_by_id",
                 "residual_amount", "total_amount", "partner_name", "billing_address", "due_date"):  # fmt: skip
        assert getattr(stored, name) == getattr(posted, name), name
    assert stored.state == InvoiceState.POSTED and stored.residual_amount == stored.total_amount
    assert abs(stored.posted_at - timezone.now()) < dt.timedelta(minutes=5)
    entry = JournalEntry.objects.get(pk=posted.journal_entry_id)
    assert entry.ref == posted.number and entry.total == posted.total_amount
    rows = list(JournalLine.objects.filter(entry=entry).values_list("is_posted", "site_id"))
    assert rows and all(is_posted for is_posted, _site in rows)
    report = verify_chain(books.company_id)
    assert report.ok, report.anomalies
    # Recomputed from the stored lines, the digest is the one posted.
    assert chain.lines_digest([
        {"sequence": r.sequence, "account_code": r.account.code,
         "partner_code": r.partner_account.code if r.partner_account else "", "label": r.label,
         "debit": r.debit, "credit": r.credit, "due_date": r.due_date, "site_id": r.site_id}
        for r in JournalLine.objects.filter(entry=entry).select_related("account", "partner_account")
        .order_by("sequence")
    ]) == entry.lines_hash  # fmt: skip

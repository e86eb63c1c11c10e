from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from comptoir.accounting import pcg, selectors, services
from comptoir.accounting.chain import GENESIS, verify_chain
from comptoir.accounting.models import (
    Account,
    AccountingSettings,
    EntryState,
    FiscalYear,
    FiscalYearState,
    Journal,
    JournalEntry,
    JournalLine,
)
from comptoir.accounting.tests.conftest import Ledger, open_previous_year, today
from comptoir.kernel.errors import Conflict, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent


def post(ledger: Ledger, **extra: Any) -> JournalEntry:
    actor = ledger.actor()
    entry = services.entry_create(actor=actor, **ledger.entry_data(**extra))
    return services.entry_post(actor=actor, entry_id=entry.pk)


def tamper(sql: str, params: list[Any]) -> None:
    """Change rows behind the application's back, as a database superuser could (triggers off)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


# --- Setup ----------------------------------------------------------------------------


def test_enabling_the_module_loads_the_pcg_chart_journals_and_year(ledger: Ledger) -> None:
    assert set(ledger.accounts) == {a.code for a in pcg.ACCOUNTS}
    assert set(ledger.journals) == {"VT", "AC", "BQ", "CA", "OD", "AN"}
    receivable = Account.objects.get(company_id=ledger.company_id, code="411")
    assert (receivable.type, receivable.reconcilable, receivable.name) == ("receivable", True, "Clients")
    assert Journal.objects.get(company_id=ledger.company_id, code="BQ").default_account_id == ledger.accounts["512"]
    year = FiscalYear.objects.get(company_id=ledger.company_id)
    assert (year.start_date, year.end_date) == (dt.date(today().year, 1, 1), dt.date(today().year, 12, 31))
    # The other company got nothing.
    assert not Account.objects.filter(company_id=ledger.personas.other_company.pk).exists()


def test_setup_is_idempotent_and_keeps_the_company_edits(ledger: Ledger) -> None:
    actor = ledger.actor()
    services.account_update(actor=actor, account_id=ledger.accounts["512"], name="Banque Populaire")
    Account.objects.filter(pk=ledger.accounts["310"]).delete()
    created = services.setup_company_accounting(actor=ledger.actor("admin"))
    assert created == {"accounts": 1, "journals": 0, "fiscal_years": 0}
    assert Account.objects.get(pk=ledger.accounts["512"]).name == "Banque Populaire"
    assert services.setup_company_accounting(actor=ledger.actor("admin")) == {
        "accounts": 0, "journals": 0, "fiscal_years": 0,
    }  # fmt: skip


def test_the_chart_holds_every_vat_account() -> None:
    from comptoir.accounting import vat

    assert set(vat.VAT_ACCOUNTS) <= {a.code for a in pcg.ACCOUNTS}


def test_english_names_only_for_unrenamed_standard_accounts() -> None:
    assert pcg.english_name("411", "Clients") == "Customers"
    assert pcg.english_name("411", "Clients France") == "Clients France"
    assert pcg.english_name("4110001", "Client X") == "Client X"


# --- Drafts ---------------------------------------------------------------------------


def test_every_problem_is_reported_per_field_and_nothing_is_written(ledger: Ledger) -> None:
    other_account = Account.objects.create(company=ledger.personas.other_company, code="706", name="Autre")
    lines = [
        ledger.line("411", debit="10.001"),  # 3 decimals
        ledger.line("706", credit="-5"),  # negative
        {"account_id": ledger.accounts["411"], "debit": "5"},  # no customer on a reconcilable account
        ledger.line("44571", debit="1", credit="1"),  # both sides
        {"account_id": other_account.pk, "credit": "3"},  # another company's account
        ledger.line("706", credit=1.5),  # a float
        ledger.line("706"),  # no amount
        ledger.line("512", debit="1", partner_account_id=ledger.customer.pk),  # partner on a bank account
        ledger.line("401", credit="1", partner_account_id=ledger.customer.pk),  # customer on 401
    ]
    with pytest.raises(ValidationFailed) as caught:
        services.entry_create(actor=ledger.actor(), journal_id=None, date="2026-13-01", label=" ", lines=lines,
                              bogus=1)  # fmt: skip
    fields = caught.value.fields
    assert set(fields) == {
        "journal_id", "date", "label", "bogus", "lines.0.debit", "lines.1.credit", "lines.2.partner_account_id",
        "lines.3.credit", "lines.4.account_id", "lines.5.credit", "lines.6.debit", "lines.7.partner_account_id",
        "lines.8.partner_account_id",
    }  # fmt: skip
    assert not JournalEntry.objects.exists() and not JournalLine.objects.exists()


def test_unbalanced_entry_is_refused_to_the_cent(ledger: Ledger) -> None:
    lines = [ledger.line("411", debit="100.00"), ledger.line("706", credit="99.99")]
    with pytest.raises(ValidationFailed) as caught:
        services.entry_create(actor=ledger.actor(), **ledger.entry_data(lines=lines))
    assert "lines" in caught.value.fields
    with pytest.raises(ValidationFailed) as caught:
        services.entry_create(actor=ledger.actor(), **ledger.entry_data(lines=[ledger.line("512", debit="1")]))
    assert "lines" in caught.value.fields
    assert not JournalEntry.objects.exists()


def test_inactive_account_refused(ledger: Ledger) -> None:
    services.account_set_active(actor=ledger.actor(), account_id=ledger.accounts["706"], active=False)
    with pytest.raises(ValidationFailed) as caught:
        services.entry_create(actor=ledger.actor(), **ledger.entry_data())
    assert "lines.1.account_id" in caught.value.fields


def test_update_replaces_lines_and_follows_the_date(ledger: Ledger) -> None:
    actor = ledger.actor()
    entry = services.entry_create(actor=actor, **ledger.entry_data())
    services.entry_update(actor=actor, entry_id=entry.pk, lines=ledger.sale("240.00"))
    assert JournalEntry.objects.get(pk=entry.pk).total == Decimal("240.00")
    assert JournalLine.objects.filter(entry=entry).count() == 3
    day = dt.date(today().year, 1, 2)
    services.entry_update(actor=actor, entry_id=entry.pk, date=day, journal_id=ledger.journals["OD"])
    assert set(JournalLine.objects.filter(entry=entry).values_list("date", "journal_id")) == {
        (day, ledger.journals["OD"])
    }
    services.entry_delete(actor=actor, entry_id=entry.pk)
    assert not JournalLine.objects.exists()


def test_roles_without_the_permission_are_refused(ledger: Ledger) -> None:
    for role in ("sales", "management", "marketing"):
        with pytest.raises(PermissionDenied):
            services.entry_create(actor=ledger.actor(role), **ledger.entry_data())
    with pytest.raises(PermissionDenied):
        selectors.entry_list(ledger.actor("sales"))
    assert selectors.entry_list(ledger.actor("management")).count() == 0
    with pytest.raises(PermissionDenied):
        services.lock_date_set(actor=ledger.actor("sales"), lock_date=today())


# --- Posting --------------------------------------------------------------------------


def test_post_numbers_per_journal_and_chains_company_wide(ledger: Ledger) -> None:
    actor = ledger.actor()
    first = services.entry_create(actor=actor, **ledger.entry_data())
    second = services.entry_create(actor=actor, **ledger.entry_data())
    posted = services.entry_post(actor=actor, entry_id=second.pk)
    assert (posted.number, posted.chain_number, posted.previous_hash) == (f"VT-{posted.date.year}-00001", 1, GENESIS)
    assert posted.ref == posted.number  # no reference given: the number is the supporting document's
    bank = post(ledger, journal="BQ", lines=[ledger.line("512", debit="5"), ledger.line("411", credit="5")])
    assert (bank.number, bank.chain_number, bank.previous_hash) == (f"BQ-{bank.date.year}-00001", 2, posted.hash)
    again = services.entry_post(actor=actor, entry_id=first.pk)
    assert (again.number, again.chain_number) == (f"VT-{again.date.year}-00002", 3)
    assert JournalLine.objects.filter(entry=again, is_posted=True).count() == 3
    stored = JournalEntry.objects.get(pk=first.pk)
    assert (stored.state, stored.hash, stored.fiscal_year_id) == (EntryState.POSTED, again.hash, again.fiscal_year_id)
    report = verify_chain(ledger.company_id)
    assert report.ok and report.entries == 3 and report.last_hash == again.hash
    assert AuditEntry.objects.filter(action="entry.post").count() == 3
    assert OutboxEvent.objects.filter(name="accounting.entry_posted").count() == 3


def test_posted_entries_are_frozen(ledger: Ledger) -> None:
    entry = post(ledger)
    actor = ledger.actor()
    with pytest.raises(Conflict):
        services.entry_update(actor=actor, entry_id=entry.pk, label="Changed")
    with pytest.raises(Conflict):
        services.entry_delete(actor=actor, entry_id=entry.pk)
    with pytest.raises(Conflict):
        services.entry_post(actor=actor, entry_id=entry.pk)
    loaded = JournalEntry.objects.get(pk=entry.pk)
    loaded.label = "Changed"
    with pytest.raises(Conflict):
        loaded.save()
    line = JournalLine.objects.filter(entry=entry).first()
    assert line is not None
    with pytest.raises(Conflict):
        line.delete()


def test_raw_sql_change_is_refused_by_postgresql_or_caught_by_verify(ledger: Ledger) -> None:
    entry = post(ledger)
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            JournalLine.objects.filter(entry=entry).update(debit=Decimal("1"))
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            JournalEntry.objects.filter(pk=entry.pk).delete()
        # Matching (lettering) stays possible on posted lines.
        JournalLine.objects.filter(entry=entry, account_id=ledger.accounts["411"]).update(matching_code="AA")
        assert verify_chain(ledger.company_id).ok
    else:
        JournalLine.objects.filter(entry=entry).update(label="changed")
        assert [a.kind for a in verify_chain(ledger.company_id).anomalies] == ["lines"]


def test_post_refuses_a_date_outside_any_fiscal_year(ledger: Ledger) -> None:
    actor = ledger.actor()
    entry = services.entry_create(actor=actor, **ledger.entry_data(date=dt.date(today().year + 1, 1, 5)))
    with pytest.raises(ValidationFailed) as caught:
        services.entry_post(actor=actor, entry_id=entry.pk)
    assert "date" in caught.value.fields
    assert JournalEntry.objects.get(pk=entry.pk).state == EntryState.DRAFT
    services.fiscal_year_create(actor=actor, start_date=dt.date(today().year + 1, 1, 1),
                                end_date=dt.date(today().year + 1, 12, 31))  # fmt: skip
    assert services.entry_post(actor=actor, entry_id=entry.pk).number == f"VT-{today().year + 1}-00001"


def test_post_refuses_an_entry_that_became_unpostable(ledger: Ledger) -> None:
    actor = ledger.actor()
    entry = services.entry_create(actor=actor, **ledger.entry_data())
    services.account_set_active(actor=actor, account_id=ledger.accounts["706"], active=False)
    with pytest.raises(ValidationFailed) as caught:
        services.entry_post(actor=actor, entry_id=entry.pk)
    assert "lines.1.account_id" in caught.value.fields


# --- Lock date and fiscal years -------------------------------------------------------


def test_lock_date_refuses_entries_on_or_before_it(ledger: Ledger) -> None:
    day = today() - dt.timedelta(days=20)
    manager = ledger.actor("management")
    open_previous_year(ledger)
    post(ledger, date=day)
    draft = services.entry_create(actor=ledger.actor(), **ledger.entry_data(date=day))
    with pytest.raises(ValidationFailed) as caught:
        services.lock_date_set(actor=manager, lock_date=day)
    assert "lock_date" in caught.value.fields  # a draft is dated in the period
    services.entry_delete(actor=ledger.actor(), entry_id=draft.pk)
    services.lock_date_set(actor=manager, lock_date=day)
    with pytest.raises(ValidationFailed) as caught:
        services.entry_create(actor=ledger.actor(), **ledger.entry_data(date=day))
    assert "date" in caught.value.fields
    with pytest.raises(ValidationFailed):
        services.lock_date_set(actor=manager, lock_date=day - dt.timedelta(days=1))  # never back
    with pytest.raises(ValidationFailed):
        services.lock_date_set(actor=manager, lock_date=today() + dt.timedelta(days=1))  # never ahead
    # A draft written before a lock set by another session cannot be posted after it.
    later = services.entry_create(actor=ledger.actor(), **ledger.entry_data(date=day + dt.timedelta(days=1)))
    AccountingSettings.objects.filter(company_id=ledger.company_id).update(lock_date=day + dt.timedelta(days=1))
    with pytest.raises(ValidationFailed) as caught:
        services.entry_post(actor=ledger.actor(), entry_id=later.pk)
    assert "date" in caught.value.fields


def test_fiscal_year_rules(ledger: Ledger) -> None:
    actor = ledger.actor()
    with pytest.raises(ValidationFailed) as caught:
        services.fiscal_year_create(actor=actor, start_date=dt.date(today().year, 6, 1),
                                    end_date=dt.date(today().year + 1, 5, 31))  # fmt: skip
    assert "start_date" in caught.value.fields  # overlaps
    with pytest.raises(ValidationFailed) as caught:
        services.fiscal_year_create(actor=actor, start_date=dt.date(today().year + 2, 1, 1),
                                    end_date=dt.date(today().year + 2, 12, 31))  # fmt: skip
    assert "start_date" in caught.value.fields  # leaves a hole
    with pytest.raises(ValidationFailed) as caught:
        services.fiscal_year_create(actor=actor, start_date=dt.date(today().year + 1, 1, 1),
                                    end_date=dt.date(today().year + 3, 1, 1))  # fmt: skip
    assert "end_date" in caught.value.fields  # more than 24 months
    long_first = services.fiscal_year_create(actor=actor, start_date=dt.date(today().year - 2, 6, 1),
                                             end_date=dt.date(today().year - 1, 12, 31))  # fmt: skip
    assert long_first.name == f"{today().year - 2}-{today().year - 1}"


def test_closing_a_year_locks_it_for_good(ledger: Ledger) -> None:
    actor, manager = ledger.actor(), ledger.actor("management")
    last = services.fiscal_year_create(actor=actor, start_date=dt.date(today().year - 1, 1, 1),
                                       end_date=dt.date(today().year - 1, 12, 31))  # fmt: skip
    day = dt.date(today().year - 1, 6, 30)
    draft = services.entry_create(actor=actor, **ledger.entry_data(date=day))
    with pytest.raises(Conflict):
        services.fiscal_year_close(actor=manager, fiscal_year_id=last.pk)  # a draft remains
    services.entry_post(actor=actor, entry_id=draft.pk)
    current = FiscalYear.objects.get(company_id=ledger.company_id, start_date=dt.date(today().year, 1, 1))
    with pytest.raises(Conflict):
        services.fiscal_year_close(actor=manager, fiscal_year_id=current.pk)  # not ended
    closed = services.fiscal_year_close(actor=manager, fiscal_year_id=last.pk)
    assert closed.state == FiscalYearState.CLOSED
    assert AccountingSettings.objects.get(company_id=ledger.company_id).lock_date == last.end_date
    with pytest.raises(Conflict):
        services.fiscal_year_close(actor=manager, fiscal_year_id=last.pk)
    with pytest.raises(ValidationFailed) as caught:
        services.entry_create(actor=actor, **ledger.entry_data(date=day))
    assert "date" in caught.value.fields


# --- Reversal -------------------------------------------------------------------------


def test_reversal_swaps_lines_links_and_posts(ledger: Ledger) -> None:
    original = post(ledger, ref="FA-1")
    actor = ledger.actor()
    reversal = services.entry_reverse(actor=actor, entry_id=original.pk, date=today())
    assert reversal.state == EntryState.POSTED and reversal.reversal_of_id == original.pk
    assert reversal.ref == original.number and original.number in reversal.label
    swapped = list(JournalLine.objects.filter(entry=reversal).order_by("sequence").values_list("debit", "credit"))
    originals = list(JournalLine.objects.filter(entry=original).order_by("sequence").values_list("credit", "debit"))
    assert swapped == originals
    balance = selectors.trial_balance(actor)
    assert all(row.balance == 0 for row in balance.rows)
    with pytest.raises(Conflict):
        services.entry_reverse(actor=actor, entry_id=original.pk, date=today())
    draft = services.entry_create(actor=actor, **ledger.entry_data())
    with pytest.raises(Conflict):
        services.entry_reverse(actor=actor, entry_id=draft.pk, date=today())
    assert verify_chain(ledger.company_id).ok


def test_an_entry_made_by_a_document_is_not_reversed_by_hand(ledger: Ledger) -> None:
    actor = ledger.actor()
    data = ledger.entry_data()
    with transaction.atomic():
        draft = services.create_entry(actor, source_type="accounting.payment", source_id="7", **data)
        entry = services.post_entry(actor, services._entry_locked(actor, draft.pk))
    with pytest.raises(Conflict) as refused:
        services.entry_reverse(actor=actor, entry_id=entry.pk, date=today())
    assert refused.value.code == "entry_from_document"
    assert not JournalEntry.objects.filter(reversal_of=entry).exists()


# --- Reports --------------------------------------------------------------------------


def test_trial_balance_and_general_ledger(ledger: Ledger) -> None:
    start = dt.date(today().year, 1, 1)
    post(ledger, date=start, lines=ledger.sale("120.00"))
    post(ledger, date=start + dt.timedelta(days=1), lines=ledger.sale("60.00"))
    post(ledger, journal="BQ", date=start + dt.timedelta(days=2),
         lines=[ledger.line("512", debit="120.00"), ledger.line("411", credit="120.00")])  # fmt: skip
    services.entry_create(actor=ledger.actor(), **ledger.entry_data())  # drafts are not in reports
    actor = ledger.actor("management")
    balance = selectors.trial_balance(actor)
    rows = {row.code: row for row in balance.rows}
    assert (rows["411"].debit, rows["411"].credit, rows["411"].balance) == (
        Decimal("180.00"), Decimal("120.00"), Decimal("60.00"),
    )  # fmt: skip
    assert rows["706"].credit == Decimal("150.00") and rows["44571"].credit == Decimal("30.00")
    assert balance.total_debit == balance.total_credit == Decimal("300.00")
    by_partner = selectors.trial_balance(actor, by_partner=True)
    assert {(r.code, r.partner_code) for r in by_partner.rows if r.code == "411"} == {("411", ledger.customer.code)}
    later = selectors.trial_balance(actor, date_from=start + dt.timedelta(days=1))
    assert {r.code: r.debit for r in later.rows}["411"] == Decimal("60.00")

    account, opening, lines = selectors.general_ledger(actor, account_id=ledger.accounts["411"],
                                                       date_from=start + dt.timedelta(days=1))  # fmt: skip
    assert opening == Decimal("120.00")
    shown = selectors.ledger_rows(list(lines), opening)
    assert [row["balance"] for row in shown] == [Decimal("180.00"), Decimal("60.00")]
    assert account.code == "411"
    with pytest.raises(ValidationFailed):
        selectors.trial_balance(actor, date_from=start, date_to=start - dt.timedelta(days=1))


# --- Verification ---------------------------------------------------------------------


def test_verify_pinpoints_a_changed_amount(ledger: Ledger) -> None:
    entries = [post(ledger) for _ in range(4)]
    target = entries[2]
    line_id = JournalLine.objects.filter(entry=target, account_id=ledger.accounts["706"]).values_list("pk", flat=True)[
        0
    ]
    tamper("UPDATE accounting_journalline SET credit = credit + 100 WHERE id = %s", [line_id])
    report = verify_chain(ledger.company_id)
    assert report.first_broken is not None
    assert (report.first_broken.chain_number, report.first_broken.entry_id) == (3, target.pk)
    assert {a.kind for a in report.anomalies} == {"lines", "unbalanced"}
    assert {a.chain_number for a in report.anomalies} == {3}
    with pytest.raises(CommandError) as caught:
        call_command("verify_ledger", company=ledger.company_id)
    assert caught.value.returncode == 1


def test_verify_reports_changed_headers_and_missing_entries(ledger: Ledger) -> None:
    entries = [post(ledger) for _ in range(5)]
    tamper("UPDATE accounting_journalentry SET label = 'Autre' WHERE id = %s", [entries[1].pk])
    tamper("DELETE FROM accounting_journalline WHERE entry_id = %s", [entries[3].pk])
    tamper("DELETE FROM accounting_journalentry WHERE id = %s", [entries[3].pk])
    tamper("DELETE FROM accounting_journalline WHERE entry_id = %s", [entries[4].pk])
    tamper("DELETE FROM accounting_journalentry WHERE id = %s", [entries[4].pk])
    kinds = [(a.kind, a.chain_number) for a in verify_chain(ledger.company_id).anomalies]
    assert kinds == [("hash", 2), ("missing_tail", 4)]


def test_verify_reports_a_gap_and_a_broken_link(ledger: Ledger) -> None:
    entries = [post(ledger) for _ in range(3)]
    tamper("DELETE FROM accounting_journalline WHERE entry_id = %s", [entries[1].pk])
    tamper("DELETE FROM accounting_journalentry WHERE id = %s", [entries[1].pk])
    kinds = [(a.kind, a.chain_number) for a in verify_chain(ledger.company_id).anomalies]
    assert kinds == [("gap", 3), ("previous_hash", 3)]


def test_verify_command_ok(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    post(ledger)
    call_command("verify_ledger", company=ledger.company_id)
    assert "Ledger chain intact" in capsys.readouterr().out

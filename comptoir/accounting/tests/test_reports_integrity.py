"""The ledger chain in ``comptoir check-integrity``: intact books pass, tampered ones fail."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from comptoir.accounting import services
from comptoir.accounting.models import JournalEntry
from comptoir.accounting.tests.conftest import Ledger
from comptoir.accounting.tests.test_services import tamper
from comptoir.kernel.integrity import registered_checks, run_all

pytestmark = pytest.mark.django_db


def post(ledger: Ledger) -> JournalEntry:
    actor = ledger.actor()
    entry = services.entry_create(actor=actor, **ledger.entry_data())
    return services.entry_post(actor=actor, entry_id=entry.pk)


def test_the_ledger_check_is_registered() -> None:
    assert "accounting.ledger" in registered_checks()


def test_check_integrity_verifies_every_ledger_and_lists_a_tampered_entry(ledger: Ledger) -> None:
    entries = [post(ledger) for _ in range(3)]
    out = io.StringIO()
    call_command("check_integrity", stdout=out)
    assert "1 ledger companies, 3 posted entries" in out.getvalue() and "Integrity OK" in out.getvalue()

    tamper("UPDATE accounting_journalline SET label = %s WHERE entry_id = %s", ["edited", entries[1].pk])
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("check_integrity", stdout=out)
    assert caught.value.returncode == 1
    problems = [line for line in out.getvalue().splitlines() if line.startswith("PROBLEM")]
    assert problems == [
        f"PROBLEM: ledger of company {ledger.company_id}: #{entries[1].chain_number} {entries[1].number} [lines] "
        + next(a.message for a in _anomalies(ledger) if a.kind == "lines")
    ]


def _anomalies(ledger: Ledger) -> list:  # type: ignore[type-arg]
    from comptoir.accounting.chain import verify_chain

    return verify_chain(ledger.company_id).anomalies


def test_a_company_without_accounting_is_not_verified(ledger: Ledger) -> None:
    post(ledger)
    from comptoir.org.services import module_set

    module_set(actor=ledger.actor("admin"), module="accounting", enabled=False)
    report = run_all()
    assert "ledger_companies" not in report.checked and report.ok, report.problems

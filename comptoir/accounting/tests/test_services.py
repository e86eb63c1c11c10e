from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from comptoir.accounting import services
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import EntryState, JournalEntry, JournalLine
from comptoir.accounting.tests.conftest import Ledger


def test_post_numbers_and_chains(ledger: Ledger) -> None:
    actor = ledger.actor()
    first = services.entry_create(actor=actor, **ledger.entry_data())
    second = services.entry_create(actor=actor, **ledger.entry_data())
    posted = services.entry_post(actor=actor, entry_id=second.pk)
    year = dt.date.today().year
    assert posted.number == f"VT-{year}-00001"
    assert posted.chain_number == 1
    again = services.entry_post(actor=actor, entry_id=first.pk)
    assert again.number == f"VT-{year}-00002"
    assert again.previous_hash == posted.hash
    assert JournalLine.objects.filter(entry=again, is_posted=True).count() == 3
    report = verify_chain(ledger.company_id)
    assert report.ok and report.entries == 2
    assert JournalEntry.objects.get(pk=first.pk).state == EntryState.POSTED
    assert Decimal(posted.total) == Decimal("120.00")

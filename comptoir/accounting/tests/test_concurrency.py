"""Posting under real concurrency: 8 threads, each with its own database connection, post
200 entries into 3 journals. Posting numbers must be 1..N without gap, journal numbers
unique, and the hash chain must verify (each entry chained to the one posted just before).

On PostgreSQL the posting counter's row lock serialises the chain; on SQLite the same test
runs, serialised by IMMEDIATE transactions.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from comptoir.accounting import services
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import EntryState, JournalEntry
from comptoir.accounting.tests.conftest import make_ledger
from comptoir.org.testing import make_personas

THREADS = 8
ENTRIES = 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_writers_post_a_gapless_verified_chain() -> None:
    ledger = make_ledger(make_personas())
    actor = ledger.actor()
    journals = ["VT", "AC", "OD"]
    drafts = [
        services.entry_create(actor=actor, **ledger.entry_data(journal=journals[i % 3], date=dt.date.today())).pk
        for i in range(ENTRIES)
    ]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            for entry_id in drafts[index::THREADS]:
                services.entry_post(actor=actor, entry_id=entry_id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[:3]
    posted = JournalEntry.objects.filter(company_id=ledger.company_id, state=EntryState.POSTED)
    chain_numbers = sorted(posted.values_list("chain_number", flat=True))
    assert chain_numbers == list(range(1, ENTRIES + 1))
    numbers = list(posted.values_list("number", flat=True))
    assert len(set(numbers)) == ENTRIES
    year = dt.date.today().year
    for code in journals:
        taken = sorted(n for n in numbers if n.startswith(f"{code}-"))
        assert taken == [f"{code}-{year}-{n:05}" for n in range(1, len(taken) + 1)]
    report = verify_chain(ledger.company_id)
    assert report.ok, report.anomalies[:3]
    assert report.entries == ENTRIES

"""Gapless numbering under real concurrency: 8 threads, each with its own database connection.

On PostgreSQL the counter row lock (SELECT … FOR UPDATE) is what keeps numbers unique and
gapless; on SQLite the same test runs, serialized by IMMEDIATE transactions.
"""

import datetime as dt
import random
import threading

import pytest
from django.db import connection, transaction

from comptoir.kernel import sequences
from comptoir.kernel.integrity import Report, check_sequences
from comptoir.kernel.models import DocumentSequence, IssuedNumber

THREADS = 8
ATTEMPTS = 1_000
ROLLBACK_RATE = 0.05
COMPANY_ID = 77


class ForcedRollback(Exception):
    pass


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_writers_issue_gapless_unique_numbers():
    barrier = threading.Barrier(THREADS)
    committed: list[list[tuple[int, str]]] = [[] for _ in range(THREADS)]
    rolled_back = [0] * THREADS
    errors: list[BaseException] = []
    vendor = connection.vendor

    def writer(index: int) -> None:
        rng = random.Random(1000 + index)
        try:
            barrier.wait(timeout=30)
            for attempt in range(ATTEMPTS // THREADS):
                try:
                    with transaction.atomic():
                        assert connection.vendor == vendor
                        issued = sequences.next_number(
                            company_id=COMPANY_ID,
                            kind="conc",
                            on_date=dt.date(2026, 3, 1),
                            object_type="test.doc",
                            object_id=f"{index}-{attempt}",
                        )
                        if rng.random() < ROLLBACK_RATE:
                            raise ForcedRollback
                except ForcedRollback:
                    rolled_back[index] += 1
                    continue
                committed[index].append((issued.value, issued.number))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors

    values = sorted(value for per_thread in committed for value, _ in per_thread)
    n = len(values)
    assert n + sum(rolled_back) == ATTEMPTS
    assert sum(rolled_back) > 0, "the seeded RNG must force some rollbacks"
    assert n < ATTEMPTS
    # Exactly 1..N: no gap, no duplicate.
    assert values == list(range(1, n + 1))
    numbers = {number for per_thread in committed for _, number in per_thread}
    assert len(numbers) == n
    assert f"CON-2026-{n:05}" in numbers

    # The ledger agrees with what the writers saw committed.
    seq = DocumentSequence.objects.get(company_id=COMPANY_ID, kind="conc", year=2026)
    assert seq.next_value == n + 1
    ledger = dict(IssuedNumber.objects.filter(sequence=seq).values_list("value", "number"))
    assert ledger == {value: number for per_thread in committed for value, number in per_thread}
    # Every writer got some numbers: the lock queues writers, it does not starve them.
    assert all(per_thread for per_thread in committed)

    report = Report()
    check_sequences(report)
    assert report.ok, report.problems

"""Statement imports under real concurrency: 6 threads, each with its own connection.

* The same file sent six times at once (a double click times six) is imported once; the
  others are refused as already imported — no database error, no duplicate line.
* Six overlapping exports (different files, the same bank transactions) add each
  transaction once: the account row is locked before the duplicate checks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from comptoir.banking.imports import statement_import
from comptoir.banking.models import BankStatement, BankStatementLine
from comptoir.banking.tests.kit import make_account, read, setup_banking
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.testing import make_personas

THREADS = 6


def run_together(work: Callable[[int], Any]) -> tuple[list[Any], list[ValidationFailed], list[BaseException]]:
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    refused: list[ValidationFailed] = []
    errors: list[BaseException] = []

    def thread(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(work(index))
        except ValidationFailed as exc:
            refused.append(exc)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(THREADS)]
    for each in threads:
        each.start()
    for each in threads:
        each.join(timeout=300)
    return results, refused, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_file_sent_six_times_at_once_is_imported_once() -> None:
    personas = make_personas()
    setup_banking(personas)
    account = make_account(personas)
    actor = personas.actor("finance")
    data = read("camt053_v02.xml")

    results, refused, errors = run_together(
        lambda _i: statement_import(actor=actor, data=data, bank_account_id=account.pk)
    )
    assert not errors, errors[:3]
    assert len(results) == 1 and len(refused) == THREADS - 1
    assert all(exc.code == "already_imported" for exc in refused)
    assert BankStatement.objects.count() == 1 and BankStatementLine.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_exports_at_once_add_each_transaction_once() -> None:
    personas = make_personas()
    setup_banking(personas)
    account = make_account(personas)
    actor = personas.actor("finance")
    base = read("ofx2_xml.ofx")

    def work(index: int) -> Any:
        # Each export differs (its server time), so each is a new file with the same lines.
        data = base.replace(b"20260601083000", f"2026060108300{index}".encode())
        return statement_import(actor=actor, data=data, bank_account_id=account.pk)

    results, refused, errors = run_together(work)
    assert not errors and not refused, (errors + refused)[:3]
    assert sorted(r.imported for r in results) == [0] * (THREADS - 1) + [2]
    assert sum(r.skipped for r in results) == 2 * (THREADS - 1)
    assert BankStatementLine.objects.filter(bank_account=account).count() == 2

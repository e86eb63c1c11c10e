"""Year-end closing beside a lock-date change: both take the settings row, then the posting counter."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from comptoir.accounting import closing, services
from comptoir.accounting.models import AccountingSettings, FiscalYearState
from comptoir.accounting.tests.conftest import make_ledger
from comptoir.accounting.tests.test_closing import book_a_year, last_year
from comptoir.org.testing import make_personas


def _waiting_backends() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock'")  # fmt: skip
        return int(cursor.fetchone()[0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_closing_waits_behind_a_lock_date_change_instead_of_deadlocking() -> None:
    ledger = make_ledger(make_personas())
    year = last_year(ledger)
    book_a_year(ledger)
    company_id = ledger.company_id
    services._settings(company_id)
    if connection.vendor != "postgresql":  # SQLite has no row locks: IMMEDIATE transactions run one after the other
        services.lock_date_set(actor=ledger.actor(), lock_date=year.start_date)
        assert closing.year_end_close(actor=ledger.actor(), fiscal_year_id=year.pk).state == FiscalYearState.CLOSED
        return
    held, errors = threading.Event(), []

    def lock_date_change() -> None:  # what lock_date_set does: the settings row, then the posting counter
        try:
            with transaction.atomic():
                services._settings(company_id, lock=True)
                held.set()
                deadline = time.monotonic() + 10
                while _waiting_backends() == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)  # until the closing waits
                time.sleep(0.2)
                services._serialise_with_posting(company_id)
        except BaseException as exc:  # a deadlock would be reported here or in the closing
            errors.append(exc)
        finally:
            connection.close()

    def close() -> None:
        try:
            held.wait(10)
            closing.year_end_close(actor=ledger.actor(), fiscal_year_id=year.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=lock_date_change), threading.Thread(target=close)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    year.refresh_from_db()
    assert year.state == FiscalYearState.CLOSED
    assert AccountingSettings.objects.get(company_id=company_id).lock_date == year.end_date

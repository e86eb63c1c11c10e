"""One-click accept under a double submit, with real concurrent connections.

Two (and eight) requests accepting the same proposal of one statement line at the same
moment: the statement line row is locked first, so the second waits, then finds the line
reconciled by the first and gets its match back. Exactly one payment, one match, the
invoice paid once. On SQLite the same test runs, serialised by IMMEDIATE transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from comptoir.accounting.models import InvoiceState
from comptoir.accounting.models_payments import Payment
from comptoir.accounting.tests.payments_kit import post_invoice
from comptoir.banking import reconcile
from comptoir.banking.models import BankStatementLine, LineState
from comptoir.banking.models_rules import StatementLineMatch
from comptoir.banking.tests.reconcile_kit import fresh, make_bank
from comptoir.org.testing import make_personas


def run_together(count: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []

    def thread(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(work(index))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(count)]
    for each in threads:
        each.start()
    for each in threads:
        each.join(timeout=300)
    return results, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("clicks", [2, 8])
def test_concurrent_accepts_pay_once(clicks: int) -> None:
    bank = make_bank(make_personas())
    invoice = post_invoice(bank.books, "100.00")  # 120.00
    line = bank.line("120.00", label=f"VIR {invoice.number}")
    actor = bank.actor()

    def click(_index: int) -> StatementLineMatch:
        return reconcile.accept(actor=actor, line_id=line.pk, proposal=f"inv:{invoice.pk}")

    results, errors = run_together(clicks, click)
    assert not errors, errors[:3]
    assert len(results) == clicks and len({match.pk for match in results}) == 1
    assert Payment.objects.filter(company_id=bank.company_id).count() == 1
    assert StatementLineMatch.objects.filter(line=line).count() == 1
    assert BankStatementLine.objects.get(pk=line.pk).state == LineState.RECONCILED
    paid = fresh(invoice)
    assert paid.state == InvoiceState.PAID and paid.residual_amount == Decimal(0)

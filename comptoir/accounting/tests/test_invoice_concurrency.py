"""Posting invoices under real concurrency: 8 threads, each with its own connection, post
50 invoices each; some postings are rolled back on purpose after the number was taken.
The numbers must be 1..N without gap or duplicate, numbers must follow the dates, every
entry must balance and the ledger's hash chain must verify.

The Factur-X rendering is deferred to a task (a dummy backend keeps the tasks without
running them): what is measured here is numbering and booking.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from comptoir.accounting import invoices
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import Invoice, InvoiceFile, InvoiceState, JournalLine
from comptoir.accounting.tests.invoices_kit import line, make_books, organization
from comptoir.org.testing import make_personas

THREADS = 8
PER_THREAD = 50


class ForcedRollback(Exception):
    pass


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_writers_post_gapless_invoice_numbers(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    books = make_books(make_personas())
    actor = books.actor()
    # Half the invoices go to a customer without a partner account yet: the first postings
    # race to create it (the organization's row lock) while others hold the invoice counter.
    newcomer = organization(books.company_id, "Nouveau Client SAS", siren="443061841")
    drafts = [
        books.invoice([line("Pain", str(1 + i % 5), "1.17", vat_category="reduced"), line("Four", "1", "999.99"),
                       line("Conseil", "0.5", "80", operation="services")],
                      organization=newcomer if i % 2 else books.customer).pk
        for i in range(THREADS * PER_THREAD)
    ]  # fmt: skip
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    rolled_back = [0] * THREADS

    def writer(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            for position, invoice_id in enumerate(drafts[index::THREADS]):
                if position % 9 == 4:
                    # Take a number, book the entry, then fail: everything must come back.
                    try:
                        with transaction.atomic():
                            invoices.invoice_post(actor=actor, invoice_id=invoice_id, render_pdf=False)
                            raise ForcedRollback
                    except ForcedRollback:
                        rolled_back[index] += 1
                invoices.invoice_post(actor=actor, invoice_id=invoice_id, render_pdf=False)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors[:3]
    assert sum(rolled_back) > 0
    total = THREADS * PER_THREAD
    posted = Invoice.objects.filter(company_id=books.company_id, state=InvoiceState.POSTED)
    assert posted.count() == total
    year = dt.date.today().year
    numbers = sorted(posted.values_list("number", flat=True))
    assert numbers == [f"FA-{year}-{n:05}" for n in range(1, total + 1)]
    # Every entry balances and carries the invoice's total on the receivable side.
    sums = (
        JournalLine.objects.filter(entry__in=posted.values("journal_entry_id"))
        .values("entry_id").annotate(debit=Sum("debit"), credit=Sum("credit")).order_by()
    )  # fmt: skip
    assert len(sums) == total
    assert all(row["debit"] == row["credit"] > 0 for row in sums)
    # One quantity of bread: 1.17 + 999.99 + 40.00 net, VAT 0.06 (5.5 %) + 208.00 (20 % on 1,039.99).
    assert Decimal("1249.22") in set(posted.values_list("total_amount", flat=True))
    report = verify_chain(books.company_id)
    assert report.ok, report.anomalies[:3]
    assert report.entries == total
    # The PDFs were left to the (not running) task; rendering one later issues it once.
    assert not InvoiceFile.objects.filter(invoice__company_id=books.company_id).exists()
    first = posted.order_by("number").first()
    assert first is not None and invoices.invoice_pdf_render(first.pk) and not invoices.invoice_pdf_render(first.pk)

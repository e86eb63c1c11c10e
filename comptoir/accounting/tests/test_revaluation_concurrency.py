"""Two connections revaluing the same date at once post one revaluation: the second, having
waited on the partner locks, finds the first one committed and is refused (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from comptoir.accounting import revaluation
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import JournalEntry
from comptoir.accounting.tests.invoices_kit import make_books
from comptoir.accounting.tests.test_credit_allocation_concurrency import run_together
from comptoir.accounting.tests.test_multi_currency import DAY2, set_rates, usd_invoice
from comptoir.kernel.errors import Conflict
from comptoir.org.testing import make_personas


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_connections_revaluing_one_date_post_it_once() -> None:
    books = make_books(make_personas())
    set_rates(books)
    usd_invoice(books)
    usd_invoice(books, "500.00")
    actor = books.actor()

    def work(index: int) -> Any:
        return revaluation.revalue(actor=actor, date=DAY2)

    results, refused, errors = run_together(2, work)
    assert len(results) == 1 and not refused
    assert len(errors) == 1 and isinstance(errors[0], Conflict) and errors[0].code == "already_revalued"
    entries = JournalEntry.objects.filter(company_id=books.company_id, source_type=revaluation.SOURCE_TYPE)
    # The revaluation, its reversal, the provision for the loss and its reversal: each once.
    source_ids = list(entries.values_list("source_id", flat=True))
    assert len(source_ids) == 4 and len(set(source_ids)) == 4
    assert verify_chain(books.company_id).ok

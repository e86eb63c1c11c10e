"""Automatic dunning's daily task reads which companies are due in one query: a company skipped
(accounting off, or already run today) costs nothing, and a company due costs only its own run."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounting import dunning
from comptoir.accounting.models import DunningSettings
from comptoir.accounting.tests.invoices_kit import Books, make_books
from comptoir.kernel.models import ModuleActivation
from comptoir.org.models import Company
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def companies(count: int, *, accounting: bool, last_auto_run: object = None) -> list[int]:
    """``count`` more companies with automatic reminders on (nothing overdue: their runs record nothing)."""
    made = []
    for index in range(count):
        company = Company.objects.create(name=f"Filiale {accounting} {last_auto_run} {index}")
        ModuleActivation.objects.create(company_id=company.pk, module="accounting", enabled=accounting)
        DunningSettings.objects.create(company=company, auto_enabled=True, last_auto_run=last_auto_run)
        made.append(company.pk)
    return made


def queries_of_all() -> tuple[int, dict[int, int]]:
    with CaptureQueriesContext(connection) as queries:
        done = dunning.run_automatic_all(timezone.localdate())
    return len(queries.captured_queries), done


def queries_of_each(company_ids: list[int]) -> int:
    """The companies' own runs one by one, from the same state (not run yet today)."""
    DunningSettings.objects.filter(company_id__in=company_ids).update(last_auto_run=None)
    with CaptureQueriesContext(connection) as queries:
        for company_id in company_ids:
            assert dunning.run_automatic(company_id, timezone.localdate()) == []
    return len(queries.captured_queries)


def test_companies_skipped_cost_nothing_and_each_company_due_only_its_own_run(books: Books) -> None:
    dunning.settings_update(actor=books.actor(), auto_enabled=True)
    today = timezone.localdate()
    # Skipped, however many: automatic reminders on but accounting off, or already run today.
    companies(1, accounting=False)
    companies(1, accounting=True, last_auto_run=today)
    DunningSettings.objects.filter(company_id=books.company_id).update(last_auto_run=today)
    assert queries_of_all() == (1, {})
    companies(4, accounting=False)
    companies(4, accounting=True, last_auto_run=today)
    assert queries_of_all() == (1, {})  # ten companies skipped: still the one query that picks them

    # Due: one company, then three; past each company's own run, the task adds the one query.
    DunningSettings.objects.filter(company_id=books.company_id).update(last_auto_run=None)
    count, done = queries_of_all()
    assert done == {books.company_id: 0}
    assert count == 1 + queries_of_each([books.company_id])
    due = [books.company_id, *companies(2, accounting=True)]
    DunningSettings.objects.filter(company_id__in=due).update(last_auto_run=None)
    count, done = queries_of_all()
    assert done == dict.fromkeys(due, 0)
    assert count == 1 + queries_of_each(due)

"""The year-end revaluation books each invoice's unrealised difference on the invoice's site."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from comptoir.accounting import currency, revaluation
from comptoir.accounting.models import JournalLine
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.org.models import Site
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)  # last year's fiscal year is open too: the dates below are in it


def lines_by_site(entry_id: int | None) -> dict[tuple[str, int | None], tuple[D, D]]:
    rows = JournalLine.objects.filter(entry_id=entry_id).values_list("account__code", "site_id", "debit", "credit")
    return {(code, site): (debit, credit) for code, site, debit, credit in rows}


def test_each_site_carries_its_own_unrealised_differences_and_balances(books: Books, personas: Personas) -> None:
    year = dt.date.today().year - 1  # a fixed day of last year: no dependency on today's date
    day1, day2 = dt.date(year, 6, 10), dt.date(year, 6, 20)
    actor = books.actor()
    currency.rate_set(actor=actor, currency="USD", date=day1, rate="1.1")
    currency.rate_set(actor=actor, currency="USD", date=day2, rate="1.25")
    head = Site.objects.get(company=personas.company, is_head_office=True)
    branch = Site.objects.create(company=personas.company, name="Atelier Grenoble", siret="84215763800029")
    at_head = books.posted([line(unit_price="1000.00")], currency="USD", issue_date=day1, site_id=head.pk)
    at_branch = books.posted([line(unit_price="500.00")], currency="USD", issue_date=day1, site_id=branch.pk)
    # 1200 USD booked 1090.91 EUR, now 960.00: −130.91; 600 USD booked 454.55 + 90.91 = 545.46, now 480.00: −65.46.
    done = revaluation.revalue(actor=actor, date=day2)
    assert done.entry is not None and done.reversal is not None
    rows = lines_by_site(done.entry.pk)
    assert rows == {
        ("411", head.pk): (D(0), D("130.91")), ("411", branch.pk): (D(0), D("65.46")),
        ("476", head.pk): (D("130.91"), D(0)), ("476", branch.pk): (D("65.46"), D(0)),
    }  # fmt: skip
    reversed_rows = lines_by_site(done.reversal.pk)
    assert {key: (credit, debit) for key, (debit, credit) in reversed_rows.items()} == rows
    for site in (head, branch):  # a site's statements balance on their own
        totals = [sum(values) for values in zip(*(v for (_c, s), v in rows.items() if s == site.pk), strict=True)]
        assert totals[0] == totals[1]
    assert {at_head.site_id, at_branch.site_id} == {head.pk, branch.pk}

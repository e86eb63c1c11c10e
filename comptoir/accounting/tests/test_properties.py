"""Property tests: any balanced entry posts and keeps the ledger balanced; an unbalanced
one never posts; the chain verifies whatever was posted."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comptoir.accounting import selectors, services
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import JournalEntry
from comptoir.accounting.tests.conftest import Ledger, today
from comptoir.kernel.errors import ValidationFailed

pytestmark = pytest.mark.django_db
# Accounts without a partner requirement, so any of them fits any line.
CODES = ["512", "530", "607", "6064", "706", "707", "44566", "44571", "101", "471"]
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True
)

cents = st.integers(min_value=1, max_value=10**11)


@st.composite
def balanced_lines(draw: st.DrawFn) -> list[tuple[str, str, int]]:
    """Random debits, and credits that split their total at random cut points."""
    debits = draw(st.lists(cents, min_size=1, max_size=5))
    total = sum(debits)
    cuts = sorted(draw(st.lists(st.integers(1, total - 1), max_size=4, unique=True))) if total > 1 else []
    bounds = [0, *cuts, total]
    credits = [b - a for a, b in itertools.pairwise(bounds)]
    lines = [("debit", draw(st.sampled_from(CODES)), amount) for amount in debits]
    lines += [("credit", draw(st.sampled_from(CODES)), amount) for amount in credits]
    return draw(st.permutations(lines))


def as_lines(ledger: Ledger, drawn: list[tuple[str, str, int]]) -> list[dict[str, str]]:
    return [ledger.line(code, **{side: str(Decimal(amount).scaleb(-2))}) for side, code, amount in drawn]


@SETTINGS
@given(drawn=balanced_lines(), offset=st.integers(0, 30))
def test_balanced_entries_post_and_the_trial_balance_sums_to_zero(
    ledger: Ledger, drawn: list[tuple[str, str, int]], offset: int
) -> None:
    actor = ledger.actor()
    day = max(today() - dt.timedelta(days=offset), dt.date(today().year, 1, 1))
    entry = services.entry_create(actor=actor, journal_id=ledger.journals["OD"], date=day, label="Écriture",
                                  lines=as_lines(ledger, drawn))  # fmt: skip
    posted = services.entry_post(actor=actor, entry_id=entry.pk)
    assert posted.total == Decimal(sum(a for side, _c, a in drawn if side == "debit")).scaleb(-2)
    balance = selectors.trial_balance(actor)
    assert balance.total_debit == balance.total_credit
    assert sum((row.balance for row in balance.rows), Decimal(0)) == 0


@SETTINGS
@given(drawn=balanced_lines(), skew=st.integers(min_value=1, max_value=10**6), which=st.integers(0, 20))
def test_unbalanced_entries_never_post(
    ledger: Ledger, drawn: list[tuple[str, str, int]], skew: int, which: int
) -> None:
    index = which % len(drawn)
    side, code, amount = drawn[index]
    drawn = [*drawn[:index], (side, code, amount + skew), *drawn[index + 1 :]]
    before = JournalEntry.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        services.entry_create(actor=ledger.actor(), journal_id=ledger.journals["OD"], date=today(), label="X",
                              lines=as_lines(ledger, drawn))  # fmt: skip
    assert "lines" in caught.value.fields
    assert JournalEntry.objects.count() == before


def test_the_chain_verifies_after_many_random_postings(ledger: Ledger) -> None:
    """Runs after the hypothesis examples above in the same spirit: a long chain stays intact."""
    actor = ledger.actor()
    for amount in range(1, 41):
        lines = [ledger.line("512", debit=f"{amount}.{amount % 100:02}"),
                 ledger.line("706", credit=f"{amount}.{amount % 100:02}")]  # fmt: skip
        entry = services.entry_create(actor=actor, journal_id=ledger.journals["BQ"], date=today(), label="V",
                                      lines=lines)  # fmt: skip
        services.entry_post(actor=actor, entry_id=entry.pk)
    report = verify_chain(ledger.company_id)
    assert report.ok and report.entries == 40 and report.last_chain_number == 40

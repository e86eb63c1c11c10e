"""Year-end closing waits for the year's bank lines (banking's check in accounting's registry)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from comptoir.accounting import closing, services
from comptoir.accounting.models import FiscalYear
from comptoir.banking.models import BankStatement, BankStatementLine, LineState
from comptoir.banking.tests.kit import make_account, setup_banking
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


def test_unreconciled_bank_lines_of_the_year_block_the_closing(personas: Personas) -> None:
    setup_banking(personas)
    account = make_account(personas)
    actor = personas.actor("finance")
    # The year before the one opened at setup (read from it: a run may cross midnight on 31 December).
    last = FiscalYear.objects.get(company_id=personas.company.pk).start_date.year - 1
    year = services.fiscal_year_create(actor=actor, start_date=dt.date(last, 1, 1), end_date=dt.date(last, 12, 31))
    statement = BankStatement.objects.create(
        company=personas.company, bank_account=account, date_from=dt.date(last, 12, 1),
        date_to=dt.date(last, 12, 31), source_format="csv", file_sha256="0" * 64,
    )  # fmt: skip
    line = BankStatementLine.objects.create(
        company=personas.company, statement=statement, bank_account=account, booking_date=dt.date(last, 12, 30),
        amount=Decimal("-12.50"), label="Frais bancaires",
    )  # fmt: skip
    # A line of the next year does not concern this closing.
    BankStatementLine.objects.create(
        company=personas.company, statement=statement, bank_account=account, booking_date=dt.date(last + 1, 1, 2),
        amount=Decimal("10.00"), label="Virement", position=1,
    )  # fmt: skip
    [problem] = [p for p in closing.closing_preview(actor, year.pk).blocking if p.code == "unreconciled_bank_lines"]
    assert problem.count == 1
    BankStatementLine.objects.filter(pk=line.pk).update(state=LineState.IGNORED)
    assert closing.closing_preview(actor, year.pk).can_close
    closing.year_end_close(actor=actor, fiscal_year_id=year.pk)

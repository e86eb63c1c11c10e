"""What banking adds to accounting's year-end checks: bank lines of the year not reconciled.

Registered with ``accounting.closing.register_check`` (accounting never imports banking).
A line is handled once reconciled or ignored with a reason; until then the year's bank
balance is not proven, so closing waits.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from comptoir.accounting.closing import Problem
from comptoir.accounting.models import FiscalYear
from comptoir.banking.models import BankStatementLine, LineState


def unreconciled_lines(company_id: int, year: FiscalYear) -> list[Problem]:
    count = BankStatementLine.objects.filter(
        company_id=company_id, state=LineState.OPEN, booking_date__lte=year.end_date
    ).count()
    if not count:
        return []
    return [Problem("unreconciled_bank_lines", _(
        "%(n)s bank statement lines dated up to the end of the year are not reconciled: "
        "reconcile or ignore them first."
    ) % {"n": count}, count=count)]  # fmt: skip


def register() -> None:
    from comptoir.accounting import closing

    closing.register_check("banking.unreconciled_lines", unreconciled_lines)

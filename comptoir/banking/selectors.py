"""Reads of bank accounts, statements and lines, starting from what the actor may see.

Record rule: everything in banking needs ``banking.view_bank`` (finance, management) and
stays within the actor's company. A bank account of another company is a 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from comptoir.banking.models import BankAccount, BankStatement, BankStatementLine, CsvMapping, LineState
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed


def bank_accounts(actor: Actor, *, include_archived: bool = False) -> QuerySet[BankAccount]:
    require(actor, "banking.view_bank")
    queryset = BankAccount.objects.filter(company_id=actor.company_id).select_related("journal", "account")
    if not include_archived:
        queryset = queryset.filter(active=True)
    open_lines = (
        BankStatementLine.objects.filter(bank_account=OuterRef("pk"), state=LineState.OPEN)
        .order_by()
        .values("bank_account")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_statement = BankStatement.objects.filter(bank_account=OuterRef("pk")).order_by("-date_to", "-id")
    return queryset.annotate(
        open_lines=Coalesce(Subquery(open_lines), 0),
        last_statement_date=Subquery(last_statement.values("date_to")[:1]),
    ).order_by("name", "id")


def bank_account(actor: Actor, bank_account_id: Any) -> BankAccount:
    require(actor, "banking.view_bank")
    try:
        pk = int(bank_account_id)
    except (TypeError, ValueError):
        raise NotFound("bank_account_not_found", _("No such bank account.")) from None
    found = (
        BankAccount.objects.filter(company_id=actor.company_id, pk=pk)
        .select_related("journal", "account", "site")
        .first()
    )
    if found is None:
        raise NotFound("bank_account_not_found", _("No such bank account."))
    return found


def csv_mappings(actor: Actor, account: BankAccount) -> QuerySet[CsvMapping]:
    require(actor, "banking.view_bank")
    return CsvMapping.objects.filter(bank_account=account).order_by("name", "id")


def statements(actor: Actor, *, bank_account_id: Any = None) -> QuerySet[BankStatement]:
    require(actor, "banking.view_bank")
    queryset = BankStatement.objects.filter(company_id=actor.company_id).select_related("bank_account", "imported_by")
    if bank_account_id not in (None, ""):
        queryset = queryset.filter(bank_account_id=_int("bank_account_id", bank_account_id))
    return queryset.order_by("-date_to", "-id")


def statement(actor: Actor, statement_id: Any) -> BankStatement:
    require(actor, "banking.view_bank")
    try:
        pk = int(statement_id)
    except (TypeError, ValueError):
        raise NotFound("statement_not_found", _("No such statement.")) from None
    found = statements(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound("statement_not_found", _("No such statement."))
    return found


def _int(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(fields={name: [str(_("Enter a valid id."))]}) from None


def _date(name: str, value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(fields={name: [str(_("Enter a date as YYYY-MM-DD."))]}) from None


def lines(
    actor: Actor, *, bank_account_id: Any = None, statement_id: Any = None, state: str = "",
    date_from: Any = None, date_to: Any = None, q: str = "",
) -> QuerySet[BankStatementLine]:  # fmt: skip
    """Statement lines, filtered; served by the (bank_account, state, booking_date) index."""
    require(actor, "banking.view_bank")
    queryset = BankStatementLine.objects.filter(company_id=actor.company_id).select_related("statement")
    if bank_account_id not in (None, ""):
        queryset = queryset.filter(bank_account_id=_int("bank_account_id", bank_account_id))
    if statement_id not in (None, ""):
        queryset = queryset.filter(statement_id=_int("statement_id", statement_id))
    if state:
        if state not in LineState.values:
            raise ValidationFailed(
                fields={"state": [str(_("Choose among: %(values)s.") % {"values": ", ".join(LineState.values)})]}
            )
        queryset = queryset.filter(state=state)
    if date_from not in (None, ""):
        queryset = queryset.filter(booking_date__gte=_date("date_from", date_from))
    if date_to not in (None, ""):
        queryset = queryset.filter(booking_date__lte=_date("date_to", date_to))
    if q:
        queryset = queryset.filter(Q(label__icontains=q) | Q(reference__icontains=q) | Q(partner_name__icontains=q))
    return queryset.order_by("-booking_date", "-id")

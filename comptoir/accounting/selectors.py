"""Every read of the ledger starts here.

Record rule: the ledger is visible as a whole or not at all — only actors holding
``accounting.view_ledger`` read it, and only their company's rows. (Invoices, later, will
have finer rules: a salesperson sees their customers' invoices, not the ledger.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum, Window
from django.utils.translation import gettext as _

from comptoir.accounting.models import (
    Account,
    AccountingSettings,
    EntryState,
    FiscalYear,
    Journal,
    JournalEntry,
    JournalLine,
    PartnerAccount,
)
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.models import Site

ENTRY_SORT = {
    "date": "date", "number": "number", "chain_number": "chain_number", "journal": "journal__code",
    "label": "label", "total": "total", "created_at": "created_at",
}  # fmt: skip
ENTRY_DEFAULT_SORT = "-date"
ACCOUNT_SORT = {"code": "code", "name": "name", "type": "type"}


def require_view(actor: Actor) -> None:
    require(actor, "accounting.view_ledger")


# --- Chart, journals, fiscal years ----------------------------------------------------


def accounts(actor: Actor, *, q: str = "", active: bool | None = None, account_class: str = "") -> QuerySet[Account]:
    require_view(actor)
    rows = Account.objects.filter(company_id=actor.company_id)
    if q:
        rows = rows.filter(Q(code__startswith=q.strip()) | Q(name__icontains=q.strip()))
    if active is not None:
        rows = rows.filter(is_active=active)
    if account_class:
        rows = rows.filter(code__startswith=account_class)
    return rows.order_by("code", "id")


def account_get(actor: Actor, account_id: int) -> Account:
    require_view(actor)
    found = Account.objects.filter(company_id=actor.company_id, pk=account_id).first()
    if found is None:
        raise NotFound("account_not_found")
    return found


def account_choices(actor: Actor, *, include: set[int] | None = None) -> list[tuple[int, str]]:
    """Active accounts (plus the ``include``d ones, e.g. a draft's) for a select."""
    rows = Account.objects.filter(company_id=actor.company_id).filter(Q(is_active=True) | Q(pk__in=include or ()))
    return [(pk, f"{code} {name}") for pk, code, name in rows.order_by("code").values_list("pk", "code", "name")]


def partner_accounts(actor: Actor, *, q: str = "", kind: str = "") -> QuerySet[PartnerAccount]:
    require_view(actor)
    rows = PartnerAccount.objects.filter(company_id=actor.company_id).select_related("account")
    if q:
        rows = rows.filter(Q(code__icontains=q.strip()) | Q(label__icontains=q.strip()))
    if kind:
        rows = rows.filter(kind=kind)
    return rows.order_by("code", "id")


def partner_choices(actor: Actor) -> list[tuple[int, str]]:
    rows = PartnerAccount.objects.filter(company_id=actor.company_id).order_by("code")
    return [(pk, f"{code} {label}") for pk, code, label in rows.values_list("pk", "code", "label")]


def journals(actor: Actor, *, active: bool | None = None) -> QuerySet[Journal]:
    require_view(actor)
    rows = Journal.objects.filter(company_id=actor.company_id).select_related("default_account")
    if active is not None:
        rows = rows.filter(is_active=active)
    return rows.order_by("code", "id")


def journal_get(actor: Actor, journal_id: int) -> Journal:
    require_view(actor)
    found = Journal.objects.filter(company_id=actor.company_id, pk=journal_id).select_related("default_account").first()
    if found is None:
        raise NotFound("journal_not_found")
    return found


def fiscal_years(actor: Actor) -> QuerySet[FiscalYear]:
    require_view(actor)
    return FiscalYear.objects.filter(company_id=actor.company_id).order_by("-start_date")


def accounting_settings(actor: Actor) -> AccountingSettings:
    require_view(actor)
    found = AccountingSettings.objects.filter(company_id=actor.company_id).first()
    return found or AccountingSettings(company_id=actor.company_id)  # type: ignore[misc]


# --- Entries --------------------------------------------------------------------------


@dataclass
class EntryFilters:
    journal_id: int | None = None
    state: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    account_id: int | None = None
    partner_account_id: int | None = None
    q: str = ""


def _check_range(date_from: dt.date | None, date_to: dt.date | None) -> None:
    if date_from and date_to and date_to < date_from:
        raise ValidationFailed("invalid_range", fields={"date_to": [_("The end must be after the start.")]})


def entry_list(actor: Actor, filters: EntryFilters | None = None) -> QuerySet[JournalEntry]:
    require_view(actor)
    filters = filters or EntryFilters()
    if filters.state and filters.state not in EntryState.values:
        message = _("Choose among: %(values)s.") % {"values": ", ".join(EntryState.values)}
        raise ValidationFailed("invalid_filter", fields={"state": [message]})
    _check_range(filters.date_from, filters.date_to)
    rows = JournalEntry.objects.filter(company_id=actor.company_id).select_related("journal")
    if filters.journal_id:
        rows = rows.filter(journal_id=filters.journal_id)
    if filters.state:
        rows = rows.filter(state=filters.state)
    if filters.date_from:
        rows = rows.filter(date__gte=filters.date_from)
    if filters.date_to:
        rows = rows.filter(date__lte=filters.date_to)
    if filters.account_id or filters.partner_account_id:
        lines = JournalLine.objects.filter(entry=OuterRef("pk"))
        if filters.account_id:
            lines = lines.filter(account_id=filters.account_id)
        if filters.partner_account_id:
            lines = lines.filter(partner_account_id=filters.partner_account_id)
        rows = rows.filter(Exists(lines))
    if filters.q:
        text = filters.q.strip()
        rows = rows.filter(Q(label__icontains=text) | Q(ref__icontains=text) | Q(number__icontains=text))
    return rows


def entry_get(actor: Actor, entry_id: int) -> JournalEntry:
    require_view(actor)
    lines = JournalLine.objects.select_related("account", "partner_account", "site").order_by("sequence", "id")
    found = (
        JournalEntry.objects.filter(company_id=actor.company_id, pk=entry_id)
        .select_related("journal", "fiscal_year", "reversal_of", "posted_by", "created_by", "site")
        .prefetch_related(Prefetch("lines", queryset=lines), Prefetch("reversals", queryset=JournalEntry.objects.all()))
        .first()
    )
    if found is None:
        raise NotFound("entry_not_found")
    return found


# --- Trial balance and general ledger -------------------------------------------------


@dataclass
class BalanceRow:
    account_id: int
    code: str
    name: str
    debit: Decimal
    credit: Decimal
    partner_account_id: int | None = None
    partner_code: str = ""
    partner_label: str = ""

    @property
    def balance(self) -> Decimal:
        return self.debit - self.credit

    @property
    def debit_balance(self) -> Decimal:
        return max(self.balance, Decimal(0))

    @property
    def credit_balance(self) -> Decimal:
        return max(-self.balance, Decimal(0))


@dataclass
class TrialBalance:
    date_from: dt.date | None
    date_to: dt.date | None
    rows: list[BalanceRow] = field(default_factory=list)
    site: Site | None = None

    @property
    def total_debit(self) -> Decimal:
        return sum((r.debit for r in self.rows), Decimal(0))

    @property
    def total_credit(self) -> Decimal:
        return sum((r.credit for r in self.rows), Decimal(0))

    @property
    def total_balance(self) -> Decimal:
        return self.total_debit - self.total_credit


def resolve_site(actor: Actor, value: Any, field: str = "site") -> Site | None:
    """The site a report is filtered on: one of the actor's company (active or not), or
    None (empty value: the whole company). Anything else is a field error."""
    if value is None or value == "":
        return None
    if isinstance(value, Site):
        if value.company_id == actor.company_id:
            return value
        value = 0
    try:
        site_id = int(value)
    except (TypeError, ValueError):
        site_id = 0
    found = Site.objects.filter(company_id=actor.company_id, pk=site_id).first() if 0 < site_id < 2**63 else None
    if found is None:
        raise ValidationFailed("invalid_filter", fields={field: [_("Choose one of your company's sites.")]})
    return found


def site_choices(actor: Actor) -> list[Site]:
    """The company's sites for a report filter: active ones first, then the closed ones."""
    return list(Site.objects.filter(company_id=actor.company_id).order_by("-is_active", "name", "pk"))


def posted_lines(
    actor: Actor, date_from: dt.date | None = None, date_to: dt.date | None = None, site_id: int | None = None
) -> QuerySet:
    _check_range(date_from, date_to)
    rows = JournalLine.objects.filter(company_id=actor.company_id, is_posted=True)
    if site_id is not None:
        rows = rows.filter(site_id=site_id)
    if date_from:
        rows = rows.filter(date__gte=date_from)
    if date_to:
        rows = rows.filter(date__lte=date_to)
    return rows


def trial_balance(
    actor: Actor,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    by_partner: bool = False,
    account_class: str = "",
    site_id: Any = None,
) -> TrialBalance:
    """Debit and credit per account of the posted lines dated in the range: one GROUP BY
    over the ledger index (decision 0008), then the accounts' codes and names by id. With
    ``site_id`` (an id or a ``Site``, checked here by ``resolve_site``: one of the company's
    sites, else a field error on ``site``), the lines of that site only, over the site index
    (``accounting_line_site``)."""
    require_view(actor)
    # Checked here, not only by the callers: page, exports and API share this one check.
    site = resolve_site(actor, site_id)
    rows = posted_lines(actor, date_from, date_to, site.pk if site else None)
    keys = ["account_id", "partner_account_id"] if by_partner else ["account_id"]
    sums = list(rows.values(*keys).annotate(debit=Sum("debit"), credit=Sum("credit")).order_by())
    names = {
        pk: (code, name)
        for pk, code, name in Account.objects.filter(company_id=actor.company_id).values_list("pk", "code", "name")
    }
    partners: dict[int, tuple[str, str]] = {}
    if by_partner:
        partners = {
            pk: (code, label)
            for pk, code, label in PartnerAccount.objects.filter(company_id=actor.company_id).values_list(
                "pk", "code", "label"
            )
        }
    result = TrialBalance(date_from=date_from, date_to=date_to, site=site)
    for row in sums:
        code, name = names[row["account_id"]]
        if account_class and not code.startswith(account_class):
            continue
        partner = partners.get(row.get("partner_account_id") or 0, ("", ""))
        result.rows.append(
            BalanceRow(
                account_id=row["account_id"], code=code, name=name, debit=row["debit"] or Decimal(0),
                credit=row["credit"] or Decimal(0), partner_account_id=row.get("partner_account_id"),
                partner_code=partner[0], partner_label=partner[1],
            )
        )  # fmt: skip
    result.rows.sort(key=lambda r: (r.code, r.partner_code))
    return result


LEDGER_FIELDS = (
    "id", "entry_id", "date", "label", "debit", "credit", "due_date", "matching_code", "entry__number",
    "entry__label", "entry__ref", "journal__code", "partner_account__code",
)  # fmt: skip


def opening_balance(actor: Actor, account_id: int, date_from: dt.date | None, site_id: int | None = None) -> Decimal:
    """Balance of the account's posted lines dated before ``date_from`` (of one site, with ``site_id``)."""
    if date_from is None:
        return Decimal(0)
    lines = JournalLine.objects.filter(company_id=actor.company_id, is_posted=True, account_id=account_id,
                                       date__lt=date_from)  # fmt: skip
    if site_id is not None:
        lines = lines.filter(site_id=site_id)
    sums = lines.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    return (sums["debit"] or Decimal(0)) - (sums["credit"] or Decimal(0))


def general_ledger(
    actor: Actor,
    *,
    account_id: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    partner_account_id: int | None = None,
    site_id: Any = None,
) -> tuple[Account, Decimal, QuerySet]:
    """The account, its opening balance and its posted lines (``.values()`` rows) with a
    running ``balance`` computed by the database (window SUM), from the opening balance;
    with ``site_id`` (an id or a ``Site``, checked here by ``resolve_site``), the lines of
    that site only."""
    account = account_get(actor, account_id)
    site = resolve_site(actor, site_id)  # here, so that every caller gets the same check
    site_id = site.pk if site else None
    opening = opening_balance(actor, account_id, date_from, site_id) if partner_account_id is None else Decimal(0)
    rows = posted_lines(actor, date_from, date_to, site_id).filter(account_id=account_id)
    if partner_account_id is not None:
        rows = rows.filter(partner_account_id=partner_account_id)
    order = [F("date").asc(), F("entry_id").asc(), F("id").asc()]
    rows = (
        rows.values(*LEDGER_FIELDS)
        # In cents (an integer column): converted by ``running_balance``.
        .annotate(running=Window(Sum(F("debit") - F("credit"), output_field=BigIntegerField()), order_by=order))
        .order_by("date", "entry_id", "id")
    )
    return account, opening, rows


def running_balance(row: dict[str, Any], opening: Decimal) -> Decimal:
    """The balance after ``row``: the opening balance plus the database's running sum (cents)."""
    return opening + Decimal(int(row["running"] or 0)).scaleb(-2)


def ledger_rows(rows: list[dict[str, Any]], opening: Decimal) -> list[dict[str, Any]]:
    return [row | {"balance": running_balance(row, opening)} for row in rows]


def journal_lines(
    actor: Actor, *, journal_id: int, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> QuerySet:
    """The journal listing: posted lines of one journal, entry by entry, in posting order."""
    require_view(actor)
    journal_get(actor, journal_id)
    return (
        posted_lines(actor, date_from, date_to)
        .filter(journal_id=journal_id)
        .values("id", "entry_id", "date", "label", "debit", "credit", "entry__number", "entry__label",
                "entry__chain_number", "account__code", "account__name", "partner_account__code")
        .order_by("entry__chain_number", "sequence", "id")
    )  # fmt: skip

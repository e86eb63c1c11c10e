"""Customer and supplier statements (relevé de compte): the opening balance, the movements
of the period with a running balance, the closing balance and the items still open.

``statement`` is what the page and the API show (the actor must read the ledger);
``statement_pdf`` is for the dunning engine, which runs as the system for a company and
attaches the PDF to its reminders. Amounts are signed like the partner's balance as seen
from the partner's side: what a customer owes us (debit) or what we owe a supplier (credit)
is positive.

Sites: with a site (``site_id``, one of the company's sites), the statement is that site's
dealings with the partner: the opening balance, the movements and the open items of the
partner lines booked for the site only. Without a site, every line of the partner account.
The dunning PDF is always the company's (what the partner owes the company).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import aged, reports_pdf
from comptoir.accounting.models import FiscalYear, JournalLine, PartnerAccount, PartnerKind
from comptoir.accounting.selectors import require_view, resolve_site
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.models import Company, Site

ZERO = Decimal(0)
MAX_MOVEMENTS = 2_000
LINE_FIELDS = ("id", "entry_id", "date", "label", "debit", "credit", "due_date", "matching_code", "entry__number",
               "entry__ref", "journal__code")  # fmt: skip


@dataclass
class PartnerStatement:
    partner: PartnerAccount
    organization_name: str
    date_from: dt.date
    date_to: dt.date
    opening: Decimal
    movements: list[dict[str, Any]]
    open_items: list[dict[str, Any]]
    truncated: bool = False
    totals: dict[str, Decimal] = field(default_factory=dict)
    site: Site | None = None

    @property
    def closing(self) -> Decimal:
        return self.movements[-1]["balance"] if self.movements else self.opening

    @property
    def open_total(self) -> Decimal:
        return sum((item["amount"] for item in self.open_items), ZERO)

    @property
    def overdue_total(self) -> Decimal:
        return sum((item["amount"] for item in self.open_items if item["overdue_days"] > 0), ZERO)


def default_start(company_id: int, as_of: dt.date) -> dt.date:
    """The start of the fiscal year holding ``as_of``, else 1 January of its year."""
    year = FiscalYear.objects.filter(company_id=company_id, start_date__lte=as_of, end_date__gte=as_of).first()
    return year.start_date if year else dt.date(as_of.year, 1, 1)


def _partner(company_id: int, *, partner_account_id: int | None = None, organization_id: int | None = None,
             kind: str = PartnerKind.CUSTOMER) -> PartnerAccount:  # fmt: skip
    rows = PartnerAccount.objects.filter(company_id=company_id).select_related("organization")
    if partner_account_id is not None:
        found = rows.filter(pk=partner_account_id).first()
    else:
        found = rows.filter(organization_id=organization_id, kind=kind).first()
    if found is None:
        raise NotFound("partner_not_found", _("This partner has no account in the ledger."))
    return found


def build(company_id: int, partner: PartnerAccount, date_from: dt.date, date_to: dt.date,
          site: Site | None = None) -> PartnerStatement:  # fmt: skip
    if date_to < date_from:
        raise ValidationFailed("invalid_range", fields={"date_to": [gettext("The end must be after the start.")]})
    sign = 1 if partner.kind == PartnerKind.CUSTOMER else -1
    site_id = site.pk if site is not None else None
    lines = JournalLine.objects.filter(company_id=company_id, is_posted=True, partner_account_id=partner.pk)
    if site_id is not None:
        lines = lines.filter(site_id=site_id)
    before = lines.filter(date__lt=date_from).aggregate(d=Sum("debit"), c=Sum("credit"))
    opening = sign * ((before["d"] or ZERO) - (before["c"] or ZERO))
    rows = list(
        lines.filter(date__gte=date_from, date__lte=date_to)
        .values(*LINE_FIELDS)
        .order_by("date", "entry_id", "id")[: MAX_MOVEMENTS + 1]
    )
    truncated = len(rows) > MAX_MOVEMENTS
    rows = rows[:MAX_MOVEMENTS]
    balance = opening
    debit = credit = ZERO
    for row in rows:
        balance += sign * (row["debit"] - row["credit"])
        row["balance"] = balance
        debit += row["debit"]
        credit += row["credit"]
    items = list(
        aged.open_lines(company_id, date_to, partner_account_id=partner.pk, site_id=site_id)
        .values(*LINE_FIELDS)
        .order_by("due_date", "date", "id")[:MAX_MOVEMENTS]
    )
    for item in items:
        due = item["due_date"] or item["date"]
        item["amount"] = sign * (item["debit"] - item["credit"])
        item["overdue_days"] = max((date_to - due).days, 0)
    organization = partner.organization
    name = organization.trade_name or organization.legal_name
    return PartnerStatement(partner, name, date_from, date_to, opening, rows, items, truncated,
                            {"debit": debit, "credit": credit}, site)  # fmt: skip


def statement(actor: Actor, *, partner_account_id: int, date_from: dt.date | None = None,
              date_to: dt.date | None = None, site_id: Any = None) -> PartnerStatement:  # fmt: skip
    """The statement of one partner account of the actor's company (of one site's lines with ``site_id``)."""
    require_view(actor)
    assert actor.company_id is not None
    site = resolve_site(actor, site_id)
    partner = _partner(actor.company_id, partner_account_id=partner_account_id)
    date_to = date_to or dt.date.today()
    date_from = date_from or default_start(actor.company_id, date_to)
    return build(actor.company_id, partner, date_from, date_to, site)


def render_pdf(company_id: int, result: PartnerStatement, language: str) -> bytes:
    language = reports_pdf.language_of(language)
    company = Company.objects.get(pk=company_id)
    with translation.override(language):
        title = str(_("Statement of account")) + f" — {result.organization_name}"
        if result.site is not None:
            title += " — " + str(_("Site %(name)s") % {"name": result.site.name})
    context = {"title": title, "company": company, "statement": result, "date_from": result.date_from,
               "date_to": result.date_to, "site": result.site}  # fmt: skip
    return reports_pdf.render_pdf("accounting/statements/partner_statement_pdf.html", context, language)


def statement_pdf(company_id: int, organization_id: int, as_of: dt.date, language: str = "fr",
                  kind: str = PartnerKind.CUSTOMER) -> bytes:  # fmt: skip
    """The PDF statement of an organization's customer (or supplier) account on ``as_of``,
    from the start of the fiscal year: for the dunning reminders (no actor: the caller,
    a system task of the company, decides who receives it). Raises ``NotFound`` when the
    organization has no account of that kind in the company's ledger."""
    partner = _partner(company_id, organization_id=organization_id, kind=kind)
    result = build(company_id, partner, default_start(company_id, as_of), as_of)
    return render_pdf(company_id, result, language)

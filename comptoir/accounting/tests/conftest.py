from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from comptoir.accounting.models import (
    Account,
    AccountingSettings,
    FiscalYear,
    FiscalYearState,
    Journal,
    PartnerAccount,
    PartnerKind,
)
from comptoir.accounting.services import partner_account_ensure
from comptoir.contacts.models import Organization
from comptoir.kernel.context import Actor
from comptoir.org.testing import Personas, enable_modules


@dataclass
class Ledger:
    """Personas with accounting on, the PCG chart loaded, and helpers to write lines."""

    personas: Personas
    accounts: dict[str, int]
    journals: dict[str, int]
    customer: PartnerAccount
    supplier: PartnerAccount

    @property
    def company_id(self) -> int:
        return self.personas.company.pk

    def actor(self, role: str = "finance", channel: str = "ui") -> Actor:
        return self.personas.actor(role, channel)

    def line(self, code: str, debit: Any = "", credit: Any = "", **extra: Any) -> dict[str, Any]:
        line = {"account_id": self.accounts[code], "debit": debit, "credit": credit}
        if code == "411" and "partner_account_id" not in extra:
            line["partner_account_id"] = self.customer.pk
        if code == "401" and "partner_account_id" not in extra:
            line["partner_account_id"] = self.supplier.pk
        return line | extra

    def sale(self, amount: str = "120.00") -> list[dict[str, Any]]:
        from decimal import Decimal

        total = Decimal(amount)
        net = (total / Decimal("1.2")).quantize(Decimal("0.01"))
        return [self.line("411", debit=amount), self.line("706", credit=str(net)),
                self.line("44571", credit=str(total - net))]  # fmt: skip

    def entry_data(self, journal: str = "VT", date: dt.date | None = None, **extra: Any) -> dict[str, Any]:
        return {"journal_id": self.journals[journal], "date": date or today(), "label": "Facture",
                "lines": self.sale()} | extra  # fmt: skip


def make_ledger(personas: Personas) -> Ledger:
    enable_modules(personas, "contacts", "accounting")
    company = personas.company
    org_customer = Organization.objects.create(company=company, legal_name="Boulangerie Martin")
    org_supplier = Organization.objects.create(company=company, legal_name="Papeterie Leroy")
    admin = personas.actor("admin")
    return Ledger(
        personas=personas,
        accounts=dict(Account.objects.filter(company=company).values_list("code", "pk")),
        journals=dict(Journal.objects.filter(company=company).values_list("code", "pk")),
        customer=partner_account_ensure(actor=admin, organization_id=org_customer.pk, kind=PartnerKind.CUSTOMER),
        supplier=partner_account_ensure(actor=admin, organization_id=org_supplier.pk, kind=PartnerKind.SUPPLIER),
    )


def open_previous_year(ledger: Ledger) -> None:
    """Last calendar year's fiscal year too (idempotent). Setting up accounting opens only the
    current one, so tests dating entries or invoices days or weeks back (``today - 60 days``)
    would find no open fiscal year from 1 January to early March without it."""
    from comptoir.accounting import services
    from comptoir.accounting.models import FiscalYear

    first = FiscalYear.objects.filter(company_id=ledger.company_id).order_by("start_date").first()
    # The year before the earliest one (the one opened at setup, even if midnight on 31 December
    # has passed since), unless last year is already covered.
    if first is not None and first.start_date.year > timezone.localdate().year - 1:
        year = first.start_date.year - 1
        services.fiscal_year_create(actor=ledger.actor("admin"), start_date=dt.date(year, 1, 1),
                                    end_date=dt.date(year, 12, 31))  # fmt: skip


def next_year(company_id: int, year: Any) -> Any:
    """The fiscal year following ``year``: the one already there (the current one, when ``year``
    is last year's, see ``open_previous_year``), else a new one of 365 days."""
    from comptoir.accounting.models import FiscalYear

    start = year.end_date + dt.timedelta(days=1)
    found, _created = FiscalYear.objects.get_or_create(
        company_id=company_id,
        start_date=start,
        defaults={"name": "next", "end_date": year.end_date + dt.timedelta(days=365)},
    )
    return found


def today() -> dt.date:
    """Today in the company's time zone, read when called: a date taken at import time goes
    stale in a run that crosses midnight (Europe/Paris)."""
    return timezone.localdate()


@pytest.fixture
def ledger(personas: Personas) -> Ledger:
    return make_ledger(personas)


def unpostable_day(ledger: Ledger, problem: str) -> dt.date:
    """A day nothing can be posted on: today under a lock date (``lock_date``), today in a closed
    year (``closed_year``), or the day after the last fiscal year (``no_year``)."""
    day = today()
    if problem == "lock_date":
        AccountingSettings.objects.filter(company_id=ledger.company_id).update(lock_date=day)
    elif problem == "closed_year":
        FiscalYear.objects.filter(company_id=ledger.company_id, start_date__lte=day, end_date__gte=day).update(
            state=FiscalYearState.CLOSED
        )
    elif problem == "no_year":
        day = FiscalYear.objects.filter(company_id=ledger.company_id).order_by("-end_date")[0].end_date
        day += dt.timedelta(days=1)
    else:
        raise ValueError(f"unknown problem {problem!r}")
    return day

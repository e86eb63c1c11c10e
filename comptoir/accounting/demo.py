"""Demo ledger: the chart and journals, and a few posted entries to explore (idempotent)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from comptoir.accounting import services
from comptoir.accounting.models import Account, Journal, JournalEntry, PartnerKind
from comptoir.contacts.models import Organization
from comptoir.kernel import modules
from comptoir.kernel.context import Actor
from comptoir.org.models import Site


def load(actor: Actor) -> None:
    if not modules.is_enabled(actor.company_id, "accounting"):
        return
    services.setup_company_accounting(actor=actor)
    if JournalEntry.objects.filter(company_id=actor.company_id).exists():
        return
    accounts = dict(Account.objects.filter(company_id=actor.company_id).values_list("code", "pk"))
    journals = dict(Journal.objects.filter(company_id=actor.company_id).values_list("code", "pk"))
    today = timezone.localdate()
    start = dt.date(today.year, 1, 1)

    def day(offset: int) -> dt.date:
        return min(start + dt.timedelta(days=offset), today)

    # The workshop's business is booked on the Lyon site, so the reports' site filter shows something.
    lyon = Site.objects.filter(company_id=actor.company_id, city="Lyon").values_list("pk", flat=True).first()

    Lines = list[tuple[str, str, str, int | None]]

    def book(journal: str, when: dt.date, label: str, lines: Lines, site_id: int | None = None) -> None:
        entry = services.entry_create(
            actor=actor, journal_id=journals[journal], date=when, label=label, site_id=site_id,
            lines=[{"account_id": accounts[code], "debit": debit, "credit": credit, "partner_account_id": partner,
                    "label": label} for code, debit, credit, partner in lines],
        )  # fmt: skip
        services.entry_post(actor=actor, entry_id=entry.pk)

    book("BQ", day(1), "Apport en capital", [("512", "20000.00", "", None), ("101", "", "20000.00", None)])
    orgs = list(Organization.objects.filter(company_id=actor.company_id).order_by("id")[:2])
    if len(orgs) == 2:
        customer = services.partner_account_ensure(actor=actor, organization_id=orgs[0].pk, kind=PartnerKind.CUSTOMER)
        supplier = services.partner_account_ensure(actor=actor, organization_id=orgs[1].pk, kind=PartnerKind.SUPPLIER)
        book("VT", day(20), "Facture prestation atelier", [
            ("411", "1200.00", "", customer.pk), ("706", "", "1000.00", None), ("44571", "", "200.00", None),
        ], site_id=lyon)  # fmt: skip
        book("AC", day(25), "Achat de fournitures", [
            ("6064", "250.00", "", None), ("44566", "50.00", "", None), ("401", "", "300.00", supplier.pk),
        ], site_id=lyon)  # fmt: skip
        book("BQ", day(40), "Règlement client", [("512", "1200.00", "", None), ("411", "", "1200.00", customer.pk)],
             site_id=lyon)  # fmt: skip
    # One draft left to post, to show the workflow.
    services.entry_create(
        actor=actor,
        journal_id=journals["OD"],
        date=today,
        label="Frais bancaires du mois",
        lines=[{"account_id": accounts["627"], "debit": "12.50"}, {"account_id": accounts["512"], "credit": "12.50"}],
    )

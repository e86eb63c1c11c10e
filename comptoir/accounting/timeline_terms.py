"""What the payment terms / credit allocation work adds to an organization's 360° page:

* a panel "Invoicing profile" (fiscal position, payment terms, language, VAT-on-debits
  option) with a link to the profile form, for those who see invoices;
* a timeline source "credit_allocations": a credit note settling invoices, without money.

Plugged into ``contacts.timeline.registry`` from ``AccountingConfig.ready``; every read
applies the actor's rights itself (the page only checked that the organization is visible).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy

from comptoir.accounting.invoice_selectors import visible_invoices
from comptoir.accounting.invoices import MANAGE, VIEW
from comptoir.accounting.models import PartnerProfile, PaymentTerm
from comptoir.accounting.models_credit import CreditAllocation
from comptoir.accounting.timeline import _money
from comptoir.contacts.timeline import ORGANIZATION, Before, Subject, TimelineEntry, TimelineRegistry
from comptoir.kernel.context import Actor

MODULE = "accounting"


def render_profile_panel(request: Any, actor: Actor, subject: Subject) -> str:
    if subject.kind != ORGANIZATION or not (actor.has_perm(VIEW) or actor.has_perm(MANAGE)):
        return ""
    profile = PartnerProfile.objects.filter(company_id=actor.company_id, organization_id=subject.id).first()
    terms: dict[int, str] = {}
    if profile is not None:
        ids = [i for i in (profile.payment_term_id, profile.supplier_payment_term_id) if i]
        terms = dict(PaymentTerm.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
    context = {
        "profile": profile, "organization_id": subject.id, "can_manage": actor.has_perm(MANAGE),
        "customer_term": terms.get(profile.payment_term_id or 0, "") if profile else "",
        "supplier_term": terms.get(profile.supplier_payment_term_id or 0, "") if profile else "",
    }  # fmt: skip
    return render_to_string("accounting/terms/_profile_panel.html", context, request=request)


def fetch_allocations(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    """Credit notes allocated to invoices of the organization, when they were allocated."""
    if subject.kind != ORGANIZATION:
        return []
    visible = visible_invoices(actor).filter(organization_id=subject.id).values("pk")
    rows = CreditAllocation.objects.filter(company_id=actor.company_id, credit_note__organization_id=subject.id,
                                           credit_note_id__in=visible, is_active=True)  # fmt: skip
    if before is not None:
        rows = rows.filter(before.q("created_at"))
    entries = []
    for row in rows.order_by("-created_at", "-pk").values(
        "pk", "created_at", "amount", "credit_note_id", "credit_note__number", "invoice__number",
        "credit_note__currency", "created_by__full_name",
    )[:limit]:  # fmt: skip
        entries.append(TimelineEntry(
            at=row["created_at"], kind="credit_allocation",
            title=gettext("Credit note %(credit)s allocated to %(invoice)s")
            % {"credit": row["credit_note__number"], "invoice": row["invoice__number"]},
            url=reverse("accounting:invoice", args=[row["credit_note_id"]]),
            body=_money(Decimal(row["amount"]), row["credit_note__currency"]),
            actor=row["created_by__full_name"] or "", key=row["pk"],
        ))  # fmt: skip
    return entries


def register(target: TimelineRegistry) -> None:
    target.register_source("credit_allocations", gettext_lazy("Credit note allocations"), fetch_allocations,
                           module=MODULE)  # fmt: skip
    target.register_panel("invoicing_profile", 40, render_profile_panel, module=MODULE)

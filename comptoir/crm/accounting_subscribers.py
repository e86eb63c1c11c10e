"""The CRM's side of accounting's dunning (the CRM never imports accounting: it reads the payload).

A reminder level whose action includes "activity" publishes ``accounting.dunning_notice``:
the customer's account manager (the organization's owner) gets a task to call the customer,
once per notice (the kernel's ``SubscriberRun`` runs a subscriber once per event). A customer
without an owner gets no task: the finance team follows it from the dunning page.
"""

from __future__ import annotations

from django.utils import timezone, translation
from django.utils.translation import gettext

from comptoir.contacts.models import Organization
from comptoir.crm import activities
from comptoir.crm.models import ActivityKind
from comptoir.kernel import events
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.models import OutboxEvent
from comptoir.org.models import User

DUNNING_NOTICE = "accounting.dunning_notice"


def task_for_account_manager(event: OutboxEvent) -> None:
    payload = event.payload or {}
    if payload.get("action") not in ("activity", "both") or event.company_id is None:
        return
    organization = (
        Organization.objects.filter(company_id=event.company_id, pk=payload.get("organization_id"))
        .values("pk", "legal_name", "owner_id", "team_id")
        .first()
    )
    if organization is None or organization["owner_id"] is None:
        return
    owner = User.objects.filter(pk=organization["owner_id"], is_active=True).values("pk", "language").first()
    if owner is None:
        return
    with translation.override(owner["language"] or "fr"):
        subject = gettext("Payment reminder (%(level)s): call %(customer)s") % {
            "level": payload.get("level_name", ""),
            "customer": organization["legal_name"],
        }
        notes = gettext("Overdue: %(total)s — invoices %(invoices)s.") % {
            "total": payload.get("total_due", ""),
            "invoices": ", ".join(str(number) for number in payload.get("invoices", [])),
        }
    activities.activity_create(
        actor=Actor.system(event.company_id, Channel.TASK), kind=ActivityKind.TASK, subject=subject[:200],
        notes=notes, due_at=timezone.now(), assignee_id=owner["pk"], owner_id=owner["pk"],
        team_id=organization["team_id"], organization_id=organization["pk"],
    )  # fmt: skip


def register() -> None:
    events.subscribe(DUNNING_NOTICE, task_for_account_manager, key="crm.accounting.dunning_task")

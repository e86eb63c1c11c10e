"""When two organizations are merged, their catalog data follows the survivor.

The catalog keeps customers by organization id (``CustomerGroupMember.organization_id``,
``PriceList.customer_id``) and sits on the same layer as contacts: it may not import the
contacts merge registry, whose references are foreign keys. It subscribes instead to the
``contacts.merged`` event that the merge publishes in its transaction, and re-points its rows
right after the merge commits (inline), or from the task queue. Running twice changes
nothing: the other organization has no rows left the second time (and the kernel runs a
subscriber once per event anyway).

* Customer group: a customer is in one group at most. If the survivor has one, it keeps it
  and the other's membership is dropped (the survivor's values win, as for the merged
  fields); otherwise the survivor takes the other's group.
* Price lists for one customer: the other's lists now price the survivor (their names are
  unique per company, so nothing clashes). The pricing rules choose between them by priority
  and specificity as for any two lists of one customer.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from comptoir.catalog.models import CustomerGroupMember, PriceList
from comptoir.kernel import audit, events
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.models import OutboxEvent

MERGED = "contacts.merged"
SUBSCRIBER = "catalog.merge.organizations"


def repoint_organization(company_id: int, survivor_id: int, other_id: int) -> dict[str, int]:
    """Re-point the catalog rows of organization ``other_id`` to ``survivor_id``; counts by kind."""
    counts: dict[str, int] = {}
    with transaction.atomic():
        members = CustomerGroupMember.objects.select_for_update().filter(
            company_id=company_id, organization_id__in=[survivor_id, other_id]
        )
        by_organization = {member.organization_id: member for member in members.order_by("pk")}
        other = by_organization.get(other_id)
        if other is not None:
            if survivor_id in by_organization:
                other.delete()
                counts["catalog.customergroupmember (already on the survivor)"] = 1
            else:
                CustomerGroupMember.objects.filter(pk=other.pk).update(organization_id=survivor_id)
                counts["catalog.customergroupmember"] = 1
        moved = PriceList.objects.filter(company_id=company_id, customer_id=other_id).update(customer_id=survivor_id)
        if moved:
            counts["catalog.pricelist"] = moved
        if counts:
            audit.record(
                Actor.system(company_id, Channel.TASK), "catalog.customer_merged", object_type="contacts.organization",
                object_id=survivor_id, company_id=company_id,
                changes={"other_id": other_id, "other_group_id": other.group_id if other else None,
                         "repointed": counts},
            )  # fmt: skip
    return counts


def on_merged(event: OutboxEvent) -> None:
    payload: dict[str, Any] = event.payload or {}
    if payload.get("kind") != "organization" or event.company_id is None:
        return
    survivor_id, other_id = payload.get("survivor_id"), payload.get("other_id")
    if not isinstance(survivor_id, int) or not isinstance(other_id, int):
        return
    repoint_organization(event.company_id, survivor_id, other_id)


def register() -> None:
    events.subscribe(MERGED, on_merged, key=SUBSCRIBER)

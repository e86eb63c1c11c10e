"""The CRM's side of sales events (the CRM never imports sales: it reads the event's payload).

``sales.order_confirmed`` carries the order's ``opportunity_id``: that opportunity is marked
won, once. An opportunity already won (a second order, a retried event) or closed as lost
is left as it is, so the subscriber is idempotent; the kernel's ``SubscriberRun`` already
makes sure it runs once per event.
"""

from __future__ import annotations

from comptoir.crm import services
from comptoir.crm.models import Opportunity, OpportunityStatus
from comptoir.kernel import events
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.models import OutboxEvent

ORDER_CONFIRMED = "sales.order_confirmed"


def mark_opportunity_won(event: OutboxEvent) -> None:
    opportunity_id = (event.payload or {}).get("opportunity_id")
    if not isinstance(opportunity_id, int) or event.company_id is None:
        return
    # A primary-key lookup: no ORDER BY (``first()`` would add the model's ordering).
    status = next(
        iter(
            Opportunity.objects.filter(company_id=event.company_id, pk=opportunity_id)
            .values_list("status", flat=True)
            .order_by()[:1]
        ),
        None,
    )
    if status != OpportunityStatus.OPEN:
        return
    services.opportunity_mark_won(actor=Actor.system(event.company_id, Channel.TASK), opportunity_id=opportunity_id)


def _has_opportunity(payload: dict[str, object]) -> bool:
    # Most orders come from a customer's quote without an opportunity: nothing to run for them.
    return isinstance(payload.get("opportunity_id"), int)


def register() -> None:
    events.subscribe(ORDER_CONFIRMED, mark_opportunity_won, key="crm.sales.order_confirmed", when=_has_opportunity)

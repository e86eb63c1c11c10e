"""Workflows of leads and opportunities (pure data, see kernel.states)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from comptoir.crm.models import LeadStatus, OpportunityStatus
from comptoir.kernel.states import Transition, Workflow

LEAD = Workflow(
    "lead",
    LeadStatus.values,
    [
        Transition("qualify", (LeadStatus.NEW,), LeadStatus.QUALIFIED, "crm.change_opportunity", _("Qualify")),
        Transition("discard", (LeadStatus.NEW,), LeadStatus.DISCARDED, "crm.change_opportunity", _("Discard")),
    ],
)

OPPORTUNITY = Workflow(
    "opportunity",
    OpportunityStatus.values,
    [
        Transition("mark_won", (OpportunityStatus.OPEN,), OpportunityStatus.WON, "crm.change_opportunity",
                   _("Mark won")),
        Transition("mark_lost", (OpportunityStatus.OPEN,), OpportunityStatus.LOST, "crm.change_opportunity",
                   _("Mark lost")),
        Transition("reopen", (OpportunityStatus.WON, OpportunityStatus.LOST), OpportunityStatus.OPEN,
                   "crm.change_opportunity", _("Reopen")),
    ],
)  # fmt: skip

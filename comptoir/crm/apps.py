from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "comptoir.crm"
    label = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from comptoir.contacts.merge import merge_registry
        from comptoir.contacts.timeline import registry as timeline_registry
        from comptoir.crm import demo, module
        from comptoir.crm import timeline as crm_timeline
        from comptoir.crm.models import Activity, Lead, Note, Opportunity
        from comptoir.kernel import demo as demo_registry
        from comptoir.kernel import events

        module.register()
        demo_registry.register("crm", demo.load)
        # Merging two contacts re-points the CRM's links too (contacts does not import crm).
        merge_registry.register(Opportunity, "organization")
        merge_registry.register(Opportunity.people.through, "person", unique_with=("opportunity",))
        merge_registry.register(Lead, "organization")
        merge_registry.register(Lead, "person")
        merge_registry.register(Activity, "organization")
        merge_registry.register(Activity, "person")
        merge_registry.register(Note, "organization")
        merge_registry.register(Note, "person")
        # The 360° pages of organizations and people show the CRM's history and figures.
        crm_timeline.register(timeline_registry)
        from comptoir.crm import followups, reminders, tasks  # noqa: F401 - tasks registers the periodic tasks
        from comptoir.crm.views_activities import render_timeline_panel

        timeline_registry.register_panel("activities", 10, render_timeline_panel, module="crm")

        events.subscribe(reminders.EVENT, reminders.email_reminder, key="crm.reminders.email")
        events.subscribe(followups.ALERT_EVENT, followups.email_alert, key="crm.followups.email")
        from comptoir.crm import sales_subscribers

        sales_subscribers.register()
        from comptoir.crm import accounting_subscribers

        accounting_subscribers.register()  # dunning: a task for the account manager

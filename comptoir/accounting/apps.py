from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountingConfig(AppConfig):
    name = "comptoir.accounting"
    label = "accounting"
    verbose_name = _("Accounting")

    def ready(self) -> None:
        from comptoir.accounting import demo, module
        from comptoir.accounting.chain import CHAIN_KIND
        from comptoir.kernel import demo as demo_registry
        from comptoir.kernel.sequences import register_kind

        module.register()
        from comptoir.accounting import timeline
        from comptoir.accounting.invoices import register_sequences
        from comptoir.contacts.timeline import registry as timeline_registry

        register_sequences()
        timeline.register(timeline_registry)
        from comptoir.accounting import timeline_payments

        timeline_payments.register(timeline_registry)
        from comptoir.accounting import timeline_terms

        timeline_terms.register(timeline_registry)  # invoicing profile panel, credit note allocations
        from comptoir.accounting import dunning, timeline_dunning
        from comptoir.kernel import events

        timeline_dunning.register(timeline_registry)
        events.subscribe(dunning.NOTICE_EVENT, dunning.email_notice, key="accounting.dunning.email")
        from comptoir.accounting import tasks

        tasks.register()  # the daily automatic reminders (kernel.schedule)
        demo_registry.register("accounting", demo.load)
        # The company-wide posting order: 1, 2, 3… never restarting.
        register_kind(CHAIN_KIND, "", "{n}", yearly=False)
        from comptoir.accounting.integrity import check_ledgers
        from comptoir.kernel.integrity import register_check

        # The nightly check-integrity verifies every company's hash chain too.
        register_check("accounting.ledger", check_ledgers)
        from comptoir.accounting import merge

        merge.register()  # a merged organization's accounting follows the survivor (or the merge is refused)

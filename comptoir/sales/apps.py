from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "comptoir.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from comptoir.sales import module

        module.register()
        from comptoir.sales import quotes

        quotes.register_sequences()
        from comptoir.contacts.timeline import registry as timeline_registry
        from comptoir.kernel import demo as demo_registry
        from comptoir.sales import demo, timeline

        timeline.register(timeline_registry)  # quotes on the customer's 360° page
        demo_registry.register("sales", demo.load)
        from comptoir.sales import orders_setup

        orders_setup.register()
        from comptoir.sales import reminders, sending

        reminders.register()  # quote reminders: the periodic task and the salesperson's email
        sending.register()  # quote emails leave from the outbox

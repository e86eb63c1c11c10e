from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactsConfig(AppConfig):
    name = "comptoir.contacts"
    label = "contacts"
    verbose_name = _("Contacts")

    def ready(self) -> None:
        from comptoir.contacts import demo, module, timeline
        from comptoir.kernel import demo as demo_registry

        module.register()
        demo_registry.register("contacts", demo.load)
        timeline.register_contacts_sources()

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "comptoir.crm"
    label = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from comptoir.contacts.merge import merge_registry
        from comptoir.crm import module
        from comptoir.crm.models import Lead, Opportunity

        module.register()
        # Merging two contacts re-points the CRM's links too (contacts does not import crm).
        merge_registry.register(Opportunity, "organization")
        merge_registry.register(Opportunity.people.through, "person", unique_with=("opportunity",))
        merge_registry.register(Lead, "organization")
        merge_registry.register(Lead, "person")

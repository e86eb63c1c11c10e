from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BankingConfig(AppConfig):
    name = "comptoir.banking"
    label = "banking"
    verbose_name = _("Banking")

    def ready(self) -> None:
        from comptoir.banking import demo, module
        from comptoir.kernel import demo as demo_registry

        module.register()
        demo_registry.register("banking", demo.load)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BankingConfig(AppConfig):
    name = "comptoir.banking"
    label = "banking"
    verbose_name = _("Banking")

    def ready(self) -> None:
        from comptoir.banking import demo, module, reconcile
        from comptoir.kernel import demo as demo_registry

        module.register()
        reconcile.register_subscribers()
        from comptoir.banking import closing

        closing.register()  # year-end closing waits for the year's bank lines
        demo_registry.register("banking", demo.load)

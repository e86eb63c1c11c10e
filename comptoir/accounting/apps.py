from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountingConfig(AppConfig):
    name = "comptoir.accounting"
    label = "accounting"
    verbose_name = _("Accounting")

    def ready(self) -> None:
        from comptoir.accounting import module

        module.register()

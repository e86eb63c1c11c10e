from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "comptoir.catalog"
    label = "catalog"
    verbose_name = _("Catalog")

    def ready(self) -> None:
        from comptoir.catalog import demo, module
        from comptoir.kernel import demo as demo_registry

        module.register()
        demo_registry.register("catalog", demo.load)
        from comptoir.catalog import merge

        merge.register()  # a merged customer's group and price lists follow the survivor

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "comptoir.web"
    label = "web"
    verbose_name = "Web"

    def ready(self) -> None:
        from comptoir.web import customer_directory

        customer_directory.install()

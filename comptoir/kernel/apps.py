from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "comptoir.kernel"
    label = "kernel"
    verbose_name = "Kernel"

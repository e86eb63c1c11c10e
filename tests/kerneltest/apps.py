"""A test-only app holding models that exercise kernel fields (money, quantities)."""

from django.apps import AppConfig


class KerneltestConfig(AppConfig):
    name = "tests.kerneltest"
    label = "kerneltest"
    default_auto_field = "django.db.models.BigAutoField"

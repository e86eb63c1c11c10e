"""Models used only by the kernel's tests: production apps never carry test tables."""

from django.db import models

from comptoir.kernel.money import MoneyField, QuantityField


class Amount(models.Model):
    amount = MoneyField(null=True, blank=True)
    quantity = QuantityField(null=True, blank=True)
    label = models.CharField(max_length=40, blank=True)

    class Meta:
        app_label = "kerneltest"

    def __str__(self) -> str:
        return f"{self.label or self.pk}: {self.amount}"

"""Exchange rates by date (multi-currency, ``currency.py``).

Imported at the end of ``models.py`` so Django registers the model with the app.

``CurrencyRate``: how many units of a foreign currency make 1 unit of the company currency
(EUR) on a date, as the ECB publishes them (1 EUR = 1.0850 USD). Exact: a scaled integer
with 8 decimal places, so a rate is never rounded by the database.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import ScaledIntegerField
from comptoir.org.models import Company

__all__ = ["RATE_PLACES", "CurrencyRate"]

RATE_PLACES = 8


class CurrencyRate(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(_("currency"), max_length=3)
    date = models.DateField(_("date"))
    rate = ScaledIntegerField(_("rate"), places=RATE_PLACES,
                              help_text=_("Units of the currency for 1 unit of the company currency."))  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["currency", "-date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "currency", "date"], name="accounting_rate_unique_day"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="accounting_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.date} 1 EUR = {self.rate} {self.currency}"

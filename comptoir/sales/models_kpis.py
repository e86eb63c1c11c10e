"""Sales targets: what a salesperson, a team or the whole company should sell over a period."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField
from comptoir.org.models import Company, Team

__all__ = ["SalesTarget"]


class SalesTarget(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    # A salesperson's target, a team's, or (neither) the company's.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="+", verbose_name=_("salesperson"))  # fmt: skip
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
                             verbose_name=_("team"))  # fmt: skip
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("to"))
    amount = MoneyField(_("target excluding VAT"))

    class Meta:
        verbose_name = _("sales target")
        verbose_name_plural = _("sales targets")
        ordering = ["start_date", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(end_date__gte=models.F("start_date")), name="sales_target_order"),
            models.CheckConstraint(
                condition=~models.Q(owner__isnull=False, team__isnull=False), name="sales_target_owner_or_team"
            ),
        ]
        indexes = [models.Index(fields=["company", "start_date", "end_date"], name="sales_target_period")]

    def __str__(self) -> str:
        return f"{self.start_date}–{self.end_date}: {self.amount}"

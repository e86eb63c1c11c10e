"""Dunning (relances): reminder levels per company and the notices sent to customers.

Imported at the end of ``models.py`` so Django registers these models with the app.

* ``DunningLevel``: e.g. 1 friendly at +7 days, 2 formal at +30, 3 final notice at +45 with
  the late-payment penalties and the 40 € recovery indemnity. A level sends an email (with
  the customer's statement attached), creates an activity for the account manager, or both.
* ``DunningSettings``: per company, whether reminders go out automatically every day (off by
  default) and how: email to the customer, activity for the account manager, or both.
* ``DunningNotice``: one reminder to one customer at one level on one day, with the overdue
  invoices it covered (``DunningNoticeLine``, amounts as they stood). Notices are the
  customer's dunning history and decide each invoice's next level: an invoice is reminded
  at most once per level.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.models import Invoice
from comptoir.contacts.models import Organization
from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField
from comptoir.org.models import Company

__all__ = ["DunningAction", "DunningLevel", "DunningNotice", "DunningNoticeLine", "DunningSettings"]


class DunningAction(models.TextChoices):
    EMAIL = "email", _("Email to the customer")
    ACTIVITY = "activity", _("Activity for the account manager")
    BOTH = "both", _("Email and activity")


class DunningLevel(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    sequence = models.PositiveSmallIntegerField(_("level"))
    name = models.CharField(_("name"), max_length=100)
    days_after_due = models.PositiveSmallIntegerField(_("days after the due date"))
    action = models.CharField(_("action"), max_length=10, choices=DunningAction.choices, default=DunningAction.EMAIL)
    # Text of the email; {customer}, {company}, {total} and {invoices} are filled in.
    subject = models.CharField(_("email subject"), max_length=200, blank=True)
    body = models.TextField(_("email text"), blank=True)
    attach_statement = models.BooleanField(_("attach the customer's statement"), default=True)
    # The final notice: late-payment penalties and the 40 € recovery indemnity per invoice.
    include_penalties = models.BooleanField(_("claim penalties and the 40 € indemnity"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("dunning level")
        verbose_name_plural = _("dunning levels")
        ordering = ["company", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["company", "sequence"], name="accounting_dunning_level_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence}. {self.name}"


class DunningNotice(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("customer"))  # fmt: skip
    level = models.ForeignKey(DunningLevel, on_delete=models.PROTECT, related_name="notices",
                              verbose_name=_("level"))  # fmt: skip
    date = models.DateField(_("date"))
    action = models.CharField(_("action"), max_length=10, choices=DunningAction.choices)
    total_due = MoneyField(_("amount overdue"), default=0)
    penalties = MoneyField(_("penalties"), default=0)
    indemnity = MoneyField(_("recovery indemnity"), default=0)
    sent_to = models.CharField(_("sent to"), max_length=254, blank=True)
    # Set by the outbox subscriber once the email has left; empty while it waits or retries.
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("dunning notice")
        verbose_name_plural = _("dunning notices")
        ordering = ["-date", "-id"]
        constraints = [
            # One notice per customer, level and day: a run repeated the same day adds nothing.
            models.UniqueConstraint(fields=["organization", "level", "date"], name="accounting_dunning_notice_once"),
        ]
        indexes = [models.Index(fields=["company", "organization", "date"], name="accounting_dunning_customer")]

    def __str__(self) -> str:
        return f"{self.level_id} {self.organization_id} {self.date}"


class DunningNoticeLine(models.Model):
    notice = models.ForeignKey(DunningNotice, on_delete=models.CASCADE, related_name="lines")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+")
    # The level reached by this invoice with this notice (drives the invoice's next level).
    level_sequence = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    days_overdue = models.PositiveIntegerField()
    residual_amount = MoneyField(default=0)
    penalties = MoneyField(default=0)

    class Meta:
        indexes = [models.Index(fields=["invoice", "level_sequence"], name="accounting_dunning_invoice")]

    def __str__(self) -> str:
        return f"{self.notice_id} {self.invoice_id} {self.level_sequence}"


class DunningSettings(ComptoirModel):
    """Automatic dunning: the daily task runs the reminders of the companies that switched it on."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="+")
    auto_enabled = models.BooleanField(_("send reminders automatically every day"), default=False)
    # Overrides each level's own action for the automatic runs (a manual run follows the levels).
    auto_mode = models.CharField(_("automatic reminders"), max_length=10, choices=DunningAction.choices,
                                 default=DunningAction.EMAIL)  # fmt: skip
    # The day of the last automatic run: the task runs each company once a day, however often it wakes.
    last_auto_run = models.DateField(_("last automatic run"), null=True, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("dunning settings")
        verbose_name_plural = _("dunning settings")

    def __str__(self) -> str:
        return f"{self.company_id} auto={self.auto_enabled} {self.auto_mode}"

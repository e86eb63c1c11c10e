"""Reconciliation: rules, what each statement line was reconciled with, and known partner IBANs.

Imported by ``models.py`` (so Django registers these models with the app); the bank models
are referred to by name, so this module never imports ``models``.

* ``ReconciliationRule``: per company, optionally per bank account. Conditions (all given
  ones must hold): the label contains a text, matches a regular expression, the amount lies
  in a range (on its absolute value, with a direction), the counterparty's IBAN. Action:
  post the line to an account (optionally with deductible VAT), or name the partner the
  proposals should look at.
* ``StatementLineMatch``: one reconciliation of one statement line — a payment (one or
  several invoices, the rest as the partner's credit), a manual counterpart entry, an entry
  made by a rule, or "ignored" with a reason. Undone matches keep their row (``is_active``
  false) with the reversal; at most one active match per line (a unique partial index, which
  also makes a double click reconcile once).
* ``PartnerBankAccount``: IBANs seen on reconciled lines, per partner: the next line from the
  same IBAN is that partner's.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.models import Account, JournalEntry
from comptoir.accounting.models_payments import Payment
from comptoir.contacts.models import Organization
from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField
from comptoir.org.models import Company

__all__ = [
    "VAT_RATES",
    "MatchKind",
    "PartnerBankAccount",
    "ReconciliationRule",
    "RuleAction",
    "RuleDirection",
    "StatementLineMatch",
]

VAT_RATES = (("", _("No VAT")), ("20", "20 %"), ("10", "10 %"), ("5.5", "5,5 %"), ("2.1", "2,1 %"))


class RuleAction(models.TextChoices):
    POST = "post", _("Post to an account")
    PARTNER = "partner", _("Assign a partner")


class RuleDirection(models.TextChoices):
    ANY = "any", _("Money in and out")
    INBOUND = "inbound", _("Money in")
    OUTBOUND = "outbound", _("Money out")


class ReconciliationRule(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    # Empty: every bank account of the company.
    bank_account = models.ForeignKey("banking.BankAccount", on_delete=models.CASCADE, null=True, blank=True,
                                     related_name="+", verbose_name=_("bank account"))  # fmt: skip
    name = models.CharField(_("name"), max_length=100)
    sequence = models.PositiveSmallIntegerField(_("priority"), default=10)
    is_active = models.BooleanField(_("active"), default=True)
    label_contains = models.CharField(_("label contains"), max_length=100, blank=True)
    label_regex = models.CharField(_("label matches (regular expression)"), max_length=200, blank=True)
    direction = models.CharField(_("direction"), max_length=10, choices=RuleDirection.choices,
                                 default=RuleDirection.ANY)  # fmt: skip
    amount_min = MoneyField(_("amount from"), null=True, blank=True)
    amount_max = MoneyField(_("amount up to"), null=True, blank=True)
    partner_iban = models.CharField(_("counterparty IBAN"), max_length=34, blank=True)
    action = models.CharField(_("action"), max_length=10, choices=RuleAction.choices, default=RuleAction.POST)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("account"))  # fmt: skip
    vat_rate = models.CharField(_("VAT rate"), max_length=4, choices=VAT_RATES, blank=True)
    entry_label = models.CharField(_("entry label"), max_length=200, blank=True)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("partner"))  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("reconciliation rule")
        verbose_name_plural = _("reconciliation rules")
        ordering = ["sequence", "id"]
        indexes = [models.Index(fields=["company", "is_active", "sequence"], name="banking_rule_company")]

    def __str__(self) -> str:
        return self.name


class MatchKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    MANUAL = "manual", _("Manual entry")
    RULE = "rule", _("Rule")
    IGNORED = "ignored", _("Ignored")


class StatementLineMatch(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    line = models.ForeignKey("banking.BankStatementLine", on_delete=models.PROTECT, related_name="matches")
    kind = models.CharField(_("kind"), max_length=10, choices=MatchKind.choices)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    journal_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+")  # fmt: skip
    rule = models.ForeignKey(ReconciliationRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                             verbose_name=_("rule"))  # fmt: skip
    account = models.ForeignKey(Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # [{"invoice_id", "number", "amount"}] for a payment; what the proposal said, as codes.
    invoices = models.JSONField(default=list, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    score = models.PositiveSmallIntegerField(default=0)
    credit = MoneyField(_("left as credit"), default=0)
    note = models.CharField(_("reason"), max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    reversal_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+")  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("statement line match")
        verbose_name_plural = _("statement line matches")
        ordering = ["line", "id"]
        constraints = [
            models.UniqueConstraint(fields=["line"], condition=models.Q(is_active=True),
                                    name="banking_match_one_active"),
        ]  # fmt: skip
        indexes = [models.Index(fields=["company", "kind", "is_active"], name="banking_match_company")]

    def __str__(self) -> str:
        return f"{self.line_id}: {self.kind}"


class PartnerBankAccount(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # Upper case, no spaces.
    iban = models.CharField(_("IBAN"), max_length=34)
    times_seen = models.PositiveIntegerField(default=1)
    last_seen = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("partner bank account")
        verbose_name_plural = _("partner bank accounts")
        constraints = [
            models.UniqueConstraint(fields=["company", "iban", "organization"], name="banking_partner_iban_unique"),
        ]

    def __str__(self) -> str:
        return self.iban

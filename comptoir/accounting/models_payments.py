"""Payments, their allocations to invoices, and the matchings (lettrage) of partner lines.

Imported at the end of ``models.py`` so Django registers these models with the app.

* ``Matching``: one letter code (AA, AB, … ZZ, AAA…) of a partner account, issued in order
  and never reused, so the codes of an account have no gaps. A matching that is undone (or
  merged into an older one) keeps its row and code, flagged ``undone``. Lines carry the code
  in ``JournalLine.matching_code``: upper case when the matched lines sum to zero (full),
  lower case while they do not (partial).
* ``Payment``: money received from a customer (inbound) or paid to a supplier (outbound),
  booked by one posted entry in a bank or cash journal. Cancelled only by a reversal entry.
  Its ``idempotency_key`` is unique per company: the same request twice records it once.
* ``PaymentAllocation``: the part of a payment that settles one invoice. What is left
  (``Payment.unallocated``) stays on the partner account as a credit, usable later.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from comptoir.accounting.models import Invoice, Journal, JournalEntry, JournalLine, PartnerAccount
from comptoir.contacts.models import Organization
from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField
from comptoir.org.models import Company, Site

__all__ = ["Matching", "Payment", "PaymentAllocation", "PaymentDirection", "PaymentMethod", "PaymentState"]


class Matching(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    partner_account = models.ForeignKey(PartnerAccount, on_delete=models.PROTECT, related_name="+",
                                        verbose_name=_("partner account"))  # fmt: skip
    # Position in the account's sequence of codes (0 → AA): rows are never deleted.
    index = models.PositiveIntegerField()
    code = models.CharField(_("matching code"), max_length=10)
    full = models.BooleanField(_("full"), default=False)
    date = models.DateField(_("matched on"))
    undone = models.BooleanField(_("undone"), default=False)
    merged_into = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("matching")
        verbose_name_plural = _("matchings")
        ordering = ["partner_account", "index"]
        constraints = [
            models.UniqueConstraint(fields=["partner_account", "index"], name="accounting_matching_unique_index"),
            models.UniqueConstraint(fields=["partner_account", "code"], name="accounting_matching_unique_code"),
        ]

    def __str__(self) -> str:
        return self.line_code

    @property
    def line_code(self) -> str:
        """The code written on the lines: upper case when full, lower case when partial."""
        return self.code if self.full else self.code.lower()


class PaymentDirection(models.TextChoices):
    INBOUND = "inbound", _("Received")
    OUTBOUND = "outbound", _("Paid out")


class PaymentMethod(models.TextChoices):
    TRANSFER = "transfer", _("Bank transfer")
    CARD = "card", _("Card")
    CHEQUE = "cheque", _("Cheque")
    CASH = "cash", pgettext_lazy("payment method", "Cash")
    DIRECT_DEBIT = "direct_debit", _("Direct debit")


class PaymentState(models.TextChoices):
    POSTED = "posted", pgettext_lazy("payment state", "Posted")
    CANCELLED = "cancelled", pgettext_lazy("payment state", "Cancelled")


class Payment(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(_("direction"), max_length=10, choices=PaymentDirection.choices)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("partner"))  # fmt: skip
    partner_account = models.ForeignKey(PartnerAccount, on_delete=models.PROTECT, related_name="+",
                                        verbose_name=_("partner account"))  # fmt: skip
    date = models.DateField(_("date"))
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="+", verbose_name=_("journal"))
    # The establishment the payment belongs to (from the invoice it settles, or chosen).
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("site"))  # fmt: skip
    method = models.CharField(_("method"), max_length=15, choices=PaymentMethod.choices)
    reference = models.CharField(_("reference"), max_length=140, blank=True)
    # What the payment left on the partner account (a customer credit, or an advance to a
    # supplier): the amount minus its active allocations.
    unallocated = MoneyField(_("credit left"), default=0)
    state = models.CharField(_("state"), max_length=10, choices=PaymentState.choices, default=PaymentState.POSTED)
    # Unique per company when given: a retried or double-submitted request finds this row.
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, blank=True)
    # SHA-256 of the request's content, so a key reused for another request is refused.
    request_digest = models.CharField(max_length=64, blank=True)
    journal_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+", verbose_name=_("journal entry"))  # fmt: skip
    # The partner line holding the unallocated remainder (the credit), if any.
    credit_line = models.ForeignKey(JournalLine, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cancel_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("reversal entry"))  # fmt: skip
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "idempotency_key"], name="accounting_payment_unique_key",
                condition=~models.Q(idempotency_key=""),
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="accounting_payment_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(unallocated__gte=0, unallocated__lte=models.F("amount")),
                name="accounting_payment_unallocated_range",
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["company", "date", "id"], name="accounting_payment_date"),
            models.Index(fields=["company", "organization", "date"], name="accounting_payment_partner"),
        ]

    # Set by ``payment_register`` when the request replayed an earlier one (same key).
    replayed = False

    def __str__(self) -> str:
        return str(_("Payment %(id)s") % {"id": self.pk})

    @property
    def is_posted(self) -> bool:
        return self.state == PaymentState.POSTED

    @property
    def allocated(self) -> Decimal:
        return Decimal(self.amount) - Decimal(self.unallocated)


class PaymentAllocation(ComptoirModel):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+", verbose_name=_("invoice"))
    amount = MoneyField(_("amount"))
    date = models.DateField(_("date"))
    # The payment's partner line this part is matched through: its own line, or the credit
    # line when an earlier credit is used.
    line = models.ForeignKey(JournalLine, on_delete=models.PROTECT, related_name="+")
    from_credit = models.BooleanField(_("from a credit"), default=False)
    # VAT on receipts moved from the waiting account when a credit is used (an OD entry).
    vat_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # VAT on receipts this part made chargeable, signed like the waiting account's balance
    # (positive: collected VAT moved from 44574 to 44571; negative: the opposite direction).
    vat_moved = MoneyField(default=0)
    # Cancelled with the payment: kept for the history, no longer counted.
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("payment allocation")
        verbose_name_plural = _("payment allocations")
        ordering = ["payment", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="accounting_allocation_amount_positive"),
        ]
        indexes = [models.Index(fields=["invoice", "is_active"], name="accounting_allocation_invoice")]

    def __str__(self) -> str:
        return f"{self.payment_id} → {self.invoice_id}: {self.amount}"

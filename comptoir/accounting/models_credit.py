"""Credit notes (and supplier refunds) allocated to open invoices without any money.

Imported at the end of ``models.py`` so Django registers the model with the app.

``CreditAllocation``: the part of a posted customer credit note (or vendor refund) that
settles one open invoice (or bill) of the same partner account. Both documents' amounts due
go down by ``amount``; their partner lines are matched together (lettrage). No bank line:
the only entry it may write is the VAT-on-receipts move of the two documents (an OD entry).
A request may carry an ``idempotency_key``: the rows it wrote carry it and its digest, so a
retry returns them instead of allocating twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.models import Invoice, JournalEntry, JournalLine
from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField
from comptoir.org.models import Company

__all__ = ["CreditAllocation"]


class CreditAllocation(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    credit_note = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("credit note"))  # fmt: skip
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+", verbose_name=_("invoice"))
    amount = MoneyField(_("amount"))
    date = models.DateField(_("date"))
    # VAT on receipts made chargeable on each side, signed like the waiting account's
    # balance (see PaymentAllocation.vat_moved), and the OD entry that moved it, if any.
    invoice_vat_moved = MoneyField(default=0)
    credit_vat_moved = MoneyField(default=0)
    vat_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # This allocation's own realised exchange difference (a partner line of ``vat_entry``, which
    # one use of a credit note shares between the invoices it settles): re-matching one invoice
    # takes back its own line, not the other invoices'.
    exchange_line = models.ForeignKey(JournalLine, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, blank=True)
    request_digest = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("credit note allocation")
        verbose_name_plural = _("credit note allocations")
        ordering = ["credit_note", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="accounting_credit_alloc_positive"),
            models.UniqueConstraint(
                fields=["company", "idempotency_key", "invoice"], name="accounting_credit_alloc_unique_key",
                condition=~models.Q(idempotency_key=""),
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["credit_note", "is_active"], name="accounting_credalloc_credit"),
            models.Index(fields=["invoice", "is_active"], name="accounting_credalloc_invoice"),
        ]

    def __str__(self) -> str:
        return f"{self.credit_note_id} → {self.invoice_id}: {self.amount}"

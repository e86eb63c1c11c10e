"""Sales orders, their lines, invoicing plans and links to invoices.

A ``SalesOrder`` is created from an accepted quote (or directly for a customer) and takes
its number (``kernel.sequences`` kind ``sales.order``, ``CO-2026-00001``) when it is
confirmed. Its lines keep three quantities: ordered, delivered (``deliveries.py``, later
the inventory module) and invoiced (``invoicing.py``). The invoicing plan holds down
payments and milestones; ``OrderInvoice`` links an accounting invoice (or credit note) to
the order, and ``OrderInvoiceLine`` says which order line each invoice line bills, so the
invoiced quantities are always the sum of what the linked invoices bill.

Accounting never imports sales: invoices made from an order carry
``source_type="sales.order"`` and ``source_id`` (the order's id).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from comptoir.accounting.models import VAT_CATEGORIES, VAT_FISCAL_POSITIONS, Invoice, LineOperation, PaymentTerm
from comptoir.catalog.models import Product, Uom
from comptoir.contacts.models import Organization, Person
from comptoir.crm.models import Opportunity
from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField, QuantityField, ScaledIntegerField
from comptoir.org.models import Company, Site, Team
from comptoir.sales.models_quotes import Quote, QuoteLine

__all__ = [
    "InvoicingMilestone",
    "InvoicingPolicy",
    "MilestoneKind",
    "OrderInvoice",
    "OrderInvoiceKind",
    "OrderInvoiceLine",
    "OrderLineKind",
    "OrderState",
    "SalesOrder",
    "SalesOrderLine",
]


class OrderState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    CONFIRMED = "confirmed", _("Confirmed")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", pgettext_lazy("order state", "Cancelled")


class InvoicingPolicy(models.TextChoices):
    ORDER = "order", _("On order (ordered quantities)")
    DELIVERY = "delivery", _("On delivery (delivered quantities)")


class OrderLineKind(models.TextChoices):
    PRODUCT = "product", _("Product or service")
    TEXT = "text", _("Text")
    SECTION = "section", _("Section")


class SalesOrder(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    # Empty until confirmation: the number is taken at the legal moment, gapless.
    number = models.CharField(_("number"), max_length=40, blank=True)
    quote = models.OneToOneField(Quote, on_delete=models.PROTECT, null=True, blank=True, related_name="sales_order",
                                 verbose_name=_("quote"))  # fmt: skip
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("customer"))  # fmt: skip
    contact = models.ForeignKey(Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                verbose_name=_("contact"))  # fmt: skip
    opportunity = models.ForeignKey(Opportunity, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("opportunity"))  # fmt: skip
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("salesperson"))  # fmt: skip
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                             verbose_name=_("team"))  # fmt: skip
    # The establishment that sells (default: the head office); its invoices and their entries carry it.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("site"))  # fmt: skip
    state = models.CharField(_("state"), max_length=10, choices=OrderState.choices, default=OrderState.DRAFT)
    invoicing_policy = models.CharField(_("invoicing policy"), max_length=10, choices=InvoicingPolicy.choices,
                                        default=InvoicingPolicy.ORDER)  # fmt: skip
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    payment_term = models.ForeignKey(PaymentTerm, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("payment term"))  # fmt: skip
    fiscal_position = models.CharField(_("fiscal position"), max_length=30, choices=VAT_FISCAL_POSITIONS,
                                       default="france")  # fmt: skip
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES, default="fr")
    customer_reference = models.CharField(_("customer's order reference"), max_length=100, blank=True)
    delivery_address = models.JSONField(_("delivery address"), default=dict, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    order_date = models.DateField(_("order date"), null=True, blank=True)
    commitment_date = models.DateField(_("commitment date"), null=True, blank=True)
    untaxed_amount = MoneyField(_("total excluding VAT"), default=0)
    tax_amount = MoneyField(_("VAT"), default=0)
    total_amount = MoneyField(_("total including VAT"), default=0)
    # Net (excluding VAT) billed by the linked invoices, drafts included, minus posted credit notes.
    invoiced_amount = MoneyField(_("invoiced excluding VAT"), default=0)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.TextField(_("reason for cancelling"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("sales order")
        verbose_name_plural = _("sales orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "number"], name="sales_order_unique_number", condition=~models.Q(number="")
            ),
        ]
        indexes = [
            models.Index(fields=["company", "-id"], name="sales_order_list"),
            models.Index(fields=["company", "state", "-id"], name="sales_order_state"),
            models.Index(fields=["company", "owner", "-id"], name="sales_order_owner"),
            models.Index(fields=["company", "organization", "-id"], name="sales_order_org"),
            models.Index(fields=["company", "team", "-id"], name="sales_order_team"),
            models.Index(fields=["company", "number"], name="sales_order_number"),
        ]

    def __str__(self) -> str:
        return self.number or str(_("Draft order #%(id)s") % {"id": self.pk})

    @property
    def display_number(self) -> str:
        return str(self)


class SalesOrderLine(ComptoirModel):
    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=OrderLineKind.choices, default=OrderLineKind.PRODUCT)
    quote_line = models.ForeignKey(QuoteLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("product"))  # fmt: skip
    description = models.TextField(_("description"), blank=True)
    operation = models.CharField(_("goods or services"), max_length=10, choices=LineOperation.choices,
                                 default=LineOperation.GOODS)  # fmt: skip
    quantity = QuantityField(_("quantity ordered"), default=0)
    quantity_delivered = QuantityField(_("quantity delivered"), default=0)
    quantity_invoiced = QuantityField(_("quantity invoiced"), default=0)
    uom = models.ForeignKey(Uom, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                            verbose_name=_("unit"))  # fmt: skip
    unit_price = ScaledIntegerField(_("unit price"), places=4, default=0)
    discount_percent = ScaledIntegerField(_("discount (%)"), places=2, default=0)
    vat_code = models.CharField(_("VAT category"), max_length=20, choices=VAT_CATEGORIES, default="standard")
    tax_category = models.CharField(_("VAT code"), max_length=2, blank=True)
    vat_rate = ScaledIntegerField(_("VAT rate (%)"), places=2, default=0)
    net_amount = MoneyField(_("net amount"), default=0)

    class Meta:
        verbose_name = _("sales order line")
        verbose_name_plural = _("sales order lines")
        ordering = ["order", "position", "id"]
        indexes = [models.Index(fields=["order", "position"], name="sales_orderline_position")]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gte=0), name="sales_orderline_qty_pos"),
            models.CheckConstraint(condition=models.Q(quantity_delivered__gte=0), name="sales_orderline_deliv_pos"),
        ]

    def __str__(self) -> str:
        return self.name[:80]

    @property
    def name(self) -> str:
        return (self.description or "").split("\n", 1)[0]

    @property
    def is_product(self) -> bool:
        return self.kind == OrderLineKind.PRODUCT


class MilestoneKind(models.TextChoices):
    DOWN_PAYMENT = "down_payment", _("Down payment")
    MILESTONE = "milestone", _("Milestone")


class InvoicingMilestone(ComptoirModel):
    """A row of the order's invoicing plan: a down payment (percentage or amount) or a milestone (percentage)."""

    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=15, choices=MilestoneKind.choices)
    label = models.CharField(_("label"), max_length=200)
    # Percentage of the order's total excluding VAT, or (down payments only) a fixed amount excluding VAT.
    percent = ScaledIntegerField(_("percentage"), places=2, null=True, blank=True)
    amount = MoneyField(_("amount excluding VAT"), null=True, blank=True)
    # The invoice that billed it (released when that draft is deleted or cancelled).
    invoice = models.ForeignKey(Invoice, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                verbose_name=_("invoice"))  # fmt: skip

    class Meta:
        verbose_name = _("invoicing milestone")
        verbose_name_plural = _("invoicing plan")
        ordering = ["order", "position", "id"]
        indexes = [models.Index(fields=["order", "position"], name="sales_milestone_position")]


class OrderInvoiceKind(models.TextChoices):
    REGULAR = "regular", _("Invoice")
    DOWN_PAYMENT = "down_payment", _("Down payment invoice")
    MILESTONE = "milestone", _("Milestone invoice")
    FINAL = "final", _("Final invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")


class OrderInvoice(ComptoirModel):
    """An accounting invoice or credit note made from the order (the link goes with a deleted draft)."""

    order = models.ForeignKey(SalesOrder, on_delete=models.PROTECT, related_name="invoice_links")
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="+", verbose_name=_("invoice"))
    kind = models.CharField(_("kind"), max_length=15, choices=OrderInvoiceKind.choices)

    class Meta:
        verbose_name = _("order invoice")
        verbose_name_plural = _("order invoices")
        ordering = ["order", "id"]
        indexes = [models.Index(fields=["order", "id"], name="sales_orderinvoice_order")]


class OrderInvoiceLine(ComptoirModel):
    """What one invoice line bills: an order line's quantity, or a down payment (or its deduction)."""

    link = models.ForeignKey(OrderInvoice, on_delete=models.CASCADE, related_name="lines")
    invoice_sequence = models.PositiveSmallIntegerField(default=0)
    order_line = models.ForeignKey(SalesOrderLine, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="invoice_lines")  # fmt: skip
    # Signed: negative on credit notes.
    quantity = QuantityField(_("quantity"), default=0)
    # Net excluding VAT, signed (a down payment's deduction is negative).
    amount = MoneyField(_("amount"), default=0)
    # On a final invoice, the down-payment invoice link this line deducts.
    deducts = models.ForeignKey(OrderInvoice, on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("order invoice line")
        verbose_name_plural = _("order invoice lines")
        ordering = ["link", "invoice_sequence", "id"]

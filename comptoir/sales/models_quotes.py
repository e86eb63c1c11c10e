"""Quotes, their lines and versions.

A quote belongs to a company and an organization (the customer). Its number is taken at
creation from ``kernel.sequences`` (kind ``sales.quote``, ``DE-2026-00001``). Totals are the
EN 16931 computation of invoices (``accounting.invoices._compute``) on the lines that count:
product lines, optional ones only when selected; sections and text lines never count.

Each time a quote is sent its current version is frozen in ``QuoteVersion`` (a JSON
snapshot holding everything the PDF needs, and the PDF itself once rendered); revising a
sent quote starts the next version as a draft. The services in ``sales/quotes.py`` do
every write.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from comptoir.accounting.models import VAT_CATEGORIES, VAT_FISCAL_POSITIONS, LineOperation, PaymentTerm
from comptoir.catalog.models import Product, Uom
from comptoir.contacts.models import Organization, Person
from comptoir.crm.models import Opportunity
from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField, QuantityField, ScaledIntegerField
from comptoir.org.models import Company, Site, Team

__all__ = [
    "AcceptanceVia",
    "Quote",
    "QuoteLine",
    "QuoteLineKind",
    "QuoteState",
    "QuoteVersion",
]


class QuoteState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    REFUSED = "refused", _("Refused")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", pgettext_lazy("quote state", "Cancelled")


class AcceptanceVia(models.TextChoices):
    NONE = "", _("Not accepted")
    ONLINE = "online", _("Online, by the customer")
    SALESPERSON = "salesperson", _("Recorded by the salesperson")


class QuoteLineKind(models.TextChoices):
    PRODUCT = "product", _("Product or service")
    TEXT = "text", _("Text")
    SECTION = "section", _("Section")


class Quote(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    number = models.CharField(_("number"), max_length=40)
    title = models.CharField(_("subject"), max_length=200, blank=True)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("customer"))  # fmt: skip
    contact = models.ForeignKey(Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                verbose_name=_("contact"))  # fmt: skip
    opportunity = models.ForeignKey(Opportunity, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="quotes", verbose_name=_("opportunity"))  # fmt: skip
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("salesperson"))  # fmt: skip
    # The owner's team when the quote was made (the "my team" scope keys on owner and team).
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                             verbose_name=_("team"))  # fmt: skip
    # The establishment that sells (default: the head office); its invoices and their entries carry it.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("site"))  # fmt: skip
    state = models.CharField(_("state"), max_length=10, choices=QuoteState.choices, default=QuoteState.DRAFT)
    # The current version: 1 at creation, +1 at each revision of a sent quote.
    version = models.PositiveIntegerField(_("version"), default=1)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    issue_date = models.DateField(_("date"))
    valid_until = models.DateField(_("valid until"))
    payment_term = models.ForeignKey(PaymentTerm, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("payment term"))  # fmt: skip
    # The customer's VAT regime (from its partner profile), which decides each line's VAT.
    fiscal_position = models.CharField(_("fiscal position"), max_length=30, choices=VAT_FISCAL_POSITIONS,
                                       default="france")  # fmt: skip
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES, default="fr")
    notes = models.TextField(_("notes"), blank=True)
    # Document discount (an EN 16931 document allowance, spread per VAT rate).
    discount_percent = ScaledIntegerField(_("discount (%)"), places=2, default=0)
    lines_amount = MoneyField(_("lines total"), default=0)
    discount_amount = MoneyField(_("discount"), default=0)
    untaxed_amount = MoneyField(_("total excluding VAT"), default=0)
    tax_amount = MoneyField(_("VAT"), default=0)
    total_amount = MoneyField(_("total including VAT"), default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by_name = models.CharField(_("accepted by"), max_length=200, blank=True)
    accepted_ip = models.GenericIPAddressField(_("acceptance IP address"), null=True, blank=True)
    accepted_version = models.PositiveIntegerField(_("accepted version"), null=True, blank=True)
    acceptance_via = models.CharField(_("accepted"), max_length=12, choices=AcceptanceVia.choices, blank=True,
                                      default="")  # fmt: skip
    refusal_reason = models.TextField(_("refusal reason"), blank=True)
    reminder_sent_at = models.DateTimeField(_("reminder sent at"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        ordering = ["-number", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="sales_quote_unique_number"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="sales_quote_version_pos"),
            models.CheckConstraint(
                condition=models.Q(discount_percent__gte=0, discount_percent__lte=100),
                name="sales_quote_discount_range",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "-number"], name="sales_quote_list"),
            models.Index(fields=["company", "state", "-number"], name="sales_quote_state"),
            models.Index(fields=["company", "owner", "-number"], name="sales_quote_owner"),
            models.Index(fields=["company", "organization", "-number"], name="sales_quote_org"),
            models.Index(fields=["company", "team", "-number"], name="sales_quote_team"),
            models.Index(
                fields=["company", "valid_until"], name="sales_quote_expiry", condition=models.Q(state="sent")
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_draft(self) -> bool:
        return self.state == QuoteState.DRAFT


class QuoteLine(ComptoirModel):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=QuoteLineKind.choices, default=QuoteLineKind.PRODUCT)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("product"))  # fmt: skip
    # The designation (first line) and details; a section's title; a text line's text.
    description = models.TextField(_("description"), blank=True)
    operation = models.CharField(_("goods or services"), max_length=10, choices=LineOperation.choices,
                                 default=LineOperation.GOODS)  # fmt: skip
    quantity = QuantityField(_("quantity"), default=1)
    uom = models.ForeignKey(Uom, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                            verbose_name=_("unit"))  # fmt: skip
    # Excluding VAT, up to 4 decimals like invoice lines.
    unit_price = ScaledIntegerField(_("unit price"), places=4, default=0)
    discount_percent = ScaledIntegerField(_("discount (%)"), places=2, default=0)
    # The VAT category code (accounting.vat.VatCategory, the catalog's vat_category).
    vat_code = models.CharField(_("VAT category"), max_length=20, choices=VAT_CATEGORIES, default="standard")
    # Decided by accounting.vat.decide from the category and the quote's fiscal position.
    tax_category = models.CharField(_("VAT code"), max_length=2, blank=True)
    vat_rate = ScaledIntegerField(_("VAT rate (%)"), places=2, default=0)
    optional = models.BooleanField(_("optional"), default=False)
    # Counts in the totals: always for a product line that is not optional; for an optional
    # line, when the salesperson or the customer picked it.
    selected = models.BooleanField(_("selected"), default=True)
    # Where the default price came from (catalog.pricing's one-line explanation).
    price_explanation = models.CharField(_("price explanation"), max_length=500, blank=True)
    net_amount = MoneyField(_("net amount"), default=0)
    # The line's share of VAT at its rate, for display (totals round VAT once per rate).
    tax_amount = MoneyField(_("VAT"), default=0)

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["quote", "position", "id"]
        indexes = [models.Index(fields=["quote", "position"], name="sales_quoteline_position")]

    def __str__(self) -> str:
        return (self.description or "").split("\n", 1)[0][:80]

    @property
    def counts(self) -> bool:
        """Whether the line is in the totals."""
        return self.kind == QuoteLineKind.PRODUCT and (self.selected or not self.optional)

    @property
    def name(self) -> str:
        return (self.description or "").split("\n", 1)[0]


class QuoteVersion(ComptoirModel):
    """A version as sent: its frozen snapshot (header, lines, totals) and its PDF once rendered."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    snapshot = models.JSONField(_("snapshot"), default=dict)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    pdf = models.BinaryField(_("PDF"), null=True, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("quote version")
        verbose_name_plural = _("quote versions")
        ordering = ["quote", "-version"]
        constraints = [models.UniqueConstraint(fields=["quote", "version"], name="sales_quoteversion_unique")]

    def __str__(self) -> str:
        return f"{self.quote_id} v{self.version}"

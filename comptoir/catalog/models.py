"""Products and services, units of measure, product categories, customer groups, price lists.

Every row belongs to a company. Prices are ``MoneyField`` (integer minor units) per the
product's sale unit, excluding VAT. Unit factors are exact fractions (numerator /
denominator of the category's reference unit), so conversions never drift.

Customers are ``contacts.Organization`` rows, which this layer may not import: catalog
refers to them by id only (``customer_id``, ``organization_id``), see
docs/decisions/0010-catalog-customer-links.md.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField, QuantityField, ScaledIntegerField
from comptoir.org.models import Company


def _localized(obj: Any, field: str) -> str:
    """The English value for English readers when there is one, the French value otherwise."""
    english = getattr(obj, f"{field}_en", "")
    if english and (translation.get_language() or "").startswith("en"):
        return str(english)
    return str(getattr(obj, f"{field}_fr", "") or english)


class UomCategory(ComptoirModel):
    """A dimension (units, weight, length, time, volume…): units convert only within one."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    # The seed's key ("unit", "weight"…), empty for categories a company adds.
    code = models.CharField(_("code"), max_length=40, blank=True)
    name_fr = models.CharField(_("name (French)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("unit category")
        verbose_name_plural = _("unit categories")
        ordering = ["name_fr", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "code"], condition=~models.Q(code=""), name="catalog_uomcategory_unique_code"
            ),
            models.UniqueConstraint(fields=["company", "name_fr"], name="catalog_uomcategory_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return _localized(self, "name")


class Uom(ComptoirModel):
    """A unit of measure. One of it is ``factor_numerator / factor_denominator`` reference units
    of its category (the reference unit has 1/1): a box of 12 is 12/1 units, a gram 1/1000 kg."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(UomCategory, on_delete=models.PROTECT, related_name="uoms", verbose_name=_("category"))
    code = models.CharField(_("code"), max_length=40, blank=True)
    name_fr = models.CharField(_("name (French)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    symbol = models.CharField(_("symbol"), max_length=20)
    factor_numerator = models.PositiveBigIntegerField(_("factor numerator"), default=1)
    factor_denominator = models.PositiveBigIntegerField(_("factor denominator"), default=1)
    # Quantities in this unit are rounded to this many decimals (0: whole boxes).
    rounding_places = models.PositiveSmallIntegerField(_("decimal places"), default=0)
    # UN/ECE Recommendation 20 code, written in e-invoices (BT-130): C62, KGM, MTR, HUR…
    unece_code = models.CharField(_("UN/ECE code"), max_length=3)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("unit of measure")
        verbose_name_plural = _("units of measure")
        ordering = ["category_id", "factor_numerator", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "code"], condition=~models.Q(code=""), name="catalog_uom_unique_code"
            ),
            models.UniqueConstraint(fields=["company", "category", "symbol"], name="catalog_uom_unique_symbol"),
            models.CheckConstraint(condition=models.Q(factor_numerator__gte=1), name="catalog_uom_numerator_pos"),
            models.CheckConstraint(condition=models.Q(factor_denominator__gte=1), name="catalog_uom_denominator_pos"),
            models.CheckConstraint(condition=models.Q(rounding_places__lte=6), name="catalog_uom_rounding_max"),
        ]

    def __str__(self) -> str:
        return self.symbol

    @property
    def name(self) -> str:
        return _localized(self, "name")

    @property
    def factor(self) -> Fraction:
        """How many reference units one of this unit is, exactly."""
        return Fraction(self.factor_numerator, self.factor_denominator)

    @property
    def is_reference(self) -> bool:
        return self.factor_numerator == self.factor_denominator


class ProductCategory(ComptoirModel):
    """A node of the product tree. ``path`` lists the ids from the root ("/3/8/"), kept by the
    services, so "in this category or below" is one ``startswith``."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent")
    )
    path = models.CharField(max_length=255, blank=True, editable=False)
    full_name = models.CharField(_("full name"), max_length=500, blank=True, editable=False)

    class Meta:
        verbose_name = _("product category")
        verbose_name_plural = _("product categories")
        ordering = ["full_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "parent", "name"], name="catalog_category_unique_name"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this category, itself included."""
        return [int(part) for part in self.path.strip("/").split("/") if part]


class ProductKind(models.TextChoices):
    GOODS = "goods", _("Storable good")
    CONSUMABLE = "consumable", _("Consumable")
    SERVICE = "service", _("Service")


class VatCategory(models.TextChoices):
    """The same codes as ``accounting.vat.VatCategory`` (catalog may not import accounting)."""

    STANDARD = "standard", _("Standard rate (20 %)")
    INTERMEDIATE = "intermediate", _("Intermediate rate (10 %)")
    REDUCED = "reduced", _("Reduced rate (5.5 %)")
    SUPER_REDUCED = "super_reduced", _("Super-reduced rate (2.1 %)")
    EXEMPT_CARE_EDUCATION = "exempt_261_4", _("Exempt: care, education, training (CGI 261-4)")
    EXEMPT_FINANCE = "exempt_261c_1", _("Exempt: banking and finance (CGI 261 C 1°)")
    EXEMPT_INSURANCE = "exempt_261c_2", _("Exempt: insurance (CGI 261 C 2°)")
    OUT_OF_SCOPE = "out_of_scope", _("Out of scope of VAT")


def product_image_storage() -> FileSystemStorage:
    """Product images live in the data directory and are served by a view that checks rights."""
    return FileSystemStorage(location=Path(settings.DATA_DIR) / "media")


def _image_path(instance: Product, filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return f"catalog/{instance.company_id}/product-{instance.pk or 'new'}{suffix}"


class Product(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(_("internal reference"), max_length=64)
    barcode = models.CharField(_("barcode (EAN-13)"), max_length=13, blank=True)
    name_fr = models.CharField(_("name (French)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    description_fr = models.TextField(_("description (French)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=ProductKind.choices, default=ProductKind.GOODS)
    category = models.ForeignKey(
        ProductCategory, on_delete=models.PROTECT, null=True, blank=True, related_name="products",
        verbose_name=_("category"),
    )  # fmt: skip
    sale_uom = models.ForeignKey(Uom, on_delete=models.PROTECT, related_name="+", verbose_name=_("sale unit"))
    purchase_uom = models.ForeignKey(Uom, on_delete=models.PROTECT, related_name="+", verbose_name=_("purchase unit"))
    # Per sale unit (resp. purchase unit), excluding VAT.
    sale_price = MoneyField(_("sale price"), default=0)
    purchase_price = MoneyField(_("purchase price"), default=0)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    vat_category = models.CharField(
        _("VAT category"), max_length=20, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    is_archived = models.BooleanField(_("archived"), default=False)
    image = models.ImageField(_("image"), upload_to=_image_path, storage=product_image_storage, blank=True)
    # Folded (accent- and case-insensitive) reference, barcode and names; services keep it up to date.
    search_text = models.CharField(max_length=1000, blank=True, editable=False)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["reference", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "reference"], name="catalog_product_unique_reference"),
            models.UniqueConstraint(
                fields=["company", "barcode"], condition=~models.Q(barcode=""), name="catalog_product_unique_barcode"
            ),
            models.CheckConstraint(condition=models.Q(sale_price__gte=0), name="catalog_product_sale_price_pos"),
            models.CheckConstraint(
                condition=models.Q(purchase_price__gte=0), name="catalog_product_purchase_price_pos"
            ),
        ]
        indexes = [models.Index(fields=["company", "is_archived", "reference"], name="catalog_product_list")]

    def __str__(self) -> str:
        return f"[{self.reference}] {self.name}"

    @property
    def name(self) -> str:
        return _localized(self, "name")

    @property
    def description(self) -> str:
        return _localized(self, "description")


class CustomerGroup(ComptoirModel):
    """Customers priced alike (wholesalers, resellers…); price lists may target a group."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("customer group")
        verbose_name_plural = _("customer groups")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="catalog_group_unique_name")]

    def __str__(self) -> str:
        return self.name


class CustomerGroupMember(ComptoirModel):
    """A customer's group: ``organization_id`` is a contacts.Organization id (one group each)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    organization_id = models.BigIntegerField(_("customer"))
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="members")

    class Meta:
        verbose_name = _("customer group member")
        verbose_name_plural = _("customer group members")
        constraints = [
            models.UniqueConstraint(fields=["company", "organization_id"], name="catalog_member_one_group"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} → {self.group_id}"


class PriceList(ComptoirModel):
    """Prices for everyone, a customer group or one customer (``customer_id``: an organization id)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    priority = models.IntegerField(
        _("priority"), default=10, help_text=_("Between two equally specific rules, the higher priority wins.")
    )
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    customer_group = models.ForeignKey(
        CustomerGroup, on_delete=models.PROTECT, null=True, blank=True, related_name="price_lists",
        verbose_name=_("customer group"),
    )  # fmt: skip
    customer_id = models.BigIntegerField(_("customer"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("price list")
        verbose_name_plural = _("price lists")
        ordering = ["-priority", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="catalog_pricelist_unique_name"),
            models.CheckConstraint(
                condition=models.Q(customer_group__isnull=True) | models.Q(customer_id__isnull=True),
                name="catalog_pricelist_group_or_customer",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RuleTarget(models.TextChoices):
    PRODUCT = "product", _("One product")
    CATEGORY = "category", _("A product category (and below)")
    ALL = "all", _("All products")


class RuleMethod(models.TextChoices):
    FIXED = "fixed", _("Fixed price")
    DISCOUNT = "discount", _("Discount on the list price")
    PRICE_LIST = "price_list", _("Discount on another price list")


class PriceListRule(ComptoirModel):
    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="rules")
    target = models.CharField(_("applies to"), max_length=10, choices=RuleTarget.choices, default=RuleTarget.ALL)
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, null=True, blank=True, related_name="price_rules", verbose_name=_("product")
    )
    category = models.ForeignKey(
        ProductCategory, on_delete=models.CASCADE, null=True, blank=True, related_name="price_rules",
        verbose_name=_("category"),
    )  # fmt: skip
    # In the product's sale unit: the rule applies from this quantity on (quantity breaks).
    min_quantity = QuantityField(_("minimum quantity"), default=0)
    method = models.CharField(_("price"), max_length=12, choices=RuleMethod.choices, default=RuleMethod.DISCOUNT)
    fixed_price = MoneyField(_("fixed price"), null=True, blank=True)
    # Percent off (negative: a surcharge), exact to 3 decimals.
    discount_percent = ScaledIntegerField(_("discount (%)"), places=3, default=0)
    base_price_list = models.ForeignKey(
        PriceList, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("based on price list"),
    )  # fmt: skip
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)

    class Meta:
        verbose_name = _("price list rule")
        verbose_name_plural = _("price list rules")
        ordering = ["price_list_id", "target", "-min_quantity", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(min_quantity__gte=0), name="catalog_rule_min_quantity_pos"),
            models.CheckConstraint(
                condition=models.Q(discount_percent__gte=-100) & models.Q(discount_percent__lte=100),
                name="catalog_rule_discount_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.price_list_id}: {self.target} ≥ {self.min_quantity}"

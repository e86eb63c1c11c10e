"""Catalog forms: they parse input into types; the services decide what is valid."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from comptoir.catalog.models import ProductKind, RuleMethod, RuleTarget, VatCategory
from comptoir.org.forms import BootstrapForm


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _id_choice(label: Any, required: bool = False) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(label=label, required=required, coerce=_optional_id, empty_value=None)


class ProductForm(BootstrapForm):
    reference = forms.CharField(label=_("Internal reference"), max_length=64)
    barcode = forms.CharField(
        label=_("Barcode (EAN-13)"), max_length=32, required=False, help_text=_("13 digits; the last is checked.")
    )
    name_fr = forms.CharField(label=_("Name"), max_length=200)
    description_fr = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    name_en = forms.CharField(label=_("Name"), max_length=200, required=False)
    description_en = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    kind = forms.ChoiceField(label=_("Kind"), choices=ProductKind.choices)
    category_id = _id_choice(_("Category"))
    sale_uom_id = _id_choice(_("Sale unit"), required=True)
    purchase_uom_id = _id_choice(_("Purchase unit"), required=True)
    sale_price = forms.DecimalField(label=_("Sale price (excl. VAT)"), min_value=0, max_digits=15, decimal_places=2)
    purchase_price = forms.DecimalField(
        label=_("Purchase price (excl. VAT)"), min_value=0, max_digits=15, decimal_places=2, required=False
    )
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="EUR")
    vat_category = forms.ChoiceField(label=_("VAT category"), choices=VatCategory.choices)
    image = forms.FileField(label=_("Image"), required=False, help_text=_("JPEG, PNG, WebP or GIF, at most 2 MB."))
    remove_image = forms.BooleanField(label=_("Remove the image"), required=False)

    # Shown in the language tabs; the rest in the main grid.
    FRENCH = ("name_fr", "description_fr")
    ENGLISH = ("name_en", "description_en")

    def __init__(
        self, *args: Any, categories: list[tuple[int, str]], units: list[tuple[int, str]], show_costs: bool,
        has_image: bool = False, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["category_id"].choices = [("", "—"), *categories]  # type: ignore[attr-defined]
        self.fields["sale_uom_id"].choices = units  # type: ignore[attr-defined]
        self.fields["purchase_uom_id"].choices = units  # type: ignore[attr-defined]
        self.fields["image"].widget.attrs["accept"] = "image/jpeg,image/png,image/webp,image/gif"
        if not show_costs:
            del self.fields["purchase_price"]
        if not has_image:
            del self.fields["remove_image"]

    def language_fields(self, names: tuple[str, ...]) -> list[Any]:
        return [self[name] for name in names]

    def main_fields(self) -> list[Any]:
        hidden = {*self.FRENCH, *self.ENGLISH, "image", "remove_image"}
        return [field for field in self if field.name not in hidden]

    def data_for_service(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("image", None)
        data.pop("remove_image", None)
        if data.get("purchase_price") is None:
            data.pop("purchase_price", None)
        return data


class SimulateForm(BootstrapForm):
    customer_id = _id_choice(_("Customer"))
    customer_group_id = _id_choice(_("or customer group"))
    quantity = forms.DecimalField(label=_("Quantity"), max_digits=15, decimal_places=3, initial=1)
    uom = _id_choice(_("Unit"))
    date = forms.DateField(label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(
        self, *args: Any, customers: list[tuple[int, str]], groups: list[tuple[int, str]],
        units: list[tuple[int, str]], **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["customer_id"].choices = [("", _("Any customer")), *customers]  # type: ignore[attr-defined]
        self.fields["customer_group_id"].choices = [("", "—"), *groups]  # type: ignore[attr-defined]
        self.fields["uom"].choices = [("", _("Sale unit")), *units]  # type: ignore[attr-defined]


class CategoryForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    parent_id = _id_choice(_("Parent category"))

    def __init__(self, *args: Any, categories: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent_id"].choices = [("", "—"), *categories]  # type: ignore[attr-defined]


class UomCategoryForm(BootstrapForm):
    name_fr = forms.CharField(label=_("Name (French)"), max_length=100)
    name_en = forms.CharField(label=_("Name (English)"), max_length=100, required=False)


class UomForm(BootstrapForm):
    category_id = _id_choice(_("Category"), required=True)
    name_fr = forms.CharField(label=_("Name (French)"), max_length=100)
    name_en = forms.CharField(label=_("Name (English)"), max_length=100, required=False)
    symbol = forms.CharField(label=_("Symbol"), max_length=20)
    factor = forms.CharField(
        label=_("Factor"), max_length=40, initial="1",
        help_text=_("Reference units in one of this unit: 12 for a box of 12, 1/1000 for a gram."),
    )  # fmt: skip
    rounding_places = forms.IntegerField(label=_("Decimal places"), min_value=0, max_value=6, initial=0)
    unece_code = forms.CharField(label=_("UN/ECE code"), max_length=3, help_text=_("e.g. C62, KGM, MTR, HUR"))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, categories: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category_id"].choices = categories  # type: ignore[attr-defined]


class PriceListForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="EUR")
    priority = forms.IntegerField(label=_("Priority"), min_value=-1000, max_value=1000, initial=10)
    customer_group_id = _id_choice(_("Customer group"))
    customer_id = _id_choice(_("Customer"))
    valid_from = forms.DateField(label=_("Valid from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    valid_to = forms.DateField(label=_("Valid to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(
        self, *args: Any, groups: list[tuple[int, str]], customers: list[tuple[int, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["customer_group_id"].choices = [("", _("Everyone")), *groups]  # type: ignore[attr-defined]
        self.fields["customer_id"].choices = [("", "—"), *customers]  # type: ignore[attr-defined]


class RuleForm(BootstrapForm):
    target = forms.ChoiceField(label=_("Applies to"), choices=RuleTarget.choices)
    product_id = _id_choice(_("Product"))
    category_id = _id_choice(_("Category"))
    min_quantity = forms.DecimalField(
        label=_("From quantity"), min_value=0, max_digits=15, decimal_places=3, initial=0,
        help_text=_("In the product's sale unit."),
    )  # fmt: skip
    method = forms.ChoiceField(label=_("Price"), choices=RuleMethod.choices)
    fixed_price = forms.DecimalField(
        label=_("Fixed price"), min_value=0, max_digits=15, decimal_places=2, required=False
    )
    discount_percent = forms.DecimalField(
        label=_("Discount (%)"), min_value=-100, max_value=100, max_digits=6, decimal_places=3, required=False,
        help_text=_("Negative: a surcharge."),
    )  # fmt: skip
    base_price_list_id = _id_choice(_("Based on price list"))
    valid_from = forms.DateField(label=_("Valid from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    valid_to = forms.DateField(label=_("Valid to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(
        self, *args: Any, products: list[tuple[int, str]], categories: list[tuple[int, str]],
        price_lists: list[tuple[int, str]], **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["product_id"].choices = [("", "—"), *products]  # type: ignore[attr-defined]
        self.fields["category_id"].choices = [("", "—"), *categories]  # type: ignore[attr-defined]
        self.fields["base_price_list_id"].choices = [("", "—"), *price_lists]  # type: ignore[attr-defined]

    def data_for_service(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data.get("discount_percent") is None:
            data["discount_percent"] = 0
        return data


class GroupForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=100)

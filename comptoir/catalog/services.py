"""Every write of the catalog: units of measure, categories, products, customer groups,
price lists and their rules.

Each service takes keyword arguments and an ``actor``, runs in one transaction, checks the
permission, validates every field (``ValidationFailed`` with one message per field, nothing
written), writes, records the audit entry and publishes an event where others may care.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from stdnum import ean

from comptoir.catalog import seed
from comptoir.catalog.customers import directory
from comptoir.catalog.models import (
    CustomerGroup,
    CustomerGroupMember,
    PriceList,
    PriceListRule,
    Product,
    ProductCategory,
    ProductKind,
    RuleMethod,
    RuleTarget,
    Uom,
    UomCategory,
    VatCategory,
)
from comptoir.catalog.text import search_text
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.money import to_decimal

Errors = dict[str, list[str]]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_UNECE = re.compile(r"^[A-Z0-9]{2,3}$")
_MAX_PRICE = Decimal("1e13")
_MAX_QUANTITY = Decimal("1e12")
_MAX_FACTOR_PART = 10**15
MAX_IMAGE_BYTES = 2 * 1024 * 1024
IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}
MAX_IMAGE_SIDE = 4000


# --- Cleaning helpers -----------------------------------------------------------------


def _add(errors: Errors, name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


def _unknown(errors: Errors, data: dict[str, Any], allowed: Iterable[str]) -> None:
    for name in sorted(set(data) - set(allowed)):
        _add(errors, name, _("Unknown field."))


def _text(errors: Errors, name: str, value: Any, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        _add(errors, name, _("Enter text."))
        return ""
    text = value.strip()
    if required and not text:
        _add(errors, name, _("This field is required."))
    elif len(text) > max_length:
        _add(errors, name, _("At most %(n)s characters.") % {"n": max_length})
    elif "\x00" in text:
        _add(errors, name, _("Null characters are not allowed."))
    return text


def _decimal(errors: Errors, name: str, value: Any, *, places: int, low: Decimal, high: Decimal) -> Decimal | None:
    """A Decimal in [low, high] with at most ``places`` decimals; floats refused."""
    try:
        number = to_decimal(value)
        if not number.is_finite():
            raise ValueError
    except (TypeError, ValueError, ArithmeticError):
        _add(errors, name, _("Enter a number."))
        return None
    if not low <= number <= high:
        _add(errors, name, _("Enter a number between %(low)s and %(high)s.") % {"low": low, "high": high})
        return None
    if number != number.quantize(Decimal(1).scaleb(-places)):
        _add(errors, name, _("Use at most %(places)s decimal places.") % {"places": places})
        return None
    return number


def _price(errors: Errors, name: str, value: Any) -> Decimal | None:
    return _decimal(errors, name, value, places=2, low=Decimal(0), high=_MAX_PRICE - Decimal("0.01"))


def _int(errors: Errors, name: str, value: Any, low: int, high: int) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        _add(errors, name, _("Enter a whole number between %(low)s and %(high)s.") % {"low": low, "high": high})
        return None
    return value


def _bool(errors: Errors, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        _add(errors, name, _("Enter true or false."))
        return False
    return value


def _date(errors: Errors, name: str, value: Any) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    _add(errors, name, _("Enter a valid date."))
    return None


def _currency(errors: Errors, value: Any) -> str:
    currency = str(value or "").strip().upper()
    if not _CURRENCY.match(currency):
        _add(errors, "currency", _("Enter a three-letter ISO 4217 code, e.g. EUR."))
    return currency


def _choice(errors: Errors, name: str, value: Any, values: list[str]) -> str:
    if value not in values:
        _add(errors, name, _("Choose among: %(values)s.") % {"values": ", ".join(values)})
    return str(value)


def _date_range(errors: Errors, cleaned: dict[str, Any], current: Any = None) -> None:
    start = cleaned.get("valid_from", getattr(current, "valid_from", None))
    end = cleaned.get("valid_to", getattr(current, "valid_to", None))
    if start and end and start > end:
        _add(errors, "valid_to", _("The end must not come before the start."))


def parse_factor(value: Any) -> Fraction:
    """ "12", "0.001", "1/1000", a Decimal, an int or a Fraction → an exact positive Fraction."""
    if isinstance(value, Fraction):
        result = value
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        result = Fraction(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(",", ".")
        if "/" in text:
            top, _slash, bottom = text.partition("/")
            result = Fraction(to_decimal(top.strip())) / Fraction(to_decimal(bottom.strip()))
        else:
            number = to_decimal(text)
            if not number.is_finite():
                raise ValueError(value)
            result = Fraction(number)
    else:
        raise ValueError(value)
    if result <= 0 or result.numerator > _MAX_FACTOR_PART or result.denominator > _MAX_FACTOR_PART:
        raise ValueError(value)
    return result


def format_factor(factor: Fraction) -> str:
    return str(factor.numerator) if factor.denominator == 1 else f"{factor.numerator}/{factor.denominator}"


# --- Company setup --------------------------------------------------------------------


def setup_company_catalog(*, actor: Actor, company_id: int | None = None) -> dict[str, int]:
    """Create the default unit categories and units the company does not have yet.

    Idempotent: runs each time the module is switched on (the enabling checked its right)
    and from the demo; rows the company changed, or removed the code of, are left alone.
    """
    company_id = company_id if company_id is not None else actor.company_id
    assert company_id is not None
    with transaction.atomic():
        known_categories = dict(
            UomCategory.objects.filter(company_id=company_id).exclude(code="").values_list("code", "pk")
        )
        new_categories = [
            UomCategory(company_id=company_id, code=code, name_fr=name_fr, name_en=name_en)
            for code, name_fr, name_en, _units in seed.UOM_CATEGORIES
            if code not in known_categories
        ]
        UomCategory.objects.bulk_create(new_categories, ignore_conflicts=True)
        categories = dict(UomCategory.objects.filter(company_id=company_id).exclude(code="").values_list("code", "pk"))
        known_uoms = set(Uom.objects.filter(company_id=company_id).exclude(code="").values_list("code", flat=True))
        new_uoms = [
            Uom(
                company_id=company_id, category_id=categories[category_code], code=code, name_fr=name_fr,
                name_en=name_en, symbol=symbol, factor_numerator=numerator, factor_denominator=denominator,
                rounding_places=places, unece_code=unece,
            )
            for category_code, _fr, _en, units in seed.UOM_CATEGORIES
            if category_code in categories
            for code, name_fr, name_en, symbol, numerator, denominator, places, unece in units
            if code not in known_uoms
        ]  # fmt: skip
        Uom.objects.bulk_create(new_uoms, ignore_conflicts=True)
        created = {"uom_categories": len(new_categories), "uoms": len(new_uoms)}
        if any(created.values()):
            audit.record(actor, "catalog.setup", object_type="catalog.uoms", object_id=company_id,
                         changes=created, company_id=company_id)  # fmt: skip
    return created


# --- Units of measure -----------------------------------------------------------------

UOM_CATEGORY_FIELDS = ("name_fr", "name_en")


def _uom_category_clean(actor: Actor, data: dict[str, Any], current: UomCategory | None = None) -> dict[str, Any]:
    errors: Errors = {}
    _unknown(errors, data, UOM_CATEGORY_FIELDS)
    cleaned: dict[str, Any] = {}
    if "name_fr" in data or current is None:
        name = _text(errors, "name_fr", data.get("name_fr"), 100, required=True)
        duplicate = UomCategory.objects.filter(company_id=actor.company_id, name_fr=name)
        if name and duplicate.exclude(pk=getattr(current, "pk", None)).exists():
            _add(errors, "name_fr", _("Another unit category has this name."))
        cleaned["name_fr"] = name
    if "name_en" in data:
        cleaned["name_en"] = _text(errors, "name_en", data["name_en"], 100)
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def uom_category_create(*, actor: Actor, **data: Any) -> UomCategory:
    require(actor, "catalog.change_product")
    cleaned = _uom_category_clean(actor, data)
    category = UomCategory.objects.create(company_id=actor.company_id, **cleaned)
    audit.record(actor, "uom_category.create", category, changes=audit.diff({}, cleaned))
    return category


@transaction.atomic
def uom_category_update(*, actor: Actor, category_id: int, **data: Any) -> UomCategory:
    require(actor, "catalog.view_product")
    category = UomCategory.objects.select_for_update().filter(company_id=actor.company_id, pk=category_id).first()
    if category is None:
        raise NotFound("uom_category_not_found")
    require(actor, "catalog.change_product")
    cleaned = _uom_category_clean(actor, data, category)
    return _apply(actor, "uom_category.update", category, cleaned)


def _apply(actor: Actor, action: str, obj: Any, cleaned: dict[str, Any]) -> Any:
    """Set the cleaned fields, save, and audit what changed."""
    before = audit.snapshot(obj, list(cleaned))
    for name, value in cleaned.items():
        setattr(obj, name, value)
    obj.save()
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor, action, obj, changes=changes)
    return obj


UOM_FIELDS = ("category_id", "name_fr", "name_en", "symbol", "factor", "rounding_places", "unece_code", "is_active")


def _uom_in_use(uom: Uom) -> bool:
    return Product.objects.filter(Q(sale_uom=uom) | Q(purchase_uom=uom)).exists()


def _uom_clean(actor: Actor, data: dict[str, Any], current: Uom | None = None) -> dict[str, Any]:
    errors: Errors = {}
    _unknown(errors, data, UOM_FIELDS)
    cleaned: dict[str, Any] = {}
    category_id = data.get("category_id", getattr(current, "category_id", None))
    if "category_id" in data or current is None:
        if not UomCategory.objects.filter(company_id=actor.company_id, pk=category_id).exists():
            _add(errors, "category_id", _("Choose a unit category of the company."))
            category_id = None
        cleaned["category_id"] = category_id
    if "name_fr" in data or current is None:
        cleaned["name_fr"] = _text(errors, "name_fr", data.get("name_fr"), 100, required=True)
    if "name_en" in data:
        cleaned["name_en"] = _text(errors, "name_en", data["name_en"], 100)
    if "symbol" in data or current is None:
        symbol = _text(errors, "symbol", data.get("symbol"), 20, required=True)
        if (
            symbol
            and category_id
            and (
                Uom.objects.filter(company_id=actor.company_id, category_id=category_id, symbol=symbol)
                .exclude(pk=getattr(current, "pk", None))
                .exists()
            )
        ):
            _add(errors, "symbol", _("Another unit of this category has this symbol."))
        cleaned["symbol"] = symbol
    if "factor" in data or current is None:
        try:
            factor = parse_factor(data.get("factor", "1"))
        except (TypeError, ValueError, ArithmeticError, ZeroDivisionError):
            _add(errors, "factor", _("Enter a positive number or fraction, e.g. 12, 0.001 or 1/60."))
        else:
            others = Uom.objects.filter(category_id=category_id).exclude(pk=getattr(current, "pk", None))
            if category_id and factor != 1 and not others.exists():
                _add(errors, "factor", _("The first unit of a category is its reference: its factor is 1."))
            cleaned["factor_numerator"] = factor.numerator
            cleaned["factor_denominator"] = factor.denominator
    if "rounding_places" in data or current is None:
        cleaned["rounding_places"] = _int(errors, "rounding_places", data.get("rounding_places", 0), 0, 6)
    if "unece_code" in data or current is None:
        code = _text(errors, "unece_code", data.get("unece_code"), 3, required=True).upper()
        if code and not _UNECE.match(code):
            _add(errors, "unece_code", _("Enter a UN/ECE Recommendation 20 code, e.g. C62, KGM, HUR."))
        cleaned["unece_code"] = code
    if "is_active" in data:
        cleaned["is_active"] = _bool(errors, "is_active", data["is_active"])
    if current is not None and _uom_in_use(current):
        # Prices and quantities were recorded in this unit: its meaning must not change under them.
        if "category_id" in cleaned and cleaned["category_id"] != current.category_id:
            _add(errors, "category_id", _("Products use this unit: its category cannot change."))
        if "factor_numerator" in cleaned and (cleaned["factor_numerator"], cleaned["factor_denominator"]) != (
            current.factor_numerator,
            current.factor_denominator,
        ):
            _add(errors, "factor", _("Products use this unit: its factor cannot change."))
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def uom_create(*, actor: Actor, **data: Any) -> Uom:
    require(actor, "catalog.change_product")
    cleaned = _uom_clean(actor, data)
    uom = Uom.objects.create(company_id=actor.company_id, **cleaned)
    audit.record(actor, "uom.create", uom, changes=audit.diff({}, cleaned))
    return uom


@transaction.atomic
def uom_update(*, actor: Actor, uom_id: int, **data: Any) -> Uom:
    require(actor, "catalog.view_product")
    uom = Uom.objects.select_for_update().filter(company_id=actor.company_id, pk=uom_id).first()
    if uom is None:
        raise NotFound("uom_not_found")
    require(actor, "catalog.change_product")
    cleaned = _uom_clean(actor, data, uom)
    return _apply(actor, "uom.update", uom, cleaned)  # type: ignore[no-any-return]


# --- Product categories ---------------------------------------------------------------

CATEGORY_FIELDS = ("name", "parent_id")


def _category_clean(actor: Actor, data: dict[str, Any], current: ProductCategory | None = None) -> dict[str, Any]:
    errors: Errors = {}
    _unknown(errors, data, CATEGORY_FIELDS)
    cleaned: dict[str, Any] = {}
    parent_id = data.get("parent_id", getattr(current, "parent_id", None))
    if "parent_id" in data:
        if parent_id is not None:
            parent = ProductCategory.objects.filter(company_id=actor.company_id, pk=parent_id).first()
            if parent is None:
                _add(errors, "parent_id", _("Choose a category of the company."))
            elif current is not None and current.pk in parent.ancestor_ids:
                _add(errors, "parent_id", _("A category cannot be placed under itself or one of its subcategories."))
        cleaned["parent_id"] = parent_id
    if "name" in data or current is None:
        name = _text(errors, "name", data.get("name"), 100, required=True)
        if "/" in name:
            _add(errors, "name", _("The name cannot contain “/”."))
        elif name and (
            ProductCategory.objects.filter(company_id=actor.company_id, parent_id=parent_id, name=name)
            .exclude(pk=getattr(current, "pk", None))
            .exists()
        ):
            _add(errors, "name", _("Another category at this place has this name."))
        cleaned["name"] = name
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def _rebuild_paths(company_id: int) -> None:
    """Recompute ``path`` and ``full_name`` of every category of the company (trees are small)."""
    rows = list(ProductCategory.objects.filter(company_id=company_id).order_by("id"))
    by_id = {c.pk: c for c in rows}

    def chain(category: ProductCategory) -> list[ProductCategory]:
        seen: list[ProductCategory] = []
        node: ProductCategory | None = category
        while node is not None and node not in seen:
            seen.append(node)
            node = by_id.get(node.parent_id) if node.parent_id else None
        return list(reversed(seen))

    changed = []
    for category in rows:
        nodes = chain(category)
        path = "/" + "/".join(str(n.pk) for n in nodes) + "/"
        full_name = " / ".join(n.name for n in nodes)[:500]
        if (category.path, category.full_name) != (path, full_name):
            category.path, category.full_name = path, full_name
            changed.append(category)
    ProductCategory.objects.bulk_update(changed, ["path", "full_name"])


@transaction.atomic
def category_create(*, actor: Actor, **data: Any) -> ProductCategory:
    require(actor, "catalog.change_product")
    cleaned = _category_clean(actor, {"parent_id": None, **data})
    category = ProductCategory.objects.create(company_id=actor.company_id, **cleaned)
    _rebuild_paths(actor.company_id)  # type: ignore[arg-type]
    category.refresh_from_db()
    audit.record(actor, "product_category.create", category, changes=audit.diff({}, cleaned))
    return category


def _category_locked(actor: Actor, category_id: int) -> ProductCategory:
    require(actor, "catalog.view_product")
    found = ProductCategory.objects.select_for_update().filter(company_id=actor.company_id, pk=category_id).first()
    if found is None:
        raise NotFound("category_not_found")
    require(actor, "catalog.change_product")
    return found


@transaction.atomic
def category_update(*, actor: Actor, category_id: int, **data: Any) -> ProductCategory:
    category = _category_locked(actor, category_id)
    cleaned = _category_clean(actor, data, category)
    _apply(actor, "product_category.update", category, cleaned)
    _rebuild_paths(actor.company_id)  # type: ignore[arg-type]
    category.refresh_from_db()
    return category


@transaction.atomic
def category_delete(*, actor: Actor, category_id: int) -> None:
    category = _category_locked(actor, category_id)
    if category.children.exists() or category.products.exists() or category.price_rules.exists():
        raise Conflict(
            "category_in_use", _("This category has subcategories, products or price rules: it cannot be deleted.")
        )
    audit.record(actor, "product_category.delete", category, changes={"name": [category.full_name, None]})
    category.delete()


# --- Products -------------------------------------------------------------------------

PRODUCT_FIELDS = (
    "reference", "barcode", "name_fr", "name_en", "description_fr", "description_en", "kind", "category_id",
    "sale_uom_id", "purchase_uom_id", "sale_price", "purchase_price", "currency", "vat_category",
)  # fmt: skip


def check_barcode(value: str) -> str | None:
    """The error message for an EAN-13 barcode, or None when it is valid."""
    if not value.isdigit() or len(value) != 13:
        return str(_("Enter the 13 digits of an EAN-13 barcode."))
    if not ean.is_valid(value):
        return str(_("This barcode's check digit is wrong: check the 13 digits."))
    return None


def _product_clean(
    actor: Actor, data: dict[str, Any], current: Product | None = None, image: UploadedFile | None = None
) -> dict[str, Any]:
    errors: Errors = {}
    if image is not None:
        problem = _image_problem(image)
        if problem:
            _add(errors, "image", problem)
    _unknown(errors, data, PRODUCT_FIELDS)
    cleaned: dict[str, Any] = {}
    company_id = actor.company_id
    others = Product.objects.filter(company_id=company_id).exclude(pk=getattr(current, "pk", None))
    if "reference" in data or current is None:
        reference = _text(errors, "reference", data.get("reference"), 64, required=True)
        if reference and others.filter(reference=reference).exists():
            _add(errors, "reference", _("Another product has this reference."))
        cleaned["reference"] = reference
    if "barcode" in data:
        barcode = _text(errors, "barcode", data["barcode"], 32).replace(" ", "").replace("-", "")
        if barcode:
            problem = check_barcode(barcode)
            if problem:
                _add(errors, "barcode", problem)
            elif others.filter(barcode=barcode).exists():
                _add(errors, "barcode", _("Another product has this barcode."))
        cleaned["barcode"] = barcode
    if "name_fr" in data or current is None:
        cleaned["name_fr"] = _text(errors, "name_fr", data.get("name_fr"), 200, required=True)
    if "name_en" in data:
        cleaned["name_en"] = _text(errors, "name_en", data["name_en"], 200)
    for name in ("description_fr", "description_en"):
        if name in data:
            cleaned[name] = _text(errors, name, data[name], 10_000)
    if "kind" in data:
        cleaned["kind"] = _choice(errors, "kind", data["kind"], ProductKind.values)
    if "vat_category" in data:
        cleaned["vat_category"] = _choice(errors, "vat_category", data["vat_category"], VatCategory.values)
    if "currency" in data:
        cleaned["currency"] = _currency(errors, data["currency"])
    for name in ("sale_price", "purchase_price"):
        if name in data:
            cleaned[name] = _price(errors, name, data[name] if data[name] is not None else "0")
    if "category_id" in data:
        category_id = data["category_id"]
        categories = ProductCategory.objects.filter(company_id=company_id)
        if category_id is not None and not categories.filter(pk=category_id).exists():
            _add(errors, "category_id", _("Choose a category of the company."))
        cleaned["category_id"] = category_id
    units = {}
    for name in ("sale_uom_id", "purchase_uom_id"):
        if name in data:
            uom = Uom.objects.filter(company_id=company_id, pk=data[name]).first() if data[name] else None
            if uom is None:
                _add(errors, name, _("Choose a unit of measure of the company."))
            else:
                units[name] = uom
                cleaned[name] = uom.pk
    sale = units.get("sale_uom_id") or (current.sale_uom if current is not None else None)
    purchase = units.get("purchase_uom_id") or (current.purchase_uom if current is not None else None)
    if sale is not None and purchase is not None and sale.category_id != purchase.category_id:
        field = "purchase_uom_id" if "purchase_uom_id" in units else "sale_uom_id"
        _add(
            errors, field,
            _("The sale and purchase units must measure the same thing (both units, both weights…)."),
        )  # fmt: skip
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def _default_uom(company_id: int) -> Uom | None:
    return Uom.objects.filter(company_id=company_id, code="unit").first()


def _refresh_search(product: Product) -> None:
    product.search_text = search_text(product.reference, product.barcode, product.name_fr, product.name_en)


def _product_payload(product: Product) -> dict[str, Any]:
    return {
        "id": product.pk, "reference": product.reference, "name": product.name_fr,
        "sale_price": str(product.sale_price), "currency": product.currency, "is_archived": product.is_archived,
    }  # fmt: skip


@transaction.atomic
def product_create(*, actor: Actor, image: UploadedFile | None = None, **data: Any) -> Product:
    """Create a product; ``image``, when given, is checked with the other fields and stored."""
    require(actor, "catalog.change_product")
    if not data.get("sale_uom_id"):
        default = _default_uom(actor.company_id)  # type: ignore[arg-type]
        data["sale_uom_id"] = default.pk if default else None
    if not data.get("purchase_uom_id"):
        data["purchase_uom_id"] = data["sale_uom_id"]
    data.setdefault("barcode", "")
    if data.get("purchase_price") not in (None, "", 0, "0", Decimal(0)):
        require(actor, "catalog.view_costs")
    cleaned = _product_clean(actor, data, image=image)
    product = Product(company_id=actor.company_id, **cleaned)  # type: ignore[misc]
    _refresh_search(product)
    product.save()
    audit.record(actor, "product.create", product, changes=audit.diff({}, cleaned))
    if image is not None:
        _store_image(actor, product, image)
    events.publish("catalog.product_created", company_id=actor.company_id, payload=_product_payload(product))
    return product


def _product_locked(actor: Actor, product_id: int) -> Product:
    require(actor, "catalog.view_product")
    product = (
        Product.objects.select_for_update()
        .select_related("sale_uom", "purchase_uom")
        .filter(company_id=actor.company_id, pk=product_id)
        .first()
    )
    if product is None:
        raise NotFound("product_not_found")
    require(actor, "catalog.change_product")
    return product


@transaction.atomic
def product_update(
    *, actor: Actor, product_id: int, image: UploadedFile | None = None, remove_image: bool = False, **data: Any
) -> Product:
    """Change the fields sent; ``image`` replaces the picture, ``remove_image`` takes it away."""
    product = _product_locked(actor, product_id)
    if "purchase_price" in data:
        # Who may not see a cost may not overwrite it either.
        require(actor, "catalog.view_costs")
    cleaned = _product_clean(actor, data, product, image=image)
    before = audit.snapshot(product, list(cleaned))
    for name, value in cleaned.items():
        setattr(product, name, value)
    _refresh_search(product)
    product.save()
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor, "product.update", product, changes=changes)
        events.publish("catalog.product_updated", company_id=actor.company_id, payload=_product_payload(product))
    if image is not None or (remove_image and product.image):
        _store_image(actor, product, image)
    return product


@transaction.atomic
def product_archive(*, actor: Actor, product_id: int, archived: bool = True) -> Product:
    """Archive (hide from lists and new documents) or restore a product; nothing is deleted."""
    product = _product_locked(actor, product_id)
    if product.is_archived == archived:
        return product
    product.is_archived = archived
    product.save(update_fields=["is_archived", "updated_at"])
    audit.record(actor, "product.archive" if archived else "product.restore", product,
                 changes={"is_archived": [not archived, archived]})  # fmt: skip
    events.publish("catalog.product_updated", company_id=actor.company_id, payload=_product_payload(product))
    return product


def _image_problem(upload: UploadedFile) -> str | None:
    """Why ``upload`` is not an acceptable product image, or None. Its bytes decide, never its name."""
    from PIL import Image, UnidentifiedImageError

    if upload.size is None or upload.size > MAX_IMAGE_BYTES:
        return str(_("The image must be at most 2 MB."))
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            image_format = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return str(_("This file is not an image Comptoir can read (JPEG, PNG, WebP or GIF)."))
    finally:
        upload.seek(0)
    if image_format not in IMAGE_FORMATS:
        return str(_("Use a JPEG, PNG, WebP or GIF image."))
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        return str(_("The image must be at most %(n)s pixels wide and high.") % {"n": MAX_IMAGE_SIDE})
    upload.image_format = image_format  # type: ignore[attr-defined]
    return None


def _store_image(actor: Actor, product: Product, image: UploadedFile | None) -> None:
    """Save (or, with None, remove) an image already checked; the old file goes after commit."""
    old_name = product.image.name if product.image else ""
    if image is not None:
        extension = IMAGE_FORMATS[image.image_format]  # type: ignore[attr-defined]
        product.image.save(f"image{extension}", image, save=False)
    else:
        product.image = None  # type: ignore[assignment]
    product.save(update_fields=["image", "updated_at"])
    new_name = product.image.name if product.image else ""
    if old_name and old_name != new_name:
        storage = product.image.storage
        transaction.on_commit(lambda: storage.delete(old_name))
    audit.record(actor, "product.image", product, changes={"image": [old_name or None, new_name or None]})


@transaction.atomic
def product_set_image(*, actor: Actor, product_id: int, image: UploadedFile | None) -> Product:
    """Replace (or, with None, remove) the product's image, after checking it is a real image."""
    product = _product_locked(actor, product_id)
    if image is not None:
        problem = _image_problem(image)
        if problem:
            raise ValidationFailed(fields={"image": [problem]})
    _store_image(actor, product, image)
    return product


# --- Customer groups ------------------------------------------------------------------


def _group_clean(actor: Actor, data: dict[str, Any], current: CustomerGroup | None = None) -> dict[str, Any]:
    errors: Errors = {}
    _unknown(errors, data, ("name",))
    name = _text(errors, "name", data.get("name"), 100, required=True)
    duplicate = CustomerGroup.objects.filter(company_id=actor.company_id, name=name)
    if name and duplicate.exclude(pk=getattr(current, "pk", None)).exists():
        _add(errors, "name", _("Another customer group has this name."))
    if errors:
        raise ValidationFailed(fields=errors)
    return {"name": name}


@transaction.atomic
def customer_group_create(*, actor: Actor, **data: Any) -> CustomerGroup:
    require(actor, "catalog.manage_pricing")
    cleaned = _group_clean(actor, data)
    group = CustomerGroup.objects.create(company_id=actor.company_id, **cleaned)
    audit.record(actor, "customer_group.create", group, changes=audit.diff({}, cleaned))
    return group


def _group_locked(actor: Actor, group_id: int) -> CustomerGroup:
    require(actor, "catalog.view_pricing")
    group = CustomerGroup.objects.select_for_update().filter(company_id=actor.company_id, pk=group_id).first()
    if group is None:
        raise NotFound("customer_group_not_found")
    require(actor, "catalog.manage_pricing")
    return group


@transaction.atomic
def customer_group_update(*, actor: Actor, group_id: int, **data: Any) -> CustomerGroup:
    group = _group_locked(actor, group_id)
    return _apply(actor, "customer_group.update", group, _group_clean(actor, data, group))  # type: ignore[no-any-return]


@transaction.atomic
def customer_group_delete(*, actor: Actor, group_id: int) -> None:
    group = _group_locked(actor, group_id)
    if group.price_lists.exists():
        raise Conflict("customer_group_in_use", _("Price lists target this group: change them first."))
    audit.record(actor, "customer_group.delete", group, changes={"name": [group.name, None]})
    group.delete()


@transaction.atomic
def customer_group_add(*, actor: Actor, group_id: int, organization_id: int) -> CustomerGroupMember:
    """Put a customer (a contacts organization id) in the group, taking it out of any other."""
    group = _group_locked(actor, group_id)
    if not isinstance(organization_id, int) or not directory.exists(group.company_id, organization_id):
        raise ValidationFailed(fields={"organization_id": [str(_("Choose an organization of the company."))]})
    member = (
        CustomerGroupMember.objects.select_for_update()
        .filter(company_id=actor.company_id, organization_id=organization_id)
        .first()
    )
    previous = member.group_id if member else None
    if member is None:
        member = CustomerGroupMember.objects.create(
            company_id=actor.company_id, organization_id=organization_id, group=group
        )
    elif member.group_id != group.pk:
        member.group = group
        member.save(update_fields=["group", "updated_at"])
    if previous != group.pk:
        audit.record(actor, "customer_group.add", group, changes={"organization_id": [None, organization_id],
                                                                  "previous_group_id": [previous, None]})  # fmt: skip
    return member


@transaction.atomic
def customer_group_remove(*, actor: Actor, group_id: int, organization_id: int) -> None:
    group = _group_locked(actor, group_id)
    deleted, _rows = CustomerGroupMember.objects.filter(group=group, organization_id=organization_id).delete()
    if deleted:
        audit.record(actor, "customer_group.remove", group, changes={"organization_id": [organization_id, None]})


# --- Price lists ----------------------------------------------------------------------

PRICE_LIST_FIELDS = (
    "name", "currency", "priority", "valid_from", "valid_to", "customer_group_id", "customer_id", "is_active",
)  # fmt: skip


def _price_list_clean(actor: Actor, data: dict[str, Any], current: PriceList | None = None) -> dict[str, Any]:
    errors: Errors = {}
    _unknown(errors, data, PRICE_LIST_FIELDS)
    cleaned: dict[str, Any] = {}
    if "name" in data or current is None:
        name = _text(errors, "name", data.get("name"), 100, required=True)
        duplicate = PriceList.objects.filter(company_id=actor.company_id, name=name)
        if name and duplicate.exclude(pk=getattr(current, "pk", None)).exists():
            _add(errors, "name", _("Another price list has this name."))
        cleaned["name"] = name
    if "currency" in data:
        cleaned["currency"] = _currency(errors, data["currency"])
        if current is not None and cleaned["currency"] != current.currency and current.rules.exists():
            _add(errors, "currency", _("This price list has rules: its currency cannot change."))
    if "priority" in data:
        cleaned["priority"] = _int(errors, "priority", data["priority"], -1000, 1000)
    for name in ("valid_from", "valid_to"):
        if name in data:
            cleaned[name] = _date(errors, name, data[name])
    if "is_active" in data:
        cleaned["is_active"] = _bool(errors, "is_active", data["is_active"])
    if "customer_group_id" in data:
        group_id = data["customer_group_id"]
        if group_id is not None and not CustomerGroup.objects.filter(company_id=actor.company_id, pk=group_id).exists():
            _add(errors, "customer_group_id", _("Choose a customer group of the company."))
        cleaned["customer_group_id"] = group_id
    if "customer_id" in data:
        customer_id = data["customer_id"]
        if customer_id is not None and (
            not isinstance(customer_id, int) or not directory.exists(actor.company_id, customer_id)  # type: ignore[arg-type]
        ):
            _add(errors, "customer_id", _("Choose an organization of the company."))
        cleaned["customer_id"] = customer_id
    group = cleaned.get("customer_group_id", getattr(current, "customer_group_id", None))
    customer = cleaned.get("customer_id", getattr(current, "customer_id", None))
    if group is not None and customer is not None:
        _add(errors, "customer_id", _("A price list is for one customer or one customer group, not both."))
    _date_range(errors, cleaned, current)
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def price_list_create(*, actor: Actor, **data: Any) -> PriceList:
    require(actor, "catalog.manage_pricing")
    cleaned = _price_list_clean(actor, data)
    price_list = PriceList.objects.create(company_id=actor.company_id, **cleaned)
    audit.record(actor, "price_list.create", price_list, changes=audit.diff({}, cleaned))
    return price_list


def _price_list_locked(actor: Actor, price_list_id: int) -> PriceList:
    require(actor, "catalog.view_pricing")
    found = PriceList.objects.select_for_update().filter(company_id=actor.company_id, pk=price_list_id).first()
    if found is None:
        raise NotFound("price_list_not_found")
    require(actor, "catalog.manage_pricing")
    return found


@transaction.atomic
def price_list_update(*, actor: Actor, price_list_id: int, **data: Any) -> PriceList:
    price_list = _price_list_locked(actor, price_list_id)
    cleaned = _price_list_clean(actor, data, price_list)
    return _apply(actor, "price_list.update", price_list, cleaned)  # type: ignore[no-any-return]


@transaction.atomic
def price_list_delete(*, actor: Actor, price_list_id: int) -> None:
    price_list = _price_list_locked(actor, price_list_id)
    if PriceListRule.objects.filter(base_price_list=price_list).exclude(price_list=price_list).exists():
        raise Conflict("price_list_in_use", _("Rules of other price lists are based on this one: change them first."))
    audit.record(actor, "price_list.delete", price_list, changes={"name": [price_list.name, None]})
    price_list.delete()


# --- Price list rules -----------------------------------------------------------------

RULE_FIELDS = (
    "target", "product_id", "category_id", "min_quantity", "method", "fixed_price", "discount_percent",
    "base_price_list_id", "valid_from", "valid_to",
)  # fmt: skip


def _based_on(price_list_id: int) -> set[int]:
    """Every price list ``price_list_id`` is computed from, directly or not."""
    seen: set[int] = set()
    frontier = {price_list_id}
    while frontier:
        bases = set(
            PriceListRule.objects.filter(price_list_id__in=frontier, base_price_list__isnull=False).values_list(
                "base_price_list_id", flat=True
            )
        )
        frontier = bases - seen
        seen |= bases
    return seen


def _rule_clean(actor: Actor, price_list: PriceList, data: dict[str, Any], current: PriceListRule | None = None) -> Any:
    errors: Errors = {}
    _unknown(errors, data, RULE_FIELDS)
    cleaned: dict[str, Any] = {}

    def value(name: str, default: Any = None) -> Any:
        return data.get(name, getattr(current, name, default) if current is not None else default)

    target = value("target", RuleTarget.ALL)
    cleaned["target"] = _choice(errors, "target", target, RuleTarget.values)
    product_id = value("product_id")
    category_id = value("category_id")
    if target == RuleTarget.PRODUCT:
        if not product_id or not Product.objects.filter(company_id=actor.company_id, pk=product_id).exists():
            _add(errors, "product_id", _("Choose a product of the company."))
        category_id = None
    elif target == RuleTarget.CATEGORY:
        if not category_id or not ProductCategory.objects.filter(company_id=actor.company_id, pk=category_id).exists():
            _add(errors, "category_id", _("Choose a category of the company."))
        product_id = None
    else:
        product_id = category_id = None
    cleaned["product_id"], cleaned["category_id"] = product_id, category_id
    if "min_quantity" in data or current is None:
        raw = data.get("min_quantity", "0")
        cleaned["min_quantity"] = _decimal(
            errors, "min_quantity", raw if raw is not None else "0", places=3, low=Decimal(0), high=_MAX_QUANTITY
        )
    method = value("method", RuleMethod.DISCOUNT)
    cleaned["method"] = _choice(errors, "method", method, RuleMethod.values)
    if method == RuleMethod.FIXED:
        raw = value("fixed_price")
        if raw in (None, ""):
            _add(errors, "fixed_price", _("Enter the price."))
        else:
            cleaned["fixed_price"] = _price(errors, "fixed_price", raw)
        cleaned["discount_percent"] = Decimal(0)
        cleaned["base_price_list_id"] = None
    else:
        raw = value("discount_percent", "0")
        cleaned["discount_percent"] = _decimal(
            errors, "discount_percent", raw if raw is not None else "0", places=3, low=Decimal(-100), high=Decimal(100)
        )
        cleaned["fixed_price"] = None
        base_id = value("base_price_list_id") if method == RuleMethod.PRICE_LIST else None
        if method == RuleMethod.PRICE_LIST:
            base = PriceList.objects.filter(company_id=actor.company_id, pk=base_id).first() if base_id else None
            if base is None:
                _add(errors, "base_price_list_id", _("Choose a price list of the company."))
            elif base.pk == price_list.pk or price_list.pk in _based_on(base.pk):
                _add(errors, "base_price_list_id", _("A price list cannot be based on itself, even indirectly."))
            elif base.currency != price_list.currency:
                _add(errors, "base_price_list_id", _("Choose a price list in the same currency."))
        cleaned["base_price_list_id"] = base_id
    for name in ("valid_from", "valid_to"):
        if name in data:
            cleaned[name] = _date(errors, name, data[name])
    _date_range(errors, cleaned, current)
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def rule_create(*, actor: Actor, price_list_id: int, **data: Any) -> PriceListRule:
    price_list = _price_list_locked(actor, price_list_id)
    cleaned = _rule_clean(actor, price_list, data)
    rule = PriceListRule.objects.create(price_list=price_list, **cleaned)
    audit.record(actor, "price_rule.create", rule, changes=audit.diff({}, cleaned))
    return rule


def _rule_locked(actor: Actor, rule_id: int) -> PriceListRule:
    require(actor, "catalog.view_pricing")
    rule = (
        PriceListRule.objects.select_for_update()
        .select_related("price_list")
        .filter(price_list__company_id=actor.company_id, pk=rule_id)
        .first()
    )
    if rule is None:
        raise NotFound("price_rule_not_found")
    require(actor, "catalog.manage_pricing")
    return rule


@transaction.atomic
def rule_update(*, actor: Actor, rule_id: int, **data: Any) -> PriceListRule:
    rule = _rule_locked(actor, rule_id)
    cleaned = _rule_clean(actor, rule.price_list, data, rule)
    return _apply(actor, "price_rule.update", rule, cleaned)  # type: ignore[no-any-return]


@transaction.atomic
def rule_delete(*, actor: Actor, rule_id: int) -> None:
    rule = _rule_locked(actor, rule_id)
    audit.record(actor, "price_rule.delete", rule, changes={"price_list_id": [rule.price_list_id, None]})
    rule.delete()

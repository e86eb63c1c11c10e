"""Catalog API (products, units, categories, price lists and rules, customer groups, prices).

Conventions: docs/api.md. Prices travel as decimal strings; ``purchase_price`` is null for
callers without ``catalog.view_costs``. ``GET /catalog/price`` explains the price it gives.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.catalog import pricing, selectors, services
from comptoir.catalog.models import PriceList, PriceListRule, Product, ProductCategory, Uom, UomCategory
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses

router = apikit.module_router("catalog")

ObjectId = Path(..., ge=1, le=MAX_ID)
OptionalId = Field(None, ge=1, le=MAX_ID)
PRICE_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
PRICE_HELP = 'Decimal string, at most 2 decimals, excluding VAT, e.g. `"1250.50"`.'
PERCENT_PATTERN = r"^-?[0-9]{1,3}(\.[0-9]{1,3})?$"
QUANTITY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,3})?$"
Kind = Literal["goods", "consumable", "service"]
VatCategoryCode = Literal[
    "standard", "intermediate", "reduced", "super_reduced", "exempt_261_4", "exempt_261c_1", "exempt_261c_2",
    "out_of_scope",
]  # fmt: skip


# --- Schemas --------------------------------------------------------------------------


class ProductOut(Schema):
    id: int
    reference: str
    barcode: str
    name_fr: str
    name_en: str
    description_fr: str
    description_en: str
    kind: str
    category_id: int | None
    category_name: str | None
    sale_uom_id: int
    purchase_uom_id: int
    sale_price: str
    purchase_price: str | None = Field(description="Null for callers who may not see costs.")
    currency: str
    vat_category: str
    is_archived: bool
    image_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductCreateIn(InputSchema):
    reference: str = Field(..., max_length=64)
    barcode: str = Field("", max_length=32, description="EAN-13, check digit verified.")
    name_fr: str = Field(..., max_length=200)
    name_en: str = Field("", max_length=200)
    description_fr: str = Field("", max_length=10_000)
    description_en: str = Field("", max_length=10_000)
    kind: Kind = "goods"
    category_id: int | None = OptionalId
    sale_uom_id: int | None = Field(None, ge=1, le=MAX_ID, description="Default: the company's unit (u).")
    purchase_uom_id: int | None = Field(None, ge=1, le=MAX_ID, description="Default: the sale unit.")
    sale_price: str = Field("0", pattern=PRICE_PATTERN, description=PRICE_HELP)
    purchase_price: str = Field("0", pattern=PRICE_PATTERN, description=PRICE_HELP)
    currency: str = Field("EUR", min_length=3, max_length=3)
    vat_category: VatCategoryCode = "standard"


class ProductUpdateIn(InputSchema):
    """Only the fields sent are changed."""

    reference: str = Field(None, max_length=64)  # type: ignore[assignment]
    barcode: str = Field(None, max_length=32)  # type: ignore[assignment]
    name_fr: str = Field(None, max_length=200)  # type: ignore[assignment]
    name_en: str = Field(None, max_length=200)  # type: ignore[assignment]
    description_fr: str = Field(None, max_length=10_000)  # type: ignore[assignment]
    description_en: str = Field(None, max_length=10_000)  # type: ignore[assignment]
    kind: Kind = None  # type: ignore[assignment]
    category_id: int | None = OptionalId
    sale_uom_id: int = Field(None, ge=1, le=MAX_ID)  # type: ignore[assignment]
    purchase_uom_id: int = Field(None, ge=1, le=MAX_ID)  # type: ignore[assignment]
    sale_price: str = Field(None, pattern=PRICE_PATTERN, description=PRICE_HELP)  # type: ignore[assignment]
    purchase_price: str = Field(None, pattern=PRICE_PATTERN, description=PRICE_HELP)  # type: ignore[assignment]
    currency: str = Field(None, min_length=3, max_length=3)  # type: ignore[assignment]
    vat_category: VatCategoryCode = None  # type: ignore[assignment]


class ProductFilters(ListParams):
    q: str | None = Field(None, max_length=200, description="Reference, barcode or name; accents and case ignored.")
    category_id: int | None = Field(None, ge=1, le=MAX_ID, description="This category and its subcategories.")
    kind: Kind | None = None
    archived: Literal["active", "archived", "all"] = "active"


class UomOut(Schema):
    id: int
    category_id: int
    code: str
    name_fr: str
    name_en: str
    symbol: str
    factor: str = Field(description='Reference units in one of this unit, exact: "12", "1/1000".')
    rounding_places: int
    unece_code: str
    is_active: bool


class UomIn(InputSchema):
    category_id: int = Field(..., ge=1, le=MAX_ID)
    name_fr: str = Field(..., max_length=100)
    name_en: str = Field("", max_length=100)
    symbol: str = Field(..., max_length=20)
    factor: str = Field("1", max_length=40, description='"12", "0.001" or "1/60".')
    rounding_places: int = Field(0, ge=0, le=6)
    unece_code: str = Field(..., max_length=3)
    is_active: bool = True


class UomUpdateIn(InputSchema):
    category_id: int = Field(None, ge=1, le=MAX_ID)  # type: ignore[assignment]
    name_fr: str = Field(None, max_length=100)  # type: ignore[assignment]
    name_en: str = Field(None, max_length=100)  # type: ignore[assignment]
    symbol: str = Field(None, max_length=20)  # type: ignore[assignment]
    factor: str = Field(None, max_length=40)  # type: ignore[assignment]
    rounding_places: int = Field(None, ge=0, le=6)  # type: ignore[assignment]
    unece_code: str = Field(None, max_length=3)  # type: ignore[assignment]
    is_active: bool = None  # type: ignore[assignment]


class UomCategoryOut(Schema):
    id: int
    code: str
    name_fr: str
    name_en: str


class UomCategoryIn(InputSchema):
    name_fr: str = Field(..., max_length=100)
    name_en: str = Field("", max_length=100)


class CategoryOut(Schema):
    id: int
    name: str
    parent_id: int | None
    full_name: str
    product_count: int


class CategoryIn(InputSchema):
    name: str = Field(..., max_length=100)
    parent_id: int | None = OptionalId


class CategoryUpdateIn(InputSchema):
    name: str = Field(None, max_length=100)  # type: ignore[assignment]
    parent_id: int | None = OptionalId


class PriceListOut(Schema):
    id: int
    name: str
    currency: str
    priority: int
    valid_from: dt.date | None
    valid_to: dt.date | None
    customer_group_id: int | None
    customer_id: int | None = Field(description="A contacts organization id.")
    is_active: bool
    rule_count: int


class PriceListIn(InputSchema):
    name: str = Field(..., max_length=100)
    currency: str = Field("EUR", min_length=3, max_length=3)
    priority: int = Field(10, ge=-1000, le=1000)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    customer_group_id: int | None = OptionalId
    customer_id: int | None = Field(None, ge=1, le=MAX_ID, description="A contacts organization id.")
    is_active: bool = True


class PriceListUpdateIn(InputSchema):
    name: str = Field(None, max_length=100)  # type: ignore[assignment]
    currency: str = Field(None, min_length=3, max_length=3)  # type: ignore[assignment]
    priority: int = Field(None, ge=-1000, le=1000)  # type: ignore[assignment]
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    customer_group_id: int | None = OptionalId
    customer_id: int | None = OptionalId
    is_active: bool = None  # type: ignore[assignment]


class RuleOut(Schema):
    id: int
    price_list_id: int
    target: str
    product_id: int | None
    category_id: int | None
    min_quantity: str
    method: str
    fixed_price: str | None
    discount_percent: str
    base_price_list_id: int | None
    valid_from: dt.date | None
    valid_to: dt.date | None


class RuleIn(InputSchema):
    target: Literal["product", "category", "all"] = "all"
    product_id: int | None = OptionalId
    category_id: int | None = OptionalId
    min_quantity: str = Field("0", pattern=QUANTITY_PATTERN, description="In the product's sale unit.")
    method: Literal["fixed", "discount", "price_list"] = "discount"
    fixed_price: str | None = Field(None, pattern=PRICE_PATTERN, description=PRICE_HELP)
    discount_percent: str = Field("0", pattern=PERCENT_PATTERN, description="Percent off; negative: a surcharge.")
    base_price_list_id: int | None = OptionalId
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


class RuleUpdateIn(InputSchema):
    target: Literal["product", "category", "all"] = None  # type: ignore[assignment]
    product_id: int | None = OptionalId
    category_id: int | None = OptionalId
    min_quantity: str = Field(None, pattern=QUANTITY_PATTERN)  # type: ignore[assignment]
    method: Literal["fixed", "discount", "price_list"] = None  # type: ignore[assignment]
    fixed_price: str | None = Field(None, pattern=PRICE_PATTERN)
    discount_percent: str = Field(None, pattern=PERCENT_PATTERN)  # type: ignore[assignment]
    base_price_list_id: int | None = OptionalId
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


class CustomerGroupOut(Schema):
    id: int
    name: str
    member_count: int


class CustomerGroupIn(InputSchema):
    name: str = Field(..., max_length=100)


class MemberIn(InputSchema):
    organization_id: int = Field(..., ge=1, le=MAX_ID, description="A contacts organization id.")


class StepOut(Schema):
    label: str
    price: str
    amount: str | None
    percent: str | None


class PriceOut(Schema):
    unit_price: str = Field(description="Per the asked unit, excluding VAT.")
    currency: str
    quantity: str
    uom_id: int
    total: str = Field(description="quantity × unit price, rounded to 2 decimals.")
    price_list_id: int | None
    rule_id: int | None
    explanation: str
    steps: list[StepOut]


class PriceQuery(InputSchema):
    model_config = {"extra": "ignore"}

    product: int = Field(..., ge=1, le=MAX_ID, description="Product id.")
    quantity: str = Field("1", pattern=QUANTITY_PATTERN)
    uom: int | None = Field(None, ge=1, le=MAX_ID, description="Unit id; default: the product's sale unit.")
    customer_id: int | None = Field(None, ge=1, le=MAX_ID, description="A contacts organization id.")
    customer_group_id: int | None = Field(None, ge=1, le=MAX_ID, description="Simulate a group (no customer).")
    date: dt.date | None = Field(None, description="Default: today.")
    currency: str | None = Field(None, min_length=3, max_length=3)


# --- Helpers --------------------------------------------------------------------------


def product_out(product: Product, show_costs: bool) -> dict[str, Any]:
    return {
        **{name: getattr(product, name) for name in ProductOut.model_fields if hasattr(product, name)},
        "category_name": product.category.full_name if product.category else None,
        "sale_price": str(product.sale_price),
        "purchase_price": str(product.purchase_price) if show_costs else None,
        "image_url": reverse("catalog:product_image", args=[product.pk]) if product.image else None,
    }


def uom_out(uom: Uom) -> dict[str, Any]:
    return {
        **{name: getattr(uom, name) for name in UomOut.model_fields if hasattr(uom, name)},
        "factor": services.format_factor(uom.factor),
    }


def rule_out(rule: PriceListRule) -> dict[str, Any]:
    return {
        **{name: getattr(rule, name) for name in RuleOut.model_fields if hasattr(rule, name)},
        "min_quantity": str(rule.min_quantity),
        "fixed_price": None if rule.fixed_price is None else str(rule.fixed_price),
        "discount_percent": str(rule.discount_percent),
    }


def _product(request: HttpRequest, product_id: int) -> dict[str, Any]:
    actor = apikit.actor(request)
    return product_out(selectors.product_get(actor, product_id), selectors.can_see_costs(actor))


# --- Products -------------------------------------------------------------------------


@router.get("/products", response=responses(page_of(ProductOut)), summary="List products")
def product_list(request: HttpRequest, params: Query[ProductFilters]) -> dict[str, Any]:
    """Sort: `reference`, `name`, `sale_price`, `created_at`, `updated_at`."""
    actor = apikit.actor(request)
    filters = {"q": params.q, "category_id": params.category_id, "kind": params.kind, "archived": params.archived}
    rows = selectors.product_list(actor, filters)
    page = apikit.paginate(rows, params, sort=selectors.PRODUCT_SORT, default_sort="reference")
    show_costs = selectors.can_see_costs(actor)
    page["items"] = [product_out(p, show_costs) for p in page["items"]]
    return page


@router.post("/products", response=responses(ProductOut, status=201), summary="Create a product")
def product_create(request: HttpRequest, payload: ProductCreateIn) -> Status:
    data = payload.model_dump()
    if data["purchase_price"] == "0":
        del data["purchase_price"]  # not sent: no cost right needed
    product = services.product_create(actor=apikit.actor(request), **data)
    return Status(201, _product(request, product.pk))


@router.get("/products/{product_id}", response=responses(ProductOut), summary="Get a product")
def product_get(request: HttpRequest, product_id: int = ObjectId) -> dict[str, Any]:
    return _product(request, product_id)


@router.patch("/products/{product_id}", response=responses(ProductOut), summary="Change a product")
def product_update(request: HttpRequest, payload: ProductUpdateIn, product_id: int = ObjectId) -> dict[str, Any]:
    services.product_update(
        actor=apikit.actor(request), product_id=product_id, **payload.model_dump(exclude_unset=True)
    )
    return _product(request, product_id)


@router.post("/products/{product_id}/archive", response=responses(ProductOut), summary="Archive a product")
def product_archive(request: HttpRequest, product_id: int = ObjectId) -> dict[str, Any]:
    services.product_archive(actor=apikit.actor(request), product_id=product_id)
    return _product(request, product_id)


@router.post("/products/{product_id}/restore", response=responses(ProductOut), summary="Restore a product")
def product_restore(request: HttpRequest, product_id: int = ObjectId) -> dict[str, Any]:
    services.product_archive(actor=apikit.actor(request), product_id=product_id, archived=False)
    return _product(request, product_id)


# --- Units of measure -----------------------------------------------------------------


@router.get("/uom-categories", response=responses(list[UomCategoryOut]), summary="List unit categories")
def uom_category_list(request: HttpRequest) -> list[UomCategory]:
    return selectors.uom_categories(apikit.actor(request))


@router.post("/uom-categories", response=responses(UomCategoryOut, status=201), summary="Create a unit category")
def uom_category_create(request: HttpRequest, payload: UomCategoryIn) -> Status:
    return Status(201, services.uom_category_create(actor=apikit.actor(request), **payload.model_dump()))


@router.get("/uoms", response=responses(list[UomOut]), summary="List units of measure")
def uom_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [uom_out(u) for u in selectors.uom_list(apikit.actor(request))]


@router.post("/uoms", response=responses(UomOut, status=201), summary="Create a unit of measure")
def uom_create(request: HttpRequest, payload: UomIn) -> Status:
    uom = services.uom_create(actor=apikit.actor(request), **payload.model_dump())
    return Status(201, uom_out(uom))


@router.patch("/uoms/{uom_id}", response=responses(UomOut), summary="Change a unit of measure")
def uom_update(request: HttpRequest, payload: UomUpdateIn, uom_id: int = ObjectId) -> dict[str, Any]:
    actor = apikit.actor(request)
    services.uom_update(actor=actor, uom_id=uom_id, **payload.model_dump(exclude_unset=True))
    return uom_out(selectors.uom_get(actor, uom_id))


# --- Product categories ---------------------------------------------------------------


@router.get("/categories", response=responses(list[CategoryOut]), summary="List product categories")
def category_list(request: HttpRequest) -> list[ProductCategory]:
    return list(selectors.category_list(apikit.actor(request)))


@router.post("/categories", response=responses(CategoryOut, status=201), summary="Create a product category")
def category_create(request: HttpRequest, payload: CategoryIn) -> Status:
    actor = apikit.actor(request)
    category = services.category_create(actor=actor, **payload.model_dump())
    return Status(201, selectors.category_get(actor, category.pk))


@router.patch("/categories/{category_id}", response=responses(CategoryOut), summary="Change a product category")
def category_update(request: HttpRequest, payload: CategoryUpdateIn, category_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    services.category_update(actor=actor, category_id=category_id, **payload.model_dump(exclude_unset=True))
    return selectors.category_get(actor, category_id)


@router.delete("/categories/{category_id}", response=responses(None, status=204), summary="Delete a category")
def category_delete(request: HttpRequest, category_id: int = ObjectId) -> Status:
    services.category_delete(actor=apikit.actor(request), category_id=category_id)
    return Status(204, None)


# --- Price lists and rules ------------------------------------------------------------

PRICE_LIST_SORT = {"name": "name", "priority": "priority", "created_at": "created_at"}


@router.get("/price-lists", response=responses(page_of(PriceListOut)), summary="List price lists")
def price_list_list(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    """Sort: `name`, `priority`, `created_at` (default: highest priority first)."""
    rows = selectors.price_list_list(apikit.actor(request))
    return apikit.paginate(rows, params, sort=PRICE_LIST_SORT, default_sort="-priority,name")


@router.post("/price-lists", response=responses(PriceListOut, status=201), summary="Create a price list")
def price_list_create(request: HttpRequest, payload: PriceListIn) -> Status:
    actor = apikit.actor(request)
    price_list = services.price_list_create(actor=actor, **payload.model_dump())
    return Status(201, selectors.price_list_get(actor, price_list.pk))


@router.get("/price-lists/{price_list_id}", response=responses(PriceListOut), summary="Get a price list")
def price_list_get(request: HttpRequest, price_list_id: int = ObjectId) -> PriceList:
    return selectors.price_list_get(apikit.actor(request), price_list_id)


@router.patch("/price-lists/{price_list_id}", response=responses(PriceListOut), summary="Change a price list")
def price_list_update(request: HttpRequest, payload: PriceListUpdateIn, price_list_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    services.price_list_update(actor=actor, price_list_id=price_list_id, **payload.model_dump(exclude_unset=True))
    return selectors.price_list_get(actor, price_list_id)


@router.delete("/price-lists/{price_list_id}", response=responses(None, status=204), summary="Delete a price list")
def price_list_delete(request: HttpRequest, price_list_id: int = ObjectId) -> Status:
    services.price_list_delete(actor=apikit.actor(request), price_list_id=price_list_id)
    return Status(204, None)


@router.get("/price-lists/{price_list_id}/rules", response=responses(list[RuleOut]), summary="List the rules")
def rule_list(request: HttpRequest, price_list_id: int = ObjectId) -> list[dict[str, Any]]:
    price_list = selectors.price_list_get(apikit.actor(request), price_list_id)
    return [rule_out(r) for r in price_list.rules.all()]


@router.post("/price-lists/{price_list_id}/rules", response=responses(RuleOut, status=201), summary="Add a rule")
def rule_create(request: HttpRequest, payload: RuleIn, price_list_id: int = ObjectId) -> Status:
    actor = apikit.actor(request)
    rule = services.rule_create(actor=actor, price_list_id=price_list_id, **payload.model_dump())
    return Status(201, rule_out(selectors.rule_get(actor, rule.pk)))


def _rule_of(request: HttpRequest, price_list_id: int, rule_id: int) -> PriceListRule:
    rule = selectors.rule_get(apikit.actor(request), rule_id)
    if rule.price_list_id != price_list_id:
        from comptoir.kernel.errors import NotFound

        raise NotFound("price_rule_not_found")
    return rule


@router.patch("/price-lists/{price_list_id}/rules/{rule_id}", response=responses(RuleOut), summary="Change a rule")
def rule_update(
    request: HttpRequest, payload: RuleUpdateIn, price_list_id: int = ObjectId, rule_id: int = ObjectId
) -> dict[str, Any]:
    actor = apikit.actor(request)
    _rule_of(request, price_list_id, rule_id)
    services.rule_update(actor=actor, rule_id=rule_id, **payload.model_dump(exclude_unset=True))
    return rule_out(selectors.rule_get(actor, rule_id))


@router.delete(
    "/price-lists/{price_list_id}/rules/{rule_id}", response=responses(None, status=204), summary="Delete a rule"
)
def rule_delete(request: HttpRequest, price_list_id: int = ObjectId, rule_id: int = ObjectId) -> Status:
    _rule_of(request, price_list_id, rule_id)
    services.rule_delete(actor=apikit.actor(request), rule_id=rule_id)
    return Status(204, None)


# --- Customer groups ------------------------------------------------------------------


@router.get("/customer-groups", response=responses(list[CustomerGroupOut]), summary="List customer groups")
def customer_group_list(request: HttpRequest) -> Any:
    return list(selectors.customer_groups(apikit.actor(request)))


@router.post("/customer-groups", response=responses(CustomerGroupOut, status=201), summary="Create a group")
def customer_group_create(request: HttpRequest, payload: CustomerGroupIn) -> Status:
    actor = apikit.actor(request)
    group = services.customer_group_create(actor=actor, **payload.model_dump())
    return Status(201, selectors.customer_group_get(actor, group.pk))


@router.post(
    "/customer-groups/{group_id}/members", response=responses(CustomerGroupOut), summary="Put a customer in the group"
)
def customer_group_add(request: HttpRequest, payload: MemberIn, group_id: int = ObjectId) -> Any:
    """A customer belongs to one group at most: adding it here takes it out of its previous group."""
    actor = apikit.actor(request)
    services.customer_group_add(actor=actor, group_id=group_id, organization_id=payload.organization_id)
    return selectors.customer_group_get(actor, group_id)


@router.delete(
    "/customer-groups/{group_id}/members/{organization_id}",
    response=responses(None, status=204),
    summary="Take a customer out of the group",
)
def customer_group_remove(request: HttpRequest, group_id: int = ObjectId, organization_id: int = ObjectId) -> Status:
    services.customer_group_remove(actor=apikit.actor(request), group_id=group_id, organization_id=organization_id)
    return Status(204, None)


# --- Prices ---------------------------------------------------------------------------


@router.get("/price", response=responses(PriceOut), summary="Price a product, with the explanation")
def price(request: HttpRequest, params: Query[PriceQuery]) -> dict[str, Any]:
    """The unit price (excluding VAT) for a quantity, a unit, a customer and a date, and the steps
    that led to it: the customer's price list first, then its group's, then everyone's."""
    actor = apikit.actor(request)
    apikit.require(actor, "catalog.view_pricing")
    quote = pricing.price_for(
        actor, product=params.product, quantity=params.quantity, uom=params.uom, customer_id=params.customer_id,
        customer_group_id=params.customer_group_id, on_date=params.date, currency=params.currency,
    )  # fmt: skip
    return pricing.quote_as_dict(quote)

"""Every read of the catalog starts here, from the actor's company.

The catalogue is company-wide: whoever holds ``catalog.view_product`` sees every product of
the company; price lists and customer groups need ``catalog.view_pricing``; purchase prices
are shown only with ``catalog.view_costs`` (views and the API blank them otherwise).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from comptoir.catalog.models import (
    CustomerGroup,
    CustomerGroupMember,
    PriceList,
    PriceListRule,
    Product,
    ProductCategory,
    ProductKind,
    RuleTarget,
    Uom,
    UomCategory,
)
from comptoir.catalog.text import fold
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed

# Public sort names → ORM fields (lists and API).
PRODUCT_SORT = {
    "reference": "reference",
    "name": "name_fr",
    "sale_price": "sale_price",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
ARCHIVED_CHOICES = ("active", "archived", "all")


def can_see_costs(actor: Actor) -> bool:
    return actor.has_perm("catalog.view_costs")


# --- Products -------------------------------------------------------------------------


def search_filter(query: str | None) -> Q | None:
    """Every folded word must appear in the reference, barcode or names (accents and case ignored)."""
    words = fold(query).split()
    if not words:
        return None
    rule = Q()
    for word in words:
        rule &= Q(search_text__contains=word)
    return rule


def product_list(actor: Actor, filters: dict[str, Any] | None = None) -> QuerySet[Product]:
    """Products of the company, filtered by ``q``, ``category_id`` (and below), ``kind``, ``archived``.

    ``archived``: "active" (default), "archived" or "all"; anything else is a 422.
    """
    require(actor, "catalog.view_product")
    filters = filters or {}
    rows = Product.objects.filter(company_id=actor.company_id)
    errors: dict[str, list[str]] = {}
    rule = search_filter(filters.get("q"))
    if rule is not None:
        rows = rows.filter(rule)
    archived = filters.get("archived") or "active"
    if archived not in ARCHIVED_CHOICES:
        errors["archived"] = [_("Choose among: %(values)s.") % {"values": ", ".join(ARCHIVED_CHOICES)}]
    elif archived != "all":
        rows = rows.filter(is_archived=archived == "archived")
    kind = filters.get("kind")
    if kind:
        if kind not in ProductKind.values:
            errors["kind"] = [_("Choose among: %(values)s.") % {"values": ", ".join(ProductKind.values)}]
        else:
            rows = rows.filter(kind=kind)
    category_id = filters.get("category_id")
    if category_id:
        category = ProductCategory.objects.filter(company_id=actor.company_id, pk=category_id).first()
        if category is None:
            errors["category_id"] = [_("Choose a category of the company.")]
        else:
            rows = rows.filter(category__path__startswith=category.path)
    if errors:
        raise ValidationFailed(fields=errors)
    return rows.select_related("category", "sale_uom", "purchase_uom")


def product_get(actor: Actor, product_id: int) -> Product:
    found = product_list(actor, {"archived": "all"}).filter(pk=product_id).first()
    if found is None:
        raise NotFound("product_not_found")
    return found


def search(actor: Actor, query: str, limit: int = 8) -> list[dict[str, Any]]:
    """The global search provider: the list's own matching."""
    from django.urls import reverse

    if not actor.has_perm("catalog.view_product") or not fold(query):
        return []
    return [
        {"label": str(p), "detail": p.barcode, "url": reverse("catalog:product", args=[p.pk]), "kind": "product"}
        for p in product_list(actor, {"q": query}).order_by("reference", "pk")[:limit]
    ]


def product_price_rules(actor: Actor, product: Product) -> list[PriceListRule]:
    """Rules that may price this product (its own, its categories', all products'), by price list."""
    require(actor, "catalog.view_pricing")
    targets = Q(target=RuleTarget.ALL) | Q(target=RuleTarget.PRODUCT, product_id=product.pk)
    if product.category is not None:
        targets |= Q(target=RuleTarget.CATEGORY, category_id__in=product.category.ancestor_ids)
    return list(
        PriceListRule.objects.filter(targets, price_list__company_id=actor.company_id)
        .select_related("price_list__customer_group", "category", "base_price_list")
        .order_by("-price_list__priority", "price_list__name", "min_quantity", "pk")
    )


# --- Units and categories -------------------------------------------------------------


def uom_categories(actor: Actor) -> list[UomCategory]:
    require(actor, "catalog.view_product")
    uoms = Prefetch("uoms", queryset=Uom.objects.order_by("-is_active", "factor_numerator", "pk"))
    return list(UomCategory.objects.filter(company_id=actor.company_id).prefetch_related(uoms))


def uom_list(actor: Actor, active_only: bool = False) -> QuerySet[Uom]:
    require(actor, "catalog.view_product")
    rows = Uom.objects.filter(company_id=actor.company_id).select_related("category")
    if active_only:
        rows = rows.filter(is_active=True)
    return rows.order_by("category__name_fr", "factor_numerator", "pk")


def uom_get(actor: Actor, uom_id: int) -> Uom:
    found = uom_list(actor).filter(pk=uom_id).first()
    if found is None:
        raise NotFound("uom_not_found")
    return found


def uom_choices(actor: Actor) -> list[tuple[int, str]]:
    return [(u.pk, f"{u.symbol} — {u.name} ({u.category.name})") for u in uom_list(actor, active_only=True)]


def category_list(actor: Actor) -> QuerySet[ProductCategory]:
    require(actor, "catalog.view_product")
    return ProductCategory.objects.filter(company_id=actor.company_id).annotate(product_count=Count("products"))


def category_get(actor: Actor, category_id: int) -> ProductCategory:
    found = category_list(actor).filter(pk=category_id).first()
    if found is None:
        raise NotFound("category_not_found")
    return found


def category_choices(actor: Actor) -> list[tuple[int, str]]:
    return [(c.pk, c.full_name) for c in category_list(actor)]


# --- Pricing --------------------------------------------------------------------------


def price_list_list(actor: Actor) -> QuerySet[PriceList]:
    require(actor, "catalog.view_pricing")
    return (
        PriceList.objects.filter(company_id=actor.company_id)
        .select_related("customer_group")
        .annotate(rule_count=Count("rules"))
    )


def price_list_get(actor: Actor, price_list_id: int) -> PriceList:
    rules = Prefetch(
        "rules",
        queryset=PriceListRule.objects.select_related("product", "category", "base_price_list").order_by(
            "target", "min_quantity", "pk"
        ),
    )
    found = price_list_list(actor).prefetch_related(rules).filter(pk=price_list_id).first()
    if found is None:
        raise NotFound("price_list_not_found")
    return found


def rule_get(actor: Actor, rule_id: int) -> PriceListRule:
    require(actor, "catalog.view_pricing")
    found = (
        PriceListRule.objects.filter(price_list__company_id=actor.company_id, pk=rule_id)
        .select_related("price_list", "product", "category", "base_price_list")
        .first()
    )
    if found is None:
        raise NotFound("price_rule_not_found")
    return found


def price_list_choices(actor: Actor) -> list[tuple[int, str]]:
    return [(p.pk, p.name) for p in price_list_list(actor)]


def customer_groups(actor: Actor) -> QuerySet[CustomerGroup]:
    require(actor, "catalog.view_pricing")
    return CustomerGroup.objects.filter(company_id=actor.company_id).annotate(member_count=Count("members"))


def customer_group_get(actor: Actor, group_id: int) -> CustomerGroup:
    members = Prefetch("members", queryset=CustomerGroupMember.objects.order_by("organization_id"))
    found = customer_groups(actor).prefetch_related(members).filter(pk=group_id).first()
    if found is None:
        raise NotFound("customer_group_not_found")
    return found


def priced_customer_ids(actor: Actor) -> list[int]:
    """Customers whose prices differ from everyone's: in a group, or with their own price list."""
    require(actor, "catalog.view_pricing")
    members = CustomerGroupMember.objects.filter(company_id=actor.company_id).values_list("organization_id", flat=True)
    own = PriceList.objects.filter(company_id=actor.company_id, customer_id__isnull=False).values_list(
        "customer_id", flat=True
    )
    return sorted(set(members) | set(own))

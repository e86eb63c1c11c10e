"""The catalog module (products, units of measure, price lists): needs no other module."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.modules import Module, NavEntry, registry


def search(actor: Any, query: str, limit: int) -> list[dict[str, Any]]:
    from comptoir.catalog.selectors import search as catalog_search

    return catalog_search(actor, query, limit)


def on_enable(actor: Any) -> None:
    from comptoir.catalog.services import setup_company_catalog

    setup_company_catalog(actor=actor)


def register() -> None:
    registry.register(
        Module(
            code="catalog",
            label=_("Catalog"),
            description=_("Products and services, units of measure, price lists."),
            on_enable=on_enable,
            search=search,
            nav=(
                NavEntry(label=_("Products"), url_name="catalog:products", permission="catalog.view_product"),
                NavEntry(label=_("Price lists"), url_name="catalog:price_lists", permission="catalog.view_pricing"),
                NavEntry(
                    label=_("Customer groups"), url_name="catalog:customer_groups", permission="catalog.view_pricing"
                ),
                NavEntry(
                    label=_("Product categories"), url_name="catalog:categories", permission="catalog.view_product"
                ),
                NavEntry(label=_("Units of measure"), url_name="catalog:uoms", permission="catalog.view_product"),
            ),
        )
    )

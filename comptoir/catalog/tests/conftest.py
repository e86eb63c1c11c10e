from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from comptoir.catalog import services
from comptoir.catalog.models import Product, Uom
from comptoir.kernel.context import Actor
from comptoir.org.testing import Personas, enable_modules


@dataclass
class Catalog:
    """Personas with the catalog module on (default units seeded) and helpers."""

    personas: Personas

    @property
    def company_id(self) -> int:
        return self.personas.company.pk

    def actor(self, role: str = "management", channel: str = "ui") -> Actor:
        return self.personas.actor(role, channel)

    def uom(self, code: str) -> Uom:
        return Uom.objects.select_related("category").get(company_id=self.company_id, code=code)

    def organization(self, name: str = "Boulangerie Martin") -> int:
        """A customer: a contacts organization (catalog keeps its id only)."""
        from comptoir.contacts.models import Organization
        from comptoir.contacts.normalize import search_text

        org = Organization.objects.create(company=self.personas.company, legal_name=name, search_text=search_text(name))
        return org.pk

    def product(self, reference: str = "P1", **data: Any) -> Product:
        data.setdefault("name_fr", f"Produit {reference}")
        data.setdefault("sale_price", Decimal("100.00"))
        return services.product_create(actor=self.actor(), reference=reference, **data)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Messages and explanations asserted in English (the French catalogue may translate them)."""
    with translation.override("en"):
        yield


@pytest.fixture
def catalog(personas: Personas) -> Catalog:
    enable_modules(personas, "catalog")
    return Catalog(personas)

"""Helpers of the quote tests: a company with contacts, CRM, catalog, accounting and sales on,
French, EU and export customers (accounting's invoice kit) and three products."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from comptoir.accounting.tests.invoices_kit import Books, make_books
from comptoir.catalog import services as catalog_services
from comptoir.catalog.models import Product
from comptoir.contacts.models import Organization
from comptoir.kernel.context import Actor
from comptoir.org.testing import Personas, enable_modules
from comptoir.sales import quotes
from comptoir.sales.models_quotes import Quote


@dataclass
class Shop:
    books: Books
    chair: Product  # goods, 20 %
    design: Product  # services, 20 %
    book: Product  # goods, 5.5 %

    @property
    def personas(self) -> Personas:
        return self.books.personas

    @property
    def company_id(self) -> int:
        return self.books.company_id

    @property
    def customer(self) -> Organization:
        return self.books.customer

    def actor(self, role: str = "management", channel: str = "ui") -> Actor:
        return self.personas.actor(role, channel)

    def quote(self, lines: list[dict[str, Any]] | None = None, *, actor: Actor | None = None,
              organization: Organization | None = None, **data: Any) -> Quote:  # fmt: skip
        return quotes.quote_create(
            actor=actor or self.actor(), organization_id=(organization or self.customer).pk,
            lines=lines if lines is not None else [product_line(self.chair, "2")], **data,
        )  # fmt: skip

    def sent(self, lines: list[dict[str, Any]] | None = None, **data: Any) -> Quote:
        quote = self.quote(lines, **data)
        quotes.quote_mark_sent(actor=self.actor(), quote_id=quote.pk)
        return Quote.objects.get(pk=quote.pk)


def product_line(product: Product, quantity: str = "1", price: str | None = None, **extra: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"product_id": product.pk, "quantity": quantity}
    if price is not None:
        line["unit_price"] = price
    return line | extra


def make_shop(personas: Personas) -> Shop:
    """The shop; tests run in English (``translation.override("en")`` in their fixture)."""
    books = make_books(personas)
    enable_modules(personas, "crm", "catalog", "sales")
    admin = personas.actor("admin")
    chair = catalog_services.product_create(actor=admin, reference="CH-1", name_fr="Chaise", name_en="Chair",
                                            kind="goods", sale_price="80.00", vat_category="standard")  # fmt: skip
    design = catalog_services.product_create(actor=admin, reference="SV-1", name_fr="Conception", kind="service",
                                             sale_price="450.00", vat_category="standard")  # fmt: skip
    book = catalog_services.product_create(actor=admin, reference="LV-1", name_fr="Livre", kind="goods",
                                           sale_price="20.00", vat_category="reduced")  # fmt: skip
    return Shop(books, chair, design, book)

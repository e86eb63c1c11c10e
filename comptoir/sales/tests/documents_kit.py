"""Helpers of the quote-document tests: a company selling to a French business, and quotes
made through the quote services (sections, a text line, discounts, two VAT rates, options)."""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader

from comptoir.accounting.tests.invoices_kit import Books, make_books
from comptoir.catalog import services as catalog_services
from comptoir.catalog.models import Product
from comptoir.contacts.models import Person
from comptoir.kernel.context import Actor
from comptoir.org.testing import Personas, enable_modules
from comptoir.sales import quotes
from comptoir.sales.models_quotes import Quote, QuoteLine


@dataclass
class Desk:
    books: Books
    chair: Product  # goods, 20 %
    design: Product  # services, 20 %
    book: Product  # goods, 5.5 %
    contact: Person

    @property
    def personas(self) -> Personas:
        return self.books.personas

    @property
    def company_id(self) -> int:
        return self.books.company_id

    def actor(self, role: str = "sales", channel: str = "ui") -> Actor:
        return self.books.actor(role, channel)

    def quote(self, *, actor: Actor | None = None, options: bool = True, **data: Any) -> Quote:
        lines: list[dict[str, Any]] = [
            {"kind": "section", "description": "Salon"},
            {"product_id": self.chair.pk, "description": "Chaise\nChêne massif", "quantity": "6",
             "unit_price": "80.00"},
            {"kind": "text", "description": "Livraison sous 3 semaines"},
            {"product_id": self.design.pk, "description": "Conception", "quantity": "2", "unit_price": "450.00",
             "discount_percent": "10", "operation": "services"},
        ]  # fmt: skip
        if options:
            lines.append({"product_id": self.book.pk, "description": "Livre d'art", "quantity": "1",
                          "unit_price": "20.00", "optional": True, "selected": False})  # fmt: skip
        data.setdefault("contact_id", self.contact.pk)
        data.setdefault("title", "Mobilier du salon")
        data.setdefault("notes", "Prix fermes.")
        return quotes.quote_create(actor=actor or self.actor(), organization_id=self.books.customer.pk, lines=lines,
                                   **data)  # fmt: skip

    def optional_line(self, quote: Quote) -> QuoteLine:
        return QuoteLine.objects.get(quote=quote, optional=True)


def make_desk(personas: Personas) -> Desk:
    books = make_books(personas)
    enable_modules(personas, "crm", "catalog", "sales")
    books.customer.owner = personas.users["sales"]  # the salesperson's customer: theirs to quote
    books.customer.save(update_fields=["owner"])
    quotes.register_sequences()
    admin = personas.actor("admin")
    chair = catalog_services.product_create(actor=admin, reference="CH-1", name_fr="Chaise", kind="goods",
                                            sale_price="80.00", vat_category="standard")  # fmt: skip
    design = catalog_services.product_create(actor=admin, reference="SV-1", name_fr="Conception", kind="service",
                                             sale_price="450.00", vat_category="standard")  # fmt: skip
    book = catalog_services.product_create(actor=admin, reference="LV-1", name_fr="Livre", kind="goods",
                                           sale_price="20.00", vat_category="reduced")  # fmt: skip
    contact = Person.objects.create(company_id=books.company_id, first_name="Julie", last_name="Martin",
                                    email="julie.martin@boulangerie.test")  # fmt: skip
    return Desk(books, chair, design, book, contact)


def pdf_text(data: bytes) -> str:
    """The text of every page, whitespace (including no-break spaces) collapsed."""
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u202f", " "))


def days(n: int) -> dt.date:
    return dt.date.today() + dt.timedelta(days=n)

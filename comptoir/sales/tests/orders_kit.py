"""Helpers of the order tests: a company with CRM, catalog, accounting and sales on, a French
business customer ready to invoice, two products and an accepted quote."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from comptoir.accounting.models import JournalLine
from comptoir.accounting.tests.invoices_kit import Books, make_books
from comptoir.catalog import services as catalog_services
from comptoir.catalog.models import Product
from comptoir.crm import services as crm_services
from comptoir.crm.models import Opportunity
from comptoir.kernel.context import Actor
from comptoir.org.testing import Personas, enable_modules
from comptoir.sales.models_quotes import Quote, QuoteLine
from comptoir.sales.orders import order_confirm, order_create


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
    def customer_id(self) -> int:
        return self.books.customer.pk

    def actor(self, role: str = "finance", channel: str = "ui") -> Actor:
        return self.books.actor(role, channel)


def make_shop(personas: Personas) -> Shop:
    books = make_books(personas)
    enable_modules(personas, "crm", "catalog", "sales")
    books.customer.owner = personas.users["sales"]  # the salesperson's customer (contacts record rule)
    books.customer.save()
    admin = personas.actor("admin")
    chair = catalog_services.product_create(actor=admin, reference="CH-1", name_fr="Chaise", kind="goods",
                                            sale_price="80.00", vat_category="standard")  # fmt: skip
    design = catalog_services.product_create(actor=admin, reference="SV-1", name_fr="Conception", kind="service",
                                             sale_price="450.00", vat_category="standard")  # fmt: skip
    book = catalog_services.product_create(actor=admin, reference="LV-1", name_fr="Livre", kind="goods",
                                           sale_price="20.00", vat_category="reduced")  # fmt: skip
    return Shop(books, chair, design, book)


def product_line(product: Product, quantity: str, price: str | None = None, **extra: Any) -> dict[str, Any]:
    line = {"product_id": product.pk, "quantity": quantity}
    if price is not None:
        line["unit_price"] = price
    return line | extra


def confirmed_order(shop: Shop, lines: list[dict[str, Any]], actor: Actor | None = None, **data: Any) -> Any:
    actor = actor or shop.actor("sales")
    order = order_create(actor=actor, organization_id=shop.customer_id, lines=lines, **data)
    return order_confirm(actor=actor, order_id=order.pk)


def opportunity(shop: Shop) -> Opportunity:
    return crm_services.opportunity_create(actor=shop.actor("sales"), title="Chaises du salon",
                                           organization_id=shop.customer_id)  # fmt: skip


def accepted_quote(shop: Shop, *, opportunity_id: int | None = None, discount: str = "0", number: str = "DE-1",
                   state: str = "accepted") -> Quote:  # fmt: skip
    """A quote as the quotes module leaves it once accepted (rows written directly: that module is not under test)."""
    today = dt.date.today()
    quote = Quote.objects.create(
        company_id=shop.company_id, number=number, organization_id=shop.customer_id, opportunity_id=opportunity_id,
        owner=shop.personas.users["sales"], state=state, issue_date=today, valid_until=today + dt.timedelta(days=30),
        discount_percent=Decimal(discount),
    )  # fmt: skip
    rows = [
        QuoteLine(quote=quote, position=1, kind="section", description="Salon"),
        QuoteLine(quote=quote, position=2, product=shop.chair, description="Chaise\nChêne massif", quantity=6,
                  uom_id=shop.chair.sale_uom_id, unit_price="80", vat_code="standard"),
        QuoteLine(quote=quote, position=3, kind="text", description="Livraison sous 3 semaines"),
        QuoteLine(quote=quote, position=4, product=shop.design, description="Conception", quantity=2,
                  operation="services", unit_price="450", vat_code="standard", discount_percent=10),
        QuoteLine(quote=quote, position=5, product=shop.book, description="Livre (option retenue)", quantity=1,
                  unit_price="20", vat_code="reduced", optional=True, selected=True),
        QuoteLine(quote=quote, position=6, product=shop.book, description="Livre (option refusée)", quantity=3,
                  unit_price="20", vat_code="reduced", optional=True, selected=False),
    ]  # fmt: skip
    QuoteLine.objects.bulk_create(rows)
    return quote


def ledger_balance(company_id: int) -> tuple[Decimal, Decimal]:
    """Total debit and credit of the posted ledger."""
    rows = JournalLine.objects.filter(entry__company_id=company_id, entry__state="posted")
    debit = sum((Decimal(d) for d in rows.values_list("debit", flat=True)), Decimal(0))
    credit = sum((Decimal(c) for c in rows.values_list("credit", flat=True)), Decimal(0))
    return debit, credit


def account_balance(company_id: int, code: str) -> Decimal:
    rows = JournalLine.objects.filter(entry__company_id=company_id, entry__state="posted", account__code=code)
    return sum((Decimal(d) - Decimal(c) for d, c in rows.values_list("debit", "credit")), Decimal(0))

"""Helpers of the payments tests: invoices posted by the invoices service, payments registered."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest

from comptoir.accounting import payments
from comptoir.accounting.models import Invoice, InvoiceKind, JournalLine
from comptoir.accounting.models_payments import Payment
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.contacts.models import Organization
from comptoir.org.testing import Personas

# The day the module was imported, for the payments tests that still date with it; the helpers
# below read the date when called (a run crossing midnight would otherwise date yesterday).
TODAY = dt.date.today()
_references = itertools.count(1)


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


def post_invoice(
    books: Books,
    net: str = "100.00",
    *,
    services: bool = False,
    kind: str = InvoiceKind.CUSTOMER_INVOICE,
    organization: Organization | None = None,
    **data: Any,
) -> Invoice:
    """A posted invoice of one line of ``net`` at 20 % VAT (goods, or services: VAT on receipts)."""
    extra = {"operation": "services"} if services else {}
    if kind in (InvoiceKind.VENDOR_BILL, InvoiceKind.VENDOR_REFUND):
        data.setdefault("supplier_reference", f"SUP-{next(_references)}")
        data.setdefault("issue_date", today())
    return books.posted([line(unit_price=net, **extra)], kind=kind, organization=organization, **data)


def pay(books: Books, amount: str, invoices: Any = (), *, role: str = "finance", **extra: Any) -> Payment:
    """Register a payment allocated as given: [(invoice, amount)] or "auto"; a customer's by default."""
    allocations: Any = (
        invoices if isinstance(invoices, str) else [{"invoice_id": i.pk, "amount": a} for i, a in invoices]
    )
    data: dict[str, Any] = {
        "organization_id": books.customer.pk, "amount": amount, "date": today(),
        "journal_id": books.ledger.journals["BQ"], "method": "transfer", "allocations": allocations,
    } | extra  # fmt: skip
    return payments.payment_register(actor=books.actor(role), **data)


def fresh(invoice: Invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def partner_codes(invoice: Invoice) -> list[str]:
    """The matching codes of the invoice's partner lines."""
    return list(
        JournalLine.objects.filter(entry_id=invoice.journal_entry_id, partner_account_id=invoice.partner_account_id)
        .order_by("sequence")
        .values_list("matching_code", flat=True)
    )


def entry_lines(payment: Payment) -> list[tuple[str, Decimal, Decimal, str]]:
    """(account code, debit, credit, matching code) of the payment's entry, in order."""
    return list(
        JournalLine.objects.filter(entry_id=payment.journal_entry_id)
        .order_by("sequence")
        .values_list("account__code", "debit", "credit", "matching_code")
    )

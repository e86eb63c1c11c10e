"""Credit notes allocated to open invoices without money: residuals and states of both
documents, matching, VAT on receipts, over-allocation and cross-partner refusals with
nothing written, idempotency, supplier refunds, permissions, and payments afterwards."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from comptoir.accounting import credit_allocation, invoices, payments
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import Invoice, InvoiceKind, InvoiceState, JournalLine
from comptoir.accounting.models_credit import CreditAllocation
from comptoir.accounting.tests.invoices_kit import Books, line
from comptoir.accounting.tests.payments_kit import books, fresh, partner_codes, pay, post_invoice
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent

pytestmark = pytest.mark.django_db
__all__ = ["books"]


def credit_note(books: Books, origin: Invoice, quantity: str | None = None) -> Invoice:
    """A posted credit note (or refund) of ``origin``: all of it, or ``quantity`` of its first line."""
    lines = None if quantity is None else [{"line": 1, "quantity": quantity}]
    draft = invoices.invoice_credit(actor=books.actor(), invoice_id=origin.pk, lines=lines)
    if draft.kind == InvoiceKind.VENDOR_REFUND:
        invoices.invoice_update(actor=books.actor(), invoice_id=draft.pk, supplier_reference="AV-SUP-1",
                                issue_date=origin.issue_date)  # fmt: skip
    return invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=False)


def allocate(books: Books, credit: Invoice, parts: list[tuple[Invoice, str]], **extra: Any):  # type: ignore[no-untyped-def]
    return credit_allocation.credit_allocate(
        actor=extra.pop("actor", None) or books.actor(), credit_note_id=credit.pk,
        allocations=[{"invoice_id": invoice.pk, "amount": amount} for invoice, amount in parts], **extra,
    )  # fmt: skip


def _balance(code: str) -> D:
    lines = JournalLine.objects.filter(account__code=code, is_posted=True)
    return sum((row.debit - row.credit for row in lines.only("debit", "credit")), D(0))


def test_full_credit_note_settles_its_invoice_both_paid_and_matched(books: Books) -> None:
    invoice = post_invoice(books)  # 120.00
    credit = credit_note(books, invoice)
    assert credit.state == InvoiceState.POSTED and credit.residual_amount == D("120.00")
    result = allocate(books, credit, [(invoice, "120.00")])
    assert not result.replayed and len(result.allocations) == 1 and result.allocations[0].vat_entry_id is None
    invoice, credit = fresh(invoice), fresh(credit)
    assert invoice.state == InvoiceState.PAID and invoice.residual_amount == 0
    assert credit.state == InvoiceState.PAID and credit.residual_amount == 0
    # The 411 lines of both documents carry one full (upper case) matching code.
    assert partner_codes(invoice) == ["AA"] and partner_codes(credit) == ["AA"]
    assert AuditEntry.objects.filter(action="invoice.credit_allocate", object_id=str(credit.pk)).count() == 1
    assert OutboxEvent.objects.filter(name="accounting.credit_allocated").count() == 1
    assert verify_chain(books.company_id).ok


def test_partial_allocation_over_two_invoices_moves_both_states(books: Books) -> None:
    first = books.posted([line(quantity="2")])  # 240.00
    second = post_invoice(books, "50.00")  # 60.00
    credit = credit_note(books, first, quantity="1")  # 120.00
    allocate(books, credit, [(first, "70.00"), (second, "30.00")])
    first, second, credit = fresh(first), fresh(second), fresh(credit)
    assert (first.state, first.residual_amount) == (InvoiceState.PARTIALLY_PAID, D("170.00"))
    assert (second.state, second.residual_amount) == (InvoiceState.PARTIALLY_PAID, D("30.00"))
    assert (credit.state, credit.residual_amount) == (InvoiceState.PARTIALLY_PAID, D("20.00"))
    # One lower-case (partial) group holding the three documents.
    codes = {*partner_codes(first), *partner_codes(second), *partner_codes(credit)}
    assert codes == {"aa"}
    # The rest of the credit, then a payment, finish the job: the group becomes full.
    allocate(books, credit, [(second, "20.00")])
    pay(books, "180.00", [(first, "170.00"), (second, "10.00")])
    assert {fresh(i).state for i in (first, second, credit)} == {InvoiceState.PAID}
    assert partner_codes(first) == ["AA"] and partner_codes(credit) == ["AA"]


def test_over_allocation_is_refused_per_field_and_writes_nothing(books: Books) -> None:
    invoice = post_invoice(books)  # 120.00
    other = post_invoice(books, "500.00")  # 600.00
    credit = credit_note(books, invoice)  # 120.00
    with pytest.raises(ValidationFailed) as more_than_due:
        allocate(books, credit, [(invoice, "120.01")])
    assert "allocations.0.amount" in more_than_due.value.fields
    with pytest.raises(ValidationFailed) as more_than_credit:
        allocate(books, credit, [(invoice, "100.00"), (other, "50.00")])
    assert "allocations" in more_than_credit.value.fields
    assert not CreditAllocation.objects.exists()
    assert fresh(invoice).residual_amount == D("120.00") and fresh(credit).residual_amount == D("120.00")
    assert partner_codes(invoice) == [""]
    allocate(books, credit, [(invoice, "120.00")])
    with pytest.raises(ValidationFailed) as nothing_left:
        allocate(books, credit, [(other, "1.00")])
    assert "credit_note_id" in nothing_left.value.fields


def test_cross_partner_wrong_kind_and_bad_input_are_field_errors(books: Books) -> None:
    invoice = post_invoice(books)
    credit = credit_note(books, invoice)
    elsewhere = post_invoice(books, organization=books.eu_customer)
    bill = post_invoice(books, kind=InvoiceKind.VENDOR_BILL)
    draft = books.invoice()
    cases: list[tuple[list[Any] | Any, str]] = [
        ([{"invoice_id": elsewhere.pk, "amount": "10.00"}], "allocations.0.invoice_id"),
        ([{"invoice_id": bill.pk, "amount": "10.00"}], "allocations.0.invoice_id"),
        ([{"invoice_id": draft.pk, "amount": "10.00"}], "allocations.0.invoice_id"),
        ([{"invoice_id": 999999999, "amount": "10.00"}], "allocations.0.invoice_id"),
        ([{"invoice_id": invoice.pk, "amount": 10.5}], "allocations.0.amount"),
        ([{"invoice_id": invoice.pk, "amount": "-3"}], "allocations.0.amount"),
        ([{"invoice_id": invoice.pk, "amount": "0"}], "allocations.0.amount"),
        ([{"invoice_id": invoice.pk, "amount": "1.001"}], "allocations.0.amount"),
        ([{"invoice_id": invoice.pk, "amount": "1", "x": 1}], "allocations.0.x"),
        ([{"invoice_id": credit.pk, "amount": "1"}], "allocations.0.invoice_id"),
        ([{"invoice_id": invoice.pk, "amount": "1"}, {"invoice_id": invoice.pk, "amount": "1"}],
         "allocations.1.invoice_id"),
        ([], "allocations"),
        ("all", "allocations"),
        (["x"], "allocations.0"),
    ]  # fmt: skip
    for raw, name in cases:
        with pytest.raises(ValidationFailed) as caught:
            credit_allocation.credit_allocate(actor=books.actor(), credit_note_id=credit.pk, allocations=raw)
        assert name in caught.value.fields, (raw, caught.value.fields)
    # An invoice is not a credit note.
    with pytest.raises(ValidationFailed) as not_credit:
        allocate(books, invoice, [(elsewhere, "1.00")])
    assert "credit_note_id" in not_credit.value.fields
    with pytest.raises(ValidationFailed) as bad_date:
        allocate(books, credit, [(invoice, "1.00")], date="31/02/2026")
    assert "date" in bad_date.value.fields
    with pytest.raises(ValidationFailed) as too_early:
        allocate(books, credit, [(invoice, "1.00")], date="2001-01-01")
    assert "date" in too_early.value.fields
    assert not CreditAllocation.objects.exists()


def test_same_key_replays_and_another_content_conflicts(books: Books) -> None:
    invoice = post_invoice(books)
    credit = credit_note(books, invoice)
    first = allocate(books, credit, [(invoice, "50.00")], idempotency_key="k-1")
    again = allocate(books, credit, [(invoice, "50.00")], idempotency_key="k-1")
    assert again.replayed and [a.pk for a in again.allocations] == [a.pk for a in first.allocations]
    assert fresh(credit).residual_amount == D("70.00")
    with pytest.raises(Conflict):
        allocate(books, credit, [(invoice, "60.00")], idempotency_key="k-1")
    assert CreditAllocation.objects.count() == 1


def test_vat_on_receipts_is_moved_once_whatever_settles_the_invoice(books: Books) -> None:
    """120.00 of services (20.00 VAT waiting on 44574), half credited and allocated, the rest
    paid: 10.00 of VAT becomes chargeable, nothing stays waiting."""
    invoice = books.posted([line(quantity="2", unit_price="50.00", operation="services")])  # 120.00
    credit = credit_note(books, invoice, quantity="1")  # 60.00, 10.00 VAT taken off 44574
    assert _balance("44574") == D("-10.00")
    result = allocate(books, credit, [(invoice, "60.00")])
    row = result.allocations[0]
    # Half of the invoice's waiting VAT (10.00) and all of the credit note's (−10.00): nothing to book.
    assert (row.invoice_vat_moved, row.credit_vat_moved, row.vat_entry_id) == (D("10.00"), D("-10.00"), None)
    pay(books, "60.00", [(invoice, "60.00")])
    assert _balance("44574") == 0 and _balance("44571") == D("-10.00")
    assert fresh(invoice).state == InvoiceState.PAID


def test_allocating_another_invoice_books_the_vat_difference(books: Books) -> None:
    """A credit note of services settling a goods invoice: the credit note's waiting VAT moves alone."""
    services = books.posted([line(unit_price="50.00", operation="services")])  # 60.00, 10.00 waiting
    goods = post_invoice(books, "100.00")  # 120.00, VAT on debits
    credit = credit_note(books, services)  # 60.00
    result = allocate(books, credit, [(goods, "60.00")])
    entry_id = result.allocations[0].vat_entry_id
    assert entry_id is not None
    assert sorted(JournalLine.objects.filter(entry_id=entry_id).values_list("account__code", "debit", "credit")) == [
        ("44571", D("10.00"), D("0.00")), ("44574", D("0.00"), D("10.00"))]  # fmt: skip
    assert verify_chain(books.company_id).ok


def test_cancelling_a_payment_keeps_the_credit_note_matched(books: Books) -> None:
    invoice = books.posted([line(quantity="2")])  # 240.00
    credit = credit_note(books, invoice, quantity="1")  # 120.00
    allocate(books, credit, [(invoice, "120.00")])
    payment = pay(books, "120.00", [(invoice, "120.00")])
    assert fresh(invoice).state == InvoiceState.PAID and partner_codes(credit) == ["AA"]
    payments.payment_cancel(actor=books.actor(), payment_id=payment.pk)
    invoice = fresh(invoice)
    assert (invoice.state, invoice.residual_amount) == (InvoiceState.PARTIALLY_PAID, D("120.00"))
    # Still matched with its credit note (partial now): the payment's cancellation left it.
    assert partner_codes(invoice) == partner_codes(credit) and partner_codes(credit)[0].islower()


def test_supplier_refund_settles_a_bill(books: Books) -> None:
    bill = post_invoice(books, "100.00", kind=InvoiceKind.VENDOR_BILL)
    refund = credit_note(books, bill)
    assert refund.kind == InvoiceKind.VENDOR_REFUND
    allocate(books, refund, [(bill, "120.00")])
    assert fresh(bill).state == InvoiceState.PAID and fresh(refund).state == InvoiceState.PAID
    assert partner_codes(bill) == partner_codes(refund) == ["AA"]


def test_permissions_and_other_company(books: Books) -> None:
    invoice = post_invoice(books)
    credit = credit_note(books, invoice)
    for role in ("sales", "management"):
        with pytest.raises(PermissionDenied):
            allocate(books, credit, [(invoice, "10.00")], actor=books.actor(role))
    with pytest.raises(NotFound):
        allocate(books, credit, [(invoice, "10.00")], actor=books.personas.outsider_actor())
    with pytest.raises(NotFound):
        credit_allocation.allocations_of(books.personas.outsider_actor(), credit.pk)
    allocate(books, credit, [(invoice, "10.00")])
    # Whoever sees the invoice sees its allocations (a salesperson of this customer, finance).
    assert [a.amount for a in credit_allocation.allocations_of(books.actor(), invoice.pk)] == [D("10.00")]
    assert [i.pk for i in credit_allocation.allocatable_invoices(books.actor(), fresh(credit))] == [invoice.pk]


def test_cancelling_a_payment_paid_before_the_credit_note_keeps_vat_exact(books: Books) -> None:
    """6.00 of services (1.00 VAT waiting): paid 2.00 (moves 0.33), a credit note settles 2.00
    (moves 0.34), the payment is cancelled: 2.00 remains settled, whose share is 0.33."""
    invoice = books.posted([line(quantity="6", unit_price="0.8333", operation="services")])
    assert invoice.total_amount == D("6.00") and invoice.tax_amount == D("1.00")
    payment = pay(books, "2.00", [(invoice, "2.00")])
    other = books.posted([line(quantity="2", unit_price="0.8333", operation="services")])  # 2.00
    credit = credit_note(books, other)
    allocate(books, credit, [(invoice, "2.00")])
    payments.payment_cancel(actor=books.actor(), payment_id=payment.pk)
    invoice = fresh(invoice)
    assert (invoice.state, invoice.residual_amount) == (InvoiceState.PARTIALLY_PAID, D("4.00"))
    # The invoice's waiting VAT moved so far is exactly the share of what is settled.
    assert payments._vat_moves(books.company_id, invoice, D(0)) == []
    assert verify_chain(books.company_id).ok

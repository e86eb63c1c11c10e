"""Property: any sequence of payments, credit uses and cancellations keeps every invoice's
amount due equal to its total minus its active allocations (never below zero), every
payment's credit equal to its amount minus its allocations, the partner account equal to
what is due minus the credits, and the ledger balanced."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comptoir.accounting import payments, selectors
from comptoir.accounting.models import Invoice, InvoiceState, JournalLine
from comptoir.accounting.models_payments import Payment, PaymentAllocation, PaymentState
from comptoir.accounting.tests.invoices_kit import Books
from comptoir.accounting.tests.payments_kit import TODAY, books, post_invoice
from comptoir.kernel.money import exact_sum

pytestmark = pytest.mark.django_db
__all__ = ["books"]
SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True
)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(0, 1), st.integers(1, 20_000)),
        st.tuples(st.just("credit"), st.integers(0, 1), st.integers(0, 10)),
        st.tuples(st.just("cancel"), st.integers(0, 10), st.just(0)),
    ),
    min_size=1,
    max_size=6,
)


def _partner_balance(books: Books) -> D:
    lines = JournalLine.objects.filter(partner_account=books.ledger.customer, is_posted=True)
    return exact_sum(lines, "debit") - exact_sum(lines, "credit")


def _check(books: Books, invoices: list[Invoice], made: list[Payment], opening: D) -> None:
    for invoice in invoices:
        invoice.refresh_from_db()
        active = exact_sum(PaymentAllocation.objects.filter(invoice=invoice, is_active=True), "amount")
        assert invoice.residual_amount == invoice.total_amount - active
        assert 0 <= invoice.residual_amount <= invoice.total_amount
        expected = (InvoiceState.PAID if invoice.residual_amount == 0 else InvoiceState.POSTED
                    if invoice.residual_amount == invoice.total_amount else InvoiceState.PARTIALLY_PAID)  # fmt: skip
        assert invoice.state == expected
    credits = D(0)
    for payment in made:
        payment.refresh_from_db()
        if payment.state == PaymentState.POSTED:
            allocated = exact_sum(PaymentAllocation.objects.filter(payment=payment, is_active=True), "amount")
            assert payment.unallocated == payment.amount - allocated
            credits += payment.unallocated
        else:
            assert not PaymentAllocation.objects.filter(payment=payment, is_active=True).exists()
    due = sum((invoice.residual_amount for invoice in invoices), D(0))
    assert _partner_balance(books) - opening == due - credits
    balance = selectors.trial_balance(books.actor())
    assert balance.total_debit == balance.total_credit


@SETTINGS
@given(steps=operations)
def test_any_sequence_keeps_amounts_due_exact_and_the_ledger_balanced(books: Books, steps: list) -> None:
    opening = _partner_balance(books)
    invoices = [post_invoice(books, "100.00", services=True), post_invoice(books, "37.35")]
    made: list[Payment] = []
    actor = books.actor()
    for kind, target, value in steps:
        if kind == "pay":
            invoice = Invoice.objects.get(pk=invoices[target].pk)
            amount = D(value).scaleb(-2)
            share = min(amount, invoice.residual_amount)
            allocations = [{"invoice_id": invoice.pk, "amount": str(share)}] if share else []
            made.append(payments.payment_register(
                actor=actor, organization_id=books.customer.pk, amount=str(amount), date=TODAY,
                journal_id=books.ledger.journals["BQ"], method="transfer", allocations=allocations,
            ))  # fmt: skip
        elif kind == "credit":
            lenders = [p for p in made if Payment.objects.get(pk=p.pk).is_posted and
                       Payment.objects.get(pk=p.pk).unallocated > 0]  # fmt: skip
            invoice = Invoice.objects.get(pk=invoices[target].pk)
            if lenders and invoice.residual_amount:
                lender = Payment.objects.get(pk=lenders[value % len(lenders)].pk)
                share = min(lender.unallocated, invoice.residual_amount)
                payments.payment_allocate_credit(actor=actor, payment_id=lender.pk, invoice_id=invoice.pk,
                                                 amount=str(share))  # fmt: skip
        else:
            live = [p for p in made if Payment.objects.get(pk=p.pk).is_posted]
            if live:
                payments.payment_cancel(actor=actor, payment_id=live[target % len(live)].pk)
        _check(books, invoices, made, opening)
    # VAT on receipts: what moved to 44571 is the waiting VAT's share of what is paid now.
    services_invoice = Invoice.objects.get(pk=invoices[0].pk)
    moved = exact_sum(PaymentAllocation.objects.filter(invoice=services_invoice, is_active=True), "vat_moved")
    paid = services_invoice.total_amount - services_invoice.residual_amount
    # Each payment re-anchors the moved total on the rounded share; a cancellation may leave
    # the rounding of the share it removed (half a cent up to a cent) until the next payment.
    cancels = sum(1 for kind, _t, _v in steps if kind == "cancel")
    tolerance = D("0.01") * (1 + cancels)
    assert abs(moved - services_invoice.tax_amount * paid / services_invoice.total_amount) <= tolerance
    if services_invoice.residual_amount == 0:
        assert moved == services_invoice.tax_amount

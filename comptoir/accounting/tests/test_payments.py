"""Payment services: full, partial, several invoices, overpayment kept as credit then used,
cancel by reversal; per-allocation errors with nothing written; idempotency; VAT on receipts;
supplier payments; matching codes; permissions."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from comptoir.accounting import matching, payments
from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import InvoiceKind, InvoiceState, JournalEntry, JournalLine
from comptoir.accounting.models_payments import Matching, Payment, PaymentAllocation, PaymentState
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books
from comptoir.accounting.tests.payments_kit import (
    books,
    entry_lines,
    fresh,
    partner_codes,
    pay,
    post_invoice,
)
from comptoir.kernel.errors import Conflict, PermissionDenied, ValidationFailed
from comptoir.kernel.models import OutboxEvent

pytestmark = pytest.mark.django_db
__all__ = ["books"]


def test_full_payment_books_bank_against_customer_matches_and_marks_paid(books: Books) -> None:
    invoice = post_invoice(books)  # 100 + 20 % = 120.00
    payment = pay(books, "120.00", [(invoice, "120.00")], reference="VIR 4512")
    assert payment.state == PaymentState.POSTED and payment.unallocated == 0 and not payment.replayed
    assert entry_lines(payment) == [("512", D("120.00"), D("0.00"), ""), ("411", D("0.00"), D("120.00"), "AA")]
    invoice = fresh(invoice)
    assert invoice.state == InvoiceState.PAID and invoice.residual_amount == 0
    assert partner_codes(invoice) == ["AA"]
    found = Matching.objects.get()
    assert found.full and found.code == "AA" and found.date == today()
    assert JournalEntry.objects.get(pk=payment.journal_entry_id).number.startswith("BQ-")
    assert OutboxEvent.objects.filter(name="accounting.payment_registered").count() == 1
    assert verify_chain(books.company_id).ok


def test_partial_payments_keep_one_lower_case_code_until_paid(books: Books) -> None:
    invoice = post_invoice(books)
    first = pay(books, "50.00", [(invoice, "50.00")])
    invoice = fresh(invoice)
    assert invoice.state == InvoiceState.PARTIALLY_PAID and invoice.residual_amount == D("70.00")
    assert partner_codes(invoice) == ["aa"] and entry_lines(first)[1][3] == "aa"
    second = pay(books, "70.00", [(invoice, "70.00")])
    invoice = fresh(invoice)
    assert invoice.state == InvoiceState.PAID and invoice.residual_amount == 0
    # The partial matching became full: same code, upper case, on all three lines.
    assert partner_codes(invoice) == ["AA"] and entry_lines(first)[1][3] == "AA" and entry_lines(second)[1][3] == "AA"
    assert list(Matching.objects.values_list("code", "full", "undone")) == [("AA", True, False)]


def test_one_payment_for_several_invoices(books: Books) -> None:
    first, second = post_invoice(books, "100.00"), post_invoice(books, "50.00")
    payment = pay(books, "180.00", [(first, "120.00"), (second, "60.00")])
    assert [line[:3] for line in entry_lines(payment)] == [
        ("512", D("180.00"), D("0.00")), ("411", D("0.00"), D("120.00")), ("411", D("0.00"), D("60.00")),
    ]  # fmt: skip
    assert fresh(first).state == fresh(second).state == InvoiceState.PAID
    assert partner_codes(first) == ["AA"] and partner_codes(second) == ["AB"]
    assert sorted(PaymentAllocation.objects.values_list("invoice_id", "amount")) == [
        (first.pk, D("120.00")), (second.pk, D("60.00"))]  # fmt: skip


def test_auto_allocation_pays_the_oldest_due_first(books: Books) -> None:
    older, newer = post_invoice(books, "100.00"), post_invoice(books, "50.00")
    older_due, newer_due = fresh(older).due_date, fresh(newer).due_date
    assert older_due is not None and newer_due is not None and older_due <= newer_due
    payment = pay(books, "150.00", "auto")
    assert fresh(older).state == InvoiceState.PAID
    assert fresh(newer).state == InvoiceState.PARTIALLY_PAID and fresh(newer).residual_amount == D("30.00")
    assert payment.unallocated == 0
    # Nothing left to pay: an automatic payment becomes a credit.
    pay(books, "30.00", "auto")
    assert pay(books, "5.00", "auto").unallocated == D("5.00")


def test_overpayment_is_kept_as_credit_then_used_on_another_invoice(books: Books) -> None:
    first = post_invoice(books, "100.00")
    payment = pay(books, "150.00", [(first, "120.00")])
    assert payment.unallocated == D("30.00") and fresh(first).state == InvoiceState.PAID
    credit_line = JournalLine.objects.get(pk=payment.credit_line_id)
    assert (credit_line.credit, credit_line.matching_code) == (D("30.00"), "")
    assert payments.partner_credits(books.actor(), books.customer.pk) == [payment]
    second = post_invoice(books, "50.00")  # 60.00
    allocation = payments.payment_allocate_credit(actor=books.actor(), payment_id=payment.pk,
                                                  invoice_id=second.pk, amount="30.00")  # fmt: skip
    assert allocation.from_credit and allocation.line_id == payment.credit_line_id
    payment.refresh_from_db()
    second = fresh(second)
    assert payment.unallocated == 0 and second.state == InvoiceState.PARTIALLY_PAID
    assert second.residual_amount == D("30.00") and partner_codes(second) == ["ab"]
    assert payments.partner_credits(books.actor(), books.customer.pk) == []
    # More credit than is left is refused, on the amount.
    with pytest.raises(ValidationFailed) as refused:
        payments.payment_allocate_credit(actor=books.actor(), payment_id=payment.pk, invoice_id=second.pk,
                                         amount="0.01")  # fmt: skip
    assert list(refused.value.fields) == ["amount"]
    pay(books, "30.00", [(second, "30.00")])
    assert fresh(second).state == InvoiceState.PAID and partner_codes(second) == ["AB"]


def test_cancel_reverses_unmatches_and_restores_what_is_due(books: Books) -> None:
    invoice = post_invoice(books)
    kept = pay(books, "20.00", [(invoice, "20.00")])
    cancelled = pay(books, "50.00", [(invoice, "50.00")])
    assert fresh(invoice).residual_amount == D("50.00") and partner_codes(invoice) == ["aa"]
    result = payments.payment_cancel(actor=books.actor(), payment_id=cancelled.pk)
    assert result.state == PaymentState.CANCELLED and result.cancel_entry is not None
    reversal = JournalEntry.objects.get(pk=result.cancel_entry_id)
    assert reversal.reversal_of_id == cancelled.journal_entry_id and reversal.state == "posted"
    invoice = fresh(invoice)
    assert invoice.state == InvoiceState.PARTIALLY_PAID and invoice.residual_amount == D("100.00")
    # The cancelled payment's line and its reversal settle each other; the invoice and the
    # payment kept are matched again (partially) under a new code.
    assert entry_lines(cancelled)[1][3] == "AB"
    assert JournalLine.objects.get(entry=reversal, partner_account__isnull=False).matching_code == "AB"
    assert partner_codes(invoice) == ["ac"] and entry_lines(kept)[1][3] == "ac"
    assert list(Matching.objects.order_by("index").values_list("code", "undone")) == [
        ("AA", True), ("AB", False), ("AC", False)]  # fmt: skip
    assert not PaymentAllocation.objects.get(payment=cancelled).is_active
    with pytest.raises(Conflict):
        payments.payment_cancel(actor=books.actor(), payment_id=cancelled.pk)
    payments.payment_cancel(actor=books.actor(), payment_id=kept.pk)
    invoice = fresh(invoice)
    assert invoice.state == InvoiceState.POSTED and invoice.residual_amount == invoice.total_amount
    assert partner_codes(invoice) == [""]
    assert verify_chain(books.company_id).ok


def test_cancelling_a_payment_whose_credit_was_used_restores_both_invoices(books: Books) -> None:
    first, second = post_invoice(books, "100.00", services=True), post_invoice(books, "50.00", services=True)
    payment = pay(books, "150.00", [(first, "120.00")])
    allocation = payments.payment_allocate_credit(actor=books.actor(), payment_id=payment.pk, invoice_id=second.pk,
                                                  amount="30.00")  # fmt: skip
    assert allocation.vat_entry_id is not None  # 30/60 of the 10.00 VAT on receipts: 5.00
    assert sorted(
        JournalLine.objects.filter(entry_id=allocation.vat_entry_id).values_list("account__code", "debit", "credit")
    ) == [("44571", D("0.00"), D("5.00")), ("44574", D("5.00"), D("0.00"))]
    payments.payment_cancel(actor=books.actor(), payment_id=payment.pk)
    for invoice in (fresh(first), fresh(second)):
        assert invoice.state == InvoiceState.POSTED and invoice.residual_amount == invoice.total_amount
        assert partner_codes(invoice) == [""]
    # Every VAT move was reversed: the waiting account holds the invoices' VAT again.
    assert _balance("44574") == D("-30.00") and _balance("44571") == 0


def _balance(code: str) -> D:
    lines = JournalLine.objects.filter(account__code=code, is_posted=True)
    return sum((line.debit - line.credit for line in lines.only("debit", "credit")), D(0))


def test_vat_on_receipts_moves_in_proportion_and_exactly_at_the_last_payment(books: Books) -> None:
    invoice = post_invoice(books, "100.00", services=True)  # 120.00 of which 20.00 waits on 44574
    first = pay(books, "40.00", [(invoice, "40.00")])
    assert entry_lines(first)[2:] == [("44574", D("6.67"), D("0.00"), ""), ("44571", D("0.00"), D("6.67"), "")]
    second = pay(books, "40.00", [(invoice, "40.00")])
    last = pay(books, "40.00", [(invoice, "40.00")])
    # Cumulated shares: 6.67 (of 40), 13.33 − 6.67 = 6.66 (of 80), then what is left, 20 − 13.33.
    assert [entry_lines(p)[2][1] for p in (first, second, last)] == [D("6.67"), D("6.66"), D("6.67")]
    assert _balance("44574") == 0 and _balance("44571") == D("-20.00")


def test_goods_invoice_moves_no_vat(books: Books) -> None:
    invoice = post_invoice(books, "100.00")
    payment = pay(books, "60.00", [(invoice, "60.00")])
    assert [code for code, *_rest in entry_lines(payment)] == ["512", "411"]


def test_supplier_bill_paid_out_mirrors_the_entry(books: Books) -> None:
    bill = post_invoice(books, "200.00", kind=InvoiceKind.VENDOR_BILL, services=True)  # 240.00, 40.00 on 44564
    payment = pay(books, "240.00", [(bill, "240.00")], direction="outbound", organization_id=books.supplier.pk)
    assert entry_lines(payment) == [
        ("512", D("0.00"), D("240.00"), ""), ("401", D("240.00"), D("0.00"), "AA"),
        ("44566", D("40.00"), D("0.00"), ""), ("44564", D("0.00"), D("40.00"), ""),
    ]  # fmt: skip
    assert fresh(bill).state == InvoiceState.PAID and partner_codes(bill) == ["AA"]


def test_errors_are_reported_per_allocation_and_nothing_is_written(books: Books) -> None:
    invoice, paid = post_invoice(books), post_invoice(books, "10.00")
    pay(books, "12.00", [(paid, "12.00")])
    bill = post_invoice(books, "10.00", kind=InvoiceKind.VENDOR_BILL)
    entries, lines = JournalEntry.objects.count(), JournalLine.objects.count()
    with pytest.raises(ValidationFailed) as failed:
        payments.payment_register(
            actor=books.actor(), organization_id=books.customer.pk, amount="500.00", date=today(),
            journal_id=books.ledger.journals["BQ"], method="cheque",
            allocations=[{"invoice_id": invoice.pk, "amount": "130.00"}, {"invoice_id": paid.pk, "amount": "1.00"},
                         {"invoice_id": bill.pk, "amount": "1.00"}, {"invoice_id": 999_999, "amount": "1.00"}],
        )  # fmt: skip
    assert set(failed.value.fields) == {"allocations.0.amount", "allocations.1.invoice_id",
                                        "allocations.2.invoice_id", "allocations.3.invoice_id"}  # fmt: skip
    assert "120.00" in failed.value.fields["allocations.0.amount"][0]
    with pytest.raises(ValidationFailed) as bad_input:
        pay(
            books,
            "-5",
            [(invoice, "abc"), (invoice, "1.001")],
            method="bitcoin",
            journal_id=books.ledger.journals["VT"],
        )
    assert {"amount", "method", "allocations.0.amount", "allocations.1.amount", "allocations.1.invoice_id"} <= set(
        bad_input.value.fields
    )
    with pytest.raises(ValidationFailed) as wrong_journal:
        pay(books, "5.00", [(invoice, "5.00")], journal_id=books.ledger.journals["VT"])
    assert list(wrong_journal.value.fields) == ["journal_id"]
    with pytest.raises(ValidationFailed) as too_much:
        pay(books, "10.00", [(invoice, "20.00")])
    assert list(too_much.value.fields) == ["allocations"]
    assert Payment.objects.count() == 1
    assert (JournalEntry.objects.count(), JournalLine.objects.count()) == (entries, lines)
    assert fresh(invoice).residual_amount == D("120.00")


def test_same_key_twice_records_one_payment_and_another_content_is_a_conflict(books: Books) -> None:
    invoice = post_invoice(books)
    first = pay(books, "120.00", [(invoice, "120.00")], idempotency_key="form-7f3a")
    # The invoice is paid now: the replay must not be validated again, just returned.
    again = pay(books, "120.00", [(invoice, "120.00")], idempotency_key="form-7f3a")
    assert again.pk == first.pk and again.replayed and not first.replayed
    assert Payment.objects.count() == 1 and JournalEntry.objects.filter(source_type="accounting.payment").count() == 1
    with pytest.raises(Conflict) as conflict:
        pay(books, "100.00", [(invoice, "100.00")], idempotency_key="form-7f3a")
    assert conflict.value.code == "idempotency_key_reused" and conflict.value.status == 409
    # Keys are per company and optional: no key, no deduplication.
    other = post_invoice(books, "10.00")
    pay(books, "6.00", [(other, "6.00")])
    pay(books, "6.00", [(other, "6.00")])
    assert fresh(other).state == InvoiceState.PAID and Payment.objects.count() == 3


def test_payment_without_invoice_is_a_credit_on_a_new_partner_account(books: Books) -> None:
    payment = pay(books, "75.00", [], organization_id=books.eu_customer.pk)
    assert payment.unallocated == D("75.00") and payment.partner_account.code.startswith("C")
    assert [line[:3] for line in entry_lines(payment)] == [("512", D("75.00"), D("0.00")),
                                                            ("411", D("0.00"), D("75.00"))]  # fmt: skip


def test_match_and_unmatch_lines_by_hand_with_gapless_codes(books: Books) -> None:
    first, second, third = (post_invoice(books, net) for net in ("10.00", "20.00", "30.00"))
    credit = pay(books, "200.00", [])
    actor = books.actor()
    lines = {inv.pk: JournalLine.objects.get(entry_id=inv.journal_entry_id, partner_account__isnull=False).pk
             for inv in (first, second, third)}  # fmt: skip
    credit_line = credit.credit_line_id
    partial = matching.match_lines(actor=actor, line_ids=[lines[first.pk], credit_line])
    assert partial.line_code == "aa" and not partial.full
    # Adding an invoice to the partial matching keeps its code.
    assert matching.match_lines(actor=actor, line_ids=[lines[second.pk], credit_line]).line_code == "aa"
    with pytest.raises(ValidationFailed) as one_side:
        matching.match_lines(actor=actor, line_ids=[lines[third.pk]])
    assert "line_ids" in one_side.value.fields
    freed = matching.unmatch_lines(actor=actor, line_ids=[credit_line])
    assert sorted(freed) == sorted([lines[first.pk], lines[second.pk], credit_line])
    full = matching.match_lines(actor=actor, line_ids=[lines[first.pk], lines[second.pk], lines[third.pk],
                                                       credit_line])  # fmt: skip
    assert full.line_code == "ab" and not full.full  # 72 + … < 200: still partial
    codes = list(Matching.objects.filter(partner_account=books.ledger.customer).order_by("index")
                 .values_list("code", flat=True))  # fmt: skip
    assert codes == [matching.code_for(i) for i in range(len(codes))] == ["AA", "AB"]
    with pytest.raises(ValidationFailed):
        matching.match_lines(actor=actor, line_ids=[lines[first.pk], 999_999])
    with pytest.raises(PermissionDenied):
        matching.match_lines(actor=books.actor("sales"), line_ids=[lines[first.pk], credit_line])


def test_codes_run_aa_to_zz_then_three_letters() -> None:
    assert [matching.code_for(i) for i in (0, 1, 25, 26, 675, 676, 677)] == [
        "AA", "AB", "AZ", "BA", "ZZ", "AAA", "AAB"]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "allowed"), [("finance", True), ("sales", False), ("management", False), ("admin", True)]
)
def test_who_may_register_payments(books: Books, role: str, allowed: bool) -> None:
    invoice = post_invoice(books)
    if allowed:
        assert pay(books, "10.00", [(invoice, "10.00")], role=role).pk
    else:
        with pytest.raises(PermissionDenied):
            pay(books, "10.00", [(invoice, "10.00")], role=role)
    assert books.actor("management").has_perm(payments.VIEW)
    assert not books.actor("sales").has_perm(payments.VIEW)


def test_other_company_sees_and_pays_nothing(books: Books) -> None:
    invoice = post_invoice(books)
    payment = pay(books, "10.00", [(invoice, "10.00")])
    outsider = books.personas.outsider_actor()
    from comptoir.kernel.errors import NotFound

    with pytest.raises(NotFound):
        payments.payment_get(outsider, payment.pk)
    with pytest.raises(NotFound):
        payments.payment_cancel(actor=outsider, payment_id=payment.pk)

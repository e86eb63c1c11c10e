"""Property: any sequence of invoices, vendor bills, credit notes (allocated to their invoice
or not), payments (partial, full, over, several invoices at once, installments), uses of a
credit and cancellations — all through the real services — leaves the books exact:

* every posted entry balances, and so does the trial balance;
* each invoice's amount due is its total minus its active allocations (payments and credit
  notes), never negative, and its state follows (posted / partially paid / paid);
* each partner account's balance is what its open documents leave due, minus its credits;
* VAT on receipts: what moved from the waiting account (44574 / 44564) to the chargeable one
  is exactly the VAT share of what is paid now, invoice by invoice and in the ledger, also
  after cancellations.

Each example runs in a savepoint rolled back at its end, so examples do not pile up.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from comptoir.accounting import credit_allocation, credit_links, payments, selectors
from comptoir.accounting import invoices as invoice_services
from comptoir.accounting.models import (
    Invoice,
    InvoiceKind,
    InvoiceState,
    JournalEntry,
    JournalLine,
    PartnerAccount,
)
from comptoir.accounting.models_credit import CreditAllocation
from comptoir.accounting.models_payments import Payment, PaymentAllocation, PaymentDirection, PaymentState
from comptoir.accounting.tests.conftest import today
from comptoir.accounting.tests.invoices_kit import Books, line, organization
from comptoir.accounting.tests.payments_kit import books
from comptoir.contacts.models import Organization
from comptoir.kernel.money import exact_sum, quantize

pytestmark = pytest.mark.django_db
__all__ = ["books"]
CENT = D("0.01")
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
    # Shrinking replays whole sequences of posted documents: minutes. A failure prints its steps.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
CATEGORIES = ["standard", "intermediate", "reduced", "super_reduced", "exempt_261_4"]
WAITING = {"44574": "44571", "44564": "44566"}

# One invoice line: VAT category, services (VAT on receipts) or goods, quantity, unit price in cents.
lines_strategy = st.lists(
    st.tuples(
        st.sampled_from(CATEGORIES), st.sampled_from([True, True, False]), st.integers(1, 3), st.integers(1, 40_000)
    ),
    min_size=1,
    max_size=3,
)
# A payment of an open document (picked by index): the share of its amount due in percent (0:
# none, a payment on account), also the next open document of the same account in full, and an
# extra in cents (an overpayment, left as a credit).
pay_plan = st.tuples(
    st.one_of(st.integers(1, 99), st.just(100), st.just(0)),
    st.booleans(),
    st.sampled_from([0, 0, 1, 1_000]),
)
# The documents each example starts from: an invoice of partner 0..2 (two customers, a
# supplier: a vendor bill) with its lines.
partner_index = st.sampled_from([0, 0, 1, 2])
documents = st.lists(st.tuples(partner_index, lines_strategy), min_size=1, max_size=3)
# Then the steps; payments and cancellations weigh more, they are where amounts move.
operations = st.lists(
    st.one_of(
        # (the first kinds are those Hypothesis tries first)
        # an open document paid in installments: (number of installments, how many paid now)
        st.tuples(st.just("installments"), st.integers(0, 20), st.tuples(st.integers(3, 4), st.integers(2, 4))),
        st.tuples(st.just("pay"), st.integers(0, 20), pay_plan),
        st.tuples(st.just("cancel"), st.integers(0, 20), st.just(0)),
        st.tuples(st.just("pay"), st.integers(0, 20), pay_plan),
        st.tuples(st.just("use_credit"), st.integers(0, 20), st.integers(0, 20)),
        # a posted credit note (or refund) settling an open invoice of the same account
        st.tuples(st.just("credit_allocate"), st.integers(0, 20), st.integers(0, 20)),
        # a credit note of a posted invoice: all its lines or one unit of the first; allocated to it or not
        st.tuples(st.just("credit_note"), st.integers(0, 20), st.tuples(st.booleans(), st.booleans())),
        st.tuples(st.just("invoice"), partner_index, lines_strategy),
        st.tuples(st.just("cancel"), st.integers(0, 20), st.just(0)),
    ),
    min_size=3,
    max_size=10,
)


def _partners(books: Books) -> list[tuple[Any, bool]]:
    """(organization, is a customer): two French customers and a supplier."""
    second = Organization.objects.filter(company_id=books.company_id, legal_name="Fromagerie Petit").first()
    if second is None:
        second = organization(books.company_id, "Fromagerie Petit", siren="443061841", vat_number="FR28443061841")
    return [(books.customer, True), (second, True), (books.supplier, False)]


def _make_invoice(books: Books, index: int, spec: list[tuple[str, bool, int, int]]) -> None:
    partner, is_customer = _partners(books)[index]
    lines = [
        line(name=f"L{n}", quantity=str(quantity), unit_price=str(D(cents).scaleb(-2)), vat_category=category,
             operation="services" if services else "goods")
        for n, (category, services, quantity, cents) in enumerate(spec)
    ]  # fmt: skip
    kind = InvoiceKind.CUSTOMER_INVOICE if is_customer else InvoiceKind.VENDOR_BILL
    extra: dict[str, Any] = {} if is_customer else {"supplier_reference": f"B-{Invoice.objects.count()}",
                                                    "issue_date": today()}  # fmt: skip
    books.posted(lines, kind=kind, organization=partner, **extra)


def _credit_note(books: Books, pick: int, plan: tuple[bool, bool]) -> None:
    whole, allocate = plan
    origins = list(Invoice.objects.filter(
        company_id=books.company_id, kind__in=[InvoiceKind.CUSTOMER_INVOICE, InvoiceKind.VENDOR_BILL],
        state__in=[InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID, InvoiceState.PAID],
    ).order_by("pk"))  # fmt: skip
    # Once per invoice: a credit note never credits more than what is left of it.
    credited = set(Invoice.objects.filter(company_id=books.company_id, origin__isnull=False)
                   .exclude(state=InvoiceState.DRAFT).values_list("origin_id", flat=True))  # fmt: skip
    origins = [o for o in origins if o.state != InvoiceState.PAID and o.pk not in credited]
    if not origins:
        return
    origin = origins[pick % len(origins)]
    first = origin.lines.order_by("sequence").first()  # type: ignore[attr-defined]
    lines = None if whole or first is None or first.quantity <= 1 else [{"line": first.sequence, "quantity": "1"}]
    actor = books.actor()
    draft = invoice_services.invoice_credit(actor=actor, invoice_id=origin.pk, lines=lines)
    if origin.kind == InvoiceKind.VENDOR_BILL:
        invoice_services.invoice_update(actor=actor, invoice_id=draft.pk, supplier_reference=f"R-{draft.pk}",
                                        issue_date=today())  # fmt: skip
    posted = invoice_services.invoice_post(actor=actor, invoice_id=draft.pk, render_pdf=False)
    origin.refresh_from_db()
    amount = min(D(posted.residual_amount), D(origin.residual_amount))
    if allocate and amount > 0:
        credit_allocation.credit_allocate(actor=actor, credit_note_id=posted.pk, date=today(),
                                          allocations=[{"invoice_id": origin.pk, "amount": str(amount)}])  # fmt: skip


def _pay(books: Books, pick: int, plan: tuple[int, bool, int]) -> None:
    share, several, extra = plan
    documents = list(Invoice.objects.filter(company_id=books.company_id, state__in=payments.OPEN_STATES)
                     .order_by("pk"))  # fmt: skip
    if not documents:
        return
    document = documents[pick % len(documents)]
    inbound = document.kind in payments.SETTLES[PaymentDirection.INBOUND]
    direction = PaymentDirection.INBOUND if inbound else PaymentDirection.OUTBOUND
    parts = [(document, document.residual_amount if share == 100 else quantize(document.residual_amount * share / 100))]
    if several:
        parts += [
            (d, d.residual_amount) for d in documents
            if d.pk != document.pk and d.partner_account_id == document.partner_account_id
            and d.kind in payments.SETTLES[direction]
        ][:1]  # fmt: skip
    allocations = [{"invoice_id": d.pk, "amount": str(part)} for d, part in parts if part > 0]
    amount = sum((D(a["amount"]) for a in allocations), D(0)) + D(extra).scaleb(-2)
    if amount <= 0:
        return
    payments.payment_register(
        actor=books.actor(), organization_id=document.organization_id, amount=str(amount), date=today(),
        direction=direction, journal_id=books.ledger.journals["BQ"], method="transfer", allocations=allocations,
    )  # fmt: skip


def _installments(books: Books, pick: int, plan: tuple[int, int]) -> None:
    """``paid`` of ``parts`` equal installments of one document (each a share of what is left)."""
    parts, paid = plan
    for index in range(min(parts, paid)):
        _pay(books, pick, (100 // (parts - index), False, 0))


def _use_credit(books: Books, pick: int, target: int) -> None:
    lenders = list(Payment.objects.filter(company_id=books.company_id, state=PaymentState.POSTED,
                                          unallocated__gt=0).order_by("pk"))  # fmt: skip
    if not lenders:
        return
    lender = lenders[pick % len(lenders)]
    candidates = [
        invoice for invoice in payments.open_invoices(books.actor(), lender.organization_id, lender.direction)
        if invoice.partner_account_id == lender.partner_account_id
    ]  # fmt: skip
    if not candidates:
        return
    invoice = candidates[target % len(candidates)]
    share = min(D(lender.unallocated), D(invoice.residual_amount))
    payments.payment_allocate_credit(actor=books.actor(), payment_id=lender.pk, invoice_id=invoice.pk,
                                     amount=str(share), date=today())  # fmt: skip


def _credit_allocate(books: Books, pick: int, target: int) -> None:
    notes = list(Invoice.objects.filter(
        company_id=books.company_id, kind__in=[InvoiceKind.CUSTOMER_CREDIT_NOTE, InvoiceKind.VENDOR_REFUND],
        state__in=payments.OPEN_STATES,
    ).order_by("pk"))  # fmt: skip
    if not notes:
        return
    note_ = notes[pick % len(notes)]
    settles = (
        InvoiceKind.CUSTOMER_INVOICE if note_.kind == InvoiceKind.CUSTOMER_CREDIT_NOTE else InvoiceKind.VENDOR_BILL
    )
    candidates = list(Invoice.objects.filter(company_id=books.company_id, kind=settles, state__in=payments.OPEN_STATES,
                                             partner_account_id=note_.partner_account_id).order_by("pk"))  # fmt: skip
    if not candidates:
        return
    invoice = candidates[target % len(candidates)]
    amount = min(D(note_.residual_amount), D(invoice.residual_amount))
    credit_allocation.credit_allocate(actor=books.actor(), credit_note_id=note_.pk, date=today(),
                                      allocations=[{"invoice_id": invoice.pk, "amount": str(amount)}])  # fmt: skip


def _cancel(books: Books, pick: int) -> None:
    live = list(Payment.objects.filter(company_id=books.company_id, state=PaymentState.POSTED).order_by("pk"))
    if live:
        payments.payment_cancel(actor=books.actor(), payment_id=live[pick % len(live)].pk, date=today())


# --- Invariants -----------------------------------------------------------------------

# Sign of a document's amount due on its partner account (debit positive).
DUE_SIGN = {InvoiceKind.CUSTOMER_INVOICE: 1, InvoiceKind.VENDOR_REFUND: 1,
            InvoiceKind.CUSTOMER_CREDIT_NOTE: -1, InvoiceKind.VENDOR_BILL: -1}  # fmt: skip


def _waiting_balances(invoice: Invoice) -> dict[str, D]:
    """The invoice's VAT on receipts left waiting at posting, per waiting account (credit positive)."""
    result: dict[str, D] = {}
    for code, debit, credit in JournalLine.objects.filter(
        entry_id=invoice.journal_entry_id, account__code__in=list(WAITING)
    ).values_list("account__code", "debit", "credit"):
        result[code] = result.get(code, D(0)) + credit - debit
    return result


def _check(books: Books) -> None:
    company_id = books.company_id
    # Every posted entry balances; the trial balance too.
    unbalanced = [
        entry.number for entry in JournalEntry.objects.filter(company_id=company_id, state="posted")
        if exact_sum(JournalLine.objects.filter(entry=entry), "debit")
        != exact_sum(JournalLine.objects.filter(entry=entry), "credit")
    ]  # fmt: skip
    assert not unbalanced
    balance = selectors.trial_balance(books.actor())
    assert balance.total_debit == balance.total_credit
    # Invoices: amount due, state; and what each partner account should hold.
    expected_partner: dict[int, D] = {}
    expected_waiting = {code: D(0) for code in WAITING}
    posted = Invoice.objects.filter(company_id=company_id).exclude(state__in=[InvoiceState.DRAFT])
    for invoice in posted.order_by("pk"):
        allocations = PaymentAllocation.objects.filter(invoice=invoice, is_active=True)
        credited = CreditAllocation.objects.filter(Q(invoice=invoice) | Q(credit_note=invoice), is_active=True)
        active = exact_sum(allocations, "amount") + exact_sum(credited, "amount")
        assert invoice.residual_amount == invoice.total_amount - active, invoice.number
        assert 0 <= invoice.residual_amount <= invoice.total_amount
        if invoice.residual_amount == 0:
            assert invoice.state == InvoiceState.PAID, invoice.number
        elif invoice.residual_amount == invoice.total_amount:
            assert invoice.state == InvoiceState.POSTED, invoice.number
        else:
            assert invoice.state == InvoiceState.PARTIALLY_PAID, invoice.number
        assert invoice.partner_account_id is not None
        expected_partner[invoice.partner_account_id] = (
            expected_partner.get(invoice.partner_account_id, D(0)) + DUE_SIGN[invoice.kind] * invoice.residual_amount
        )
        # VAT on receipts: the share of what is paid now, exactly (the last cent with the last payment).
        paid = invoice.total_amount - invoice.residual_amount
        moved = exact_sum(allocations, "vat_moved") + credit_links.vat_moved(invoice)
        due = D(0)
        for code, waiting in _waiting_balances(invoice).items():
            share = waiting if paid == invoice.total_amount else quantize(waiting * paid / invoice.total_amount)
            due += share
            expected_waiting[code] += waiting - share
        assert moved == due, (invoice.number, paid, moved, due)
    # Credits left by payments lower (money received) or raise (money paid out) the balance.
    for payment in Payment.objects.filter(company_id=company_id).order_by("pk"):
        active = exact_sum(PaymentAllocation.objects.filter(payment=payment, is_active=True), "amount")
        if payment.state == PaymentState.POSTED:
            assert payment.unallocated == payment.amount - active
            sign = -1 if payment.direction == PaymentDirection.INBOUND else 1
            expected_partner[payment.partner_account_id] = (
                expected_partner.get(payment.partner_account_id, D(0)) + sign * payment.unallocated
            )
        else:
            assert active == 0
    for partner in PartnerAccount.objects.filter(company_id=company_id):
        lines = JournalLine.objects.filter(partner_account=partner, is_posted=True)
        ledger_balance = exact_sum(lines, "debit") - exact_sum(lines, "credit")
        assert ledger_balance == expected_partner.get(partner.pk, D(0)), partner.code
    # The waiting accounts hold exactly the VAT not yet paid (credit balance positive).
    for code, expected in expected_waiting.items():
        lines = JournalLine.objects.filter(company_id=company_id, account__code=code, is_posted=True)
        assert exact_sum(lines, "credit") - exact_sum(lines, "debit") == expected, code


@SETTINGS
@given(start=documents, steps=operations)
def test_any_sequence_of_invoices_and_payments_keeps_the_books_exact(books: Books, start: list, steps: list) -> None:
    with transaction.atomic():
        for partner, lines in start:
            _make_invoice(books, partner, lines)
        note(f"documents: {start}")
        for kind, first, second in steps:
            note(f"step: {kind} {first} {second}")
            if kind == "invoice":
                _make_invoice(books, first, second)
            elif kind == "credit_note":
                _credit_note(books, first, second)
            elif kind == "pay":
                _pay(books, first, second)
            elif kind == "installments":
                _installments(books, first, second)
            elif kind == "credit_allocate":
                _credit_allocate(books, first, second)
            elif kind == "use_credit":
                _use_credit(books, first, second)
            else:
                _cancel(books, first)
            _check(books)
        transaction.set_rollback(True)


def test_cancelling_a_payment_leaves_exactly_the_vat_share_of_what_is_still_paid(books: Books) -> None:
    """The case the property found: 6.00 of services (1.00 VAT on receipts) paid 2.00 + 2.00,
    then the first payment cancelled. Moved: 0.33, then 0.67 − 0.33 = 0.34; the reversal takes
    back 0.33, which left 0.34 moved for 2.00 paid — the share is 0.33."""
    actor = books.actor()
    invoice = books.posted([line(unit_price="5.00", operation="services")])
    assert invoice.tax_amount == D("1.00")

    def pay(amount: str) -> Payment:
        return payments.payment_register(actor=actor, organization_id=books.customer.pk, amount=amount, date=today(),
                                         journal_id=books.ledger.journals["BQ"], method="transfer",
                                         allocations=[{"invoice_id": invoice.pk, "amount": amount}])  # fmt: skip

    first, second = pay("2.00"), pay("2.00")
    payments.payment_cancel(actor=actor, payment_id=first.pk, date=today())
    assert exact_sum(PaymentAllocation.objects.filter(invoice=invoice, is_active=True), "vat_moved") == D("0.33")
    waiting = JournalLine.objects.filter(company_id=books.company_id, account__code="44574", is_posted=True)
    assert exact_sum(waiting, "credit") - exact_sum(waiting, "debit") == D("0.67")
    _check(books)
    # The second payment now carries the cent taken back: cancelling it takes back 0.33, not 0.34.
    third = pay("2.00")
    payments.payment_cancel(actor=actor, payment_id=second.pk, date=today())
    _check(books)
    assert exact_sum(waiting, "credit") - exact_sum(waiting, "debit") == D("0.67")
    # Paying the rest moves the rest: 1.00 in all, 44574 back to zero.
    pay("4.00")
    _check(books)
    assert exact_sum(waiting, "credit") - exact_sum(waiting, "debit") == D(0)
    payments.payment_cancel(actor=actor, payment_id=third.pk, date=today())
    _check(books)

"""What posting reads once per call, and what it must still read afresh.

``invoice_post`` and ``payment_register`` read the lock date and the fiscal year once for
their checks made before the posting counter (``services.periods_read_once``); the check
made after it reads the database again. Posting a draft compares its computation with the
stored lines, VAT breakdown and installments and rewrites them only when they differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone, translation

from comptoir.accounting import invoices, payments, services
from comptoir.accounting.models import AccountingSettings, InvoiceInstallment, InvoiceLine, InvoiceState, InvoiceTax
from comptoir.accounting.tests.invoices_kit import Books, line, make_books
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.testing import Personas


@pytest.fixture
def books(personas: Personas) -> Books:
    return make_books(personas)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _pay(books: Books, invoice_id: int, amount: Decimal) -> payments.Payment:
    return payments.payment_register(
        actor=books.actor(), organization_id=books.customer.pk, amount=str(amount), date=timezone.localdate(),
        journal_id=books.ledger.journals["BQ"], method="transfer",
        allocations=[{"invoice_id": invoice_id, "amount": str(amount)}],
    )  # fmt: skip


def test_lock_date_set_inside_one_transaction_is_honoured_by_the_next_posting(books: Books) -> None:
    today = timezone.localdate()
    first, second = books.invoice(), books.invoice()
    with transaction.atomic():
        posted = invoices.invoice_post(actor=books.actor(), invoice_id=first.pk, render_pdf=False)
        assert posted.state == InvoiceState.POSTED
        services.lock_date_set(actor=books.personas.actor("admin"), lock_date=today)
        with pytest.raises(ValidationFailed) as caught:
            invoices.invoice_post(actor=books.actor(), invoice_id=second.pk, render_pdf=False)
        assert caught.value.fields is not None
        assert "locked" in " ".join(caught.value.fields["issue_date"])
        # A payment dated in the locked period is refused in the same transaction too.
        with pytest.raises(ValidationFailed) as paid:
            _pay(books, posted.pk, Decimal(posted.total_amount))
        assert "locked" in str(paid.value.fields)
    second.refresh_from_db()
    assert second.state == InvoiceState.DRAFT and second.number == ""


def test_the_check_after_the_counter_reads_afresh_inside_the_call(books: Books) -> None:
    today = timezone.localdate()
    company_id = books.company_id
    with transaction.atomic(), services.periods_read_once():
        assert services._period_errors(company_id, today, for_posting=True) == []
        AccountingSettings.objects.filter(company_id=company_id).update(lock_date=today)
        # The pre-lock checks of one call share their read (advisory)...
        assert services._period_errors(company_id, today, for_posting=True) == []
        # ...the serialised check does not.
        assert services._period_errors(company_id, today, for_posting=True, fresh=True) != []
        assert services._period_errors(company_id, today, for_posting=True) != []  # and refreshes the memo
        transaction.set_rollback(True)
    assert services._PERIODS.get() is None  # nothing outlives the call


def test_no_memo_outside_a_call(books: Books) -> None:
    today = timezone.localdate()
    with transaction.atomic():
        assert services._period_errors(books.company_id, today, for_posting=True) == []
        AccountingSettings.objects.filter(company_id=books.company_id).update(lock_date=today)
        assert services._period_errors(books.company_id, today, for_posting=True) != []
        transaction.set_rollback(True)


def test_posting_an_unchanged_draft_keeps_its_rows(books: Books) -> None:
    draft = books.invoice([line(), line("Formation", "2", "50.00", vat_category="reduced")])
    before = (
        list(InvoiceLine.objects.filter(invoice=draft).values_list("pk", flat=True)),
        list(InvoiceTax.objects.filter(invoice=draft).values_list("pk", flat=True)),
        list(InvoiceInstallment.objects.filter(invoice=draft).values_list("pk", "due_date", "amount")),
    )
    posted = invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=False)
    after = (
        list(InvoiceLine.objects.filter(invoice=posted).values_list("pk", flat=True)),
        list(InvoiceTax.objects.filter(invoice=posted).values_list("pk", flat=True)),
        list(InvoiceInstallment.objects.filter(invoice=posted).values_list("pk", "due_date", "amount")),
    )
    assert after == before
    assert len(before[1]) == 2  # 20 % and the reduced rate
    assert sum((amount for _pk, _due, amount in after[2]), Decimal(0)) == posted.total_amount


def test_posting_rewrites_a_stored_computation_that_differs(books: Books) -> None:
    draft = books.invoice([line("Conseil", "3", "100.00")])
    # What was stored no longer matches the computation (as after a change of the rules).
    InvoiceTax.objects.filter(invoice=draft).update(amount=1)
    InvoiceLine.objects.filter(invoice=draft).update(net_amount=1)
    InvoiceInstallment.objects.filter(invoice=draft).delete()
    posted = invoices.invoice_post(actor=books.actor(), invoice_id=draft.pk, render_pdf=False)
    tax = InvoiceTax.objects.get(invoice=posted)
    assert (tax.base, tax.amount) == (Decimal("300.00"), Decimal("60.00"))
    assert InvoiceLine.objects.get(invoice=posted).net_amount == Decimal("300.00")
    schedule = list(InvoiceInstallment.objects.filter(invoice=posted).values_list("amount", flat=True))
    assert schedule and sum(schedule, Decimal(0)) == Decimal("360.00") == posted.total_amount

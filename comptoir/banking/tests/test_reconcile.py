"""Reconciliation: proposals on known cases, accept / split / manual / ignore / undo, rights, bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from comptoir.accounting.models import Account, InvoiceKind, InvoiceState, JournalEntry, JournalLine
from comptoir.accounting.models_payments import Payment, PaymentState
from comptoir.accounting.tests.payments_kit import post_invoice
from comptoir.banking import reconcile
from comptoir.banking.models import BankStatementLine, LineState
from comptoir.banking.models_rules import MatchKind, PartnerBankAccount, StatementLineMatch
from comptoir.banking.tests.reconcile_kit import Bank, fresh, make_bank
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.org.testing import Personas


@pytest.fixture
def bank(personas: Personas) -> Bank:
    return make_bank(personas)


def _proposals(bank: Bank, *lines: BankStatementLine) -> dict[int, list[reconcile.Proposal]]:
    return reconcile.proposals_for(bank.actor(), list(lines))


# --- Proposals --------------------------------------------------------------------------


def test_invoice_number_in_reference_wins_with_its_reasons(bank: Bank) -> None:
    invoice = post_invoice(bank.books, "100.00")  # 120.00 TTC
    post_invoice(bank.books, "100.00")  # same amount: the number decides
    compact = invoice.number.replace("-", " ").lower().replace(" 0", " ")  # "fa 2026 0001" style
    line = bank.line("120.00", label=f"VIR SEPA BOULANGERIE MARTIN {compact}", partner_name="Boulangerie Martin SA")
    best = _proposals(bank, line)[line.pk][0]
    assert best.invoice_ids == [invoice.pk]
    codes = {r["code"] for r in best.reasons}
    assert {"number", "amount", "name"} <= codes
    assert best.score >= 90
    texts = [reconcile.reason_text(r) for r in best.reasons]
    assert any(invoice.number in text for text in texts)


def test_amount_alone_and_sign_consistency(bank: Bank) -> None:
    invoice = post_invoice(bank.books, "250.00")  # 300.00
    bill = post_invoice(bank.books, "250.00", kind=InvoiceKind.VENDOR_BILL)  # 300.00 to pay
    money_in = bank.line("300.00", label="VIREMENT")
    money_out = bank.line("-300.00", label="PRLV")
    found = _proposals(bank, money_in, money_out)
    assert found[money_in.pk][0].invoice_ids == [invoice.pk]
    assert found[money_out.pk][0].invoice_ids == [bill.pk]
    assert all(p.invoice_ids != [bill.pk] for p in found[money_in.pk])


def test_partner_by_known_iban_and_grouped_invoices(bank: Bank) -> None:
    first = post_invoice(bank.books, "100.00")  # 120
    second = post_invoice(bank.books, "50.00")  # 60
    PartnerBankAccount.objects.create(company_id=bank.company_id, organization=bank.books.customer,
                                      iban="FR7612345000010000000000123")  # fmt: skip
    line = bank.line("180.00", label="VIREMENT CLIENT", partner_iban="FR76 1234 5000 0100 0000 0000 123")
    best = _proposals(bank, line)[line.pk][0]
    assert sorted(best.invoice_ids) == sorted([first.pk, second.pk])
    assert {"iban", "group"} <= {r["code"] for r in best.reasons}


def test_two_invoice_numbers_in_one_reference(bank: Bank) -> None:
    first = post_invoice(bank.books, "10.00")  # 12
    second = post_invoice(bank.books, "20.00")  # 24
    line = bank.line("36.00", label=f"REGLEMENT {first.number} {second.number}")
    best = _proposals(bank, line)[line.pk][0]
    assert sorted(best.invoice_ids) == sorted([first.pk, second.pk])


def test_partner_by_fuzzy_name_without_amount_match(bank: Bank) -> None:
    invoice = post_invoice(bank.books, "1000.00")  # 1200
    line = bank.line("500.00", label="VIR", partner_name="BOULANGERIE MARTIN")
    best = _proposals(bank, line)[line.pk][0]
    assert best.invoice_ids == [invoice.pk]
    assert {"name", "partial"} <= {r["code"] for r in best.reasons}
    assert best.score < 60  # a partial payment on a name alone is a weak proposal


def test_no_proposal_for_noise(bank: Bank) -> None:
    post_invoice(bank.books, "100.00")
    line = bank.line("17.42", label="CB CARREFOUR 12/03")
    assert _proposals(bank, line)[line.pk] == []


def test_proposals_cost_a_constant_number_of_queries(bank: Bank) -> None:
    invoices = [post_invoice(bank.books, f"{10 + i}.00") for i in range(6)]
    one = [bank.line("12.00", label=f"VIR {invoices[0].number}", partner_name="Martin")]
    many = [bank.line(str(inv.total_amount), label=f"VIR {inv.number}", partner_name="Boulangerie Martin")
            for inv in invoices]  # fmt: skip
    _proposals(bank, *one)  # the partners' names are indexed once, until an invoice is posted
    with CaptureQueriesContext(connection) as small:
        _proposals(bank, *one)
    with CaptureQueriesContext(connection) as large:
        found = _proposals(bank, *many)
    assert len(large) == len(small)
    assert [found[line.pk][0].invoice_ids for line in many] == [[inv.pk] for inv in invoices]


# --- Accept, split ----------------------------------------------------------------------


def test_accept_pays_allocates_matches_and_links_the_entry(bank: Bank) -> None:
    invoice = post_invoice(bank.books, "100.00")
    line = bank.line("120.00", label=f"VIR {invoice.number}", partner_iban="FR7611112222333344445555666")
    proposal = _proposals(bank, line)[line.pk][0]
    match = reconcile.accept(actor=bank.actor(), line_id=line.pk, proposal=proposal.key)
    line.refresh_from_db()
    assert line.state == LineState.RECONCILED and line.reconciled_at is not None
    payment = Payment.objects.get(pk=match.payment_id)
    assert payment.date == line.booking_date and payment.amount == Decimal("120.00")
    assert payment.journal_id == bank.account.journal_id
    assert line.journal_entry_id == payment.journal_entry_id
    assert fresh(invoice).state == InvoiceState.PAID
    codes = set(JournalLine.objects.filter(partner_account_id=invoice.partner_account_id)
                .values_list("matching_code", flat=True))  # fmt: skip
    assert len(codes) == 1 and codes.pop().isupper()  # lettrage, full
    assert match.invoices == [{"invoice_id": invoice.pk, "number": invoice.number, "amount": "120.00"}]
    # The IBAN is now known for the partner.
    assert PartnerBankAccount.objects.filter(iban="FR7611112222333344445555666",
                                             organization=bank.books.customer).exists()  # fmt: skip


def test_accept_twice_pays_once(bank: Bank) -> None:
    invoice = post_invoice(bank.books, "100.00")
    line = bank.line("120.00", label=f"VIR {invoice.number}")
    first = reconcile.accept(actor=bank.actor(), line_id=line.pk, proposal=f"inv:{invoice.pk}")
    again = reconcile.accept(actor=bank.actor(), line_id=line.pk, proposal=f"inv:{invoice.pk}")
    assert again.pk == first.pk and again.replayed  # type: ignore[attr-defined]
    assert Payment.objects.filter(company_id=bank.company_id).count() == 1
    # Another action on a handled line is a conflict, not a second reconciliation.
    with pytest.raises(Conflict):
        reconcile.ignore(actor=bank.actor(), line_id=line.pk, reason="doublon")
    assert StatementLineMatch.objects.filter(line=line, is_active=True).count() == 1


def test_split_over_invoices_with_credit_or_refused(bank: Bank) -> None:
    first = post_invoice(bank.books, "100.00")  # 120
    second = post_invoice(bank.books, "100.00")  # 120
    line = bank.line("200.00", label="VIR")
    with pytest.raises(ValidationFailed) as refused:
        reconcile.reconcile_invoices(actor=bank.actor(), line_id=line.pk, remainder="refuse",
                                     allocations=[{"invoice_id": first.pk, "amount": "120.00"},
                                                  {"invoice_id": second.pk, "amount": "50.00"}])  # fmt: skip
    assert "allocations" in refused.value.fields
    match = reconcile.reconcile_invoices(actor=bank.actor(), line_id=line.pk, remainder="credit",
                                         allocations=[{"invoice_id": first.pk, "amount": "120.00"},
                                                      {"invoice_id": second.pk, "amount": "50.00"}])  # fmt: skip
    assert fresh(first).state == InvoiceState.PAID
    assert fresh(second).residual_amount == Decimal("70.00")
    assert match.credit == Decimal("30.00")
    assert Payment.objects.get(pk=match.payment_id).unallocated == Decimal("30.00")


def test_split_bad_input_is_per_field(bank: Bank) -> None:
    invoice = post_invoice(bank.books, "100.00")
    bill = post_invoice(bank.books, "100.00", kind=InvoiceKind.VENDOR_BILL)
    line = bank.line("120.00")
    cases = [
        ([], "allocations"),
        ([{"invoice_id": invoice.pk, "amount": "-3"}], "allocations.0.amount"),
        ([{"invoice_id": invoice.pk, "amount": "1.234"}], "allocations.0.amount"),
        ([{"invoice_id": "x", "amount": "1"}], "allocations.0.invoice_id"),
        ([{"invoice_id": 999999, "amount": "1"}], "allocations.0.invoice_id"),
        ([{"invoice_id": bill.pk, "amount": "1"}], "allocations.0.invoice_id"),
        ([{"invoice_id": invoice.pk, "amount": "500"}], "allocations"),
        ([{"invoice_id": invoice.pk, "amount": "1", "extra": 1}], "allocations.0.extra"),
    ]
    for allocations, name in cases:
        with pytest.raises(ValidationFailed) as failed:
            reconcile.reconcile_invoices(actor=bank.actor(), line_id=line.pk, allocations=allocations)
        assert name in failed.value.fields, (allocations, failed.value.fields)
    with pytest.raises(ValidationFailed):
        reconcile.accept(actor=bank.actor(), line_id=line.pk, proposal="drop table")
    assert BankStatementLine.objects.get(pk=line.pk).state == LineState.OPEN
    assert not Payment.objects.filter(company_id=bank.company_id).exists()


# --- Manual, ignore, undo ---------------------------------------------------------------


def _account(bank: Bank, code: str) -> Account:
    return Account.objects.get(company_id=bank.company_id, code=code)


def test_manual_counterpart_with_vat_and_undo_by_reversal(bank: Bank) -> None:
    line = bank.line("-12.00", label="FRAIS TENUE DE COMPTE")
    match = reconcile.reconcile_manual(actor=bank.actor(), line_id=line.pk, account_id=_account(bank, "627").pk,
                                       label="Frais bancaires", vat_rate="20")  # fmt: skip
    assert match.kind == MatchKind.MANUAL
    rows = list(JournalLine.objects.filter(entry_id=match.journal_entry_id).order_by("sequence")
                .values_list("account__code", "debit", "credit"))  # fmt: skip
    assert rows == [("512", 0, Decimal("12.00")), ("627", Decimal("10.00"), 0), ("44566", Decimal("2.00"), 0)]
    reconcile.undo(actor=bank.actor(), line_id=line.pk)
    line.refresh_from_db()
    assert line.state == LineState.OPEN and line.journal_entry_id is None
    original = JournalEntry.objects.get(pk=match.journal_entry_id)
    reversal = JournalEntry.objects.get(reversal_of=original)
    assert reversal.state == "posted" and original.state == "posted"  # nothing deleted
    match.refresh_from_db()
    assert not match.is_active and match.reversal_entry_id == reversal.pk
    # Reconciled again afterwards: a new match.
    again = reconcile.reconcile_manual(actor=bank.actor(), line_id=line.pk, account_id=_account(bank, "627").pk)
    assert again.pk != match.pk


def test_manual_refuses_customer_accounts_and_bad_vat(bank: Bank) -> None:
    line = bank.line("-5.00")
    for account_id, vat_rate, name in ((_account(bank, "411").pk, "", "account_id"),
                                       (_account(bank, "512").pk, "", "account_id"),
                                       (_account(bank, "627").pk, "19.6", "vat_rate"),
                                       ("abc", "", "account_id")):  # fmt: skip
        with pytest.raises(ValidationFailed) as failed:
            reconcile.reconcile_manual(actor=bank.actor(), line_id=line.pk, account_id=account_id, vat_rate=vat_rate)
        assert name in failed.value.fields


def test_undo_a_payment_cancels_it_and_the_invoice_is_due_again(bank: Bank) -> None:
    invoice = post_invoice(bank.books, "100.00")
    line = bank.line("120.00", label=f"VIR {invoice.number}")
    match = reconcile.accept(actor=bank.actor(), line_id=line.pk, proposal=f"inv:{invoice.pk}")
    reconcile.undo(actor=bank.actor(), line_id=line.pk)
    payment = Payment.objects.get(pk=match.payment_id)
    assert payment.state == PaymentState.CANCELLED and payment.cancel_entry_id
    assert fresh(invoice).state == InvoiceState.POSTED
    assert BankStatementLine.objects.get(pk=line.pk).state == LineState.OPEN
    # Accept again: a second payment (new idempotency key), not the cancelled one replayed.
    again = reconcile.accept(actor=bank.actor(), line_id=line.pk, proposal=f"inv:{invoice.pk}")
    assert again.payment_id != match.payment_id
    assert fresh(invoice).state == InvoiceState.PAID
    with pytest.raises(Conflict):
        reconcile.undo(actor=bank.actor(), line_id=bank.line("1.00").pk)


def test_ignore_needs_a_reason_and_can_be_undone(bank: Bank) -> None:
    line = bank.line("1000.00", label="VIREMENT INTERNE")
    with pytest.raises(ValidationFailed) as failed:
        reconcile.ignore(actor=bank.actor(), line_id=line.pk, reason="  ")
    assert "reason" in failed.value.fields
    match = reconcile.ignore(actor=bank.actor(), line_id=line.pk, reason="Transfert entre comptes")
    assert BankStatementLine.objects.get(pk=line.pk).state == LineState.IGNORED
    assert match.note == "Transfert entre comptes"
    assert reconcile.proposals_for(bank.actor(), [BankStatementLine.objects.get(pk=line.pk)])[line.pk] == []
    reconcile.undo(actor=bank.actor(), line_id=line.pk)
    assert BankStatementLine.objects.get(pk=line.pk).state == LineState.OPEN


# --- Rights -----------------------------------------------------------------------------


def test_permissions_and_other_company(bank: Bank) -> None:
    invoice = post_invoice(bank.books, "100.00")
    line = bank.line("120.00", label=f"VIR {invoice.number}")
    with pytest.raises(PermissionDenied):
        reconcile.accept(actor=bank.actor("management"), line_id=line.pk, proposal=f"inv:{invoice.pk}")
    with pytest.raises(PermissionDenied):
        reconcile.proposals_for(bank.actor("sales"), [line])
    assert reconcile.proposals_for(bank.actor("management"), [line])[line.pk]
    outsider = bank.books.personas.outsider_actor()
    with pytest.raises(NotFound):
        reconcile.accept(actor=outsider, line_id=line.pk, proposal=f"inv:{invoice.pk}")
    with pytest.raises(NotFound):
        reconcile.statement_line_get(outsider, line.pk)
    assert not StatementLineMatch.objects.exists()

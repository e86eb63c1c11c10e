"""Reconciliation rules: validation, applied after import / on demand, shown, undone; partner rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from comptoir.accounting.models import Account, JournalEntry, JournalLine
from comptoir.accounting.tests.payments_kit import post_invoice
from comptoir.banking import reconcile, rules
from comptoir.banking.models import BankStatementLine, LineState
from comptoir.banking.models_rules import MatchKind, ReconciliationRule, RuleAction, StatementLineMatch
from comptoir.banking.tests.reconcile_kit import Bank, make_bank
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.org.testing import Personas


@pytest.fixture
def bank(personas: Personas) -> Bank:
    return make_bank(personas)


def _account(bank: Bank, code: str) -> int:
    return Account.objects.get(company_id=bank.company_id, code=code).pk


def _fees_rule(bank: Bank, **extra: Any) -> ReconciliationRule:
    data = {"name": "Frais bancaires", "label_contains": "frais", "direction": "outbound", "amount_max": "50",
            "account_id": _account(bank, "627"), "vat_rate": "", "entry_label": "Frais bancaires"} | extra  # fmt: skip
    return rules.rule_create(actor=bank.actor(), **data)


def test_rule_validation_is_per_field(bank: Bank) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": ""}, "name"),
        ({"label_contains": "", "amount_max": None}, "label_contains"),  # no condition at all
        ({"label_regex": "(unclosed"}, "label_regex"),
        ({"amount_min": "60", "amount_max": "50"}, "amount_max"),
        ({"amount_max": "abc"}, "amount_max"),
        ({"account_id": _account(bank, "411")}, "account_id"),
        ({"account_id": None}, "account_id"),
        ({"vat_rate": "33"}, "vat_rate"),
        ({"partner_iban": "not an iban"}, "partner_iban"),
        ({"direction": "sideways"}, "direction"),
        ({"action": "partner", "organization_id": 999999}, "organization_id"),
        ({"bank_account_id": 999999}, "bank_account_id"),
        ({"colour": "red"}, "colour"),
    ]
    for extra, name in cases:
        with pytest.raises(ValidationFailed) as failed:
            _fees_rule(bank, **extra)
        assert name in failed.value.fields, (extra, failed.value.fields)
    assert not ReconciliationRule.objects.exists()


def test_rule_crud_and_rights(bank: Bank) -> None:
    rule = _fees_rule(bank)
    changed = rules.rule_update(actor=bank.actor(), rule_id=rule.pk, name="Frais BNP", vat_rate="20")
    assert (changed.name, changed.vat_rate, changed.label_contains) == ("Frais BNP", "20", "frais")
    assert [r.pk for r in rules.rule_list(bank.actor("management"))] == [rule.pk]
    with pytest.raises(PermissionDenied):
        rules.rule_update(actor=bank.actor("management"), rule_id=rule.pk, name="x")
    with pytest.raises(NotFound):
        rules.rule_get(bank.books.personas.outsider_actor(), rule.pk)
    rules.rule_delete(actor=bank.actor(), rule_id=rule.pk)
    assert not ReconciliationRule.objects.exists()


def test_rules_applied_show_their_name_and_undo(bank: Bank) -> None:
    rule = _fees_rule(bank, vat_rate="20")
    fees = bank.line("-6.00", label="FRAIS TENUE COMPTE")
    too_big = bank.line("-80.00", label="FRAIS DOSSIER PRET")  # above the range
    incoming = bank.line("6.00", label="REMBOURSEMENT FRAIS")  # other direction
    # Shown as a proposal before it is applied.
    shown = reconcile.proposals_for(bank.actor(), [fees])[fees.pk][0]
    assert shown.kind == "rule" and shown.key == f"rule:{rule.pk}"
    assert "Frais bancaires" in reconcile.reason_text(shown.reasons[0])
    assert reconcile.apply_rules(actor=bank.actor(), bank_account_id=bank.account.pk) == 1
    states = dict(BankStatementLine.objects.values_list("pk", "state"))
    assert states == {fees.pk: LineState.RECONCILED, too_big.pk: LineState.OPEN, incoming.pk: LineState.OPEN}
    match = StatementLineMatch.objects.get(line=fees, is_active=True)
    assert match.kind == MatchKind.RULE and match.rule_id == rule.pk
    rows = list(JournalLine.objects.filter(entry_id=match.journal_entry_id).order_by("sequence")
                .values_list("account__code", "debit", "credit", "label"))  # fmt: skip
    assert rows == [("512", 0, Decimal("6.00"), "Frais bancaires"), ("627", Decimal("5.00"), 0, "Frais bancaires"),
                    ("44566", Decimal("1.00"), 0, "Frais bancaires")]  # fmt: skip
    # Applying again does nothing more.
    assert reconcile.apply_rules(actor=bank.actor()) == 0
    reconcile.undo(actor=bank.actor(), line_id=fees.pk)
    assert JournalEntry.objects.filter(reversal_of_id=match.journal_entry_id, state="posted").exists()
    assert BankStatementLine.objects.get(pk=fees.pk).state == LineState.OPEN
    # A rule that does not match the line cannot be forced on it.
    with pytest.raises(ValidationFailed):
        reconcile.accept(actor=bank.actor(), line_id=too_big.pk, proposal=f"rule:{rule.pk}")


def test_regex_and_iban_conditions(bank: Bank) -> None:
    rule = rules.rule_create(actor=bank.actor(), name="Intérêts", label_regex=r"^INT(E|É)R[EÊ]TS\b",
                             account_id=_account(bank, "661"))  # fmt: skip
    iban_rule = rules.rule_create(actor=bank.actor(), name="Loyer", partner_iban="FR76 3000 4000 0500 0000 1234 567",
                                  account_id=_account(bank, "613"))  # fmt: skip
    interest = bank.line("-3.10", label="INTERETS DEBITEURS T1")
    rent = bank.line("-900.00", label="PRLV SCI DU PORT", partner_iban="FR7630004000050000001234567")
    other = bank.line("-900.00", label="PRLV SCI DU PORT", partner_iban="FR7630004000050000009999999")
    found = reconcile.proposals_for(bank.actor(), [interest, rent, other])
    assert found[interest.pk][0].rule_id == rule.pk
    assert found[rent.pk][0].rule_id == iban_rule.pk
    assert all(p.kind != "rule" for p in found[other.pk])


def test_partner_rule_points_the_proposals_to_the_partner(bank: Bank) -> None:
    invoice = post_invoice(bank.books, "500.00")  # 600, paid in part
    rules.rule_create(actor=bank.actor(), name="Martin paie par virement", label_contains="BM LYON",
                      action=RuleAction.PARTNER, organization_id=bank.books.customer.pk)  # fmt: skip
    line = bank.line("200.00", label="VIR BM LYON ACOMPTE")
    best = reconcile.proposals_for(bank.actor(), [line])[line.pk][0]
    assert best.invoice_ids == [invoice.pk]
    assert "rule_partner" in {r["code"] for r in best.reasons}


def test_rules_run_after_a_statement_import(bank: Bank, django_capture_on_commit_callbacks: Any) -> None:
    from comptoir.banking import imports
    from comptoir.banking.tests.reconcile_kit import camt053

    invoice = post_invoice(bank.books, "100.00")
    _fees_rule(bank)
    data = camt053(bank.account.iban, [
        {"amount": "120.00", "label": f"VIR {invoice.number}", "name": "Boulangerie Martin"},
        {"amount": "-7.50", "label": "FRAIS TENUE DE COMPTE"},
    ])  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        imports.statement_import(actor=bank.actor(), data=data, bank_account_id=bank.account.pk,
                                 filename="releve.xml")  # fmt: skip
    lines = {line.label: line for line in BankStatementLine.objects.filter(statement__reference="STMT-RECON-1")}
    assert lines["FRAIS TENUE DE COMPTE"].state == LineState.RECONCILED
    assert StatementLineMatch.objects.get(line=lines["FRAIS TENUE DE COMPTE"]).kind == MatchKind.RULE
    paid = next(line for label, line in lines.items() if invoice.number in label)
    assert paid.state == LineState.OPEN  # invoices wait for a click
    best = reconcile.proposals_for(bank.actor(), [paid])[paid.pk][0]
    assert best.invoice_ids == [invoice.pk]

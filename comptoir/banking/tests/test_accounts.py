"""Bank accounts: validation, journal and 512 account setup, archive, audit, permissions."""

from __future__ import annotations

import pytest

from comptoir.accounting.models import Account, Journal, JournalKind
from comptoir.banking import selectors
from comptoir.banking.accounts import (
    bank_account_create,
    bank_account_set_active,
    bank_account_update,
    csv_mapping_delete,
    csv_mapping_save,
)
from comptoir.banking.models import BankAccount, format_iban
from comptoir.banking.tests.kit import CSV_LAYOUT, IBAN, make_account, setup_banking
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank(personas):
    setup_banking(personas)
    return personas


def test_first_account_takes_bq_and_512_then_new_ones(bank):
    first = make_account(bank, iban="fr76 3000 6000 0112 3456 7890 189", bic="agrifrpp")
    assert first.iban == IBAN and first.bic == "AGRIFRPP"
    assert first.iban_display == "FR76 3000 6000 0112 3456 7890 189"
    assert (first.journal.code, first.account.code) == ("BQ", "512")
    second = make_account(bank, name="Qonto", iban="FR1420041010050500013M02606", bic="")
    third = make_account(bank, name="Caisse d'épargne", iban="")
    assert (second.journal.code, second.account.code) == ("BQ2", "5121")
    assert (third.journal.code, third.account.code) == ("BQ3", "5122")
    journal = Journal.objects.get(pk=second.journal_id)
    assert journal.kind == JournalKind.BANK and journal.default_account_id == second.account_id
    assert Account.objects.get(pk=third.account_id).type == "bank"
    actions = set(AuditEntry.objects.filter(company_id=bank.company.pk).values_list("action", flat=True))
    assert {"bank_account.create", "journal.create", "account.create"} <= actions


def test_invalid_iban_bic_and_duplicates_are_refused_per_field(bank):
    with pytest.raises(ValidationFailed) as exc:
        make_account(bank, iban="FR7630006000011234567890188", bic="NOTABIC!", currency="euro")
    assert set(exc.value.fields) == {"iban", "bic", "currency"}
    make_account(bank)
    with pytest.raises(ValidationFailed) as exc:
        make_account(bank, name="Crédit Agricole", iban=IBAN)
    assert set(exc.value.fields) == {"name", "iban"}
    with pytest.raises(ValidationFailed) as exc:
        make_account(bank, name="X", iban="", unknown="1")
    assert "unknown" in exc.value.fields
    assert BankAccount.objects.count() == 1


def test_chosen_journal_and_account_must_be_bank_ones_and_free(bank):
    first = make_account(bank)
    sales = Journal.objects.get(company=bank.company, code="VT")
    with pytest.raises(ValidationFailed) as exc:
        make_account(bank, name="B", iban="", journal_id=sales.pk, account_id=first.account_id)
    assert set(exc.value.fields) == {"journal_id", "account_id"}
    income = Account.objects.get(company=bank.company, code="706")
    with pytest.raises(ValidationFailed) as exc:
        make_account(bank, name="B", iban="", account_id=income.pk)
    assert "account_id" in exc.value.fields


def test_update_and_archive(bank):
    account = make_account(bank)
    actor = bank.actor("finance")
    updated = bank_account_update(actor=actor, bank_account_id=account.pk, name="CA Pro", bic="AGRIFRPP")
    assert (updated.name, updated.bic) == ("CA Pro", "AGRIFRPP")
    bank_account_set_active(actor=actor, bank_account_id=account.pk, active=False)
    assert not selectors.bank_accounts(actor).exists()
    assert selectors.bank_accounts(actor, include_archived=True).get().name == "CA Pro"
    assert AuditEntry.objects.filter(action="bank_account.archive", object_id=str(account.pk)).exists()


def test_permissions_and_company_scope(bank, personas):
    with pytest.raises(PermissionDenied):
        bank_account_create(actor=personas.actor("sales"), name="X")
    with pytest.raises(PermissionDenied):
        bank_account_create(actor=personas.actor("management"), name="X")
    account = make_account(bank)
    assert selectors.bank_accounts(personas.actor("management")).count() == 1
    with pytest.raises(PermissionDenied):
        selectors.bank_accounts(personas.actor("sales"))
    with pytest.raises(NotFound):
        selectors.bank_account(personas.outsider_actor(), account.pk)
    with pytest.raises(NotFound):
        bank_account_update(actor=personas.outsider_actor(), bank_account_id=account.pk, name="Mine")


def test_csv_mapping_presets(bank):
    account = make_account(bank)
    actor = bank.actor("finance")
    mapping = csv_mapping_save(actor=actor, bank_account_id=account.pk, name="Export CA", **CSV_LAYOUT)
    assert (mapping.encoding, mapping.decimal_separator, mapping.skip_lines) == ("cp1252", ",", 1)
    with pytest.raises(ValidationFailed) as exc:
        csv_mapping_save(actor=actor, bank_account_id=account.pk, name="Bad", date_column="Date",
                         label_column="L", encoding="klingon", date_format="%Q")  # fmt: skip
    assert {"encoding", "date_format", "amount_column"} <= set(exc.value.fields)
    csv_mapping_save(actor=actor, bank_account_id=account.pk, mapping_id=mapping.pk, name="Export CA",
                     **(CSV_LAYOUT | {"delimiter": ","}))  # fmt: skip
    mapping.refresh_from_db()
    assert mapping.delimiter == ","
    csv_mapping_delete(actor=actor, bank_account_id=account.pk, mapping_id=mapping.pk)
    assert not account.csv_mappings.exists()


def test_format_iban_groups_by_four():
    assert format_iban("DE89370400440532013000") == "DE89 3704 0044 0532 0130 00"


def test_demo_loads_once_through_the_real_import(bank):
    from comptoir.accounting import demo as accounting_demo
    from comptoir.banking import demo
    from comptoir.banking.models import BankStatement, BankStatementLine
    from comptoir.kernel.context import Actor

    actor = Actor.system(bank.company.pk)
    accounting_demo.load(actor)
    demo.load(actor)
    demo.load(actor)  # idempotent: the demo runs it at every start
    account = BankAccount.objects.select_related("journal", "account").get(company=bank.company)
    assert (account.iban, account.journal.code, account.account.code) == (demo.DEMO_IBAN, "BQ", "512")
    statement = BankStatement.objects.get(bank_account=account)
    assert statement.source_format == "camt053" and statement.line_count == 4
    assert statement.closing_balance == statement.opening_balance + sum(
        BankStatementLine.objects.filter(statement=statement).values_list("amount", flat=True)
    )

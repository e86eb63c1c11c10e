"""Merging two organizations: partner accounts, invoices, payments and profiles follow the
survivor; posted lines never move; two sub-ledgers with posted history refuse the merge."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.accounting import chain, invoices, selectors
from comptoir.accounting import merge as accounting_merge
from comptoir.accounting import services as ledger
from comptoir.accounting.models import (
    Invoice,
    InvoiceState,
    JournalLine,
    PartnerAccount,
    PartnerKind,
    PartnerProfile,
)
from comptoir.accounting.models_payments import Payment
from comptoir.accounting.tests.invoices_kit import Books, organization
from comptoir.accounting.tests.payments_kit import books, pay, post_invoice
from comptoir.contacts import merge
from comptoir.contacts.models import Organization
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.models import AuditEntry
from comptoir.org.models import User
from comptoir.org.testing import enable_modules

pytestmark = pytest.mark.django_db
__all__ = ["books"]


@pytest.fixture
def shop(books: Books) -> Books:
    enable_modules(books.personas, "contacts", "accounting")
    return books


def _duplicate(books: Books) -> Organization:
    """The customer entered twice: a second organization with the same SIREN."""
    return organization(books.company_id, "BOULANGERIE MARTIN", siren="732829320", vat_number="FR40732829320")


def _lines(account: PartnerAccount) -> list[tuple[int, int, D, D]]:
    rows = JournalLine.objects.filter(partner_account=account, is_posted=True).order_by("pk")
    return list(rows.values_list("pk", "entry_id", "debit", "credit"))


def _merge(books: Books, survivor: Organization, other: Organization) -> Organization:
    return merge.organization_merge(actor=books.actor("management"), survivor_id=survivor.pk, other_id=other.pk)


def test_the_others_ledger_history_follows_the_survivor_without_moving_a_line(shop: Books) -> None:
    survivor, other = shop.eu_customer, _duplicate(shop)
    invoice = post_invoice(shop, "100.00", organization=other)
    payment = pay(shop, "50.00", [(invoice, "50.00")], organization_id=other.pk)
    draft = shop.invoice(organization=other)
    account = PartnerAccount.objects.get(organization=other, kind=PartnerKind.CUSTOMER)
    lines, code, label = _lines(account), account.code, account.label
    balance = selectors.trial_balance(shop.actor())
    head = chain.verify_chain(shop.company_id)

    _merge(shop, survivor, other)

    account.refresh_from_db()
    assert (account.organization_id, account.code, account.label) == (survivor.pk, code, label)
    assert _lines(account) == lines  # the same posted lines, untouched
    invoice.refresh_from_db()
    assert (invoice.organization_id, invoice.partner_account_id, invoice.state) == (
        survivor.pk, account.pk, InvoiceState.PARTIALLY_PAID)  # fmt: skip
    assert invoice.partner_name == "BOULANGERIE MARTIN"  # the posted invoice keeps its snapshot
    assert Payment.objects.get(pk=payment.pk).organization_id == survivor.pk
    assert Invoice.objects.get(pk=draft.pk).organization_id == survivor.pk
    after = selectors.trial_balance(shop.actor())
    assert (after.total_debit, after.total_credit) == (balance.total_debit, balance.total_credit)
    verified = chain.verify_chain(shop.company_id)
    assert not verified.anomalies and verified.last_hash == head.last_hash
    counts = AuditEntry.objects.get(action="contacts.organization_merged").changes["repointed"]
    assert counts["accounting.partneraccount.organization"] == 1
    assert counts["accounting.invoice.organization"] == 2
    assert counts["accounting.payment.organization"] == 1
    # The survivor goes on: its next invoice and payment use the account it took over.
    second = post_invoice(shop, "20.00", organization=survivor)
    assert second.partner_account_id == account.pk
    pay(
        shop,
        str(invoice.residual_amount + second.total_amount),
        [(invoice, str(invoice.residual_amount)), (second, str(second.total_amount))],
        organization_id=survivor.pk,
    )
    assert Invoice.objects.get(pk=invoice.pk).state == InvoiceState.PAID


def test_two_sub_ledgers_with_posted_entries_refuse_the_merge(shop: Books) -> None:
    survivor, other = shop.customer, _duplicate(shop)
    post_invoice(shop, "10.00", organization=survivor)
    post_invoice(shop, "30.00", organization=other)
    with pytest.raises(ValidationFailed) as refused:
        _merge(shop, survivor, other)
    assert refused.value.code == accounting_merge.REFUSED
    assert "cannot be merged" in str(refused.value.message)
    other.refresh_from_db()
    assert other.merged_into_id is None and not other.is_archived
    assert PartnerAccount.objects.filter(organization=other).count() == 1
    assert not AuditEntry.objects.filter(action="contacts.organization_merged").exists()


def test_an_account_without_posted_lines_gives_way(shop: Books) -> None:
    survivor, other = shop.customer, _duplicate(shop)
    post_invoice(shop, "10.00", organization=survivor)
    kept = PartnerAccount.objects.get(organization=survivor, kind=PartnerKind.CUSTOMER)
    empty = ledger.partner_account_ensure(actor=shop.actor("admin"), organization_id=other.pk,
                                          kind=PartnerKind.CUSTOMER)  # fmt: skip
    draft = ledger.create_entry(shop.actor(), journal_id=shop.ledger.journals["OD"], date=timezone.localdate(),
                                label="Brouillon", lines=[
                                    {"account_id": empty.account_id, "partner_account_id": empty.pk, "debit": "5"},
                                    {"account_id": shop.ledger.accounts["706"], "credit": "5"}])  # fmt: skip

    _merge(shop, survivor, other)

    assert not PartnerAccount.objects.filter(pk=empty.pk).exists()
    assert JournalLine.objects.filter(entry=draft, partner_account=kept).count() == 1
    assert list(PartnerAccount.objects.filter(organization=survivor, kind=PartnerKind.CUSTOMER)) == [kept]
    entry = AuditEntry.objects.get(action="accounting.partner_account_merged")
    assert entry.changes["dropped"] == [empty.code, None] and entry.changes["draft_lines"] == 1


def test_the_survivors_empty_account_gives_way_to_the_others_history(shop: Books) -> None:
    survivor, other = shop.eu_customer, _duplicate(shop)
    empty = ledger.partner_account_ensure(actor=shop.actor("admin"), organization_id=survivor.pk,
                                          kind=PartnerKind.CUSTOMER)  # fmt: skip
    invoice = post_invoice(shop, "10.00", organization=other)

    _merge(shop, survivor, other)

    assert not PartnerAccount.objects.filter(pk=empty.pk).exists()
    kept = PartnerAccount.objects.get(organization=survivor, kind=PartnerKind.CUSTOMER)
    assert kept.pk == invoice.partner_account_id


def test_customer_and_supplier_accounts_of_the_two_do_not_clash(shop: Books) -> None:
    survivor, other = shop.customer, _duplicate(shop)
    post_invoice(shop, "10.00", organization=survivor)
    bill = post_invoice(shop, "40.00", kind="vendor_bill", organization=other)

    _merge(shop, survivor, other)

    kinds = dict(PartnerAccount.objects.filter(organization=survivor).values_list("kind", "pk"))
    assert kinds[PartnerKind.SUPPLIER] == bill.partner_account_id
    assert Invoice.objects.get(pk=bill.pk).organization_id == survivor.pk


def test_the_survivors_profile_wins(shop: Books) -> None:
    survivor, other = shop.customer, _duplicate(shop)
    admin = shop.actor("admin")
    invoices.partner_profile_update(actor=admin, organization_id=survivor.pk, fiscal_position="france")
    invoices.partner_profile_update(actor=admin, organization_id=other.pk, fiscal_position="non_eu")
    _merge(shop, survivor, other)
    profiles = PartnerProfile.objects.filter(organization_id__in=[survivor.pk, other.pk])
    assert list(profiles.values_list("organization_id", "fiscal_position")) == [(survivor.pk, "france")]
    # Only the other has one: it moves.
    fourth, third = organization(shop.company_id, "Martin SA"), organization(shop.company_id, "Martin & Fils")
    invoices.partner_profile_update(actor=admin, organization_id=third.pk, fiscal_position="non_eu")
    _merge(shop, fourth, third)
    assert PartnerProfile.objects.get(organization_id=fourth.pk).fiscal_position == "non_eu"


def test_the_merge_screen_explains_the_refusal(client: Client, shop: Books) -> None:
    survivor, other = shop.customer, _duplicate(shop)
    post_invoice(shop, "10.00", organization=survivor)
    post_invoice(shop, "30.00", organization=other)
    user = shop.personas.users["management"]
    User.objects.filter(pk=user.pk).update(language="en", totp_secret="JBSWY3DPEHPK3PXP",
                                           totp_confirmed_at=timezone.now())  # fmt: skip
    client.force_login(User.objects.get(pk=user.pk))
    response = client.post(f"/contacts/duplicates/merge/organization/{survivor.pk}/{other.pk}/", {})
    assert response.status_code == 422
    assert f'data-error-code="{accounting_merge.REFUSED}"' in response.content.decode()
    assert Organization.objects.get(pk=other.pk).merged_into_id is None

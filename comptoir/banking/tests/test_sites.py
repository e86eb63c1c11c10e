"""Sites in banking: a bank account may belong to a site (form, API, page); reconciling one of
its lines books the payment on the site of the invoices it settles when they have one, else on
the account's; counterpart entries carry the account's site and their reversal keeps it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.accounting.chain import verify_chain
from comptoir.accounting.models import Account, JournalEntry, JournalLine
from comptoir.accounting.models_payments import Payment
from comptoir.accounting.tests.payments_kit import post_invoice
from comptoir.banking import accounts, reconcile
from comptoir.banking.models import BankAccount
from comptoir.banking.tests.reconcile_kit import Bank, make_bank
from comptoir.kernel.errors import ValidationFailed
from comptoir.org import services as org_services
from comptoir.org.models import Site, User
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank(personas: Personas) -> Bank:
    return make_bank(personas)


@pytest.fixture
def branch(personas: Personas) -> Site:
    return Site.objects.create(company=personas.company, name="Atelier Grenoble", siret="84215763800029")


def line_sites(entry_id: int | None) -> set[int | None]:
    return set(JournalLine.objects.filter(entry_id=entry_id).values_list("site_id", flat=True))


def test_the_bank_account_site_is_set_checked_and_cleared(bank: Bank, branch: Site, personas: Personas) -> None:
    closed = Site.objects.create(company=personas.company, name="Dépôt fermé", siret="84215763800037",
                                 is_active=False)  # fmt: skip
    foreign = Site.objects.create(company=personas.other_company, name="Ailleurs", siret="90412835200010")
    updated = accounts.bank_account_update(actor=bank.actor(), bank_account_id=bank.account.pk, site_id=branch.pk)
    assert updated.site_id == branch.pk
    for bad in (closed.pk, foreign.pk, "x"):
        with pytest.raises(ValidationFailed) as caught:
            accounts.bank_account_update(actor=bank.actor(), bank_account_id=bank.account.pk, site_id=bad,
                                         name="Renamed")  # fmt: skip
        assert set(caught.value.fields) == {"site_id"}
    bank.account.refresh_from_db()
    assert (bank.account.site_id, bank.account.name) == (branch.pk, "Compte courant")
    accounts.bank_account_update(actor=bank.actor(), bank_account_id=bank.account.pk, site_id=None)
    assert BankAccount.objects.get(pk=bank.account.pk).site_id is None


def test_a_reconciled_payment_takes_the_invoice_site_else_the_account_site(bank: Bank, branch: Site) -> None:
    BankAccount.objects.filter(pk=bank.account.pk).update(site_id=branch.pk)
    head = Site.objects.get(company_id=bank.company_id, is_head_office=True)
    on_head = post_invoice(bank.books, "100.00")  # the head office, by default
    match = reconcile.reconcile_invoices(actor=bank.actor(), line_id=bank.line("120.00").pk,
                                         allocations=[{"invoice_id": on_head.pk, "amount": None}])  # fmt: skip
    payment = Payment.objects.get(pk=match.payment_id)
    assert payment.site_id == head.pk and line_sites(payment.journal_entry_id) == {head.pk}
    without = post_invoice(bank.books, "50.00", site_id=None)
    match = reconcile.reconcile_invoices(actor=bank.actor(), line_id=bank.line("60.00").pk,
                                         allocations=[{"invoice_id": without.pk, "amount": None}])  # fmt: skip
    payment = Payment.objects.get(pk=match.payment_id)
    assert payment.site_id == branch.pk and line_sites(payment.journal_entry_id) == {branch.pk}
    # The account's site closed since: the payment is booked without it rather than refused.
    Site.objects.filter(pk=branch.pk).update(is_active=False)
    late = post_invoice(bank.books, "10.00", site_id=None)
    match = reconcile.reconcile_invoices(actor=bank.actor(), line_id=bank.line("12.00").pk,
                                         allocations=[{"invoice_id": late.pk, "amount": None}])  # fmt: skip
    assert Payment.objects.get(pk=match.payment_id).site_id is None
    report = verify_chain(bank.company_id)
    assert report.ok, report.anomalies


def test_a_counterpart_entry_carries_the_account_site_and_its_undo_keeps_it(bank: Bank, branch: Site) -> None:
    BankAccount.objects.filter(pk=bank.account.pk).update(site_id=branch.pk)
    line = bank.line("-12.00", label="FRAIS TENUE DE COMPTE")
    fees = Account.objects.get(company_id=bank.company_id, code="627")
    match = reconcile.reconcile_manual(actor=bank.actor(), line_id=line.pk, account_id=fees.pk, vat_rate="20")
    entry = JournalEntry.objects.get(pk=match.journal_entry_id)
    assert entry.site_id == branch.pk and line_sites(entry.pk) == {branch.pk}
    reconcile.undo(actor=bank.actor(), line_id=line.pk)
    reversal = JournalEntry.objects.get(reversal_of=entry)
    assert reversal.site_id == branch.pk and line_sites(reversal.pk) == {branch.pk}
    # Without a site on the account, the entry has none.
    BankAccount.objects.filter(pk=bank.account.pk).update(site_id=None)
    again = reconcile.reconcile_manual(actor=bank.actor(), line_id=line.pk, account_id=fees.pk)
    assert line_sites(again.journal_entry_id) == {None}
    assert verify_chain(bank.company_id).ok


def test_bank_account_api_reads_and_writes_the_site(bank: Bank, branch: Site, client: Client) -> None:
    _k, secret = org_services.apikey_create(actor=bank.actor("admin"), name="bank key", scopes=["banking:write"])
    h = {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}
    api = "/api/v1/banking/bank-accounts"

    def send(method: str, url: str, body: dict[str, Any]) -> Any:
        return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", headers=h)

    foreign = Site.objects.create(company=bank.books.personas.other_company, name="Ailleurs", siret="90412835200010")
    refused = send("post", api, {"name": "Livret", "site_id": foreign.pk})
    assert refused.status_code == 422 and list(refused.json()["fields"]) == ["site_id"]
    assert BankAccount.objects.count() == 1
    created = send("post", api, {"name": "Livret", "site_id": branch.pk})
    assert created.status_code == 201, created.content
    assert created.json()["site_id"] == branch.pk
    url = f"{api}/{created.json()['id']}"
    assert client.get(url, headers=h).json()["site_id"] == branch.pk
    cleared = send("patch", url, {"site_id": None})
    assert cleared.status_code == 200 and cleared.json()["site_id"] is None
    assert send("patch", url, {"name": None}).status_code == 422  # other fields still refuse null


def test_bank_account_pages_offer_and_show_the_site(bank: Bank, branch: Site, client: Client) -> None:
    user = bank.books.personas.users["finance"]
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(),
                                           language="en")  # fmt: skip
    user.refresh_from_db()
    client.force_login(user)
    page = client.get("/banking/accounts/new/").content.decode()
    assert 'name="site_id"' in page and branch.name in page
    created = client.post("/banking/accounts/new/", {"name": "Livret", "currency": "EUR", "site_id": str(branch.pk)})
    account = BankAccount.objects.get(name="Livret")
    assert created.status_code == 302 and account.site_id == branch.pk
    detail = client.get(f"/banking/accounts/{account.pk}/").content.decode()
    assert f'id="account-site">{branch.name}<' in detail
    edit = client.get(f"/banking/accounts/{account.pk}/edit/").content.decode()
    assert f'<option value="{branch.pk}" selected>' in edit

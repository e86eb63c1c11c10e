"""Reconciling a bank statement in a real browser: finance imports a CAMT.053 file on the
import page (a rule posts the bank fees at once), opens the reconciliation screen, sees the
proposal for the customer's transfer with its reasons, accepts it with a double click
(htmx, one payment), undoes and accepts again from the keyboard, and finds the invoice paid."""

from __future__ import annotations

from decimal import Decimal

import pytest

from comptoir.accounting.models import Account, InvoiceState
from comptoir.accounting.models_payments import Payment, PaymentState
from comptoir.accounting.tests.payments_kit import post_invoice
from comptoir.banking import rules
from comptoir.banking.models import BankStatementLine, LineState
from comptoir.banking.tests.reconcile_kit import camt053, fresh, make_bank
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, Personas

from .conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_import_and_reconcile_in_one_click(page, personas: Personas, tmp_path) -> None:  # type: ignore[no-untyped-def]
    page.set_default_timeout(30_000)  # the machine is shared: allow for a slow start
    bank = make_bank(personas)
    invoice = post_invoice(bank.books, "250.00")  # 300.00 due
    fees = Account.objects.get(company_id=bank.company_id, code="627")
    rules.rule_create(actor=bank.actor(), name="Frais bancaires", label_contains="FRAIS", direction="outbound",
                      account_id=fees.pk)  # fmt: skip
    statement = tmp_path / "releve.xml"
    statement.write_bytes(camt053(bank.account.iban, [
        {"amount": "300.00", "label": f"VIR SEPA {invoice.number.replace('-', ' ')}", "name": "BOULANGERIE MARTIN",
         "iban": "FR7612345678901234567890123"},
        {"amount": "-9.90", "label": "FRAIS TENUE DE COMPTE"},
    ]))  # fmt: skip
    user = personas.users["finance"]
    User.objects.filter(pk=user.pk).update(language="en")
    login(page, user.email, PASSWORD)

    page.goto("/banking/import/")
    page.set_input_files("#id_file", str(statement))
    with page.expect_navigation():
        page.click("#import-button")
    assert "2 lines imported" in page.locator("#import-result").inner_text()

    page.goto("/banking/reconcile/")
    transfer = BankStatementLine.objects.get(amount=Decimal("300.00"))
    card = page.locator(f"#line-{transfer.pk}")
    assert card.get_attribute("data-state") == "open"
    best = card.locator("li.proposal").first
    assert best.get_attribute("data-proposal") == f"inv:{invoice.pk}"
    reasons = best.locator(".reasons").inner_text()
    assert invoice.number in reasons and "partner name" in reasons
    # The fees were posted by the rule right after the import: no longer in the open list.
    fees_line = BankStatementLine.objects.get(amount=Decimal("-9.90"))
    assert fees_line.state == LineState.RECONCILED and page.locator(f"#line-{fees_line.pk}").count() == 0

    # One click (a double click, even): the payment is recorded once, the line swapped in place.
    best.locator("button.accept").dblclick()
    page.locator(f"#line-{transfer.pk}[data-state=reconciled]").wait_for()
    assert invoice.number in page.locator(f"#line-{transfer.pk} .match").inner_text()
    assert Payment.objects.filter(state=PaymentState.POSTED).count() == 1
    assert fresh(invoice).state == InvoiceState.PAID

    # Undo, then accept again from the keyboard: focus the line, press "a".
    page.locator(f"#line-{transfer.pk} button.undo").click()
    page.locator(f"#line-{transfer.pk}[data-state=open]").wait_for()
    # htmx has finished swapping and settling the line in (a key pressed before would act on
    # the element being replaced, whose answer is swapped into nothing).
    page.wait_for_function(
        "id => { const line = document.getElementById(id);"
        " return line && !line.matches('.htmx-swapping, .htmx-settling, .htmx-request')"
        " && line.querySelector('button.accept[data-best]') !== null; }",
        arg=f"line-{transfer.pk}",
    )
    assert fresh(invoice).state == InvoiceState.POSTED
    page.locator(f"#line-{transfer.pk}").focus()
    page.keyboard.press("a")
    page.locator(f"#line-{transfer.pk}[data-state=reconciled]").wait_for()

    page.goto(f"/accounting/invoices/{invoice.pk}/")
    assert page.locator("#invoice-payments").get_attribute("data-state") == InvoiceState.PAID
    assert page.locator("#invoice-residual").inner_text() == "0.00"
    assert Payment.objects.filter(state=PaymentState.POSTED).count() == 1
    assert Payment.objects.filter(state=PaymentState.CANCELLED).count() == 1

    # The screen's "reconciled" filter shows what the rule did, with its name.
    page.goto("/banking/reconcile/?state=reconciled")
    assert "Applied by rule Frais bancaires" in page.locator(f"#line-{fees_line.pk}").inner_text()

"""Helpers of the reconciliation tests: books with invoices, a bank account, statement lines."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from comptoir.accounting.models import Account, Invoice, Journal
from comptoir.accounting.tests.invoices_kit import Books, make_books
from comptoir.banking.models import BankAccount, BankStatement, BankStatementLine
from comptoir.kernel.context import Actor
from comptoir.org.testing import Personas, enable_modules

TODAY = dt.date.today()
_positions = itertools.count(1)


@dataclass
class Bank:
    books: Books
    account: BankAccount
    statement: BankStatement

    @property
    def company_id(self) -> int:
        return self.books.company_id

    def actor(self, role: str = "finance", channel: str = "ui") -> Actor:
        return self.books.actor(role, channel)

    def line(self, amount: str, label: str = "VIR SEPA", **extra: Any) -> BankStatementLine:
        position = next(_positions)
        return BankStatementLine.objects.create(
            company_id=self.company_id, statement=self.statement, bank_account=self.account, position=position,
            booking_date=extra.pop("booking_date", TODAY), amount=Decimal(amount), label=label, **extra,
        )  # fmt: skip


def make_bank(personas: Personas) -> Bank:
    books = make_books(personas)
    enable_modules(personas, "banking")
    company_id = books.company_id
    journal = Journal.objects.get(company_id=company_id, code="BQ")
    account = BankAccount.objects.create(
        company_id=company_id, name="Compte courant", iban="FR7630006000011234567890189", journal=journal,
        account=Account.objects.get(company_id=company_id, code="512"),
    )  # fmt: skip
    statement = BankStatement.objects.create(
        company_id=company_id, bank_account=account, reference="STMT-1", date_from=TODAY, date_to=TODAY,
        file_sha256=hashlib.sha256(b"kit").hexdigest(), source_format="camt053",
    )  # fmt: skip
    return Bank(books=books, account=account, statement=statement)


def fresh(invoice: Invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)

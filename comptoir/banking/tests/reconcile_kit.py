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


def camt053(iban: str, entries: list[dict[str, Any]], *, statement_id: str = "STMT-RECON-1",
            day: dt.date = TODAY, opening: Decimal = Decimal("1000.00")) -> bytes:  # fmt: skip
    """A CAMT.053.001.08 file: ``entries`` are {amount (signed str), label, reference, name, iban}."""
    total = sum((Decimal(e["amount"]) for e in entries), Decimal(0))

    def balance(code: str, amount: Decimal) -> str:
        side = "CRDT" if amount >= 0 else "DBIT"
        return (f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{abs(amount):.2f}</Amt>'
                f"<CdtDbtInd>{side}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>")  # fmt: skip

    rows = []
    for index, entry in enumerate(entries, start=1):
        amount = Decimal(entry["amount"])
        side, party, account = ("CRDT", "Dbtr", "DbtrAcct") if amount > 0 else ("DBIT", "Cdtr", "CdtrAcct")
        iban_xml = f"<{account}><Id><IBAN>{entry['iban']}</IBAN></Id></{account}>" if entry.get("iban") else ""
        rows.append(
            f'<Ntry><NtryRef>{index}</NtryRef><Amt Ccy="EUR">{abs(amount):.2f}</Amt><CdtDbtInd>{side}</CdtDbtInd>'
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day.isoformat()}</Dt></BookgDt>"
            f"<ValDt><Dt>{day.isoformat()}</Dt></ValDt><AcctSvcrRef>{statement_id}-{index}</AcctSvcrRef>"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>{entry.get('reference') or 'NOTPROVIDED'}</EndToEndId></Refs>"
            f"<RltdPties><{party}><Pty><Nm>{entry.get('name', '')}</Nm></Pty></{party}>{iban_xml}</RltdPties>"
            f"<RmtInf><Ustrd>{entry.get('label', '')}</Ustrd></RmtInf></TxDtls></NtryDtls>"
            f"<AddtlNtryInf>{entry.get('label', '')}</AddtlNtryInf></Ntry>"
        )  # fmt: skip
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>MSG-{statement_id}</MsgId><CreDtTm>{day.isoformat()}T05:00:00Z</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{statement_id}</Id><Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f"{balance('OPBD', opening)}{balance('CLBD', opening + total)}{''.join(rows)}</Stmt></BkToCstmrStmt></Document>"
    )  # fmt: skip
    return xml.encode()

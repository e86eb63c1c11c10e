"""Demo bank account and one imported CAMT.053 statement (idempotent).

The statement goes through the real import (parser, checks, audit): its lines echo the
demo ledger — the customer's 1,200.00 payment, the supplier's 300.00 bill, the month's
12.50 bank fees — plus a card payment, so reconciliation has something to match.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from xml.sax.saxutils import escape

from django.utils import timezone

from comptoir.banking.accounts import bank_account_create
from comptoir.banking.imports import statement_import
from comptoir.banking.models import BankAccount
from comptoir.contacts.models import Organization
from comptoir.kernel import modules
from comptoir.kernel.context import Actor

DEMO_IBAN = "FR7630006000011234567890189"
OPENING = Decimal("20000.00")


def _entry(ref: str, amount: Decimal, day: dt.date, info: str, party: str = "", party_iban: str = "",
           remittance: str = "") -> str:  # fmt: skip
    indicator = "CRDT" if amount >= 0 else "DBIT"
    side = "Dbtr" if amount >= 0 else "Cdtr"
    details = ""
    if party or remittance:
        party_xml = f"<{side}><Pty><Nm>{escape(party)}</Nm></Pty></{side}>" if party else ""
        iban_xml = f"<{side}Acct><Id><IBAN>{party_iban}</IBAN></Id></{side}Acct>" if party_iban else ""
        remittance_xml = f"<RmtInf><Ustrd>{escape(remittance)}</Ustrd></RmtInf>" if remittance else ""
        details = f"<NtryDtls><TxDtls><RltdPties>{party_xml}{iban_xml}</RltdPties>{remittance_xml}</TxDtls></NtryDtls>"
    return (
        f'<Ntry><Amt Ccy="EUR">{abs(amount)}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
        f"<BookgDt><Dt>{day.isoformat()}</Dt></BookgDt><ValDt><Dt>{day.isoformat()}</Dt></ValDt>"
        f"<AcctSvcrRef>{ref}</AcctSvcrRef>{details}<AddtlNtryInf>{escape(info)}</AddtlNtryInf></Ntry>"
    )


def statement_xml(today: dt.date, customer: str, supplier: str) -> bytes:
    start = dt.date(today.year, today.month, 1) - dt.timedelta(days=1)
    start = dt.date(start.year, start.month, 1)  # the first day of last month
    end = dt.date(today.year, today.month, 1) - dt.timedelta(days=1)
    lines = [
        ("DEMO-0001", Decimal("1200.00"), start + dt.timedelta(days=4), f"VIR SEPA RECU {customer.upper()}", customer,
         "DE89370400440532013000", "Reglement facture prestation atelier"),
        ("DEMO-0002", Decimal("-300.00"), start + dt.timedelta(days=11), f"VIR SEPA EMIS {supplier.upper()}", supplier,
         "GB82WEST12345698765432", "Achat de fournitures"),
        ("DEMO-0003", Decimal("-12.50"), start + dt.timedelta(days=19), "FRAIS TENUE DE COMPTE", "", "", ""),
        ("DEMO-0004", Decimal("-48.90"), start + dt.timedelta(days=22), "CB STATION SERVICE LYON", "", "", ""),
    ]  # fmt: skip
    closing = OPENING + sum((amount for _r, amount, *_rest in lines), Decimal(0))
    entries = "".join(_entry(*line) for line in lines)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>DEMO-{end:%Y%m}</MsgId><CreDtTm>{end.isoformat()}T23:00:00Z</CreDtTm></GrpHdr>"
        f"<Stmt><Id>DEMO-{end:%Y-%m}</Id>"
        f"<FrToDt><FrDtTm>{start.isoformat()}T00:00:00</FrDtTm><ToDtTm>{end.isoformat()}T23:59:59</ToDtTm></FrToDt>"
        f"<Acct><Id><IBAN>{DEMO_IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f'<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{OPENING}</Amt>'
        f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{start.isoformat()}</Dt></Dt></Bal>"
        f'<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt>'
        f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{end.isoformat()}</Dt></Dt></Bal>"
        f"{entries}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def load(actor: Actor) -> None:
    if not modules.is_enabled(actor.company_id, "banking"):
        return
    if BankAccount.objects.filter(company_id=actor.company_id).exists():
        return
    account = bank_account_create(actor=actor, name="Crédit Agricole — compte courant", iban=DEMO_IBAN,
                                  bic="AGRIFRPPXXX", bank_name="Crédit Agricole")  # fmt: skip
    names = [o.legal_name or o.trade_name for o in Organization.objects.filter(company_id=actor.company_id)
             .order_by("id")[:2]] + ["Boulangerie Martin", "Papeterie Leroy"]  # fmt: skip
    data = statement_xml(timezone.localdate(), names[0], names[1])
    statement_import(actor=actor, data=data, bank_account_id=account.pk, filename="releve-demo.xml")

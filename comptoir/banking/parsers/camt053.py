"""CAMT.053 (ISO 20022 bank-to-customer statement), versions 001.02 to 001.08.

The XML is parsed hardened, like received e-invoices: a DOCTYPE or entity declaration is
refused outright (XXE, "billion laughs"), and the parser loads no DTD, resolves no entity
and never touches the network. One file may hold several statements (``Stmt``); only
booked entries (status BOOK) become lines, one per entry (``Ntry``) with the booked
amount, signed by its credit/debit indicator. Balances: opening = OPBD (or PRCD), closing
= CLBD.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from lxml import etree

from comptoir.accounting.einvoice.validate import safe_parser
from comptoir.banking.parsers.base import (
    MAX_FILE_BYTES,
    MAX_LINES,
    ParsedLine,
    ParsedStatement,
    StatementFileError,
    clean_text,
    compact_iban,
    parse_amount,
)

NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.0([2-8])$")
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def looks_like(data: bytes) -> bool:
    head = data[:4096]
    return b"camt.053.001" in head and b"<" in head


def _forbidden() -> StatementFileError:
    return StatementFileError(
        "doctype_forbidden", _("The XML declares a DOCTYPE or entities, which bank statements never do: refused.")
    )


def safe_root(data: bytes) -> etree._Element:
    """The root element of a bank XML file, parsed without DTD, entities or network."""
    if len(data) > MAX_FILE_BYTES:
        raise StatementFileError(
            "too_large", _("The file is larger than %(size)d MB.") % {"size": MAX_FILE_BYTES // 1024 // 1024}
        )
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not head.startswith(b"<") and not utf16:
        raise StatementFileError("not_xml", _("The file is not XML."))
    if _DECLARATION.search(data):
        raise _forbidden()
    try:
        root = etree.fromstring(data, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise StatementFileError(
            "malformed_xml", _("The XML is malformed or truncated (%(error)s).") % {"error": str(exc)[:200]}
        ) from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _forbidden()
    return root


class _Reader:
    def __init__(self, namespace: str) -> None:
        self.ns = {"c": namespace}

    def all(self, node: etree._Element, path: str) -> list[etree._Element]:
        return list(node.xpath(path, namespaces=self.ns))

    def one(self, node: etree._Element | None, path: str) -> etree._Element | None:
        if node is None:
            return None
        found = node.xpath(path, namespaces=self.ns)
        return found[0] if found else None

    def text(self, node: etree._Element | None, path: str) -> str:
        found = self.one(node, path)
        return (found.text or "").strip() if found is not None else ""

    def date(self, node: etree._Element | None, path: str) -> dt.date | None:
        """``<Dt>2026-03-01</Dt>`` or ``<DtTm>2026-03-01T10:00:00+01:00</DtTm>`` under ``path``."""
        raw = self.text(node, f"{path}/c:Dt") or self.text(node, f"{path}/c:DtTm") or self.text(node, path)
        if not raw:
            return None
        try:
            return dt.date.fromisoformat(raw[:10])
        except ValueError as exc:
            raise StatementFileError("bad_date", _("“%(value)s” is not a date.") % {"value": raw[:40]}) from exc

    def amount(self, node: etree._Element | None, where: str) -> tuple[Decimal, str]:
        """The ``Amt`` of ``node`` signed by its ``CdtDbtInd``, and its currency."""
        amt = self.one(node, "c:Amt")
        indicator = self.text(node, "c:CdtDbtInd")
        if amt is None or indicator not in ("CRDT", "DBIT"):
            raise StatementFileError(
                "missing_amount", _("%(where)s has no amount or credit/debit indicator.") % {"where": where}
            )
        try:
            value = parse_amount(amt.text or "")
        except ValueError as exc:
            raise StatementFileError("bad_amount", f"{where}: {exc}") from exc
        if value < 0:
            raise StatementFileError("bad_amount", _("%(where)s: a negative amount.") % {"where": where})
        return (value if indicator == "CRDT" else -value), (amt.get("Ccy") or "").upper()


def parse(data: bytes) -> list[ParsedStatement]:
    root = safe_root(data)
    namespace = etree.QName(root).namespace or ""
    if not NAMESPACE.match(namespace) or etree.QName(root).localname != "Document":
        raise StatementFileError(
            "unsupported_camt", _("This is not a CAMT.053 statement (versions 001.02 to 001.08 are read).")
        )
    r = _Reader(namespace)
    statements = r.all(root, "c:BkToCstmrStmt/c:Stmt")
    if not statements:
        raise StatementFileError("no_statement", _("The file holds no statement."))
    result: list[ParsedStatement] = []
    total = 0
    for index, stmt in enumerate(statements, start=1):
        where = _("Statement %(n)d") % {"n": index}
        parsed = ParsedStatement(
            reference=clean_text(r.text(stmt, "c:Id"), 140),
            account_iban=compact_iban(r.text(stmt, "c:Acct/c:Id/c:IBAN")),
            account_number=clean_text(r.text(stmt, "c:Acct/c:Id/c:Othr/c:Id"), 40),
            currency=r.text(stmt, "c:Acct/c:Ccy").upper(),
            date_from=r.date(stmt, "c:FrToDt/c:FrDtTm"),
            date_to=r.date(stmt, "c:FrToDt/c:ToDtTm"),
        )
        for balance in r.all(stmt, "c:Bal"):
            code = r.text(balance, "c:Tp/c:CdOrPrtry/c:Cd")
            value, currency = r.amount(balance, str(where))
            day = r.date(balance, "c:Dt")
            if code == "OPBD" or (code == "PRCD" and parsed.opening_balance is None):
                parsed.opening_balance = value
                if parsed.date_from is None and day is not None:
                    # A PRCD balance is dated the day before the period starts.
                    parsed.date_from = day + dt.timedelta(days=1) if code == "PRCD" else day
            elif code == "CLBD":
                parsed.closing_balance = value
                if parsed.date_to is None:
                    parsed.date_to = day
            if currency and not parsed.currency:
                parsed.currency = currency
        for number, entry in enumerate(r.all(stmt, "c:Ntry"), start=1):
            status = r.text(entry, "c:Sts/c:Cd") or r.text(entry, "c:Sts")
            if status and status != "BOOK":
                continue
            line = _entry(r, entry, _("%(statement)s, entry %(n)d") % {"statement": where, "n": number})
            parsed.lines.append(line)
        total += len(parsed.lines)
        if total > MAX_LINES:
            raise StatementFileError("too_many_lines", _("The file has more than %(n)d lines.") % {"n": MAX_LINES})
        result.append(parsed)
    return result


def _entry(r: _Reader, entry: etree._Element, where: str) -> ParsedLine:
    amount, currency = r.amount(entry, where)
    if r.text(entry, "c:RvslInd").lower() == "true":
        # A reversal books the opposite way of its indicator.
        amount = -amount
    booking = r.date(entry, "c:BookgDt")
    if booking is None:
        raise StatementFileError("missing_date", _("%(where)s has no booking date.") % {"where": where})
    details = r.all(entry, "c:NtryDtls/c:TxDtls")
    tx = details[0] if len(details) == 1 else None
    credit = amount >= 0
    # The counterparty: who paid us on a credit, whom we paid on a debit (001.08 nests Pty).
    side = "Dbtr" if credit else "Cdtr"
    name = ""
    iban = ""
    if tx is not None:
        name = r.text(tx, f"c:RltdPties/c:{side}/c:Pty/c:Nm") or r.text(tx, f"c:RltdPties/c:{side}/c:Nm")
        iban = r.text(tx, f"c:RltdPties/c:{side}Acct/c:Id/c:IBAN")
    unstructured = " ".join(t.strip() for t in (x.text or "" for x in r.all(tx, "c:RmtInf/c:Ustrd")) if t.strip()) \
        if tx is not None else ""  # fmt: skip
    structured = r.text(tx, "c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref") if tx is not None else ""
    end_to_end = r.text(tx, "c:Refs/c:EndToEndId") if tx is not None else ""
    if end_to_end == "NOTPROVIDED":
        end_to_end = ""
    additional = r.text(entry, "c:AddtlNtryInf") or (r.text(tx, "c:AddtlTxInf") if tx is not None else "")
    label = additional or unstructured or name or r.text(entry, "c:BkTxCd/c:Prtry/c:Cd") or str(_("Bank entry"))
    if len(details) > 1:
        label = str(_("%(label)s (%(n)d transactions)") % {"label": label, "n": len(details)})
    reference = " ".join(part for part in (structured, unstructured, end_to_end) if part)
    bank_code = "/".join(
        part for part in (r.text(entry, "c:BkTxCd/c:Domn/c:Cd"), r.text(entry, "c:BkTxCd/c:Domn/c:Fmly/c:Cd"),
                          r.text(entry, "c:BkTxCd/c:Domn/c:Fmly/c:SubFmlyCd")) if part
    ) or r.text(entry, "c:BkTxCd/c:Prtry/c:Cd")  # fmt: skip
    transaction_id = r.text(entry, "c:AcctSvcrRef") or (r.text(tx, "c:Refs/c:AcctSvcrRef") if tx is not None else "")
    return ParsedLine(
        booking_date=booking,
        value_date=r.date(entry, "c:ValDt"),
        amount=amount,
        currency=currency,
        label=clean_text(label, 500),
        reference=clean_text(reference, 500),
        partner_name=clean_text(name, 200),
        partner_iban=compact_iban(iban)[:34],
        bank_code=clean_text(bank_code, 40),
        transaction_id=clean_text(transaction_id, 140),
    )

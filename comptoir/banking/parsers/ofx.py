"""OFX statements: 1.x (SGML, leaf tags left open) and 2.x (XML).

Both are read by one tolerant tokenizer rather than an XML parser: an element whose tag is
followed by text is a leaf (its closing tag, present in 2.x, optional in 1.x, is skipped);
any other element is an aggregate closed by its end tag. Nothing is ever resolved: a
DOCTYPE or entity declaration is refused, and only the five predefined XML entities are
decoded in values. Bank (``STMTRS``) and card (``CCSTMTRS``) statements are read; the
balance is ``LEDGERBAL`` (closing only: OFX gives no opening balance).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from comptoir.banking.parsers.base import (
    MAX_FILE_BYTES,
    MAX_LINES,
    ParsedLine,
    ParsedStatement,
    StatementFileError,
    clean_text,
    parse_amount,
)

_TOKEN = re.compile(r"<(/?)([A-Za-z0-9._]+)>([^<]*)")
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def looks_like(data: bytes) -> bool:
    head = data[:4096].upper()
    return b"OFXHEADER" in head or b"<OFX>" in head


@dataclass
class Node:
    tag: str
    text: str = ""
    children: list[Node] = field(default_factory=list)

    def find(self, path: str) -> Node | None:
        node: Node | None = self
        for part in path.split("/"):
            assert node is not None
            node = next((c for c in node.children if c.tag == part), None)
            if node is None:
                return None
        return node

    def findall(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def iter(self, tag: str) -> list[Node]:
        found = []
        stack = [self]
        while stack:
            node = stack.pop()
            if node.tag == tag:
                found.append(node)
            stack.extend(reversed(node.children))
        return found

    def value(self, path: str) -> str:
        node = self.find(path)
        return node.text if node is not None else ""


def _decode(data: bytes) -> str:
    head = data[:1024].decode("ascii", "replace").upper()
    charset = "utf-8"
    if "CHARSET:1252" in head:
        charset = "cp1252"
    elif "CHARSET:ISO-8859-1" in head or "CHARSET:8859-1" in head:
        charset = "latin-1"
    match = re.search(r'ENCODING="([A-Za-z0-9_-]+)"', head)
    if match and match.group(1) not in ("USASCII",):
        charset = match.group(1).lower()
    try:
        return data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return data.decode("cp1252", "replace")


def tree(data: bytes) -> Node:
    if len(data) > MAX_FILE_BYTES:
        raise StatementFileError(
            "too_large", _("The file is larger than %(size)d MB.") % {"size": MAX_FILE_BYTES // 1024 // 1024}
        )
    text = _decode(data)
    if _DECLARATION.search(text):
        raise StatementFileError(
            "doctype_forbidden", _("The file declares a DOCTYPE or entities, which OFX statements never do: refused.")
        )
    start = text.upper().find("<OFX>")
    if start < 0:
        raise StatementFileError("not_ofx", _("The file is not an OFX statement (no <OFX> element)."))
    root = Node("ROOT")
    stack = [root]
    for closing, tag, content in _TOKEN.findall(text[start:]):
        tag = tag.upper()
        if closing:
            # Close up to the matching aggregate; a closing tag of a leaf matches nothing open.
            for depth in range(len(stack) - 1, 0, -1):
                if stack[depth].tag == tag:
                    del stack[depth:]
                    break
            continue
        value = content.strip()
        node = Node(tag, html.unescape(value) if "&" in value else value)
        stack[-1].children.append(node)
        if not value:
            stack.append(node)
    ofx = root.find("OFX")
    if ofx is None:
        raise StatementFileError("not_ofx", _("The file is not an OFX statement (no <OFX> element)."))
    return ofx


def _date(raw: str, where: str) -> dt.date:
    match = re.match(r"^(\d{4})(\d{2})(\d{2})", raw.strip())
    if not match:
        raise StatementFileError("bad_date", _("%(where)s: “%(value)s” is not an OFX date.")
                                 % {"where": where, "value": raw[:40]})  # fmt: skip
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError as exc:
        raise StatementFileError("bad_date", _("%(where)s: “%(value)s” is not an OFX date.")
                                 % {"where": where, "value": raw[:40]}) from exc  # fmt: skip


def parse(data: bytes) -> list[ParsedStatement]:
    ofx = tree(data)
    rs_nodes = ofx.iter("STMTRS") + ofx.iter("CCSTMTRS")
    if not rs_nodes:
        raise StatementFileError("no_statement", _("The file holds no bank statement (STMTRS)."))
    statements: list[ParsedStatement] = []
    total = 0
    for index, rs in enumerate(rs_nodes, start=1):
        account = rs.find("BANKACCTFROM") or rs.find("CCACCTFROM") or Node("NONE")
        tranlist = rs.find("BANKTRANLIST") or Node("NONE")
        parsed = ParsedStatement(
            currency=rs.value("CURDEF").upper()[:3],
            bank_id=clean_text(account.value("BANKID"), 20),
            branch_id=clean_text(account.value("BRANCHID"), 20),
            account_number=clean_text(account.value("ACCTID"), 40),
        )
        where = str(_("Statement %(n)d") % {"n": index})
        if tranlist.value("DTSTART"):
            parsed.date_from = _date(tranlist.value("DTSTART"), where)
        if tranlist.value("DTEND"):
            parsed.date_to = _date(tranlist.value("DTEND"), where)
        balance = rs.find("LEDGERBAL")
        if balance is not None and balance.value("BALAMT"):
            parsed.closing_balance = _amount(balance.value("BALAMT"), where)
            if balance.value("DTASOF") and parsed.date_to is None:
                parsed.date_to = _date(balance.value("DTASOF"), where)
        errors: dict[str, list[str]] = {}
        for number, trn in enumerate(tranlist.findall("STMTTRN"), start=1):
            try:
                parsed.lines.append(_line(trn, str(_("transaction %(n)d") % {"n": number})))
            except StatementFileError as exc:
                errors[f"rows.{number}"] = [exc.message]
        if errors:
            raise StatementFileError(
                "bad_rows", _("%(n)d transactions cannot be read; nothing was imported.") % {"n": len(errors)},
                fields=errors,
            )  # fmt: skip
        total += len(parsed.lines)
        if total > MAX_LINES:
            raise StatementFileError("too_many_lines", _("The file has more than %(n)d lines.") % {"n": MAX_LINES})
        statements.append(parsed)
    return statements


def _amount(raw: str, where: str) -> Decimal:
    # Some French banks write TRNAMT with a decimal comma.
    separator = "," if "," in raw and "." not in raw else "."
    try:
        return parse_amount(raw, decimal_separator=separator)
    except ValueError as exc:
        raise StatementFileError("bad_amount", f"{where}: {exc}") from exc


def _line(trn: Node, where: str) -> ParsedLine:
    if not trn.value("DTPOSTED"):
        raise StatementFileError("missing_date", _("%(where)s has no date (DTPOSTED).") % {"where": where})
    if not trn.value("TRNAMT"):
        raise StatementFileError("missing_amount", _("%(where)s has no amount (TRNAMT).") % {"where": where})
    amount = _amount(trn.value("TRNAMT"), where)
    name = trn.value("NAME") or trn.value("PAYEE/NAME")
    memo = trn.value("MEMO")
    reference = " ".join(part for part in (trn.value("REFNUM"), trn.value("CHECKNUM")) if part)
    user_date = trn.value("DTUSER")
    return ParsedLine(
        booking_date=_date(trn.value("DTPOSTED"), where),
        value_date=_date(user_date, where) if user_date else None,
        amount=amount,
        label=clean_text(" ".join(part for part in (name, memo) if part) or trn.value("TRNTYPE"), 500),
        reference=clean_text(reference, 500),
        partner_name=clean_text(name, 200),
        bank_code=clean_text(trn.value("TRNTYPE"), 40),
        transaction_id=clean_text(trn.value("FITID"), 140),
        currency=trn.value("CURRENCY/CURSYM").upper()[:3],
    )

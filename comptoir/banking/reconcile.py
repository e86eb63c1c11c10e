"""Bank reconciliation: proposals for open statement lines, and accept / split / manual /
ignore / undo.

**Proposals** (``propose``) work on a batch of lines with a fixed number of queries, whatever
the batch size (a page of 25 or all 10,000 lines of the benchmark):

1. invoice numbers found in the label and reference (``FA 2026 12``, ``fa-2026-00012`` →
   ``FA-2026-00012``; vendor bills also by the supplier's number) — one ``number IN`` query;
2. open items whose amount due equals a line's amount (sign consistent: money in settles
   customer invoices and vendor refunds, money out vendor bills and credit notes) — one
   ``residual IN`` query;
3. the partner: by IBAN (``PartnerBankAccount``, learned from reconciled lines), by a rule
   that names it, then by name — the counterparty's name against the names of the partners
   that have open items (one query; compared in memory through word blocks, with the
   contacts duplicate helpers' normalization and rapidfuzz);
4. the open items of those partners — one query; several invoices of one partner whose
   amounts add up to the line make a grouped proposal;
5. the active rules — one query.

Each piece of evidence is a probability; a proposal's score is 100 × (1 − Π(1 − p)) (the
"noisy OR" of the duplicate detection). Reasons are codes with parameters, turned into text
when shown (``reason_text``), in the reader's language.

**Services** lock the statement line first (``SELECT … FOR UPDATE``): a second click, or a
concurrent request, waits and then finds the line reconciled and gets the first match back.
Payments go through ``accounting.payments.payment_register`` (bank journal of the account,
date = booking date, idempotency key derived from the line and its attempt number), so the
invoice residuals, the matching (lettrage) and the VAT on receipts are the payment module's.
Manual counterparts and rules post an entry in the bank journal; undo cancels the payment
(or posts the reversal of the entry): posted entries are never deleted.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from comptoir.accounting import payments
from comptoir.accounting import services as ledger
from comptoir.accounting.models import Account, AccountType, Invoice, InvoiceKind, JournalEntry, JournalLine
from comptoir.accounting.models_payments import PaymentState
from comptoir.banking.models import BankAccount, BankStatementLine, LineState
from comptoir.banking.models_rules import (
    MatchKind,
    PartnerBankAccount,
    ReconciliationRule,
    RuleAction,
    RuleDirection,
    StatementLineMatch,
)
from comptoir.contacts.duplicates import name_key
from comptoir.contacts.models import Organization
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.money import quantize
from comptoir.org.models import Site

VIEW = "banking.view_bank"
MANAGE = "banking.manage_bank"
SOURCE_TYPE = "banking.statement_line"
ZERO = Decimal(0)
OPEN_STATES = ("posted", "partially_paid")
INBOUND_KINDS = (InvoiceKind.CUSTOMER_INVOICE, InvoiceKind.VENDOR_REFUND)
OUTBOUND_KINDS = (InvoiceKind.VENDOR_BILL, InvoiceKind.CUSTOMER_CREDIT_NOTE)
# Spelled out so the lookup by number uses the unique index (company, kind, number).
ALL_KINDS = INBOUND_KINDS + OUTBOUND_KINDS
MAX_PROPOSALS = 3
MAX_SPLIT = 50
# Evidence weights (probability that the invoice is the one paid, given this signal alone).
P_NUMBER = 0.9
P_AMOUNT = 0.6
P_IBAN = 0.7
P_RULE_PARTNER = 0.7
P_NAME = 0.6
P_GROUP = 0.5
# A name must be at least this similar (0–100) to count.
NAME_FLOOR = 80
# Partners compared per line: the ones sharing a rare name word (blocking).
MAX_NAME_BLOCK = 200
# Several invoices of one partner adding up to the line: searched among the oldest N.
GROUP_SEARCH = 14
GROUP_MAX = 4

_NUMBER = re.compile(r"(?<![A-Z0-9])([A-Z]{1,5})[\s\-_/.]*(\d{4})[\s\-_/.]*(\d{1,8})(?!\d)")
_TOKEN = re.compile(r"[A-Z0-9][A-Z0-9\-_/.]{2,}[A-Z0-9]")
_SPACES = re.compile(r"\s+")


def normalize_iban(value: str | None) -> str:
    return _SPACES.sub("", value or "").upper()


def _company_text(message: Any) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return str(message)


# --- Proposals: data -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineData:
    """What the engine needs of a statement line."""

    id: int
    amount: Decimal
    label: str = ""
    reference: str = ""
    partner_name: str = ""
    partner_iban: str = ""
    bank_account_id: int | None = None
    booking_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """An open invoice or bill (what is left to pay on it)."""

    id: int
    number: str
    kind: str
    organization_id: int
    partner_name: str
    residual: Decimal
    due_date: dt.date | None
    supplier_reference: str = ""


@dataclass
class Proposal:
    kind: str  # "invoices" | "rule"
    score: int
    reasons: list[dict[str, Any]]
    items: list[tuple[Item, Decimal]] = field(default_factory=list)
    organization_id: int | None = None
    partner_name: str = ""
    credit: Decimal = ZERO
    rule_id: int | None = None
    rule_name: str = ""
    account_code: str = ""

    @property
    def key(self) -> str:
        """How a form or the API names this proposal."""
        if self.kind == "rule":
            return f"rule:{self.rule_id}"
        return "inv:" + ",".join(str(item.id) for item, _amount in self.items)

    @property
    def invoice_ids(self) -> list[int]:
        return [item.id for item, _amount in self.items]

    @property
    def total(self) -> Decimal:
        return sum((amount for _item, amount in self.items), ZERO)


def reason_text(reason: dict[str, Any]) -> str:
    """A reason code and its parameters, in the reader's language."""
    code, p = reason.get("code"), reason
    if code == "number":
        return _("reference contains the invoice number %(number)s") % {"number": p.get("number", "")}
    if code == "amount":
        return _("amount equal to %(number)s residual (%(amount)s)") % {"number": p.get("number", ""),
                                                                          "amount": p.get("amount", "")}  # fmt: skip
    if code == "amount_shared":
        return _("amount shared by %(n)s open items") % {"n": p.get("n", 0)}
    if code == "group":
        return _("sum of %(n)s invoices of the partner equals the amount") % {"n": p.get("n", 0)}
    if code == "iban":
        return _("IBAN known for this partner")
    if code == "name":
        return _("partner name ~ %(name)s (%(similarity)s %%)") % {"name": p.get("name", ""),
                                                                   "similarity": p.get("similarity", 0)}  # fmt: skip
    if code == "rule_partner":
        return _("partner set by rule %(rule)s") % {"rule": p.get("rule", "")}
    if code == "rule":
        return _("rule %(rule)s: post to %(account)s") % {"rule": p.get("rule", ""), "account": p.get("account", "")}
    if code == "partial":
        return _("part of the amount due (%(amount)s)") % {"amount": p.get("amount", "")}
    if code == "credit":
        return _("%(amount)s left as the partner's credit") % {"amount": p.get("amount", "")}
    return str(code)


def _score(probabilities: Iterable[float]) -> int:
    rest = 1.0
    for p in probabilities:
        rest *= 1 - max(0.0, min(p, 0.99))
    return min(99, round(100 * (1 - rest)))


def number_candidates(text: str) -> tuple[set[str], set[str]]:
    """Invoice numbers written in a text (canonical ``FA-2026-00012``) and raw tokens
    (a supplier's own number)."""
    upper = text.upper()
    numbers = {f"{prefix}-{year}-{int(n):05d}" for prefix, year, n in _NUMBER.findall(upper)}
    tokens = set(_TOKEN.findall(upper))
    return numbers, tokens


def _kinds(amount: Decimal) -> tuple[str, ...]:
    return INBOUND_KINDS if amount > 0 else OUTBOUND_KINDS


def _item(row: dict[str, Any]) -> Item:
    return Item(id=row["id"], number=row["number"], kind=row["kind"], organization_id=row["organization_id"],
                partner_name=row["partner_name"], residual=Decimal(row["residual_amount"]), due_date=row["due_date"],
                supplier_reference=row["supplier_reference"])  # fmt: skip


ITEM_FIELDS = ("id", "number", "kind", "organization_id", "partner_name", "residual_amount", "due_date",
               "supplier_reference")  # fmt: skip


def _open_items(company_id: int) -> QuerySet[Invoice]:
    return Invoice.objects.filter(company_id=company_id, state__in=OPEN_STATES, residual_amount__gt=0)


def _chunks(values: Sequence[Any], size: int = 2000) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class _NameIndex:
    names: dict[int, str]
    keys: dict[int, str]
    words: dict[str, set[int]]

    @classmethod
    def build(cls, rows: Iterable[tuple[int, str]]) -> _NameIndex:
        names: dict[int, str] = {}
        for organization_id, name in rows:
            names.setdefault(organization_id, name)
        keys = {pk: name_key(name) for pk, name in names.items()}
        words: dict[str, set[int]] = defaultdict(set)
        for pk, key in keys.items():
            for word in set(key.split()):
                if len(word) >= 2:
                    words[word].add(pk)
        return cls(names=names, keys=keys, words=words)

    def best(self, name: str) -> tuple[int, int] | None:
        """(organization id, similarity) of the closest name, if close enough."""
        key = name_key(name)
        if not key:
            return None
        block: set[int] = set()
        for word in sorted(set(key.split()), key=lambda w: len(self.words.get(w, ())))[:3]:
            found = self.words.get(word, set())
            if len(found) <= MAX_NAME_BLOCK:
                block |= found
        best: tuple[int, int] | None = None
        for pk in block:
            other = self.keys[pk]
            similarity = round(max(fuzz.ratio(key, other), fuzz.token_sort_ratio(key, other),
                                   fuzz.token_set_ratio(key, other) - 5))  # fmt: skip
            if similarity >= NAME_FLOOR and (best is None or similarity > best[1]):
                best = (pk, similarity)
        return best


@dataclass
class Context:
    """What ``propose`` loaded for a batch: reusable for several batches of one company (bench)."""

    company_id: int
    rules: list[ReconciliationRule]
    names: _NameIndex
    ibans: dict[str, int] = field(default_factory=dict)


# Name indexes per company, rebuilt when an invoice is posted (or one is added or removed):
# a partner's name is what its invoices carried when they were posted.
_NAME_INDEXES: dict[int, tuple[tuple[Any, ...], _NameIndex]] = {}


def _name_index(company_id: int) -> _NameIndex:
    stamp = Invoice.objects.filter(company_id=company_id).aggregate(last=Max("posted_at"), n=Count("id"))
    key = (stamp["last"], stamp["n"])
    cached = _NAME_INDEXES.get(company_id)
    if cached is not None and cached[0] == key:
        return cached[1]
    rows = _open_items(company_id).order_by().values_list("organization_id", "partner_name").distinct()
    index = _NameIndex.build(rows)
    _NAME_INDEXES[company_id] = (key, index)
    return index


def load_context(company_id: int) -> Context:
    """The rules and the names of the partners with open items (2 queries, 3 when the names
    changed since the last call)."""
    rules = list(
        ReconciliationRule.objects.filter(company_id=company_id, is_active=True)
        .select_related("account", "organization")
        .order_by("sequence", "id")
    )
    return Context(company_id=company_id, rules=rules, names=_name_index(company_id))


def rule_matches(rule: ReconciliationRule, line: LineData) -> bool:
    if rule.bank_account_id and rule.bank_account_id != line.bank_account_id:
        return False
    if rule.direction == RuleDirection.INBOUND and line.amount <= 0:
        return False
    if rule.direction == RuleDirection.OUTBOUND and line.amount >= 0:
        return False
    size = abs(line.amount)
    if rule.amount_min is not None and size < Decimal(rule.amount_min):
        return False
    if rule.amount_max is not None and size > Decimal(rule.amount_max):
        return False
    text = f"{line.label} {line.reference}"
    if rule.label_contains and rule.label_contains.casefold() not in text.casefold():
        return False
    if rule.label_regex:
        try:
            if not re.search(rule.label_regex, text, re.IGNORECASE):
                return False
        except re.error:
            return False
    if rule.partner_iban and normalize_iban(rule.partner_iban) != normalize_iban(line.partner_iban):
        return False
    return bool(rule.label_contains or rule.label_regex or rule.partner_iban or rule.amount_min is not None
                or rule.amount_max is not None)  # fmt: skip


def _groups(items: list[Item], target: Decimal) -> list[Item] | None:
    """Several items whose amounts due add up to ``target``: all of them, or 2–4 of the oldest
    (in integer cents, the last one of each combination found by a set lookup)."""
    goal = int(target * 100)
    cents = [(int(i.residual * 100), i) for i in items]
    if len(items) >= 2 and sum(c for c, _i in cents) == goal:
        return items
    pool = [(c, i) for c, i in sorted(cents, key=lambda ci: (ci[1].due_date or dt.date.max, ci[1].id)) if c < goal]
    pool = pool[:GROUP_SEARCH]
    if len(pool) < 2:
        return None
    position: dict[int, int] = {}
    for index, (c, _i) in enumerate(pool):
        position.setdefault(c, index)
    for size in range(2, min(GROUP_MAX, len(pool)) + 1):
        for head in itertools.combinations(range(len(pool)), size - 1):
            rest = goal - sum(pool[k][0] for k in head)
            last = position.get(rest)
            if last is not None and last > head[-1]:
                return [pool[k][1] for k in (*head, last)]
    return None


def propose(
    company_id: int, lines: Sequence[LineData], *, context: Context | None = None, limit: int = MAX_PROPOSALS
) -> dict[int, list[Proposal]]:
    """Scored proposals for each line, best first (at most ``limit``)."""
    context = context or load_context(company_id)
    result: dict[int, list[Proposal]] = {line.id: [] for line in lines}
    if not lines:
        return result
    texts = {line.id: f"{line.label} {line.reference}" for line in lines}
    found_numbers: dict[int, set[str]] = {}
    found_tokens: dict[int, set[str]] = {}
    for line in lines:
        found_numbers[line.id], found_tokens[line.id] = number_candidates(texts[line.id])
    all_numbers = sorted(set().union(*found_numbers.values()))
    all_tokens = sorted(set().union(*found_tokens.values()))
    by_number: dict[str, list[Item]] = defaultdict(list)
    by_supplier_ref: dict[str, list[Item]] = defaultdict(list)
    items: dict[int, Item] = {}
    base = _open_items(company_id)
    # 1. Invoice numbers (and supplier numbers) in the text.
    for part in _chunks(all_numbers):
        for row in base.filter(kind__in=ALL_KINDS, number__in=list(part)).values(*ITEM_FIELDS):
            item = items.setdefault(row["id"], _item(row))
            by_number[item.number].append(item)
    for part in _chunks(all_tokens):
        for row in base.filter(kind__in=OUTBOUND_KINDS, supplier_reference__in=list(part)).values(*ITEM_FIELDS):
            item = items.setdefault(row["id"], _item(row))
            by_supplier_ref[item.supplier_reference.upper()].append(item)
    # 2. Amounts due equal to a line's amount.
    by_amount: dict[tuple[bool, Decimal], list[Item]] = defaultdict(list)
    amounts = sorted({abs(line.amount) for line in lines if line.amount})
    for part in _chunks(amounts):
        for row in base.filter(residual_amount__in=list(part)).values(*ITEM_FIELDS):
            item = items.setdefault(row["id"], _item(row))
            by_amount[(item.kind in INBOUND_KINDS, item.residual)].append(item)
    # 3. Partners: IBAN, rule, name.
    ibans = sorted({normalize_iban(line.partner_iban) for line in lines if line.partner_iban})
    known_iban: dict[str, int] = {}
    for part in _chunks(ibans):
        for iban, organization_id in (
            PartnerBankAccount.objects.filter(company_id=company_id, iban__in=list(part))
            .order_by("times_seen", "id")
            .values_list("iban", "organization_id")
        ):
            known_iban[iban] = organization_id
    partners: dict[int, list[tuple[int, float, dict[str, Any]]]] = {}
    post_rules: dict[int, ReconciliationRule] = {}
    for line in lines:
        evidence: list[tuple[int, float, dict[str, Any]]] = []
        iban_org = known_iban.get(normalize_iban(line.partner_iban))
        if iban_org:
            evidence.append((iban_org, P_IBAN, {"code": "iban"}))
        for rule in context.rules:
            if rule_matches(rule, line):
                if rule.action == RuleAction.POST and rule.account_id and line.id not in post_rules:
                    post_rules[line.id] = rule
                elif rule.action == RuleAction.PARTNER and rule.organization_id:
                    evidence.append((rule.organization_id, P_RULE_PARTNER, {"code": "rule_partner",
                                                                            "rule": rule.name}))  # fmt: skip
        if line.partner_name:
            best = context.names.best(line.partner_name)
            if best is not None:
                weight = P_NAME * (best[1] - NAME_FLOOR + 5) / (100 - NAME_FLOOR + 5)
                evidence.append((best[0], weight, {"code": "name", "name": context.names.names.get(best[0], ""),
                                                   "similarity": best[1]}))  # fmt: skip
        partners[line.id] = evidence
    # 4. The open items of the partners found.
    partner_ids = sorted({pk for evidence in partners.values() for pk, _p, _r in evidence})
    by_partner: dict[int, list[Item]] = defaultdict(list)
    for part in _chunks(partner_ids, 1000):
        for row in base.filter(organization_id__in=list(part)).values(*ITEM_FIELDS).order_by("due_date", "id"):
            item = items.setdefault(row["id"], _item(row))
            by_partner[item.organization_id].append(item)
    names = context.names.names
    # Scoring, in memory.
    for line in lines:
        if not line.amount:
            continue
        inbound = line.amount > 0
        kinds = _kinds(line.amount)
        size = abs(line.amount)
        proposals: list[Proposal] = []
        post_rule = post_rules.get(line.id)
        if post_rule is not None:
            code = post_rule.account.code if post_rule.account else ""
            reason = {"code": "rule", "rule": post_rule.name, "account": code}
            proposals.append(Proposal(kind="rule", score=95, rule_id=post_rule.pk, rule_name=post_rule.name,
                                      account_code=code, reasons=[reason]))  # fmt: skip
        evidence_by_org: dict[int, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
        for organization_id, p, reason in partners[line.id]:
            evidence_by_org[organization_id].append((p, reason))
        numbered: list[Item] = []
        for number in found_numbers[line.id]:
            numbered += [i for i in by_number.get(number, ()) if i.kind in kinds]
        for token in found_tokens[line.id]:
            numbered += [i for i in by_supplier_ref.get(token, ()) if i.kind in kinds]
        numbered = list({i.id: i for i in numbered}.values())
        same_amount = by_amount.get((inbound, size), [])
        candidates: dict[int, Item] = {i.id: i for i in numbered}
        if len(same_amount) <= 50:
            candidates |= {i.id: i for i in same_amount}
        for organization_id in evidence_by_org:
            candidates |= {i.id: i for i in by_partner.get(organization_id, ()) if i.kind in kinds}
        numbered_ids = {i.id for i in numbered}
        for item in candidates.values():
            probabilities: list[float] = []
            reasons: list[dict[str, Any]] = []
            if item.id in numbered_ids:
                probabilities.append(P_NUMBER)
                reasons.append({"code": "number", "number": item.number or item.supplier_reference})
            exact = item.residual == size
            if exact:
                share = len(same_amount)
                probabilities.append(P_AMOUNT / share if share > 1 else P_AMOUNT)
                reasons.append({"code": "amount", "number": item.number, "amount": str(item.residual)})
            for p, reason in evidence_by_org.get(item.organization_id, ()):
                probabilities.append(p)
                reasons.append(reason)
            if not probabilities:
                continue
            amount = min(size, item.residual)
            credit = size - amount
            if not exact:
                if item.id not in numbered_ids and credit == 0:
                    # Partner only, part of an invoice: weak.
                    probabilities = [p / 2 for p in probabilities]
                if amount < item.residual:
                    reasons.append({"code": "partial", "amount": str(amount)})
                if credit:
                    reasons.append({"code": "credit", "amount": str(credit)})
                probabilities = [p * 0.8 for p in probabilities]
            proposals.append(Proposal(kind="invoices", score=_score(probabilities), reasons=reasons,
                                      items=[(item, amount)], organization_id=item.organization_id,
                                      partner_name=item.partner_name or names.get(item.organization_id, ""),
                                      credit=credit))  # fmt: skip
        # Several invoices of one partner.
        group_sources: dict[int, list[Item]] = defaultdict(list)
        for item in numbered:
            group_sources[item.organization_id].append(item)
        for organization_id, found in list(group_sources.items()):
            group = _groups(found, size) if len(found) >= 2 else None
            if group:
                reasons = [{"code": "number", "number": i.number} for i in group]
                reasons.append({"code": "group", "n": len(group)})
                probabilities = [P_NUMBER, P_AMOUNT] + [p for p, _r in evidence_by_org.get(organization_id, ())]
                reasons += [r for _p, r in evidence_by_org.get(organization_id, ())]
                proposals.append(_group_proposal(group, probabilities, reasons, names))
        for organization_id, org_evidence in evidence_by_org.items():
            pool = [i for i in by_partner.get(organization_id, ()) if i.kind in kinds]
            group = _groups(pool, size)
            if group:
                reasons = [{"code": "group", "n": len(group)}] + [r for _p, r in org_evidence]
                proposals.append(_group_proposal(group, [P_GROUP] + [p for p, _r in org_evidence], reasons, names))
        proposals.sort(key=lambda p: (-p.score, len(p.items), p.items[0][0].due_date or dt.date.max
                                      if p.items else dt.date.min, p.key))  # fmt: skip
        seen: set[str] = set()
        for proposal in proposals:
            if proposal.key in seen:
                continue
            seen.add(proposal.key)
            result[line.id].append(proposal)
            if len(result[line.id]) >= limit:
                break
    return result


def _group_proposal(group: list[Item], probabilities: list[float], reasons: list[dict[str, Any]],
                    names: dict[int, str]) -> Proposal:  # fmt: skip
    first = group[0]
    ordered = sorted(group, key=lambda i: (i.due_date or dt.date.max, i.id))
    return Proposal(kind="invoices", score=_score(probabilities), reasons=reasons,
                    items=[(i, i.residual) for i in ordered], organization_id=first.organization_id,
                    partner_name=first.partner_name or names.get(first.organization_id, ""))  # fmt: skip


def line_data(line: BankStatementLine) -> LineData:
    return LineData(id=line.pk, amount=Decimal(line.amount), label=line.label, reference=line.reference,
                    partner_name=line.partner_name, partner_iban=line.partner_iban,
                    bank_account_id=line.bank_account_id, booking_date=line.booking_date)  # fmt: skip


# --- Reads ------------------------------------------------------------------------------


def bank_accounts(actor: Actor) -> QuerySet[BankAccount]:
    require(actor, VIEW)
    return BankAccount.objects.filter(company_id=actor.company_id, active=True).order_by("name", "id")


def statement_lines(actor: Actor, *, state: str = LineState.OPEN, bank_account_id: int | None = None,
                    q: str = "") -> QuerySet[BankStatementLine]:  # fmt: skip
    """The company's statement lines (open ones by default), oldest first."""
    require(actor, VIEW)
    if state and state not in LineState.values:
        raise ValidationFailed(
            "invalid_filter",
            fields={"state": [_("Choose among: %(values)s.") % {"values": ", ".join(LineState.values)}]},
        )
    rows = BankStatementLine.objects.filter(company_id=actor.company_id).select_related("bank_account", "statement")
    if state:
        rows = rows.filter(state=state)
    if bank_account_id:
        rows = rows.filter(bank_account_id=bank_account_id)
    if q:
        text = q.strip()[:100]
        rows = rows.filter(Q(label__icontains=text) | Q(reference__icontains=text) | Q(partner_name__icontains=text))
    return rows.order_by("booking_date", "id")


def statement_line_get(actor: Actor, line_id: int) -> BankStatementLine:
    require(actor, VIEW)
    found = (
        BankStatementLine.objects.filter(company_id=actor.company_id, pk=line_id)
        .select_related("bank_account", "statement", "journal_entry")
        .first()
    )
    if found is None:
        raise NotFound("statement_line_not_found")
    return found


def proposals_for(actor: Actor, lines: Sequence[BankStatementLine], *, limit: int = MAX_PROPOSALS
                  ) -> dict[int, list[Proposal]]:  # fmt: skip
    require(actor, VIEW)
    assert actor.company_id is not None
    open_lines = [line_data(line) for line in lines if line.state == LineState.OPEN]
    found = propose(actor.company_id, open_lines, limit=limit)
    return {line.pk: found.get(line.pk, []) for line in lines}


def active_matches(actor: Actor, line_ids: Iterable[int]) -> dict[int, StatementLineMatch]:
    require(actor, VIEW)
    rows = StatementLineMatch.objects.filter(company_id=actor.company_id, line_id__in=list(line_ids), is_active=True)
    return {m.line_id: m for m in rows.select_related("rule", "journal_entry", "payment", "account")}


# --- Services ---------------------------------------------------------------------------


def _line_locked(actor: Actor, line_id: Any) -> BankStatementLine:
    errors: dict[str, list[str]] = {}
    pk = ledger._parse_id(errors, "line_id", line_id, True)
    if errors:
        raise ValidationFailed(fields=errors)
    found = (
        BankStatementLine.objects.select_for_update(of=("self",))
        .select_related("bank_account", "bank_account__journal")
        .filter(company_id=actor.company_id, pk=pk)
        .first()
    )
    if found is None:
        raise NotFound("statement_line_not_found")
    return found


def _already(line: BankStatementLine, kind: str) -> StatementLineMatch:
    """The line is not open: the same action repeated (a double click) gets the match it made;
    another action is a conflict."""
    match = StatementLineMatch.objects.filter(line=line, is_active=True).first()
    if match is None or match.kind != kind:
        raise Conflict("line_not_open", _("This statement line is already handled."))
    match.replayed = True  # type: ignore[attr-defined]
    return match


def _attempt(line: BankStatementLine) -> int:
    return StatementLineMatch.objects.filter(line=line).count() + 1


def _mark(line: BankStatementLine, state: str, entry_id: int | None) -> None:
    now = timezone.now()
    BankStatementLine.objects.filter(pk=line.pk).update(
        state=state, reconciled_at=now if state == LineState.RECONCILED else None, journal_entry_id=entry_id,
        updated_at=now,
    )  # fmt: skip
    line.state, line.journal_entry_id = state, entry_id


def _learn_iban(line: BankStatementLine, organization_id: int) -> None:
    iban = normalize_iban(line.partner_iban)
    if not iban or len(iban) < 15:
        return
    known = PartnerBankAccount.objects.filter(company_id=line.company_id, iban=iban, organization_id=organization_id)
    if not known.update(times_seen=F("times_seen") + 1, last_seen=line.booking_date, updated_at=timezone.now()):
        PartnerBankAccount.objects.bulk_create(
            [PartnerBankAccount(company_id=line.company_id, organization_id=organization_id, iban=iban,
                                last_seen=line.booking_date)],
            ignore_conflicts=True,
        )  # fmt: skip


def _parse_allocations(raw: Any) -> list[tuple[int, Decimal | None]]:
    """``[{invoice_id, amount}]``; an empty amount (``None``) means "what is due on it"."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ValidationFailed(fields={"allocations": [_("Choose at least one invoice.")]})
    if len(raw) > MAX_SPLIT:
        raise ValidationFailed(fields={"allocations": [_("At most %(n)s invoices.") % {"n": MAX_SPLIT}]})
    parsed: list[tuple[int, Decimal | None]] = []
    seen: set[int] = set()
    for index, item in enumerate(raw):
        prefix = f"allocations.{index}."
        if not isinstance(item, dict):
            errors.setdefault(f"allocations.{index}", []).append(_("Enter an invoice and an amount."))
            continue
        ledger._unknown(errors, item, ("invoice_id", "amount"), prefix)
        invoice_id = ledger._parse_id(errors, prefix + "invoice_id", item.get("invoice_id"), True)
        amount: Decimal | None = None
        if item.get("amount") not in (None, ""):
            amount = ledger._parse_amount(errors, prefix + "amount", item.get("amount"))
        if prefix + "amount" not in errors and amount is not None and amount <= 0:
            errors.setdefault(prefix + "amount", []).append(_("Enter an amount greater than zero."))
        if invoice_id is not None and invoice_id in seen:
            errors.setdefault(prefix + "invoice_id", []).append(_("This invoice is already in the list."))
        if invoice_id is not None:
            seen.add(invoice_id)
            parsed.append((invoice_id, amount))
    if errors:
        raise ValidationFailed(fields=errors)
    return parsed


@transaction.atomic
def reconcile_invoices(*, actor: Actor, line_id: Any, allocations: Any, remainder: str = "credit",
                       reasons: Any = None, score: int = 0) -> StatementLineMatch:  # fmt: skip
    """Reconcile a statement line with invoices: ``allocations`` is ``[{invoice_id, amount}]``
    (an amount of ``None`` or "" takes what is due, up to what is left of the line). What the
    line leaves over stays as the partner's credit (``remainder="credit"``) or is refused
    (``"refuse"``). Creates the payment through the accounting service, which allocates it and
    matches the partner lines; marks the line reconciled with the payment's entry."""
    require(actor, MANAGE)
    assert actor.company_id is not None
    if remainder not in ("credit", "refuse"):
        raise ValidationFailed(fields={"remainder": [_("Choose credit or refuse.")]})
    parsed = _parse_allocations(allocations)
    line = _line_locked(actor, line_id)
    if line.state != LineState.OPEN:
        return _already(line, MatchKind.PAYMENT)
    amount = Decimal(line.amount)
    if not amount:
        raise ValidationFailed(fields={"line_id": [_("This line has no amount.")]})
    size = abs(amount)
    direction = payments.PaymentDirection.INBOUND if amount > 0 else payments.PaymentDirection.OUTBOUND
    ids = [pk for pk, _a in parsed]
    invoices = Invoice.objects.filter(company_id=actor.company_id, pk__in=ids).in_bulk()
    errors: dict[str, list[str]] = {}
    plan: list[tuple[int, Decimal]] = []
    left = size
    for index, (pk, part) in enumerate(parsed):
        invoice = invoices.get(pk)
        if invoice is None:
            errors.setdefault(f"allocations.{index}.invoice_id", []).append(_("Unknown invoice."))
            continue
        if invoice.kind not in _kinds(amount):
            errors.setdefault(f"allocations.{index}.invoice_id", []).append(
                _("Money received settles customer invoices and vendor refunds; money paid out, vendor bills and "
                  "credit notes."))  # fmt: skip
            continue
        if part is None:
            part = min(Decimal(invoice.residual_amount), left)
            if part <= 0:
                errors.setdefault(f"allocations.{index}.amount", []).append(_("Nothing is left of the line for "
                                                                                "this invoice."))  # fmt: skip
                continue
        plan.append((pk, part))
        left -= part
    organizations = {invoices[pk].organization_id for pk, _p in plan}
    if len(organizations) > 1:
        errors.setdefault("allocations", []).append(_("The invoices of one line belong to one partner."))
    total = sum((part for _pk, part in plan), ZERO)
    if total > size:
        errors.setdefault("allocations", []).append(
            _("The allocations (%(total)s) exceed the line (%(amount)s).") % {"total": total, "amount": size}
        )
    elif total < size and remainder == "refuse":
        errors.setdefault("allocations", []).append(
            _("%(left)s of the line is not allocated.") % {"left": size - total}
        )
    if errors:
        raise ValidationFailed(fields=errors)
    organization_id = organizations.pop()
    key = f"banking:line:{line.pk}:{_attempt(line)}"
    # The site the invoices share, which the payment takes by itself; else the bank account's (if active).
    site_id = None
    if payments.common_site([invoices[pk] for pk, _p in plan]) is None and line.bank_account.site_id:
        site_id = Site.objects.filter(pk=line.bank_account.site_id, is_active=True).values_list("pk", flat=True).first()
    payment = payments.payment_register(
        actor=actor, organization_id=organization_id, amount=size, date=line.booking_date,
        journal_id=line.bank_account.journal_id, method=payments.PaymentMethod.TRANSFER,
        reference=(line.reference or line.label)[:140], direction=direction,
        allocations=[{"invoice_id": pk, "amount": part} for pk, part in plan], idempotency_key=key, site_id=site_id,
    )  # fmt: skip
    numbers = {pk: invoices[pk].number for pk in invoices}
    match = StatementLineMatch.objects.create(
        company_id=actor.company_id, line=line, kind=MatchKind.PAYMENT, payment=payment,
        journal_entry_id=payment.journal_entry_id, score=max(0, min(int(score or 0), 100)),
        invoices=[{"invoice_id": pk, "number": numbers[pk], "amount": str(part)} for pk, part in plan],
        reasons=reasons if isinstance(reasons, list) else [], credit=size - total, created_by_id=actor.user_id,
    )  # fmt: skip
    _mark(line, LineState.RECONCILED, payment.journal_entry_id)
    _learn_iban(line, organization_id)
    audit.record(actor, "statement_line.reconcile", line, changes={
        "state": ["open", "reconciled"], "payment": [None, payment.pk],
        "invoices": [None, [[pk, part] for pk, part in plan]], "credit": [None, size - total],
    })  # fmt: skip
    events.publish("banking.line_reconciled", company_id=actor.company_id, payload={
        "line_id": line.pk, "match_id": match.pk, "kind": match.kind, "payment_id": payment.pk,
        "entry_id": payment.journal_entry_id,
    })  # fmt: skip
    return match


def accept(*, actor: Actor, line_id: Any, proposal: str) -> StatementLineMatch:
    """Accept a proposal by its key (``inv:12,15`` or ``rule:3``), as the engine shows it now."""
    require(actor, MANAGE)
    if not isinstance(proposal, str) or not re.fullmatch(r"(inv:\d+(,\d+){0,49}|rule:\d+)", proposal):
        raise ValidationFailed(fields={"proposal": [_("Choose a proposal.")]})
    if proposal.startswith("rule:"):
        return apply_rule(actor=actor, line_id=line_id, rule_id=int(proposal[5:]))
    ids = [int(part) for part in proposal[4:].split(",")]
    line = statement_line_get(actor, ledger._parse_id({}, "line_id", line_id, True) or 0)
    found = propose(actor.company_id or 0, [line_data(line)], limit=20).get(line.pk, [])
    shown = next((p for p in found if p.key == proposal), None)
    return reconcile_invoices(
        actor=actor, line_id=line.pk, allocations=[{"invoice_id": pk, "amount": None} for pk in ids],
        reasons=shown.reasons if shown else [], score=shown.score if shown else 0,
    )  # fmt: skip


def _vat_split(amount: Decimal, rate: str) -> tuple[Decimal, Decimal]:
    if not rate:
        return amount, ZERO
    tax = quantize(amount * Decimal(rate) / (Decimal(100) + Decimal(rate)))
    return amount - tax, tax


def _counterpart_entry(actor: Actor, line: BankStatementLine, *, account_id: Any, label: Any, vat_rate: str,
                       ) -> JournalEntry:  # fmt: skip
    errors: dict[str, list[str]] = {}
    account_pk = ledger._parse_id(errors, "account_id", account_id, True)
    text = (
        ledger._required_text(errors, "label", label, 200, False)
        or line.label[:200]
        or _company_text(_("Bank statement line"))
    )
    if vat_rate not in ("", "20", "10", "5.5", "2.1"):
        errors.setdefault("vat_rate", []).append(_("Choose among: %(values)s.") % {"values": "20, 10, 5.5, 2.1"})
    account = None
    if account_pk is not None:
        account = Account.objects.filter(company_id=actor.company_id, pk=account_pk, is_active=True).first()
        if account is None:
            errors.setdefault("account_id", []).append(_("Unknown or inactive account."))
        elif (
            account.type in (AccountType.RECEIVABLE, AccountType.PAYABLE) or account.pk == line.bank_account.account_id
        ):
            errors.setdefault("account_id", []).append(
                _("Choose another account: customers and suppliers are reconciled with their invoices.")
            )
    if errors:
        raise ValidationFailed(fields=errors)
    assert account is not None
    amount = Decimal(line.amount)
    size = abs(amount)
    net, tax = _vat_split(size, vat_rate)
    inbound = amount > 0
    bank_side, other_side = ("debit", "credit") if inbound else ("credit", "debit")
    lines: list[dict[str, Any]] = [{"account_id": line.bank_account.account_id, "label": text, bank_side: size},
                                   {"account_id": account.pk, "label": text, other_side: net}]  # fmt: skip
    if tax:
        code = "44571" if inbound else "44566"
        vat_account = Account.objects.filter(company_id=actor.company_id, code=code, is_active=True).first()
        if vat_account is None:
            raise ValidationFailed(fields={"vat_rate": [_("Account %(code)s is missing from the chart.")
                                                        % {"code": code}]})  # fmt: skip
        lines.append({"account_id": vat_account.pk, "label": text, other_side: tax})
    entry = ledger.create_entry(actor, journal_id=line.bank_account.journal_id, date=line.booking_date, label=text,
                                ref=(line.reference or "")[:100], lines=lines, source_type=SOURCE_TYPE,
                                source_id=str(line.pk), site_id=line.bank_account.site_id)  # fmt: skip
    return ledger.post_entry(actor, ledger._entry_locked(actor, entry.pk))


@transaction.atomic
def reconcile_manual(*, actor: Actor, line_id: Any, account_id: Any, label: Any = "", vat_rate: Any = "",
                     ) -> StatementLineMatch:  # fmt: skip
    """Post the line against an account (bank fees 627, interest 6616…), optionally with VAT."""
    require(actor, MANAGE)
    line = _line_locked(actor, line_id)
    if line.state != LineState.OPEN:
        return _already(line, MatchKind.MANUAL)
    entry = _counterpart_entry(actor, line, account_id=account_id, label=label, vat_rate=str(vat_rate or ""))
    return _record_entry_match(actor, line, entry, kind=MatchKind.MANUAL, rule=None)


def _record_entry_match(actor: Actor, line: BankStatementLine, entry: JournalEntry, *, kind: str,
                        rule: ReconciliationRule | None) -> StatementLineMatch:  # fmt: skip
    counterpart = (
        JournalLine.objects.filter(entry=entry).exclude(account_id=line.bank_account.account_id)
        .order_by("sequence").values_list("account_id", flat=True).first()
    )  # fmt: skip
    match = StatementLineMatch.objects.create(
        company_id=actor.company_id, line=line, kind=kind, journal_entry=entry, rule=rule, account_id=counterpart,
        reasons=[{"code": "rule", "rule": rule.name, "account": rule.account.code if rule.account else ""}]
        if rule else [], created_by_id=actor.user_id,
    )  # fmt: skip
    _mark(line, LineState.RECONCILED, entry.pk)
    audit.record(actor, f"statement_line.{kind}", line, changes={"state": ["open", "reconciled"],
                 "entry": [None, entry.number], "rule": [None, rule.pk if rule else None]})  # fmt: skip
    events.publish("banking.line_reconciled", company_id=actor.company_id, payload={
        "line_id": line.pk, "match_id": match.pk, "kind": kind, "entry_id": entry.pk,
        "rule_id": rule.pk if rule else None,
    })  # fmt: skip
    return match


@transaction.atomic
def apply_rule(*, actor: Actor, line_id: Any, rule_id: Any) -> StatementLineMatch:
    """Reconcile one line with a "post to an account" rule (it must match the line)."""
    require(actor, MANAGE)
    line = _line_locked(actor, line_id)
    if line.state != LineState.OPEN:
        return _already(line, MatchKind.RULE)
    rule = (
        ReconciliationRule.objects.filter(company_id=actor.company_id, pk=ledger._parse_id({}, "rule_id", rule_id,
                                                                                            True) or 0)
        .select_related("account").first()
    )  # fmt: skip
    if rule is None:
        raise NotFound("rule_not_found")
    if rule.action != RuleAction.POST or not rule.account_id or not rule_matches(rule, line_data(line)):
        raise ValidationFailed(fields={"proposal": [_("This rule does not apply to this line.")]})
    entry = _counterpart_entry(actor, line, account_id=rule.account_id, label=rule.entry_label or line.label[:200],
                               vat_rate=rule.vat_rate)  # fmt: skip
    return _record_entry_match(actor, line, entry, kind=MatchKind.RULE, rule=rule)


def apply_rules(*, actor: Actor, bank_account_id: int | None = None, line_ids: Iterable[int] | None = None,
                limit: int = 5000) -> int:  # fmt: skip
    """Apply the "post to an account" rules to the open lines they match (each line in its own
    transaction: one failing line does not stop the others). Returns how many were reconciled."""
    require(actor, MANAGE)
    assert actor.company_id is not None
    rules = [r for r in load_context(actor.company_id).rules if r.action == RuleAction.POST and r.account_id]
    if not rules:
        return 0
    rows = BankStatementLine.objects.filter(company_id=actor.company_id, state=LineState.OPEN)
    if bank_account_id:
        rows = rows.filter(bank_account_id=bank_account_id)
    if line_ids is not None:
        rows = rows.filter(pk__in=list(line_ids))
    done = 0
    for line in rows.order_by("booking_date", "id")[:limit]:
        data = line_data(line)
        rule = next((r for r in rules if rule_matches(r, data)), None)
        if rule is None:
            continue
        try:
            apply_rule(actor=actor, line_id=line.pk, rule_id=rule.pk)
        except (ValidationFailed, Conflict):
            continue
        done += 1
    return done


@transaction.atomic
def ignore(*, actor: Actor, line_id: Any, reason: Any) -> StatementLineMatch:
    """Set a line aside (an internal transfer booked elsewhere, a duplicate…), with a reason."""
    require(actor, MANAGE)
    errors: dict[str, list[str]] = {}
    text = ledger._required_text(errors, "reason", reason, 200, True)
    if errors:
        raise ValidationFailed(fields=errors)
    line = _line_locked(actor, line_id)
    if line.state != LineState.OPEN:
        return _already(line, MatchKind.IGNORED)
    match = StatementLineMatch.objects.create(company_id=actor.company_id, line=line, kind=MatchKind.IGNORED,
                                              note=text, created_by_id=actor.user_id)  # fmt: skip
    _mark(line, LineState.IGNORED, None)
    audit.record(actor, "statement_line.ignore", line, changes={"state": ["open", "ignored"], "reason": [None, text]})
    return match


def _reverse_entry(actor: Actor, entry_id: int, day: dt.date) -> JournalEntry:
    original = ledger._entry_locked(actor, entry_id)
    existing = JournalEntry.objects.filter(reversal_of=original).first()
    if existing is not None:
        return existing
    lines = [
        {"account_id": row["account_id"], "partner_account_id": row["partner_account_id"], "label": row["label"],
         "debit": row["credit"], "credit": row["debit"], "due_date": row["due_date"], "site_id": row["site_id"]}
        for row in JournalLine.objects.filter(entry=original).order_by("sequence", "id").values(*ledger.LINE_FIELDS)
    ]  # fmt: skip
    label = _company_text(_("Reversal of %(number)s") % {"number": original.number})[:200]
    reversal = ledger.create_entry(actor, journal_id=original.journal_id, date=day, label=label, ref=original.number,
                                   lines=lines, source_type=original.source_type, source_id=original.source_id,
                                   site_id=original.site_id)  # fmt: skip
    JournalEntry.objects.filter(pk=reversal.pk).update(reversal_of=original)
    return ledger.post_entry(actor, ledger._entry_locked(actor, reversal.pk))


@transaction.atomic
def undo(*, actor: Actor, line_id: Any, date: Any = None) -> BankStatementLine:
    """Undo the line's reconciliation: the payment is cancelled (its entry reversed, the
    invoices owe again), a manual or rule entry is reversed, an ignored line is open again."""
    require(actor, MANAGE)
    errors: dict[str, list[str]] = {}
    day = ledger._parse_date(errors, "date", date, required=False) or timezone.localdate()
    if errors:
        raise ValidationFailed(fields=errors)
    line = _line_locked(actor, line_id)
    match = StatementLineMatch.objects.select_for_update().filter(line=line, is_active=True).first()
    if match is None or line.state == LineState.OPEN:
        raise Conflict("line_not_reconciled", _("This statement line is not reconciled."))
    reversal_id = None
    if match.kind == MatchKind.PAYMENT and match.payment_id:
        payment = payments.payment_get(actor, match.payment_id)
        if payment.state == PaymentState.POSTED:
            payment = payments.payment_cancel(actor=actor, payment_id=payment.pk, date=day)
        reversal_id = payment.cancel_entry_id
    elif match.kind in (MatchKind.MANUAL, MatchKind.RULE) and match.journal_entry_id:
        reversal_id = _reverse_entry(actor, match.journal_entry_id, day).pk
    StatementLineMatch.objects.filter(pk=match.pk).update(
        is_active=False, reversal_entry_id=reversal_id, undone_at=timezone.now(), undone_by_id=actor.user_id,
        updated_at=timezone.now(),
    )  # fmt: skip
    before = line.state
    _mark(line, LineState.OPEN, None)
    audit.record(actor, "statement_line.undo", line, changes={"state": [before, "open"], "kind": [match.kind, None],
                 "reversal": [None, reversal_id]})  # fmt: skip
    events.publish("banking.line_unreconciled", company_id=actor.company_id, payload={
        "line_id": line.pk, "match_id": match.pk, "reversal_id": reversal_id,
    })  # fmt: skip
    return line


def known_organization(actor: Actor, organization_id: int) -> Organization:
    found = Organization.objects.filter(company_id=actor.company_id, pk=organization_id).first()
    if found is None:
        raise NotFound("organization_not_found")
    return found


# --- After an import --------------------------------------------------------------------

RULES_SUBSCRIBER = "banking.reconcile.apply_rules"


def on_statement_imported(event: Any) -> None:
    """Outbox subscriber of ``banking.statement_imported``: apply the "post to an account"
    rules to the new lines, as the user who imported them (if they may still reconcile)."""
    from comptoir.banking.models import BankStatement
    from comptoir.kernel.context import Channel
    from comptoir.org.selectors import build_actor

    statement = BankStatement.objects.select_related("imported_by").filter(pk=event.payload.get("statement_id")).first()
    if statement is None or statement.imported_by is None:
        return
    actor = build_actor(statement.imported_by, statement.company_id, Channel.TASK)
    if actor.company_id != statement.company_id or not actor.has_perm(MANAGE):
        return
    line_ids = list(BankStatementLine.objects.filter(statement=statement).values_list("pk", flat=True))
    apply_rules(actor=actor, line_ids=line_ids)


def register_subscribers() -> None:
    """Called by the app's ``ready()``."""
    events.subscribe("banking.statement_imported", on_statement_imported, key=RULES_SUBSCRIBER)

"""Payments: register, use a credit, cancel — and their reads.

A payment is booked by one posted entry in a bank or cash journal: for money received,
debit the journal's account (512) and credit the customer's account (411, one line per
invoice settled plus one for what is left, the customer's credit); mirrored for money paid
out. Each invoice's partner lines are matched with the payment's line for it (partial until
the invoice is paid). VAT on receipts (services) moves from the waiting account (44574,
purchases 44564) to the chargeable one (44571, 44566) in proportion to what is paid.

Safety (docs/architecture.md, "Payments"):

* **Idempotency**: a request may carry a key, unique per company. The key is looked up
  first, again once the invoices are locked, and the insert itself is guarded by the unique
  constraint (inside a savepoint): a double click, a retry or a concurrent identical request
  gets the first payment back (``payment.replayed``); the same key with another content is
  a ``Conflict``.
* **Locking order**: invoices (by id) → the partner account (matching codes) → the posting
  counter (``post_entry``). Cancelling and using a credit lock the payment first, then the
  same order. No two transactions wait for each other in opposite orders.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import credit_links, matching, vat
from comptoir.accounting import currency as currency_services
from comptoir.accounting import invoices as invoice_services
from comptoir.accounting import services as ledger
from comptoir.accounting.models import (
    Account,
    Invoice,
    InvoiceKind,
    InvoiceState,
    Journal,
    JournalEntry,
    JournalKind,
    JournalLine,
    PartnerKind,
)
from comptoir.accounting.models_payments import (
    Payment,
    PaymentAllocation,
    PaymentDirection,
    PaymentMethod,
    PaymentState,
)
from comptoir.contacts.models import Organization
from comptoir.kernel import audit, events, statements
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.money import quantize
from comptoir.kernel.statements import Select, Update
from comptoir.org.models import Company

VIEW = "accounting.view_payments"
REGISTER = "accounting.register_payments"
SOURCE_TYPE = "accounting.payment"
MAX_ALLOCATIONS = 200
MAX_KEY = 100
ZERO = Decimal(0)
OPEN_STATES = (InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID)
# What a payment settles: money received settles what the partner owes us, and back.
SETTLES: dict[str, tuple[str, ...]] = {
    PaymentDirection.INBOUND: (InvoiceKind.CUSTOMER_INVOICE, InvoiceKind.VENDOR_REFUND),
    PaymentDirection.OUTBOUND: (InvoiceKind.VENDOR_BILL, InvoiceKind.CUSTOMER_CREDIT_NOTE),
}
# Without invoices (or with "auto"), a payment received is a customer's, one paid a supplier's.
DEFAULT_KIND: dict[str, str] = {
    PaymentDirection.INBOUND: PartnerKind.CUSTOMER,
    PaymentDirection.OUTBOUND: PartnerKind.SUPPLIER,
}
AUTO_KINDS: dict[str, str] = {PaymentDirection.INBOUND: InvoiceKind.CUSTOMER_INVOICE,
              PaymentDirection.OUTBOUND: InvoiceKind.VENDOR_BILL}  # fmt: skip
# VAT on receipts: the waiting account and where its VAT goes once paid (vat.py).
WAITING_VAT = {vat.VAT_COLLECTED_WAITING: vat.VAT_COLLECTED, vat.VAT_DEDUCTIBLE_WAITING: vat.VAT_DEDUCTIBLE}
PAYMENT_JOURNALS = (JournalKind.BANK, JournalKind.CASH)


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


def _in_company_language(message: Any) -> str:
    # Ledger labels are company data (printed in the FEC): in the company's language.
    with translation.override(settings.LANGUAGE_CODE):
        return str(message)


# --- Input ----------------------------------------------------------------------------


@dataclass
class PaymentRequest:
    direction: str
    organization_id: int | None
    amount: Decimal
    date: dt.date | None
    journal_id: int | None
    method: str
    reference: str
    auto: bool
    allocations: list[tuple[int | None, Decimal]] = field(default_factory=list)
    key: str = ""
    currency: str = ""  # multi-currency: empty for the company currency
    site_id: int | None = None  # chosen; else the site the settled invoices share

    def digest(self) -> str:
        """The request's content: the same key must come back with the same content."""
        content = [
            self.direction, self.organization_id, str(self.amount), self.date.isoformat() if self.date else "",
            self.journal_id, self.method, self.reference,
            "auto" if self.auto else sorted([invoice_id or 0, str(amount)] for invoice_id, amount in self.allocations),
        ]  # fmt: skip
        if self.currency:  # multi-currency; absent before, so earlier digests stay valid
            content.append(self.currency)
        if self.site_id:  # likewise: only when a site is chosen
            content.append(f"site:{self.site_id}")
        return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()


def _parse_request(data: dict[str, Any]) -> PaymentRequest:
    errors: dict[str, list[str]] = {}
    direction = data.get("direction") or PaymentDirection.INBOUND
    if direction not in PaymentDirection.values:
        _add(errors, "direction", _("Choose among: %(values)s.") % {"values": ", ".join(PaymentDirection.values)})
    method = data.get("method") or ""
    if method not in PaymentMethod.values:
        _add(errors, "method", _("Choose among: %(values)s.") % {"values": ", ".join(PaymentMethod.values)})
    amount = ledger._parse_amount(errors, "amount", data.get("amount"))
    if "amount" not in errors and amount <= 0:
        _add(errors, "amount", _("Enter an amount greater than zero."))
    key = data.get("idempotency_key") or ""
    if not isinstance(key, str) or len(key) > MAX_KEY or not key.isprintable():
        _add(errors, "idempotency_key", _("At most %(n)s printable characters.") % {"n": MAX_KEY})
        key = ""
    request = PaymentRequest(
        direction=direction, organization_id=ledger._parse_id(errors, "organization_id", data.get("organization_id"),
                                                              True),
        amount=amount, date=ledger._parse_date(errors, "date", data.get("date")),
        journal_id=ledger._parse_id(errors, "journal_id", data.get("journal_id"), True), method=method,
        reference=ledger._required_text(errors, "reference", data.get("reference"), 140, False),
        auto=False, key=key.strip(),
    )  # fmt: skip
    if data.get("currency") not in (None, ""):  # multi-currency (currency.py)
        request.currency = currency_services.parse_currency(errors, "currency", data["currency"])
    if data.get("site_id") not in (None, ""):  # checked against the company in _register
        request.site_id = ledger._parse_id(errors, "site_id", data["site_id"], False)
    raw = data.get("allocations", "auto")
    if raw == "auto":
        request.auto = True
    elif raw is None:
        pass
    elif not isinstance(raw, (list, tuple)):
        _add(errors, "allocations", _('Enter a list of {invoice_id, amount}, or "auto".'))
    elif len(raw) > MAX_ALLOCATIONS:
        _add(errors, "allocations", _("At most %(n)s invoices per payment.") % {"n": MAX_ALLOCATIONS})
    else:
        seen: set[int] = set()
        for index, item in enumerate(raw):
            prefix = f"allocations.{index}."
            if not isinstance(item, dict):
                _add(errors, f"allocations.{index}", _("Enter an invoice and an amount."))
                continue
            ledger._unknown(errors, item, ("invoice_id", "amount"), prefix)
            invoice_id = ledger._parse_id(errors, prefix + "invoice_id", item.get("invoice_id"), True)
            part = ledger._parse_amount(errors, prefix + "amount", item.get("amount"))
            if prefix + "amount" not in errors and part <= 0:
                _add(errors, prefix + "amount", _("Enter an amount greater than zero."))
            if invoice_id is not None and invoice_id in seen:
                _add(errors, prefix + "invoice_id", _("This invoice is already in the list."))
            seen.add(invoice_id or 0)
            request.allocations.append((invoice_id, part))
        total = sum((part for _id, part in request.allocations), ZERO)
        if "amount" not in errors and total > amount:
            _add(errors, "allocations", _("The allocations (%(total)s) exceed the payment (%(amount)s).")
                 % {"total": total, "amount": amount})  # fmt: skip
    if errors:
        raise ValidationFailed(fields=errors)
    return request


# --- Shared steps ---------------------------------------------------------------------


def _replay(actor: Actor, request: PaymentRequest) -> Payment | None:
    """The payment an earlier request with the same key recorded, if any."""
    found = Payment.objects.filter(company_id=actor.company_id, idempotency_key=request.key).first()
    if found is None:
        return None
    if found.request_digest != request.digest():
        raise Conflict("idempotency_key_reused",
                       _("This idempotency key was already used for a different payment."))  # fmt: skip
    found.replayed = True
    return found


def _lock_invoices(queryset: QuerySet[Invoice]) -> list[Invoice]:
    """Lock invoices in id order: concurrent payments of overlapping invoices queue up."""
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def _invoice_errors(
    invoice: Invoice, payment_direction: str, organization_id: int | None, amount: Decimal
) -> tuple[str, str] | None:
    """Why ``amount`` of this payment may not go to this locked invoice: (field, message)."""
    if invoice.organization_id != organization_id:
        return "invoice_id", str(_("This invoice is for another partner."))
    if invoice.kind not in SETTLES[payment_direction]:
        if payment_direction == PaymentDirection.INBOUND:
            return "invoice_id", str(_("Money received settles customer invoices and vendor refunds only."))
        return "invoice_id", str(_("Money paid out settles vendor bills and customer credit notes only."))
    if invoice.state not in OPEN_STATES or invoice.partner_account_id is None:
        return "invoice_id", str(_("This invoice is not open for payment (%(state)s).")
                                 % {"state": invoice.get_state_display()})  # fmt: skip
    if amount > invoice.residual_amount:
        return "amount", str(_("At most %(residual)s is due on %(number)s.")
                             % {"residual": invoice.residual_amount, "number": invoice.number})  # fmt: skip
    return None


def _partner_lines(invoices: Sequence[Invoice]) -> dict[int, list[int]]:
    """Each invoice's lines on its partner account (what its payments are matched with)."""
    result: dict[int, list[int]] = {invoice.pk: [] for invoice in invoices}
    by_entry = {invoice.journal_entry_id: invoice for invoice in invoices if invoice.journal_entry_id}
    rows = JournalLine.objects.filter(
        entry_id__in=list(by_entry), account__reconcilable=True, partner_account__isnull=False
    ).values_list("pk", "entry_id", "partner_account_id")
    for pk, entry_id, partner_id in rows.order_by("pk"):
        invoice = by_entry[entry_id]
        if partner_id == invoice.partner_account_id:
            result[invoice.pk].append(pk)
    return result


@dataclass
class VatMove:
    waiting: int  # account ids
    target: int
    amount: Decimal  # signed like the waiting account's credit balance


def _vat_moves(company_id: int, invoice: Invoice, amount: Decimal) -> list[VatMove]:
    """VAT on receipts made chargeable by paying ``amount`` of the (locked) invoice: the
    cumulated share of the waiting VAT for what is paid after, minus what was moved before
    (so the last payment moves exactly what is left, whatever the rounding before)."""
    if not invoice.journal_entry_id or not invoice.total_amount:
        return []
    waiting = (
        JournalLine.objects.filter(entry_id=invoice.journal_entry_id, account__code__in=list(WAITING_VAT))
        .values_list("account__code", "debit", "credit").order_by()  # summed: no ordering (nor its join)
    )  # fmt: skip
    balances: dict[str, Decimal] = {}
    for code, debit, credit in waiting:
        balances[code] = balances.get(code, ZERO) + credit - debit
    return _vat_moves_from(company_id, invoice, amount, balances)


def _vat_accounts(company_id: int, codes: Sequence[str]) -> dict[str, int]:
    return dict(Account.objects.filter(company_id=company_id, code__in=list(codes)).order_by()
                .values_list("code", "pk"))  # fmt: skip


def _vat_moved(invoice: Invoice) -> Decimal:
    """What the (locked) invoice's active payments and credit allocations already made chargeable."""
    if Decimal(invoice.residual_amount) == Decimal(invoice.total_amount):
        # Every active allocation, paid or credited, lowers the residual by its amount (> 0):
        # nothing settled yet, nothing moved yet — no need to ask.
        return ZERO
    rows = PaymentAllocation.objects.filter(invoice=invoice, is_active=True).order_by().values_list("vat_moved")
    moved = sum((Decimal(value) for (value,) in rows), ZERO)
    return moved + credit_links.vat_moved(invoice)  # credit notes allocated to it, or from it


def _vat_moves_from(company_id: int, invoice: Invoice, amount: Decimal, balances: dict[str, Decimal],
                    accounts: dict[str, int] | None = None) -> list[VatMove]:  # fmt: skip
    """``_vat_moves`` from the waiting accounts' balances on the invoice's entry (by code),
    and the VAT accounts' ids when the caller has them."""
    if not invoice.journal_entry_id or not invoice.total_amount:
        return []
    balances = {code: value for code, value in balances.items() if value}
    if not balances:
        return []
    moved = _vat_moved(invoice)
    total = Decimal(invoice.total_amount)
    paid_after = total - Decimal(invoice.residual_amount) + amount
    if accounts is None:
        accounts = _vat_accounts(company_id, list(balances) + [WAITING_VAT[code] for code in balances])
    moves = []
    for code, balance in sorted(balances.items()):
        if code not in accounts or WAITING_VAT[code] not in accounts:
            raise Conflict("vat_account_missing", _("Account %(code)s is missing from the chart.")
                           % {"code": code if code not in accounts else WAITING_VAT[code]})  # fmt: skip
        # One waiting account per invoice in practice: the moved total belongs to it.
        due = balance if paid_after >= total else quantize(balance * paid_after / total)
        delta = due - moved
        if delta:
            moves.append(VatMove(waiting=accounts[code], target=accounts[WAITING_VAT[code]], amount=delta))
    return moves


def _vat_lines(moves: Sequence[VatMove], label: str, site_id: int | None = None) -> list[dict[str, Any]]:
    """The VAT-on-receipts moves, on the site of the invoice they come from."""
    lines = []
    for move in moves:
        size = abs(move.amount)
        debit, credit = (move.waiting, move.target) if move.amount > 0 else (move.target, move.waiting)
        lines += [{"account_id": debit, "label": label, "debit": size, "site_id": site_id},
                  {"account_id": credit, "label": label, "credit": size, "site_id": site_id}]  # fmt: skip
    return lines


def common_site(invoices: Sequence[Invoice]) -> int | None:
    """The site every invoice has, when they share one; else None."""
    sites = {invoice.site_id for invoice in invoices}
    return sites.pop() if len(sites) == 1 else None


def _apply_to_invoice(invoice: Invoice, change: Decimal) -> None:
    """Lower (or raise back) what is due on a locked invoice; the invoices module moves its state."""
    invoice_services.set_residual(invoice, Decimal(invoice.residual_amount) - change)


def _post(actor: Actor, *, lines: list[dict[str, Any]], stamps: Sequence[tuple[Decimal | None, str]] = (),
          known: ledger.LedgerRows | None = None, **data: Any) -> JournalEntry:  # fmt: skip
    """Book and post an entry of the payment in one go; ``stamps``: multi-currency, the lines'
    amounts in the payment's currency; ``known``: the journal and accounts already read."""
    return ledger.create_posted_entry(actor, lines=lines, stamps=stamps, source_type=SOURCE_TYPE, known=known,
                                      **data)  # fmt: skip


def _line_ids(entry: JournalEntry) -> list[int]:
    """The ids of the entry's lines in order: as posting wrote them, else read."""
    written = vars(entry).get("line_ids")
    if written is not None and None not in written:
        return list(written)
    return list(JournalLine.objects.filter(entry_id=entry.pk).order_by("sequence").values_list("pk", flat=True))


def _reverse(actor: Actor, entry_id: int, day: dt.date) -> JournalEntry:
    """The entry's reversal: the one already posted (reversed from the entry page), or a new one."""
    original = ledger._entry_locked(actor, entry_id)
    existing = JournalEntry.objects.filter(reversal_of=original).first()
    if existing is not None:
        return existing
    rows = list(JournalLine.objects.filter(entry=original).order_by("sequence", "id")
                .values(*ledger.LINE_FIELDS, "amount_currency", "currency"))  # fmt: skip
    lines = [
        {"account_id": line["account_id"], "partner_account_id": line["partner_account_id"], "label": line["label"],
         "debit": line["credit"], "credit": line["debit"], "due_date": line["due_date"], "site_id": line["site_id"]}
        for line in rows
    ]  # fmt: skip
    label = _in_company_language(_("Reversal of %(number)s") % {"number": original.number})
    reversal = ledger.create_entry(actor, journal_id=original.journal_id, date=day, label=label[:200],
                                   ref=original.number, lines=lines, source_type=original.source_type,
                                   source_id=original.source_id, site_id=original.site_id)  # fmt: skip
    currency_services.stamp(reversal, [(None if r["amount_currency"] is None else -r["amount_currency"], r["currency"])
                                       for r in rows])  # fmt: skip
    JournalEntry.objects.filter(pk=reversal.pk).update(reversal_of=original)
    return ledger.post_entry(actor, ledger._entry_locked(actor, reversal.pk))


def _rematch_invoices(actor: Actor, company_id: int, partner_id: int, invoices: Sequence[Invoice]) -> None:
    """Match each invoice's partner lines with the lines of its active allocations."""
    lines = _partner_lines(invoices)
    allocated: dict[int, set[int]] = {}
    for invoice_id, line_id in PaymentAllocation.objects.filter(
        invoice_id__in=[i.pk for i in invoices], is_active=True
    ).values_list("invoice_id", "line_id"):
        allocated.setdefault(invoice_id, set()).add(line_id)
    for invoice_id, line_ids in credit_links.linked_lines(invoices).items():  # credit notes allocated
        allocated.setdefault(invoice_id, set()).update(line_ids)
    for invoice in invoices:
        if allocated.get(invoice.pk) and lines[invoice.pk]:
            matching.match_group(actor, company_id=company_id, partner_account_id=partner_id,
                                 line_ids=[*lines[invoice.pk], *allocated[invoice.pk]])  # fmt: skip


# --- Register -------------------------------------------------------------------------


def payment_register(
    *,
    actor: Actor,
    organization_id: Any,
    amount: Any,
    date: Any,
    journal_id: Any,
    method: Any,
    reference: Any = "",
    allocations: Any = "auto",
    idempotency_key: Any = "",
    direction: Any = PaymentDirection.INBOUND,
    currency: Any = None,
    site_id: Any = None,
) -> Payment:
    """Record a payment, allocate it to invoices (a list of ``{invoice_id, amount}``, or
    ``"auto"``: the oldest due first), book and post its entry, match the lines.

    What is not allocated stays on the partner account as a credit. With an
    ``idempotency_key``, the same request again returns the first payment (``replayed``).
    The payment's site is ``site_id`` (an active site of the company), else the site of the
    invoices it settles when they all share one; its entry and lines carry it, except the
    VAT-on-receipts and exchange-difference lines, which keep their invoice's.
    """
    require(actor, REGISTER)
    assert actor.company_id is not None
    request = _parse_request({
        "organization_id": organization_id, "amount": amount, "date": date, "journal_id": journal_id,
        "method": method, "reference": reference, "allocations": allocations, "idempotency_key": idempotency_key,
        "direction": direction, "currency": currency, "site_id": site_id,
    })  # fmt: skip
    with transaction.atomic():
        if request.key:
            found = _replay(actor, request)
            if found is not None:
                return found
        return _register(actor, request)


# What the register path reads of the invoices it locks (the rest of a 40-column row is not used).
REGISTER_INVOICE_FIELDS = (
    "company_id", "kind", "state", "number", "organization_id", "partner_account_id", "issue_date", "due_date",
    "currency", "site_id", "journal_entry_id", "total_amount", "residual_amount",
)  # fmt: skip


# The invoice a payment settles (the usual case: one), locked; only the columns paying reads.
_INVOICE_TO_PAY = Select(Invoice, ("id", *REGISTER_INVOICE_FIELDS), "{company_id} = %s AND {id} = %s", lock=True)
# "auto": the partner's open invoices of the kind and currency, locked in id order (as ``_lock_invoices``).
_OPEN_INVOICES_TO_PAY = Select(
    Invoice,
    ("id", *REGISTER_INVOICE_FIELDS),
    "{company_id} = %s AND {organization_id} = %s AND {kind} = %s AND {state} IN ("
    + ", ".join(["%s"] * len(OPEN_STATES))
    + ") AND {currency} = %s",
    order_by="{id}",
    lock=True,
)
_PAYMENT_BOOKED = Update(Payment, ("journal_entry_id", "credit_line_id", "updated_at"), "{id} = %s")


@dataclass
class _EntryLines:
    """What paying an invoice needs of its posted entry, read once under the partner lock."""

    partner: dict[int, dict[str, Any]] = field(default_factory=dict)  # its partner lines, by id
    waiting: dict[str, Decimal] = field(default_factory=dict)  # VAT on receipts waiting, by account code


def _placeholders(values: Iterable[object]) -> str:
    """``%s, %s, …``, one per value: the SQL follows the tuple it is written for."""
    return ", ".join("%s" for _value in values)


# The line columns paying an invoice reads; which line is which is told by its account's row.
_ENTRY_LINE_FIELDS = ("id", "entry_id", "partner_account_id", "account_id", "matching_code", "date", "debit", "credit")
# One invoice's entry (the usual payment): its lines on a partner account and on the VAT-on-receipts
# waiting accounts (a superset of what ``_entry_lines`` keeps), without the ORM's join of the accounts.
_ONE_ENTRY_LINES = Select(
    JournalLine,
    _ENTRY_LINE_FIELDS,
    "{entry_id} = %s AND ({partner_account_id} IS NOT NULL OR {account_id} IN "  # noqa: S608 (our table)
    f"(SELECT a.id FROM {Account._meta.db_table} a WHERE a.company_id = %s "
    f"AND a.code IN ({_placeholders(WAITING_VAT)})))",
    order_by="{id}",
)


def _read_entry_lines(company_id: int, invoices: Sequence[Invoice]) -> list[tuple[Any, ...]]:
    """The invoices' entries' lines ``_entry_lines`` sorts, as ``_ENTRY_LINE_FIELDS`` rows, in id order."""
    entry_ids = [invoice.journal_entry_id for invoice in invoices if invoice.journal_entry_id]
    if not entry_ids:
        return []
    if len(entry_ids) == 1:
        return _ONE_ENTRY_LINES.rows(entry_ids[0], company_id, *WAITING_VAT)
    return list(
        JournalLine.objects.filter(entry_id__in=entry_ids)
        .filter(Q(account__code__in=list(WAITING_VAT)) | Q(account__reconcilable=True, partner_account__isnull=False))
        .order_by("pk")
        .values_list(*_ENTRY_LINE_FIELDS)
    )


def _entry_lines(
    invoices: Sequence[Invoice], rows: Sequence[tuple[Any, ...]], accounts: dict[int, ledger.AccountRow]
) -> dict[int, _EntryLines]:
    """Each invoice's partner lines (what its payments are matched with) and waiting VAT
    balances, from its entry's lines (``_read_entry_lines``) and their accounts (``ledger_rows``)."""
    result = {invoice.pk: _EntryLines() for invoice in invoices}
    by_entry = {invoice.journal_entry_id: invoice for invoice in invoices if invoice.journal_entry_id}
    for pk, entry_id, partner_id, account_id, matching_code, day, debit, credit in rows:
        invoice = by_entry[entry_id]
        found = result[invoice.pk]
        account = accounts[account_id]
        if account.reconcilable and partner_id is not None and partner_id == invoice.partner_account_id:
            found.partner[pk] = {"pk": pk, "matching_code": matching_code, "date": day, "debit": debit,
                                 "credit": credit}  # fmt: skip
        if account.code in WAITING_VAT:
            found.waiting[account.code] = found.waiting.get(account.code, ZERO) + credit - debit
    return result


def _journal_and_checks(company_id: int, journal_id: int, organization_id: int) -> tuple[Journal | None, bool, str]:
    """The payment's journal (an active bank or cash journal of the company, or None), whether the
    organization is the company's, and the company's currency: one statement (plain SQL, the
    ORM's annotated query cost more to build than to run)."""
    connection = transaction.get_connection()
    journals, organizations = Journal._meta.db_table, Organization._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT j.id, j.code, j.name, j.kind, j.default_account_id, j.is_active, "  # noqa: S608 (our tables)
            f"EXISTS (SELECT 1 FROM {organizations} o WHERE o.company_id = %s AND o.id = %s), "
            f"(SELECT c.currency FROM {Company._meta.db_table} c WHERE c.id = %s) "
            f"FROM (SELECT 1 AS one) AS x LEFT JOIN {journals} j ON j.company_id = %s AND j.id = %s "
            f"AND j.is_active = %s AND j.kind IN ({_placeholders(PAYMENT_JOURNALS)})",
            [company_id, organization_id, company_id, company_id, journal_id, True,
             *PAYMENT_JOURNALS],
        )  # fmt: skip
        pk, code, name, kind, default_account_id, is_active, organization_found, home = cursor.fetchone()
    journal = None
    if pk is not None:
        # Only these columns are loaded (in the model's order); the stamps are read on access.
        journal = statements.instance(Journal, ["id", "company_id", "code", "name", "kind", "default_account_id",
                                                     "is_active"],
                                  [pk, company_id, code, name, kind, default_account_id, bool(is_active)])  # fmt: skip
    return journal, bool(organization_found), str(home or "")


@ledger.periods_read_once()
def _register(actor: Actor, request: PaymentRequest) -> Payment:
    company_id = actor.company_id
    assert company_id is not None
    errors: dict[str, list[str]] = {}
    assert request.journal_id is not None and request.organization_id is not None  # required by _parse_request
    journal, organization_ok, home = _journal_and_checks(company_id, request.journal_id, request.organization_id)
    if journal is None or journal.default_account_id is None:
        _add(errors, "journal_id", _("Choose an active bank or cash journal with an account."))
    if not organization_ok:
        _add(errors, "organization_id", _("Unknown organization."))
    if request.site_id is not None:
        ledger.clean_site_id(errors, "site_id", request.site_id, company_id)
    if errors:
        raise ValidationFailed(fields=errors)
    assert journal is not None and request.date is not None
    home = home or "EUR"  # multi-currency: the payment's currency (as ``currency.company_currency``)
    code = request.currency or home
    if request.auto:
        invoices = _OPEN_INVOICES_TO_PAY.instances(company_id, request.organization_id, AUTO_KINDS[request.direction],
                                                   *OPEN_STATES, code)  # fmt: skip
    elif len(request.allocations) == 1 and request.allocations[0][0]:
        invoices = _INVOICE_TO_PAY.instances(company_id, request.allocations[0][0])  # the usual case
    else:
        invoices = _lock_invoices(Invoice.objects.filter(company_id=company_id, pk__in=[
            i for i, _a in request.allocations if i]).only(*REGISTER_INVOICE_FIELDS))  # fmt: skip
    # A concurrent identical request may have committed while we waited for the locks.
    if request.key:
        found = _replay(actor, request)
        if found is not None:
            return found
    by_id = {invoice.pk: invoice for invoice in invoices}
    plan: list[tuple[Invoice, Decimal]] = []
    if request.auto:
        left = request.amount
        for invoice in sorted(invoices, key=lambda i: (i.due_date or i.issue_date or dt.date.max, i.pk)):
            if left <= 0 or invoice.partner_account_id is None:
                continue
            part = min(left, Decimal(invoice.residual_amount))
            if part > 0:
                plan.append((invoice, part))
                left -= part
    else:
        for index, (invoice_id, part) in enumerate(request.allocations):
            found_invoice = by_id.get(invoice_id or 0)
            if found_invoice is None:
                _add(errors, f"allocations.{index}.invoice_id", _("Unknown invoice."))
                continue
            problem = _invoice_errors(found_invoice, request.direction, request.organization_id, part)
            if problem is None and found_invoice.currency != code:  # multi-currency
                problem = "invoice_id", str(_("This invoice is in %(currency)s: register the payment in %(currency)s.")
                                            % {"currency": found_invoice.currency})  # fmt: skip
            if problem is not None:
                _add(errors, f"allocations.{index}.{problem[0]}", problem[1])
            else:
                plan.append((found_invoice, part))
    partner_ids = {invoice.partner_account_id for invoice, _part in plan}
    if len(partner_ids) > 1:
        _add(errors, "allocations", _("The invoices of one payment are on one customer or supplier account."))
    if errors:
        raise ValidationFailed(fields=errors)
    if partner_ids:
        partner_id = partner_ids.pop()
        assert partner_id is not None
    else:
        partner_id = ledger.partner_account_ensure(actor=actor, organization_id=request.organization_id or 0,
                                                   kind=DEFAULT_KIND[request.direction]).pk  # fmt: skip
    partner = matching.lock_partner(company_id, partner_id)
    # Read under the partner lock: the matching codes of the invoices' lines cannot change now.
    entry_rows = _read_entry_lines(company_id, [invoice for invoice, _part in plan])
    # The accounts the entry is booked on and those of the invoices' lines, read once for the
    # lines' sorting, the VAT moves and the entry's checks.
    assert journal.default_account_id is not None  # refused above otherwise
    known = ledger.ledger_rows(company_id, account_ids={journal.default_account_id, partner.account_id,
                                                        *(row[3] for row in entry_rows)},
                               account_codes=[*WAITING_VAT, *WAITING_VAT.values()] if plan else [])  # fmt: skip
    entry_lines = _entry_lines([invoice for invoice, _part in plan], entry_rows, known.accounts)
    # Settled before (paid or credited in part): its earlier allocations join the matching.
    settled_before = {invoice.pk for invoice, _part in plan if invoice.residual_amount != invoice.total_amount}
    allocated = sum((part for _invoice, part in plan), ZERO)
    invoices_site = common_site([invoice for invoice, _part in plan]) if plan else None
    site_id = request.site_id or invoices_site
    payment = Payment(  # type: ignore[misc]  # MoneyFields take Decimals
        company_id=company_id, direction=request.direction, organization_id=request.organization_id,
        partner_account=partner, date=request.date, amount=request.amount, journal=journal,
        method=request.method, reference=request.reference, unallocated=request.amount - allocated,
        idempotency_key=request.key, request_digest=request.digest() if request.key else "",
        created_by_id=actor.user_id, currency=code, site_id=site_id,
    )  # fmt: skip
    try:
        if request.key:  # the savepoint is for the idempotency key's unique constraint only
            with transaction.atomic():
                matching.insert_new(payment)
        else:
            matching.insert_new(payment)
    except IntegrityError:
        # The unique key: a concurrent identical request committed first. Return its payment.
        found = _replay(actor, request) if request.key else None
        if found is None:
            raise
        return found
    inbound = request.direction == PaymentDirection.INBOUND
    partner_side, bank_side = ("credit", "debit") if inbound else ("debit", "credit")
    numbers = ", ".join(invoice.number for invoice, _part in plan)
    label = _in_company_language(
        (_("Payment received %(ref)s") if inbound else _("Payment sent %(ref)s"))
        % {"ref": numbers or request.reference or partner.code}
    )[:200]
    lines: list[dict[str, Any]] = [{"account_id": journal.default_account_id, "label": label,
                                    bank_side: request.amount}]  # fmt: skip
    for invoice, part in plan:
        lines.append({"account_id": partner.account_id, "partner_account_id": partner.pk, partner_side: part,
                      "label": _in_company_language(_("Payment %(number)s") % {"number": invoice.number})})  # fmt: skip
    if payment.unallocated:
        lines.append({"account_id": partner.account_id, "partner_account_id": partner.pk,
                      partner_side: payment.unallocated,
                      "label": _in_company_language(_("Credit %(code)s") % {"code": partner.code})})  # fmt: skip
    known.partners[partner.pk] = ledger.PartnerRow(partner.pk, partner.code, partner.account_id)
    known.journal = journal
    vat_accounts = {row.code: pk for pk, row in known.accounts.items()}  # active or not, as _vat_accounts
    moves = {invoice.pk: _vat_moves_from(company_id, invoice, part, entry_lines[invoice.pk].waiting, vat_accounts)
             for invoice, part in plan}  # fmt: skip
    vat_label = _in_company_language(_("VAT on receipts"))
    for invoice, _part in plan:
        lines += _vat_lines(moves[invoice.pk], vat_label, invoice.site_id)
    stamps: list[tuple[Decimal | None, str]] = []
    if code != home:  # multi-currency: EUR at the payment date's rate, realised exchange difference (666/766)
        difference = _in_company_language(_("Exchange difference %(ref)s") % {"ref": numbers or partner.code})
        count = len(lines)
        lines = currency_services.payment_lines(company_id, code, request.date, lines, plan,
                                                bool(payment.unallocated), difference)  # fmt: skip
        if len(lines) > count:  # the exchange difference (after the head lines): the invoices' site
            lines[1 + len(plan) + (1 if payment.unallocated else 0)]["site_id"] = invoices_site or site_id
        lines, stamps = currency_services.split_stamps(lines)
    entry = _post(actor, journal_id=journal.pk, date=request.date, label=label, ref=request.reference[:100],
                  lines=lines, source_id=str(payment.pk), stamps=stamps, site_id=site_id, known=known)  # fmt: skip
    entry_line_ids = _line_ids(entry)
    new_allocations = [
        PaymentAllocation(payment=payment, invoice=invoice, amount=part, date=payment.date,  # type: ignore[misc]
                          line_id=entry_line_ids[1 + i], vat_moved=sum((m.amount for m in moves[invoice.pk]), ZERO))
        for i, (invoice, part) in enumerate(plan)
    ]  # fmt: skip
    if len(new_allocations) == 1:
        matching.insert_new(new_allocations[0])  # the usual case: one plain INSERT
    else:
        PaymentAllocation.objects.bulk_create(new_allocations)
    payment.journal_entry = entry
    payment.credit_line_id = entry_line_ids[1 + len(plan)] if payment.unallocated else None
    payment.updated_at = timezone.now()
    # Inserted before its entry, which names it (its source, hashed): the entry's ids come after.
    _PAYMENT_BOOKED.run([entry.pk, payment.credit_line_id, payment.updated_at], payment.pk)
    for invoice, part in plan:
        _apply_to_invoice(invoice, part)
    # Matching, invoice by invoice (codes are issued in this order): its partner lines with the payment's line.
    for i, (invoice, _part) in enumerate(plan):
        if invoice.pk in settled_before:  # its other payments and credit notes join the group: read them
            _rematch_invoices(actor, company_id, partner.pk, [invoice])
            continue
        if not entry_lines[invoice.pk].partner:
            continue
        own = lines[1 + i]  # as written: create_entry stores the amounts it is given, or refuses them
        group_rows = dict(entry_lines[invoice.pk].partner)
        group_rows[entry_line_ids[1 + i]] = {
            "pk": entry_line_ids[1 + i], "matching_code": "", "date": request.date,
            "debit": Decimal(own.get("debit") or 0), "credit": Decimal(own.get("credit") or 0),
        }  # fmt: skip
        matching.match_group(actor, company_id=company_id, partner_account_id=partner.pk, line_ids=list(group_rows),
                             known=group_rows)  # fmt: skip
    audit.record(actor, "payment.register", payment, changes={
        "amount": [None, payment.amount], "direction": [None, payment.direction], "entry": [None, entry.number],
        "allocations": [None, [[invoice.pk, part] for invoice, part in plan]], "credit": [None, payment.unallocated],
    })  # fmt: skip
    events.publish("accounting.payment_registered", company_id=company_id, payload={
        "payment_id": payment.pk, "direction": payment.direction, "organization_id": payment.organization_id,
        "amount": str(payment.amount), "date": payment.date.isoformat(), "entry_id": entry.pk,
        "invoices": [{"invoice_id": invoice.pk, "amount": str(part), "state": invoice.state} for invoice, part in plan],
    })  # fmt: skip
    return payment


# --- Use a credit ---------------------------------------------------------------------


def _payment_locked(actor: Actor, payment_id: int) -> Payment:
    found = (
        Payment.objects.select_for_update(of=("self",))
        .select_related("partner_account", "journal_entry")
        .filter(company_id=actor.company_id, pk=payment_id)
        .first()
    )
    if found is None:
        raise NotFound("payment_not_found")
    return found


def _general_journal(company_id: int, fallback: int) -> int:
    found = (
        Journal.objects.filter(company_id=company_id, kind=JournalKind.GENERAL, is_active=True)
        .order_by("code", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    return found or fallback


@transaction.atomic
def payment_allocate_credit(*, actor: Actor, payment_id: int, invoice_id: Any, amount: Any,
                            date: Any = None) -> PaymentAllocation:  # fmt: skip
    """Use what a payment left on the partner account to settle another invoice."""
    require(actor, REGISTER)
    assert actor.company_id is not None
    errors: dict[str, list[str]] = {}
    part = ledger._parse_amount(errors, "amount", amount)
    if "amount" not in errors and part <= 0:
        _add(errors, "amount", _("Enter an amount greater than zero."))
    target_id = ledger._parse_id(errors, "invoice_id", invoice_id, True)
    day = ledger._parse_date(errors, "date", date, required=False) or timezone.localdate()
    if errors:
        raise ValidationFailed(fields=errors)
    payment = _payment_locked(actor, payment_id)
    if payment.state != PaymentState.POSTED:
        raise Conflict("payment_cancelled", _("This payment is cancelled."))
    if part > payment.unallocated:
        raise ValidationFailed(fields={"amount": [str(_("At most %(credit)s of credit is left on this payment.")
                                                      % {"credit": payment.unallocated})]})  # fmt: skip
    invoices = _lock_invoices(Invoice.objects.filter(company_id=actor.company_id, pk=target_id))
    if not invoices:
        raise ValidationFailed(fields={"invoice_id": [str(_("Unknown invoice."))]})
    invoice = invoices[0]
    problem = _invoice_errors(invoice, payment.direction, payment.organization_id, part)
    if problem is None and invoice.partner_account_id != payment.partner_account_id:
        problem = "invoice_id", str(_("This invoice is on another customer or supplier account."))
    if problem is None and (invoice.currency != payment.currency
                            or payment.currency != currency_services.company_currency(actor.company_id)):  # fmt: skip
        problem = "invoice_id", str(_("A credit in a foreign currency cannot be used yet: register the payment "
                                      "again in the invoice's currency."))  # fmt: skip
    if problem is not None:
        raise ValidationFailed(fields={problem[0]: [problem[1]]})
    matching.lock_partner(actor.company_id, payment.partner_account_id)
    moves = _vat_moves(actor.company_id, invoice, part)
    vat_entry = None
    if moves:
        label = _in_company_language(_("VAT on receipts %(number)s") % {"number": invoice.number})
        vat_entry = _post(actor, journal_id=_general_journal(actor.company_id, payment.journal_id), date=day,
                          label=label, lines=_vat_lines(moves, label, invoice.site_id), source_id=str(payment.pk),
                          site_id=invoice.site_id)  # fmt: skip
    assert payment.credit_line_id is not None
    allocation = PaymentAllocation.objects.create(
        payment=payment, invoice=invoice, amount=part, date=day, line_id=payment.credit_line_id, from_credit=True,
        vat_entry=vat_entry, vat_moved=sum((m.amount for m in moves), ZERO),
    )  # fmt: skip
    payment.unallocated = Decimal(payment.unallocated) - part  # type: ignore[assignment]
    payment.save(update_fields=["unallocated", "updated_at"])
    _apply_to_invoice(invoice, part)
    _rematch_invoices(actor, actor.company_id, payment.partner_account_id, [invoice])
    audit.record(actor, "payment.use_credit", payment, changes={
        "invoice": [None, invoice.pk], "amount": [None, part], "credit": [payment.unallocated + part,
                                                                          payment.unallocated],
    })  # fmt: skip
    events.publish("accounting.payment_credit_used", company_id=actor.company_id, payload={
        "payment_id": payment.pk, "invoice_id": invoice.pk, "amount": str(part), "state": invoice.state,
    })  # fmt: skip
    return allocation


# --- Cancel ---------------------------------------------------------------------------


def _rebase_vat(actor: Actor, payment: Payment, allocations: Sequence[PaymentAllocation],
                invoices: Sequence[Invoice], day: dt.date) -> None:  # fmt: skip
    """VAT on receipts after a cancellation: what is still paid must have moved exactly its share.

    The reversals take back what the payment's entries moved, but each payment moved the
    cumulated rounded share minus what was moved before, so the share of what remains paid
    may differ by a cent (6.00 with 1.00 VAT paid 2.00 + 2.00 moves 0.33 then 0.34; cancelling
    the first leaves 0.34 for 2.00 paid, whose share is 0.33). Post the difference, and record
    it on the invoice's latest remaining allocation so ``vat_moved`` keeps adding up to what
    the ledger moved. (The same term takes back a difference an allocation of this payment
    had absorbed before, which its own reversed entries do not hold.)
    """
    company_id = payment.company_id
    net: dict[tuple[int, int], Decimal] = {}  # (waiting, target) account ids -> amount to move
    entries = [payment.journal_entry_id, *(a.vat_entry_id for a in allocations if a.vat_entry_id)]
    reversed_by: dict[int, Decimal] = {}
    for account_id, debit, credit in JournalLine.objects.filter(
        entry_id__in=entries, account__code__in=list(WAITING_VAT)
    ).values_list("account_id", "debit", "credit"):
        reversed_by[account_id] = reversed_by.get(account_id, ZERO) + debit - credit
    codes = list(WAITING_VAT) + list(WAITING_VAT.values())
    accounts = dict(Account.objects.filter(company_id=company_id, code__in=codes).values_list("pk", "code"))
    ids = {code: pk for pk, code in accounts.items()}
    cancelled_moved: dict[int, Decimal] = {}
    for invoice in invoices:
        moves = _vat_moves(company_id, invoice, ZERO)
        for move in moves:
            net[(move.waiting, move.target)] = net.get((move.waiting, move.target), ZERO) + move.amount
        delta = sum((move.amount for move in moves), ZERO)
        if delta:
            latest = PaymentAllocation.objects.filter(invoice=invoice, is_active=True).order_by("-pk").first()
            if latest is None:  # only credit notes settle it now: the correction goes on theirs
                absorbed = credit_links.absorb_vat(invoice, delta)
                assert absorbed  # nothing paid or credited left: nothing moved left either
            else:
                latest.vat_moved = Decimal(latest.vat_moved) + delta  # type: ignore[assignment]
                latest.save(update_fields=["vat_moved", "updated_at"])
        waiting = (
            JournalLine.objects.filter(entry_id=invoice.journal_entry_id, account__code__in=list(WAITING_VAT))
            .values_list("account_id", flat=True).first()
        )  # fmt: skip
        if waiting is not None:
            moved = sum((Decimal(a.vat_moved) for a in allocations if a.invoice_id == invoice.pk), ZERO)
            cancelled_moved[waiting] = cancelled_moved.get(waiting, ZERO) + moved
    for waiting in set(cancelled_moved) | set(reversed_by):
        target = ids[WAITING_VAT[accounts[waiting]]]
        # What the reversals took back beyond (or short of) what the cancelled parts had recorded.
        extra = reversed_by.get(waiting, ZERO) - cancelled_moved.get(waiting, ZERO)
        net[(waiting, target)] = net.get((waiting, target), ZERO) + extra
    moves = [VatMove(waiting=w, target=t, amount=amount) for (w, t), amount in sorted(net.items()) if amount]
    if moves:
        label = _in_company_language(_("VAT on receipts"))
        site_id = common_site(invoices)  # the moves of several invoices are netted per account
        _post(actor, journal_id=_general_journal(company_id, payment.journal_id), date=day, label=label,
              lines=_vat_lines(moves, label, site_id), source_id=str(payment.pk), site_id=site_id)  # fmt: skip


@transaction.atomic
def payment_cancel(*, actor: Actor, payment_id: int, date: Any = None) -> Payment:
    """Cancel a payment by reversing its entry (and those of the credit it lent): its
    allocations stop counting, the invoices owe again what it paid, the lines are unmatched
    and the payment's lines are matched with their reversal."""
    require(actor, REGISTER)
    assert actor.company_id is not None
    company_id = actor.company_id
    errors: dict[str, list[str]] = {}
    day = ledger._parse_date(errors, "date", date, required=False) or timezone.localdate()
    if errors:
        raise ValidationFailed(fields=errors)
    payment = _payment_locked(actor, payment_id)
    if payment.state != PaymentState.POSTED:
        raise Conflict("payment_cancelled", _("This payment is already cancelled."))
    allocations = list(PaymentAllocation.objects.filter(payment=payment, is_active=True).order_by("pk"))
    invoices = _lock_invoices(Invoice.objects.filter(pk__in={a.invoice_id for a in allocations}))
    partner_id = payment.partner_account_id
    matching.lock_partner(company_id, partner_id)
    assert payment.journal_entry_id is not None
    reversal = _reverse(actor, payment.journal_entry_id, day)
    for allocation in allocations:
        if allocation.vat_entry_id is not None:
            _reverse(actor, allocation.vat_entry_id, day)
    entries = [payment.journal_entry_id, reversal.pk]
    own = JournalLine.objects.filter(entry_id__in=entries, partner_account_id=partner_id)
    own_lines = list(own.values_list("pk", flat=True))
    matching.undo(actor, company_id=company_id, partner_account_id=partner_id,
                  matchings=matching.matchings_of_lines(company_id, partner_id, own_lines))  # fmt: skip
    PaymentAllocation.objects.filter(pk__in=[a.pk for a in allocations]).update(is_active=False)
    by_id = {invoice.pk: invoice for invoice in invoices}
    for allocation in allocations:
        _apply_to_invoice(by_id[allocation.invoice_id], -Decimal(allocation.amount))
    _rebase_vat(actor, payment, allocations, invoices, day)
    # The payment's lines and their reversal settle each other.
    matching.match_group(actor, company_id=company_id, partner_account_id=partner_id, line_ids=own_lines)
    _rematch_invoices(actor, company_id, partner_id, invoices)
    payment.state = PaymentState.CANCELLED
    payment.cancel_entry = reversal
    payment.cancelled_at = timezone.now()
    payment.cancelled_by_id = actor.user_id
    payment.save(update_fields=["state", "cancel_entry", "cancelled_at", "cancelled_by", "updated_at"])
    audit.record(actor, "payment.cancel", payment, changes={"state": ["posted", "cancelled"],
                 "reversal": [None, reversal.number]})  # fmt: skip
    events.publish("accounting.payment_cancelled", company_id=company_id, payload={
        "payment_id": payment.pk, "reversal_id": reversal.pk,
        "invoices": [{"invoice_id": i.pk, "state": i.state, "residual": str(i.residual_amount)} for i in invoices],
    })  # fmt: skip
    return payment


# --- Reads ----------------------------------------------------------------------------


@dataclass
class PaymentFilters:
    direction: str = ""
    state: str = ""
    organization_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str = ""


PAYMENT_SORT = {"date": "date", "amount": "amount", "created_at": "created_at", "id": "id"}


def payment_list(actor: Actor, filters: PaymentFilters | None = None) -> QuerySet[Payment]:
    require(actor, VIEW)
    filters = filters or PaymentFilters()
    errors: dict[str, list[str]] = {}
    if filters.direction and filters.direction not in PaymentDirection.values:
        _add(errors, "direction", _("Choose among: %(values)s.") % {"values": ", ".join(PaymentDirection.values)})
    if filters.state and filters.state not in PaymentState.values:
        _add(errors, "state", _("Choose among: %(values)s.") % {"values": ", ".join(PaymentState.values)})
    if filters.date_from and filters.date_to and filters.date_to < filters.date_from:
        _add(errors, "date_to", _("The end must be after the start."))
    if errors:
        raise ValidationFailed("invalid_filter", fields=errors)
    rows = Payment.objects.filter(company_id=actor.company_id).select_related(
        "organization", "journal", "journal_entry", "partner_account"
    )
    if filters.direction:
        rows = rows.filter(direction=filters.direction)
    if filters.state:
        rows = rows.filter(state=filters.state)
    if filters.organization_id:
        rows = rows.filter(organization_id=filters.organization_id)
    if filters.date_from:
        rows = rows.filter(date__gte=filters.date_from)
    if filters.date_to:
        rows = rows.filter(date__lte=filters.date_to)
    if filters.q:
        text = filters.q.strip()
        rows = rows.filter(Q(reference__icontains=text) | Q(organization__legal_name__icontains=text)
                           | Q(journal_entry__number__icontains=text))  # fmt: skip
    return rows


def payment_get(actor: Actor, payment_id: int) -> Payment:
    require(actor, VIEW)
    allocations = PaymentAllocation.objects.select_related("invoice").order_by("pk")
    found = (
        Payment.objects.filter(company_id=actor.company_id, pk=payment_id)
        .select_related(
            "organization", "journal", "journal_entry", "partner_account", "cancel_entry", "created_by", "site"
        )
        .prefetch_related(Prefetch("allocations", queryset=allocations))
        .first()
    )
    if found is None:
        raise NotFound("payment_not_found")
    return found


def invoice_allocations(actor: Actor, invoice_id: int) -> list[PaymentAllocation]:
    """The payments of one invoice (active and cancelled), for its page."""
    require(actor, VIEW)
    return list(
        PaymentAllocation.objects.filter(invoice_id=invoice_id, invoice__company_id=actor.company_id)
        .select_related("payment", "payment__journal_entry")
        .order_by("date", "pk")
    )


def payment_for_key(actor: Actor, key: str) -> Payment | None:
    """The payment an idempotency key recorded, if any (a form submitted twice)."""
    require(actor, REGISTER)
    if not key:
        return None
    return Payment.objects.filter(company_id=actor.company_id, idempotency_key=key.strip()).first()


def invoice_for_payment(actor: Actor, invoice_id: int, *, open_only: bool = True) -> Invoice:
    """An invoice of the company to pay: open ones only, unless a submitted form is replayed."""
    require(actor, VIEW)
    rows = Invoice.objects.filter(company_id=actor.company_id, pk=invoice_id).exclude(state=InvoiceState.DRAFT)
    found = (rows.filter(state__in=OPEN_STATES) if open_only else rows).first()
    if found is None:
        raise NotFound("invoice_not_open", _("This invoice does not exist or has nothing left to pay."))
    return found


def open_invoices(actor: Actor, organization_id: int, direction: str = PaymentDirection.INBOUND) -> list[Invoice]:
    """What a payment of this partner may settle, the oldest due first."""
    require(actor, VIEW)
    rows = Invoice.objects.filter(company_id=actor.company_id, organization_id=organization_id,
                                  kind__in=SETTLES.get(direction, ()), state__in=OPEN_STATES)  # fmt: skip
    return list(rows.order_by("due_date", "issue_date", "pk"))


def partner_credits(actor: Actor, organization_id: int) -> list[Payment]:
    """Posted payments of this partner with credit left (a customer credit, a supplier advance)."""
    require(actor, VIEW)
    rows = Payment.objects.filter(company_id=actor.company_id, organization_id=organization_id,
                                  state=PaymentState.POSTED, unallocated__gt=0)  # fmt: skip
    return list(rows.select_related("journal_entry").order_by("date", "pk"))


def organization_of(actor: Actor, organization_id: int) -> Organization:
    found = Organization.objects.filter(company_id=actor.company_id, pk=organization_id).first()
    if found is None:
        raise NotFound("organization_not_found")
    return found

"""Allocate a posted credit note (or supplier refund) to open invoices of the same partner, without money.

A customer credit note is a credit on the customer's account (411): instead of refunding it,
finance may use it to settle one or several open invoices of that customer. Nothing goes
through the bank: the credit note's partner lines are matched (lettrage) with the
invoices' partner lines, both documents' amounts due go down through
``invoices.set_residual`` (posted → partially paid → paid), and a ``CreditAllocation`` row
keeps each part. The only entry written is the VAT-on-receipts move of both documents (an
OD entry, as when a payment's credit is used), usually zero when the credit note corrects
the invoice it settles: each document's waiting VAT is moved in proportion to what is
settled, by the same computation the payments use (``payments._vat_moves``), which counts
what earlier credit allocations moved.

Safety, as for payments (docs/architecture.md, "Payments"):

* **Lock order**: the credit note and the invoices are locked together in id order (they
  are all invoice rows, like a payment's invoices) → the partner account (matching codes)
  → the posting counter (``post_entry``, only when VAT moves). Residuals are checked under
  the locks: two users allocating the same credit note queue up and the second one is
  refused when nothing is left, never over-allocated.
* **Idempotency**: a request may carry a key; the rows it wrote carry it and the digest of
  the request. The key is looked up first and again once the rows are locked: a retry or a
  double click gets the first allocations back (``replayed``); the same key with another
  content is a ``Conflict``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import currency as currency_services
from comptoir.accounting import invoices as invoice_services
from comptoir.accounting import matching, payments
from comptoir.accounting import services as ledger
from comptoir.accounting.invoice_selectors import visible_invoices
from comptoir.accounting.models import Invoice, InvoiceKind, InvoiceState, JournalEntry, JournalLine
from comptoir.accounting.models_credit import CreditAllocation
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed

REGISTER = payments.REGISTER
VIEW = payments.VIEW
MAX_ALLOCATIONS = 50
MAX_KEY = 100
ZERO = Decimal(0)
OPEN_STATES = (InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID)
# What each kind of credit document settles.
SETTLES: dict[str, str] = {
    InvoiceKind.CUSTOMER_CREDIT_NOTE: InvoiceKind.CUSTOMER_INVOICE,
    InvoiceKind.VENDOR_REFUND: InvoiceKind.VENDOR_BILL,
}
SOURCE_TYPE = "accounting.credit_allocation"


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


@dataclass
class AllocationRequest:
    credit_note_id: int
    allocations: list[tuple[int | None, Decimal]] = field(default_factory=list)
    date: dt.date | None = None
    key: str = ""

    def digest(self) -> str:
        content = [self.credit_note_id, self.date.isoformat() if self.date else "",
                   sorted([invoice_id or 0, str(amount)] for invoice_id, amount in self.allocations)]  # fmt: skip
        return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()


@dataclass
class AllocationResult:
    credit_note: Invoice
    allocations: list[CreditAllocation]
    replayed: bool = False


def _parse(credit_note_id: int, allocations: Any, date: Any, key: Any) -> AllocationRequest:
    errors: dict[str, list[str]] = {}
    if not isinstance(key, str) or len(key) > MAX_KEY or not key.isprintable():
        _add(errors, "idempotency_key", _("At most %(n)s printable characters.") % {"n": MAX_KEY})
        key = ""
    request = AllocationRequest(credit_note_id=credit_note_id, key=key.strip(),
                                date=ledger._parse_date(errors, "date", date, required=False))  # fmt: skip
    if not isinstance(allocations, (list, tuple)) or not allocations:
        _add(errors, "allocations", _("Choose at least one invoice and an amount."))
    elif len(allocations) > MAX_ALLOCATIONS:
        _add(errors, "allocations", _("At most %(n)s invoices at once.") % {"n": MAX_ALLOCATIONS})
    else:
        seen: set[int] = set()
        for index, item in enumerate(allocations):
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
            if invoice_id == credit_note_id:
                _add(errors, prefix + "invoice_id", _("Choose an invoice, not the credit note itself."))
            seen.add(invoice_id or 0)
            request.allocations.append((invoice_id, part))
    if errors:
        raise ValidationFailed(fields=errors)
    return request


def _replay(actor: Actor, request: AllocationRequest) -> AllocationResult | None:
    rows = list(CreditAllocation.objects.filter(company_id=actor.company_id, idempotency_key=request.key)
                .order_by("pk"))  # fmt: skip
    if not rows:
        return None
    if any(row.request_digest != request.digest() for row in rows):
        raise Conflict("idempotency_key_reused",
                       _("This idempotency key was already used for a different allocation."))  # fmt: skip
    credit_note = Invoice.objects.get(pk=rows[0].credit_note_id)
    return AllocationResult(credit_note=credit_note, allocations=rows, replayed=True)


def _invoice_problem(credit: Invoice, invoice: Invoice, amount: Decimal) -> tuple[str, str] | None:
    """Why ``amount`` of the credit note may not go to this locked invoice: (field, message)."""
    if invoice.kind != SETTLES[credit.kind]:
        if credit.kind == InvoiceKind.CUSTOMER_CREDIT_NOTE:
            return "invoice_id", str(_("A customer credit note settles customer invoices only."))
        return "invoice_id", str(_("A supplier refund settles vendor bills only."))
    if invoice.organization_id != credit.organization_id or invoice.partner_account_id != credit.partner_account_id:
        return "invoice_id", str(_("This invoice is for another partner."))
    if invoice.currency != credit.currency:
        return "invoice_id", str(_("This invoice is in %(currency)s, the credit note in %(credit)s.")
                                 % {"currency": invoice.currency, "credit": credit.currency})  # fmt: skip
    if invoice.state not in OPEN_STATES or invoice.partner_account_id is None:
        return "invoice_id", str(_("This invoice is not open for payment (%(state)s).")
                                 % {"state": invoice.get_state_display()})  # fmt: skip
    if amount > invoice.residual_amount:
        return "amount", str(_("At most %(residual)s is due on %(number)s.")
                             % {"residual": invoice.residual_amount, "number": invoice.number})  # fmt: skip
    return None


def credit_allocate(
    *, actor: Actor, credit_note_id: int, allocations: Any, date: Any = None, idempotency_key: Any = ""
) -> AllocationResult:
    """Settle open invoices with a posted credit note: ``allocations`` is a list of
    ``{invoice_id, amount}``. Errors per allocation (``allocations.0.amount``), nothing written
    on error. With an ``idempotency_key``, the same request again returns the first result."""
    require(actor, REGISTER)
    assert actor.company_id is not None
    request = _parse(credit_note_id, allocations, date, idempotency_key)
    with transaction.atomic():
        if request.key:
            found = _replay(actor, request)
            if found is not None:
                return found
        return _allocate(actor, request)


def _allocate(actor: Actor, request: AllocationRequest) -> AllocationResult:
    company_id = actor.company_id
    assert company_id is not None
    ids = [request.credit_note_id, *(i for i, _a in request.allocations if i)]
    locked = {row.pk: row for row in payments._lock_invoices(Invoice.objects.filter(company_id=company_id,
                                                                                    pk__in=ids))}  # fmt: skip
    credit = locked.get(request.credit_note_id)
    if credit is None:
        raise NotFound("invoice_not_found")
    # A concurrent identical request may have committed while we waited for the locks.
    if request.key:
        found = _replay(actor, request)
        if found is not None:
            return found
    errors: dict[str, list[str]] = {}
    if credit.kind not in SETTLES:
        raise ValidationFailed(fields={"credit_note_id": [str(_("Only a credit note or a refund is allocated."))]})
    if credit.state not in OPEN_STATES or credit.partner_account_id is None:
        raise ValidationFailed(fields={"credit_note_id": [
            str(_("This credit note has nothing left to allocate (%(state)s).") % {"state": credit.get_state_display()})
        ]})  # fmt: skip
    plan: list[tuple[Invoice, Decimal]] = []
    for index, (invoice_id, part) in enumerate(request.allocations):
        invoice = locked.get(invoice_id or 0)
        if invoice is None:
            _add(errors, f"allocations.{index}.invoice_id", _("Unknown invoice."))
            continue
        problem = _invoice_problem(credit, invoice, part)
        if problem is not None:
            _add(errors, f"allocations.{index}.{problem[0]}", problem[1])
        else:
            plan.append((invoice, part))
    total = sum((part for _i, part in request.allocations), ZERO)
    if total > credit.residual_amount:
        _add(errors, "allocations", _("The allocations (%(total)s) exceed what is left on the credit note (%(left)s).")
             % {"total": total, "left": credit.residual_amount})  # fmt: skip
    day = request.date or timezone.localdate()
    latest = max((d for d in [credit.issue_date, *(i.issue_date for i, _p in plan)] if d), default=None)
    if latest is not None and day < latest:
        _add(errors, "date", _("An allocation cannot be dated before the documents it settles (%(date)s).")
             % {"date": latest.isoformat()})  # fmt: skip
    if errors:
        raise ValidationFailed(fields=errors)
    partner_id = credit.partner_account_id
    matching.lock_partner(company_id, partner_id)
    rows: list[CreditAllocation] = []
    all_moves: list[payments.VatMove] = []
    foreign = credit.currency != currency_services.company_currency(company_id)
    exchange: list[tuple[Invoice, Decimal]] = []  # (invoice, signed EUR to put back on the partner account)
    for invoice, part in plan:
        if foreign:
            # Both documents booked ``part`` at their own rate: the gap is the realised exchange difference.
            gap = currency_services.settled_company_amount(invoice, part) - currency_services.settled_company_amount(
                credit, part
            )
            if gap:
                exchange.append((invoice, -gap if invoice.kind == InvoiceKind.CUSTOMER_INVOICE else gap))
        # Computed one after the other: each reads the residuals and moves the previous ones left.
        invoice_moves = payments._vat_moves(company_id, invoice, part)
        credit_moves = payments._vat_moves(company_id, credit, part)
        row = CreditAllocation.objects.create(  # type: ignore[misc]  # MoneyFields take Decimals
            company_id=company_id, credit_note=credit, invoice=invoice, amount=part, date=day,
            invoice_vat_moved=sum((m.amount for m in invoice_moves), ZERO),
            credit_vat_moved=sum((m.amount for m in credit_moves), ZERO),
            idempotency_key=request.key, request_digest=request.digest() if request.key else "",
            created_by_id=actor.user_id,
        )  # fmt: skip
        rows.append(row)
        all_moves += invoice_moves + credit_moves
        invoice_services.set_residual(invoice, Decimal(invoice.residual_amount) - part)
        invoice_services.set_residual(credit, Decimal(credit.residual_amount) - part)
    net: dict[tuple[int, int], Decimal] = {}
    for move in all_moves:
        net[(move.waiting, move.target)] = net.get((move.waiting, move.target), ZERO) + move.amount
    moves = [payments.VatMove(waiting=w, target=t, amount=a) for (w, t), a in sorted(net.items()) if a]
    exchange_lines: dict[int, int] = {}  # invoice id -> its exchange difference's partner line
    if moves or exchange:
        label = payments._in_company_language(_("VAT on receipts %(number)s") % {"number": credit.number})[:200]
        # The moves of the credit note and its invoices are netted per account: they carry the site
        # the documents share (if any); each exchange difference carries its invoice's.
        site_id = payments.common_site([credit, *(invoice for invoice, _p in plan)])
        entry_lines = payments._vat_lines(moves, label, site_id) if moves else []
        if exchange:
            label = payments._in_company_language(
                _("Exchange difference %(number)s") % {"number": credit.number} if not moves
                else _("VAT on receipts and exchange difference %(number)s") % {"number": credit.number}
            )[:200]  # fmt: skip
            entry_lines += _exchange_lines(company_id, credit, exchange)
        fallback = JournalEntry.objects.filter(pk=credit.journal_entry_id).values_list("journal_id", flat=True).first()
        entry = ledger.create_entry(actor, journal_id=payments._general_journal(company_id, fallback or 0), date=day,
                                    label=label, ref=credit.number, lines=entry_lines,
                                    source_type=SOURCE_TYPE, source_id=str(credit.pk), site_id=site_id)  # fmt: skip
        entry = ledger.post_entry(actor, ledger._entry_locked(actor, entry.pk))
        CreditAllocation.objects.filter(pk__in=[r.pk for r in rows]).update(vat_entry=entry)
        for row in rows:
            row.vat_entry = entry
        if exchange:
            ids = list(JournalLine.objects.filter(entry=entry, partner_account_id=partner_id)
                       .order_by("sequence").values_list("pk", flat=True))  # fmt: skip
            exchange_lines = {invoice.pk: pk for (invoice, _gap), pk in zip(exchange, ids, strict=True)}
            for row in rows:
                row.exchange_line_id = exchange_lines.get(row.invoice_id)
            CreditAllocation.objects.bulk_update(rows, ["exchange_line"])  # one statement for all the rows
    lines = payments._partner_lines([credit, *(invoice for invoice, _p in plan)])
    for invoice, _part in plan:
        extra = [exchange_lines[invoice.pk]] if invoice.pk in exchange_lines else []
        matching.match_group(actor, company_id=company_id, partner_account_id=partner_id,
                             line_ids=[*lines[credit.pk], *lines[invoice.pk], *extra], day=day)  # fmt: skip
    audit.record(actor, "invoice.credit_allocate", credit, changes={
        "allocations": [None, [[invoice.pk, part] for invoice, part in plan]],
        "residual": [Decimal(credit.residual_amount) + total, credit.residual_amount],
    })  # fmt: skip
    events.publish("accounting.credit_allocated", company_id=company_id, payload={
        "credit_note_id": credit.pk, "organization_id": credit.organization_id, "date": day.isoformat(),
        "invoices": [{"invoice_id": invoice.pk, "amount": str(part), "state": invoice.state} for invoice, part in plan],
    })  # fmt: skip
    return AllocationResult(credit_note=credit, allocations=rows)


def _exchange_lines(company_id: int, credit: Invoice, exchange: list[tuple[Invoice, Decimal]]
                    ) -> list[dict[str, Any]]:  # fmt: skip
    """The realised exchange difference of each allocation, as in a payment (currency.py): a line on
    the partner account that leaves both documents' lines summing to zero in EUR, against 666 / 766."""
    account_id = (
        JournalLine.objects.filter(entry_id=credit.journal_entry_id, partner_account_id=credit.partner_account_id)
        .values_list("account_id", flat=True).first()
    )  # fmt: skip
    result: list[dict[str, Any]] = []
    counterpart: list[dict[str, Any]] = []
    for invoice, signed in exchange:
        label = payments._in_company_language(
            _("Exchange difference %(credit)s / %(invoice)s") % {"credit": credit.number, "invoice": invoice.number}
        )[:200]  # fmt: skip
        result.append({"account_id": account_id, "partner_account_id": credit.partner_account_id, "label": label,
                       "debit": signed if signed > 0 else ZERO, "credit": -signed if signed < 0 else ZERO,
                       "site_id": invoice.site_id})  # fmt: skip
        counterpart.append(currency_services.exchange_difference_line(company_id, -signed, label)
                           | {"site_id": invoice.site_id})  # fmt: skip
    return result + counterpart


# --- Reads ----------------------------------------------------------------------------


def allocations_of(actor: Actor, invoice_id: int) -> list[CreditAllocation]:
    """The credit allocations of one document (as the credit note or as the invoice), for its page.

    Only what the actor may see: the document itself must be visible (record rule of the
    invoices), and each row names the other document by its number.
    """
    if not visible_invoices(actor).filter(pk=invoice_id).exists():
        raise NotFound("invoice_not_found")
    return list(
        CreditAllocation.objects.filter(Q(invoice_id=invoice_id) | Q(credit_note_id=invoice_id),
                                        company_id=actor.company_id, is_active=True)
        .select_related("invoice", "credit_note", "vat_entry")
        .order_by("date", "pk")
    )  # fmt: skip


def allocatable_invoices(actor: Actor, credit_note: Invoice) -> list[Invoice]:
    """The open invoices this credit note may settle (same partner account and currency), oldest due first."""
    require(actor, REGISTER)
    credit = credit_note
    if credit.kind not in SETTLES or credit.state not in OPEN_STATES:
        return []
    rows = Invoice.objects.filter(
        company_id=actor.company_id, kind=SETTLES[credit.kind], state__in=OPEN_STATES,
        organization_id=credit.organization_id, partner_account_id=credit.partner_account_id,
        currency=credit.currency,
    )  # fmt: skip
    return list(rows.order_by("due_date", "issue_date", "pk")[:MAX_ALLOCATIONS])

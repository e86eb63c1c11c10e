"""What the payments module must know of credit notes allocated to invoices (reads only).

Kept apart from ``credit_allocation`` (which builds on ``payments``) so that ``payments``
can ask without a circular import:

* ``vat_moved``: the VAT on receipts the document's credit allocations already made
  chargeable, so the next payment moves only what is left;
* ``linked_lines``: the partner lines each document is matched with through its credit
  allocations, so rematching after a cancelled payment keeps the credit note in the group.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db.models import Q

from comptoir.accounting.models import Invoice, JournalLine
from comptoir.accounting.models_credit import CreditAllocation


def vat_moved(invoice: Invoice) -> Decimal:
    """Signed like ``PaymentAllocation.vat_moved``: the moves of the document's active credit allocations."""
    total = Decimal(0)
    rows = CreditAllocation.objects.filter(Q(invoice=invoice) | Q(credit_note=invoice), is_active=True)
    for invoice_id, on_invoice, on_credit in rows.values_list("invoice_id", "invoice_vat_moved", "credit_vat_moved"):
        total += Decimal(on_invoice if invoice_id == invoice.pk else on_credit)
    return total


def linked_lines(invoices: Sequence[Invoice]) -> dict[int, set[int]]:
    """For each document, the partner lines of the documents it is allocated with."""
    ids = [invoice.pk for invoice in invoices]
    if not ids:
        return {}
    pairs = list(
        CreditAllocation.objects.filter(Q(invoice_id__in=ids) | Q(credit_note_id__in=ids), is_active=True)
        .values_list("invoice_id", "credit_note_id", "invoice__journal_entry_id", "credit_note__journal_entry_id",
                     "invoice__partner_account_id", "vat_entry_id", "exchange_line_id")
    )  # fmt: skip
    if not pairs:
        return {}
    # An allocation's realised exchange difference is its ``exchange_line``. Allocations made
    # before that column existed fall back to every partner line of their OD entry (exact when
    # the credit note settled one invoice at a time, the common case); an allocation without a
    # difference whose OD entry names another allocation's line is a new one: it has none.
    candidates = {pair[5] for pair in pairs if pair[5] and not pair[6]}
    recorded = set(
        CreditAllocation.objects.filter(vat_entry_id__in=candidates, exchange_line__isnull=False)
        .values_list("vat_entry_id", flat=True).order_by()
    ) if candidates else set()  # fmt: skip
    fallback = candidates - recorded
    entries = {e for pair in pairs for e in (*pair[2:4], pair[5] if pair[5] in fallback else None) if e}
    partners = {pair[4] for pair in pairs}
    lines_of: dict[int, set[int]] = {}
    for pk, entry_id in JournalLine.objects.filter(
        entry_id__in=entries, partner_account_id__in=partners, account__reconcilable=True
    ).values_list("pk", "entry_id"):
        lines_of.setdefault(entry_id, set()).add(pk)
    result: dict[int, set[int]] = {}
    wanted = set(ids)
    for invoice_id, credit_id, invoice_entry, credit_entry, _partner, od_entry, exchange_line in pairs:
        exchange = (
            {exchange_line} if exchange_line else lines_of.get(od_entry, set()) if od_entry in fallback else set()
        )
        if invoice_id in wanted and credit_entry:
            result.setdefault(invoice_id, set()).update(lines_of.get(credit_entry, set()) | exchange)
        if credit_id in wanted and invoice_entry:
            result.setdefault(credit_id, set()).update(lines_of.get(invoice_entry, set()) | exchange)
    return result


def absorb_vat(invoice: Invoice, delta: Decimal) -> bool:
    """Record a VAT-on-receipts correction (``payments._rebase_vat``, after a cancelled payment)
    on the document's latest active credit allocation, when no payment of it remains.
    False when it has none either."""
    row = (
        CreditAllocation.objects.filter(Q(invoice=invoice) | Q(credit_note=invoice), is_active=True)
        .order_by("-pk").first()
    )  # fmt: skip
    if row is None:
        return False
    if row.invoice_id == invoice.pk:
        row.invoice_vat_moved = Decimal(row.invoice_vat_moved) + delta  # type: ignore[assignment]
        row.save(update_fields=["invoice_vat_moved", "updated_at"])
    else:
        row.credit_vat_moved = Decimal(row.credit_vat_moved) + delta  # type: ignore[assignment]
        row.save(update_fields=["credit_vat_moved", "updated_at"])
    return True

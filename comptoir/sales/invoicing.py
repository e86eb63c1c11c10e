"""Invoicing sales orders: on order, on delivery, down payments, milestones, credit notes.

Every invoice is an accounting draft made through ``accounting.invoices.invoice_create``
(so one VAT and totals computation), carrying ``source_type="sales.order"`` and the
order's id; an ``OrderInvoice`` row links it back with one ``OrderInvoiceLine`` per line
it bills. Posting stays finance's action (``post=True`` posts at once).

**Invoiced quantities count drafts.** A line's ``quantity_invoiced`` is the sum of what
the linked invoices bill — drafts included, cancelled ones excluded — minus posted credit
notes. Counting drafts is what stops two people from billing the same quantity twice. It
is recomputed from the link rows (``refresh_invoiced``) under the order's row lock by
every service that reads it, so it is exact whatever happened in accounting meanwhile:
a draft deleted there takes its link rows with it (cascade), a draft cancelled there no
longer counts, and a credit note made there from a linked invoice is found through its
``origin`` and linked as ``credit_note`` (its lines matched to the invoice's lines).

**Down payments** (a percentage of the order's total excluding VAT, or an amount) are
invoiced on a dedicated account — 4191 "Clients - avances et acomptes reçus sur
commandes" (in the PCG chart loaded by accounting; not lettered) — one line per VAT
treatment of the order, split in proportion to the order's nets. Since 1 January 2023
VAT is chargeable on a down payment for goods as for services (CGI art. 269-2-a and c),
so the down-payment invoice bears VAT at the order's rates. The invoice that completes
the order (the *final* invoice, or the last milestone) deducts every posted down payment
with the same lines at quantity −1: 4191 is debited back, the VAT is netted, and the
customer owes only the rest.

**Milestones** are percentages of the order adding up to 100 %; milestone *k* bills
round(net × cumulated % up to k) − round(net × cumulated % before k) per VAT treatment,
so the milestones add up exactly to the order; the last one marks every line invoiced.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Field, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import invoices as acc_invoices
from comptoir.accounting.models import Account, Invoice, InvoiceKind, InvoiceLine, InvoiceState, LineOperation
from comptoir.accounting.services import _add, _parse_id
from comptoir.catalog.models import Product, ProductKind, Uom
from comptoir.kernel import audit, statements
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.money import ScaledIntegerField, allocate, quantize
from comptoir.kernel.statements import Select, Update, insert_instances
from comptoir.sales.models_orders import (
    InvoicingMilestone,
    MilestoneKind,
    OrderInvoice,
    OrderInvoiceKind,
    OrderInvoiceLine,
    OrderLineKind,
    OrderState,
    SalesOrder,
    SalesOrderLine,
)
from comptoir.sales.orders import SOURCE_TYPE, _locked

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MODES = ("order", "delivery", "down_payment", "milestone")
DOWN_PAYMENT_ACCOUNTS = ("4191",)
OPEN_STATES = acc_invoices.OPEN_STATES
Group = tuple[str, str]  # (VAT category, goods or services)
# The order's columns that invoicing reads or writes (its lock reads no others).
ORDER_COLUMNS = ("company", "number", "state", "invoicing_policy", "organization", "fiscal_position", "language",
                 "customer_reference", "site", "payment_term", "delivery_address", "untaxed_amount",
                 "invoiced_amount")  # fmt: skip
# The order lines' columns that invoicing reads (the lines also hold their unit's code and product's kind).
LINE_COLUMNS = ("id", "order", "position", "kind", "product", "description", "operation", "quantity",
                "quantity_delivered", "quantity_invoiced", "uom", "unit_price", "discount_percent", "vat_code",
                "net_amount")  # fmt: skip


def _scaled(raw: Any, places: int) -> Decimal:
    return Decimal(int(raw or 0)).scaleb(-places)


def counting_q(prefix: str = "") -> Q:
    """Link rows that count: invoices not cancelled (drafts included), credit notes once posted."""
    return (~Q(**{f"{prefix}kind": OrderInvoiceKind.CREDIT_NOTE}) & ~Q(**{f"{prefix}invoice__state": "cancelled"})) | Q(
        **{f"{prefix}kind": OrderInvoiceKind.CREDIT_NOTE, f"{prefix}invoice__state__in": OPEN_STATES}
    )


def _link_credit_notes(order: SalesOrder) -> bool:
    """Link the credit notes made in accounting from the order's invoices (matched line by line); any linked?"""
    linked = OrderInvoice.objects.filter(order=order).values_list("invoice_id", flat=True)
    origins = OrderInvoice.objects.filter(order=order).exclude(kind=OrderInvoiceKind.CREDIT_NOTE).values("invoice_id")
    credits = list(Invoice.objects.filter(origin_id__in=origins, kind=InvoiceKind.CUSTOMER_CREDIT_NOTE)
                   .exclude(pk__in=linked).exclude(state=InvoiceState.CANCELLED).only("id", "origin_id")
                   .order_by("id"))  # fmt: skip
    if not credits:
        return False
    origin_ids = {c.origin_id for c in credits}
    origin_lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in InvoiceLine.objects.filter(invoice_id__in=origin_ids).order_by("sequence").values(
            "invoice_id", "sequence", "product_id", "name", "unit_price", "discount_percent", "quantity"):  # fmt: skip
        origin_lines[row["invoice_id"]].append(row)
    link_lines: dict[tuple[int, int], OrderInvoiceLine] = {
        (row.link.invoice_id, row.invoice_sequence): row
        for row in OrderInvoiceLine.objects.filter(link__order=order, link__invoice_id__in=origin_ids)
        .select_related("link")
    }  # fmt: skip
    credit_lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in InvoiceLine.objects.filter(invoice_id__in=[c.pk for c in credits]).order_by("sequence").values(
            "invoice_id", "sequence", "product_id", "name", "unit_price", "discount_percent", "quantity",
            "net_amount"):  # fmt: skip
        credit_lines[row["invoice_id"]].append(row)
    for credit in credits:
        assert credit.origin_id is not None
        link = OrderInvoice.objects.create(order=order, invoice=credit, kind=OrderInvoiceKind.CREDIT_NOTE)
        sources = origin_lines[credit.origin_id]
        rows = []
        for index, line in enumerate(credit_lines[credit.pk]):
            key = (line["product_id"], line["name"], line["unit_price"], line["discount_percent"])
            same = index < len(sources) and len(sources) == len(credit_lines[credit.pk])
            source = sources[index] if same else next(
                (s for s in sources if (s["product_id"], s["name"], s["unit_price"], s["discount_percent"]) == key),
                None)  # fmt: skip
            origin_link = link_lines.get((credit.origin_id, source["sequence"])) if source else None
            rows.append(OrderInvoiceLine(  # type: ignore[misc]
                link=link, invoice_sequence=line["sequence"],
                order_line_id=origin_link.order_line_id if origin_link else None,
                quantity=-Decimal(line["quantity"]) if origin_link and origin_link.order_line_id else ZERO,
                amount=-Decimal(line["net_amount"]),
            ))  # fmt: skip
        OrderInvoiceLine.objects.bulk_create(rows)
    return True


def _counted_sums(order_id: int) -> list[tuple[Any, ...]]:
    """(order line id, link kind, quantity, amount) summed over the order's link rows that count
    (``counting_q``), grouped: the quantity per order line, the amount over every row.

    Plain SQL: a grouped join the ORM compiled on every call; sums of scaled integers (exact)."""
    rows, links = OrderInvoiceLine._meta.db_table, OrderInvoice._meta.db_table
    states = ", ".join(["%s"] * len(OPEN_STATES))
    sql = (
        f"SELECT r.order_line_id, k.kind, SUM(r.quantity), SUM(r.amount) FROM {rows} r "  # noqa: S608
        f"JOIN {links} k ON k.id = r.link_id JOIN {Invoice._meta.db_table} i ON i.id = k.invoice_id "
        f"WHERE k.order_id = %s AND ((k.kind <> %s AND i.state <> %s) OR (k.kind = %s AND i.state IN ({states}))) "
        "GROUP BY r.order_line_id, k.kind"
    )
    params = [order_id, OrderInvoiceKind.CREDIT_NOTE, InvoiceState.CANCELLED, OrderInvoiceKind.CREDIT_NOTE,
              *OPEN_STATES]  # fmt: skip
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


class Invoiced:
    """What the order's counted link rows bill: the quantity per order line, the amount, the kinds of link."""

    def __init__(self, order: SalesOrder) -> None:
        self.per_line: dict[int, Decimal] = {}
        self.amount = ZERO
        self.kinds: set[str] = set()
        amount_raw = 0
        for order_line_id, kind, quantity_raw, line_amount_raw in _counted_sums(order.pk):
            amount_raw += int(line_amount_raw or 0)
            self.kinds.add(kind)
            if order_line_id is not None:
                self.per_line[order_line_id] = self.per_line.get(order_line_id, ZERO) + _scaled(quantity_raw, 3)
        self.amount = _scaled(amount_raw, 2)

    def add(self, rows: list[OrderInvoiceLine]) -> None:
        """Count the link rows of an invoice just made (not cancelled, not a credit note: they count)."""
        for row in rows:
            self.amount += Decimal(row.amount)
            if row.order_line_id is not None:
                self.per_line[row.order_line_id] = self.per_line.get(row.order_line_id, ZERO) + Decimal(row.quantity)


def invoicing_lines(order: SalesOrder) -> list[SalesOrderLine]:
    """The order's lines with the columns invoicing reads (``LINE_COLUMNS``), in their order.

    Plain SQL: the two joins ``select_related`` compiled on every call. The lines hold those columns
    (the others deferred, as ``.only()``), their unit its code and their product its kind."""
    connection = transaction.get_connection()
    fields = [field for name in LINE_COLUMNS if isinstance(field := SalesOrderLine._meta.get_field(name), Field)]
    columns = ", ".join(f"l.{field.column}" for field in fields)
    sql = (
        f"SELECT {columns}, u.unece_code, p.kind FROM {SalesOrderLine._meta.db_table} l "  # noqa: S608
        f"LEFT JOIN {Uom._meta.db_table} u ON u.id = l.uom_id "
        f"LEFT JOIN {Product._meta.db_table} p ON p.id = l.product_id "
        "WHERE l.order_id = %s ORDER BY l.position, l.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [order.pk])
        fetched = cursor.fetchall()
    attnames = [field.attname for field in fields]
    # The scaled integers (quantities, prices, amounts) converted as their fields do.
    scaled = [(index, field) for index, field in enumerate(fields) if isinstance(field, ScaledIntegerField)]
    lines = []
    for row in fetched:
        values = list(row[: len(fields)])
        for index, field in scaled:
            values[index] = field.from_db_value(values[index], None, connection)
        line = statements.instance(SalesOrderLine, attnames, values)
        unece_code, product_kind = row[len(fields) :]
        if line.uom_id is not None:
            line.uom = statements.instance(Uom, ["id", "unece_code"], [line.uom_id, unece_code])
        if line.product_id is not None:
            line.product = statements.instance(Product, ["id", "kind"], [line.product_id, product_kind])
        lines.append(line)
    return lines


def _count_invoiced(order: SalesOrder) -> Invoiced:
    """The counted link rows, after linking the credit notes made in accounting from the order's invoices."""
    invoiced = Invoiced(order)
    # A credit note's origin is a posted invoice of the order, whose link rows count: with no such row
    # (an order invoiced for the first time) there is nothing to look for.
    if invoiced.kinds - {OrderInvoiceKind.CREDIT_NOTE} and _link_credit_notes(order):
        invoiced = Invoiced(order)
    return invoiced


def _store_invoiced(order: SalesOrder, lines: list[SalesOrderLine], invoiced: Invoiced,
                    pending: bool | None = None) -> None:  # fmt: skip
    """Write the quantities and amount ``invoiced`` on the lines and the order, and its settled state."""
    changed = []
    now = timezone.now()
    for line in lines:
        quantity = invoiced.per_line.get(line.pk, ZERO)
        if Decimal(line.quantity_invoiced) != quantity:
            line.quantity_invoiced = quantity  # type: ignore[assignment]
            line.updated_at = now
            changed.append(line)
    if changed:
        _write_quantities_invoiced(changed, now)
    changed_fields = False
    if Decimal(order.invoiced_amount) != invoiced.amount:
        order.invoiced_amount = invoiced.amount  # type: ignore[assignment]
        changed_fields = True
    state = _settled_state(order, lines, pending)
    if state != order.state:
        order.state = state
        changed_fields = True
    if changed_fields:
        order.updated_at = now
        _ORDER_INVOICED.run([order.invoiced_amount, order.state, now], order.pk)


# What ``_store_invoiced`` writes on the order (both columns, the one unchanged with its own value).
_ORDER_INVOICED = Update(SalesOrder, ("invoiced_amount", "state", "updated_at"), "{id} = %s")


def _write_quantities_invoiced(lines: list[SalesOrderLine], now: Any) -> None:
    """Each line's ``quantity_invoiced`` in one UPDATE (``CASE id``), values prepared as the fields do."""
    connection = transaction.get_connection()
    quantity = SalesOrderLine._meta.get_field("quantity_invoiced")
    stamp = SalesOrderLine._meta.get_field("updated_at")
    cases = " ".join(["WHEN %s THEN %s"] * len(lines))
    ids = ", ".join(["%s"] * len(lines))
    sql = (
        f"UPDATE {SalesOrderLine._meta.db_table} SET quantity_invoiced = CASE id {cases} END, "  # noqa: S608
        f"updated_at = %s WHERE id IN ({ids})"
    )
    params: list[Any] = []
    for line in lines:
        params += [line.pk, quantity.get_db_prep_save(line.quantity_invoiced, connection)]  # type: ignore[union-attr]
    params.append(stamp.get_db_prep_save(now, connection))  # type: ignore[union-attr]
    params += [line.pk for line in lines]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def refresh_invoiced(order: SalesOrder, lines: list[SalesOrderLine] | None = None) -> list[SalesOrderLine]:
    """Recompute the order's invoiced quantities and amount from its invoices (call under the order's lock).

    Returns the order's lines, up to date; ``lines``: the ones the caller read under the same lock."""
    invoiced = _count_invoiced(order)
    lines = invoicing_lines(order) if lines is None else lines
    _store_invoiced(order, lines, invoiced)
    return lines


def _settled_state(order: SalesOrder, lines: list[SalesOrderLine], pending: bool | None = None) -> str:
    """Confirmed ↔ done: done when every product line is invoiced in full and every line of goods delivered.

    ``pending``: whether a row of the invoicing plan is not invoiced yet, when the caller knows (else read)."""
    if order.state not in (OrderState.CONFIRMED, OrderState.DONE):
        return order.state
    products = [line for line in lines if line.kind == OrderLineKind.PRODUCT]
    done = bool(products) and all(
        Decimal(line.quantity_invoiced) >= Decimal(line.quantity)
        and (not is_goods(line) or Decimal(line.quantity_delivered) >= Decimal(line.quantity))
        for line in products
    )
    if not done:
        return OrderState.CONFIRMED
    if pending is None:
        pending = InvoicingMilestone.objects.filter(order=order, invoice__isnull=True).exists()
    return OrderState.CONFIRMED if pending else OrderState.DONE


def is_goods(line: SalesOrderLine) -> bool:
    """A line that is delivered: goods or consumables (a line without a product counts by its operation)."""
    if line.kind != OrderLineKind.PRODUCT:
        return False
    if line.product_id is not None and line.product is not None:
        return line.product.kind != ProductKind.SERVICE
    return line.operation == LineOperation.GOODS


# --- Building invoice lines -----------------------------------------------------------


def _uom_code(line: SalesOrderLine) -> str:
    return (line.uom.unece_code if line.uom_id and line.uom else "") or "C62"


def _groups(lines: list[SalesOrderLine]) -> dict[Group, Decimal]:
    groups: dict[Group, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.kind == OrderLineKind.PRODUCT:
            groups[(line.vat_code, line.operation)] += Decimal(line.net_amount)
    return groups


def _down_payment_account(company_id: int) -> int:
    accounts = dict(Account.objects.filter(company_id=company_id, code__in=DOWN_PAYMENT_ACCOUNTS, is_active=True)
                    .values_list("code", "pk"))  # fmt: skip
    for code in DOWN_PAYMENT_ACCOUNTS:
        if code in accounts:
            return accounts[code]
    raise Conflict("account_missing", _("Account %(code)s is missing from the chart.") % {"code": "4191"})


def _split(amount: Decimal, groups: dict[Group, Decimal]) -> list[tuple[Group, Decimal]]:
    keys = [k for k, v in groups.items() if v > 0]
    if not keys:
        return []
    return [(k, part) for k, part in zip(keys, allocate(amount, [groups[k] for k in keys]), strict=True) if part]


def _operation_label(group: Group) -> str:
    return str(_("goods")) if group[1] == "goods" else str(_("services"))


def _deductions(order: SalesOrder) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The lines deducting every posted down payment not yet deducted (and their link rows)."""
    down = list(OrderInvoice.objects.filter(order=order, kind=OrderInvoiceKind.DOWN_PAYMENT)
                .exclude(invoice__state="cancelled").select_related("invoice").order_by("id"))  # fmt: skip
    if not down:
        return [], []
    deducted = set(OrderInvoiceLine.objects.filter(counting_q("link__"), link__order=order, deducts__isnull=False)
                   .values_list("deducts_id", flat=True))  # fmt: skip
    pending = [link for link in down if link.pk not in deducted]
    # A down payment credited in full is not deducted; a partly credited one is refused.
    credited: dict[int, Decimal] = defaultdict(Decimal)
    for origin_id, amount in OrderInvoiceLine.objects.filter(
        link__order=order, link__kind=OrderInvoiceKind.CREDIT_NOTE, link__invoice__state__in=OPEN_STATES,
        link__invoice__origin_id__in=[link.invoice_id for link in pending],
    ).values_list("link__invoice__origin_id", "amount"):  # fmt: skip
        credited[origin_id] -= Decimal(amount)
    if credited:
        billed = {link.invoice_id: Decimal(link.invoice.untaxed_amount) for link in pending}
        if any(0 < credited[i] < billed[i] for i in credited):
            message = _("A down payment is partly credited: credit it in full before the final invoice.")
            raise Conflict("down_payment_partly_credited", message)
        pending = [link for link in pending if credited.get(link.invoice_id, ZERO) < billed[link.invoice_id]]
    if any(link.invoice.state == InvoiceState.DRAFT for link in pending):
        raise Conflict("down_payment_draft", _("Post or delete the down-payment invoice before the final invoice."))
    if not pending:
        return [], []
    account_id = _down_payment_account(order.company_id)
    lines: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    source = InvoiceLine.objects.filter(invoice_id__in=[link.invoice_id for link in pending]).order_by(
        "invoice_id", "sequence").values("invoice_id", "name", "operation", "unit_price", "vat_category", "uom_code",
                                         "net_amount")  # fmt: skip
    by_invoice = {link.invoice_id: link for link in pending}
    for row in source:
        link = by_invoice[row["invoice_id"]]
        lines.append({
            "name": str(_("Deduction of down payment %(number)s") % {"number": link.invoice.number})[:200],
            "operation": row["operation"], "quantity": "-1", "uom_code": row["uom_code"],
            "unit_price": str(row["unit_price"]), "vat_category": row["vat_category"], "account_id": account_id,
        })  # fmt: skip
        links.append({"order_line_id": None, "quantity": ZERO, "amount": -Decimal(row["net_amount"]), "deducts": link})
    return lines, links


# --- The service ----------------------------------------------------------------------

# The order to invoice, locked, for an actor who sees every order of the company (``orders._locked``).
_ORDER_TO_INVOICE = Select(SalesOrder, ("id", *ORDER_COLUMNS), "{company_id} = %s AND {id} = %s", lock=True)
# The invoicing plan in its order, read once: whether it has milestones, rows not invoiced, down payments
# invoiced, the row to invoice and the milestones before it.
_PLAN = Select(InvoicingMilestone, ("id", "order", "position", "kind", "label", "percent", "amount", "invoice"),
               "{order_id} = %s", order_by="{position}, {id}")  # fmt: skip


@transaction.atomic
def invoice_order(*, actor: Actor, order_id: int, mode: Any = None, percent: Any = None, amount: Any = None,
                  milestone_id: Any = None, post: bool = False) -> Invoice:  # fmt: skip
    """Make the order's next invoice (a draft, or posted with ``post=True``) and link it both ways.

    ``mode``: "order" (ordered − invoiced), "delivery" (delivered − invoiced), "down_payment"
    (``percent`` or ``amount`` excluding VAT, or the plan row ``milestone_id``) or
    "milestone" (the plan row ``milestone_id``, default the next one). Default: the order's
    policy, or the next milestone when the order has a milestone plan.
    Needs ``sales.manage_orders`` and ``accounting.manage_invoices``.
    """
    order = _locked(actor, order_id, ORDER_COLUMNS, statement=_ORDER_TO_INVOICE)
    require(actor, acc_invoices.MANAGE)
    if order.state != OrderState.CONFIRMED:
        raise Conflict("order_not_invoiceable", _("Only a confirmed order that is not fully invoiced is invoiced."))
    # The invoicing plan in one read: whether it has milestones, rows not invoiced, down payments invoiced.
    plan: list[InvoicingMilestone] = _PLAN.instances(order.pk)
    invoiced = _count_invoiced(order)
    lines = invoicing_lines(order)
    _store_invoiced(order, lines, invoiced, pending=any(row.invoice_id is None for row in plan))
    if order.state != OrderState.CONFIRMED:
        raise Conflict("order_not_invoiceable", _("Only a confirmed order that is not fully invoiced is invoiced."))
    has_milestones = any(row.kind == MilestoneKind.MILESTONE for row in plan)
    if mode in (None, ""):
        mode = "milestone" if has_milestones else order.invoicing_policy
    if mode not in MODES:
        raise ValidationFailed(fields={"mode": [str(_("Choose among: %(values)s.") % {"values": ", ".join(MODES)})]})
    links: list[dict[str, Any]] = []
    invoice_lines: list[dict[str, Any]] = []
    kind = OrderInvoiceKind.REGULAR
    milestone: InvoicingMilestone | None = None
    errors: dict[str, list[str]] = {}
    if mode in ("order", "delivery"):
        if has_milestones:
            raise Conflict("order_has_milestones", _("This order is invoiced by milestones."))
        for line in lines:
            if line.kind != OrderLineKind.PRODUCT:
                continue
            base = Decimal(line.quantity) if mode == "order" else Decimal(line.quantity_delivered)
            quantity = min(base, Decimal(line.quantity)) - Decimal(line.quantity_invoiced)
            if quantity <= 0:
                continue
            invoice_lines.append(_product_line(line, quantity))
            links.append({"order_line_id": line.pk, "quantity": quantity, "amount": None})
        if not invoice_lines:
            raise ValidationFailed("nothing_to_invoice", _("There is nothing left to invoice on this order."),
                                   fields={"mode": [str(_("Nothing is left to invoice (%(mode)s).")
                                                        % {"mode": mode})]})  # fmt: skip
        complete = all(
            Decimal(line.quantity_invoiced) + sum((link["quantity"] for link in links
                                                   if link["order_line_id"] == line.pk), ZERO)
            >= Decimal(line.quantity)
            for line in lines if line.kind == OrderLineKind.PRODUCT
        )  # fmt: skip
        if complete:
            kind = OrderInvoiceKind.FINAL
    elif mode == "down_payment":
        milestone, value = _down_payment_amount(order, plan, percent, amount, milestone_id, errors,
                                                billed=invoiced.amount)  # fmt: skip
        account_id = _down_payment_account(order.company_id)
        label = str(_("Down payment on order %(number)s") % {"number": order.number})
        if milestone is not None and milestone.percent:
            label += f" ({Decimal(milestone.percent).normalize()} %)"
        groups = _groups(lines)
        for group, part in _split(value, groups):
            name = f"{label} - {_operation_label(group)}" if len(groups) > 1 else label
            invoice_lines.append(
                {
                    "name": name[:200],
                    "operation": group[1],
                    "quantity": "1",
                    "uom_code": "C62",
                    "unit_price": str(part),
                    "vat_category": group[0],
                    "account_id": account_id,
                }
            )
            links.append({"order_line_id": None, "quantity": ZERO, "amount": part})
        kind = OrderInvoiceKind.DOWN_PAYMENT
    else:
        milestone = _next_milestone(plan, milestone_id, MilestoneKind.MILESTONE)
        milestones = [m for m in plan if m.kind == MilestoneKind.MILESTONE]
        before = sum((Decimal(m.percent or 0) for m in milestones[: milestones.index(milestone)]), ZERO)
        after = before + Decimal(milestone.percent or 0)
        last = not any(m.invoice_id is None and m.pk != milestone.pk for m in milestones)
        for group, net in _groups(lines).items():
            part = quantize(net * after / HUNDRED) - quantize(net * before / HUNDRED)
            if part:
                label = f"{milestone.label} ({Decimal(milestone.percent or 0).normalize()} %) - {order.number}"
                invoice_lines.append(
                    {
                        "name": label[:200],
                        "operation": group[1],
                        "quantity": "1",
                        "uom_code": "C62",
                        "unit_price": str(part),
                        "vat_category": group[0],
                    }
                )
                links.append({"order_line_id": None, "quantity": ZERO, "amount": part})
        if last:
            kind = OrderInvoiceKind.FINAL
            for line in lines:
                rest = Decimal(line.quantity) - Decimal(line.quantity_invoiced)
                if line.kind == OrderLineKind.PRODUCT and rest > 0:
                    links.append({"order_line_id": line.pk, "quantity": rest, "amount": ZERO, "sequence": 0})
        else:
            kind = OrderInvoiceKind.MILESTONE
    if errors:
        raise ValidationFailed(fields=errors)
    # Down payments to deduct: only if one was invoiced (its link counts, its plan row points to it).
    down_payments = OrderInvoiceKind.DOWN_PAYMENT in invoiced.kinds or any(
        row.kind == MilestoneKind.DOWN_PAYMENT and row.invoice_id is not None for row in plan
    )
    if kind == OrderInvoiceKind.FINAL and down_payments:
        deduction_lines, deduction_links = _deductions(order)
        invoice_lines += deduction_lines
        links += deduction_links
    invoice = _create_invoice(actor, order, invoice_lines)
    if Decimal(invoice.total_amount) < 0:
        raise ValidationFailed("down_payments_exceed", _("The down payments exceed what is left to invoice."),
                               fields={"mode": [str(_("The down payments exceed what is left to invoice; "
                                                      "credit a down payment first."))]})  # fmt: skip
    invoiced.add(_link(order, invoice, kind, links))
    if milestone is not None:
        milestone.invoice = invoice
        milestone.save(update_fields=["invoice", "updated_at"])
    # The new invoice's rows counted with those read under the lock: no need to read them all again.
    billed = milestone.pk if milestone is not None else None
    pending = any(row.invoice_id is None and row.pk != billed for row in plan)
    _store_invoiced(order, lines, invoiced, pending=pending)
    audit.record(actor, "sales_order.invoice", order, changes={
        "invoice_id": [None, invoice.pk], "kind": [None, kind], "total": [None, invoice.total_amount]})  # fmt: skip
    if post:
        # Posting changes nothing the order counts (an invoice counts from its draft on): no refresh after it.
        invoice = acc_invoices.invoice_post(actor=actor, invoice_id=invoice.pk)
    return invoice


def _product_line(line: SalesOrderLine, quantity: Decimal) -> dict[str, Any]:
    name, _sep, description = (line.description or "").partition("\n")
    return {
        "product_id": line.product_id, "name": (name or "-")[:200], "description": description[:2000],
        "operation": line.operation, "quantity": str(quantity), "uom_code": _uom_code(line),
        "unit_price": str(line.unit_price), "discount_percent": str(line.discount_percent),
        "vat_category": line.vat_code,
    }  # fmt: skip


def _next_milestone(plan: list[InvoicingMilestone], milestone_id: Any, kind: str) -> InvoicingMilestone:
    """The plan row ``milestone_id`` of ``kind`` not invoiced yet, or the first such row (``plan`` in its order)."""
    rows = [row for row in plan if row.kind == kind and row.invoice_id is None]
    if milestone_id not in (None, ""):
        number = _parse_id({}, "", milestone_id, False)
        found = next((row for row in rows if row.pk == number), None) if number else None
        if found is None:
            raise ValidationFailed(fields={"milestone_id": [str(_("Choose a row of the plan not invoiced yet."))]})
        return found
    found = rows[0] if rows else None
    if found is None:
        raise ValidationFailed("nothing_to_invoice", _("There is nothing left to invoice on this order."),
                               fields={"milestone_id": [str(_("Every row of the plan is invoiced."))]})  # fmt: skip
    return found


def _down_payment_amount(order: SalesOrder, plan: list[InvoicingMilestone], percent: Any, amount: Any,
                         milestone_id: Any, errors: dict[str, list[str]], *, billed: Decimal
                         ) -> tuple[InvoicingMilestone | None, Decimal]:  # fmt: skip
    """The down payment's amount excluding VAT (from the plan row, or ``percent``/``amount``), checked.

    ``plan``: the order's plan rows in their order (a new row goes last); ``billed``: what the order's
    counted invoices bill (down payments included, credit notes deducted)."""
    untaxed = Decimal(order.untaxed_amount)
    milestone = None
    if milestone_id not in (None, "") or (percent in (None, "") and amount in (None, "")):
        milestone = _next_milestone(plan, milestone_id, MilestoneKind.DOWN_PAYMENT)
        value = (Decimal(milestone.amount) if milestone.amount
                 else quantize(untaxed * Decimal(milestone.percent or 0) / HUNDRED))  # fmt: skip
    else:
        p = acc_invoices._parse_decimal(errors, "percent", percent, places=2, default=ZERO, minimum=ZERO,
                                        maximum=HUNDRED)  # fmt: skip
        a = acc_invoices._parse_decimal(errors, "amount", amount, places=2, default=ZERO, minimum=ZERO,
                                        maximum=untaxed)  # fmt: skip
        if errors:
            raise ValidationFailed(fields=errors)
        if bool(p) == bool(a):
            _add(errors, "percent", _("Enter either a percentage or an amount."))
            raise ValidationFailed(fields=errors)
        value = a or quantize(untaxed * (p or ZERO) / HUNDRED)
        milestone = InvoicingMilestone.objects.create(
            order=order, kind=MilestoneKind.DOWN_PAYMENT, label=str(_("Down payment")), percent=p or None,
            amount=a or None, position=len(plan) + 1)  # fmt: skip
    if value <= 0:
        raise ValidationFailed(fields={"amount": [str(_("Enter an amount greater than zero."))]})
    # Down payments billed so far (not cancelled, less credited) plus what the order invoiced.
    if value + billed > untaxed:
        raise ValidationFailed(fields={"amount": [str(_("At most %(n)s: what is left to invoice excluding VAT.")
                                                      % {"n": max(untaxed - billed, ZERO)})]})  # fmt: skip
    return milestone, value


def _create_invoice(actor: Actor, order: SalesOrder, lines: list[dict[str, Any]]) -> Invoice:
    data: dict[str, Any] = {
        "organization_id": order.organization_id, "fiscal_position": order.fiscal_position,
        "language": order.language, "purchase_order": (order.customer_reference or order.number)[:100],
        "source_type": SOURCE_TYPE, "source_id": str(order.pk), "site_id": order.site_id,
        "note": str(_("Order %(number)s") % {"number": order.number}),
    }  # fmt: skip
    if order.payment_term_id:
        data["payment_term_id"] = order.payment_term_id
    if order.delivery_address.get("line1") and order.delivery_address.get("city"):
        data["delivery_address"] = order.delivery_address
    inherited = {"site_id": order.site_id, "payment_term_id": order.payment_term_id}
    return acc_invoices.invoice_create(actor=actor, kind=InvoiceKind.CUSTOMER_INVOICE, lines=lines,
                                       inherited=inherited, **data)  # fmt: skip


# The net of each line of the invoice just made, by sequence (the link rows' amounts).
_INVOICE_LINE_NETS = Select(InvoiceLine, ("sequence", "net_amount"), "{invoice_id} = %s")


def _link(order: SalesOrder, invoice: Invoice, kind: str, links: list[dict[str, Any]]) -> list[OrderInvoiceLine]:
    """The link from the order to ``invoice`` and its rows (returned, for their quantities and amounts)."""
    now = timezone.now()
    # One INSERT compiled once (the model has no save() logic); the link's stamps as create() sets them.
    link_id = audit.insert_row(OrderInvoice, {"created_at": now, "updated_at": now, "order_id": order.pk,
                                              "invoice_id": invoice.pk, "kind": kind}, returning_pk=True)  # fmt: skip
    # invoice_create hands back the nets it wrote; read them only for an invoice made otherwise.
    nets = getattr(invoice, "line_nets", None) or dict(_INVOICE_LINE_NETS.rows(invoice.pk))
    rows = []
    sequence = 0
    for item in links:
        if item.get("sequence") == 0:
            invoice_sequence = 0
        else:
            sequence += 1
            invoice_sequence = sequence
        deducts = item.get("deducts")
        rows.append(OrderInvoiceLine(  # type: ignore[misc]
            link_id=link_id, invoice_sequence=invoice_sequence, order_line_id=item["order_line_id"],
            quantity=item["quantity"], deducts_id=deducts.pk if deducts is not None else None,
            amount=nets.get(invoice_sequence, ZERO) if invoice_sequence else (item["amount"] or ZERO),
        ))  # fmt: skip
    insert_instances(rows)
    return rows


@transaction.atomic
def order_credit(*, actor: Actor, order_id: int, invoice_id: Any, lines: Any = None) -> Invoice:
    """A draft credit note of one of the order's posted invoices (all lines, or ``[{line, quantity}]``)."""
    order = _locked(actor, order_id)
    number = _parse_id({}, "", invoice_id, False)
    link = OrderInvoice.objects.filter(order=order, invoice_id=number).exclude(
        kind=OrderInvoiceKind.CREDIT_NOTE).first() if number else None  # fmt: skip
    if link is None:
        raise NotFound("invoice_not_found")
    credit = acc_invoices.invoice_credit(actor=actor, invoice_id=link.invoice_id, lines=lines)
    credit = acc_invoices.invoice_update(actor=actor, invoice_id=credit.pk, source_type=SOURCE_TYPE,
                                         source_id=str(order.pk))  # fmt: skip
    refresh_invoiced(order)
    audit.record(actor, "sales_order.credit", order, changes={"credit_note_id": [None, credit.pk]})
    return credit


def on_invoice_posted(event: Any) -> None:
    """``accounting.invoice_posted``: a credit note of an order's invoice updates the order's quantities."""
    payload = event.payload
    # Only a credit note counts from its posting on (an invoice counts from its draft on, so posting one of
    # the order's invoices changes nothing the order counts).
    if payload.get("kind") != InvoiceKind.CUSTOMER_CREDIT_NOTE:
        return
    invoice_id = payload.get("invoice_id")
    if not isinstance(invoice_id, int):
        return
    # The orders linked to the credit note or to the invoice it credits, in one read.
    origin = Invoice.objects.filter(pk=invoice_id, origin_id__isnull=False).values("origin_id")
    order_ids = set(OrderInvoice.objects.filter(Q(invoice_id=invoice_id) | Q(invoice_id__in=origin))
                    .values_list("order_id", flat=True).order_by())  # fmt: skip
    _refresh_orders(order_ids)


def on_invoice_draft_gone(event: Any) -> None:
    """``accounting.invoice_deleted`` / ``invoice_cancelled``: the order a draft was made from counts it no
    more (its quantities and state are recomputed at once; a deleted draft's links went with it)."""
    payload = event.payload
    source_id = str(payload.get("source_id") or "")
    if payload.get("source_type") == SOURCE_TYPE and source_id.isdigit():
        _refresh_orders({int(source_id)})


def _refresh_orders(order_ids: set[int]) -> None:
    for order_id in sorted(order_ids):
        order = next(iter(SalesOrder.objects.select_for_update().filter(pk=order_id)
                          .only("company", "state", "invoiced_amount").order_by()[:1]), None)  # fmt: skip
        if order is not None:
            refresh_invoiced(order)

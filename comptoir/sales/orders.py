"""Sales orders: every write (create, from a quote, confirm, update, plan, cancel).

An order is numbered when it is confirmed (``kernel.sequences`` kind ``sales.order``,
``CO-2026-00001``, gapless: the number is taken last in the confirming transaction).
Confirming publishes ``sales.order_confirmed`` with the opportunity's id; the CRM marks
that opportunity won (``crm/sales_subscribers.py``), so the CRM never imports sales.

Modification rules: a draft changes freely. A confirmed order may get new lines and
larger quantities; a quantity never goes below what was delivered or invoiced, and a line
already delivered or invoiced keeps its price, discount and VAT and cannot be removed. A
done or cancelled order does not change. Cancelling is refused while anything is
delivered, or invoiced and not credited (a draft invoice must be deleted first, a posted
one credited in full), because the books would otherwise show a sale of a cancelled order.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import invoices as acc_invoices
from comptoir.accounting import vat
from comptoir.accounting.models import InvoicingSettings, LineOperation, PaymentTerm
from comptoir.accounting.services import (
    _add,
    _parse_date,
    _parse_id,
    _required_text,
    _unknown,
    clean_site_id,
    default_site_id,
)
from comptoir.catalog.models import Product, ProductKind, Uom
from comptoir.contacts import selectors as contact_selectors
from comptoir.contacts.models import Address, Organization, Person
from comptoir.contacts.selectors import visible_organizations
from comptoir.crm.models import Opportunity
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.money import quantize
from comptoir.kernel.sequences import next_number, record_number, register_kind, take_number
from comptoir.kernel.statements import Select, insert_instances
from comptoir.kernel.states import Transition, Workflow
from comptoir.sales.models_orders import (
    InvoicingMilestone,
    InvoicingPolicy,
    MilestoneKind,
    OrderLineKind,
    OrderState,
    SalesOrder,
    SalesOrderLine,
)
from comptoir.sales.models_quotes import Quote, QuoteLine, QuoteLineKind, QuoteState

VIEW = "sales.view_orders"
MANAGE = "sales.manage_orders"
VIEW_ALL = "sales.view_all"
# The quote's columns that an order copies (its read takes no others; the lines: ``_quote_lines_to_copy``).
QUOTE_COLUMNS = ("company", "organization", "contact", "opportunity", "owner", "team", "site", "state", "currency",
                 "payment_term", "fiscal_position", "language", "notes", "discount_percent")  # fmt: skip
SEQUENCE_KIND = "sales.order"
SOURCE_TYPE = "sales.order"
CONFIRMED_EVENT = "sales.order_confirmed"
MAX_LINES = 500
ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_QUANTITY = Decimal("1e9")
MAX_PRICE = Decimal("1e11")

CANCELLABLE = (OrderState.DRAFT, OrderState.CONFIRMED, OrderState.DONE)
ORDER = Workflow(
    "sales_order",
    OrderState.values,
    [
        Transition("confirm", (OrderState.DRAFT,), OrderState.CONFIRMED, MANAGE, _("Confirm")),
        Transition("cancel", CANCELLABLE, OrderState.CANCELLED, MANAGE, _("Cancel")),
    ],
)

ORDER_FIELDS = (
    "organization_id", "contact_id", "opportunity_id", "payment_term_id", "invoicing_policy", "customer_reference",
    "delivery_address", "notes", "order_date", "commitment_date", "language", "site_id",
)  # fmt: skip
LINE_FIELDS = ("id", "kind", "product_id", "description", "operation", "quantity", "uom_id", "unit_price",
               "discount_percent", "vat_code")  # fmt: skip
ADDRESS_FIELDS = ("line1", "line2", "postal_code", "city", "country")
LOCKED_FIELDS = {
    "kind": _("kind"), "product_id": _("product"), "unit_price": _("unit price"),
    "discount_percent": _("discount (%)"), "vat_code": _("VAT category"), "operation": _("goods or services"),
}  # fmt: skip


def register_sequences() -> None:
    register_kind(SEQUENCE_KIND, "CO", "{prefix}-{year}-{n:05}", yearly=True)


# --- Reads used by the services -------------------------------------------------------


def sees_all_orders(actor: Actor) -> bool:
    """Whether the orders record rule reduces to the company filter for ``actor`` (``visible_orders``)."""
    return actor.company_id is not None and actor.has_perm(VIEW) and actor.has_perm(VIEW_ALL)


def _locked(actor: Actor, order_id: Any, only: Sequence[str] = (), *, statement: Select | None = None) -> SalesOrder:
    """Lock the order if the actor sees it (404 otherwise), then require the manage right.

    ``statement``: the caller's locking read (``{company_id}``, ``{id}``, ``lock=True``) of the columns it
    needs, for an actor who sees every order of the company; others go through the record rule."""
    from comptoir.sales.order_selectors import visible_orders

    if not isinstance(order_id, int) or isinstance(order_id, bool) or not 0 < order_id < 2**63:
        raise NotFound("order_not_found")
    if statement is not None and sees_all_orders(actor):
        order = statement.instance(actor.company_id, order_id)
    else:
        # The record rule's filters on the locked row itself (a subquery on organizations at most, never a join).
        rows = visible_orders(actor).select_for_update().filter(pk=order_id)
        # One row by primary key: no ORDER BY; ``only``: the columns the caller reads (it saves those alone).
        order = next(iter((rows.only(*only) if only else rows).order_by()[:1]), None)
    if order is None:
        raise NotFound("order_not_found")
    require(actor, MANAGE)
    return order


def order_lines(order: SalesOrder) -> list[SalesOrderLine]:
    return list(SalesOrderLine.objects.filter(order=order).select_related("uom", "product").order_by("position", "id"))


# --- Computation ----------------------------------------------------------------------


# The two settings the VAT computation reads (one row per company: no ORDER BY).
_VAT_SETTINGS = Select(InvoicingSettings, ("vat_on_debits", "vat_franchise"), "{company_id} = %s", limit=1)


def _vat_settings(company_id: int) -> tuple[bool, bool]:
    """The company's VAT on debits and franchise (the two settings the computation reads)."""
    row = _VAT_SETTINGS.one(company_id)
    if row is None:  # not created yet: created with the defaults
        invoicing = acc_invoices._invoicing_settings(company_id)
        return invoicing.vat_on_debits, invoicing.vat_franchise
    return bool(row[0]), bool(row[1])


def _uom_code(line: SalesOrderLine, uom_codes: dict[int, str] | None) -> str:
    if not line.uom_id:
        return "C62"
    if uom_codes is not None:
        return uom_codes.get(line.uom_id) or "C62"
    return (line.uom.unece_code if line.uom else "") or "C62"


def _compute_lines(order: SalesOrder, lines: Sequence[SalesOrderLine], uom_codes: dict[int, str] | None = None) -> None:
    """Each product line's VAT (``vat.decide``) and net, the order's totals: the invoices' computation.

    ``uom_codes``: the UN/ECE code of each line's unit when the caller read them (else ``line.uom``)."""
    vat_on_debits, vat_franchise = _vat_settings(order.company_id)
    product_lines = [line for line in lines if line.kind == OrderLineKind.PRODUCT]
    data = [{
        "name": line.name or "-", "description": "", "quantity": Decimal(line.quantity),
        "unit_price": Decimal(line.unit_price), "discount_percent": Decimal(line.discount_percent),
        "vat_category": line.vat_code, "operation": line.operation,
        "uom_code": _uom_code(line, uom_codes),
    } for line in product_lines]  # fmt: skip
    errors: dict[str, list[str]] = {}
    computed = acc_invoices._compute(
        "customer_invoice", order.fiscal_position, vat_on_debits, vat_franchise, data, errors
    )
    if computed is None:
        raise ValidationFailed(fields=errors)
    for line, decision, amounts in zip(product_lines, computed.decisions, computed.totals.lines, strict=True):
        line.tax_category = decision.code.value
        line.vat_rate = decision.rate  # type: ignore[assignment]
        line.net_amount = amounts.net  # type: ignore[assignment]
    order.untaxed_amount = computed.totals.tax_basis_total  # type: ignore[assignment]
    order.tax_amount = computed.totals.tax_total  # type: ignore[assignment]
    order.total_amount = computed.totals.grand_total  # type: ignore[assignment]


# --- Cleaning -------------------------------------------------------------------------


def _clean_address(errors: dict[str, list[str]], value: Any) -> dict[str, str]:
    if value in (None, "", {}):
        return {}
    if not isinstance(value, dict):
        _add(errors, "delivery_address", _("Enter an address."))
        return {}
    _unknown(errors, value, ADDRESS_FIELDS, "delivery_address.")
    return {name: _required_text(errors, f"delivery_address.{name}", value.get(name), 200, False)
            for name in ADDRESS_FIELDS}  # fmt: skip


def _clean_lines(actor: Actor, raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(raw, (list, tuple)):
        _add(errors, "lines", _("Enter the lines of the order."))
        return []
    if len(raw) > MAX_LINES:
        _add(errors, "lines", _("An order has at most %(n)s lines.") % {"n": MAX_LINES})
        return []
    ids = {p for p in (_parse_id({}, "", line.get("product_id"), False) for line in raw if isinstance(line, dict))
           if p}  # fmt: skip
    products = Product.objects.filter(company_id=actor.company_id, pk__in=ids).in_bulk() if ids else {}
    uom_ids = {u for u in (_parse_id({}, "", line.get("uom_id"), False) for line in raw if isinstance(line, dict))
               if u}  # fmt: skip
    uoms = Uom.objects.filter(company_id=actor.company_id, pk__in=uom_ids).in_bulk() if uom_ids else {}
    categories = [c.value for c in vat.VatCategory]
    cleaned: list[dict[str, Any]] = []
    for index, line in enumerate(raw):
        prefix = f"lines.{index}."
        if not isinstance(line, dict):
            _add(errors, f"lines.{index}", _("Enter a line."))
            continue
        _unknown(errors, line, LINE_FIELDS, prefix)
        kind = acc_invoices._choice(errors, prefix + "kind", line.get("kind"), OrderLineKind.values,
                                    OrderLineKind.PRODUCT)  # fmt: skip
        line_id = _parse_id(errors, prefix + "id", line.get("id"), False)
        if kind != OrderLineKind.PRODUCT:
            cleaned.append({"id": line_id, "kind": kind, "product_id": None, "uom_id": None, "quantity": ZERO,
                            "description": _required_text(errors, prefix + "description", line.get("description"),
                                                          4000, True),
                            "operation": LineOperation.GOODS, "unit_price": ZERO, "discount_percent": ZERO,
                            "vat_code": "standard"})  # fmt: skip
            continue
        product_id = _parse_id(errors, prefix + "product_id", line.get("product_id"), False)
        product = products.get(product_id) if product_id else None
        if product_id and (product is None or product.is_archived):
            _add(errors, prefix + "product_id", _("Unknown or archived product."))
            product = None
        defaults: dict[str, Any] = {}
        if product is not None:
            defaults = {
                "description": product.name_fr or product.name_en, "unit_price": str(product.sale_price),
                "vat_code": product.vat_category, "uom_id": product.sale_uom_id,
                "operation": LineOperation.SERVICES if product.kind == ProductKind.SERVICE else LineOperation.GOODS,
            }  # fmt: skip

        def given(name: str, line: dict[str, Any] = line, defaults: dict[str, Any] = defaults) -> Any:
            value = line.get(name)
            return defaults.get(name) if value in (None, "") else value

        uom_id = _parse_id(errors, prefix + "uom_id", given("uom_id"), False)
        if uom_id and uom_id not in uoms and uom_id != defaults.get("uom_id"):
            _add(errors, prefix + "uom_id", _("Unknown unit."))
        quantity = acc_invoices._parse_decimal(errors, prefix + "quantity", given("quantity") or "1", places=3,
                                               minimum=Decimal("0.001"), maximum=MAX_QUANTITY)  # fmt: skip
        cleaned.append({
            "id": line_id, "kind": kind, "product_id": product.pk if product is not None else None, "uom_id": uom_id,
            "description": _required_text(errors, prefix + "description", given("description"), 4000, True),
            "operation": acc_invoices._choice(errors, prefix + "operation", given("operation"), LineOperation.values,
                                              LineOperation.GOODS),
            "quantity": quantity or Decimal(1),
            "unit_price": acc_invoices._parse_decimal(errors, prefix + "unit_price", given("unit_price"), places=4,
                                                      minimum=ZERO, maximum=MAX_PRICE) or ZERO,
            "discount_percent": acc_invoices._parse_decimal(errors, prefix + "discount_percent",
                                                            line.get("discount_percent"), places=2, default=ZERO,
                                                            minimum=ZERO, maximum=HUNDRED) or ZERO,
            "vat_code": acc_invoices._choice(errors, prefix + "vat_code", given("vat_code"), categories, "standard"),
        })  # fmt: skip
    return cleaned


def _apply_header(actor: Actor, order: SalesOrder, data: dict[str, Any], creating: bool,
                  errors: dict[str, list[str]]) -> None:  # fmt: skip
    if "organization_id" in data or creating:
        organization_id = _parse_id(errors, "organization_id", data.get("organization_id"), True)
        if organization_id and organization_id != order.organization_id:
            organization = visible_organizations(actor).filter(pk=organization_id, merged_into__isnull=True).first()
            if organization is None:
                _add(errors, "organization_id", _("Unknown organization."))
            elif order.state != OrderState.DRAFT:
                _add(errors, "organization_id", _("The customer of a confirmed order cannot change."))
            else:
                _set_customer(order, organization)
    if "contact_id" in data:
        contact_id = _parse_id(errors, "contact_id", data["contact_id"], False)
        if contact_id and not Person.objects.filter(company_id=actor.company_id, pk=contact_id).exists():
            _add(errors, "contact_id", _("Unknown person."))
        order.contact_id = contact_id
    if "opportunity_id" in data:
        opportunity_id = _parse_id(errors, "opportunity_id", data["opportunity_id"], False)
        if opportunity_id and not Opportunity.objects.filter(company_id=actor.company_id, pk=opportunity_id).exists():
            _add(errors, "opportunity_id", _("Unknown opportunity."))
        order.opportunity_id = opportunity_id
    if "payment_term_id" in data:
        term_id = _parse_id(errors, "payment_term_id", data["payment_term_id"], False)
        if term_id and not PaymentTerm.objects.filter(company_id=actor.company_id, pk=term_id).exists():
            _add(errors, "payment_term_id", _("Unknown payment term."))
        order.payment_term_id = term_id
    if "invoicing_policy" in data:
        order.invoicing_policy = acc_invoices._choice(errors, "invoicing_policy", data["invoicing_policy"],
                                                      InvoicingPolicy.values, order.invoicing_policy)  # fmt: skip
    if "language" in data:
        order.language = acc_invoices._choice(errors, "language", data["language"], ["fr", "en"], order.language)
    for name, size in (("customer_reference", 100), ("notes", 4000)):
        if name in data:
            setattr(order, name, _required_text(errors, name, data[name], size, False))
    for name in ("order_date", "commitment_date"):
        if name in data:
            setattr(order, name, _parse_date(errors, name, data[name], required=False))
    if "delivery_address" in data:
        order.delivery_address = _clean_address(errors, data["delivery_address"])
    if "site_id" in data:  # an active site of the company; empty: the company as a whole
        order.site_id = clean_site_id(errors, "site_id", data["site_id"], actor.company_id or 0,
                                      current=order.site_id)  # fmt: skip
    elif creating:
        order.site_id = default_site_id(actor.company_id or 0)


def _set_customer(order: SalesOrder, organization: Organization) -> None:
    order.organization_id = organization.pk
    profile = acc_invoices.partner_profile(order.company_id, organization.pk)
    order.fiscal_position = profile.fiscal_position
    order.language = profile.language
    if not order.payment_term_id:
        invoicing = acc_invoices._invoicing_settings(order.company_id)
        order.payment_term_id = profile.payment_term_id or invoicing.default_payment_term_id
    if not order.delivery_address:
        order.delivery_address = acc_invoices.partner_address(organization.pk, Address.Kind.DELIVERY)


def _write_lines(order: SalesOrder, cleaned: list[dict[str, Any]], errors: dict[str, list[str]]) -> None:
    """Replace the lines by ``cleaned`` under the modification rules; compute the totals; save."""
    existing = {line.pk: line for line in order_lines(order)} if order.pk else {}
    confirmed = order.state == OrderState.CONFIRMED
    kept: list[SalesOrderLine] = []
    seen: set[int] = set()
    for index, data in enumerate(cleaned):
        prefix = f"lines.{index}."
        line_id = data.pop("id")
        if line_id is not None:
            line = existing.get(line_id)
            if line is None or line_id in seen:
                _add(errors, prefix + "id", _("The order has no such line."))
                continue
            seen.add(line_id)
        else:
            line = SalesOrderLine(order=order)
        floor = max(Decimal(line.quantity_delivered), Decimal(line.quantity_invoiced))
        if line.pk and confirmed and floor > 0:
            for name in ("kind", "product_id", "unit_price", "discount_percent", "vat_code", "operation"):
                if getattr(line, name) != data[name]:
                    _add(
                        errors,
                        prefix + name,
                        _("This line is already delivered or invoiced: it keeps its %(field)s.")
                        % {"field": LOCKED_FIELDS[name]},
                    )
        if data["kind"] == OrderLineKind.PRODUCT and data["quantity"] < floor:
            _add(errors, prefix + "quantity",
                 _("At least %(n)s: already delivered or invoiced.") % {"n": floor.normalize()})  # fmt: skip
        for name, value in data.items():
            setattr(line, name, value)
        line.position = index + 1
        kept.append(line)
    for line_id, line in existing.items():
        if line_id not in seen and (Decimal(line.quantity_delivered) or Decimal(line.quantity_invoiced)
                                    or line.invoice_lines.exists()):  # fmt: skip
            _add(errors, "lines", _("Line “%(name)s” is delivered or invoiced and cannot be removed.")
                 % {"name": line.name[:80]})  # fmt: skip
    if errors:
        raise ValidationFailed(fields=errors)
    uom_ids = {line.uom_id for line in kept if line.uom_id}
    uoms = Uom.objects.in_bulk(uom_ids) if uom_ids else {}
    for line in kept:
        line.uom = uoms.get(line.uom_id) if line.uom_id else None
    _compute_lines(order, kept)
    order.save()
    for line in kept:
        line.order = order
    SalesOrderLine.objects.filter(order=order).exclude(pk__in=[line.pk for line in kept if line.pk]).delete()
    for line in kept:
        line.save()


def _insert(order: SalesOrder) -> None:
    """INSERT a new order with one statement compiled once (``audit.insert_row``): the model has no save() logic."""
    audit.insert_instance(order)


# --- Services -------------------------------------------------------------------------


@transaction.atomic
def order_create(*, actor: Actor, lines: Any = (), **data: Any) -> SalesOrder:
    """A draft order for a customer (no number until confirmed)."""
    require(actor, MANAGE)
    errors: dict[str, list[str]] = {}
    _unknown(errors, data, ORDER_FIELDS)
    order = SalesOrder(company_id=actor.company_id, owner_id=actor.user_id,  # type: ignore[misc]
                       created_by_id=actor.user_id)  # fmt: skip
    _apply_header(actor, order, data, True, errors)
    cleaned = _clean_lines(actor, list(lines) if isinstance(lines, (list, tuple)) else lines, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    order.order_date = order.order_date or timezone.localdate()
    _write_lines(order, cleaned, errors)
    audit.record(actor, "sales_order.create", order, changes={
        "organization_id": [None, order.organization_id], "total": [None, order.total_amount]})  # fmt: skip
    return order


def _check_confirmable(order: SalesOrder, lines: Sequence[SalesOrderLine] | None = None) -> None:
    """A draft with a product or service line; ``lines``: all its lines when the caller has them (else read)."""
    ORDER.check(order.state, "confirm")
    if lines is not None:
        has_product = any(line.kind == OrderLineKind.PRODUCT for line in lines)
    else:
        has_product = SalesOrderLine.objects.filter(order=order, kind=OrderLineKind.PRODUCT).exists()
    if not has_product:
        raise ValidationFailed(fields={"lines": [str(_("An order needs at least one product or service line."))]})


def _confirm(actor: Actor, order: SalesOrder) -> None:
    """Number and confirm a draft order that is saved."""
    _check_confirmable(order)
    # The number last: its counter row stays locked until commit.
    now = timezone.now()
    issued = next_number(company_id=order.company_id, kind=SEQUENCE_KIND, on_date=timezone.localdate(now),
                         object_type=SOURCE_TYPE, object_id=str(order.pk))  # fmt: skip
    order.number = issued.number
    order.state = OrderState.CONFIRMED
    order.confirmed_at = now
    order.save(update_fields=["number", "state", "confirmed_at", "updated_at"])
    _record_confirmed(actor, order)


def _record_confirmed(actor: Actor, order: SalesOrder) -> None:
    """The confirmation's audit entry and ``sales.order_confirmed`` (the CRM marks the opportunity won)."""
    audit.record(actor, "sales_order.confirm", order, changes={
        "state": [OrderState.DRAFT, OrderState.CONFIRMED], "number": [None, order.number]})  # fmt: skip
    events.publish(CONFIRMED_EVENT, company_id=order.company_id, payload={
        "order_id": order.pk, "number": order.number, "organization_id": order.organization_id,
        "opportunity_id": order.opportunity_id, "quote_id": order.quote_id, "total": str(order.total_amount),
        "untaxed": str(order.untaxed_amount),
    })  # fmt: skip


@transaction.atomic
def order_confirm(*, actor: Actor, order_id: int) -> SalesOrder:
    """Number the order (gapless) and publish ``sales.order_confirmed``."""
    order = _locked(actor, order_id)
    _confirm(actor, order)
    return order


# The accepted quote an order is made from, locked, for an actor who sees every organization of the
# company (the contacts record rule is then the company filter; a quote's customer is of its company).
_QUOTE_TO_ORDER = Select(Quote, ("id", *QUOTE_COLUMNS), "{company_id} = %s AND {id} = %s", lock=True)
# The order already made from a quote (one at most: the link is one-to-one), read under the quote's lock.
_ORDER_OF_QUOTE = Select(SalesOrder, ("number", "id"), "{quote_id} = %s", limit=1)
# Omitted ``site_id`` of ``order_create_from_quote``: the quote's site (None is the company as a whole).
QUOTES_SITE: Any = object()


def _quote_to_order(actor: Actor, quote_id: int) -> Quote | None:
    """The quote, locked, if the actor sees its customer (the contacts record rule)."""
    if contact_selectors.sees_all_organizations(actor):
        return _QUOTE_TO_ORDER.instance(actor.company_id, quote_id)  # type: ignore[no-any-return]
    visible = visible_organizations(actor).values("pk")
    quotes = Quote.objects.select_for_update().filter(company_id=actor.company_id, pk=quote_id,
                                                      organization_id__in=visible)  # fmt: skip
    return next(iter(quotes.only(*QUOTE_COLUMNS).order_by()[:1]), None)


def _quote_lines_to_copy(quote_id: int) -> list[dict[str, Any]]:
    """The quote's lines in their order, with their unit's UN/ECE code.

    Plain SQL: the join the ORM would compile on every call (``select_related``), values converted as
    the quote line's fields do."""
    field = QuoteLine._meta.get_field
    places = {name: field(name).places for name in ("quantity", "unit_price", "discount_percent")}  # type: ignore[union-attr]
    sql = (
        "SELECT l.id, l.kind, l.product_id, l.description, l.operation, l.quantity, l.uom_id, l.unit_price, "  # noqa: S608
        "l.discount_percent, l.vat_code, l.optional, l.selected, u.unece_code "
        f"FROM {QuoteLine._meta.db_table} l LEFT JOIN {Uom._meta.db_table} u ON u.id = l.uom_id "
        "WHERE l.quote_id = %s ORDER BY l.position, l.id"
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, [quote_id])
        fetched = cursor.fetchall()
    names = ("id", "kind", "product_id", "description", "operation", "quantity", "uom_id", "unit_price",
             "discount_percent", "vat_code", "optional", "selected", "uom_code")  # fmt: skip
    rows = []
    for values in fetched:
        row = dict(zip(names, values, strict=True))
        for name, count in places.items():
            row[name] = Decimal(int(row[name])).scaleb(-count)
        row["optional"], row["selected"] = bool(row["optional"]), bool(row["selected"])
        rows.append(row)
    return rows


@transaction.atomic
def order_create_from_quote(*, actor: Actor, quote_id: Any, invoicing_policy: Any = None,
                            commitment_date: Any = None, customer_reference: Any = "",
                            site_id: Any = QUOTES_SITE) -> SalesOrder:  # fmt: skip
    """The confirmed order of an accepted quote: its lines (selected options included), numbered now.

    ``site_id``: the quote's when omitted; else an active site of the company (the quote's own
    stays accepted if closed since), or None for the company as a whole — as ``order_update``."""
    require(actor, MANAGE)
    if not isinstance(quote_id, int) or isinstance(quote_id, bool) or not 0 < quote_id < 2**63:
        raise NotFound("quote_not_found")
    quote = _quote_to_order(actor, quote_id)
    if quote is None:
        raise NotFound("quote_not_found")
    if quote.state != QuoteState.ACCEPTED:
        raise Conflict("quote_not_accepted", _("Only an accepted quote becomes an order."))
    existing = _ORDER_OF_QUOTE.one(quote.pk)
    if existing is not None:
        raise Conflict("quote_already_ordered", _("This quote is already order %(number)s.")
                       % {"number": existing[0] or f"#{existing[1]}"})  # fmt: skip
    errors: dict[str, list[str]] = {}
    address = acc_invoices.partner_address(quote.organization_id, Address.Kind.DELIVERY)  # as invoices print it
    order = SalesOrder(  # type: ignore[misc]
        company_id=actor.company_id, quote=quote, organization_id=quote.organization_id, contact_id=quote.contact_id,
        opportunity_id=quote.opportunity_id, owner_id=quote.owner_id or actor.user_id, team_id=quote.team_id,
        site_id=quote.site_id,
        currency=quote.currency, payment_term_id=quote.payment_term_id, fiscal_position=quote.fiscal_position,
        language=quote.language, notes=quote.notes, order_date=timezone.localdate(), created_by_id=actor.user_id,
        delivery_address=address,
    )  # fmt: skip
    _apply_header(actor, order, {"invoicing_policy": invoicing_policy, "commitment_date": commitment_date,
                                 "customer_reference": customer_reference}, False, errors)  # fmt: skip
    if site_id is not QUOTES_SITE:
        order.site_id = clean_site_id(errors, "site_id", site_id, actor.company_id or 0, current=quote.site_id)
    if errors:
        raise ValidationFailed(fields=errors)
    # The quote's document discount is folded into each line's unit price (4 decimals).
    keep = (HUNDRED - Decimal(quote.discount_percent)) / HUNDRED
    lines: list[SalesOrderLine] = []
    uom_codes: dict[int, str] = {}
    for quote_line in _quote_lines_to_copy(quote.pk):
        is_product = quote_line["kind"] == QuoteLineKind.PRODUCT
        if is_product and quote_line["optional"] and not quote_line["selected"]:
            continue
        price = quote_line["unit_price"]
        if quote_line["uom_id"]:
            uom_codes[quote_line["uom_id"]] = quote_line["uom_code"]
        lines.append(SalesOrderLine(  # type: ignore[misc]
            position=len(lines) + 1, kind=quote_line["kind"], quote_line_id=quote_line["id"],
            product_id=quote_line["product_id"], description=quote_line["description"],
            operation=quote_line["operation"], quantity=quote_line["quantity"] if is_product else ZERO,
            uom_id=quote_line["uom_id"], unit_price=quantize(price * keep, 4) if keep != 1 else price,
            discount_percent=quote_line["discount_percent"], vat_code=quote_line["vat_code"],
        ))  # fmt: skip
    _compute_lines(order, lines, uom_codes)
    _check_confirmable(order, lines)
    # Inserted confirmed with its number (no UPDATE after the INSERT): the counter row stays locked
    # from here until commit, so the number is taken right before the order's INSERT.
    now = timezone.now()
    taken = take_number(company_id=order.company_id, kind=SEQUENCE_KIND, on_date=timezone.localdate(now))
    order.number, order.state, order.confirmed_at = taken.number, OrderState.CONFIRMED, now
    _insert(order)
    record_number(taken, object_type=SOURCE_TYPE, object_id=order.pk)
    for line in lines:
        line.order = order
    insert_instances(lines)
    # Both entries as when the order was inserted as a draft and then confirmed (the history shows both steps).
    audit.record(actor, "sales_order.create", order, changes={
        "quote_id": [None, quote.pk], "organization_id": [None, order.organization_id],
        "total": [None, order.total_amount]})  # fmt: skip
    _record_confirmed(actor, order)
    return order


@transaction.atomic
def order_update(*, actor: Actor, order_id: int, **data: Any) -> SalesOrder:
    """Change the fields sent, and the lines when ``lines`` is sent (lines keep their ``id``)."""
    from comptoir.sales.invoicing import refresh_invoiced

    order = _locked(actor, order_id)
    if order.state not in (OrderState.DRAFT, OrderState.CONFIRMED):
        raise Conflict("order_closed", _("A done or cancelled order does not change."))
    refresh_invoiced(order)
    errors: dict[str, list[str]] = {}
    _unknown(errors, data, (*ORDER_FIELDS, "lines"))
    before = audit.snapshot(order, ["organization_id", "invoicing_policy", "total_amount", "commitment_date",
                                    "site_id"])  # fmt: skip
    if order.state == OrderState.CONFIRMED and data.get("invoicing_policy") not in (None, order.invoicing_policy):
        if order.invoice_links.exists():
            _add(errors, "invoicing_policy", _("The order is already invoiced: its invoicing policy stays."))
    _apply_header(actor, order, data, False, errors)
    if "lines" in data:
        cleaned = _clean_lines(actor, data["lines"], errors)
        if errors:
            raise ValidationFailed(fields=errors)
        _write_lines(order, cleaned, errors)
    else:
        if errors:
            raise ValidationFailed(fields=errors)
        order.save()
    audit.record(actor, "sales_order.update", order, changes=audit.diff(before, audit.snapshot(order, list(before))))
    return order


def _clean_plan(raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(raw, (list, tuple)):
        _add(errors, "milestones", _("Enter the rows of the invoicing plan."))
        return []
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        prefix = f"milestones.{index}."
        if not isinstance(item, dict):
            _add(errors, f"milestones.{index}", _("Enter a row."))
            continue
        _unknown(errors, item, ("kind", "label", "percent", "amount"), prefix)
        kind = acc_invoices._choice(errors, prefix + "kind", item.get("kind"), MilestoneKind.values,
                                    MilestoneKind.MILESTONE)  # fmt: skip
        percent = acc_invoices._parse_decimal(errors, prefix + "percent", item.get("percent"), places=2,
                                              default=ZERO, minimum=ZERO, maximum=HUNDRED)  # fmt: skip
        amount = acc_invoices._parse_decimal(errors, prefix + "amount", item.get("amount"), places=2,
                                             default=ZERO, minimum=ZERO, maximum=MAX_PRICE)  # fmt: skip
        if kind == MilestoneKind.MILESTONE and item.get("amount") not in (None, ""):
            _add(errors, prefix + "amount", _("A milestone is a percentage of the order."))
        elif bool(percent) == bool(amount):
            _add(errors, prefix + "percent", _("Enter either a percentage or an amount."))
        default_label = _("Down payment") if kind == MilestoneKind.DOWN_PAYMENT else _("Milestone")
        label = _required_text(errors, prefix + "label", item.get("label") or str(default_label), 200, True)
        rows.append({"kind": kind, "label": label, "percent": percent or None, "amount": amount or None})
    milestones = [row for row in rows if row["kind"] == MilestoneKind.MILESTONE]
    if milestones and sum(row["percent"] or ZERO for row in milestones) != HUNDRED:
        _add(errors, "milestones", _("The milestones must add up to 100 %."))
    return rows


@transaction.atomic
def order_set_plan(*, actor: Actor, order_id: int, milestones: Any) -> SalesOrder:
    """Replace the rows of the invoicing plan that are not billed yet (down payments, milestones)."""
    from comptoir.sales.invoicing import refresh_invoiced

    order = _locked(actor, order_id)
    if order.state not in (OrderState.DRAFT, OrderState.CONFIRMED):
        raise Conflict("order_closed", _("A done or cancelled order does not change."))
    refresh_invoiced(order)
    errors: dict[str, list[str]] = {}
    rows = _clean_plan(milestones, errors)
    billed = list(InvoicingMilestone.objects.filter(order=order, invoice__isnull=False).order_by("position", "id"))
    down = [r for r in rows if r["kind"] == MilestoneKind.DOWN_PAYMENT]
    down_amount = sum((r["amount"] or quantize(Decimal(order.untaxed_amount) * r["percent"] / HUNDRED)
                       for r in down), ZERO)  # fmt: skip
    down_amount += sum((Decimal(m.amount or 0) for m in billed if m.kind == MilestoneKind.DOWN_PAYMENT), ZERO)
    if down_amount > Decimal(order.untaxed_amount):
        _add(errors, "milestones", _("The down payments exceed the order's total excluding VAT."))
    if billed and any(m.kind == MilestoneKind.MILESTONE for m in billed) and rows:
        billed_percent = sum((Decimal(m.percent or 0) for m in billed if m.kind == MilestoneKind.MILESTONE), ZERO)
        new_percent = sum((r["percent"] or ZERO for r in rows if r["kind"] == MilestoneKind.MILESTONE), ZERO)
        if new_percent and billed_percent + new_percent != HUNDRED:
            _add(errors, "milestones", _("The milestones must add up to 100 %."))
    if (order.invoice_links.filter(kind__in=("regular", "final")).exists()
            and any(r["kind"] == MilestoneKind.MILESTONE for r in rows)):  # fmt: skip
        _add(errors, "milestones", _("The order is already invoiced by quantities: no milestones now."))
    if errors:
        raise ValidationFailed(fields=errors)
    InvoicingMilestone.objects.filter(order=order, invoice__isnull=True).delete()
    InvoicingMilestone.objects.bulk_create(
        InvoicingMilestone(order=order, position=len(billed) + i + 1, **row) for i, row in enumerate(rows)
    )
    audit.record(
        actor,
        "sales_order.plan",
        order,
        changes={
            "milestones": [
                None,
                [
                    {"kind": r["kind"], "label": r["label"], "percent": r["percent"], "amount": r["amount"]}
                    for r in rows
                ],
            ]
        },
    )
    return order


@transaction.atomic
def order_cancel(*, actor: Actor, order_id: int, reason: Any = "") -> SalesOrder:
    """Cancel an order nothing was delivered or invoiced for (or whose invoices were credited in full)."""
    from comptoir.sales.invoicing import refresh_invoiced

    order = _locked(actor, order_id)
    ORDER.check(order.state, "cancel")
    errors: dict[str, list[str]] = {}
    text = _required_text(errors, "reason", reason, 2000, False)
    if errors:
        raise ValidationFailed(fields=errors)
    lines = refresh_invoiced(order)  # the lines, with their quantities delivered and invoiced
    if any(Decimal(line.quantity_delivered) for line in lines):
        raise Conflict("order_delivered", _("Goods were delivered for this order: it cannot be cancelled."))
    drafts = order.invoice_links.filter(invoice__state="draft").values_list("invoice_id", flat=True)
    if drafts:
        raise Conflict("order_has_draft_invoices",
                       _("Delete or cancel the order's draft invoices first."))  # fmt: skip
    if Decimal(order.invoiced_amount) != 0 or any(Decimal(line.quantity_invoiced) for line in lines):
        raise Conflict("order_invoiced", _("The order is invoiced: credit its invoices in full before cancelling it."))
    before = order.state
    order.state = OrderState.CANCELLED
    order.cancelled_at = timezone.now()
    order.cancel_reason = text
    order.save(update_fields=["state", "cancelled_at", "cancel_reason", "updated_at"])
    audit.record(actor, "sales_order.cancel", order, changes={"state": [before, OrderState.CANCELLED]})
    events.publish("sales.order_cancelled", company_id=order.company_id,
                   payload={"order_id": order.pk, "number": order.number})  # fmt: skip
    return order

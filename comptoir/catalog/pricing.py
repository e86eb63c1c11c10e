"""The price of a product for a customer, a quantity and a date, with its explanation.

``price_for`` returns a ``PriceQuote``: the unit price excluding VAT and the steps that led
to it, e.g. "List price 100.00; group “Wholesale” −10 %; from 10 u −5 % → 85.50".

Which rule applies (the first difference decides):

1. **Whose price list**: one for this customer, then one for the customer's group, then one
   for everyone. Only active lists in the asked currency, valid on the date, count.
2. **What the rule targets**: this product, then its category (the deepest category first,
   a rule on a category covers its subcategories), then all products.
3. **Quantity breaks**: the highest minimum quantity the asked quantity reaches (quantities
   compared in the product's sale unit, after an exact conversion).
4. The price list's **priority** (higher first), then the oldest rule.

A rule gives a fixed price, a percentage off the list price (the product's sale price), or
a percentage off what another price list gives for the same product, quantity and date (its
own best rule, or the list price when none applies): the steps of that list come first.

Arithmetic is exact (``Decimal`` for percentages, ``Fraction`` for unit conversions). The
price is rounded **once**: the net price per sale unit, to the currency's 2 decimals, after
the last step. Asked in another unit of the same category, that rounded price is converted
exactly and rounded to ``UNIT_PRICE_PLACES`` decimals (unit prices may carry more decimals
than amounts, EN 16931). ``total`` is quantity × unit price rounded to 2 decimals.

Line and document discounts belong to quotes and invoices; they use ``apply_discount``,
``apply_discounts`` and ``line_amount`` from here so the rounding rule is the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.catalog import units
from comptoir.catalog.models import (
    CustomerGroup,
    CustomerGroupMember,
    PriceList,
    PriceListRule,
    Product,
    RuleMethod,
    RuleTarget,
    Uom,
)
from comptoir.kernel import statements
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.money import quantize, to_decimal

CURRENCY_PLACES = 2
UNIT_PRICE_PLACES = 6
# A price list based on a price list based on… stops here (services refuse cycles already).
MAX_DEPTH = 8
MINUS = "\u2212"


# --- Discount helpers (exact) -----------------------------------------------------------


def apply_discount(price: Decimal, percent: Decimal) -> Decimal:
    """``price`` less ``percent`` % (negative: a surcharge), exactly: no rounding."""
    price, percent = to_decimal(price), to_decimal(percent)
    with localcontext() as ctx:
        ctx.prec = 80  # far above any digits a price and a 3-decimal percentage can produce
        return price * (Decimal(100) - percent) / Decimal(100)


def apply_discounts(price: Decimal, percents: Iterable[Decimal]) -> Decimal:
    """Successive discounts (10 % then 5 % is 14.5 % off), exactly."""
    for percent in percents:
        price = apply_discount(price, percent)
    return price


def line_amount(quantity: Decimal, unit_price: Decimal, discount_percent: Decimal = Decimal(0)) -> Decimal:
    """A document line's net amount: quantity × unit price less the line discount, rounded once."""
    with localcontext() as ctx:
        ctx.prec = 80
        gross = to_decimal(quantity) * to_decimal(unit_price)
    return quantize(apply_discount(gross, discount_percent), CURRENCY_PLACES)


# --- Quote ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of a price: it sets the price (``amount``), takes a percentage off it
    (``percent``), or rounds or converts it (``places``, ``ratio``). ``price`` is the result."""

    label: str
    price: Decimal
    amount: Decimal | None = None
    percent: Decimal | None = None
    ratio: Fraction | None = None
    places: int | None = None

    def apply(self, running: Decimal | None) -> Decimal:
        """Recompute this step's price from the previous one (tests check the chain adds up)."""
        if self.amount is not None:
            return self.amount
        assert running is not None
        if self.percent is not None:
            return apply_discount(running, self.percent)
        if self.ratio is not None:
            assert self.places is not None
            return units.to_decimal(Fraction(running) * self.ratio, self.places)
        assert self.places is not None
        return units.to_decimal(running, self.places)


@dataclass(frozen=True)
class PriceQuote:
    unit_price: Decimal
    currency: str
    quantity: Decimal
    uom_id: int
    total: Decimal
    steps: tuple[Step, ...]
    explanation: str
    price_list_id: int | None = None
    rule_id: int | None = None

    def recompute(self) -> Decimal:
        running: Decimal | None = None
        for step in self.steps:
            running = step.apply(running)
        assert running is not None
        return running


def _number(value: Decimal) -> str:
    """10.000 → "10", 5.500 → "5.5"."""
    text = format(value.normalize(), "f")
    return text


def _money(value: Decimal) -> str:
    places = max(CURRENCY_PLACES, -value.normalize().as_tuple().exponent)  # type: ignore[operator]
    return format(value.quantize(Decimal(1).scaleb(-places)), "f")


def _trim(value: Decimal) -> Decimal:
    """Drop trailing zeros beyond the currency's decimals: 1080.000000 → 1080.00, 0.001350 → 0.00135."""
    exponent = int(value.normalize().as_tuple().exponent)  # finite here: an int
    return value.quantize(Decimal(1).scaleb(min(-CURRENCY_PLACES, exponent)))


def _percent_label(percent: Decimal) -> str:
    sign = MINUS if percent >= 0 else "+"
    return f"{sign}{_number(abs(percent))} %"


def _quantity_label(quantity: Decimal, uom: Uom) -> str:
    return _("from %(n)s %(unit)s") % {"n": _number(quantity), "unit": uom.symbol}


def _list_label(price_list: PriceList) -> str:
    if price_list.customer_id is not None:
        return _("customer price list “%(name)s”") % {"name": price_list.name}
    if price_list.customer_group is not None:
        return _("group “%(name)s”") % {"name": price_list.customer_group.name}
    return _("price list “%(name)s”") % {"name": price_list.name}


# --- Rule selection ---------------------------------------------------------------------


@dataclass
class _Context:
    product: Product
    quantity: Fraction  # in the product's sale unit
    on_date: dt.date
    currency: str
    depth: int = 0


def _valid_on(on_date: dt.date) -> Q:
    return (Q(valid_from__isnull=True) | Q(valid_from__lte=on_date)) & (
        Q(valid_to__isnull=True) | Q(valid_to__gte=on_date)
    )


def _applies(rule: PriceListRule, ctx: _Context) -> bool:
    """Whether ``rule`` (of a matching list, valid on the date) applies to the context's product and quantity."""
    product = ctx.product
    if rule.target == RuleTarget.PRODUCT:
        targeted = rule.product_id == product.pk
    elif rule.target == RuleTarget.CATEGORY:
        targeted = product.category is not None and rule.category_id in product.category.ancestor_ids
    else:
        targeted = rule.target == RuleTarget.ALL
    return (
        targeted
        and Fraction(rule.min_quantity) <= ctx.quantity
        # A percentage off the list price needs the list price in the list's currency.
        and not (rule.method == RuleMethod.DISCOUNT and rule.price_list.currency != product.currency)
    )


def _matching_lists(lists: Q) -> dict[int, PriceList]:
    """The price lists that ``lists`` selects, by id (with the group their labels name)."""
    return {row.pk: row for row in PriceList.objects.filter(lists).select_related("customer_group").order_by()}


def _rules_for(contexts: Sequence[_Context], lists: dict[int, PriceList]) -> list[list[PriceListRule]]:
    """Per context, the rules of ``lists`` that apply to its product, quantity and date: one query
    for all the contexts (they share the date), none when no list matches."""
    if not lists:
        return [[] for _ctx in contexts]
    on_date = contexts[0].on_date
    assert all(ctx.on_date == on_date for ctx in contexts)
    product_ids = {ctx.product.pk for ctx in contexts}
    category_ids = {
        i for ctx in contexts if ctx.product.category is not None for i in ctx.product.category.ancestor_ids
    }
    targets = Q(target=RuleTarget.ALL) | Q(target=RuleTarget.PRODUCT, product_id__in=product_ids)
    if category_ids:
        targets |= Q(target=RuleTarget.CATEGORY, category_id__in=category_ids)
    rows = list(
        PriceListRule.objects.filter(targets, _valid_on(on_date), price_list_id__in=list(lists))
        .select_related("category")
        .order_by()  # best_rule's key decides, down to the id
    )
    for rule in rows:
        rule.price_list = lists[rule.price_list_id]  # read above: no query per rule
    return [[rule for rule in rows if _applies(rule, ctx)] for ctx in contexts]


def _rules(ctx: _Context, lists: Q) -> list[PriceListRule]:
    """Rules of the lists ``lists`` selects that apply to the product, quantity and date."""
    return _rules_for([ctx], _matching_lists(lists))[0]


def _scope_rank(price_list: PriceList) -> int:
    if price_list.customer_id is not None:
        return 0
    return 1 if price_list.customer_group_id is not None else 2


def _target_rank(rule: PriceListRule) -> tuple[int, int]:
    if rule.target == RuleTarget.PRODUCT:
        return (0, 0)
    if rule.target == RuleTarget.CATEGORY and rule.category is not None:
        return (1, -rule.category.depth)  # deepest category first
    return (2, 0)


def best_rule(rules: Iterable[PriceListRule]) -> PriceListRule | None:
    """The rule that wins, by the order documented at the top of this module."""
    return min(
        rules,
        key=lambda r: (_scope_rank(r.price_list), _target_rank(r), -r.min_quantity, -r.price_list.priority, r.pk),
        default=None,
    )


# --- Evaluation -------------------------------------------------------------------------


def _evaluate(ctx: _Context, rule: PriceListRule | None) -> tuple[list[Step], Decimal]:
    """The steps and exact price per sale unit that ``rule`` gives (None: the list price)."""
    product = ctx.product
    list_price = to_decimal(product.sale_price)
    list_price_step = Step(_("List price %(price)s") % {"price": _money(list_price)}, list_price, amount=list_price)
    if rule is None:
        if ctx.currency != product.currency:
            message = _("No price list gives this product a price in %(currency)s.") % {"currency": ctx.currency}
            raise ValidationFailed("no_price", fields={"currency": [message]})
        return [list_price_step], list_price
    price_list = rule.price_list
    min_quantity = to_decimal(rule.min_quantity)
    who = _quantity_label(min_quantity, product.sale_uom) if min_quantity > 0 else _list_label(price_list)
    if rule.method == RuleMethod.FIXED:
        assert rule.fixed_price is not None
        fixed = to_decimal(rule.fixed_price)
        label = _("%(who)s: price %(price)s") % {"who": who, "price": _money(fixed)}
        return [Step(label, fixed, amount=fixed)], fixed
    if rule.method == RuleMethod.PRICE_LIST and rule.base_price_list_id is not None:
        if ctx.depth >= MAX_DEPTH:
            message = _("Price lists are based on each other in a loop.")
            raise ValidationFailed("price_list_loop", fields={"price_list": [message]})
        base_ctx = _Context(product, ctx.quantity, ctx.on_date, ctx.currency, ctx.depth + 1)
        base_rule = best_rule(_rules(base_ctx, Q(pk=rule.base_price_list_id)))
        steps, running = _evaluate(base_ctx, base_rule)
    else:
        steps, running = [list_price_step], list_price
    percent = to_decimal(rule.discount_percent)
    price = apply_discount(running, percent)
    steps.append(Step(f"{who} {_percent_label(percent)}", price, percent=percent))
    return steps, price


def _joined(product: Product) -> bool:
    """Whether the instance carries the joins ``price_for`` reads (its unit and category)."""
    return Product.sale_uom.field.is_cached(product) and Product.category.field.is_cached(product)


def customer_group(company_id: int, customer_id: int | None) -> int | None:
    """The customer's group (None: none), for callers pricing several lines for one customer."""
    return _customer_group(company_id, customer_id)


def _customer_group(company_id: int, customer_id: int | None) -> int | None:
    if customer_id is None:
        return None
    return (
        CustomerGroupMember.objects.filter(company_id=company_id, organization_id=customer_id)
        .values_list("group_id", flat=True)
        .first()
    )


def _item(actor: Actor, product: Product | int) -> Product:
    """The product with the joins the engine reads (its unit and category)."""
    if isinstance(product, Product) and product.company_id == actor.company_id and _joined(product):
        return product
    # Read again with the joins the engine needs (a caller's instance may lack them).
    item = (
        Product.objects.select_related("sale_uom", "category")
        .filter(company_id=actor.company_id, pk=product.pk if isinstance(product, Product) else product)
        .first()
    )
    if item is None:
        raise NotFound("product_not_found")
    return item


@dataclass
class _Asked:
    """One price asked for, checked: the product, quantity and unit, the currency."""

    item: Product
    asked: Decimal
    unit: Uom
    currency: str


def _asked(
    actor: Actor, item: Product, quantity: Decimal | int | str, uom: Uom | int | None, currency: str | None
) -> _Asked:
    errors: dict[str, list[str]] = {}
    try:
        asked = to_decimal(quantity)
        if not asked.is_finite() or asked <= 0 or asked >= Decimal("1e12"):
            raise ValueError
    except (TypeError, ValueError, ArithmeticError):
        errors["quantity"] = [_("Enter a quantity greater than zero.")]
        asked = Decimal(1)
    sale_uom = item.sale_uom
    if uom is None:
        unit = sale_uom
    elif isinstance(uom, Uom):
        unit = uom
    else:
        found_uom = Uom.objects.filter(company_id=actor.company_id, pk=uom).first()
        if found_uom is None:
            errors["uom"] = [_("Choose a unit of measure of the company.")]
        unit = found_uom or sale_uom
    if unit.category_id != sale_uom.category_id:
        errors["uom"] = [_("Choose a unit that measures the same thing as %(unit)s.") % {"unit": sale_uom.symbol}]
    if errors:
        raise ValidationFailed(fields=errors)
    return _Asked(item, asked, unit, (currency or item.currency).upper())


# The columns of a price list the engine reads (the others are deferred, read on access like
# ``.only()``), in the model's field order: the order ``PriceList.from_db`` takes them in.
_LIST_COLUMNS = ("id", "company_id", "name", "currency", "priority", "customer_group_id", "customer_id")


def _lists(
    company_id: int | None, currencies: Iterable[str], on_date: dt.date, customer_id: int | None,
    customer_group_id: int | None, group_known: bool,
) -> dict[int, PriceList]:  # fmt: skip
    """The price lists that count, by id, with the group their labels name: active, in the
    currency, valid on the date, for everyone, the customer's group or the customer.

    One statement written here, not compiled by the ORM (every priced quote line runs it); the
    customer's group (one per customer and company) is read by the same statement."""
    currencies = sorted(currencies)
    if company_id is None or not currencies:
        return {}
    connection = transaction.get_connection()
    lists, groups = PriceList._meta.db_table, CustomerGroup._meta.db_table
    day = connection.ops.adapt_datefield_value(on_date)
    whose, whose_params = ["(l.customer_id IS NULL AND l.customer_group_id IS NULL)"], []
    if customer_group_id is not None:
        whose.append("l.customer_group_id = %s")
        whose_params.append(customer_group_id)
    elif not group_known and customer_id is not None:
        whose.append(f"l.customer_group_id IN (SELECT m.group_id FROM {CustomerGroupMember._meta.db_table} m "  # noqa: S608 (our table)
                     "WHERE m.company_id = %s AND m.organization_id = %s)")  # fmt: skip
        whose_params += [company_id, customer_id]
    if customer_id is not None:
        whose.append("l.customer_id = %s")
        whose_params.append(customer_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(f'l.{name}' for name in _LIST_COLUMNS)}, g.id, g.name "  # noqa: S608 (our tables)
            f"FROM {lists} l LEFT JOIN {groups} g ON g.id = l.customer_group_id "
            f"WHERE l.company_id = %s AND l.is_active = %s AND l.currency IN ({', '.join(['%s'] * len(currencies))}) "
            "AND (l.valid_from IS NULL OR l.valid_from <= %s) AND (l.valid_to IS NULL OR l.valid_to >= %s) "
            f"AND ({' OR '.join(whose)})",
            [company_id, True, *currencies, day, day, *whose_params],
        )
        fetched = cursor.fetchall()
    found = {}
    for *values, group_id, group_name in fetched:
        price_list = statements.instance(PriceList, list(_LIST_COLUMNS), values)
        if group_id is not None:  # as select_related("customer_group") caches it
            group = statements.instance(CustomerGroup, ["id", "name"], [group_id, group_name])
            PriceList.customer_group.field.set_cached_value(price_list, group)
        found[price_list.pk] = price_list
    return found


def _quote(ctx: _Context, asked: _Asked, candidates: list[PriceListRule]) -> PriceQuote:
    """The price of the best of ``candidates`` (rules of lists in the asked currency), with its steps."""
    rule = best_rule(rule for rule in candidates if rule.price_list.currency == asked.currency)
    steps, exact = _evaluate(ctx, rule)
    rounded = units.to_decimal(exact, CURRENCY_PLACES)
    if rounded != exact or len(steps) > 1:
        steps.append(Step(_("rounded to %(places)s decimals") % {"places": CURRENCY_PLACES}, rounded,
                          places=CURRENCY_PLACES))  # fmt: skip
    unit, sale_uom = asked.unit, asked.item.sale_uom
    unit_price = rounded
    if unit.pk != sale_uom.pk:
        ratio = units.factor(unit) / units.factor(sale_uom)
        unit_price = _trim(units.to_decimal(Fraction(rounded) * ratio, UNIT_PRICE_PLACES))
        label = _("per %(unit)s (× %(ratio)s)") % {"unit": unit.symbol, "ratio": _ratio(ratio)}
        steps.append(Step(label, unit_price, ratio=ratio, places=UNIT_PRICE_PLACES))
    explanation = "; ".join(step.label for step in steps if step.places is None or step.ratio is not None)
    explanation = f"{explanation} → {_money(unit_price)}"
    return PriceQuote(
        unit_price=unit_price,
        currency=asked.currency,
        quantity=asked.asked,
        uom_id=unit.pk,
        total=quantize(asked.asked * unit_price, CURRENCY_PLACES),
        steps=tuple(steps),
        explanation=explanation,
        price_list_id=rule.price_list_id if rule else None,
        rule_id=rule.pk if rule else None,
    )


def price_for(
    actor: Actor,
    *,
    product: Product | int,
    quantity: Decimal | int | str = 1,
    uom: Uom | int | None = None,
    customer_id: int | None = None,
    customer_group_id: int | None = None,
    on_date: dt.date | None = None,
    currency: str | None = None,
    group_known: bool = False,
) -> PriceQuote:
    """The unit price (excl. VAT) of ``quantity`` ``uom`` of ``product`` for a customer on a date.

    ``customer_id`` is a contacts.Organization id, resolved by the caller; its group comes
    from ``CustomerGroupMember`` unless ``customer_group_id`` is given (simulating a group)
    or ``group_known`` says the caller already read it (``customer_group``, once per document).
    A ``Product`` of the actor's company read with ``select_related("sale_uom", "category")``
    in the caller's transaction is used as is; anything else is read again with those joins.
    """
    require(actor, "catalog.view_product")
    asked = _asked(actor, _item(actor, product), quantity, uom, currency)
    on_date = on_date or timezone.localdate()
    ctx = _Context(asked.item, units.convert_quantity(asked.asked, asked.unit, asked.item.sale_uom), on_date,
                   asked.currency)  # fmt: skip
    lists = _lists(actor.company_id, [asked.currency], on_date, customer_id, customer_group_id, group_known)
    return _quote(ctx, asked, _rules_for([ctx], lists)[0])


def prices_for(
    actor: Actor,
    *,
    lines: Sequence[tuple[Product, Decimal | int | str, Uom | int | None]],
    customer_id: int | None = None,
    on_date: dt.date | None = None,
    currency: str | None = None,
) -> list[PriceQuote | ValidationFailed]:
    """``price_for`` of each (product, quantity, unit) for one customer on one date, with one
    query for the rules of every line (the customer's group read by the same query).

    Each line gets its ``PriceQuote``, or the ``ValidationFailed`` that ``price_for`` would
    have raised for it: the caller reports it on that line.
    """
    require(actor, "catalog.view_product")
    on_date = on_date or timezone.localdate()
    found: list[PriceQuote | ValidationFailed | None] = [None] * len(lines)
    pending: list[tuple[int, _Context, _Asked]] = []
    for index, (product, quantity, uom) in enumerate(lines):
        try:
            asked = _asked(actor, _item(actor, product), quantity, uom, currency)
        except ValidationFailed as exc:
            found[index] = exc
            continue
        quantity_in_sale_unit = units.convert_quantity(asked.asked, asked.unit, asked.item.sale_uom)
        pending.append((index, _Context(asked.item, quantity_in_sale_unit, on_date, asked.currency), asked))
    if pending:
        currencies = {asked.currency for _index, _ctx, asked in pending}
        lists = _lists(actor.company_id, currencies, on_date, customer_id, None, False)
        candidates = _rules_for([ctx for _index, ctx, _asked_ in pending], lists)
        for (index, ctx, asked), rules in zip(pending, candidates, strict=True):
            try:
                found[index] = _quote(ctx, asked, rules)
            except ValidationFailed as exc:
                found[index] = exc
    return [result for result in found if result is not None]


def _ratio(ratio: Fraction) -> str:
    return str(ratio.numerator) if ratio.denominator == 1 else f"{ratio.numerator}/{ratio.denominator}"


def quote_as_dict(quote: PriceQuote) -> dict[str, Any]:
    """The JSON shape of a quote (API and the simulator's htmx fragment share it)."""
    return {
        "unit_price": str(quote.unit_price),
        "currency": quote.currency,
        "quantity": str(quote.quantity),
        "uom_id": quote.uom_id,
        "total": str(quote.total),
        "price_list_id": quote.price_list_id,
        "rule_id": quote.rule_id,
        "explanation": quote.explanation,
        "steps": [
            {
                "label": s.label,
                "price": str(s.price),
                "amount": None if s.amount is None else str(s.amount),
                "percent": None if s.percent is None else str(s.percent),
            }
            for s in quote.steps
        ],
    }

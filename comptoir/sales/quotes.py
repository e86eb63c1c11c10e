"""Quotes: every write.

A quote is computed on every save exactly like an invoice: each line's VAT comes from
``accounting.vat.decide`` (the product's VAT category, the customer's fiscal position, goods
or services) and the lines that count go through the EN 16931 engine
(``accounting.invoices._compute``): line nets rounded once, VAT once per rate on the summed
base. The document discount is an EN 16931 document allowance, one per VAT rate
(base × percent, rounded), so the quote's totals are those of the invoice it will become.
Optional lines count only when selected; sections and text lines never count.

Life cycle (``WORKFLOW``): draft → sent (``quote_mark_sent`` freezes the version in a
``QuoteVersion``) → accepted / refused / expired; a sent, refused or expired quote is
revised into the next version (draft again); draft and sent quotes may be cancelled.
Acceptance checks the version the customer saw is still the current one and publishes
``sales.quote_accepted``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import vat
from comptoir.accounting.einvoice import model as en
from comptoir.accounting.einvoice.totals import Totals, compute
from comptoir.accounting.invoices import _compute, _parse_bool, _parse_decimal
from comptoir.accounting.models import InvoicingSettings, LineOperation, PartnerProfile, PaymentTerm
from comptoir.accounting.services import (
    _add,
    _parse_date,
    _parse_id,
    _required_text,
    _unknown,
    clean_site_id,
    default_site_id,
)
from comptoir.catalog import pricing
from comptoir.catalog.models import Product, ProductCategory, ProductKind, Uom
from comptoir.contacts import selectors as contact_selectors
from comptoir.contacts.models import Address, Organization, Person
from comptoir.crm import selectors as crm_selectors
from comptoir.crm.models import Opportunity
from comptoir.kernel import audit, events, statements
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor, current_channel
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.money import quantize
from comptoir.kernel.sequences import record_number, register_kind, take_number
from comptoir.kernel.statements import Select, Update, insert_rows
from comptoir.kernel.states import Transition, Workflow
from comptoir.org.models import Company, Membership, Site, Team, User
from comptoir.sales.models_quotes import (
    AcceptanceVia,
    Quote,
    QuoteLine,
    QuoteLineKind,
    QuoteState,
    QuoteVersion,
)

VIEW = "sales.view_quotes"
MANAGE = "sales.manage_quotes"
VIEW_ALL = "sales.view_all"

SEQUENCE_KIND = "sales.quote"
SEQUENCE_PREFIX = "DE"
SOURCE_TYPE = "sales.quote"
ACCEPTED_EVENT = "sales.quote_accepted"
REFUSED_EVENT = "sales.quote_refused"

MAX_LINES = 500
DEFAULT_VALIDITY_DAYS = 30
ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_QUANTITY = Decimal("1e9")
MAX_PRICE = Decimal("1e11")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

QUOTE_FIELDS = (
    "organization_id", "contact_id", "opportunity_id", "owner_id", "title", "currency", "issue_date",
    "valid_until", "payment_term_id", "fiscal_position", "language", "notes", "discount_percent", "site_id",
)  # fmt: skip
LINE_FIELDS = (
    "id", "kind", "product_id", "description", "operation", "quantity", "uom_id", "unit_price", "discount_percent",
    "vat_code", "optional", "selected",
)  # fmt: skip
AUDITED = [
    "organization_id", "contact_id", "opportunity_id", "owner_id", "title", "currency", "issue_date",
    "valid_until", "payment_term_id", "fiscal_position", "language", "discount_percent", "total_amount", "site_id",
]  # fmt: skip

WORKFLOW = Workflow(
    "sales.quote",
    QuoteState.values,
    [
        Transition("send", (QuoteState.DRAFT, QuoteState.SENT), QuoteState.SENT, MANAGE, _("Mark as sent")),
        Transition("accept", (QuoteState.SENT,), QuoteState.ACCEPTED, MANAGE, _("Mark accepted")),
        Transition("refuse", (QuoteState.SENT,), QuoteState.REFUSED, MANAGE, _("Mark refused")),
        Transition(
            "revise", (QuoteState.SENT, QuoteState.REFUSED, QuoteState.EXPIRED), QuoteState.DRAFT, MANAGE, _("Revise")
        ),
        Transition("cancel", (QuoteState.DRAFT, QuoteState.SENT), QuoteState.CANCELLED, MANAGE, _("Cancel")),
        Transition("expire", (QuoteState.SENT,), QuoteState.EXPIRED, MANAGE, _("Expire")),
    ],
)


def register_sequences() -> None:
    register_kind(SEQUENCE_KIND, SEQUENCE_PREFIX, "{prefix}-{year}-{n:05}", yearly=True)


# --- Record rule (the selectors build on it) ---------------------------------------------


def sees_all(actor: Actor) -> bool:
    return actor.has_perm(VIEW_ALL)


def can_view(actor: Actor) -> bool:
    return actor.has_perm(VIEW) or actor.has_perm(MANAGE) or actor.has_perm(VIEW_ALL)


def visible_quotes(actor: Actor) -> Any:
    """Quotes the actor may see: all of the company with ``sales.view_all``; otherwise those
    of the organizations the contacts record rule shows them, and their own."""
    if actor.company_id is None or not can_view(actor):
        return Quote.objects.none()
    rows = Quote.objects.filter(company_id=actor.company_id)
    if sees_all(actor):
        return rows
    rule = contact_selectors.record_rule(
        actor, "contacts.view_all_contacts", owner="organization__owner", team="organization__team"
    )
    if rule is None:
        return rows
    return rows.filter(rule | Q(owner_id=actor.user_id))


# --- Input cleaning ----------------------------------------------------------------------


# One row per company (or none: no term, no franchise): no ORDER BY.
_INVOICING_SETTINGS = Select(InvoicingSettings, ["default_payment_term_id", "vat_franchise"], "{company_id} = %s",
                             limit=1)  # fmt: skip


def _franchise(company_id: int) -> bool:
    return _Invoicing(company_id).franchise


class _Invoicing:
    """The company's invoicing settings a quote reads (default payment term, VAT franchise): one
    read, when first needed, per service call."""

    def __init__(self, company_id: int) -> None:
        self.company_id = company_id
        self._row: tuple[int | None, bool] | None = None

    def known(self, row: tuple[int | None, bool]) -> None:
        """The settings read by another statement (``_NewQuoteDefaults``)."""
        self._row = row

    def _read(self) -> tuple[int | None, bool]:
        if self._row is None:
            term_id, franchise = _INVOICING_SETTINGS.one(self.company_id) or (None, False)
            self._row = (term_id, bool(franchise))
        return self._row

    @property
    def default_payment_term_id(self) -> int | None:
        return self._read()[0]

    @property
    def franchise(self) -> bool:
        return self._read()[1]


class _NewQuoteDefaults:
    """What a new quote takes from its customer and company, read in one statement: whether the
    customer is an organization of the company (not merged), its partner profile, the invoicing
    settings (default payment term, VAT franchise) and the head office when there is exactly one."""

    def __init__(self, company_id: int, organization_id: int) -> None:
        organizations, profiles = Organization._meta.db_table, PartnerProfile._meta.db_table
        invoicing, sites = InvoicingSettings._meta.db_table, Site._meta.db_table
        head_offices = f"FROM {sites} h WHERE h.company_id = %s AND h.is_head_office = %s AND h.is_active = %s"
        with transaction.get_connection().cursor() as cursor:
            # The LEFT JOINs from one row: the settings and the head office come even without the customer.
            cursor.execute(
                "SELECT o.id, p.id, p.fiscal_position, p.language, p.payment_term_id, "  # noqa: S608 (our tables)
                f"s.default_payment_term_id, s.vat_franchise, (SELECT MIN(h.id) {head_offices}), "
                f"(SELECT MAX(h.id) {head_offices}) "
                f"FROM (SELECT 1 AS one) AS one LEFT JOIN {organizations} o "
                "ON o.company_id = %s AND o.id = %s AND o.merged_into_id IS NULL "
                f"LEFT JOIN {profiles} p ON p.company_id = %s AND p.organization_id = o.id "
                f"LEFT JOIN {invoicing} s ON s.company_id = %s",
                [company_id, True, True, company_id, True, True, company_id, organization_id, company_id, company_id],
            )
            row = cursor.fetchone()
        self.organization_id: int | None = row[0]
        # (fiscal position, language, payment term) or None without a profile.
        self.profile: tuple[str, str, int | None] | None = (row[2], row[3], row[4]) if row[1] is not None else None
        self.invoicing: tuple[int | None, bool] = (row[5], bool(row[6]))
        # The default site of documents: the head office when the company has exactly one (active).
        self.head_office_id: int | None = row[7] if row[7] == row[8] else None


def _in_field_order(model: type[Any], names: set[str]) -> tuple[str, ...]:
    """``names`` in the model's field order, the order ``Model.from_db`` takes them in."""
    return tuple(field.attname for field in model._meta.concrete_fields if field.attname in names)


# What the lines and the price engine read of a product, its sale unit and its category (the
# other columns are deferred, read on access like ``.only()``).
_PRODUCT_COLUMNS = _in_field_order(Product, {
    "id", "company_id", "reference", "name_fr", "name_en", "description_fr", "description_en", "kind", "category_id",
    "sale_uom_id", "sale_price", "currency", "vat_category", "is_archived"})  # fmt: skip
_UOM_COLUMNS = _in_field_order(Uom, {
    "id", "company_id", "category_id", "code", "name_fr", "name_en", "symbol", "factor_numerator",
    "factor_denominator", "rounding_places", "unece_code", "is_active"})  # fmt: skip
_CATEGORY_COLUMNS = _in_field_order(ProductCategory, {"id", "company_id", "name", "parent_id", "path", "full_name"})


def _products(company_id: int, product_ids: set[int]) -> dict[int, Product]:
    """The company's products of these ids with their sale unit and category, as
    ``select_related("sale_uom", "category")`` gives them (what ``pricing`` reads without a query
    per product), in one statement written here rather than compiled by the ORM."""
    if not product_ids:
        return {}
    connection = transaction.get_connection()
    products, uoms, categories = Product._meta.db_table, Uom._meta.db_table, ProductCategory._meta.db_table
    columns = [*(f"p.{name}" for name in _PRODUCT_COLUMNS), *(f"u.{name}" for name in _UOM_COLUMNS),
               *(f"c.{name}" for name in _CATEGORY_COLUMNS)]  # fmt: skip
    ids = sorted(product_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM {products} p JOIN {uoms} u ON u.id = p.sale_uom_id "  # noqa: S608 (our tables)
            f"LEFT JOIN {categories} c ON c.id = p.category_id "
            f"WHERE p.company_id = %s AND p.id IN ({', '.join(['%s'] * len(ids))})",
            [company_id, *ids],
        )
        fetched = cursor.fetchall()
    sale_price, found = Product._meta.get_field("sale_price"), {}
    at_uom, at_category = len(_PRODUCT_COLUMNS), len(_PRODUCT_COLUMNS) + len(_UOM_COLUMNS)
    for row in fetched:
        values = dict(zip(_PRODUCT_COLUMNS, row[:at_uom], strict=True))
        values["sale_price"] = sale_price.from_db_value(values["sale_price"], None, connection)  # type: ignore[union-attr]
        values["is_archived"] = bool(values["is_archived"])  # SQLite: 0 or 1
        product = statements.instance(Product, list(values), list(values.values()))
        uom = dict(zip(_UOM_COLUMNS, row[at_uom:at_category], strict=True))
        uom["is_active"] = bool(uom["is_active"])
        Product.sale_uom.field.set_cached_value(product, statements.instance(Uom, list(uom), list(uom.values())))
        category = row[at_category:]
        kind = None if category[0] is None else statements.instance(ProductCategory, _CATEGORY_COLUMNS, category)
        Product.category.field.set_cached_value(product, kind)
        found[product.pk] = product
    return found


def _clean_lines(actor: Actor, quote: Quote, raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Validated line values (QuoteLine fields), prices defaulted from the catalog."""
    if not isinstance(raw, (list, tuple)):
        _add(errors, "lines", _("Enter the lines of the quote."))
        return []
    if len(raw) > MAX_LINES:
        _add(errors, "lines", _("A quote has at most %(n)s lines.") % {"n": MAX_LINES})
        return []
    dicts = [line for line in raw if isinstance(line, dict)]
    product_ids = {p for p in (_parse_id({}, "", line.get("product_id"), False) for line in dicts) if p}
    # With the joins the price engine reads, so that it need not read each product again.
    products = _products(actor.company_id or 0, product_ids)
    uom_ids = {u for u in (_parse_id({}, "", line.get("uom_id"), False) for line in dicts) if u}
    uoms = Uom.objects.filter(company_id=actor.company_id, pk__in=uom_ids).in_bulk() if uom_ids else {}
    categories = [c.value for c in vat.VatCategory]
    cleaned: list[dict[str, Any]] = []
    # Each line's errors apart, so that the catalog's price errors, known once all lines are read
    # (one pricing query for all), take their place among them: (errors, how many came before).
    per_line: list[tuple[dict[str, list[str]], int]] = []
    # Lines priced from the catalog: (line index, cleaned line, product, quantity, unit).
    to_price: list[tuple[int, dict[str, Any], Product, Decimal, Uom | None]] = []
    outer, errors = errors, {}
    for index, line in enumerate(raw):
        prefix = f"lines.{index}."
        errors = {}
        per_line.append((errors, 0))
        if not isinstance(line, dict):
            _add(errors, f"lines.{index}", _("Enter a line."))
            continue
        _unknown(errors, line, LINE_FIELDS, prefix)
        kind = line.get("kind") or QuoteLineKind.PRODUCT
        if kind not in QuoteLineKind.values:
            _add(errors, prefix + "kind", _("Choose among: %(values)s.") % {"values": ", ".join(QuoteLineKind.values)})
            continue
        if kind != QuoteLineKind.PRODUCT:
            text = _required_text(errors, prefix + "description", line.get("description"), 4000, True)
            cleaned.append({"kind": kind, "description": text, "product_id": None, "uom_id": None,
                            "quantity": ZERO, "unit_price": ZERO, "discount_percent": ZERO,
                            "vat_code": "standard", "operation": LineOperation.GOODS, "optional": False,
                            "selected": False, "price_explanation": ""})  # fmt: skip
            continue
        product_id = _parse_id(errors, prefix + "product_id", line.get("product_id"), False)
        product = products.get(product_id) if product_id else None
        if product_id and (product is None or product.is_archived):
            _add(errors, prefix + "product_id", _("Unknown or archived product."))
            product = None
        quantity = _parse_decimal(errors, prefix + "quantity", line.get("quantity") or "1", places=3,
                                  minimum=Decimal("0.001"), maximum=MAX_QUANTITY) or Decimal(1)  # fmt: skip
        uom_id = _parse_id(errors, prefix + "uom_id", line.get("uom_id"), False)
        uom = uoms.get(uom_id) if uom_id else None
        if uom_id and uom is None:
            _add(errors, prefix + "uom_id", _("Choose a unit of measure of the company."))
        if product is not None and uom is None:
            uom = product.sale_uom
        explanation = ""
        catalog_price = False
        price_given = line.get("unit_price") not in (None, "")
        if price_given:
            unit_price = _parse_decimal(errors, prefix + "unit_price", line.get("unit_price"), places=4,
                                        minimum=ZERO, maximum=MAX_PRICE) or ZERO  # fmt: skip
        elif product is not None and not actor.has_perm("catalog.view_product"):
            unit_price = Decimal(product.sale_price)
        elif product is not None:
            unit_price, catalog_price = ZERO, True  # filled in below
            per_line[-1] = (errors, len(errors))
        else:
            _add(errors, prefix + "unit_price", _("This field is required."))
            unit_price = ZERO
        description = line.get("description")
        if description in (None, "") and product is not None:
            description = product.name_en if quote.language == "en" and product.name_en else product.name_fr
            details = product.description_en if quote.language == "en" and product.description_en \
                else product.description_fr  # fmt: skip
            if details:
                description = f"{description}\n{details}"
        default_operation = (LineOperation.SERVICES if product is not None and product.kind == ProductKind.SERVICE
                             else LineOperation.GOODS)  # fmt: skip
        operation = line.get("operation") or default_operation
        if operation not in LineOperation.values:
            _add(
                errors,
                prefix + "operation",
                _("Choose among: %(values)s.") % {"values": ", ".join(LineOperation.values)},
            )
            operation = default_operation
        vat_code = line.get("vat_code") or (product.vat_category if product is not None else "standard")
        if vat_code not in categories:
            _add(errors, prefix + "vat_code", _("Choose among: %(values)s.") % {"values": ", ".join(categories)})
            vat_code = "standard"
        optional = _parse_bool(errors, prefix + "optional", line.get("optional", False))
        selected = _parse_bool(errors, prefix + "selected", line.get("selected", False)) if optional else True
        values = {
            "kind": kind,
            "product_id": product.pk if product is not None else None,
            "description": _required_text(errors, prefix + "description", description, 4000, True),
            "operation": operation,
            "quantity": quantity,
            "uom_id": uom.pk if uom is not None else None,
            "unit_price": unit_price,
            "discount_percent": _parse_decimal(errors, prefix + "discount_percent", line.get("discount_percent"),
                                               places=2, default=ZERO, minimum=ZERO, maximum=HUNDRED) or ZERO,
            "vat_code": vat_code,
            "optional": optional,
            "selected": selected,
            "price_explanation": explanation,
        }  # fmt: skip
        cleaned.append(values)
        if catalog_price and product is not None:
            to_price.append((index, values, product, quantity if quantity > 0 else Decimal(1), uom))
    priced = pricing.prices_for(
        actor, lines=[(product, quantity, uom) for _at, _values, product, quantity, uom in to_price],
        customer_id=quote.organization_id, on_date=quote.issue_date, currency=quote.currency,
    ) if to_price else []  # fmt: skip
    price_errors: dict[int, dict[str, list[str]]] = {}
    for (at, values, product, _quantity, _uom), found in zip(to_price, priced, strict=True):
        if isinstance(found, ValidationFailed):
            prefix = f"lines.{at}."
            price_errors[at] = {prefix + ("uom_id" if name == "uom" else name): list(messages)
                                for name, messages in (found.fields or {}).items()}  # fmt: skip
            values["unit_price"] = Decimal(product.sale_price)
        else:
            values["unit_price"] = found.unit_price
            values["price_explanation"] = found.explanation[:500]
    for at, (line_errors, before) in enumerate(per_line):
        items = list(line_errors.items())
        for name, messages in [*items[:before], *price_errors.get(at, {}).items(), *items[before:]]:
            for message in messages:
                _add(outer, name, message)
    return cleaned


def _apply(actor: Actor, quote: Quote, data: dict[str, Any], creating: bool,
           invoicing: _Invoicing | None = None) -> list[dict[str, Any]] | None:  # fmt: skip
    """Validate ``data`` onto ``quote`` (unsaved) and return the cleaned lines when sent."""
    invoicing = invoicing or _Invoicing(actor.company_id or 0)
    errors: dict[str, list[str]] = {}
    _unknown(errors, data, (*QUOTE_FIELDS, "lines"))
    opportunity = None
    if "opportunity_id" in data:
        opportunity_id = _parse_id(errors, "opportunity_id", data["opportunity_id"], False)
        if opportunity_id:
            opportunity = (Opportunity.objects.filter(company_id=actor.company_id, pk=opportunity_id)
                           .filter(crm_selectors.record_rule(actor)).first()
                           if actor.has_perm("crm.view_opportunity") else None)  # fmt: skip
            if opportunity is None:
                _add(errors, "opportunity_id", _("Unknown opportunity."))
        quote.opportunity_id = opportunity.pk if opportunity is not None else None
    organization_value = data.get("organization_id")
    defaults: _NewQuoteDefaults | None = None
    if organization_value in (None, "") and opportunity is not None and opportunity.organization_id:
        organization_value = opportunity.organization_id
    if "organization_id" in data or creating:
        organization_id = _parse_id(errors, "organization_id", organization_value, True)
        if organization_id:
            if creating and quote.organization_id is None:
                defaults = _NewQuoteDefaults(actor.company_id or 0, organization_id)
                invoicing.known(defaults.invoicing)
            if defaults is not None and contact_selectors.sees_all_organizations(actor):
                found = defaults.organization_id  # the record rule is the company filter the statement applied
            else:
                # Only its id is needed (a unique key: no ORDER BY).
                found = next(iter(contact_selectors.visible_organizations(actor).order_by()
                                  .filter(pk=organization_id, merged_into__isnull=True)
                                  .values_list("pk", flat=True)[:1]), None)  # fmt: skip
            if found is None:
                _add(errors, "organization_id", _("Unknown organization."))
            elif found != quote.organization_id:
                quote.organization_id = found
                if defaults is not None:
                    profile = defaults.profile
                else:  # One profile per company and organization: no ORDER BY.
                    profile = next(iter(PartnerProfile.objects.filter(company_id=actor.company_id,
                                                                      organization_id=found).order_by()
                                        .values_list("fiscal_position", "language", "payment_term_id")[:1]),
                                   None)  # fmt: skip
                if profile is not None:
                    quote.fiscal_position, quote.language, quote.payment_term_id = profile
                if quote.payment_term_id is None:
                    quote.payment_term_id = invoicing.default_payment_term_id
    if opportunity is not None and opportunity.organization_id and quote.organization_id \
            and opportunity.organization_id != quote.organization_id:  # fmt: skip
        _add(errors, "opportunity_id", _("The opportunity is about another organization."))
    if "contact_id" in data:
        contact_id = _parse_id(errors, "contact_id", data["contact_id"], False)
        if contact_id and not Person.objects.filter(company_id=actor.company_id, pk=contact_id,
                                                    merged_into__isnull=True).exists():  # fmt: skip
            _add(errors, "contact_id", _("Unknown person."))
        quote.contact_id = contact_id
    if "owner_id" in data:
        owner_id = _parse_id(errors, "owner_id", data["owner_id"], False)
        if owner_id and not Membership.objects.filter(company_id=actor.company_id, user_id=owner_id).exists():
            _add(errors, "owner_id", _("Choose a user of the company."))
        quote.owner_id = owner_id
    if creating or "owner_id" in data:
        quote.team_id = (Team.objects.filter(company_id=actor.company_id, members=quote.owner_id)
                         .order_by("pk").values_list("pk", flat=True).first() if quote.owner_id else None)  # fmt: skip
        if quote.team_id is None and opportunity is not None:
            quote.team_id = opportunity.team_id
    if "site_id" in data:  # an active site of the company; empty: the company as a whole
        quote.site_id = clean_site_id(errors, "site_id", data["site_id"], actor.company_id or 0,
                                      current=quote.site_id)  # fmt: skip
    elif creating:
        quote.site_id = defaults.head_office_id if defaults is not None else default_site_id(actor.company_id or 0)
    if "title" in data:
        quote.title = _required_text(errors, "title", data["title"], 200, False)
    if "notes" in data:
        quote.notes = _required_text(errors, "notes", data["notes"], 10000, False)
    if "currency" in data:
        currency = str(data["currency"] or "EUR").strip().upper()
        if not _CURRENCY.match(currency):
            _add(errors, "currency", _("Enter a three-letter currency code (ISO 4217), e.g. EUR."))
        else:
            quote.currency = currency
    for name in ("issue_date", "valid_until"):
        if name in data:
            value = _parse_date(errors, name, data[name], required=False)
            if value is not None:
                setattr(quote, name, value)
    if quote.issue_date is None:
        quote.issue_date = timezone.localdate()
    if quote.valid_until is None:
        quote.valid_until = quote.issue_date + dt.timedelta(days=DEFAULT_VALIDITY_DAYS)
    if quote.valid_until < quote.issue_date:
        _add(errors, "valid_until", _("The validity date cannot be before the quote's date."))
    if "payment_term_id" in data:
        term_id = _parse_id(errors, "payment_term_id", data["payment_term_id"], False)
        if term_id and not PaymentTerm.objects.filter(company_id=actor.company_id, pk=term_id).exists():
            _add(errors, "payment_term_id", _("Unknown payment term."))
        quote.payment_term_id = term_id
    if "fiscal_position" in data and data["fiscal_position"] not in (None, ""):
        positions = [p.value for p in vat.FiscalPosition]
        if data["fiscal_position"] not in positions:
            _add(errors, "fiscal_position", _("Choose among: %(values)s.") % {"values": ", ".join(positions)})
        else:
            quote.fiscal_position = data["fiscal_position"]
    if "language" in data and data["language"] not in (None, ""):
        languages = [code for code, _label in settings.LANGUAGES]
        if data["language"] not in languages:
            _add(errors, "language", _("Choose among: %(values)s.") % {"values": ", ".join(languages)})
        else:
            quote.language = data["language"]
    if "discount_percent" in data:
        quote.discount_percent = _parse_decimal(  # type: ignore[assignment]
            errors, "discount_percent", data["discount_percent"], places=2, default=ZERO, minimum=ZERO,
            maximum=HUNDRED) or ZERO  # fmt: skip
    lines = _clean_lines(actor, quote, data.get("lines"), errors) if "lines" in data or creating else None
    if errors:
        raise ValidationFailed(fields=errors)
    return lines


# --- Computation -------------------------------------------------------------------------


def _counts(line: dict[str, Any]) -> bool:
    return line["kind"] == QuoteLineKind.PRODUCT and (line["selected"] or not line["optional"])


def compute_lines(fiscal_position: str, discount_percent: Decimal, lines: Sequence[dict[str, Any]], *,
                  franchise: bool = False) -> dict[str, Any]:  # fmt: skip
    """The EN 16931 computation of the lines that count, with the document discount.

    Returns {"totals": Totals, "lines": [{"net", "tax", "tax_category", "vat_rate"} or None per line]}.
    Raises ValidationFailed when the lines cannot share one document (as for invoices).
    """
    counting = [(index, line) for index, line in enumerate(lines) if _counts(line)]
    errors: dict[str, list[str]] = {}
    invoice_lines = [{
        "vat_category": line["vat_code"], "operation": line["operation"],
        "name": (line["description"] or "-").split("\n", 1)[0][:200] or "-", "quantity": line["quantity"],
        "unit_price": line["unit_price"], "uom_code": "C62", "description": "",
        "discount_percent": line["discount_percent"],
    } for _index, line in counting]  # fmt: skip
    computed = _compute("customer_invoice", fiscal_position, False, franchise, invoice_lines, errors)
    if computed is None:
        raise ValidationFailed(fields=errors)
    totals: Totals = computed.totals
    if discount_percent:
        allowances = [
            en.AllowanceCharge(
                amount=quantize(group.basis * discount_percent / HUNDRED), vat_category=group.category,
                vat_rate=group.rate, reason=str(_("Discount")), reason_code="95", percent=discount_percent,
                base_amount=group.basis, vat_exemption_reason=group.exemption_reason,
                vat_exemption_code=group.exemption_code,
            )
            for group in totals.vat_breakdown
            if group.basis > 0
        ]  # fmt: skip
        totals = compute(computed.document_lines, allowances)
    per_line: list[dict[str, Any] | None] = [None] * len(lines)
    for (index, _line), decision, amounts in zip(counting, computed.decisions, totals.lines, strict=True):
        per_line[index] = {"net": amounts.net, "tax": quantize(amounts.net * decision.rate / HUNDRED),
                           "tax_category": decision.code.value, "vat_rate": decision.rate}  # fmt: skip
    # Lines that do not count still show their own amount (an optional line's price).
    for index, line in enumerate(lines):
        if per_line[index] is None and line["kind"] == QuoteLineKind.PRODUCT:
            decision = vat.decide(
                vat.VatCategory(line["vat_code"]), vat.FiscalPosition(fiscal_position),
                vat.Operation(line["operation"]), vat.Side.SALE, False, franchise=franchise,
            )  # fmt: skip
            gross = quantize(line["quantity"] * line["unit_price"])
            net = quantize(line["quantity"] * line["unit_price"] - quantize(gross * line["discount_percent"] / HUNDRED))
            per_line[index] = {"net": net, "tax": quantize(net * decision.rate / HUNDRED),
                               "tax_category": decision.code.value, "vat_rate": decision.rate}  # fmt: skip
    return {"totals": totals, "lines": per_line}


TOTAL_FIELDS = ("lines_amount", "discount_amount", "untaxed_amount", "tax_amount", "total_amount")
ACCEPTED_FIELDS = ("state", "accepted_at", "accepted_by_name", "accepted_ip", "accepted_version", "acceptance_via")


def _set_totals(quote: Quote, totals: Totals) -> None:
    quote.lines_amount = totals.line_total  # type: ignore[assignment]
    quote.discount_amount = totals.allowance_total  # type: ignore[assignment]
    quote.untaxed_amount = totals.tax_basis_total  # type: ignore[assignment]
    quote.tax_amount = totals.tax_total  # type: ignore[assignment]
    quote.total_amount = totals.grand_total  # type: ignore[assignment]


def _write(quote: Quote, lines: Sequence[dict[str, Any]], invoicing: _Invoicing | None = None) -> None:
    """Compute and store a saved quote's totals and replace its lines."""
    result = _computed(quote, lines, invoicing)
    quote.save()
    QuoteLine.objects.filter(quote=quote).delete()
    _insert_lines(quote, lines, result)


def _computed(quote: Quote, lines: Sequence[dict[str, Any]], invoicing: _Invoicing | None = None) -> dict[str, Any]:
    """``compute_lines`` of the quote, its totals set on it."""
    invoicing = invoicing or _Invoicing(quote.company_id)
    result = compute_lines(quote.fiscal_position, Decimal(quote.discount_percent), lines,
                           franchise=invoicing.franchise)  # fmt: skip
    _set_totals(quote, result["totals"])
    return result


_LINE_FIELDS = {field.attname: field for field in QuoteLine._meta.concrete_fields}
_LINE_COLUMNS = ("created_at", "updated_at", "quote_id", "position", "kind", "product_id", "description", "operation",
                 "quantity", "uom_id", "unit_price", "discount_percent", "vat_code", "tax_category", "vat_rate",
                 "optional", "selected", "price_explanation", "net_amount", "tax_amount")  # fmt: skip


def _insert_lines(quote: Quote, lines: Sequence[dict[str, Any]], result: dict[str, Any]) -> None:
    """INSERT the lines (cleaned values and ``compute_lines``' amounts) as ``bulk_create`` would, by
    ``statements.insert_rows`` (no signal listens to lines)."""
    now = timezone.now()
    rows = []
    for index, line in enumerate(lines):
        amounts = result["lines"][index] or {}
        values = {**line, "created_at": now, "updated_at": now, "quote_id": quote.pk, "position": index + 1,
                  "net_amount": amounts.get("net", ZERO), "tax_amount": amounts.get("tax", ZERO),
                  "tax_category": amounts.get("tax_category", ""),
                  "vat_rate": amounts.get("vat_rate", ZERO)}  # fmt: skip
        rows.append([values[name] for name in _LINE_COLUMNS])
    insert_rows(QuoteLine, _LINE_COLUMNS, rows)


LINE_VALUES = ("id", "kind", "product_id", "description", "operation", "quantity", "uom_id", "unit_price",
               "discount_percent", "vat_code", "optional", "selected", "price_explanation")  # fmt: skip


_CURRENT_LINES = Select(QuoteLine, LINE_VALUES, "{quote_id} = %s", order_by="{position}, {id}")


def current_lines(quote: Quote) -> list[dict[str, Any]]:
    return [dict(zip(LINE_VALUES, row, strict=True)) for row in _CURRENT_LINES.rows(quote.pk)]


# --- Snapshot ----------------------------------------------------------------------------


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


SNAPSHOT_COMPANY = (
    "name",
    "legal_name",
    "legal_form",
    "siren",
    "vat_number",
    "share_capital",
    "rcs",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "email",
    "phone",
    "website",
)
SNAPSHOT_LINES = ("id", "position", "kind", "product_id", "product__reference", "description", "quantity",
                  "uom__symbol", "uom__unece_code", "unit_price", "discount_percent", "vat_code", "tax_category",
                  "vat_rate", "optional", "selected", "net_amount", "tax_amount", "operation", "uom_id",
                  "price_explanation")  # fmt: skip


# The scaled integer columns of SNAPSHOT_LINES (read by plain SQL: converted by their fields).
_SNAPSHOT_SCALED = {name: _LINE_FIELDS[name] for name in
                    ("quantity", "unit_price", "discount_percent", "vat_rate", "net_amount", "tax_amount")}  # fmt: skip


def _snapshot_lines(quote: Quote) -> list[dict[str, Any]]:
    """The quote's lines as the snapshot reads them (in order): SNAPSHOT_LINES, with the product's
    reference and the unit's symbols joined, in one statement written here (no ORM compiler)."""
    lines, products, uoms = QuoteLine._meta.db_table, Product._meta.db_table, Uom._meta.db_table
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.id, l.position, l.kind, l.product_id, p.reference, l.description, l.quantity, u.symbol, "  # noqa: S608 (our tables)
            "u.unece_code, l.unit_price, l.discount_percent, l.vat_code, l.tax_category, l.vat_rate, l.optional, "
            "l.selected, l.net_amount, l.tax_amount, l.operation, l.uom_id, l.price_explanation "
            f"FROM {lines} l LEFT JOIN {products} p ON p.id = l.product_id LEFT JOIN {uoms} u ON u.id = l.uom_id "
            "WHERE l.quote_id = %s ORDER BY l.position, l.id",
            [quote.pk],
        )
        fetched = cursor.fetchall()
    rows = []
    for values in fetched:
        row = dict(zip(SNAPSHOT_LINES, values, strict=True))
        for name, field in _SNAPSHOT_SCALED.items():
            row[name] = field.from_db_value(row[name], None, connection)  # type: ignore[attr-defined]
        row["optional"], row["selected"] = bool(row["optional"]), bool(row["selected"])  # SQLite: 0 or 1
        rows.append(row)
    return rows


class _Parties:
    """What the snapshot shows besides the quote and its lines, in one statement: the company, the
    customer and its billing address, the contact, the salesperson, the payment term; with the VAT
    franchise (for the breakdown) and the id of the current version's frozen row, if any."""

    def __init__(self, quote: Quote) -> None:
        companies, organizations = Company._meta.db_table, Organization._meta.db_table
        addresses, people, users = Address._meta.db_table, Person._meta.db_table, User._meta.db_table
        terms, invoicing, versions = PaymentTerm._meta.db_table, InvoicingSettings._meta.db_table, \
            QuoteVersion._meta.db_table  # fmt: skip
        company_columns = ", ".join(f"c.{name}" for name in SNAPSHOT_COMPANY)
        with transaction.get_connection().cursor() as cursor:
            cursor.execute(
                f"SELECT {company_columns}, o.legal_name, o.trade_name, o.siren, o.vat_number, "  # noqa: S608 (our tables)
                "a.id, a.line1, a.line2, a.postal_code, a.city, a.country, p.id, p.first_name, p.last_name, p.email, "
                "u.id, u.full_name, u.email, t.id, t.name, t.note, "
                f"(SELECT s.vat_franchise FROM {invoicing} s WHERE s.company_id = c.id), "
                f"(SELECT v.id FROM {versions} v WHERE v.quote_id = %s AND v.version = %s) "
                f"FROM {companies} c JOIN {organizations} o ON o.id = %s "
                # The billing address the customer chose as default, else the first one.
                f"LEFT JOIN {addresses} a ON a.id = (SELECT b.id FROM {addresses} b WHERE b.organization_id = o.id "
                "AND b.kind = %s ORDER BY b.is_default DESC, b.id LIMIT 1) "
                f"LEFT JOIN {people} p ON p.id = %s LEFT JOIN {users} u ON u.id = %s LEFT JOIN {terms} t ON t.id = %s "
                "WHERE c.id = %s",
                [quote.pk, quote.version, quote.organization_id, Address.Kind.BILLING, quote.contact_id,
                 quote.owner_id, quote.payment_term_id, quote.company_id],
            )  # fmt: skip
            row = cursor.fetchone()
        if row is None:
            raise Organization.DoesNotExist("The quote's customer does not exist.")
        values = iter(row)
        self.company = {name: next(values) for name in SNAPSHOT_COMPANY}
        self.organization = {name: next(values) for name in ("legal_name", "trade_name", "siren", "vat_number")}
        found, *address = (next(values) for _column in range(6))
        self.address = dict(zip(("line1", "line2", "postal_code", "city", "country"), address, strict=True)) \
            if found is not None else None  # fmt: skip
        found, first_name, last_name, email = (next(values) for _column in range(4))
        self.contact = {"first_name": first_name, "last_name": last_name, "email": email} \
            if found is not None else None  # fmt: skip
        found, full_name, email = (next(values) for _column in range(3))
        self.owner = {"full_name": full_name, "email": email} if found is not None else None
        found, name, note = (next(values) for _column in range(3))
        self.term = {"name": name, "note": note} if found is not None else None
        self.franchise = bool(next(values))
        self.version_id: int | None = next(values)


def quote_snapshot(quote: Quote, *, rows: list[dict[str, Any]] | None = None,
                   franchise: bool | None = None, parties: _Parties | None = None) -> dict[str, Any]:  # fmt: skip
    """Everything the PDF and the customer's page need, as JSON: header, parties, lines, totals.

    ``rows`` (``_snapshot_lines``), ``franchise`` and ``parties`` when the caller has already read them."""
    parties = parties or _Parties(quote)
    company, organization, address = parties.company, parties.organization, parties.address
    contact, owner, term = parties.contact, parties.owner, parties.term
    franchise = parties.franchise if franchise is None else franchise
    rows = _snapshot_lines(quote) if rows is None else rows
    lines_data = [{
        "id": row["id"], "position": row["position"], "kind": row["kind"], "product_id": row["product_id"],
        "reference": row["product__reference"] or "", "description": row["description"],
        "quantity": _text(row["quantity"]), "uom": row["uom__symbol"] or "",
        "unit_code": row["uom__unece_code"] or "C62",
        "unit_price": _text(row["unit_price"]), "discount_percent": _text(row["discount_percent"]),
        "vat_code": row["vat_code"], "tax_category": row["tax_category"], "vat_rate": _text(row["vat_rate"]),
        "optional": row["optional"], "selected": row["selected"], "net_amount": _text(row["net_amount"]),
        "tax_amount": _text(row["tax_amount"]),
    } for row in rows]  # fmt: skip
    breakdown = [
        {"category": b.category.value, "rate": _text(b.rate), "base": _text(b.basis), "tax": _text(b.tax),
         "exemption_reason": b.exemption_reason, "exemption_code": b.exemption_code}
        for b in _breakdown(quote, [{name: row[name] for name in LINE_VALUES} for row in rows], franchise)
    ]  # fmt: skip
    return {
        "quote": {
            "id": quote.pk, "number": quote.number, "version": quote.version, "title": quote.title,
            "state": quote.state, "issue_date": _text(quote.issue_date), "valid_until": _text(quote.valid_until),
            "currency": quote.currency, "language": quote.language, "notes": quote.notes,
            "fiscal_position": quote.fiscal_position, "discount_percent": _text(quote.discount_percent),
            "payment_terms": ((term["note"] or term["name"]) if term else ""),
            "opportunity_id": quote.opportunity_id,
        },
        "seller": {
            "name": company["legal_name"] or company["name"], "trade_name": company["name"],
            "legal_form": company["legal_form"], "siren": company["siren"], "vat_number": company["vat_number"],
            "share_capital": company["share_capital"], "rcs": company["rcs"],
            "address": {"line1": company["address_line1"], "line2": company["address_line2"],
                        "postal_code": company["postal_code"], "city": company["city"], "country": company["country"]},
            "email": company["email"], "phone": company["phone"], "website": company["website"],
        },
        "customer": {
            "id": quote.organization_id, "name": organization["legal_name"], "trade_name": organization["trade_name"],
            "siren": organization["siren"], "vat_number": organization["vat_number"],
            "address": dict(address) if address else {},
        },
        "contact": ({"name": f"{contact['first_name']} {contact['last_name']}".strip(), "email": contact["email"]}
                    if contact else None),
        "salesperson": ({"name": owner["full_name"] or owner["email"], "email": owner["email"]} if owner else None),
        "lines": lines_data,
        "totals": {
            "lines": _text(quote.lines_amount), "discount": _text(quote.discount_amount),
            "untaxed": _text(quote.untaxed_amount), "tax": _text(quote.tax_amount), "total": _text(quote.total_amount),
            "vat_breakdown": breakdown,
        },
    }  # fmt: skip


def _breakdown(
    quote: Quote, stored: list[dict[str, Any]] | None = None, franchise: bool | None = None
) -> tuple[Any, ...]:
    """The VAT breakdown of the quote's lines (``stored``: as ``current_lines`` returns them, already read;
    ``franchise``: the company's VAT franchise, when already read)."""
    lines = [{**line, "quantity": Decimal(line["quantity"]), "unit_price": Decimal(line["unit_price"]),
              "discount_percent": Decimal(line["discount_percent"])}
             for line in (current_lines(quote) if stored is None else stored)]  # fmt: skip
    if franchise is None:
        franchise = _franchise(quote.company_id)
    result = compute_lines(quote.fiscal_position, Decimal(quote.discount_percent), lines, franchise=franchise)
    return tuple(result["totals"].vat_breakdown)


def vat_breakdown(quote: Quote) -> list[dict[str, Any]]:
    """The VAT breakdown of the quote as it stands (for its page)."""
    return [{"category": b.category.value, "rate": b.rate, "base": b.basis, "tax": b.tax} for b in _breakdown(quote)]


# --- Services ----------------------------------------------------------------------------


def _insert(instance: Quote | QuoteVersion) -> None:
    """Insert a new row as ``save()`` would (defaults and ``auto_now`` stamps through each field's
    ``pre_save``), with SQL compiled once (``audit.insert_row``): these models add nothing to save()
    and no signal listens to them."""
    audit.insert_instance(instance)


# Every column: the services that lock a quote may save it whole (``quote_revise``).
_QUOTE_COLUMNS = [field.name for field in Quote._meta.concrete_fields]
# For an actor whose record rule is the company's quotes (``sees_all``), and for the customer's online page.
_LOCK_COMPANY_QUOTE = Select(Quote, _QUOTE_COLUMNS, "{company_id} = %s AND {id} = %s", lock=True)
_LOCK_QUOTE = Select(Quote, _QUOTE_COLUMNS, "{id} = %s", lock=True)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _locked(actor: Actor, quote_id: Any) -> Quote:
    if not _is_id(quote_id):
        raise NotFound("quote_not_found")
    if actor.company_id is not None and sees_all(actor):
        # The record rule is the company filter: the statement written once says the same.
        quote = _LOCK_COMPANY_QUOTE.instance(actor.company_id, quote_id)
    else:
        quote = next(iter(visible_quotes(actor).select_for_update(of=("self",)).filter(pk=quote_id).order_by()[:1]),
                     None)  # fmt: skip
    if quote is None:
        raise NotFound("quote_not_found")
    return quote


def _locked_online(quote_id: Any) -> Quote:
    """The quote of the customer's online page (the caller has checked the link: no record rule)."""
    quote = _LOCK_QUOTE.instance(quote_id) if _is_id(quote_id) else None
    if quote is None:
        raise NotFound("quote_not_found")
    return quote  # type: ignore[no-any-return]


def _stale(quote: Quote) -> Conflict:
    message = _("This version of the quote has been replaced by version %(n)s.") % {"n": quote.version}
    return Conflict("quote_version_stale", message)


def _check(quote: Quote, action: str) -> None:
    WORKFLOW.check(quote.state, action)


@transaction.atomic
def quote_create(*, actor: Actor, organization_id: Any = None, lines: Any = (), **data: Any) -> Quote:
    """A draft quote, numbered (``DE-2026-00001``) and computed; errors per field and per line."""
    require(actor, MANAGE)
    quote = Quote(company_id=actor.company_id, owner_id=actor.user_id, created_by_id=actor.user_id)  # type: ignore[misc]
    payload = {**data, "organization_id": organization_id,
               "lines": list(lines) if isinstance(lines, (list, tuple)) else lines}  # fmt: skip
    invoicing = _Invoicing(actor.company_id or 0)
    clean = _apply(actor, quote, payload, creating=True, invoicing=invoicing) or []
    result = _computed(quote, clean, invoicing)
    # The number right before the quote's INSERT, which carries it: the counter row stays locked
    # from here until commit (docs/architecture.md), so everything that can fail comes before.
    taken = take_number(company_id=quote.company_id, kind=SEQUENCE_KIND, on_date=quote.issue_date)
    quote.number = taken.number
    _insert(quote)
    record_number(taken, object_type=SOURCE_TYPE, object_id=quote.pk)
    _insert_lines(quote, clean, result)
    audit.record(actor, "quote.create", quote, changes={
        "number": [None, quote.number], "organization_id": [None, quote.organization_id],
        "opportunity_id": [None, quote.opportunity_id], "total": [None, quote.total_amount],
        "lines": [None, len(clean)]})  # fmt: skip
    return quote


@transaction.atomic
def quote_update(*, actor: Actor, quote_id: int, **data: Any) -> Quote:
    """Change a draft: the fields sent, and all its lines when ``lines`` is sent."""
    require(actor, MANAGE)
    quote = _locked(actor, quote_id)
    if quote.state != QuoteState.DRAFT:
        raise Conflict("quote_not_draft", _("Only a draft quote can be changed; revise it first."))
    before = audit.snapshot(quote, AUDITED)
    invoicing = _Invoicing(quote.company_id)
    lines = _apply(actor, quote, data, creating=False, invoicing=invoicing)
    if lines is None:
        lines = [{**line, "quantity": Decimal(line["quantity"]), "unit_price": Decimal(line["unit_price"]),
                  "discount_percent": Decimal(line["discount_percent"])} for line in current_lines(quote)]  # fmt: skip
    _write(quote, lines, invoicing)
    changes = audit.diff(before, audit.snapshot(quote, AUDITED))
    if "lines" in data:
        changes["lines"] = [None, len(lines)]
    audit.record(actor, "quote.update", quote, changes=changes)
    return quote


def quote_preview(*, actor: Actor, quote_id: int | None = None, **data: Any) -> dict[str, Any]:
    """The totals the form would give, computed without writing anything (the live totals of the form).

    Returns {"totals": Totals | None, "lines": [amounts or None], "errors": {field: [messages]}}.
    """
    require(actor, MANAGE)
    if quote_id is not None:
        quote = visible_quotes(actor).filter(pk=quote_id).first()
        if quote is None:
            raise NotFound("quote_not_found")
    else:
        quote = Quote(company_id=actor.company_id, owner_id=actor.user_id)  # type: ignore[misc]
    try:
        # Without a customer yet, the totals are those of a French customer and the general prices.
        creating = quote_id is None and data.get("organization_id") not in (None, "")
        if not data.get("organization_id"):
            data.pop("organization_id", None)
        invoicing = _Invoicing(actor.company_id or 0)  # read once, with the customer's defaults when creating
        lines = _apply(actor, quote, {**data, "lines": data.get("lines", [])}, creating=creating,
                       invoicing=invoicing) or []  # fmt: skip
        result = compute_lines(quote.fiscal_position, Decimal(quote.discount_percent), lines,
                               franchise=invoicing.franchise)  # fmt: skip
    except ValidationFailed as exc:
        return {"totals": None, "lines": [], "errors": exc.fields, "currency": quote.currency}
    return {"totals": result["totals"], "lines": result["lines"], "errors": {}, "currency": quote.currency}


# Unique per (quote, version): no ORDER BY.
_FROZEN_VERSION = Select(QuoteVersion, [field.name for field in QuoteVersion._meta.concrete_fields],
                         "{quote_id} = %s AND {version} = %s")  # fmt: skip


def _freeze(quote: Quote, *, sent_at: dt.datetime | None, rows: list[dict[str, Any]] | None = None,
            likely_new: bool = False) -> QuoteVersion:  # fmt: skip
    """The current version's QuoteVersion, created with the snapshot if missing (``rows``: its lines, already read).

    ``likely_new``: a draft being sent, whose version is frozen only now: the statement reading
    what the snapshot shows also says whether the row exists."""
    parties = _Parties(quote) if likely_new else None
    if parties is None or parties.version_id is not None:
        version = _FROZEN_VERSION.instance(quote.pk, quote.version)
    else:
        version = None
    if version is None:
        version = QuoteVersion(quote=quote, version=quote.version,
                               snapshot=quote_snapshot(quote, rows=rows, parties=parties), sent_at=sent_at)  # fmt: skip
        _insert(version)
    elif sent_at is not None:
        version.sent_at = sent_at
        version.save(update_fields=["sent_at", "updated_at"])
    return version


_SAVE_SENT = Update(Quote, ["state", "sent_at", "updated_at"], "{id} = %s")


@transaction.atomic
def quote_mark_sent(*, actor: Actor, quote_id: int) -> QuoteVersion:
    """Freeze the current version (snapshot) and mark the quote sent; sending again the same
    version only moves its ``sent_at``. Used by the email sending."""
    require(actor, MANAGE)
    quote = _locked(actor, quote_id)
    _check(quote, "send")
    errors: dict[str, list[str]] = {}
    rows = _snapshot_lines(quote)  # the check's and the snapshot's
    if not any(row["kind"] == QuoteLineKind.PRODUCT for row in rows):
        _add(errors, "lines", _("A quote needs at least one product or service line."))
    if quote.state == QuoteState.DRAFT and quote.valid_until < timezone.localdate():
        _add(errors, "valid_until", _("The validity date is past: change it before sending."))
    if errors:
        raise ValidationFailed(fields=errors)
    now = timezone.now()
    before = quote.state
    quote.state = QuoteState.SENT
    quote.sent_at = quote.updated_at = now
    _SAVE_SENT.run([quote.state, quote.sent_at, quote.updated_at], quote.pk)
    version = _freeze(quote, sent_at=now, rows=rows, likely_new=before == QuoteState.DRAFT)
    audit.record(actor, "quote.send", quote, changes={"state": [before, quote.state], "version": [None, quote.version]})
    return version


@transaction.atomic
def quote_revise(*, actor: Actor, quote_id: int) -> Quote:
    """Start the next version of a sent, refused or expired quote (the sent one stays frozen)."""
    require(actor, MANAGE)
    quote = _locked(actor, quote_id)
    _check(quote, "revise")
    _freeze(quote, sent_at=None)
    before = (quote.state, quote.version)
    quote.version += 1
    quote.state = QuoteState.DRAFT
    quote.sent_at = None
    quote.refusal_reason = ""
    quote.reminder_sent_at = None
    if quote.valid_until < timezone.localdate():
        quote.issue_date = timezone.localdate()
        quote.valid_until = quote.issue_date + dt.timedelta(days=DEFAULT_VALIDITY_DAYS)
    quote.save()
    audit.record(actor, "quote.revise", quote, changes={"state": [before[0], quote.state],
                                                         "version": [before[1], quote.version]})  # fmt: skip
    return quote


_SAVE_ACCEPTANCE = Update(Quote, [*ACCEPTED_FIELDS, "updated_at"], "{id} = %s")
_SAVE_ACCEPTANCE_AND_TOTALS = Update(Quote, [*ACCEPTED_FIELDS, *TOTAL_FIELDS, "updated_at"], "{id} = %s")


def _ip(errors: dict[str, list[str]], value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        validate_ipv46_address(str(value))
    except ValidationError:
        _add(errors, "ip", _("Enter a valid IP address."))
        return None
    return str(value)


@transaction.atomic
def quote_accept(*, actor: Actor | None, quote_id: int, version: Any, by_name: Any = "", ip: Any = None,
                 via: Any = AcceptanceVia.SALESPERSON, selected_line_ids: Iterable[Any] = ()) -> Quote:  # fmt: skip
    """Record the customer's acceptance of the version they saw.

    ``actor`` is None on the customer's online page (the caller has checked the link); then
    ``via`` is "online". Refuses a version that is no longer current, an expired quote or a
    quote that is not sent. ``selected_line_ids`` are the optional lines the customer picked.
    """
    if actor is not None:
        require(actor, MANAGE)
        quote = _locked(actor, quote_id)
    else:
        quote = _locked_online(quote_id)
    errors: dict[str, list[str]] = {}
    if via not in (AcceptanceVia.ONLINE, AcceptanceVia.SALESPERSON):
        _add(errors, "via", _("Choose among: %(values)s.") % {"values": "online, salesperson"})
    elif via == AcceptanceVia.SALESPERSON and actor is None:
        raise PermissionDenied("permission_denied")
    name = _required_text(errors, "by_name", by_name, 200, via == AcceptanceVia.ONLINE)
    address = _ip(errors, ip)
    wanted = _parse_id(errors, "version", version, True)
    if quote.state == QuoteState.SENT and quote.valid_until < timezone.localdate():
        raise Conflict("quote_expired", _("This quote has expired; ask for a new version."))
    _check(quote, "accept")
    if wanted is not None and wanted != quote.version:
        raise _stale(quote)
    if isinstance(selected_line_ids, (str, bytes)) or not isinstance(selected_line_ids, Iterable):
        _add(errors, "selected_line_ids", _("Enter a list of line ids."))
        selected_line_ids = ()
    picked: set[int] = set()
    for raw in selected_line_ids:
        number = _parse_id(errors, "selected_line_ids", raw, True)
        if number:
            picked.add(number)
    lines = current_lines(quote)
    optional_ids = {line["id"] for line in lines if line["optional"]}
    if picked - optional_ids:
        _add(errors, "selected_line_ids", _("Only optional lines of this quote can be selected."))
    if errors:
        raise ValidationFailed(fields=errors)
    if optional_ids:
        for line in lines:
            if line["optional"]:
                line["selected"] = line["id"] in picked
    before_total = quote.total_amount
    quote.state = QuoteState.ACCEPTED
    quote.accepted_at = timezone.now()
    quote.accepted_by_name = name
    quote.accepted_ip = address
    quote.accepted_version = quote.version
    quote.acceptance_via = via
    if optional_ids:
        selected = [line["id"] for line in lines if line["optional"] and line["selected"]]
        QuoteLine.objects.filter(quote=quote, optional=True).update(selected=False)
        QuoteLine.objects.filter(quote=quote, pk__in=selected).update(selected=True)
        # The lines keep their ids (the sent snapshot refers to them); only the totals move.
        _set_totals(quote, compute_lines(quote.fiscal_position, Decimal(quote.discount_percent), lines,
                                         franchise=_franchise(quote.company_id))["totals"])  # fmt: skip
    # The columns acceptance changes (and the totals, when optional lines were picked or dropped).
    quote.updated_at = quote.accepted_at
    saving = _SAVE_ACCEPTANCE_AND_TOTALS if optional_ids else _SAVE_ACCEPTANCE
    saving.run([getattr(quote, name) for name in saving.field_names], quote.pk)
    who = actor or Actor(user=None, company_id=quote.company_id, channel=current_channel())
    audit.record(who, "quote.accept", quote, changes={
        "state": [QuoteState.SENT, QuoteState.ACCEPTED], "version": [None, quote.version], "via": [None, via],
        "by_name": [None, name], "ip": [None, address], "selected_line_ids": [None, sorted(picked)],
        "total": [before_total, quote.total_amount]})  # fmt: skip
    events.publish(ACCEPTED_EVENT, company_id=quote.company_id, payload={
        "quote_id": quote.pk, "number": quote.number, "version": quote.version,
        "opportunity_id": quote.opportunity_id, "organization_id": quote.organization_id,
        "total_amount": str(quote.total_amount), "untaxed_amount": str(quote.untaxed_amount),
        "currency": quote.currency, "via": via})  # fmt: skip
    return quote


@transaction.atomic
def quote_refuse(*, actor: Actor | None, quote_id: int, reason: Any = "", version: Any = None) -> Quote:
    """The customer declined the quote (recorded by the salesperson, or online with actor None)."""
    if actor is not None:
        require(actor, MANAGE)
        quote = _locked(actor, quote_id)
    else:
        quote = _locked_online(quote_id)
    errors: dict[str, list[str]] = {}
    text = _required_text(errors, "reason", reason, 2000, False)
    if errors:
        raise ValidationFailed(fields=errors)
    _check(quote, "refuse")
    if version not in (None, "") and _parse_id({}, "", version, False) != quote.version:
        raise _stale(quote)
    quote.state = QuoteState.REFUSED
    quote.refusal_reason = text
    quote.save(update_fields=["state", "refusal_reason", "updated_at"])
    who = actor or Actor(user=None, company_id=quote.company_id, channel=current_channel())
    audit.record(who, "quote.refuse", quote, changes={"state": [QuoteState.SENT, QuoteState.REFUSED],
                                                       "reason": [None, text]})  # fmt: skip
    events.publish(REFUSED_EVENT, company_id=quote.company_id, payload={
        "quote_id": quote.pk, "opportunity_id": quote.opportunity_id, "version": quote.version})  # fmt: skip
    return quote


@transaction.atomic
def quote_cancel(*, actor: Actor, quote_id: int) -> Quote:
    """Cancel a draft or sent quote (kept, with its number: numbers are never reused)."""
    require(actor, MANAGE)
    quote = _locked(actor, quote_id)
    before = quote.state
    _check(quote, "cancel")
    quote.state = QuoteState.CANCELLED
    quote.save(update_fields=["state", "updated_at"])
    audit.record(actor, "quote.cancel", quote, changes={"state": [before, QuoteState.CANCELLED]})
    return quote


def expire_quotes(company_id: int, today: dt.date | None = None) -> int:
    """Mark expired the sent quotes of the company whose validity ended before ``today``."""
    today = today or timezone.localdate()
    actor = Actor.system(company_id)
    count = 0
    ids = list(Quote.objects.filter(company_id=company_id, state=QuoteState.SENT, valid_until__lt=today)
               .order_by("pk").values_list("pk", flat=True))  # fmt: skip
    for quote_id in ids:
        with transaction.atomic():
            quote = Quote.objects.select_for_update().filter(pk=quote_id, state=QuoteState.SENT).first()
            if quote is None or quote.valid_until >= today:
                continue
            quote.state = QuoteState.EXPIRED
            quote.save(update_fields=["state", "updated_at"])
            audit.record(actor, "quote.expire", quote, changes={"state": [QuoteState.SENT, QuoteState.EXPIRED]})
            count += 1
    return count


def expire_all_quotes(today: dt.date | None = None) -> int:
    """The nightly job: expire the overdue sent quotes of every company."""
    company_ids = (Quote.objects.filter(state=QuoteState.SENT, valid_until__lt=today or timezone.localdate())
                   .order_by().values_list("company_id", flat=True).distinct())  # fmt: skip
    return sum(expire_quotes(company_id, today) for company_id in list(company_ids))


def available_actions(actor: Actor, quote: Quote) -> list[str]:
    """Workflow actions the actor may take on the quote now (pages and API list the same)."""
    actions = [t.action for t in WORKFLOW.actions_from(quote.state, actor) if t.action != "expire"]
    if quote.state == QuoteState.DRAFT and actor.has_perm(MANAGE):
        actions.insert(0, "edit")
    return actions

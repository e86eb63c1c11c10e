"""Customer invoices and credit notes, vendor bills and refunds: every write.

A draft is computed on every save with the EN 16931 engine (``einvoice.totals``): each
line's VAT treatment comes from ``vat.decide`` (the line's VAT category, the invoice's
fiscal position, goods or services), line nets are rounded once, VAT once per rate on the
summed base. The stored totals, the VAT breakdown, the Factur-X XML and PDF, and the
journal entry all read that one computation, so they agree to the cent.

``invoice_post`` is the legal issue: it checks the mandatory mentions, takes the gapless
number of the invoice's kind (``kernel.sequences``), books and posts the journal entry
through the ledger helpers, and stores the Factur-X PDF, all in one transaction. A posted
invoice never changes again (only its payment state and residual, moved by the payments
module); it is corrected by a credit note that cites it (``invoice_credit``).

The PDF may instead be rendered by a background task after commit
(``settings.INVOICE_PDF_DEFERRED``): the invoice's data is frozen at posting, and the PDF
is a deterministic rendering of it, so rendering later issues the same document. Until it
exists the invoice cannot be sent; ``invoice_pdf_render`` is idempotent.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import currency as currency_services
from comptoir.accounting import vat
from comptoir.accounting.einvoice import model as en
from comptoir.accounting.einvoice.totals import Totals, compute
from comptoir.accounting.models import (
    Account,
    Invoice,
    InvoiceFile,
    InvoiceFileRole,
    InvoiceInstallment,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
    InvoiceTax,
    InvoicingSettings,
    Journal,
    JournalKind,
    LineOperation,
    OperationCategory,
    PartnerAccount,
    PartnerKind,
    PartnerProfile,
    PaymentTerm,
    PaymentTermLine,
    PaymentTermLineKind,
)
from comptoir.accounting.services import (
    PartnerRow,
    _add,
    _parse_date,
    _parse_id,
    _period_errors,
    _required_text,
    _unknown,
    clean_site_id,
    create_posted_entry,
    default_site_id,
    ledger_rows,
    partner_account_ensure,
    periods_read_once,
)
from comptoir.catalog.models import Product, ProductKind, Uom
from comptoir.contacts.models import Address, Organization
from comptoir.kernel import audit, events, statements
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.money import ScaledIntegerField, allocate, quantize
from comptoir.kernel.sequences import next_number, register_kind
from comptoir.kernel.statements import Select, Update, insert_rows
from comptoir.org.models import Company

VIEW = "accounting.view_invoices"
VIEW_ALL = "accounting.view_all_invoices"
MANAGE = "accounting.manage_invoices"

MAX_LINES = 500
ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_QUANTITY = Decimal("1e9")
MAX_PRICE = Decimal("1e11")
_UNIT_CODE = re.compile(r"^[A-Z0-9]{1,3}$")
_SIREN = re.compile(r"^\d{9}$")

CUSTOMER_KINDS = (InvoiceKind.CUSTOMER_INVOICE, InvoiceKind.CUSTOMER_CREDIT_NOTE)
VENDOR_KINDS = (InvoiceKind.VENDOR_BILL, InvoiceKind.VENDOR_REFUND)
REFUND_OF = {InvoiceKind.CUSTOMER_INVOICE: InvoiceKind.CUSTOMER_CREDIT_NOTE,
             InvoiceKind.VENDOR_BILL: InvoiceKind.VENDOR_REFUND}  # fmt: skip
OPEN_STATES = (InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID, InvoiceState.PAID)

# Number series per kind (configurable per company through kernel.sequences).
SEQUENCES: dict[str, tuple[str, str]] = {
    InvoiceKind.CUSTOMER_INVOICE: ("accounting.invoice.customer", "FA"),
    InvoiceKind.CUSTOMER_CREDIT_NOTE: ("accounting.invoice.credit_note", "AV"),
    InvoiceKind.VENDOR_BILL: ("accounting.invoice.vendor_bill", "FF"),
    InvoiceKind.VENDOR_REFUND: ("accounting.invoice.vendor_refund", "AF"),
}
SOURCE_TYPE = "accounting.invoice"


def register_sequences() -> None:
    for kind, prefix in SEQUENCES.values():
        register_kind(kind, prefix, "{prefix}-{year}-{n:05}", yearly=True)


INVOICE_FIELDS = (
    "organization_id", "issue_date", "delivery_date", "due_date", "payment_term_id", "fiscal_position",
    "vat_on_debits", "language", "purchase_order", "note", "supplier_reference", "delivery_address", "currency",
    "source_type", "source_id", "site_id",
)  # fmt: skip
LINE_FIELDS = ("product_id", "name", "description", "operation", "quantity", "uom_code", "unit_price",
               "discount_percent", "vat_category", "account_id")  # fmt: skip
ADDRESS_FIELDS = ("line1", "line2", "postal_code", "city", "country")


# --- Parsing helpers ------------------------------------------------------------------


def _parse_decimal(
    errors: dict[str, list[str]], name: str, value: Any, *, places: int, default: Decimal | None = None,
    minimum: Decimal | None = None, maximum: Decimal | None = None,
) -> Decimal | None:  # fmt: skip
    """A decimal given as a string (or int/Decimal) with at most ``places`` decimals. Floats are refused."""
    if value is None or value == "":
        if default is None:
            _add(errors, name, _("This field is required."))
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        _add(errors, name, _("Enter a number as a decimal string, e.g. 12.50."))
        return default
    try:
        number = Decimal(value.strip().replace(",", ".").replace("\u00a0", "").replace(" ", "")
                         if isinstance(value, str) else value)  # fmt: skip
    except (ArithmeticError, ValueError):
        _add(errors, name, _("Enter a number."))
        return default
    if not number.is_finite():
        _add(errors, name, _("Enter a number."))
    elif minimum is not None and number < minimum:
        _add(errors, name, _("Enter at least %(n)s.") % {"n": minimum})
    elif maximum is not None and number > maximum:
        _add(errors, name, _("Enter at most %(n)s.") % {"n": maximum})
    elif number != number.quantize(Decimal(1).scaleb(-places)):
        _add(errors, name, _("Use at most %(n)s decimal places.") % {"n": places})
    else:
        return number.quantize(Decimal(1).scaleb(-places))
    return default


def _parse_bool(errors: dict[str, list[str]], name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("on", "true", "1", 1):
        return True
    if value in ("", "false", "0", 0, None, "off"):
        return False
    _add(errors, name, _("Enter true or false."))
    return False


def _choice(errors: dict[str, list[str]], name: str, value: Any, choices: Sequence[str], default: str) -> str:
    if value in (None, ""):
        return default
    if value not in choices:
        _add(errors, name, _("Choose among: %(values)s.") % {"values": ", ".join(choices)})
        return default
    return str(value)


# --- Payment terms --------------------------------------------------------------------

DEFAULT_TERMS: tuple[tuple[str, str, tuple[tuple[str, str, int, bool], ...]], ...] = (
    ("Comptant", "Paiement à réception", (("balance", "0", 0, False),)),
    ("30 jours", "Paiement à 30 jours", (("balance", "0", 30, False),)),
    ("45 jours fin de mois", "Paiement à 45 jours fin de mois", (("balance", "0", 45, True),)),
    ("60 jours", "Paiement à 60 jours", (("balance", "0", 60, False),)),
    ("30 % à la commande, 70 % à 30 jours", "30 % à réception, solde à 30 jours",
     (("percent", "30", 0, False), ("balance", "0", 30, False))),
)  # fmt: skip


def setup_invoicing(company_id: int) -> None:
    """The usual payment terms and the invoicing settings row; idempotent (kept when edited)."""
    InvoicingSettings.objects.bulk_create([InvoicingSettings(company_id=company_id)], ignore_conflicts=True)
    existing = set(PaymentTerm.objects.filter(company_id=company_id).values_list("name", flat=True))
    for name, note, lines in DEFAULT_TERMS:
        if name in existing:
            continue
        term = PaymentTerm.objects.create(company_id=company_id, name=name, note=note)
        PaymentTermLine.objects.bulk_create(
            PaymentTermLine(term=term, sequence=i + 1, kind=kind, percent=Decimal(pct), days=days, end_of_month=eom)  # type: ignore[misc]
            for i, (kind, pct, days, eom) in enumerate(lines)
        )


_SETTINGS_FIELDS = tuple(f.attname for f in InvoicingSettings._meta.concrete_fields)
_COMPANY_INVOICING_SETTINGS = Select(InvoicingSettings, _SETTINGS_FIELDS, "{company_id} = %s")


def _invoicing_settings(company_id: int) -> InvoicingSettings:
    """The company's invoicing settings, created with the defaults on first use (read first: one query)."""
    found: InvoicingSettings | None = _COMPANY_INVOICING_SETTINGS.instance(company_id)
    if found is not None:
        return found
    InvoicingSettings.objects.bulk_create([InvoicingSettings(company_id=company_id)], ignore_conflicts=True)
    return InvoicingSettings.objects.get(company_id=company_id)


def _clean_term_lines(raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(raw, (list, tuple)) or not raw:
        _add(errors, "lines", _("Enter at least one installment."))
        return []
    if len(raw) > 12:
        _add(errors, "lines", _("At most 12 installments."))
        return []
    cleaned = []
    total = ZERO
    for index, line in enumerate(raw):
        prefix = f"lines.{index}."
        if not isinstance(line, dict):
            _add(errors, f"lines.{index}", _("Enter a line."))
            continue
        _unknown(errors, line, ("kind", "percent", "days", "end_of_month"), prefix)
        kind = _choice(errors, prefix + "kind", line.get("kind"), PaymentTermLineKind.values, "balance")
        percent = ZERO
        if kind == PaymentTermLineKind.PERCENT:
            percent = _parse_decimal(errors, prefix + "percent", line.get("percent"), places=4,
                                     minimum=Decimal("0.0001"), maximum=HUNDRED) or ZERO  # fmt: skip
            total += percent
        days = _parse_decimal(errors, prefix + "days", line.get("days"), places=0, default=ZERO, minimum=ZERO,
                              maximum=Decimal(3650)) or ZERO  # fmt: skip
        end_of_month = _parse_bool(errors, prefix + "end_of_month", line.get("end_of_month"))
        cleaned.append({"kind": kind, "percent": percent, "days": int(days), "end_of_month": end_of_month})
    if cleaned and cleaned[-1]["kind"] != PaymentTermLineKind.BALANCE:
        _add(errors, "lines", _("The last installment is the balance."))
    if any(line["kind"] == PaymentTermLineKind.BALANCE for line in cleaned[:-1]):
        _add(errors, "lines", _("Only the last installment is the balance."))
    if total >= HUNDRED:
        message = _("The percentages must leave a balance (less than %(limit)s %% in all).") % {"limit": 100}
        _add(errors, "lines", message)
    return cleaned


@transaction.atomic
def payment_term_create(*, actor: Actor, name: Any, lines: Any, note: Any = "") -> PaymentTerm:
    require(actor, MANAGE)
    errors: dict[str, list[str]] = {}
    clean_name = _required_text(errors, "name", name, 100, True)
    if clean_name and PaymentTerm.objects.filter(company_id=actor.company_id, name=clean_name).exists():
        _add(errors, "name", _("Another payment term has this name."))
    clean_note = _required_text(errors, "note", note, 300, False)
    clean_lines = _clean_term_lines(lines, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    term = PaymentTerm.objects.create(company_id=actor.company_id, name=clean_name, note=clean_note)
    PaymentTermLine.objects.bulk_create(PaymentTermLine(term=term, sequence=i + 1, **line)
                                        for i, line in enumerate(clean_lines))  # fmt: skip
    audit.record(actor, "payment_term.create", term, changes={"name": [None, clean_name]})
    return term


def _end_of_month(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def schedule(
    term_lines: Sequence[PaymentTermLine], issue_date: dt.date, total: Decimal
) -> list[tuple[dt.date, Decimal]]:
    """Due dates and amounts of ``total`` under a payment term.

    Each installment falls ``days`` after the issue date, then at the end of that month when
    asked ("45 jours fin de mois": issue date + 45 days, then the month's last day).
    Percentages are rounded to the cent; the balance line takes what is left, so the
    installments always add up to the total.
    """
    result: list[tuple[dt.date, Decimal]] = []
    taken = ZERO
    for line in term_lines:
        due = issue_date + dt.timedelta(days=line.days)
        if line.end_of_month:
            due = _end_of_month(due)
        if line.kind == PaymentTermLineKind.PERCENT:
            amount = quantize(total * line.percent / HUNDRED)
        else:
            amount = total - taken
        taken += amount
        result.append((due, amount))
    if not result:
        return [(issue_date, total)]
    if taken != total:  # a term without a balance line: the last installment absorbs the rest
        due, amount = result[-1]
        result[-1] = (due, amount + total - taken)
    return [(due, amount) for due, amount in result if amount]


# --- Partner profiles -----------------------------------------------------------------


_ORGANIZATION_PROFILE = Select(PartnerProfile, tuple(f.attname for f in PartnerProfile._meta.concrete_fields),
                               "{company_id} = %s AND {organization_id} = %s")  # fmt: skip


def partner_profile(company_id: int, organization_id: int) -> PartnerProfile:
    """The organization's invoicing profile, created with the defaults on first use (read first: one query)."""
    found: PartnerProfile | None = _ORGANIZATION_PROFILE.instance(company_id, organization_id)
    if found is not None:
        return found
    PartnerProfile.objects.bulk_create([PartnerProfile(company_id=company_id, organization_id=organization_id)],
                                       ignore_conflicts=True)  # fmt: skip
    return PartnerProfile.objects.get(company_id=company_id, organization_id=organization_id)


PROFILE_FIELDS = ("fiscal_position", "payment_term_id", "supplier_payment_term_id", "language", "invoice_email",
                  "supplier_vat_on_debits")  # fmt: skip


@transaction.atomic
def partner_profile_update(*, actor: Actor, organization_id: int, **data: Any) -> PartnerProfile:
    require(actor, MANAGE)
    if not Organization.objects.filter(company_id=actor.company_id, pk=organization_id).exists():
        raise NotFound("organization_not_found")
    profile_id = partner_profile(actor.company_id or 0, organization_id).pk
    profile = PartnerProfile.objects.select_for_update().get(pk=profile_id)
    errors: dict[str, list[str]] = {}
    _unknown(errors, data, PROFILE_FIELDS)
    before = audit.snapshot(profile, list(PROFILE_FIELDS))
    if "fiscal_position" in data:
        profile.fiscal_position = _choice(errors, "fiscal_position", data["fiscal_position"],
                                          [p.value for p in vat.FiscalPosition], "france")  # fmt: skip
    for name in ("payment_term_id", "supplier_payment_term_id"):
        if name in data:
            term_id = _parse_id(errors, name, data[name], False)
            if term_id and not PaymentTerm.objects.filter(company_id=actor.company_id, pk=term_id).exists():
                _add(errors, name, _("Unknown payment term."))
            setattr(profile, name, term_id)
    if "language" in data:
        profile.language = _choice(errors, "language", data["language"], [c for c, _l in settings.LANGUAGES], "fr")
    if "invoice_email" in data:
        email = _required_text(errors, "invoice_email", data["invoice_email"], 254, False)
        if email:
            try:
                validate_email(email)
            except ValidationError:
                _add(errors, "invoice_email", _("Enter a valid email address."))
        profile.invoice_email = email
    if "supplier_vat_on_debits" in data:
        profile.supplier_vat_on_debits = _parse_bool(errors, "supplier_vat_on_debits", data["supplier_vat_on_debits"])
    if errors:
        raise ValidationFailed(fields=errors)
    profile.save()
    audit.record(actor, "partner_profile.update", profile,
                 changes=audit.diff(before, audit.snapshot(profile, list(PROFILE_FIELDS))))  # fmt: skip
    return profile


# --- Drafts ---------------------------------------------------------------------------


@dataclass
class _Computed:
    """One invoice's computation: per line, the VAT decision; the EN 16931 totals."""

    decisions: list[vat.TaxDecision]
    totals: Totals
    document_lines: list[en.InvoiceLine]
    operation_category: str


def _side(kind: str) -> vat.Side:
    return vat.Side.SALE if kind in CUSTOMER_KINDS else vat.Side.PURCHASE


def partner_address(organization_id: int, kind: str) -> dict[str, str]:
    """The organization's billing or delivery address as documents print it: the default one, else the oldest."""
    return _addresses(organization_id, (kind,))[kind]


# Both kinds an invoice prints (billing, delivery), whichever the caller asks for: one statement.
_PRINTED_ADDRESSES = Select(Address, ("kind", *ADDRESS_FIELDS), "{organization_id} = %s AND {kind} IN (%s, %s)",
                            order_by="{kind}, {is_default} DESC, {id}")  # fmt: skip


def _addresses(organization_id: int, kinds: Sequence[str]) -> dict[str, dict[str, str]]:
    """The organization's billing and/or delivery address (the default one first, then the oldest), in one query."""
    found: dict[str, dict[str, str]] = {kind: {} for kind in kinds}
    if not set(found) <= {Address.Kind.BILLING, Address.Kind.DELIVERY}:
        raise ValueError(f"an invoice prints billing and delivery addresses, not {sorted(found)}")
    for kind, *values in _PRINTED_ADDRESSES.rows(organization_id, Address.Kind.BILLING, Address.Kind.DELIVERY):
        if kind in found and not found[kind]:
            found[kind] = dict(zip(ADDRESS_FIELDS, values, strict=True))
    return found


class _ProfileTerms(NamedTuple):
    """What the partner's invoicing profile gives a new invoice."""

    fiscal_position: str
    language: str
    payment_term_id: int | None
    supplier_payment_term_id: int | None
    supplier_vat_on_debits: bool


class _InvoicePartner(NamedTuple):
    """An organization chosen for an invoice: what the invoice prints of it, its profile, the company's settings."""

    pk: int
    legal_name: str
    trade_name: str
    siren: str
    siret: str
    vat_number: str
    billing: dict[str, str]  # its billing address as ``_addresses`` picks it, {} when none
    delivery: dict[str, str]  # its delivery address, the same way
    profile: _ProfileTerms | None  # None: the organization has no profile row yet
    invoicing: InvoicingSettings | None  # None: the company has no settings row yet


_INVOICING_COLUMNS = ("id", "company_id", "vat_on_debits", "vat_franchise", "default_payment_term_id")


def _address_join(alias: str) -> str:
    """LEFT JOIN the partner's (``o``) address of a kind (a parameter) as ``_addresses`` picks it: the
    default one, else the oldest. Its columns: ``{alias}.id`` (NULL: none), then ``ADDRESS_FIELDS``."""
    table = Address._meta.db_table
    return (f"LEFT JOIN {table} {alias} ON {alias}.id = (SELECT x.id FROM {table} x "  # noqa: S608 (our table)
            "WHERE x.organization_id = o.id AND x.kind = %s ORDER BY x.is_default DESC, x.id LIMIT 1) ")  # fmt: skip


def _address_columns(alias: str) -> str:
    return ", ".join([f"{alias}.id", *(f"{alias}.{name}" for name in ADDRESS_FIELDS)])


def _address_from(values: Sequence[Any]) -> dict[str, str]:
    """An address read by ``_address_join`` (its id, then its fields) as ``_addresses`` gives it."""
    return dict(zip(ADDRESS_FIELDS, values[1:], strict=True)) if values[0] is not None else {}


def _invoice_partner(company_id: int, organization_id: int) -> _InvoicePartner | None:
    """The company's organization (not merged away) with its billing and delivery addresses, its invoicing
    profile and the company's invoicing settings, in one statement (plain SQL: joins); None when the
    company has no such organization."""
    organizations = Organization._meta.db_table
    profiles, settings_table = PartnerProfile._meta.db_table, InvoicingSettings._meta.db_table
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.id, o.legal_name, o.trade_name, o.siren, o.siret, o.vat_number, "  # noqa: S608 (our tables)
            f"{_address_columns('b')}, {_address_columns('d')}, "
            "p.id, p.fiscal_position, p.language, p.payment_term_id, p.supplier_payment_term_id, "
            "p.supplier_vat_on_debits, s.id, s.company_id, s.vat_on_debits, s.vat_franchise, s.default_payment_term_id "
            f"FROM {organizations} o {_address_join('b')}{_address_join('d')}"
            f"LEFT JOIN {profiles} p ON p.company_id = o.company_id AND p.organization_id = o.id "
            f"LEFT JOIN {settings_table} s ON s.company_id = o.company_id "
            "WHERE o.company_id = %s AND o.id = %s AND o.merged_into_id IS NULL",
            [Address.Kind.BILLING, Address.Kind.DELIVERY, company_id, organization_id],
        )
        found = cursor.fetchone()
    if found is None:
        return None
    row = list(found)
    pk, legal_name, trade_name, siren, siret, vat_number = _take(row, 6)
    address_width = 1 + len(ADDRESS_FIELDS)
    billing, delivery = _address_from(_take(row, address_width)), _address_from(_take(row, address_width))
    profile_id, *profile_values = _take(row, 6)
    profile = None
    if profile_id is not None:
        fiscal_position, language, term_id, supplier_term_id, supplier_vat_on_debits = profile_values
        profile = _ProfileTerms(fiscal_position, language, term_id, supplier_term_id, bool(supplier_vat_on_debits))
    invoicing = None
    if row[0] is not None:
        row[2:4] = [bool(row[2]), bool(row[3])]  # SQLite gives 0 or 1
        # Only these columns are loaded; any other is read on access, as with ``.only()``.
        invoicing = statements.instance(InvoicingSettings, list(_INVOICING_COLUMNS), row)
    return _InvoicePartner(pk, legal_name, trade_name, siren, siret, vat_number, billing, delivery, profile, invoicing)


def _take(row: list[Any], count: int) -> list[Any]:
    """The next ``count`` values of a joined row (removed from it)."""
    taken = row[:count]
    del row[:count]
    return taken


def _clean_address(errors: dict[str, list[str]], name: str, value: Any) -> dict[str, str]:
    if value in (None, "", {}):
        return {}
    if not isinstance(value, dict):
        _add(errors, name, _("Enter an address (line1, line2, postal_code, city, country)."))
        return {}
    _unknown(errors, value, ADDRESS_FIELDS, f"{name}.")
    cleaned = {
        "line1": _required_text(errors, f"{name}.line1", value.get("line1"), 200, True),
        "line2": _required_text(errors, f"{name}.line2", value.get("line2"), 200, False),
        "postal_code": _required_text(errors, f"{name}.postal_code", value.get("postal_code"), 20, False),
        "city": _required_text(errors, f"{name}.city", value.get("city"), 100, True),
        "country": _required_text(errors, f"{name}.country", value.get("country") or "FR", 2, True).upper(),
    }
    if cleaned["country"] and not re.match(r"^[A-Z]{2}$", cleaned["country"]):
        _add(errors, f"{name}.country", _("Enter a two-letter country code, e.g. FR."))
    return cleaned


def _snapshot_partner(invoice: Invoice, organization: Organization | _InvoicePartner,
                      billing: dict[str, str] | None = None) -> None:  # fmt: skip
    """Copy what the invoice prints about its partner; ``billing``: its billing address, when already read."""
    invoice.partner_name = (organization.legal_name or organization.trade_name)[:200]
    invoice.partner_siren = organization.siren
    invoice.partner_siret = organization.siret
    invoice.partner_vat_number = organization.vat_number
    invoice.billing_address = billing if billing is not None else partner_address(organization.pk, Address.Kind.BILLING)


class _LineProduct(NamedTuple):
    """What a product gives an invoice line on one side (sale or purchase): its price and unit."""

    pk: int
    is_archived: bool
    name_fr: str
    name_en: str
    description_fr: str
    kind: str
    vat_category: str
    price: Decimal | None  # never None: the column is NOT NULL
    unece_code: str


def _line_products(company_id: int, product_ids: set[int], sale: bool) -> dict[int, _LineProduct]:
    """The company's products of these ids with the side's price and unit code, in one statement (a join)."""
    price, uom = ("sale_price", "sale_uom_id") if sale else ("purchase_price", "purchase_uom_id")
    money = Product._meta.get_field(price)
    assert isinstance(money, ScaledIntegerField)
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.id, p.is_archived, p.name_fr, p.name_en, p.description_fr, p.kind, p.vat_category, "  # noqa: S608
            f"p.{price}, u.unece_code FROM {Product._meta.db_table} p JOIN {Uom._meta.db_table} u ON u.id = p.{uom} "
            f"WHERE p.company_id = %s AND p.id IN ({', '.join(['%s'] * len(product_ids))})",
            [company_id, *product_ids],
        )
        rows = cursor.fetchall()
    return {
        pk: _LineProduct(pk, bool(archived), name_fr, name_en, description, kind, category,
                         money.from_db_value(amount, None, connection), unece_code)
        for pk, archived, name_fr, name_en, description, kind, category, amount, unece_code in rows
    }  # fmt: skip


def _clean_lines(actor: Actor, kind: str, raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(raw, (list, tuple)):
        _add(errors, "lines", _("Enter the lines of the invoice."))
        return []
    if len(raw) > MAX_LINES:
        _add(errors, "lines", _("An invoice has at most %(n)s lines.") % {"n": MAX_LINES})
        return []
    product_ids = {p for p in (_parse_id({}, "", line.get("product_id"), False) for line in raw
                               if isinstance(line, dict)) if p}  # fmt: skip
    sale = kind in CUSTOMER_KINDS
    products = _line_products(actor.company_id or 0, product_ids, sale) if product_ids else {}
    account_ids = {a for a in (_parse_id({}, "", line.get("account_id"), False) for line in raw
                               if isinstance(line, dict)) if a}  # fmt: skip
    accounts = Account.objects.filter(company_id=actor.company_id, pk__in=account_ids).in_bulk() if account_ids else {}
    categories = [c.value for c in vat.VatCategory]
    cleaned: list[dict[str, Any]] = []
    for index, line in enumerate(raw):
        prefix = f"lines.{index}."
        if not isinstance(line, dict):
            _add(errors, f"lines.{index}", _("Enter a line."))
            continue
        _unknown(errors, line, LINE_FIELDS, prefix)
        product_id = _parse_id(errors, prefix + "product_id", line.get("product_id"), False)
        product = products.get(product_id) if product_id else None
        if product_id and (product is None or product.is_archived):
            _add(errors, prefix + "product_id", _("Unknown or archived product."))
            product = None
        defaults: dict[str, Any] = {}
        if product is not None:
            defaults = {
                "name": product.name_fr or product.name_en, "description": product.description_fr,
                "unit_price": str(product.price), "vat_category": product.vat_category,
                "uom_code": product.unece_code or "C62",
                "operation": LineOperation.SERVICES if product.kind == ProductKind.SERVICE else LineOperation.GOODS,
            }  # fmt: skip

        def given(name: str, line: dict[str, Any] = line, defaults: dict[str, Any] = defaults) -> Any:
            value = line.get(name)
            return defaults.get(name) if value in (None, "") else value

        account_id = _parse_id(errors, prefix + "account_id", line.get("account_id"), False)
        if account_id:
            account = accounts.get(account_id)
            wanted = ("7", "4191") if sale else ("6", "2")  # 4191: down payments on orders
            if account is None or not account.is_active:
                _add(errors, prefix + "account_id", _("Unknown or inactive account."))
            elif not account.code.startswith(wanted):
                _add(errors, prefix + "account_id",
                     _("Choose an income account (class 7).") if sale
                     else _("Choose an expense or fixed-asset account (class 6 or 2)."))  # fmt: skip
        uom_code = str(given("uom_code") or "C62").strip().upper()
        if not _UNIT_CODE.match(uom_code):
            _add(errors, prefix + "uom_code", _("Enter a UN/ECE unit code, e.g. C62, HUR, KGM."))
        quantity = _parse_decimal(errors, prefix + "quantity", given("quantity") or "1", places=3,
                                  minimum=-MAX_QUANTITY, maximum=MAX_QUANTITY)  # fmt: skip
        if quantity == 0:
            _add(errors, prefix + "quantity", _("Enter a quantity other than zero."))
        cleaned.append({
            "product_id": product.pk if product is not None else None,
            "name": _required_text(errors, prefix + "name", given("name"), 200, True),
            "description": _required_text(errors, prefix + "description", given("description"), 2000, False),
            "operation": _choice(errors, prefix + "operation", given("operation"), LineOperation.values,
                                 LineOperation.GOODS),
            "quantity": quantity or Decimal(1),
            "uom_code": uom_code,
            "unit_price": _parse_decimal(errors, prefix + "unit_price", given("unit_price"), places=4,
                                         minimum=ZERO, maximum=MAX_PRICE) or ZERO,
            "discount_percent": _parse_decimal(errors, prefix + "discount_percent", line.get("discount_percent"),
                                               places=2, default=ZERO, minimum=ZERO, maximum=HUNDRED) or ZERO,
            "vat_category": _choice(errors, prefix + "vat_category", given("vat_category"), categories, "standard"),
            "account_id": account_id,
        })  # fmt: skip
    return cleaned


def _compute(
    kind: str, fiscal_position: str, vat_on_debits: bool, franchise: bool, lines: Sequence[dict[str, Any]],
    errors: dict[str, list[str]],
) -> _Computed | None:  # fmt: skip
    """Decide each line's VAT and compute the EN 16931 totals; None (and errors) when impossible."""
    side = _side(kind)
    decisions: list[vat.TaxDecision] = []
    document_lines: list[en.InvoiceLine] = []
    for index, line in enumerate(lines):
        decision = vat.decide(
            vat.VatCategory(line["vat_category"]), vat.FiscalPosition(fiscal_position),
            vat.Operation(line["operation"]), side, vat_on_debits, franchise=franchise,
        )  # fmt: skip
        decisions.append(decision)
        document_lines.append(en.InvoiceLine(
            line_id=str(index + 1), name=line["name"] or "-", quantity=line["quantity"],
            net_unit_price=line["unit_price"], vat_category=en.VatCategory(decision.code.value),
            vat_rate=decision.rate, unit_code=line["uom_code"], description=line["description"],
            discount_percent=line["discount_percent"] or None,
            vat_exemption_reason=decision.mention or "", vat_exemption_code=decision.exemption_code or "",
        ))  # fmt: skip
    codes = {d.code for d in decisions}
    if vat.VatCode.OUTSIDE_SCOPE in codes and len(codes) > 1:
        _add(errors, "lines", _("Lines outside the scope of VAT cannot share an invoice with other lines."))
        return None
    try:
        totals = compute(document_lines)
    except ValueError:
        _add(errors, "lines", _("Lines exempt from VAT on different legal grounds must go on separate invoices."))
        return None
    operations = {line["operation"] for line in lines}
    if not operations:
        category = ""
    elif len(operations) == 2:
        category = OperationCategory.MIXED
    else:
        category = OperationCategory.GOODS if LineOperation.GOODS in operations else OperationCategory.SERVICES
    return _Computed(decisions, totals, document_lines, category)


def _reverse_charge_legs(computed: _Computed) -> dict[tuple[str, str | None, Decimal], Decimal]:
    """Self-assessed VAT of a purchase: per (collected, deductible account, rate), the tax on the summed base."""
    bases: dict[tuple[str, str | None, Decimal], Decimal] = defaultdict(Decimal)
    for decision, amounts in zip(computed.decisions, computed.totals.lines, strict=True):
        legs = decision.reverse_charge
        if legs is not None:
            bases[(legs.collected_account, legs.deductible_account, legs.rate)] += amounts.net
    return {key: quantize(base * key[2] / HUNDRED) for key, base in bases.items()}


_COMPARED_LINE_FIELDS = (*LINE_FIELDS, "sequence", "vat_code", "vat_rate", "net_amount")
_COMPARED_TAX_FIELDS = ("vat_code", "rate", "base", "amount", "exemption_reason", "exemption_code", "self_assessed")


_COMPARED_INSTALLMENT_FIELDS = ("sequence", "due_date", "amount")
# What a draft's last computation wrote, by part: the rows' model, the columns compared, the order within.
_STORED_PARTS: tuple[tuple[str, type[Any], tuple[str, ...], str], ...] = (
    ("lines", InvoiceLine, _COMPARED_LINE_FIELDS, "sequence"),
    ("taxes", InvoiceTax, _COMPARED_TAX_FIELDS, "0"),
    ("installments", InvoiceInstallment, _COMPARED_INSTALLMENT_FIELDS, "sequence"),
)
_STORED_SQL: dict[str, tuple[str, list[list[tuple[str, Any, list[Any]]]]]] = {}


def _stored_statement(connection: Any) -> tuple[str, list[list[tuple[str, Any, list[Any]]]]]:
    """The UNION ALL of the three parts, written once per database: each part tagged by its index, in
    its own columns (NULL in the others' columns), ordered as three reads would be; with each part's
    (name, column, the ORM's converters) to read its values as the ORM would."""
    compiled = _STORED_SQL.get(connection.vendor)
    if compiled is not None:
        return compiled
    quote = connection.ops.quote_name
    selects, readers = [], []
    for index, (_key, model, names, rank) in enumerate(_STORED_PARTS):
        # The others' columns as typed NULLs: PostgreSQL matches a UNION's types branch by branch.
        columns = [
            quote(str(field.column)) if other == index else f"CAST(NULL AS {field.db_type(connection)})"
            for other, (_k, other_model, other_names, _r) in enumerate(_STORED_PARTS)
            for field in (other_model._meta.get_field(name) for name in other_names)
        ]  # fmt: skip
        selects.append(f"SELECT {index}, {rank}, id, {', '.join(columns)} "  # noqa: S608 (names from the models)
                       f"FROM {quote(model._meta.db_table)} WHERE invoice_id = %s")  # fmt: skip
        part = []
        for name in names:
            column = model._meta.get_field(name).get_col(model._meta.db_table)
            part.append((name, column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)))
        readers.append(part)
    compiled = _STORED_SQL[connection.vendor] = (" UNION ALL ".join(selects) + " ORDER BY 1, 2, 3", readers)
    return compiled


def _stored_computation(invoice: Invoice) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The draft's lines (as ``_current_lines``) and what its last computation wrote (lines, taxes,
    installments), in one statement (``_stored_statement``)."""
    connection = transaction.get_connection()
    sql, readers = _stored_statement(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [invoice.pk] * len(_STORED_PARTS))
        fetched = cursor.fetchall()
    stored: dict[str, list[dict[str, Any]]] = {key: [] for key, _model, _names, _rank in _STORED_PARTS}
    offsets = [0]
    for _key, _model, names, _rank in _STORED_PARTS:
        offsets.append(offsets[-1] + len(names))
    for part, _rank, _pk, *values in fetched:
        row = {}
        for (name, column, converters), value in zip(readers[part], values[offsets[part]:offsets[part + 1]],
                                                     strict=True):  # fmt: skip
            for convert in converters:
                value = convert(value, column, connection)
            row[name] = value
        stored[_STORED_PARTS[part][0]].append(row)
    return [{name: row[name] for name in LINE_FIELDS} for row in stored["lines"]], stored


def _same_rows(rows: Sequence[dict[str, Any]], stored: list[dict[str, Any]]) -> bool:
    return len(rows) == len(stored) and all(
        all(row[name] == value for name, value in values.items()) for row, values in zip(rows, stored, strict=True)
    )


def _write_computation(invoice: Invoice, lines: Sequence[dict[str, Any]], computed: _Computed | None,
                       installments: Sequence[tuple[dt.date, Decimal]],
                       stored: dict[str, list[dict[str, Any]]] | None = None,
                       replace: bool = True) -> None:  # fmt: skip
    """Write the lines, VAT breakdown and due schedule; nothing when ``stored`` (the rows read) already says so.

    ``replace=False``: a new invoice, no rows to delete first. The rows are column values, not model
    instances: nothing reads them back as objects."""
    rows = []
    for index, line in enumerate(lines):
        decision = computed.decisions[index] if computed else None
        rows.append({
            "invoice_id": invoice.pk, "sequence": index + 1, **line,
            "vat_code": decision.code.value if decision else "", "vat_rate": decision.rate if decision else ZERO,
            "net_amount": computed.totals.lines[index].net if computed else ZERO,
        })  # fmt: skip
    taxes: list[dict[str, Any]] = []
    if computed is not None:
        self_assessed: dict[tuple[str, Decimal], Decimal] = defaultdict(Decimal)
        for decision, amounts in zip(computed.decisions, computed.totals.lines, strict=True):
            if decision.reverse_charge is not None:
                key = (decision.code.value, decision.rate.normalize())
                self_assessed[key] += amounts.net * decision.reverse_charge.rate / HUNDRED
        taxes = [
            {"invoice_id": invoice.pk, "vat_code": b.category.value, "rate": b.rate, "base": b.basis, "amount": b.tax,
             "exemption_reason": b.exemption_reason[:300], "exemption_code": b.exemption_code[:30],
             "self_assessed": quantize(self_assessed.get((b.category.value, b.rate.normalize()), ZERO))}
            for b in computed.totals.vat_breakdown
        ]  # fmt: skip
    schedule_rows = [
        {"invoice_id": invoice.pk, "sequence": i + 1, "due_date": due, "amount": amount}
        for i, (due, amount) in enumerate(installments if computed is not None else ())
    ]
    if (stored is not None and _same_rows(rows, stored["lines"]) and _same_rows(taxes, stored["taxes"])
            and _same_rows(schedule_rows, stored["installments"])):  # fmt: skip
        return  # posting a draft whose computation has not changed: no rewrite
    if replace:
        InvoiceLine.objects.filter(invoice=invoice).delete()
        InvoiceTax.objects.filter(invoice=invoice).delete()
        InvoiceInstallment.objects.filter(invoice=invoice).delete()
    _insert_new_rows(InvoiceLine, rows)
    _insert_new_rows(InvoiceTax, taxes)
    _insert_new_rows(InvoiceInstallment, schedule_rows)
    # The nets as written, by line sequence: what the caller (sales invoicing) would otherwise read back.
    vars(invoice)["line_nets"] = {row["sequence"]: row["net_amount"] for row in rows}


def _insert_new_rows(model: type[InvoiceLine | InvoiceTax | InvoiceInstallment], rows: list[dict[str, Any]]) -> None:
    """INSERT an invoice's new lines, taxes or installments (every column given, but the stamps) by
    ``statements.insert_rows``; their ids are not read back (nothing uses them). What ``bulk_create``
    stored: these models add nothing to save() and no signal listens."""
    if not rows:
        return
    columns = [field.attname for field in model._meta.concrete_fields if not field.primary_key]
    now = timezone.now()
    stamps = {"created_at": now, "updated_at": now}  # as their auto_now(_add) would stamp them
    insert_rows(model, columns, [[(stamps | row)[name] for name in columns] for row in rows])


class _Term(NamedTuple):
    """A payment term as an invoice uses it."""

    text: str  # what the invoice prints: the term's note, else its name
    lines: list[PaymentTermLine]  # in order: the due schedule


_TERM_LINE_COLUMNS = ("id", "term_id", "sequence", "kind", "percent", "days", "end_of_month")


def _payment_term(term_id: int) -> _Term | None:
    """The payment term's text and lines in one statement (the term left joined to its lines)."""
    connection = transaction.get_connection()
    columns = ", ".join(f"l.{name}" for name in _TERM_LINE_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.name, t.note, {columns} FROM {PaymentTerm._meta.db_table} t "  # noqa: S608 (our tables)
            f"LEFT JOIN {PaymentTermLine._meta.db_table} l ON l.term_id = t.id WHERE t.id = %s "
            "ORDER BY l.sequence, l.id",
            [term_id],
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    percent = PaymentTermLine._meta.get_field("percent")
    assert isinstance(percent, ScaledIntegerField)
    lines = []
    for _name, _note, pk, term, sequence, kind, scaled, days, end_of_month in rows:
        if pk is not None:  # a term without lines gives one row of NULLs
            values = [pk, term, sequence, kind, percent.from_db_value(scaled, None, connection), days,
                      bool(end_of_month)]  # fmt: skip
            lines.append(statements.instance(PaymentTermLine, list(_TERM_LINE_COLUMNS), values))
    name, note = rows[0][:2]
    return _Term(note or name, lines)


def _installments(invoice: Invoice, total: Decimal, term: _Term | None) -> list[tuple[dt.date, Decimal]]:
    """The due schedule of ``total``; ``term``: the invoice's payment term, read by the caller."""
    issue = invoice.issue_date or timezone.localdate()
    if invoice.kind in (InvoiceKind.CUSTOMER_CREDIT_NOTE, InvoiceKind.VENDOR_REFUND):
        return [(issue, total)] if total else []
    if invoice.payment_term_id:
        return schedule(term.lines if term else [], issue, total)
    return [(invoice.due_date or issue, total)] if total else []


def _apply(actor: Actor, invoice: Invoice, data: dict[str, Any], creating: bool) -> list[dict[str, Any]] | None:
    """Validate ``data`` onto ``invoice`` (unsaved changes) and return the cleaned lines when sent."""
    errors: dict[str, list[str]] = {}
    _unknown(errors, data, (*INVOICE_FIELDS, "lines"))
    organization = None
    if "organization_id" in data or creating:
        organization_id = _parse_id(errors, "organization_id", data.get("organization_id"), True)
        if organization_id:
            organization = _invoice_partner(actor.company_id or 0, organization_id)
            if organization is None:
                _add(errors, "organization_id", _("Unknown organization."))
            elif organization.pk != invoice.organization_id:
                invoice.organization_id = organization.pk
                _snapshot_partner(invoice, organization, organization.billing)
                profile = organization.profile
                if profile is None:  # first invoice of this partner: its profile is created with the defaults
                    created = partner_profile(actor.company_id or 0, organization.pk)
                    profile = _ProfileTerms(*(getattr(created, name) for name in _ProfileTerms._fields))
                invoice.fiscal_position = profile.fiscal_position
                invoice.language = profile.language
                if invoice.kind in CUSTOMER_KINDS:
                    invoicing = organization.invoicing or _invoicing_settings(actor.company_id or 0)
                    vars(invoice)["_invoicing"] = invoicing  # for the computation that follows (one read per call)
                    invoice.payment_term_id = profile.payment_term_id or invoicing.default_payment_term_id
                    invoice.vat_on_debits = invoicing.vat_on_debits
                else:
                    if organization.invoicing is not None:  # for the computation that follows
                        vars(invoice)["_invoicing"] = organization.invoicing
                    invoice.payment_term_id = profile.supplier_payment_term_id
                    invoice.vat_on_debits = profile.supplier_vat_on_debits
                if organization.delivery and not data.get("delivery_address"):
                    invoice.delivery_address = organization.delivery
    for name in ("issue_date", "delivery_date", "due_date"):
        if name in data:
            setattr(invoice, name, _parse_date(errors, name, data[name], required=False))
    if "payment_term_id" in data:
        term_id = _parse_id(errors, "payment_term_id", data["payment_term_id"], False)
        term_active = PaymentTerm.objects.filter(company_id=actor.company_id, pk=term_id).values_list(
            "is_active", flat=True).first() if term_id else None  # fmt: skip
        if term_id and term_active is None:
            _add(errors, "payment_term_id", _("Unknown payment term."))
        elif term_id and not term_active and term_id != invoice.payment_term_id:
            # Archived terms are kept for the invoices that have them, never chosen anew.
            _add(errors, "payment_term_id", _("This payment term is archived: choose another one."))
        invoice.payment_term_id = term_id
    if "fiscal_position" in data:
        invoice.fiscal_position = _choice(errors, "fiscal_position", data["fiscal_position"],
                                          [p.value for p in vat.FiscalPosition], invoice.fiscal_position)  # fmt: skip
    if "vat_on_debits" in data:
        invoice.vat_on_debits = _parse_bool(errors, "vat_on_debits", data["vat_on_debits"])
    if "language" in data:
        invoice.language = _choice(errors, "language", data["language"], [c for c, _l in settings.LANGUAGES],
                                   invoice.language)  # fmt: skip
    if "currency" in data:  # multi-currency: any ISO 4217 code, converted at posting (currency.py)
        invoice.currency = currency_services.parse_currency(errors, "currency", data["currency"] or "EUR")
    for name, size in (("purchase_order", 100), ("supplier_reference", 100), ("source_type", 100),
                       ("source_id", 64)):  # fmt: skip
        if name in data:
            setattr(invoice, name, _required_text(errors, name, data[name], size, False))
    if "note" in data:
        invoice.note = _required_text(errors, "note", data["note"], 2000, False)
    if "site_id" in data:  # an active site of the company; empty: the company as a whole
        invoice.site_id = clean_site_id(errors, "site_id", data["site_id"], actor.company_id or 0,
                                        current=invoice.site_id)  # fmt: skip
    elif creating and invoice.site_id is None:
        invoice.site_id = default_site_id(actor.company_id or 0)
    if "delivery_address" in data:
        invoice.delivery_address = _clean_address(errors, "delivery_address", data["delivery_address"])
    lines = _clean_lines(actor, invoice.kind, data.get("lines"), errors) if "lines" in data or creating else None
    if invoice.issue_date and invoice.due_date and invoice.due_date < invoice.issue_date:
        _add(errors, "due_date", _("The due date cannot be before the issue date."))
    if errors:
        raise ValidationFailed(fields=errors)
    return lines


_CURRENT_LINES = Select(InvoiceLine, LINE_FIELDS, "{invoice_id} = %s", order_by="{sequence}, {id}")


def _current_lines(invoice: Invoice) -> list[dict[str, Any]]:
    return [dict(zip(LINE_FIELDS, row, strict=True)) for row in _CURRENT_LINES.rows(invoice.pk)]


def _recompute(invoice: Invoice, lines: list[dict[str, Any]], *, strict: bool) -> _Computed | None:
    return _recompute_full(invoice, lines, strict=strict)[0]


def _recompute_full(invoice: Invoice, lines: list[dict[str, Any]], *, strict: bool,
                    invoicing: InvoicingSettings | None = None, stored: dict[str, list[dict[str, Any]]] | None = None,
                    save: bool = True) -> tuple[_Computed | None, list[tuple[dt.date, Decimal]]]:  # fmt: skip
    """Compute and write the draft; ``stored`` (the rows read) skips an unchanged rewrite, ``save`` the row."""
    # The settings ``_apply`` read in this call, if it did.
    invoicing = invoicing or vars(invoice).pop("_invoicing", None) or _invoicing_settings(invoice.company_id)
    errors: dict[str, list[str]] = {}
    computed = _compute(invoice.kind, invoice.fiscal_position, invoice.vat_on_debits,
                        invoicing.vat_franchise and invoice.kind in CUSTOMER_KINDS, lines, errors)  # fmt: skip
    if errors and strict:
        raise ValidationFailed(fields=errors)
    totals = computed.totals if computed else None
    invoice.untaxed_amount = totals.tax_basis_total if totals else ZERO  # type: ignore[assignment]
    invoice.tax_amount = totals.tax_total if totals else ZERO  # type: ignore[assignment]
    invoice.total_amount = totals.grand_total if totals else ZERO  # type: ignore[assignment]
    invoice.residual_amount = invoice.total_amount
    invoice.operation_category = computed.operation_category if computed else ""
    term = _payment_term(invoice.payment_term_id) if invoice.payment_term_id else None
    installments = _installments(invoice, Decimal(invoice.total_amount), term)
    invoice.due_date = installments[-1][0] if installments else invoice.due_date
    invoice.payment_terms_text = (term.text if term else "")[:300]
    new = invoice.pk is None  # a new invoice has no rows to replace
    if save and new:
        _insert_invoice(invoice)
    elif save:
        invoice.save()
    _write_computation(invoice, lines, computed, installments, stored, replace=not new)
    return computed, installments


def _insert_invoice(invoice: Invoice) -> None:
    """Insert a new invoice as ``save()`` would (defaults and stamps through each field's ``pre_save``),
    with SQL compiled once (``audit.insert_row``): the model adds nothing to save(), no signal listens."""
    audit.insert_instance(invoice)


@transaction.atomic
def invoice_create(
    *, actor: Actor, kind: Any, lines: Any = (), inherited: dict[str, int | None] | None = None, **data: Any
) -> Invoice:
    """A draft invoice, credit note, bill or refund, computed; errors per field and per line.

    ``inherited``: the site and payment term of the source document (an order) the invoice is
    made from: kept even if closed or archived since they were chosen there (still checked to
    belong to the company)."""
    require(actor, MANAGE)
    if kind not in InvoiceKind.values:
        raise ValidationFailed(fields={"kind": [str(_("Choose among: %(values)s.")
                                                    % {"values": ", ".join(InvoiceKind.values)})]})  # fmt: skip
    invoice = Invoice(company_id=actor.company_id, kind=kind, created_by_id=actor.user_id)  # type: ignore[misc]
    for name in ("site_id", "payment_term_id"):
        if inherited and name in inherited:
            setattr(invoice, name, inherited[name])
    clean_lines = _apply(actor, invoice, {**data, "lines": list(lines) if isinstance(lines, (list, tuple)) else lines},
                         creating=True) or []  # fmt: skip
    _recompute(invoice, clean_lines, strict=True)
    audit.record(actor, "invoice.create", invoice, changes={
        "kind": [None, kind], "organization_id": [None, invoice.organization_id],
        "total": [None, invoice.total_amount]})  # fmt: skip
    return invoice


_INVOICE_FIELDS_ALL = tuple(f.attname for f in Invoice._meta.concrete_fields)
# The company's invoice, locked (FOR NO KEY UPDATE on PostgreSQL): every change and the posting start here.
_LOCKED_INVOICE = Select(Invoice, _INVOICE_FIELDS_ALL, "{company_id} = %s AND {id} = %s", lock=True)


def _locked(actor: Actor, invoice_id: int) -> Invoice:
    invoice: Invoice | None = _LOCKED_INVOICE.instance(actor.company_id, invoice_id)
    if invoice is None:
        raise NotFound("invoice_not_found")
    return invoice


def _refuse_posted(invoice: Invoice) -> None:
    if invoice.state != InvoiceState.DRAFT:
        raise Conflict("invoice_posted", _("A posted invoice cannot be changed; issue a credit note instead."))


@transaction.atomic
def invoice_update(*, actor: Actor, invoice_id: int, **data: Any) -> Invoice:
    """Change a draft: the fields sent, and all its lines when ``lines`` is sent."""
    require(actor, MANAGE)
    invoice = _locked(actor, invoice_id)
    _refuse_posted(invoice)
    before = audit.snapshot(invoice, ["organization_id", "issue_date", "total_amount", "site_id"])
    lines = _apply(actor, invoice, data, creating=False)
    _recompute(invoice, lines if lines is not None else _current_lines(invoice), strict=True)
    audit.record(actor, "invoice.update", invoice,
                 changes=audit.diff(before, audit.snapshot(invoice, list(before))))  # fmt: skip
    return invoice


@transaction.atomic
def invoice_delete(*, actor: Actor, invoice_id: int) -> None:
    """Delete a draft (it has no number yet, so nothing legal disappears)."""
    require(actor, MANAGE)
    invoice = _locked(actor, invoice_id)
    _refuse_posted(invoice)
    audit.record(actor, "invoice.delete", invoice, changes={"total": [invoice.total_amount, None]})
    # Announced before the row goes: a document it came from (a sales order) counts it no more.
    _publish_draft_gone("accounting.invoice_deleted", invoice)
    InvoiceFile.objects.filter(invoice=invoice).delete()
    invoice.delete()


@transaction.atomic
def invoice_cancel(*, actor: Actor, invoice_id: int) -> Invoice:
    """Cancel a draft but keep it (an imported bill that was refused, for example)."""
    require(actor, MANAGE)
    invoice = _locked(actor, invoice_id)
    _refuse_posted(invoice)
    invoice.state = InvoiceState.CANCELLED
    invoice.save(update_fields=["state", "updated_at"])
    audit.record(actor, "invoice.cancel", invoice, changes={"state": [InvoiceState.DRAFT, InvoiceState.CANCELLED]})
    _publish_draft_gone("accounting.invoice_cancelled", invoice)
    return invoice


def _publish_draft_gone(name: str, invoice: Invoice) -> None:
    events.publish(name, company_id=invoice.company_id, payload={
        "invoice_id": invoice.pk, "kind": invoice.kind, "organization_id": invoice.organization_id,
        "source_type": invoice.source_type, "source_id": invoice.source_id,
    })  # fmt: skip


# --- Posting --------------------------------------------------------------------------


def _mention_errors(invoice: Invoice, company: Company, computed: _Computed, franchise: bool) -> dict[str, list[str]]:
    """What French law (and EN 16931) asks an invoice to say, and is missing."""
    errors: dict[str, list[str]] = {}
    if not computed.document_lines:
        _add(errors, "lines", _("An invoice has at least one line."))
    if invoice.total_amount <= 0:
        _add(errors, "lines", _("The total must be positive; correct an invoice with a credit note."))
    address = invoice.billing_address or {}
    if not invoice.partner_name:
        _add(errors, "organization_id", _("The partner has no name."))
    if invoice.kind in VENDOR_KINDS:
        if not invoice.supplier_reference:
            _add(errors, "supplier_reference", _("Enter the supplier's invoice number."))
        if invoice.issue_date is None:
            _add(errors, "issue_date", _("Enter the date of the supplier's invoice."))
        return errors
    if not (company.siren and _SIREN.match(company.siren)):
        _add(errors, "company", _("The company's SIREN is missing (company settings)."))
    if not franchise and not company.vat_number:
        _add(errors, "company", _("The company's VAT number is missing (company settings)."))
    if not (company.address_line1 and company.city and company.country):
        _add(errors, "company", _("The company's address is incomplete (company settings)."))
    if not (address.get("line1") and address.get("city") and address.get("country")):
        _add(errors, "organization_id", _("The customer has no billing address: add one to the organization."))
    french_business = invoice.fiscal_position in (vat.FiscalPosition.FRANCE, vat.FiscalPosition.FRANCE_REVERSE_CHARGE)
    if french_business and address.get("country", "FR") == "FR" and not _SIREN.match(invoice.partner_siren or ""):
        _add(errors, "organization_id", _("A French business customer's SIREN is mandatory on invoices."))
    if invoice.partner_siret and not invoice.partner_siret.startswith(invoice.partner_siren or "-"):
        _add(errors, "organization_id", _("The customer's SIRET does not start with its SIREN."))
    if invoice.partner_vat_number and not re.match(r"^[A-Z]{2}", invoice.partner_vat_number):
        _add(errors, "organization_id", _("The customer's VAT number must start with its country code."))
    if any(d.buyer_vat_id_required for d in computed.decisions) and not invoice.partner_vat_number:
        _add(errors, "organization_id",
             _("This operation is exempt or reverse-charged: the customer's VAT number is mandatory."))  # fmt: skip
    if not computed.operation_category:
        _add(errors, "lines", _("The category of operation (goods, services) is missing."))
    if invoice.delivery_address and not (
        invoice.delivery_address.get("line1") and invoice.delivery_address.get("city")
    ):
        _add(errors, "delivery_address", _("The delivery address is incomplete."))
    if invoice.kind == InvoiceKind.CUSTOMER_CREDIT_NOTE and invoice.origin_id is None:
        _add(errors, "origin", _("A credit note cites the invoice it corrects."))
    return errors


def _credit_errors(invoice: Invoice) -> dict[str, list[str]]:
    """A credit note (or refund) cannot credit more than what is left of its invoice."""
    if invoice.origin_id is None:
        return {}
    origin = Invoice.objects.select_for_update().get(pk=invoice.origin_id)
    errors: dict[str, list[str]] = {}
    if origin.state not in OPEN_STATES:
        _add(errors, "origin", _("Only a posted invoice is credited."))
        return errors
    if origin.organization_id != invoice.organization_id:
        _add(errors, "organization_id", _("A credit note is for the customer of the invoice it corrects."))
    credited = (
        Invoice.objects.filter(origin_id=origin.pk, state__in=OPEN_STATES).exclude(pk=invoice.pk)
        .aggregate(total=Sum("total_amount"))["total"]
    )  # fmt: skip
    credited_amount = Decimal(int(credited or 0)).scaleb(-2)
    if credited_amount + invoice.total_amount > origin.total_amount:
        _add(errors, "lines", _("This credit note would credit more than the invoice: %(left)s is left to credit.")
             % {"left": origin.total_amount - credited_amount})  # fmt: skip
    return errors


def entry_lines(invoice: Invoice, lines: Sequence[dict[str, Any]], computed: _Computed,
                installments: Sequence[tuple[dt.date, Decimal]], partner: PartnerAccount,
                accounts: dict[str, int]) -> list[dict[str, Any]]:  # fmt: skip
    """The journal lines of an invoice, balanced to the cent.

    Signed amounts (debit positive) are gathered per account, then written as debits or
    credits. A customer invoice debits the customer (one line per due date) and credits
    income per account and VAT per rate; a bill is the mirror; a credit note or refund
    swaps every side. Reverse-charged purchases book the self-assessed VAT on both legs.
    """
    sign = -1 if invoice.kind in (InvoiceKind.CUSTOMER_INVOICE, InvoiceKind.VENDOR_REFUND) else 1

    def account_id(code: str | None) -> int:
        if code is None or code not in accounts:
            raise Conflict("account_missing", _("Account %(code)s is missing from the chart.") % {"code": code})
        return accounts[code]

    label = f"{invoice.number} {invoice.partner_name}".strip()[:200]
    base: dict[int, Decimal] = defaultdict(Decimal)
    vat_bases: dict[tuple[str, Decimal], dict[int | None, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    first_base_account: dict[tuple[str, Decimal], int] = {}
    for line, decision, amounts in zip(lines, computed.decisions, computed.totals.lines, strict=True):
        target = line["account_id"] or account_id(decision.base_account)
        base[target] += amounts.net
        group = (decision.code.value, quantize(decision.rate))
        vat_account = accounts.get(decision.vat_account) if decision.vat_account else None
        if decision.vat_account and vat_account is None:
            account_id(decision.vat_account)
        vat_bases[group][vat_account] += amounts.net
        first_base_account.setdefault(group, target)
    signed: dict[int, Decimal] = defaultdict(Decimal)
    for target, amount in base.items():
        signed[target] += sign * amount
    for breakdown in computed.totals.vat_breakdown:
        if not breakdown.tax:
            continue
        group = (breakdown.category.value, breakdown.rate)
        parts = vat_bases[group]
        targets = list(parts)
        weights = [parts[t] for t in targets]
        if any(w < 0 for w in weights) or not any(weights):
            split = [breakdown.tax] + [ZERO] * (len(targets) - 1)
        else:
            split = allocate(breakdown.tax, weights)
        for target, amount in zip(targets, split, strict=True):
            # No VAT account: VAT that cannot be deducted (franchise) stays in the cost.
            signed[target if target is not None else first_base_account[group]] += sign * amount
    for (collected, deductible, _rate), amount in _reverse_charge_legs(computed).items():
        signed[account_id(collected)] -= amount
        if deductible is not None:
            signed[account_id(deductible)] += amount
        else:
            signed[next(iter(base))] += amount
    result = [
        {"account_id": target, "label": label, "debit": amount if amount > 0 else ZERO,
         "credit": -amount if amount < 0 else ZERO}
        for target, amount in signed.items() if amount
    ]  # fmt: skip
    partner_lines = [
        {"account_id": partner.account_id, "partner_account_id": partner.pk, "label": label, "due_date": due,
         "debit": amount if -sign * amount > 0 else ZERO, "credit": amount if -sign * amount < 0 else ZERO}
        for due, amount in installments if amount
    ]  # fmt: skip
    return partner_lines + result


def _entry_codes(lines: Sequence[dict[str, Any]], computed: _Computed) -> set[str]:
    """The account codes ``entry_lines`` may look up for this computation (and nothing else)."""
    codes: set[str] = set()
    for line, decision in zip(lines, computed.decisions, strict=True):
        if not line["account_id"] and decision.base_account:
            codes.add(decision.base_account)
        if decision.vat_account:
            codes.add(decision.vat_account)
        legs = decision.reverse_charge
        if legs is not None:
            codes.add(legs.collected_account)
            if legs.deductible_account:
                codes.add(legs.deductible_account)
    return codes


_TRACKED = tuple(f.attname for f in Invoice._meta.concrete_fields if not f.primary_key and f.attname != "updated_at")


def _values(invoice: Invoice) -> dict[str, Any]:
    return {name: getattr(invoice, name) for name in _TRACKED}


def _share_organization(organization_id: int) -> None:
    """Hold a key-share lock on the partner's row before taking the invoice counter.

    Once the invoice row was updated in this transaction, PostgreSQL re-checks its foreign
    keys on the next update and takes this lock then, after the counter. A first posting
    for a partner (``partner_account_ensure``) locks the row FOR UPDATE before the counter:
    taking the share lock here keeps one order for everyone (partner row, then counters)
    instead of a deadlock between the two. SQLite serialises writers anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = Organization._meta.db_table
            cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR KEY SHARE", [organization_id])  # noqa: S608


# What posting and the Factur-X document read of the company: every column but the stamps (all text).
_COMPANY_COLUMNS = ("id", "name", "legal_name", "legal_form", "siren", "vat_number", "share_capital", "rcs",
                    "address_line1", "address_line2", "postal_code", "city", "country", "currency", "timezone",
                    "email", "phone", "website")  # fmt: skip
_POSTING_SETTINGS_COLUMNS = ("id", "company_id", "vat_on_debits", "vat_franchise", "late_payment_rate",
                             "early_payment_discount", "iban", "bic", "default_payment_term_id")  # fmt: skip
_JOURNAL_COLUMNS = ("id", "company_id", "code", "name", "kind", "default_account_id", "is_active")
_PARTNER_ACCOUNT_COLUMNS = ("id", "company_id", "organization_id", "kind", "code", "account_id")


@dataclass
class _PostingContext:
    """What posting reads besides the invoice, in one statement (``_posting_context``)."""

    company: Company
    partner: _InvoicePartner  # with its billing address; its delivery address, profile and settings not read
    invoicing: InvoicingSettings | None  # None: the company has no settings row yet
    partner_account: PartnerAccount | None  # None: the partner's first posting on this side
    journal: Journal | None  # None: no active journal of the side


def _posting_context(company_id: int, organization_id: int, partner_kind: str, journal_kind: str) -> _PostingContext:
    """The company, the invoice's partner with its billing address, the invoicing settings, the partner's
    account of the invoice's side and the side's journal: one statement (plain SQL: joins) for six reads.

    The journal is the first active one of its kind by code (the journals' ordering)."""
    connection = transaction.get_connection()
    journals = Journal._meta.db_table
    columns = ", ".join([
        *(f"c.{name}" for name in _COMPANY_COLUMNS),
        "o.id, o.legal_name, o.trade_name, o.siren, o.siret, o.vat_number", _address_columns("b"),
        *(f"s.{name}" for name in _POSTING_SETTINGS_COLUMNS),
        *(f"pa.{name}" for name in _PARTNER_ACCOUNT_COLUMNS),
        *(f"j.{name}" for name in _JOURNAL_COLUMNS),
    ])  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {Company._meta.db_table} c "  # noqa: S608 (our tables and columns)
            f"JOIN {Organization._meta.db_table} o ON o.id = %s {_address_join('b')}"
            f"LEFT JOIN {InvoicingSettings._meta.db_table} s ON s.company_id = c.id "
            f"LEFT JOIN {PartnerAccount._meta.db_table} pa ON pa.organization_id = o.id AND pa.kind = %s "
            f"LEFT JOIN {journals} j ON j.id = (SELECT j2.id FROM {journals} j2 WHERE j2.company_id = c.id "
            "AND j2.kind = %s AND j2.is_active = %s ORDER BY j2.code, j2.id LIMIT 1) "
            "WHERE c.id = %s",
            [organization_id, Address.Kind.BILLING, partner_kind, journal_kind, True, company_id],
        )
        row = list(cursor.fetchone())
    # Only the columns read are loaded on these instances; any other is read on access, as with ``.only()``.
    company = statements.instance(Company, list(_COMPANY_COLUMNS), _take(row, len(_COMPANY_COLUMNS)))
    pk, legal_name, trade_name, siren, siret, vat_number = _take(row, 6)
    billing = _address_from(_take(row, 1 + len(ADDRESS_FIELDS)))
    partner = _InvoicePartner(pk, legal_name, trade_name, siren, siret, vat_number, billing, delivery={},
                              profile=None, invoicing=None)  # fmt: skip
    settings_values = _take(row, len(_POSTING_SETTINGS_COLUMNS))
    invoicing = None
    if settings_values[0] is not None:
        settings_values[2:4] = [bool(settings_values[2]), bool(settings_values[3])]  # SQLite gives 0 or 1
        late_rate = InvoicingSettings._meta.get_field("late_payment_rate")
        assert isinstance(late_rate, ScaledIntegerField)
        settings_values[4] = late_rate.from_db_value(settings_values[4], None, connection)
        invoicing = statements.instance(InvoicingSettings, list(_POSTING_SETTINGS_COLUMNS), settings_values)
    account_values = _take(row, len(_PARTNER_ACCOUNT_COLUMNS))
    partner_account = None
    if account_values[0] is not None:
        partner_account = statements.instance(PartnerAccount, list(_PARTNER_ACCOUNT_COLUMNS), account_values)
    journal = None
    if row[0] is not None:
        row[-1] = bool(row[-1])  # is_active: SQLite gives 0 or 1
        journal = statements.instance(Journal, list(_JOURNAL_COLUMNS), row)
    return _PostingContext(company, partner, invoicing, partner_account, journal)


def _pdf_deferred() -> bool:
    return bool(getattr(settings, "INVOICE_PDF_DEFERRED", False))


# Another invoice of the kind issued later than a date (the newest first): numbers follow the dates.
_LATER_ISSUED = Select(Invoice, ("number",), "{company_id} = %s AND {kind} = %s AND {state} IN (%s, %s, %s) "
                       "AND {issue_date} > %s", order_by="{issue_date} DESC, {id} DESC", limit=1)  # fmt: skip
# The posted invoice written on the columns posting changed: one statement per set of them, written once.
_POSTED_INVOICE: dict[tuple[str, ...], Update] = {}


@transaction.atomic
@periods_read_once()
def invoice_post(*, actor: Actor, invoice_id: int, render_pdf: bool | None = None) -> Invoice:
    """Issue the invoice: mandatory mentions, gapless number, posted journal entry, Factur-X PDF.

    ``render_pdf`` False leaves the PDF to a task after commit (default: the
    ``INVOICE_PDF_DEFERRED`` setting); the task is idempotent.
    """
    require(actor, MANAGE)
    invoice = _locked(actor, invoice_id)
    _refuse_posted(invoice)
    loaded = _values(invoice)
    assert actor.company_id is not None
    partner_kind = PartnerKind.CUSTOMER if invoice.kind in CUSTOMER_KINDS else PartnerKind.SUPPLIER
    journal_kind = JournalKind.SALE if invoice.kind in CUSTOMER_KINDS else JournalKind.PURCHASE
    # The company and partner (not locked: as before), settings, partner account and journal, read at once.
    context = _posting_context(invoice.company_id, invoice.organization_id, partner_kind, journal_kind)
    company = invoice.company = context.company
    invoicing = context.invoicing or _invoicing_settings(company.pk)
    today = timezone.localdate()
    errors: dict[str, list[str]] = {}
    if invoice.kind in CUSTOMER_KINDS:
        invoice.issue_date = invoice.issue_date or today
        if invoice.issue_date > today:
            _add(errors, "issue_date", _("An invoice is issued today or earlier, not in the future."))
    _snapshot_partner(invoice, context.partner, context.partner.billing)
    lines, stored = _stored_computation(invoice)
    # The row itself is saved once, posted, below (nothing reads it in between).
    computed, installments = _recompute_full(invoice, lines, strict=False, invoicing=invoicing, stored=stored,
                                             save=False)  # fmt: skip
    if computed is None:
        raise ValidationFailed("invoice_not_postable", _("This invoice cannot be posted."),
                               fields={"lines": [str(_("The VAT of these lines cannot be computed."))]})  # fmt: skip
    franchise = invoicing.vat_franchise and invoice.kind in CUSTOMER_KINDS
    for name, messages in (_mention_errors(invoice, company, computed, franchise) | _credit_errors(invoice)).items():
        for message in messages:
            _add(errors, name, message)
    if invoice.issue_date is not None:
        for message in _period_errors(company.pk, invoice.issue_date, for_posting=True):
            _add(errors, "issue_date", message)
    if errors:
        raise ValidationFailed("invoice_not_postable", _("This invoice cannot be posted."), fields=errors)
    assert invoice.issue_date is not None
    # Multi-currency: the rate of the issue date (a clear field error when there is none).
    foreign = invoice.currency != (company.currency or "EUR")  # as currency.company_currency, row read above
    rate = currency_services.rate_on(company.pk, invoice.currency, invoice.issue_date) if foreign else None
    partner = context.partner_account
    if partner is None:
        partner = partner_account_ensure(actor=actor, organization_id=invoice.organization_id, kind=partner_kind)
    _share_organization(invoice.organization_id)
    journal = context.journal
    if journal is None:
        raise Conflict("journal_missing", _("No active sales or purchases journal: create one in the journals."))
    # The accounts the entry is booked on, read once: by code for ``entry_lines``, by id for the entry's checks.
    known = ledger_rows(company.pk, account_ids={line["account_id"] for line in lines if line["account_id"]}
                        | {partner.account_id}, account_codes=_entry_codes(lines, computed))  # fmt: skip
    known.partners[partner.pk] = PartnerRow(partner.pk, partner.code, partner.account_id)
    known.journal = journal
    accounts = known.codes()
    # The number is taken last among the reads: its counter row stays locked until commit.
    sequence_kind, _prefix = SEQUENCES[invoice.kind]
    issued = next_number(company_id=company.pk, kind=sequence_kind, on_date=invoice.issue_date,
                         object_type="accounting.invoice", object_id=str(invoice.pk))  # fmt: skip
    invoice.number = issued.number
    # Chronology (no back-dating): now serialised on the counter row, the previous number's date is final.
    later = _LATER_ISSUED.one(company.pk, invoice.kind, *OPEN_STATES, invoice.issue_date)
    if later is not None:
        message = _("Invoice %(number)s is dated later: numbers follow the dates.") % {"number": later[0]}
        raise ValidationFailed("invoice_not_postable", _("This invoice cannot be posted."),
                               fields={"issue_date": [str(message)]})  # fmt: skip
    entry_data = entry_lines(invoice, lines, computed, installments, partner, accounts)
    if rate is not None:  # multi-currency: each line in EUR at the issue date's rate, keeping its amount
        entry_data = currency_services.convert_lines(entry_data, invoice.currency, rate)
    entry_data, stamps = currency_services.split_stamps(entry_data)
    label = (f"{invoice.number} {invoice.supplier_reference} {invoice.partner_name}" if invoice.kind in VENDOR_KINDS
             else f"{invoice.number} {invoice.partner_name}").strip()[:200]  # fmt: skip
    # The entry and every line carry the invoice's site (the lines name none of their own);
    # its lines are written once, posted, with their foreign amounts.
    entry = create_posted_entry(actor, journal_id=journal.pk, date=invoice.issue_date, label=label,
                                ref=invoice.number, lines=entry_data, stamps=stamps, source_type=SOURCE_TYPE,
                                source_id=str(invoice.pk), site_id=invoice.site_id, known=known)  # fmt: skip
    now = timezone.now()
    invoice.state = InvoiceState.POSTED
    invoice.partner_account = partner
    invoice.journal_entry = entry
    invoice.posted_at = now
    invoice.posted_by_id = actor.user_id
    invoice.residual_amount = invoice.total_amount
    # The columns posting changed, not all of them; the installments were written (or found
    # unchanged) by the computation above.
    changed = tuple(name for name, value in _values(invoice).items() if value != loaded[name])
    invoice.updated_at = now
    update = _POSTED_INVOICE.get(changed)
    if update is None:
        update = _POSTED_INVOICE[changed] = Update(Invoice, (*changed, "updated_at"), "{id} = %s")
    update.run([*(getattr(invoice, name) for name in changed), now], invoice.pk)
    if invoice.kind in CUSTOMER_KINDS:
        deferred = _pdf_deferred() if render_pdf is None else not render_pdf
        if deferred:
            invoice_id_ = invoice.pk
            transaction.on_commit(lambda: _enqueue_pdf(invoice_id_))
        else:
            _store_pdf(invoice, company, invoicing)
    audit.record(actor, "invoice.post", invoice, changes={"number": [None, invoice.number],
                 "total": [None, invoice.total_amount], "entry": [None, entry.number]})  # fmt: skip
    events.publish("accounting.invoice_posted", company_id=company.pk, payload={
        "invoice_id": invoice.pk, "kind": invoice.kind, "number": invoice.number,
        "organization_id": invoice.organization_id, "total": str(invoice.total_amount),
        "issue_date": invoice.issue_date.isoformat(), "entry_id": entry.pk,
        "source_type": invoice.source_type, "source_id": invoice.source_id,
    })  # fmt: skip
    return invoice


# --- Factur-X -------------------------------------------------------------------------


def _postal(address: dict[str, str]) -> en.PostalAddress:
    return en.PostalAddress(
        country_code=(address.get("country") or "FR").upper(), line1=address.get("line1", ""),
        line2=address.get("line2", ""), postcode=address.get("postal_code", ""), city=address.get("city", ""),
    )  # fmt: skip


def _share_capital(text: str) -> Decimal | None:
    digits = re.sub(r"[^\d,.]", "", text or "").replace(",", ".")
    try:
        return quantize(Decimal(digits)) if digits else None
    except (InvalidOperation, ValueError):
        return None


def invoice_document(invoice: Invoice, company: Company | None = None,
                     invoicing: InvoicingSettings | None = None) -> en.InvoiceDocument:  # fmt: skip
    """The posted customer invoice or credit note as EN 16931 sees it."""
    company = company or Company.objects.get(pk=invoice.company_id)
    invoicing = invoicing or _invoicing_settings(invoice.company_id)
    lines = _current_lines(invoice)
    computed = _compute(invoice.kind, invoice.fiscal_position, invoice.vat_on_debits,
                        invoicing.vat_franchise, lines, {})  # fmt: skip
    if computed is None:
        raise Conflict("invoice_uncomputable", _("The VAT of these lines cannot be computed."))
    seller = en.Party(
        name=company.legal_name or company.name,
        address=_postal({"line1": company.address_line1, "line2": company.address_line2,
                         "postal_code": company.postal_code, "city": company.city, "country": company.country}),
        siren=company.siren, vat_number=company.vat_number, trading_name=company.name, email=company.email,
        phone=company.phone, legal_form=company.legal_form, share_capital=_share_capital(company.share_capital),
        rcs_city=re.sub(r"(?i)\bRCS\b|\d", "", company.rcs or "").strip(),
    )  # fmt: skip
    buyer = en.Party(
        name=invoice.partner_name, address=_postal(invoice.billing_address or {}), siren=invoice.partner_siren,
        siret=invoice.partner_siret if invoice.partner_siret.startswith(invoice.partner_siren or "-") else "",
        vat_number=invoice.partner_vat_number,
    )  # fmt: skip
    installments = list(
        InvoiceInstallment.objects.filter(invoice=invoice).order_by("sequence").values_list("due_date", "amount")
    )
    preceding: tuple[en.PrecedingInvoice, ...] = ()
    if invoice.origin_id:
        origin = Invoice.objects.filter(pk=invoice.origin_id).values("number", "issue_date").get()
        preceding = (en.PrecedingInvoice(origin["number"], origin["issue_date"]),)
    assert invoice.issue_date is not None
    services = invoice.operation_category in (OperationCategory.SERVICES, OperationCategory.MIXED)
    return en.InvoiceDocument(
        number=invoice.number, issue_date=invoice.issue_date, seller=seller, buyer=buyer,
        lines=tuple(computed.document_lines),
        type_code=en.InvoiceTypeCode.CREDIT_NOTE if invoice.is_refund else en.InvoiceTypeCode.INVOICE,
        currency=invoice.currency,
        operation_category=en.OperationCategory(invoice.operation_category) if invoice.operation_category else None,
        delivery_date=invoice.delivery_date,
        due_date=installments[0][0] if len(installments) == 1 else None,
        payment_terms=invoice.payment_terms_text,
        installments=tuple(en.Installment(d, a) for d, a in installments) if len(installments) > 1 else (),
        preceding_invoices=preceding, purchase_order=invoice.purchase_order,
        delivery_address=_postal(invoice.delivery_address) if invoice.delivery_address else None,
        vat_on_debits=invoice.vat_on_debits and services,
        late_payment_rate=None if invoicing.late_payment_rate is None else Decimal(invoicing.late_payment_rate),
        early_payment_discount=invoicing.early_payment_discount,
        payment_means=(en.PaymentMeans(iban=invoicing.iban.replace(" ", "").upper(), bic=invoicing.bic),)
        if invoicing.iban else (),
        payment_reference=invoice.number,
        notes=(en.Note(invoice.note),) if invoice.note.strip() else (),
        **_accounting_currency_vat(invoice, company),
    )  # fmt: skip


def _accounting_currency_vat(invoice: Invoice, company: Company) -> dict[str, Any]:
    """Multi-currency: BT-6/BT-111, the VAT total in the accounting currency at the issue date's rate."""
    home = company.currency or "EUR"
    if invoice.currency == home or invoice.issue_date is None:
        return {}
    rate = currency_services.rate_on(company.pk, invoice.currency, invoice.issue_date)
    return {
        "accounting_currency": home,
        "vat_total_in_accounting_currency": currency_services.to_company(Decimal(invoice.tax_amount), rate),
    }


def _store_pdf(invoice: Invoice, company: Company | None = None, invoicing: InvoicingSettings | None = None) -> None:
    from comptoir.accounting.einvoice.pdf import facturx_pdf

    try:
        document = invoice_document(invoice, company, invoicing)
        data = facturx_pdf(document, invoice.language if invoice.language in ("fr", "en") else "fr")
    except ValueError as exc:
        # The data classes refuse what EN 16931 cannot carry: say which value, roll back the posting.
        raise ValidationFailed("invoice_not_postable", _("This invoice cannot be posted."),
                               fields={"lines": [str(_("Factur-X refused a value: %(detail)s") % {
                                   "detail": str(exc)[:200]})]}) from exc  # fmt: skip
    InvoiceFile.objects.create(
        invoice=invoice, role=InvoiceFileRole.ISSUED, filename=f"{invoice.number.replace('/', '-')}.pdf",
        content_type="application/pdf", data=data, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
    )  # fmt: skip


def _enqueue_pdf(invoice_id: int) -> None:
    from comptoir.accounting.tasks import render_invoice_pdf

    render_invoice_pdf.enqueue(invoice_id)


@transaction.atomic
def invoice_pdf_render(invoice_id: int) -> bool:
    """Render and store the Factur-X PDF of a posted customer invoice if it has none yet.

    Idempotent (a retried or duplicated task does nothing): the invoice row is locked and
    the file is written once. Returns True when it wrote the file.
    """
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    if invoice is None or invoice.state not in OPEN_STATES or invoice.kind not in CUSTOMER_KINDS:
        return False
    if InvoiceFile.objects.filter(invoice=invoice, role=InvoiceFileRole.ISSUED).exists():
        return False
    _store_pdf(invoice)
    return True


def issued_pdf(invoice: Invoice) -> InvoiceFile:
    """The issued Factur-X file, rendered now if a deferred rendering has not run yet."""
    found = InvoiceFile.objects.filter(invoice=invoice, role=InvoiceFileRole.ISSUED).first()
    if found is None and invoice.kind in CUSTOMER_KINDS and invoice.state in OPEN_STATES:
        invoice_pdf_render(invoice.pk)
        found = InvoiceFile.objects.filter(invoice=invoice, role=InvoiceFileRole.ISSUED).first()
    if found is None:
        raise NotFound("invoice_pdf_not_found")
    return found


# --- Credit notes ---------------------------------------------------------------------


@transaction.atomic
def invoice_credit(*, actor: Actor, invoice_id: int, lines: Any = None) -> Invoice:
    """A draft credit note (or refund) citing a posted invoice (or bill).

    ``lines`` None credits every line; otherwise a list of ``{"line": <sequence>, "quantity": q}``
    credits those quantities (at the invoice's price, discount and VAT).
    """
    require(actor, MANAGE)
    origin = _locked(actor, invoice_id)
    if origin.state not in OPEN_STATES or origin.is_refund:
        raise Conflict("invoice_not_creditable", _("Only a posted invoice or bill is credited."))
    source = {line["sequence"]: line for line in InvoiceLine.objects.filter(invoice=origin).values(
        "sequence", "product_id", "name", "description", "operation", "quantity", "uom_code", "unit_price",
        "discount_percent", "vat_category", "account_id")}  # fmt: skip
    chosen: list[dict[str, Any]] = []
    if lines is None:
        chosen = [dict(line) for line in source.values()]
    else:
        errors: dict[str, list[str]] = {}
        if not isinstance(lines, (list, tuple)) or not lines:
            _add(errors, "lines", _("Choose the lines to credit."))
        else:
            for index, item in enumerate(lines):
                prefix = f"lines.{index}."
                if not isinstance(item, dict):
                    _add(errors, f"lines.{index}", _("Enter a line."))
                    continue
                _unknown(errors, item, ("line", "quantity"), prefix)
                number = _parse_id(errors, prefix + "line", item.get("line"), True)
                line = source.get(number) if number else None
                if number and line is None:
                    _add(errors, prefix + "line", _("The invoice has no such line."))
                    continue
                if line is None:
                    continue
                quantity = _parse_decimal(errors, prefix + "quantity", item.get("quantity"), places=3,
                                          default=line["quantity"], minimum=Decimal("0.001"),
                                          maximum=abs(line["quantity"]))  # fmt: skip
                chosen.append(dict(line) | {"quantity": quantity})
        if errors:
            raise ValidationFailed(fields=errors)
    for line in chosen:
        line.pop("sequence", None)
        line["quantity"] = str(line["quantity"])
        line["unit_price"] = str(line["unit_price"])
        line["discount_percent"] = str(line["discount_percent"])
    credit = Invoice(
        company_id=origin.company_id, kind=REFUND_OF[InvoiceKind(origin.kind)], organization_id=origin.organization_id,
        origin=origin, created_by_id=actor.user_id, fiscal_position=origin.fiscal_position,
        vat_on_debits=origin.vat_on_debits, language=origin.language, currency=origin.currency,
        partner_name=origin.partner_name, partner_siren=origin.partner_siren, partner_siret=origin.partner_siret,
        partner_vat_number=origin.partner_vat_number, billing_address=origin.billing_address,
        delivery_address=origin.delivery_address, delivery_date=origin.delivery_date,
        purchase_order=origin.purchase_order, site_id=origin.site_id,
    )  # fmt: skip
    clean_errors: dict[str, list[str]] = {}
    clean_lines = _clean_lines(actor, credit.kind, chosen, clean_errors)
    if clean_errors:
        raise ValidationFailed(fields=clean_errors)
    _recompute(credit, clean_lines, strict=True)
    audit.record(actor, "invoice.credit", origin, changes={"credit_note_id": [None, credit.pk]})
    return credit


# --- Sending --------------------------------------------------------------------------


@transaction.atomic
def invoice_send(*, actor: Actor, invoice_id: int, to: Any, subject: Any = "", message: Any = "") -> Invoice:
    """E-mail the Factur-X PDF; the sending is recorded on the invoice and in the audit trail."""
    require(actor, MANAGE)
    invoice = _locked(actor, invoice_id)
    if invoice.kind not in CUSTOMER_KINDS or invoice.state not in OPEN_STATES:
        raise Conflict("invoice_not_sendable", _("Only a posted customer invoice or credit note is sent."))
    errors: dict[str, list[str]] = {}
    raw = to if isinstance(to, (list, tuple)) else [part for part in re.split(r"[,;\s]+", str(to or "")) if part]
    recipients = [str(address).strip() for address in raw if str(address).strip()]
    if not recipients:
        _add(errors, "to", _("Enter at least one email address."))
    if len(recipients) > 10:
        _add(errors, "to", _("At most 10 recipients."))
    for address in recipients:
        try:
            validate_email(address)
        except ValidationError:
            _add(errors, "to", _("%(address)s is not a valid email address.") % {"address": address[:100]})
    clean_subject = _required_text(errors, "subject", subject, 200, False)
    body = _required_text(errors, "message", message, 5000, False)
    if errors:
        raise ValidationFailed(fields=errors)
    pdf = issued_pdf(invoice)
    company_name = Company.objects.filter(pk=invoice.company_id).values_list("name", flat=True).first() or ""
    with translation.override(invoice.language):
        kind_label = str(InvoiceKind(invoice.kind).label)
        clean_subject = clean_subject or f"{kind_label} {invoice.number} — {company_name}"
        body = body or str(_("Please find attached %(kind)s %(number)s (Factur-X).")
                           % {"kind": kind_label.lower(), "number": invoice.number})  # fmt: skip
    email = EmailMessage(subject=clean_subject, body=body, to=recipients)
    email.attach(pdf.filename, bytes(pdf.data), "application/pdf")
    try:
        email.send()
    except OSError as exc:
        raise Conflict("send_failed", _("The email could not be sent: %(error)s") % {"error": str(exc)[:200]}) from exc
    invoice.sent_at = timezone.now()
    invoice.sent_to = ", ".join(recipients)[:254]
    invoice.save(update_fields=["sent_at", "sent_to", "updated_at"])
    audit.record(actor, "invoice.send", invoice, changes={"to": [None, invoice.sent_to],
                 "sha256": [None, pdf.sha256]})  # fmt: skip
    return invoice


# --- Vendor bills from e-invoices -----------------------------------------------------

_STANDARD_RATES = {Decimal(v): k for k, v in (("standard", "20"), ("intermediate", "10"), ("reduced", "5.5"),
                                              ("super_reduced", "2.1"))}  # fmt: skip


def _find_supplier(company_id: int, party: en.Party) -> Organization | None:
    rows = Organization.objects.filter(company_id=company_id, merged_into__isnull=True, is_archived=False)
    if party.siren:
        found = rows.filter(siren=party.siren).order_by("id").first()
        if found is not None:
            return found
    if party.vat_number:
        return rows.filter(vat_number=party.vat_number.replace(" ", "").upper()).order_by("id").first()
    return None


def _category(line: en.InvoiceLine, warnings: list[dict[str, str]]) -> str:
    if line.vat_category == en.VatCategory.STANDARD:
        found = _STANDARD_RATES.get(line.vat_rate.normalize()) or _STANDARD_RATES.get(line.vat_rate)
        if found is None:
            warnings.append({"code": "unknown_rate", "message": str(
                _("Line %(line)s: VAT rate %(rate)s %% is not a French mainland rate; 20 %% was used.")
                % {"line": line.line_id, "rate": line.vat_rate})})  # fmt: skip
            return "standard"
        return found
    if line.vat_category == en.VatCategory.EXEMPT:
        return vat.VatCategory.EXEMPT_CARE_EDUCATION.value
    if line.vat_category in (en.VatCategory.OUTSIDE_SCOPE, en.VatCategory.ZERO_RATED):
        return vat.VatCategory.OUT_OF_SCOPE.value
    # Reverse charge, intra-EU, export: the supplier's fiscal position decides; self-assessed at 20 %.
    return vat.VatCategory.STANDARD.value


@transaction.atomic
def vendor_bill_import(*, actor: Actor, data: bytes, filename: str = "", organization_id: Any = None) -> Invoice:
    """A draft vendor bill (or refund) from a received Factur-X PDF or CII XML.

    The supplier is found by SIREN, then VAT number; an unknown supplier is refused with
    a message (choose the organization with ``organization_id`` or create it first).
    Differences between the file and our computation are kept as warnings on the draft.
    A file that is not a valid e-invoice raises the parser's message; nothing is created.
    """
    require(actor, MANAGE)
    from comptoir.accounting.einvoice.parse import parse_einvoice

    parsed = parse_einvoice(data)
    document = parsed.document
    assert actor.company_id is not None
    if organization_id not in (None, ""):
        errors: dict[str, list[str]] = {}
        chosen = _parse_id(errors, "organization_id", organization_id, True)
        supplier = Organization.objects.filter(company_id=actor.company_id, pk=chosen or 0).first()
        if supplier is None:
            raise ValidationFailed(fields={"organization_id": [str(_("Unknown organization."))]})
    else:
        supplier = _find_supplier(actor.company_id, document.seller)
    if supplier is None:
        ids = ", ".join(filter(None, (document.seller.siren and f"SIREN {document.seller.siren}",
                                      document.seller.vat_number and f"TVA {document.seller.vat_number}")))  # fmt: skip
        raise ValidationFailed("unknown_supplier", _("Unknown supplier."), fields={"organization_id": [str(
            _("No organization matches the supplier %(name)s (%(ids)s): create it in contacts, or choose it.")
            % {"name": document.seller.name, "ids": ids or "—"})]})  # fmt: skip
    kind = InvoiceKind.VENDOR_REFUND if document.is_credit_note else InvoiceKind.VENDOR_BILL
    duplicate = (
        Invoice.objects.filter(company_id=actor.company_id, organization=supplier, kind=kind,
                               supplier_reference=document.number[:100])
        .exclude(state=InvoiceState.CANCELLED).values_list("pk", flat=True).first()
    )  # fmt: skip
    if duplicate is not None:
        raise Conflict("duplicate_bill", _("This supplier's invoice %(number)s was already recorded.")
                       % {"number": document.number[:100]})  # fmt: skip
    warnings: list[dict[str, str]] = [{"code": w.code, "message": w.message} for w in parsed.warnings]
    company = Company.objects.filter(pk=actor.company_id).values("siren", "vat_number").get()
    if document.buyer.siren and company["siren"] and document.buyer.siren != company["siren"]:
        warnings.append(
            {
                "code": "other_buyer",
                "message": str(
                    _("The buyer's SIREN on the invoice (%(siren)s) is not the company's.")
                    % {"siren": document.buyer.siren}
                ),
            }
        )
    if document.allowances_charges:
        warnings.append({"code": "document_allowances", "message": str(
            _("Document-level allowances or charges were not imported: add them as lines."))})  # fmt: skip
    lines = []
    operation = (LineOperation.SERVICES if document.operation_category == en.OperationCategory.SERVICES
                 else LineOperation.GOODS)  # fmt: skip
    for line in document.lines:
        price = line.net_unit_price
        if price != price.quantize(Decimal("0.0001")):
            price = price.quantize(Decimal("0.0001"))
        discount = line.discount_percent or ZERO
        if line.discount_amount:
            gross = quantize(line.quantity * line.net_unit_price)
            discount = quantize(line.discount_amount * HUNDRED / gross) if gross else ZERO
        lines.append({
            "name": line.name[:200], "description": line.description[:2000], "operation": operation,
            "quantity": str(line.quantity.quantize(Decimal("0.001"))), "uom_code": line.unit_code[:3].upper(),
            "unit_price": str(price), "discount_percent": str(min(discount, HUNDRED)),
            "vat_category": _category(line, warnings),
        })  # fmt: skip
    invoice = Invoice(company_id=actor.company_id, kind=kind, created_by_id=actor.user_id)
    clean = _apply(actor, invoice, {
        "organization_id": supplier.pk, "issue_date": document.issue_date, "delivery_date": document.delivery_date,
        "supplier_reference": document.number[:100], "purchase_order": document.purchase_order[:100],
        "lines": lines,
    }, creating=True) or []  # fmt: skip
    if document.effective_due_date and not invoice.payment_term_id:
        invoice.due_date = document.effective_due_date
    computed = _recompute(invoice, clean, strict=True)
    stated = parsed.stated
    if computed is not None and stated.grand_total is not None and stated.grand_total != invoice.total_amount:
        warnings.append({"code": "total_differs", "message": str(
            _("Total differs: the file says %(file)s, the recorded lines give %(ours)s.")
            % {"file": stated.grand_total, "ours": invoice.total_amount})})  # fmt: skip
    invoice.import_warnings = warnings
    invoice.save(update_fields=["import_warnings", "updated_at"])
    name = (filename or ("invoice.pdf" if parsed.source == "pdf" else "invoice.xml"))[:200]
    InvoiceFile.objects.create(
        invoice=invoice, role=InvoiceFileRole.RECEIVED, filename=name,
        content_type="application/pdf" if parsed.source == "pdf" else "application/xml",
        data=data, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
    )  # fmt: skip
    audit.record(actor, "invoice.import", invoice, changes={"supplier_reference": [None, invoice.supplier_reference],
                 "warnings": [None, len(warnings)]})  # fmt: skip
    return invoice


# --- Payments hook --------------------------------------------------------------------


_PAYMENT_STATE = Update(Invoice, ("residual_amount", "state", "updated_at"), "{id} = %s")


def set_residual(invoice: Invoice, residual: Decimal) -> None:
    """Move the payment state from the residual (called by the payments module, in its transaction)."""
    if invoice.state not in OPEN_STATES:
        raise Conflict("invoice_not_posted", _("Only a posted invoice is paid."))
    if residual < 0 or residual > invoice.total_amount:
        raise Conflict("residual_out_of_range", _("The amount due must stay between zero and the total."))
    invoice.residual_amount = residual  # type: ignore[assignment]
    if residual == 0:
        invoice.state = InvoiceState.PAID
    elif residual == invoice.total_amount:
        invoice.state = InvoiceState.POSTED
    else:
        invoice.state = InvoiceState.PARTIALLY_PAID
    _PAYMENT_STATE.run([residual, invoice.state, timezone.now()], invoice.pk)

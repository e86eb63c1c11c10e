"""The quote as a PDF (WeasyPrint), in the customer's language, from a version's snapshot.

``render_pdf(quote, version)`` prints what was frozen when the version was sent — header,
lines, totals, VAT per rate — with the French mentions a quote carries (COMPLIANCE-FR 2.2):
the word "quote" (devis), number, version, date and validity date, the seller's
identification as on invoices (name, address, legal form and share capital, RCS, SIREN and
SIRET, VAT number), the customer, detailed lines with unit prices excluding VAT and
discounts, VAT rate per line and amount per rate, totals excluding and including VAT,
payment terms and the late-payment mentions, "free of charge" and "received before the
work is carried out", and the customer's agreement block ("bon pour accord", date,
signature). Optional lines are marked as options and stay out of the totals unless chosen.

After an online acceptance, ``store_stamped_pdf`` renders the same version again with the
acceptance stamp (name, date, IP, version, options chosen) in place of the agreement block
and stores it on the version; the SHA-256 of the PDF first sent stays in the audit trail
(``quote.send``) and the stamping entry records both.

Rendering fetches nothing (stylesheet inline, system fonts, every URL refused), like the
invoice PDF.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from comptoir.accounting.einvoice.mentions import money
from comptoir.accounting.einvoice.pdf import refuse_url
from comptoir.kernel import audit
from comptoir.kernel.context import Actor
from comptoir.org.models import Company
from comptoir.sales.models_quotes import Quote, QuoteVersion

TEMPLATE = "sales/pdf/quote.html"
LANGUAGES = ("fr", "en")


def language_of(quote: Quote | None, snapshot: dict[str, Any] | None = None) -> str:
    header = (snapshot or {}).get("quote") or {}
    value = header.get("language") or (quote.language if quote is not None else "fr")
    return value if value in LANGUAGES else "fr"


def filename(number: str, version: int, *, accepted: bool = False) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", number or "quote").strip("-") or "quote"
    return f"{safe}-v{version}{'-accepted' if accepted else ''}.pdf"


# --- reading the snapshot -------------------------------------------------------------------


def _pick(data: Any, *names: str, default: Any = "") -> Any:
    if not isinstance(data, dict):
        return default
    for name in names:
        if name in data and data[name] not in (None, ""):
            return data[name]
    return default


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _day(value: Any) -> str:
    found = _date(value)
    return formats.date_format(found, "SHORT_DATE_FORMAT") if found else ""


def _number(value: Decimal) -> str:
    return formats.number_format(f"{value.normalize():f}", use_l10n=True, force_grouping=True)


def _percent(value: Decimal) -> str:
    return formats.number_format(f"{value.normalize():f}", use_l10n=True) + "\u00a0%"


def _price(value: Decimal) -> str:
    places = max(2, -int(value.normalize().as_tuple().exponent))  # type: ignore[operator]
    return formats.number_format(value, places, use_l10n=True, force_grouping=True)


def _address_lines(data: Any) -> list[str]:
    if isinstance(data, list):
        return [str(line) for line in data if line]
    if isinstance(data, str):
        return [line for line in data.splitlines() if line.strip()]
    if not isinstance(data, dict):
        return []
    lines = [_pick(data, "line1", "address_line1", "street"), _pick(data, "line2", "address_line2")]
    city = " ".join(part for part in (_pick(data, "postal_code", "postcode"), _pick(data, "city")) if part)
    lines.append(city)
    country = _pick(data, "country")
    if country and country.upper() != "FR":
        lines.append(country.upper())
    return [str(line) for line in lines if line]


def _vat_label(category: str, rate: Decimal | None) -> str:
    labels = {
        "Z": _("0 %"),
        "E": _("Exempt"),
        "AE": _("Reverse charge"),
        "K": _("Intra-EU, exempt"),
        "G": _("Export, exempt"),
        "O": _("Outside scope"),
    }
    if category in labels:
        return labels[category]
    return _percent(rate or Decimal(0))


def _seller(snapshot: dict[str, Any], company: Company) -> dict[str, Any]:
    """The seller's identification as frozen in the snapshot (the company's today for what it lacks)."""
    frozen = snapshot.get("seller") if isinstance(snapshot.get("seller"), dict) else {}
    source: dict[str, Any] = {
        "name": company.legal_name or company.name,
        "trade_name": company.name,
        "legal_form": company.legal_form,
        "share_capital": company.share_capital,
        "rcs": company.rcs,
        "siren": company.siren,
        "vat_number": company.vat_number,
        "email": company.email,
        "phone": company.phone,
        "address": {
            "line1": company.address_line1,
            "line2": company.address_line2,
            "postal_code": company.postal_code,
            "city": company.city,
            "country": company.country,
        },
    }
    source.update({key: value for key, value in frozen.items() if value not in (None, "")} if frozen else {})
    if not source.get("siret"):
        head_office = company.sites.filter(is_head_office=True, is_active=True).order_by("pk")
        source["siret"] = next(iter(head_office.values_list("siret", flat=True)), "") or ""
    legal: list[str] = []
    capital = _decimal(re.sub(r"[^\d,.]", "", str(source.get("share_capital") or "")).replace(",", "."))
    if source.get("legal_form") and capital is not None:
        form = source["legal_form"]
        legal.append(_("%(form)s with a share capital of %(capital)s") % {"form": form, "capital": money(capital)})
    elif source.get("legal_form"):
        legal.append(str(source["legal_form"]))
    rcs = str(source.get("rcs") or "").strip()
    if rcs:
        legal.append(rcs if rcs.upper().startswith("RCS") else f"RCS {rcs}")
    return {
        "name": source["name"],
        "trading_name": _pick(source, "trade_name", "trading_name"),
        "address_lines": _address_lines(source.get("address")),
        "email": source.get("email") or "",
        "phone": source.get("phone") or "",
        "siren": source.get("siren") or "",
        "siret": source.get("siret") or "",
        "vat_number": source.get("vat_number") or "",
        "legal_line": " · ".join(legal),
    }


def _buyer(snapshot: dict[str, Any]) -> dict[str, Any]:
    data = _pick(snapshot, "customer", default={})
    if not isinstance(data, dict):
        data = {"name": str(data)}
    contact = _pick(snapshot, "contact", default="")
    if isinstance(contact, dict):
        contact = _pick(contact, "name", default="")
    return {
        "name": _pick(data, "name", "trade_name", default=""),
        "address_lines": _address_lines(_pick(data, "billing_address", "address", default={})),
        "siren": _pick(data, "siren"),
        "vat_number": _pick(data, "vat_number"),
        "contact": contact or "",
    }


def _rows(snapshot: dict[str, Any], currency: str, chosen: set[int] | None) -> list[dict[str, Any]]:
    rows = []
    for index, line in enumerate(snapshot.get("lines") or []):
        kind = _pick(line, "kind", default="product")
        text = str(_pick(line, "description", default=""))
        name, _sep, details = text.partition("\n")
        row: dict[str, Any] = {
            "id": _pick(line, "id", default=index),
            "kind": {"section": "section", "text": "note"}.get(kind, "line"),
            "name": name,
            "description": details.strip(),
        }
        if row["kind"] == "line":
            quantity = _decimal(_pick(line, "quantity", default="0")) or Decimal(0)
            unit_price = _decimal(_pick(line, "unit_price", default="0")) or Decimal(0)
            discount = _decimal(_pick(line, "discount_percent", default="0")) or Decimal(0)
            rate = _decimal(_pick(line, "vat_rate", default="0"))
            net = _decimal(_pick(line, "net_amount", "net", default="0")) or Decimal(0)
            optional = bool(_pick(line, "optional", default=False))
            selected = bool(line.get("selected", True)) if isinstance(line, dict) else True
            row.update(
                quantity=_number(quantity),
                unit=_pick(line, "uom", default=""),
                unit_price=_price(unit_price),
                discount=_percent(discount) if discount else "",
                vat=_vat_label(str(_pick(line, "tax_category", default="S")), rate),
                net=money(net, currency),
                optional=optional,
                chosen=optional and (row["id"] in chosen if chosen is not None else selected),
            )
        rows.append(row)
    return rows


def _breakdown(snapshot: dict[str, Any], currency: str) -> list[dict[str, str]]:
    totals = snapshot.get("totals") if isinstance(snapshot.get("totals"), dict) else {}
    rows = _pick(totals, "vat_breakdown", default=[]) or []
    result = []
    for b in rows:
        rate = _decimal(_pick(b, "rate", "vat_rate", default="0"))
        result.append(
            {
                "label": _vat_label(str(_pick(b, "category", "tax_category", default="S")), rate),
                "basis": money(_decimal(_pick(b, "basis", "base", default="0")) or Decimal(0), currency),
                "tax": money(_decimal(_pick(b, "tax", "amount", default="0")) or Decimal(0), currency),
                "reason": _pick(b, "exemption_reason", "reason"),
            }
        )
    return result


def _totals(snapshot: dict[str, Any], header: dict[str, Any], currency: str) -> dict[str, str]:
    raw = snapshot.get("totals") if isinstance(snapshot.get("totals"), dict) else {}

    def amount(*names: str) -> Decimal:
        return _decimal(_pick(raw, *names, default="0")) or Decimal(0)

    discount = amount("discount", "discount_amount")
    rate = _decimal(_pick(header, "discount_percent", default="0")) or Decimal(0)
    return {
        "gross": money(amount("lines", "lines_amount"), currency),
        "discount": money(-discount, currency) if discount else "",
        "discount_rate": _percent(rate) if rate else "",
        "untaxed": money(amount("untaxed", "untaxed_amount"), currency),
        "tax": money(amount("tax", "tax_amount"), currency),
        "total": money(amount("total", "total_amount"), currency),
    }


def _payment_mentions(company_id: int) -> dict[str, str]:
    """The late-payment mentions from the company's invoicing settings (the same wording as invoices)."""
    from comptoir.accounting.models import InvoicingSettings

    found = InvoicingSettings.objects.filter(company_id=company_id).first()
    rate = getattr(found, "late_payment_rate", None)
    if rate is None:
        penalty = _(
            "Late payment penalties: three times the French legal interest rate, due from the day after the due "
            "date (art. L441-10 of the French Commercial Code)."
        )
    else:
        penalty = _(
            "Late payment penalties: %(rate)s %% per year, due from the day after the due date "
            "(art. L441-10 of the French Commercial Code)."
        ) % {"rate": formats.number_format(rate, use_l10n=True)}
    return {
        "late_payment_penalty": penalty,
        "recovery_indemnity": _(
            "Fixed indemnity for recovery costs in case of late payment: %(amount)s (art. L441-10 and D441-5 of the "
            "French Commercial Code)."
        )
        % {"amount": money(Decimal("40.00"), "EUR")},
        "early_payment_discount": (getattr(found, "early_payment_discount", "") or "")
        or _("No discount for early payment."),
    }


def context(
    quote: Quote,
    snapshot: dict[str, Any],
    *,
    language: str,
    stamp: dict[str, Any] | None = None,
    chosen: set[int] | None = None,
) -> dict[str, Any]:
    """The template's view of a snapshot; call inside ``translation.override(language)``.

    ``chosen``: the optional lines the customer took (the snapshot's preselection otherwise).
    """
    header: dict[str, Any] = snapshot["quote"] if isinstance(snapshot.get("quote"), dict) else snapshot
    currency = str(_pick(header, "currency", default=quote.currency))
    rows = _rows(snapshot, currency, chosen)
    breakdown = _breakdown(snapshot, currency)
    has_discounts = any(row.get("discount") for row in rows)
    valid_until = _day(_pick(header, "valid_until", default=quote.valid_until))
    owner = _pick(snapshot, "salesperson", "owner", default="")
    if isinstance(owner, dict):
        owner = _pick(owner, "name", "email", default="")
    return {
        "language": language,
        "title": _("Quote"),
        "number": _pick(header, "number", default=quote.number),
        "version": _pick(header, "version", default=quote.version),
        "reference": _pick(header, "title", default=""),
        "issue_date": _day(_pick(header, "issue_date", default=quote.issue_date)),
        "valid_until": valid_until,
        "validity_text": _("This quote is valid until %(date)s.") % {"date": valid_until},
        "salesperson": owner,
        "seller": _seller(snapshot, quote.company),
        "buyer": _buyer(snapshot),
        "rows": rows,
        "columns": 6 if has_discounts else 5,
        "has_discounts": has_discounts,
        "has_optional": any(row.get("optional") for row in rows),
        "breakdown": breakdown,
        "exemption_reasons": sorted({b["reason"] for b in breakdown if b["reason"]}),
        "totals": _totals(snapshot, header, currency),
        "payment_terms": _pick(header, "payment_terms", default=""),
        "notes": _pick(header, "notes", default=""),
        "accept_online": stamp is None,
        "stamp": stamp,
        **_payment_mentions(quote.company_id),
    }


def render_html(quote: Quote, snapshot: dict[str, Any], *, stamp: dict[str, Any] | None = None,
                chosen: set[int] | None = None) -> str:  # fmt: skip
    """The quote page as HTML (stylesheet inline: for WeasyPrint, not for the app's pages)."""
    language = language_of(quote, snapshot)
    with translation.override(language):
        return render_to_string(TEMPLATE, context(quote, snapshot, language=language, stamp=stamp, chosen=chosen))


def _pdf(html: str) -> bytes:
    from weasyprint import HTML  # heavy import, kept out of web start-up

    return HTML(string=html, url_fetcher=refuse_url, base_url=None).write_pdf(pdf_variant="pdf/a-3b")


def render_pdf(quote: Quote, version: QuoteVersion) -> bytes:
    """The version as sent (agreement block, no stamp)."""
    return _pdf(render_html(quote, version.snapshot or {}))


def _stamp(quote: Quote, version: QuoteVersion, chosen: set[int]) -> dict[str, Any]:
    snapshot = version.snapshot or {}
    names = [
        str(line.get("description") or "").split("\n", 1)[0]
        for line in snapshot.get("lines") or []
        if isinstance(line, dict) and line.get("optional") and line.get("id") in chosen
    ]
    accepted_at = quote.accepted_at or timezone.now()
    zone_name = getattr(quote.company, "timezone", "") or "Europe/Paris"
    local = timezone.localtime(accepted_at, _zone(zone_name))
    stamp = {
        "name": quote.accepted_by_name,
        "date": formats.date_format(local, "DATETIME_FORMAT") + f" ({zone_name})",
        "ip": quote.accepted_ip or "—",
        "version": quote.accepted_version or version.version,
        "options": names,
        "total": money(Decimal(quote.total_amount), quote.currency),
    }
    return stamp


def _zone(name: str) -> Any:
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Europe/Paris")


def render_stamped_pdf(quote: Quote, version: QuoteVersion, chosen: set[int]) -> bytes:
    """The version as accepted: the acceptance stamp in place of the agreement block.

    ``chosen``: the ids (in the version's snapshot) of the optional lines the customer took.
    """
    language = language_of(quote, version.snapshot)
    with translation.override(language):
        stamp = _stamp(quote, version, chosen)
    return _pdf(render_html(quote, version.snapshot or {}, stamp=stamp, chosen=chosen))


def store_pdf(quote: Quote, version: QuoteVersion) -> QuoteVersion:
    """Render the version as sent and store it on the version (inside the sending transaction)."""
    data = render_pdf(quote, version)
    version.pdf = data
    version.pdf_sha256 = hashlib.sha256(data).hexdigest()
    version.save(update_fields=["pdf", "pdf_sha256", "updated_at"])
    return version


def store_stamped_pdf(quote: Quote, version_number: int, *, actor: Actor, chosen: set[int]) -> QuoteVersion:
    """Replace the version's PDF with the stamped one; the audit entry keeps both digests."""
    version = QuoteVersion.objects.select_for_update().get(quote=quote, version=version_number)
    previous = version.pdf_sha256
    data = render_stamped_pdf(quote, version, chosen)
    version.pdf = data
    version.pdf_sha256 = hashlib.sha256(data).hexdigest()
    version.save(update_fields=["pdf", "pdf_sha256", "updated_at"])
    audit.record(actor, "quote.pdf_stamped", quote, changes={"version": [None, version.version],
                 "sha256": [previous or None, version.pdf_sha256]})  # fmt: skip
    return version


def version_pdf(quote: Quote, version: QuoteVersion) -> bytes:
    """The stored PDF of a version, rendered now (not stored) for a version that has none."""
    if version.pdf:
        return bytes(version.pdf)
    return render_pdf(quote, version)

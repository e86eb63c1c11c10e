"""The invoice as a PDF/A-3b (WeasyPrint) carrying its CII XML (Factur-X).

``facturx_pdf(document, "fr")`` renders ``accounting/einvoice/invoice.html`` in the given
language, prints it as PDF/A-3b and embeds the CII XML as ``factur-x.xml`` with the
Factur-X XMP metadata (the ``factur-x`` library does the embedding). The PDF and the XML
come from the same ``InvoiceDocument`` and the same ``Totals``, in the same language.

Rendering reaches nothing outside the process: the stylesheet is a template included
inline, fonts are the system's (fontconfig), and the URL fetcher refuses every URL.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn

from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.translation import gettext as _

from comptoir.accounting.einvoice import mentions
from comptoir.accounting.einvoice.cii import Profile, build_cii
from comptoir.accounting.einvoice.model import InvoiceDocument, InvoiceLine, InvoiceTypeCode, VatCategory
from comptoir.accounting.einvoice.totals import LineAmounts, Totals, compute_totals

TEMPLATE = "accounting/einvoice/invoice.html"
FACTURX_FILENAME = "factur-x.xml"


class EInvoiceGenerationError(RuntimeError):
    """The XML we generated does not validate: a bug or a data gap, never the user's file."""


def refuse_url(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    """WeasyPrint URL fetcher: an invoice PDF never loads anything from anywhere."""
    raise ValueError(f"external resource refused while rendering an invoice: {url[:80]}")


def render_html(document: InvoiceDocument, language: str, totals: Totals | None = None) -> str:
    """The invoice page as HTML in ``language``.

    It carries its stylesheet inline (WeasyPrint fetches nothing), so it is not meant to be
    served inside the application's pages, whose CSP forbids inline styles.
    """
    totals = totals or compute_totals(document)
    with translation.override(language):
        return render_to_string(TEMPLATE, _context(document, totals, language))


def invoice_pdf(document: InvoiceDocument, language: str) -> bytes:
    """The invoice as a PDF/A-3b, without XML."""
    return _pdf(render_html(document, language))


def facturx_pdf(
    document: InvoiceDocument,
    language: str,
    *,
    profile: Profile = Profile.EN16931,
    check: bool = False,
) -> bytes:
    """The Factur-X invoice: PDF/A-3b with the CII XML embedded as ``factur-x.xml``.

    ``check=True`` validates the XML (XSD + schematron) first and raises
    ``EInvoiceGenerationError`` listing the problems; it costs ~0.1 s per invoice once
    the schematron is compiled.
    """
    import facturx  # the library pulls pypdf; loaded only when a PDF is made

    totals = compute_totals(document)
    xml = build_cii(document, profile, language=language)
    if check:
        from comptoir.accounting.einvoice.validate import validate_cii

        problems = validate_cii(xml)
        if problems:
            raise EInvoiceGenerationError("\n".join(str(problem) for problem in problems))
    pdf = _pdf(render_html(document, language, totals))
    with translation.override(language):
        title = f"{_type_label(document.type_code)} {document.number}"
        metadata = {
            "author": document.seller.name,
            "keywords": f"{title}, Factur-X",
            "title": title,
            "subject": _("%(title)s issued by %(seller)s to %(buyer)s")
            % {"title": title, "seller": document.seller.name, "buyer": document.buyer.name},
        }
    # France accepts Data, Source or Alternative for BASIC/EN 16931 (Data only below);
    # Alternative is what Germany requires, so the same file suits both.
    relationship = "data" if profile == Profile.MINIMUM else "alternative"
    combined = facturx.generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level=profile.level,
        check_xsd=False,  # validate_cii does it with a safe parser and a cached schema
        pdf_metadata=metadata,
        lang=language,
        afrelationship=relationship,
    )
    return _align_info_with_xmp(combined)


def _align_info_with_xmp(pdf: bytes) -> bytes:
    """Make the Info dictionary say what the XMP says, as PDF/A asks.

    ``factur-x`` writes a new XMP packet (producer "pypdf", its own timestamp, no
    keywords) but leaves WeasyPrint's /Producer and adds /Keywords to the Info dictionary.
    """
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    reader = PdfReader(io.BytesIO(pdf))
    xmp = reader.xmp_metadata
    writer = PdfWriter(clone_from=reader)
    # No public pypdf call removes an Info entry: reach the dictionary itself.
    info = writer._info.get_object() if writer._info is not None else None
    if isinstance(info, DictionaryObject):
        info.pop(NameObject("/Keywords"), None)
        if xmp is not None and xmp.pdf_producer:
            info[NameObject("/Producer")] = TextStringObject(xmp.pdf_producer)
        if xmp is not None and xmp.xmp_create_date:
            created = xmp.xmp_create_date  # pypdf gives UTC as a naive datetime
            created = created.replace(tzinfo=dt.UTC) if created.tzinfo is None else created.astimezone(dt.UTC)
            stamp = created.strftime("D:%Y%m%d%H%M%S+00'00'")
            info[NameObject("/CreationDate")] = TextStringObject(stamp)
            info[NameObject("/ModDate")] = TextStringObject(stamp)
    writer.pdf_header = reader.pdf_header  # PDF/A-3 is PDF 1.7; pypdf would write its default
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdf(html: str) -> bytes:
    from weasyprint import HTML  # heavy import, kept out of web start-up

    return HTML(string=html, url_fetcher=refuse_url, base_url=None).write_pdf(pdf_variant="pdf/a-3b")


# ---- view model for the template ---------------------------------------------------------

UNIT_LABELS = {
    "C62": "",
    "H87": "",
    "HUR": "h",
    "MIN": "min",
    "DAY": "d",
    "WEE": "wk",
    "MON": "mo",
    "KGM": "kg",
    "GRM": "g",
    "TNE": "t",
    "MTR": "m",
    "KMT": "km",
    "MTK": "m²",
    "MTQ": "m³",
    "LTR": "l",
    "SET": "set",
}


@dataclass(frozen=True, slots=True)
class _Row:
    line: InvoiceLine
    amounts: LineAmounts
    quantity: str
    unit: str
    unit_price: str
    discount: str
    vat: str
    net: str


def _type_label(type_code: InvoiceTypeCode) -> str:
    labels = {
        InvoiceTypeCode.INVOICE: _("Invoice"),
        InvoiceTypeCode.CREDIT_NOTE: _("Credit note"),
        InvoiceTypeCode.CORRECTIVE: _("Corrective invoice"),
        InvoiceTypeCode.DOWN_PAYMENT: _("Down payment invoice"),
        InvoiceTypeCode.SELF_BILLED: _("Self-billed invoice"),
        InvoiceTypeCode.SELF_BILLED_CREDIT_NOTE: _("Self-billed credit note"),
        InvoiceTypeCode.FACTORED: _("Factored invoice"),
        InvoiceTypeCode.FACTORED_CREDIT_NOTE: _("Factored credit note"),
    }
    return labels[type_code]


def _percent(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return formats.number_format(text, use_l10n=True) + "\u00a0%"


def _vat_label(category: VatCategory, rate: Decimal) -> str:
    if category == VatCategory.STANDARD:
        return _percent(rate)
    return {
        VatCategory.ZERO_RATED: _("0 %"),
        VatCategory.EXEMPT: _("Exempt"),
        VatCategory.REVERSE_CHARGE: _("Reverse charge"),
        VatCategory.INTRA_EU: _("Intra-EU, exempt"),
        VatCategory.EXPORT: _("Export, exempt"),
        VatCategory.OUTSIDE_SCOPE: _("Outside scope"),
    }[category]


def _number(value: Decimal) -> str:
    return formats.number_format(f"{value.normalize():f}", use_l10n=True, force_grouping=True)


def _context(document: InvoiceDocument, totals: Totals, language: str) -> dict[str, Any]:
    money = mentions.money
    currency = document.currency
    rows = [
        _Row(
            line=line,
            amounts=amounts,
            quantity=_number(line.quantity),
            unit=UNIT_LABELS.get(line.unit_code, line.unit_code),
            unit_price=formats.number_format(
                line.net_unit_price, max(2, -int(line.net_unit_price.normalize().as_tuple().exponent)), use_l10n=True
            ),
            discount=(
                _percent(line.discount_percent)
                if line.discount_percent is not None and amounts.discount
                else (money(amounts.discount, currency) if amounts.discount else "")
            ),
            vat=_vat_label(line.vat_category, line.vat_rate),
            net=money(amounts.net, currency),
        )
        for line, amounts in zip(document.lines, totals.lines, strict=True)
    ]
    breakdown = [
        {
            "label": _vat_label(b.category, b.rate),
            "basis": money(b.basis, currency),
            "tax": money(b.tax, currency),
            "reason": b.exemption_reason,
        }
        for b in totals.vat_breakdown
    ]
    adjustments = [
        {
            "reason": a.reason or a.reason_code,
            "is_charge": a.is_charge,
            "amount": money(a.amount if a.is_charge else -a.amount, currency),
            "vat": _vat_label(a.vat_category, a.vat_rate),
        }
        for a in document.allowances_charges
    ]
    exemption_reasons = sorted({b.exemption_reason for b in totals.vat_breakdown if b.exemption_reason})
    show_operation_date = document.delivery_date is not None and document.delivery_date != document.issue_date
    return {
        "language": language,
        "doc": document,
        "title": _type_label(document.type_code),
        "seller_legal_line": mentions.seller_legal_line(document.seller),
        "operation_category": mentions.operation_category(document),
        "issue_date": mentions.day(document.issue_date),
        "delivery_date": mentions.day(document.delivery_date) if show_operation_date and document.delivery_date else "",
        "billing_period": (
            {"start": mentions.day(document.billing_period.start), "end": mentions.day(document.billing_period.end)}
            if document.billing_period
            else None
        ),
        "due_date": mentions.day(document.effective_due_date) if document.effective_due_date else "",
        "preceding": [
            {"number": p.number, "date": mentions.day(p.issue_date) if p.issue_date else ""}
            for p in document.preceding_invoices
        ],
        "rows": rows,
        "has_discounts": any(row.discount for row in rows),
        "adjustments": adjustments,
        "breakdown": breakdown,
        "exemption_reasons": exemption_reasons,
        "totals": {
            "line_total": money(totals.line_total, currency),
            "tax_basis_total": money(totals.tax_basis_total, currency),
            "tax_total": money(totals.tax_total, currency),
            "grand_total": money(totals.grand_total, currency),
            "prepaid": money(totals.prepaid, currency) if totals.prepaid else "",
            "rounding": money(totals.rounding, currency) if totals.rounding else "",
            "due_payable": money(totals.due_payable, currency),
        },
        "payment_terms": mentions.payment_terms_text(document),
        "late_payment_penalty": mentions.late_payment_penalty(document),
        "recovery_indemnity": mentions.recovery_indemnity(document),
        "early_payment_discount": mentions.early_payment_discount(document),
        "vat_on_debits": mentions.vat_on_debits() if document.vat_on_debits else "",
        "free_notes": [note.content for note in document.notes],
        "stylesheet": "accounting/einvoice/invoice.css",
    }

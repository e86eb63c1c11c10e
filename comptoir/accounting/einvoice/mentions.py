"""The French legal mentions, worded once for the PDF and the XML notes.

Every function reads the active language (wrap calls in ``translation.override``); the
PDF and the embedded XML are built in the same language, so they say the same thing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import formats
from django.utils.translation import gettext as _

from comptoir.accounting.einvoice.model import InvoiceDocument, Note, NoteSubject, OperationCategory, Party


def money(value: Decimal, currency: str = "EUR") -> str:
    """An amount as people read it in the active language, with its currency."""
    text = formats.number_format(value, 2, use_l10n=True, force_grouping=True)
    symbol = "€" if currency == "EUR" else currency
    return f"{text}\u00a0{symbol}"


def day(value: dt.date) -> str:
    return formats.date_format(value, "SHORT_DATE_FORMAT")


def late_payment_penalty(document: InvoiceDocument) -> str:
    if document.late_payment_rate is None:
        return _(
            "Late payment penalties: three times the French legal interest rate, due from the day after the due "
            "date (art. L441-10 of the French Commercial Code)."
        )
    return _(
        "Late payment penalties: %(rate)s %% per year, due from the day after the due date "
        "(art. L441-10 of the French Commercial Code)."
    ) % {"rate": formats.number_format(document.late_payment_rate, use_l10n=True)}


def recovery_indemnity(document: InvoiceDocument) -> str:
    return _(
        "Fixed indemnity for recovery costs in case of late payment: %(amount)s (art. L441-10 and D441-5 of the "
        "French Commercial Code)."
    ) % {"amount": money(document.recovery_indemnity, "EUR")}


def early_payment_discount(document: InvoiceDocument) -> str:
    return document.early_payment_discount or _("No discount for early payment.")


def vat_on_debits() -> str:
    return _("Option for payment of VAT on debits.")


def operation_category(document: InvoiceDocument) -> str:
    labels = {
        OperationCategory.GOODS: _("Supply of goods"),
        OperationCategory.SERVICES: _("Supply of services"),
        OperationCategory.MIXED: _("Supply of goods and services"),
    }
    return labels[document.operation_category] if document.operation_category else ""


def seller_legal_line(party: Party) -> str:
    """Legal form, share capital, RCS: "SAS with a share capital of 10,000.00 € · RCS Lyon 732829320"."""
    parts = []
    if party.legal_form and party.share_capital is not None:
        parts.append(
            _("%(form)s with a share capital of %(capital)s")
            % {"form": party.legal_form, "capital": money(party.share_capital)}
        )
    elif party.legal_form:
        parts.append(party.legal_form)
    if party.rcs_city:
        parts.append(f"RCS {party.rcs_city} {party.siren}".strip())
    return " · ".join(parts)


def payment_terms_text(document: InvoiceDocument) -> str:
    """BT-20: the terms as written, then each installment of split terms."""
    parts = [document.payment_terms] if document.payment_terms else []
    if document.installments:
        schedule = "; ".join(
            _("%(amount)s on %(date)s") % {"amount": money(i.amount, document.currency), "date": day(i.due_date)}
            for i in sorted(document.installments, key=lambda i: i.due_date)
        )
        parts.append(_("Payment in installments: %(schedule)s.") % {"schedule": schedule})
    return " ".join(parts)


def notes(document: InvoiceDocument) -> list[Note]:
    """The document notes (BG-1): the caller's, then the mentions French rules look for.

    PMD, PMT and AAB appear exactly once each (BR-FR-05); a caller note with one of those
    subjects replaces the generated one.
    """
    result = list(document.notes)
    given = {note.subject for note in result}
    generated = [
        Note(late_payment_penalty(document), NoteSubject.LATE_PAYMENT_PENALTY),
        Note(recovery_indemnity(document), NoteSubject.RECOVERY_INDEMNITY),
        Note(early_payment_discount(document), NoteSubject.EARLY_PAYMENT_DISCOUNT),
    ]
    if document.vat_on_debits:
        generated.append(Note(vat_on_debits(), NoteSubject.TAX))
    result.extend(note for note in generated if note.subject not in given)
    return result

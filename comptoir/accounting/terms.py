"""Payment terms: change and archive (creation is ``invoices.payment_term_create``), the
due-date preview, and the reads of the terms pages.

A posted invoice keeps the due dates it was issued with: its schedule is stored
(``InvoiceInstallment``, ``Invoice.due_date``) and the terms' wording too
(``payment_terms_text``), so editing a term changes drafts only (recomputed on their next
save) and new invoices. A term in use is archived, never deleted (the invoices point to it):
it stays readable on them and disappears from the choices for new invoices and profiles.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import invoices
from comptoir.accounting.invoice_selectors import payment_terms
from comptoir.accounting.models import Invoice, PaymentTerm, PaymentTermLine
from comptoir.accounting.services import _add, _parse_date, _required_text, _unknown
from comptoir.kernel import audit
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed

MANAGE = invoices.MANAGE
TERM_FIELDS = ("name", "note", "lines")


def _lines_snapshot(term_id: int) -> list[list[Any]]:
    return [[kind, str(percent), days, eom] for kind, percent, days, eom in
            PaymentTermLine.objects.filter(term_id=term_id).order_by("sequence", "id")
            .values_list("kind", "percent", "days", "end_of_month")]  # fmt: skip


def _locked(actor: Actor, term_id: int) -> PaymentTerm:
    term = PaymentTerm.objects.select_for_update().filter(company_id=actor.company_id, pk=term_id).first()
    if term is None:
        raise NotFound("payment_term_not_found")
    return term


@transaction.atomic
def payment_term_update(*, actor: Actor, term_id: int, **data: Any) -> PaymentTerm:
    """Change a term's name, text and installments (all of them when ``lines`` is sent).

    Posted invoices keep their stored schedule and wording; drafts follow on their next save.
    """
    require(actor, MANAGE)
    term = _locked(actor, term_id)
    errors: dict[str, list[str]] = {}
    _unknown(errors, data, TERM_FIELDS)
    before = {"name": term.name, "note": term.note, "lines": _lines_snapshot(term.pk)}
    if "name" in data:
        name = _required_text(errors, "name", data["name"], 100, True)
        if name and PaymentTerm.objects.filter(company_id=actor.company_id, name=name).exclude(pk=term.pk).exists():
            _add(errors, "name", _("Another payment term has this name."))
        term.name = name
    if "note" in data:
        term.note = _required_text(errors, "note", data["note"], 300, False)
    lines = invoices._clean_term_lines(data["lines"], errors) if "lines" in data else None
    if errors:
        raise ValidationFailed(fields=errors)
    term.save()
    if lines is not None:
        PaymentTermLine.objects.filter(term=term).delete()
        PaymentTermLine.objects.bulk_create(PaymentTermLine(term=term, sequence=i + 1, **line)
                                            for i, line in enumerate(lines))  # fmt: skip
    after = {"name": term.name, "note": term.note, "lines": _lines_snapshot(term.pk)}
    changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    audit.record(actor, "payment_term.update", term, changes=changes)
    return term


@transaction.atomic
def payment_term_set_active(*, actor: Actor, term_id: int, active: bool) -> PaymentTerm:
    """Archive a term (no longer offered; invoices and profiles using it keep it) or restore it."""
    require(actor, MANAGE)
    term = _locked(actor, term_id)
    if term.is_active != bool(active):
        term.is_active = bool(active)
        term.save(update_fields=["is_active", "updated_at"])
        audit.record(actor, "payment_term.archive" if not active else "payment_term.restore", term,
                     changes={"is_active": [not term.is_active, term.is_active]})  # fmt: skip
    return term


def preview(raw_lines: Any, issue_date: Any, total: Any) -> tuple[list[tuple[dt.date, Decimal]], dict[str, list[str]]]:
    """Due dates and amounts an invoice of ``total`` issued on ``issue_date`` would get (nothing saved)."""
    errors: dict[str, list[str]] = {}
    lines = invoices._clean_term_lines(raw_lines, errors)
    day = _parse_date(errors, "issue_date", issue_date)
    amount = invoices._parse_decimal(errors, "total", total, places=2, minimum=Decimal("0.01"),
                                     maximum=Decimal("1e11"))  # fmt: skip
    if errors or day is None or amount is None:
        return [], errors
    unsaved = [PaymentTermLine(sequence=i + 1, **line) for i, line in enumerate(lines)]
    return invoices.schedule(unsaved, day, amount), {}


def term_preview(term: PaymentTerm, issue_date: dt.date, total: Decimal) -> list[tuple[dt.date, Decimal]]:
    return invoices.schedule(list(term.lines.all()), issue_date, total)


# --- Reads ----------------------------------------------------------------------------


def term_list(actor: Actor, *, archived: bool = False) -> QuerySet[PaymentTerm]:
    """The terms (active, or archived ones), with their lines, visible to invoice readers and writers."""
    return payment_terms(actor).filter(is_active=not archived)


def term_get(actor: Actor, term_id: int) -> PaymentTerm:
    found = payment_terms(actor).filter(pk=term_id).first()
    if found is None:
        raise NotFound("payment_term_not_found")
    return found


def term_choices(actor: Actor, keep: Any = ()) -> list[tuple[int, str]]:
    """Active terms for a choice list, plus the ones in ``keep`` (the current value) even if archived."""
    ids = [k for k in keep if k]
    return list(payment_terms(actor).filter(Q(is_active=True) | Q(pk__in=ids)).values_list("pk", "name"))


def term_usage(actor: Actor, term_id: int) -> int:
    """How many posted invoices were issued with this term (they keep their due dates)."""
    return Invoice.objects.filter(company_id=actor.company_id, payment_term_id=term_id,
                                  state__in=invoices.OPEN_STATES).count()  # fmt: skip

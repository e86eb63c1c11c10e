"""Dunning (relances): payment reminders by level, emailed or handed to the account manager.

How a run decides (``proposals``), for the customers' overdue invoices (posted, partly paid,
due date passed, something left to pay):

* each invoice climbs the levels one at a time: its next level is the first active level above
  the highest one it already reached (``DunningNoticeLine.level_sequence``), due once the
  invoice is that many days overdue. No customer receives a final notice out of the blue;
* a customer gets one notice per run, at the highest level any of its invoices reached, which
  lists those invoices; a final-notice level adds the late-payment penalties (the invoicing
  rate, per day overdue) and the 40 € recovery indemnity per invoice (art. L441-10 and
  D441-5 of the Code de commerce);
* the notice is recorded first (the customer's history; unique per customer, level and day,
  so a repeated run adds nothing); the email (statement attached) and the account manager's
  activity follow through the outbox, retried if the mail server is down.

Automatic dunning (``DunningSettings``, off by default): the daily task (``tasks.py``,
``kernel.schedule``) runs ``run_automatic`` for each company that switched it on, as the
system, once per company and day (the settings row is locked and stamped with the day in the
run's transaction; the notices' unique constraint backs it up). The company's mode replaces
each level's action; a customer marked "do not contact" gets no email (with the "both" mode,
only the account manager's activity). The levels are created with the company's books
(``ensure_default_levels``, from ``services.setup_company_accounting``): reading never writes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef, Q, Subquery
from django.utils import formats, timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.invoices import MANAGE
from comptoir.accounting.models import (
    DunningAction,
    DunningLevel,
    DunningNotice,
    DunningNoticeLine,
    DunningSettings,
    Invoice,
    InvoiceKind,
    InvoiceState,
    InvoicingSettings,
)
from comptoir.contacts.models import Organization
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.models import ModuleActivation, OutboxEvent
from comptoir.org.models import Company

logger = logging.getLogger(__name__)
NOTICE_EVENT = "accounting.dunning_notice"
INDEMNITY = Decimal("40.00")  # per invoice, art. D441-5 of the Code de commerce
CENT = Decimal("0.01")
LEVEL_FIELDS = ("sequence", "name", "days_after_due", "action", "subject", "body", "attach_statement",
                "include_penalties", "is_active")  # fmt: skip


# --- Levels ---------------------------------------------------------------------------


def _defaults() -> list[dict[str, Any]]:
    return [
        {"sequence": 1, "name": gettext("Friendly reminder"), "days_after_due": 7, "action": DunningAction.EMAIL,
         "subject": gettext("Payment reminder"), "include_penalties": False,
         "body": gettext("Hello,\n\nUnless we are mistaken, the following invoices are still unpaid:\n{invoices}\n"
                         "Total due: {total}.\n\nIf you have already paid, please ignore this message.\n\n{company}")},
        {"sequence": 2, "name": gettext("Formal reminder"), "days_after_due": 30, "action": DunningAction.BOTH,
         "subject": gettext("Second reminder: overdue invoices"), "include_penalties": False,
         "body": gettext("Hello,\n\nDespite our first reminder, the following invoices remain unpaid:\n{invoices}\n"
                         "Total due: {total}.\n\nPlease settle them without delay.\n\n{company}")},
        {"sequence": 3, "name": gettext("Final notice"), "days_after_due": 45, "action": DunningAction.BOTH,
         "subject": gettext("Final notice before collection"), "include_penalties": True,
         "body": gettext("Hello,\n\nThe following invoices are still unpaid despite our reminders:\n{invoices}\n"
                         "Total due: {total}, plus the late-payment penalties and the fixed recovery "
                         "indemnity of 40 € per invoice owed by law.\n\nWithout payment within 8 days we "
                         "will start collection proceedings.\n\n{company}")},
    ]  # fmt: skip


def levels(company_id: int) -> list[DunningLevel]:
    """The company's levels (a read: the usual three are written by ``ensure_default_levels``)."""
    return list(DunningLevel.objects.filter(company_id=company_id).order_by("sequence"))


def ensure_default_levels(*, actor: Actor, company_id: int) -> int:
    """Write the three usual levels for a company that has none (accounting setup); returns how many.

    Idempotent, no permission check: it runs inside the setup of the company's books.
    """
    if DunningLevel.objects.filter(company_id=company_id).exists():
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        defaults = _defaults()
    created = DunningLevel.objects.bulk_create(
        [DunningLevel(company_id=company_id, **data) for data in defaults], ignore_conflicts=True
    )
    audit.record(actor, "dunning_level.setup", object_type="accounting.dunninglevel", object_id=company_id,
                 changes={"levels": [None, [data["name"] for data in defaults]]}, company_id=company_id)  # fmt: skip
    return len(created)


def _clean_level(company_id: int, data: dict[str, Any], level: DunningLevel | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    for name in data:
        if name not in LEVEL_FIELDS:
            errors.setdefault(name, []).append(str(_("Unknown field.")))
    cleaned: dict[str, Any] = {}
    for name in ("sequence", "days_after_due"):
        if name in data or level is None:
            value = data.get(name)
            try:
                number = int(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                errors.setdefault(name, []).append(str(_("Enter a whole number.")))
                continue
            if not 1 <= number <= (20 if name == "sequence" else 3650):
                errors.setdefault(name, []).append(str(_("Out of range.")))
                continue
            cleaned[name] = number
    if "name" in data or level is None:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 100:
            errors.setdefault("name", []).append(str(_("Enter a name of at most 100 characters.")))
        cleaned["name"] = name
    if "action" in data:
        if data["action"] not in DunningAction.values:
            errors.setdefault("action", []).append(str(_("Choose an action.")))
        cleaned["action"] = data["action"]
    for name, limit in (("subject", 200), ("body", 5000)):
        if name in data:
            text = str(data[name] or "")
            if len(text) > limit:
                errors.setdefault(name, []).append(str(_("At most %(n)s characters.") % {"n": limit}))
            cleaned[name] = text
    if "body" in cleaned:
        try:
            cleaned["body"].format(customer="", company="", total="", invoices="")
        except (KeyError, IndexError, ValueError):
            errors.setdefault("body", []).append(
                str(_("Only {customer}, {company}, {total} and {invoices} may appear between braces."))
            )
    for name in ("attach_statement", "include_penalties", "is_active"):
        if name in data:
            if not isinstance(data[name], bool):
                errors.setdefault(name, []).append(str(_("Enter true or false.")))
            cleaned[name] = bool(data[name])
    sequence = cleaned.get("sequence")
    if sequence is not None and "sequence" not in errors:
        clash = DunningLevel.objects.filter(company_id=company_id, sequence=sequence)
        if level is not None:
            clash = clash.exclude(pk=level.pk)
        if clash.exists():
            errors.setdefault("sequence", []).append(str(_("Another level has this number.")))
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def level_create(*, actor: Actor, **data: Any) -> DunningLevel:
    require(actor, MANAGE)
    assert actor.company_id is not None
    level = DunningLevel.objects.create(company_id=actor.company_id, **_clean_level(actor.company_id, data, None))
    audit.record(actor, "dunning_level.create", level, changes=audit.diff({}, data))
    return level


@transaction.atomic
def level_update(*, actor: Actor, level_id: int, **data: Any) -> DunningLevel:
    require(actor, MANAGE)
    assert actor.company_id is not None
    level = DunningLevel.objects.select_for_update().filter(company_id=actor.company_id, pk=level_id).first()
    if level is None:
        raise NotFound("dunning_level_not_found")
    cleaned = _clean_level(actor.company_id, data, level)
    before = {name: getattr(level, name) for name in cleaned}
    for name, value in cleaned.items():
        setattr(level, name, value)
    level.save()
    audit.record(actor, "dunning_level.update", level, changes=audit.diff(before, cleaned))
    return level


# --- Proposals ------------------------------------------------------------------------


@dataclass
class Overdue:
    invoice_id: int
    number: str
    due_date: dt.date
    days_overdue: int
    residual: Decimal
    currency: str
    language: str
    level: DunningLevel
    penalties: Decimal = Decimal(0)


@dataclass
class Proposal:
    organization_id: int
    organization_name: str
    email: str
    owner_id: int | None
    level: DunningLevel
    invoices: list[Overdue] = field(default_factory=list)
    do_not_contact: bool = False

    @property
    def total(self) -> Decimal:
        return sum((item.residual for item in self.invoices), Decimal(0))

    @property
    def penalties(self) -> Decimal:
        return (
            sum((item.penalties for item in self.invoices), Decimal(0)) if self.level.include_penalties else Decimal(0)
        )

    @property
    def indemnity(self) -> Decimal:
        return INDEMNITY * len(self.invoices) if self.level.include_penalties else Decimal(0)

    @property
    def language(self) -> str:
        return self.invoices[0].language if self.invoices else "fr"


def _penalty(residual: Decimal, rate: Decimal | None, days: int) -> Decimal:
    if not rate or days <= 0:
        return Decimal(0)
    return (residual * rate / Decimal(100) * Decimal(days) / Decimal(365)).quantize(CENT, ROUND_HALF_UP)


def proposals(actor: Actor, today: dt.date | None = None, organization_ids: Sequence[int] | None = None
              ) -> list[Proposal]:  # fmt: skip
    """Who would be reminded today, at which level, for which invoices (nothing written)."""
    require(actor, MANAGE)
    assert actor.company_id is not None
    return _proposals(actor.company_id, today or timezone.localdate(), organization_ids)


def _proposals(company_id: int, today: dt.date, organization_ids: Sequence[int] | None) -> list[Proposal]:
    active = [level for level in levels(company_id) if level.is_active]
    if not active:
        return []
    reached = (
        DunningNoticeLine.objects.filter(invoice_id=OuterRef("pk"))
        .values("invoice_id")
        .annotate(top=Max("level_sequence"))
        .values("top")
    )
    rows = Invoice.objects.filter(
        company_id=company_id, kind=InvoiceKind.CUSTOMER_INVOICE,
        state__in=[InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID], due_date__lt=today, residual_amount__gt=0,
    ).annotate(reached=Subquery(reached))  # fmt: skip
    if organization_ids is not None:
        rows = rows.filter(organization_id__in=list(organization_ids))
    rate = InvoicingSettings.objects.filter(company_id=company_id).values_list("late_payment_rate", flat=True).first()
    by_customer: dict[int, list[Overdue]] = defaultdict(list)
    for invoice in rows.order_by("organization_id", "due_date", "id").values(
        "pk", "number", "due_date", "residual_amount", "currency", "language", "organization_id", "reached"
    ):
        reached_level = invoice["reached"] or 0
        following = next((level for level in active if level.sequence > reached_level), None)
        days = (today - invoice["due_date"]).days
        if following is None or days < following.days_after_due:
            continue
        by_customer[invoice["organization_id"]].append(Overdue(
            invoice_id=invoice["pk"], number=invoice["number"], due_date=invoice["due_date"], days_overdue=days,
            residual=invoice["residual_amount"], currency=invoice["currency"], language=invoice["language"],
            level=following, penalties=_penalty(invoice["residual_amount"], rate, days),
        ))  # fmt: skip
    customers = Organization.objects.filter(pk__in=list(by_customer)).values(
        "pk", "legal_name", "email", "owner_id", "do_not_contact"
    )
    result = []
    for customer in customers.order_by("legal_name", "pk"):
        items = by_customer[customer["pk"]]
        top = max((item.level for item in items), key=lambda level: level.sequence)
        result.append(Proposal(organization_id=customer["pk"], organization_name=customer["legal_name"],
                               email=customer["email"] or "", owner_id=customer["owner_id"], level=top,
                               invoices=items, do_not_contact=customer["do_not_contact"]))  # fmt: skip
    return result


# --- Runs -----------------------------------------------------------------------------


def run(*, actor: Actor, today: dt.date | None = None, organization_ids: Sequence[int] | None = None,
        mode: str | None = None) -> list[DunningNotice]:  # fmt: skip
    """Record today's notices (one per customer) and queue their emails and activities.

    ``mode`` (the automatic runs): the action of every notice instead of its level's; customers
    marked "do not contact" are then not emailed (skipped, or activity only with "both")."""
    require(actor, MANAGE)
    assert actor.company_id is not None
    day = today or timezone.localdate()
    if organization_ids is not None:
        bad = [value for value in organization_ids if not isinstance(value, int) or isinstance(value, bool)]
        if bad:
            raise ValidationFailed(fields={"organization_ids": [str(_("Enter customer ids."))]})
    notices: list[DunningNotice] = []
    for proposal in _proposals(actor.company_id, day, organization_ids):
        action = proposal.level.action if mode is None else mode
        if mode is not None and proposal.do_not_contact:
            if action == DunningAction.EMAIL:
                continue  # no email to a customer who asked not to be contacted, and nothing else to do
            action = DunningAction.ACTIVITY
        try:
            with transaction.atomic():
                notices.append(_record(actor, proposal, day, action))
        except IntegrityError:
            # Another run recorded this customer's notice at this level today: nothing to add.
            if not DunningNotice.objects.filter(organization_id=proposal.organization_id, level=proposal.level,
                                                date=day).exists():  # fmt: skip
                raise  # another run recorded this customer's notice at this level today
    return notices


def _record(actor: Actor, proposal: Proposal, day: dt.date, action: str) -> DunningNotice:
    level = proposal.level
    wants_email = action in (DunningAction.EMAIL, DunningAction.BOTH)
    notice = DunningNotice.objects.create(
        company_id=actor.company_id, organization_id=proposal.organization_id, level=level, date=day,
        action=action, total_due=proposal.total, penalties=proposal.penalties, indemnity=proposal.indemnity,
        sent_to=proposal.email if wants_email else "", created_by_id=actor.user_id,
    )  # fmt: skip
    DunningNoticeLine.objects.bulk_create(
        DunningNoticeLine(  # type: ignore[misc]  # MoneyFields take Decimals
            notice=notice, invoice_id=item.invoice_id, level_sequence=item.level.sequence,
                          due_date=item.due_date, days_overdue=item.days_overdue, residual_amount=item.residual,
                          penalties=item.penalties if level.include_penalties else Decimal(0))
        for item in proposal.invoices
    )  # fmt: skip
    audit.record(actor, "dunning.notice", notice, changes={
        "level": [None, level.sequence], "invoices": [None, [item.number for item in proposal.invoices]],
        "total_due": [None, str(proposal.total)],
    })  # fmt: skip
    events.publish(NOTICE_EVENT, company_id=actor.company_id, payload={
        "notice_id": notice.pk, "organization_id": proposal.organization_id, "owner_id": proposal.owner_id,
        "action": action, "level": level.sequence, "level_name": level.name,
        "total_due": str(proposal.total), "invoices": [item.number for item in proposal.invoices],
    })  # fmt: skip
    return notice


# --- Automatic dunning ----------------------------------------------------------------

SETTINGS_FIELDS = ("auto_enabled", "auto_mode")


def settings_of(company_id: int) -> DunningSettings:
    """The company's automatic-dunning settings (unsaved defaults, off, when never set: a read writes nothing)."""
    found = DunningSettings.objects.filter(company_id=company_id).first()
    return found or DunningSettings(company_id=company_id)


@transaction.atomic
def settings_update(*, actor: Actor, **data: Any) -> DunningSettings:
    """Switch automatic reminders on or off and choose how they go out; errors per field."""
    require(actor, MANAGE)
    assert actor.company_id is not None
    errors: dict[str, list[str]] = {}
    for name in data:
        if name not in SETTINGS_FIELDS:
            errors.setdefault(name, []).append(str(_("Unknown field.")))
    if "auto_enabled" in data and not isinstance(data["auto_enabled"], bool):
        errors.setdefault("auto_enabled", []).append(str(_("Enter true or false.")))
    if "auto_mode" in data and data["auto_mode"] not in DunningAction.values:
        errors.setdefault("auto_mode", []).append(str(_("Choose how the reminders go out.")))
    if errors:
        raise ValidationFailed(fields=errors)
    row, _created = DunningSettings.objects.get_or_create(company_id=actor.company_id)
    row = DunningSettings.objects.select_for_update().get(pk=row.pk)
    before = {name: getattr(row, name) for name in SETTINGS_FIELDS}
    for name in SETTINGS_FIELDS:
        if name in data:
            setattr(row, name, data[name])
    row.updated_by_id = actor.user_id
    row.save()
    audit.record(actor, "dunning_settings.update", row,
                 changes=audit.diff(before, {name: getattr(row, name) for name in SETTINGS_FIELDS}))  # fmt: skip
    return row


def run_automatic(company_id: int, today: dt.date | None = None) -> list[DunningNotice] | None:
    """The company's automatic run of the day, as the system; None when off or already done today.

    One transaction: the settings row is locked and stamped with the day, so two schedulers (or
    two workers) at once run it once; a failure rolls the stamp back and the next tick retries.
    """
    day = today or timezone.localdate()
    actor = Actor.system(company_id, channel=Channel.TASK)
    with transaction.atomic():
        row = DunningSettings.objects.select_for_update().filter(company_id=company_id, auto_enabled=True).first()
        if row is None or (row.last_auto_run is not None and row.last_auto_run >= day):
            return None
        notices = run(actor=actor, today=day, mode=row.auto_mode)
        row.last_auto_run = day
        row.save(update_fields=["last_auto_run", "updated_at"])
        audit.record(actor, "dunning.auto_run", row, changes={
            "date": [None, day.isoformat()], "mode": [None, row.auto_mode], "notices": [None, len(notices)],
        })  # fmt: skip
    return notices


def run_automatic_all(today: dt.date | None = None) -> dict[int, int]:
    """Every company with automatic reminders on and accounting enabled: {company id: notices recorded}.

    One query picks the companies still due today (accounting on, not yet run): a company
    skipped costs nothing, each one due runs in its own transaction. A company whose run fails
    is logged and retried at the next tick; the others go on."""
    from comptoir.kernel import modules

    accounting = modules.registry.get("accounting")
    if accounting is None:  # like modules.is_enabled: an unregistered module is off everywhere
        return {}
    day = today or timezone.localdate()
    # Already run today: run_automatic would return None for it (it checks again under the lock).
    due = DunningSettings.objects.filter(Q(last_auto_run__isnull=True) | Q(last_auto_run__lt=day),
                                         auto_enabled=True)  # fmt: skip
    if not accounting.core:  # modules.enabled_codes' rule, in SQL instead of one query per company
        due = due.filter(Exists(ModuleActivation.objects.filter(
            company_id=OuterRef("company_id"), module=accounting.code, enabled=True)))  # fmt: skip
    done: dict[int, int] = {}
    for company_id in due.order_by("company_id").values_list("company_id", flat=True):
        try:
            notices = run_automatic(company_id, day)
        except Exception:  # one company's problem must not stop the others' reminders
            logger.exception("automatic dunning failed for company %s", company_id)
            continue
        if notices is not None:
            done[company_id] = len(notices)
    return done


# --- The email (outbox subscriber) ----------------------------------------------------


def _money(value: Decimal, currency: str = "EUR") -> str:
    return f"{formats.number_format(value, 2, use_l10n=True, force_grouping=True)} {currency}"


def notice_email(notice: DunningNotice) -> EmailMessage | None:
    """The email of a notice, in the customer's language, its statement attached if the level says so."""
    if notice.action not in (DunningAction.EMAIL, DunningAction.BOTH) or not notice.sent_to:
        return None
    level = notice.level
    company = Company.objects.get(pk=notice.company_id)
    lines = list(notice.lines.select_related("invoice").order_by("due_date", "id"))
    language = lines[0].invoice.language if lines else "fr"
    currency = lines[0].invoice.currency if lines else "EUR"
    customer = Organization.objects.filter(pk=notice.organization_id).values_list("legal_name", flat=True).first()
    with translation.override(language):
        listed = "\n".join(
            gettext("- %(number)s due %(due)s: %(amount)s (%(days)s days overdue)") % {
                "number": line.invoice.number, "due": formats.date_format(line.due_date, "SHORT_DATE_FORMAT"),
                "amount": _money(Decimal(line.residual_amount), currency), "days": line.days_overdue,
            }
            for line in lines
        )  # fmt: skip
        total = _money(Decimal(notice.total_due), currency)
        body = (level.body or "{invoices}\n{total}").format(
            customer=customer or "", company=company.name, total=total, invoices=listed
        )
        if level.include_penalties:
            body += "\n\n" + gettext(
                "Late-payment penalties to date: %(penalties)s; recovery indemnity: %(indemnity)s."
            ) % {
                "penalties": _money(Decimal(notice.penalties), currency),
                "indemnity": _money(Decimal(notice.indemnity), currency),
            }
        subject = f"{level.subject or level.name} — {company.name}"
    email = EmailMessage(subject=subject[:200], body=body, to=[notice.sent_to])
    if level.attach_statement:
        from comptoir.accounting.partner_statements import statement_pdf

        pdf = statement_pdf(notice.company_id, notice.organization_id, notice.date, language)
        email.attach(f"statement-{notice.date.isoformat()}.pdf", pdf, "application/pdf")
    return email


def email_notice(event: OutboxEvent) -> None:
    """Outbox subscriber: send the notice's email once (an outage makes the outbox retry)."""
    notice = DunningNotice.objects.select_related("level").filter(pk=event.payload["notice_id"]).first()
    if notice is None or notice.sent_at is not None:
        return
    email = notice_email(notice)
    if email is None:
        return
    email.send()
    DunningNotice.objects.filter(pk=notice.pk).update(sent_at=timezone.now())


# --- History --------------------------------------------------------------------------


def history(actor: Actor, organization_id: int | None = None) -> Any:
    """Notices, newest first (finance: every customer's; the organization page: one customer's)."""
    require(actor, MANAGE)
    rows = DunningNotice.objects.filter(company_id=actor.company_id).select_related("level", "organization")
    if organization_id is not None:
        rows = rows.filter(organization_id=organization_id)
    return rows.order_by("-date", "-id")

"""Sending a quote by email: freeze the version, store its PDF, mail it with the acceptance link.

``quote_send`` runs in one transaction: it checks the recipients, subject and message,
freezes the current version through ``quotes.quote_mark_sent`` (a quote already sent at
this version is sent again as it stands, without a new freeze), renders and stores the
version's PDF, writes the audit entry (recipients, version, SHA-256 of the PDF) and
publishes ``sales.quote_sent``. The email itself leaves from the outbox subscriber
``email_quote`` after the commit: the PDF attached, the message, and the signed link to
accept online. A mail server that is down leaves the event failed and the kernel's
``dispatch_pending_events`` retries it; the quote stays sent meanwhile (it is, legally:
the version is frozen), and ``check-integrity`` lists the pending email.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import formats, translation
from django.utils.translation import gettext as _

from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.models import OutboxEvent
from comptoir.org.models import Company
from comptoir.sales import acceptance
from comptoir.sales.models_quotes import Quote, QuoteState, QuoteVersion

EVENT = "sales.quote_sent"
MANAGE = "sales.manage_quotes"
MAX_RECIPIENTS = 10
SUBJECT_MAX = 200
MESSAGE_MAX = 5000


def _recipients(raw: Any, errors: dict[str, list[str]]) -> list[str]:
    values = raw if isinstance(raw, (list, tuple)) else [part for part in re.split(r"[,;\s]+", str(raw or "")) if part]
    found: list[str] = []
    for value in values:
        address = str(value).strip()
        if address and address.lower() not in {a.lower() for a in found}:
            found.append(address)
    if not found:
        errors.setdefault("to", []).append(_("Enter at least one email address."))
    if len(found) > MAX_RECIPIENTS:
        errors.setdefault("to", []).append(_("At most %(max)s recipients.") % {"max": MAX_RECIPIENTS})
    for address in found:
        try:
            validate_email(address)
        except ValidationError:
            errors.setdefault("to", []).append(
                _("%(address)s is not a valid email address.") % {"address": address[:100]}
            )
    return found


def _text(errors: dict[str, list[str]], name: str, value: Any, limit: int) -> str:
    text = str(value or "").strip()
    if len(text) > limit:
        errors.setdefault(name, []).append(_("At most %(max)s characters.") % {"max": limit})
    if name == "subject" and ("\n" in text or "\r" in text):
        errors.setdefault(name, []).append(_("The subject must fit on one line."))
    return text


def default_recipients(quote: Quote) -> list[str]:
    """Who the form suggests: the quote's contact, else the customer's main email."""
    for party in (quote.contact, quote.organization):
        email = getattr(party, "email", "") if party is not None else ""
        if email:
            return [email]
    return []


def default_subject(quote: Quote, company_name: str = "") -> str:
    company_name = company_name or quote.company.name
    with translation.override(quote.language if quote.language in ("fr", "en") else "fr"):
        return _("Quote %(number)s — %(company)s") % {"number": quote.number, "company": company_name}


def default_message(quote: Quote, sender_name: str = "") -> str:
    with translation.override(quote.language if quote.language in ("fr", "en") else "fr"):
        lines = [
            _("Hello,"),
            "",
            _("Please find attached our quote %(number)s, valid until %(date)s.")
            % {"number": quote.number, "date": formats.date_format(quote.valid_until, "SHORT_DATE_FORMAT")},
            "",
            _("Kind regards,"),
        ]
        if sender_name:
            lines.append(sender_name)
        return "\n".join(lines)


@transaction.atomic
def quote_send(*, actor: Actor, quote_id: int, to: Any, subject: Any = "", message: Any = "") -> QuoteVersion:
    """Send the quote's current version by email; returns the version sent."""
    from comptoir.sales import quotes as quote_services
    from comptoir.sales.quote_pdf import store_pdf

    require(actor, MANAGE)
    errors: dict[str, list[str]] = {}
    recipients = _recipients(to, errors)
    clean_subject = _text(errors, "subject", subject, SUBJECT_MAX)
    body = _text(errors, "message", message, MESSAGE_MAX)
    if errors:
        raise ValidationFailed(fields=errors)
    quote = quote_services.visible_quotes(actor).select_for_update(of=("self",)).filter(pk=quote_id).first()
    if quote is None:
        raise NotFound("quote_not_found")
    if quote.state not in (QuoteState.DRAFT, QuoteState.SENT):
        raise Conflict("quote_not_sendable", _("Only a draft or a sent quote can be sent."))
    resend = quote.state == QuoteState.SENT
    # Freezes the version (a sent quote sent again keeps its snapshot; only its sent_at moves).
    quote_services.quote_mark_sent(actor=actor, quote_id=quote.pk)
    quote = Quote.objects.select_related("company", "organization", "contact", "owner").get(pk=quote.pk)
    version = QuoteVersion.objects.select_for_update().get(quote=quote, version=quote.version)
    if not version.pdf:
        store_pdf(quote, version)
    sender = getattr(actor.user, "full_name", "") or getattr(actor.user, "email", "") or ""
    clean_subject = clean_subject or default_subject(quote)
    body = body or default_message(quote, sender)
    audit.record(actor, "quote.email", quote, changes={
        "to": [None, ", ".join(recipients)], "version": [None, version.version], "sha256": [None, version.pdf_sha256],
        "resend": [None, resend]})  # fmt: skip
    events.publish(EVENT, company_id=quote.company_id, payload={
        "quote_id": quote.pk, "version": version.version, "valid_until": quote.valid_until.isoformat(),
        "to": recipients, "subject": clean_subject, "message": body,
        "reply_to": getattr(actor.user, "email", "") or "",
    })  # fmt: skip
    return version


def link_for(quote_id: int, version: int, valid_until: dt.date) -> str:
    """The absolute acceptance link of a given version (what the email carries)."""
    return acceptance.url_for(acceptance.token_for(quote_id, version, valid_until))


def email_quote(event: OutboxEvent) -> None:
    """Outbox subscriber: the email with the PDF attached and the link to accept online."""
    payload = event.payload
    quote = Quote.objects.select_related("company").filter(pk=payload["quote_id"]).first()
    if quote is None:
        return
    version = QuoteVersion.objects.filter(quote=quote, version=payload["version"]).first()
    if version is None or not version.pdf:
        return
    from comptoir.sales.quote_pdf import filename

    language = quote.language if quote.language in ("fr", "en") else "fr"
    link = link_for(quote.pk, version.version, dt.date.fromisoformat(payload["valid_until"]))
    with translation.override(language):
        body = "\n".join([
            payload["message"], "", _("Review and accept this quote online:"), link, "",
            _("The link is valid until %(date)s.") % {"date": formats.date_format(
                dt.date.fromisoformat(payload["valid_until"]), "SHORT_DATE_FORMAT")},
        ])  # fmt: skip
    email = EmailMessage(
        subject=payload["subject"],
        body=body,
        to=payload["to"],
        reply_to=[payload["reply_to"]] if payload.get("reply_to") else None,
    )
    email.attach(filename(quote.number, version.version), bytes(version.pdf), "application/pdf")
    email.send()


def register() -> None:
    """Called from the sales app's ``ready()``: the email subscriber, the timeline's sent and accepted quotes."""
    from comptoir.contacts.timeline import registry as timeline_registry
    from comptoir.sales import timeline_documents

    events.subscribe(EVENT, email_quote, key="sales.sending.email")
    timeline_documents.register(timeline_registry)


def sender_company_name(company_id: int) -> str:
    return Company.objects.filter(pk=company_id).values_list("name", flat=True).first() or ""

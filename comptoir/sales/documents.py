"""Reads and small writes behind the quote-document pages and API (PDF, link).

The record rule is the quote selectors': what the actor may see starts there, for the
pages and the API alike.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from comptoir.kernel import audit
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.sales import acceptance
from comptoir.sales.models_quotes import Quote, QuoteState, QuoteVersion

MANAGE = "sales.manage_quotes"


def visible_quotes(actor: Actor) -> QuerySet[Quote]:
    from comptoir.sales import quotes

    return quotes.visible_quotes(actor)  # type: ignore[no-any-return]


def quote_get(actor: Actor, quote_id: int) -> Quote:
    found = (
        visible_quotes(actor).select_related("company", "organization", "contact", "owner").filter(pk=quote_id).first()
    )
    if found is None:
        raise NotFound("quote_not_found")
    return found


def quote_version_get(actor: Actor, quote_id: int, version: Any = None) -> tuple[Quote, QuoteVersion]:
    """A visible quote and one of its versions (the current one by default)."""
    quote = quote_get(actor, quote_id)
    number = quote.version
    if version not in (None, ""):
        try:
            number = int(version)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(fields={"version": [_("Enter a whole number.")]}) from exc
    found = QuoteVersion.objects.filter(quote=quote, version=number).first()
    if found is None:
        if number != quote.version:
            raise NotFound("quote_version_not_found")
        # A draft's current version has no frozen snapshot yet: preview it from the quote.
        found = QuoteVersion(quote=quote, version=quote.version, snapshot=_preview_snapshot(quote))
    return quote, found


def _preview_snapshot(quote: Quote) -> dict[str, Any]:
    from comptoir.sales import quotes as quote_services

    return quote_services.quote_snapshot(quote)


@transaction.atomic
def link_issue(*, actor: Actor, quote_id: int) -> str:
    """The absolute acceptance link of the quote's current sent version; the issue is audited."""
    require(actor, MANAGE)
    quote = quote_get(actor, quote_id)
    sent = QuoteVersion.objects.filter(quote=quote, version=quote.version, sent_at__isnull=False).exists()
    if quote.state != QuoteState.SENT or not sent:
        raise Conflict("quote_not_sent", _("Only a sent quote has a link to accept online: send it first."))
    audit.record(actor, "quote.link_issued", quote, changes={"version": [None, quote.version]})
    return acceptance.public_url(quote)

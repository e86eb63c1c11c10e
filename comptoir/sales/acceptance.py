"""Online acceptance: the signed link a customer opens, and what they do there.

The link carries a token made with ``django.core.signing`` (salt below, keyed with
``SECRET_KEY``, timestamped): the quote id, the version sent and the validity date of that
version. Nothing in it can be changed without breaking the signature, and it says nothing
a customer does not already know (their quote's number is not even in it).

A link is good while the token verifies, is younger than ``SALES_QUOTE_LINK_MAX_AGE_DAYS``
(default 120), and the version it names is still valid (its ``valid_until`` not passed).
What the page then shows follows the quote's state:

- ``open``: the version is the one out for signature → the customer may accept or decline;
- ``accepted`` / ``refused``: what was answered, with the (stamped) PDF;
- ``stale``: the quote was revised since this version was sent → ask for the new link;
- ``expired``: the validity date passed (or the quote was expired) → 410;
- a bad token, an unknown quote, a cancelled quote or a version never sent → 404.

Accepting goes through ``quotes.quote_accept`` (actor None, via ``online``), which refuses a
stale version, an expired or a non-sent quote under the quote's row lock; this module then
re-renders the version's PDF with the acceptance stamp and stores it in the same
transaction. A second submit of the same acceptance finds the quote accepted with this
version and answers as the first did (double submit is safe).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.kernel import audit
from comptoir.kernel.context import Actor, Channel, channel
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.org.models import Company
from comptoir.sales.models_quotes import Quote, QuoteState, QuoteVersion

SALT = "comptoir.sales.quote-acceptance"
DEFAULT_MAX_AGE_DAYS = 120
NAME_MAX = 200
REASON_MAX = 2000


class LinkState:
    OPEN = "open"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    STALE = "stale"
    EXPIRED = "expired"


class LinkInvalid(Exception):
    """The token is not ours, was altered, or leads nowhere the customer may go (404)."""


@dataclass(frozen=True, slots=True)
class Link:
    quote_id: int
    version: int
    valid_until: dt.date
    signed_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PublicQuote:
    """What the public page needs: the quote, the version the link names, and the state."""

    link: Link
    quote: Quote
    version: QuoteVersion | None
    state: str

    @property
    def status(self) -> int:
        return 410 if self.state in (LinkState.STALE, LinkState.EXPIRED) else 200


def max_age() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "SALES_QUOTE_LINK_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS)))


def token_for(quote_id: int, version: int, valid_until: dt.date) -> str:
    """The token naming one version of a quote, good until that version's validity date."""
    payload = {"q": quote_id, "v": version, "u": valid_until.isoformat()}
    return signing.dumps(payload, salt=SALT, compress=True)


def make_token(quote: Quote) -> str:
    """The token for the quote's current version (call it once the version is sent)."""
    return token_for(quote.pk, quote.version, quote.valid_until)


def url_for(token: str) -> str:
    base = getattr(settings, "COMPTOIR_BASE_URL", "http://localhost:8000").rstrip("/")
    return base + reverse("sales:quote_public", args=[token])


def public_url(quote: Quote) -> str:
    return url_for(make_token(quote))


def read_token(token: str) -> Link:
    """The link's content, or ``LinkInvalid`` when the signature does not verify."""
    if not token or len(token) > 400:
        raise LinkInvalid("length")
    try:
        value, signed_at = _unsign_with_timestamp(token)
        quote_id, version, until = int(value["q"]), int(value["v"]), dt.date.fromisoformat(str(value["u"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise LinkInvalid("signature") from exc
    return Link(quote_id=quote_id, version=version, valid_until=until, signed_at=signed_at)


def _unsign_with_timestamp(token: str) -> tuple[dict[str, Any], dt.datetime]:
    """``signing.loads`` without the age check, plus the time the token was signed."""
    value = signing.loads(token, salt=SALT)
    if not isinstance(value, dict):
        raise ValueError("payload")
    # signing.dumps appends the timestamp (base62) before the signature: value:timestamp:signature
    timestamp = token.rsplit(":", 2)[-2]
    seconds = signing.b62_decode(timestamp)
    return value, dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _company_today(company_id: int, now: dt.datetime) -> dt.date:
    name = Company.objects.filter(pk=company_id).values_list("timezone", flat=True).first() or "Europe/Paris"
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("Europe/Paris")
    return timezone.localtime(now, zone).date()


def resolve(token: str, *, now: dt.datetime | None = None, lock: bool = False) -> PublicQuote:
    """Where a link leads now (see the module docstring); ``LinkInvalid`` for a 404."""
    now = now or timezone.now()
    link = read_token(token)
    rows = Quote.objects.select_related("company", "organization", "contact")
    if lock:
        rows = rows.select_for_update(of=("self",))
    quote = rows.filter(pk=link.quote_id).first()
    if quote is None or quote.state == QuoteState.CANCELLED:
        raise LinkInvalid("quote")
    version = QuoteVersion.objects.filter(quote=quote, version=link.version).first()
    if version is None or version.sent_at is None:
        raise LinkInvalid("version")
    if quote.version != link.version:
        return PublicQuote(link, quote, version, LinkState.STALE)
    if quote.state == QuoteState.ACCEPTED:
        return PublicQuote(link, quote, version, LinkState.ACCEPTED)
    if quote.state == QuoteState.REFUSED:
        return PublicQuote(link, quote, version, LinkState.REFUSED)
    today = _company_today(quote.company_id, now)
    if (
        quote.state == QuoteState.EXPIRED
        or now - link.signed_at > max_age()
        or link.valid_until < today
        or quote.valid_until < today
    ):
        return PublicQuote(link, quote, version, LinkState.EXPIRED)
    return PublicQuote(link, quote, version, LinkState.OPEN)


# --- Rate limit -----------------------------------------------------------------------


def rate_limited(ip: str | None, *, now: dt.datetime | None = None) -> bool:
    """Count one public POST from ``ip``; True once it made too many in the window.

    A fixed window in Django's cache (``SALES_PUBLIC_POST_LIMIT`` posts per
    ``SALES_PUBLIC_POST_WINDOW`` seconds, default 20 per 10 minutes). With several web
    processes, configure a shared cache (database or Redis) so they count together.
    """
    limit = int(getattr(settings, "SALES_PUBLIC_POST_LIMIT", 20))
    window = int(getattr(settings, "SALES_PUBLIC_POST_WINDOW", 600))
    moment = int((now or timezone.now()).timestamp()) // window
    key = f"sales:public-post:{hashlib.sha256((ip or '-').encode()).hexdigest()[:32]}:{moment}"
    if cache.add(key, 1, timeout=window + 5):
        return limit < 1
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=window + 5)
        count = 1
    return count > limit


# --- Accept and decline ---------------------------------------------------------------


def _clean_name(value: Any) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise ValidationFailed(fields={"name": [_("Type your full name to accept.")]})
    if len(name) > NAME_MAX:
        raise ValidationFailed(fields={"name": [_("At most %(max)s characters.") % {"max": NAME_MAX}]})
    return name


def _public_actor(quote: Quote) -> Actor:
    return Actor.system(quote.company_id, channel=Channel.UI)


@transaction.atomic
def accept_online(
    *, token: str, name: Any, ip: str | None, selected_line_ids: Any = (), now: dt.datetime | None = None
) -> PublicQuote:
    """The customer accepts the version the link names; the version's PDF is stamped.

    Returns the quote as it now stands (state ``accepted``). A repeated submit of an
    acceptance already recorded for this version returns it unchanged.
    """
    from comptoir.sales import quotes as quote_services
    from comptoir.sales.quote_pdf import store_stamped_pdf

    public = resolve(token, now=now, lock=True)
    if public.state == LinkState.ACCEPTED and public.quote.accepted_version == public.link.version:
        return public
    if public.state != LinkState.OPEN:
        raise Conflict("quote_not_open", _("This quote can no longer be accepted online."))
    clean = _clean_name(name)
    chosen = _clean_ids(selected_line_ids)
    with channel(Channel.UI):
        quote_services.quote_accept(
            actor=None,
            quote_id=public.quote.pk,
            version=public.link.version,
            by_name=clean,
            ip=ip,
            via="online",
            selected_line_ids=chosen,
        )
        quote = Quote.objects.select_related("company", "organization", "contact").get(pk=public.quote.pk)
        version = store_stamped_pdf(quote, public.link.version, actor=_public_actor(quote), chosen=set(chosen))
    return PublicQuote(public.link, quote, version, LinkState.ACCEPTED)


def _clean_ids(raw: Any) -> tuple[int, ...]:
    if raw in (None, ""):
        return ()
    values = raw if isinstance(raw, (list, tuple, set)) else [raw]
    ids: list[int] = []
    for value in values:
        try:
            ids.append(int(value))
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(fields={"options": [_("Unknown option.")]}) from exc
    return tuple(sorted(set(ids)))


@transaction.atomic
def decline_online(*, token: str, reason: Any, ip: str | None, now: dt.datetime | None = None) -> PublicQuote:
    """The customer declines the version the link names, with an optional reason."""
    from comptoir.sales import quotes as quote_services

    public = resolve(token, now=now, lock=True)
    if public.state == LinkState.REFUSED:
        return public
    if public.state != LinkState.OPEN:
        raise Conflict("quote_not_open", _("This quote can no longer be answered online."))
    text = str(reason or "").strip()
    if len(text) > REASON_MAX:
        raise ValidationFailed(fields={"reason": [_("At most %(max)s characters.") % {"max": REASON_MAX}]})
    with channel(Channel.UI):
        quote_services.quote_refuse(
            actor=None, quote_id=public.quote.pk, reason=text or _("Declined online."), version=public.link.version
        )
        audit.record(_public_actor(public.quote), "quote.declined_online", public.quote,
                     changes={"version": [None, public.link.version], "ip": [None, ip]})  # fmt: skip
    quote = Quote.objects.select_related("company", "organization", "contact").get(pk=public.quote.pk)
    return PublicQuote(public.link, quote, public.version, LinkState.REFUSED)

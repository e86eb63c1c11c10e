"""Reads of quotes. Pages, API, exports and the 360° timeline all start from
``quotes.visible_quotes`` (the record rule, written once).

``sales.view_all`` sees every quote of the company. Anyone else with ``sales.view_quotes``
(or ``manage_quotes``) sees the quotes of the organizations the contacts record rule shows
them (their own, their team's, or all with ``contacts.view_all_contacts``) and the quotes
they own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from comptoir.contacts.normalize import search_text
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.org.models import Membership, Team, User
from comptoir.sales.models_quotes import Quote, QuoteState
from comptoir.sales.quotes import MANAGE, can_view, visible_quotes

MINE, TEAM, ALL = "mine", "team", "all"
SCOPES = (MINE, TEAM, ALL)

SORTS = {
    "number": ("number", "id"), "-number": ("-number", "-id"),
    "date": ("issue_date", "id"), "-date": ("-issue_date", "-id"),
    "valid_until": ("valid_until", "id"), "-valid_until": ("-valid_until", "-id"),
    "total": ("total_amount", "id"), "-total": ("-total_amount", "-id"),
    "customer": ("organization__legal_name", "id"), "-customer": ("-organization__legal_name", "-id"),
}  # fmt: skip
DEFAULT_SORT = "-number"
FILTERS = ("state", "organization_id", "owner_id", "scope", "q", "date_from", "date_to", "opportunity_id")


def require_view(actor: Actor) -> None:
    """403 for whoever may see no quote at all (pages, API and exports answer alike)."""
    if not can_view(actor):
        raise PermissionDenied("permission_denied")


def _id(errors: dict[str, list[str]], name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[name] = [_("Choose a valid value.")]
        return None
    return number if 0 < number < 2**63 else 0


def scope_rule(actor: Actor, scope: str) -> Q:
    """ "mine": the actor's quotes; "team": those of the actor's teams (owned by a member or
    made in the team); "all": every quote the actor sees."""
    if scope == ALL or not scope:
        return Q()
    if actor.user_id is None:
        return Q(pk__in=[])
    mine = Q(owner_id=actor.user_id)
    if scope == MINE:
        return mine
    my_teams = list(Team.objects.filter(Q(members=actor.user_id) | Q(manager=actor.user_id))
                    .order_by().values_list("pk", flat=True).distinct())  # fmt: skip
    colleagues = list(User.objects.filter(teams__in=my_teams).order_by().values_list("pk", flat=True).distinct())
    return mine | Q(owner_id__in=colleagues) | Q(team_id__in=my_teams)


def quote_list(actor: Actor, filters: Mapping[str, Any] | None = None, sort: str | None = None) -> QuerySet[Quote]:
    """Quotes the actor sees, filtered (state, organization_id, owner_id, opportunity_id, scope,
    q on number/customer/subject, date_from/date_to on the quote's date) and sorted."""
    require_view(actor)
    filters = filters or {}
    errors: dict[str, list[str]] = {}
    rows = visible_quotes(actor)
    state = filters.get("state")
    if state:
        if state == "open":
            rows = rows.filter(state__in=[QuoteState.DRAFT, QuoteState.SENT])
        elif state in QuoteState.values:
            rows = rows.filter(state=state)
        else:
            errors["state"] = [_("Unknown state.")]
    for name, field in (("organization_id", "organization_id"), ("owner_id", "owner_id"),
                        ("opportunity_id", "opportunity_id")):  # fmt: skip
        number = _id(errors, name, filters.get(name))
        if number is not None:
            rows = rows.filter(**{field: number}) if number else rows.none()
    scope = filters.get("scope") or ""
    if scope and scope not in SCOPES:
        errors["scope"] = [_("Choose among: %(values)s.") % {"values": ", ".join(SCOPES)}]
    elif scope:
        rows = rows.filter(scope_rule(actor, scope))
    for name, lookup in (("date_from", "issue_date__gte"), ("date_to", "issue_date__lte")):
        value = filters.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, dt.date):
            rows = rows.filter(**{lookup: value})
            continue
        try:
            rows = rows.filter(**{lookup: dt.date.fromisoformat(str(value))})
        except ValueError:
            errors[name] = [_("Enter a valid date (YYYY-MM-DD).")]
    q = str(filters.get("q") or "").strip()[:100]
    if q:
        folded = search_text(q)
        rows = rows.filter(
            Q(number__icontains=q)
            | Q(title__icontains=q)
            | Q(organization__search_text__contains=folded)
            | Q(organization__legal_name__icontains=q)
        )
    if sort and sort not in SORTS:
        errors["sort"] = [_("Choose among: %(values)s.") % {"values": ", ".join(SORTS)}]
    if errors:
        raise ValidationFailed(fields=errors)
    return rows.select_related("organization", "owner").order_by(*SORTS[sort or DEFAULT_SORT])


def quote_get(actor: Actor, quote_id: Any) -> Quote:
    require_view(actor)
    if isinstance(quote_id, bool) or not isinstance(quote_id, int) or not 0 < quote_id < 2**63:
        raise NotFound("quote_not_found")
    quote = (
        visible_quotes(actor)
        .select_related("organization", "contact", "owner", "team", "opportunity", "payment_term", "site")
        .filter(pk=quote_id)
        .first()
    )
    if quote is None:
        raise NotFound("quote_not_found")
    return quote


def quote_detail(actor: Actor, quote_id: Any) -> Quote:
    """One quote with its lines and its versions (without their PDF bytes)."""
    quote = quote_get(actor, quote_id)
    quote.line_rows = list(quote.lines.select_related("product", "uom").order_by("position", "id"))  # type: ignore[attr-defined]
    quote.version_rows = list(  # type: ignore[attr-defined]
        quote.versions.order_by("-version").values("id", "version", "created_at", "sent_at", "pdf_sha256")
    )
    return quote


def owner_choices(actor: Actor) -> list[tuple[int, str]]:
    """Users of the company (the owner filter and field)."""
    rows = (
        Membership.objects.filter(company_id=actor.company_id)
        .order_by("user__full_name", "user__email")
        .values_list("user_id", "user__full_name", "user__email")
        .distinct()
    )
    seen: dict[int, str] = {}
    for user_id, name, email in rows:
        seen.setdefault(user_id, name or email)
    return list(seen.items())


def can_manage(actor: Actor) -> bool:
    return actor.has_perm(MANAGE)

"""Reads of contacts. Record rules live here ONCE: UI, API, exports and search start from them.

A user sees the rows they own, the rows owned by members of their teams, the rows of the
teams they belong to or manage, and every row of the company with ``view_all_contacts``.
Rows of other companies are never visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from comptoir.contacts.models import Address, Affiliation, Consent, LifecycleStage, Organization, Person, Tag
from comptoir.contacts.normalize import digits, fold
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.models import SavedView
from comptoir.kernel.pagination import parse_sort
from comptoir.org.models import Team, User

VIEW = "contacts.view_contact"
VIEW_ALL = "contacts.view_all_contacts"


def record_rule(actor: Actor, view_all: str, *, owner: str = "owner", team: str = "team") -> Q | None:
    """The filter of rows ``actor`` may see (None: every row of the company).

    Shared with the CRM (opportunities follow the same rule with their own ``view_all``).
    """
    if actor.has_perm(view_all):
        return None
    if actor.user_id is None:
        return Q(pk__in=[])
    my_teams, colleagues = _team_ids(actor)
    return (
        Q(**{f"{owner}_id": actor.user_id}) | Q(**{f"{owner}_id__in": colleagues}) | Q(**{f"{team}_id__in": my_teams})
    )


def _team_ids(actor: Actor) -> tuple[list[int], list[int]]:
    """The actor's teams (as member or manager) and their members, read once per actor.

    The ids are written into the rule: the database then uses the owner and team indexes,
    where "IN (subquery) OR IN (subquery)" made it probe both subqueries for every row of the
    company (3× slower on 100,000 rows). An actor lives for one request or task, and a page
    applies the rule several times: the ids are kept on it (one query per request).
    """
    cached = getattr(actor, "_contacts_team_ids", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    mine = Team.objects.filter(Q(members=actor.user_id) | Q(manager=actor.user_id)).values("pk")
    pairs = list(Team.objects.filter(pk__in=mine).order_by().values_list("pk", "members"))  # members: LEFT JOIN
    found = (
        sorted({team_id for team_id, _member in pairs}),
        sorted({member for _team, member in pairs if member is not None} - {actor.user_id}),
    )
    object.__setattr__(actor, "_contacts_team_ids", found)  # Actor is frozen: a memo, not state
    return found


def exists_id(value: Any) -> bool:
    """An id a row could have (ids from URLs may be any length: larger ones are simply not found)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _scoped(model: type[Any], actor: Actor) -> QuerySet[Any]:
    if actor.company_id is None or not actor.has_perm(VIEW):
        return model.objects.none()  # type: ignore[no-any-return]
    rows = model.objects.filter(company_id=actor.company_id)
    rule = record_rule(actor, VIEW_ALL)
    return rows if rule is None else rows.filter(rule)  # type: ignore[no-any-return]


def sees_all_organizations(actor: Actor) -> bool:
    """Whether ``visible_organizations`` is just the company filter for the actor: a statement
    written once that filters on the company may then stand for it (the sales hot paths)."""
    return actor.company_id is not None and actor.has_perm(VIEW) and actor.has_perm(VIEW_ALL)


def visible_organizations(actor: Actor) -> QuerySet[Organization]:
    return _scoped(Organization, actor)


def visible_people(actor: Actor) -> QuerySet[Person]:
    return _scoped(Person, actor)


# --- Lists ----------------------------------------------------------------------------

ORGANIZATION_SORT = {
    "name": "legal_name",
    "siren": "siren",
    "lifecycle_stage": "lifecycle_stage",
    "owner": "owner__full_name",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
PERSON_SORT = {
    "name": "last_name",
    "first_name": "first_name",
    "email": "email",
    "lifecycle_stage": "lifecycle_stage",
    "owner": "owner__full_name",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
ORGANIZATION_FILTERS = ("q", "lifecycle_stage", "owner", "team", "tag", "do_not_contact", "archived", "city", "country")
PERSON_FILTERS = ("q", "lifecycle_stage", "owner", "team", "tag", "do_not_contact", "archived", "organization")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def search_filter(q: str | None) -> Q | None:
    """Accent- and case-insensitive search on ``search_text``; phones and identifiers by digits.

    Every word must appear ("jean lefevre"); a query that is mostly digits ("01 42 72",
    "842 157 638") also matches the digits of phones, SIREN and SIRET.
    """
    text = fold(q)
    if not text:
        return None
    words = Q()
    for word in text.split(" "):
        words &= Q(search_text__contains=word)
    number = digits(q)
    if len(number) >= 3 and len(number) * 2 >= len(text.replace(" ", "")):
        digit_rule = Q(search_text__contains=number)
        # Groups of one or two digits ("01 42 72 00 00") say nothing on their own, and no
        # index can serve them (trigrams): the digits together decide.
        if all(len(word) < 3 for word in text.split(" ")):
            return digit_rule
        return words | digit_rule
    return words


def _as_bool(value: Any, name: str, errors: dict[str, list[str]]) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    errors[name] = [_("Enter true or false.")]
    return None


def _as_id(value: Any, name: str, errors: dict[str, list[str]]) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not text.isdigit() or not 0 < int(text) < 2**63:
        errors[name] = [_("Enter a whole number.")]
        return None
    return int(text)


def _filtered(
    rows: QuerySet[Any], filters: Mapping[str, Any], errors: dict[str, list[str]], *, organizations: bool
) -> QuerySet[Any]:
    """Filters both lists share; unknown values are 422 with the field named."""
    stage = filters.get("lifecycle_stage")
    if stage:
        if stage not in LifecycleStage.values:
            errors["lifecycle_stage"] = [_("Choose among: %(values)s.") % {"values": ", ".join(LifecycleStage.values)}]
        else:
            rows = rows.filter(lifecycle_stage=stage)
    owner = filters.get("owner")
    if owner == "none":
        rows = rows.filter(owner__isnull=True)
    elif (owner_id := _as_id(owner, "owner", errors)) is not None:
        rows = rows.filter(owner_id=owner_id)
    if (team_id := _as_id(filters.get("team"), "team", errors)) is not None:
        rows = rows.filter(team_id=team_id)
    if (tag_id := _as_id(filters.get("tag"), "tag", errors)) is not None:
        through = (Organization if organizations else Person).tags.through
        key = "organization_id" if organizations else "person_id"
        rows = rows.filter(Exists(through.objects.filter(**{key: OuterRef("pk")}, tag_id=tag_id)))
    dnc = _as_bool(filters.get("do_not_contact"), "do_not_contact", errors)
    if dnc is not None:
        rows = rows.filter(do_not_contact=dnc)
    archived = _as_bool(filters.get("archived"), "archived", errors)
    # Archived rows are hidden unless asked for; merged rows live on only as links.
    rows = rows.filter(is_archived=bool(archived), merged_into__isnull=True)
    rule = search_filter(filters.get("q"))
    if rule is not None:
        rows = _narrow_to_matches(rows, rule)
    return rows


# A search matching at most this many rows is answered from their ids (see below).
SEARCH_MATCH_CAP = 1000


def _narrow_to_matches(rows: QuerySet[Any], rule: Q) -> QuerySet[Any]:
    """Filter ``rows`` by a text search, fetching the few matching ids first.

    PostgreSQL estimates trigram matches from statistics that swing with each ANALYZE: when it
    guesses hundreds instead of tens, it walks the name-ordered index and filters tens of
    thousands of rows (129 ms instead of 3). Reading the ids first (trigram index, no order)
    bounds the page's query by the real number of matches; a search matching more than the cap
    is common enough for the ordered walk to find a page quickly, so it keeps the plain filter.
    """
    ids = list(rows.filter(rule).order_by().values_list("pk", flat=True)[: SEARCH_MATCH_CAP + 1])
    if len(ids) > SEARCH_MATCH_CAP:
        return rows.filter(rule)
    return rows.filter(pk__in=ids)


def _order(sort: str | None, allowed: dict[str, str], default: str) -> list[str]:
    order = parse_sort(sort, allowed, default)
    return [*order, "-pk" if order[0].startswith("-") else "pk"]


def organization_list(
    actor: Actor, *, filters: Mapping[str, Any] | None = None, sort: str | None = None
) -> QuerySet[Organization]:
    """Organizations the actor sees, filtered and sorted; bad filters or sort → 422."""
    require(actor, VIEW)
    filters = filters or {}
    errors: dict[str, list[str]] = {}
    rows = _filtered(visible_organizations(actor), filters, errors, organizations=True)
    city, country = (filters.get("city") or "").strip(), (filters.get("country") or "").strip().upper()
    if city or country:
        addresses = Address.objects.filter(organization_id=OuterRef("pk"))
        if city:
            addresses = addresses.filter(city__iexact=city)
        if country:
            addresses = addresses.filter(country=country)
        rows = rows.filter(Exists(addresses))
    try:
        order = _order(sort, ORGANIZATION_SORT, "name")
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationFailed(fields=errors)
    return rows.select_related("owner", "team").prefetch_related("tags").order_by(*order)


def person_list(actor: Actor, *, filters: Mapping[str, Any] | None = None, sort: str | None = None) -> QuerySet[Person]:
    """People the actor sees, filtered and sorted; bad filters or sort → 422."""
    require(actor, VIEW)
    filters = filters or {}
    errors: dict[str, list[str]] = {}
    rows = _filtered(visible_people(actor), filters, errors, organizations=False)
    if (org_id := _as_id(filters.get("organization"), "organization", errors)) is not None:
        rows = rows.filter(Exists(Affiliation.objects.filter(person_id=OuterRef("pk"), organization_id=org_id)))
    try:
        order = _order(sort, PERSON_SORT, "name")
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationFailed(fields=errors)
    # Only organizations the actor may see are named beside a person. The rule is applied on
    # the joined organization: "IN (every visible organization)" made PostgreSQL read them all.
    affiliations = Affiliation.objects.filter(organization__company_id=actor.company_id)
    rule = record_rule(actor, VIEW_ALL, owner="organization__owner", team="organization__team")
    if rule is not None:
        affiliations = affiliations.filter(rule)
    affiliations = affiliations.select_related("organization").order_by("-is_primary", "organization__legal_name")
    return (
        rows.select_related("owner", "team")
        .prefetch_related("tags", Prefetch("affiliations", queryset=affiliations))
        .order_by(*order)
    )


# --- Single rows ----------------------------------------------------------------------


def organization_get(actor: Actor, organization_id: int) -> Organization:
    require(actor, VIEW)
    if not exists_id(organization_id):
        raise NotFound("organization_not_found", _("Organization not found."))
    org = visible_organizations(actor).select_related("owner", "team").filter(pk=organization_id).first()
    if org is None:
        raise NotFound("organization_not_found", _("Organization not found."))
    return org


def person_get(actor: Actor, person_id: int) -> Person:
    require(actor, VIEW)
    if not exists_id(person_id):
        raise NotFound("person_not_found", _("Person not found."))
    person = visible_people(actor).select_related("owner", "team").filter(pk=person_id).first()
    if person is None:
        raise NotFound("person_not_found", _("Person not found."))
    return person


def organization_detail(actor: Actor, organization_id: int) -> Organization:
    """An organization with its people (those the actor may see), addresses and tags."""
    require(actor, VIEW)
    if not exists_id(organization_id):
        raise NotFound("organization_not_found", _("Organization not found."))
    people = Affiliation.objects.filter(person__in=visible_people(actor)).select_related("person")
    org = (
        visible_organizations(actor)
        .select_related("owner", "team", "merged_into")
        .prefetch_related(
            "tags",
            Prefetch("addresses", queryset=Address.objects.order_by("kind", "-is_default", "id")),
            Prefetch("affiliations", queryset=people.order_by("-is_primary", "person__last_name", "person__id")),
        )
        .filter(pk=organization_id)
        .first()
    )
    if org is None:
        raise NotFound("organization_not_found", _("Organization not found."))
    return org


def person_detail(actor: Actor, person_id: int) -> Person:
    """A person with their organizations (those the actor may see), contact points, consents, tags."""
    require(actor, VIEW)
    if not exists_id(person_id):
        raise NotFound("person_not_found", _("Person not found."))
    orgs = Affiliation.objects.filter(organization__in=visible_organizations(actor)).select_related("organization")
    person = (
        visible_people(actor)
        .select_related("owner", "team", "merged_into")
        .prefetch_related(
            "tags",
            "contact_points",
            Prefetch("consents", queryset=Consent.objects.order_by("-at", "-id")),
            Prefetch("affiliations", queryset=orgs.order_by("-is_primary", "organization__legal_name")),
        )
        .filter(pk=person_id)
        .first()
    )
    if person is None:
        raise NotFound("person_not_found", _("Person not found."))
    return person


def current_consents(person: Person) -> dict[str, Consent]:
    """The latest decision per channel, from a person loaded by ``person_detail``."""
    latest: dict[str, Consent] = {}
    for consent in person.consents.all():  # newest first
        latest.setdefault(consent.channel, consent)
    return latest


def tag_list(actor: Actor) -> QuerySet[Tag]:
    require(actor, VIEW)
    return Tag.objects.filter(company_id=actor.company_id).order_by("name")


def owner_choices(actor: Actor) -> QuerySet[User]:
    """Users of the company, to assign or filter by owner."""
    return (
        User.objects.filter(memberships__company_id=actor.company_id, is_active=True)
        .distinct()
        .order_by("full_name", "pk")
    )


def team_choices(actor: Actor) -> QuerySet[Team]:
    return Team.objects.filter(company_id=actor.company_id).order_by("name")


# --- Saved views and search -----------------------------------------------------------


def saved_views(actor: Actor, list_key: str) -> QuerySet[SavedView]:
    """The actor's own views of a list and those shared with the company."""
    return SavedView.objects.filter(company_id=actor.company_id, list_key=list_key).filter(
        Q(user_id=actor.user_id) | Q(shared=True)
    )


def search(actor: Actor, query: str, limit: int = 8) -> list[dict[str, Any]]:
    """The global search provider: the same rows and the same matching as the lists."""
    from django.urls import reverse

    if not actor.has_perm(VIEW):
        return []
    results: list[dict[str, Any]] = []
    for org in organization_list(actor, filters={"q": query})[:limit]:
        url = reverse("contacts:organization_detail", args=[org.pk])
        results.append({"label": str(org), "detail": org.siren, "url": url, "kind": "organization"})
    for person in person_list(actor, filters={"q": query})[:limit]:
        url = reverse("contacts:person_detail", args=[person.pk])
        results.append({"label": str(person), "detail": person.email, "url": url, "kind": "person"})
    return results[:limit]

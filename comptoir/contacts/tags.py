"""Tags: the company's one list, managed in one place (create, rename, recolour, delete).

Names are compared folded (accents and case removed): "Client", "client" and "Cliént" are
the same tag, so a second one is a field error rather than a near-duplicate in every filter.
The database constraint only knows exact names, so creating or renaming locks the company
row: two people typing "VIP" and "vip" at once cannot both succeed.

Anyone who changes contacts may create a tag (it is how the forms add one as you type);
renaming and deleting change every contact carrying the tag, including ones the actor may
not see, so they need ``contacts.manage_tags``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from comptoir.contacts import selectors
from comptoir.contacts.models import Organization, Person, Tag
from comptoir.contacts.normalize import fold
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.models import Company

VIEW = "contacts.view_contact"
CHANGE = "contacts.change_contact"
MANAGE = "contacts.manage_tags"
MAX_NAME = 60
DEFAULT_COLOR = "#6c757d"
_COLOR = re.compile(r"^#[0-9a-f]{6}$")


# --- Checks ---------------------------------------------------------------------------


def clean_name(raw: Any) -> str:
    """Spaces collapsed; required; at most 60 characters. Raises ``ValueError(message)``."""
    if raw is not None and not isinstance(raw, str):
        raise ValueError(_("Enter text."))
    name = " ".join((raw or "").split())
    if not name:
        raise ValueError(_("This field is required."))
    if len(name) > MAX_NAME:
        raise ValueError(_("A tag has at most %(n)s characters.") % {"n": MAX_NAME})
    return name


def clean_color(raw: Any) -> str:
    text = (raw or "").strip().lower() if isinstance(raw, str) else None
    if text is None or not _COLOR.match(text):
        raise ValueError(_("Enter a colour such as #1e88e5."))
    return text


def split_names(text: str) -> list[str]:
    """What a user types in a form's "new tags" box: names separated by commas or semicolons."""
    return [part for part in re.split(r"[,;]", text or "") if part.strip()]


def _lock_company(company_id: int) -> None:
    # Serializes tag creation and renaming per company (the folded name is not a column).
    Company.objects.select_for_update().filter(pk=company_id).values_list("pk", flat=True).first()


def _same_name(company_id: int, name: str, *, exclude: int | None = None) -> Tag | None:
    key = fold(name)
    rows = Tag.objects.filter(company_id=company_id)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return next((tag for tag in rows if fold(tag.name) == key), None)


def _company_id(actor: Actor) -> int:
    if actor.company_id is None:
        raise NotFound("company_not_found")
    return actor.company_id


# --- Reads ----------------------------------------------------------------------------


def _count_of(through: Any, column: str, visible: QuerySet[Any]) -> Coalesce:
    rows = (
        through.objects.filter(tag_id=OuterRef("pk"), **{f"{column}__in": visible})
        .order_by()
        .values("tag_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def tag_list(actor: Actor) -> QuerySet[Tag]:
    """The company's tags with how many organizations and people the actor sees carry each."""
    require(actor, VIEW)
    return (
        Tag.objects.filter(company_id=actor.company_id)
        .annotate(
            organization_count=_count_of(
                Organization.tags.through, "organization", selectors.visible_organizations(actor)
            ),
            person_count=_count_of(Person.tags.through, "person", selectors.visible_people(actor)),
        )
        .order_by("name", "pk")
    )


def tag_get(actor: Actor, tag_id: int) -> Tag:
    """One tag with its usage (as ``tag_list`` counts it)."""
    tag = tag_list(actor).filter(pk=tag_id).first() if selectors.exists_id(tag_id) else None
    if tag is None:
        raise NotFound("tag_not_found", _("Tag not found."))
    return tag


def tag_usage(actor: Actor, tag_id: int) -> dict[str, int]:
    """How many contacts of the whole company lose the tag if it is deleted (seen or not)."""
    require(actor, VIEW)
    tag = tag_get(actor, tag_id)
    return {
        "organizations": Organization.tags.through.objects.filter(tag_id=tag.pk).count(),
        "people": Person.tags.through.objects.filter(tag_id=tag.pk).count(),
    }


# --- Writes ---------------------------------------------------------------------------


def _tag_for_update(actor: Actor, tag_id: int) -> Tag:
    tag = None
    if selectors.exists_id(tag_id):
        tag = Tag.objects.select_for_update().filter(company_id=actor.company_id, pk=tag_id).first()
    if tag is None:
        raise NotFound("tag_not_found", _("Tag not found."))
    return tag


def _cleaned(data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for field, check in (("name", clean_name), ("color", clean_color)):
        if field in data:
            try:
                cleaned[field] = check(data[field])
            except ValueError as exc:
                errors[field] = [str(exc)]
    return cleaned


def _taken(company_id: int, name: str, exclude: int | None, errors: dict[str, list[str]]) -> None:
    clash = _same_name(company_id, name, exclude=exclude)
    if clash is not None:
        errors["name"] = [_("The tag “%(name)s” already exists.") % {"name": clash.name}]


def _created(actor: Actor, company_id: int, name: str, color: str = DEFAULT_COLOR) -> Tag:
    tag = Tag.objects.create(company_id=company_id, name=name, color=color)
    audit.record(actor, "contacts.tag_create", tag, changes={"name": [None, name], "color": [None, color]})
    events.publish("contacts.tag_created", company_id=company_id, payload={"tag_id": tag.pk})
    return tag


@transaction.atomic
def tag_create(*, actor: Actor, name: str, color: str = DEFAULT_COLOR) -> Tag:
    require(actor, CHANGE)
    company_id = _company_id(actor)
    errors: dict[str, list[str]] = {}
    cleaned = _cleaned({"name": name, "color": color}, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    _lock_company(company_id)
    _taken(company_id, cleaned["name"], None, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    return _created(actor, company_id, cleaned["name"], cleaned["color"])


@transaction.atomic
def tag_update(*, actor: Actor, tag_id: int, **data: Any) -> Tag:
    """Rename or recolour a tag (the fields given only); every contact carrying it follows."""
    require(actor, MANAGE)
    company_id = _company_id(actor)
    _lock_company(company_id)
    tag = _tag_for_update(actor, tag_id)
    errors: dict[str, list[str]] = {}
    for name in sorted(set(data) - {"name", "color"}):
        errors[name] = [_("Unknown field.")]
    cleaned = _cleaned(data, errors)
    if "name" in cleaned:
        _taken(company_id, cleaned["name"], tag.pk, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    before = audit.snapshot(tag, list(cleaned))
    for field, value in cleaned.items():
        setattr(tag, field, value)
    changes = audit.diff(before, cleaned)
    if changes:
        tag.save()
        audit.record(actor, "contacts.tag_update", tag, changes=changes)
        events.publish(
            "contacts.tag_updated", company_id=company_id, payload={"tag_id": tag.pk, "fields": sorted(changes)}
        )
    return tag


@transaction.atomic
def tag_delete(*, actor: Actor, tag_id: int) -> dict[str, int]:
    """Delete a tag; returns how many organizations and people lost it."""
    require(actor, MANAGE)
    tag = _tag_for_update(actor, tag_id)
    lost = {
        "organizations": Organization.tags.through.objects.filter(tag_id=tag.pk).count(),
        "people": Person.tags.through.objects.filter(tag_id=tag.pk).count(),
    }
    audit.record(actor, "contacts.tag_delete", tag, changes={"name": [tag.name, None], **lost})
    events.publish("contacts.tag_deleted", company_id=tag.company_id, payload={"tag_id": tag.pk, **lost})
    tag.delete()
    return lost


def tags_named(actor: Actor, names: Iterable[Any], errors: dict[str, list[str]], *, field: str) -> list[Tag]:
    """The tags called ``names`` (folded), creating the missing ones — for a service's transaction.

    Bad names are reported under ``field`` and nothing is created; creating needs
    ``contacts.change_contact``, which the calling service has already checked.
    """
    wanted: dict[str, str] = {}
    for raw in names:
        if isinstance(raw, str) and not raw.strip():
            continue
        try:
            name = clean_name(raw)
        except ValueError as exc:
            errors.setdefault(field, []).append(str(exc))
            continue
        wanted.setdefault(fold(name), name)
    if not wanted or field in errors:
        return []
    company_id = _company_id(actor)
    existing = {fold(t.name): t for t in Tag.objects.filter(company_id=company_id)}
    if all(key in existing for key in wanted):
        return [existing[key] for key in wanted]
    if errors:
        # Another field is wrong: nothing will be written, so nothing is created either.
        return []
    _lock_company(company_id)
    existing = {fold(t.name): t for t in Tag.objects.filter(company_id=company_id)}
    return [existing.get(key) or _created(actor, company_id, name) for key, name in wanted.items()]

"""Addresses and contact points (a person's extra emails and phones): reads and the writes
``services`` does not already have.

Reads start from the rows the actor may see (``selectors``), so a contact of another team
is a 404 in the UI and the API alike; writes lock the contact, check and audit like every
contacts service. Adding and removing go through ``services.address_*`` and
``services.contact_point_*``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from comptoir.contacts import selectors, services
from comptoir.contacts.models import Address, ContactPoint, Person
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed

# The main field of a person that a contact point of each kind stands beside.
MAIN_FIELD = {ContactPoint.Kind.EMAIL: "email", ContactPoint.Kind.PHONE: "phone", ContactPoint.Kind.MOBILE: "mobile"}


# --- Addresses ------------------------------------------------------------------------


def organization_addresses(actor: Actor, organization_id: int) -> list[Address]:
    """An organization's addresses (404 if the actor may not see it), default first per kind."""
    org = selectors.organization_get(actor, organization_id)
    return list(Address.objects.filter(organization_id=org.pk).order_by("kind", "-is_default", "id"))


def address_get(actor: Actor, address_id: int) -> Address:
    """An address of an organization the actor sees, with that organization."""
    require(actor, selectors.VIEW)
    address = None
    if selectors.exists_id(address_id):
        address = (
            Address.objects.select_related("organization")
            .filter(pk=address_id, organization__in=selectors.visible_organizations(actor))
            .first()
        )
    if address is None:
        raise NotFound("address_not_found", _("Address not found."))
    return address


# --- Contact points -------------------------------------------------------------------


def person_contact_points(actor: Actor, person_id: int) -> list[ContactPoint]:
    person = selectors.person_get(actor, person_id)
    return list(ContactPoint.objects.filter(person_id=person.pk).order_by("kind", "id"))


def contact_point_get(actor: Actor, contact_point_id: int) -> ContactPoint:
    """A contact point of a person the actor sees, with that person."""
    require(actor, selectors.VIEW)
    point = None
    if selectors.exists_id(contact_point_id):
        point = (
            ContactPoint.objects.select_related("person")
            .filter(pk=contact_point_id, person__in=selectors.visible_people(actor))
            .first()
        )
    if point is None:
        raise NotFound("contact_point_not_found", _("Contact point not found."))
    return point


def _contact_point_for_update(actor: Actor, contact_point_id: int) -> tuple[Person, ContactPoint]:
    require(actor, services.CHANGE)
    point = contact_point_get(actor, contact_point_id)
    person = services._person_for_update(actor, point.person_id)
    locked = ContactPoint.objects.select_for_update().filter(pk=point.pk).first()
    if locked is None:
        raise NotFound("contact_point_not_found", _("Contact point not found."))
    return person, locked


@transaction.atomic
def contact_point_update(*, actor: Actor, contact_point_id: int, **data: Any) -> ContactPoint:
    """Change the kind, value or label of a contact point (the fields given only)."""
    person, point = _contact_point_for_update(actor, contact_point_id)
    cleaned, errors = services.clean_contact_point(person, data, current=point)
    if errors:
        raise ValidationFailed(fields=errors)
    before = audit.snapshot(point, list(cleaned))
    for name, value in cleaned.items():
        setattr(point, name, value)
    changes = audit.diff(before, cleaned)
    if changes:
        point.save()
        audit.record(actor, "contacts.contact_point_update", person, changes={"contact_point": point.pk, **changes})
        events.publish(
            "contacts.contact_point_updated", company_id=person.company_id,
            payload={"person_id": person.pk, "contact_point_id": point.pk},
        )  # fmt: skip
    return point


@transaction.atomic
def contact_point_make_primary(*, actor: Actor, contact_point_id: int) -> Person:
    """Make a contact point the person's main email, phone or mobile (by its kind).

    The main value it replaces is kept as a contact point of the same kind, so nothing is
    lost; returns the person.
    """
    person, point = _contact_point_for_update(actor, contact_point_id)
    field = MAIN_FIELD[ContactPoint.Kind(point.kind)]
    old, new = getattr(person, field), point.value
    setattr(person, field, new)
    person.search_text = services.person_search_text(person)
    person.save()
    kept = None
    if old and not ContactPoint.objects.filter(person=person, kind=point.kind, value=old).exists():
        point.value, point.label = old, ""
        point.save()
        kept = point.pk
    else:
        point.delete()
    audit.record(
        actor, "contacts.contact_point_make_primary", person,
        changes={field: [old, new], "contact_point": [contact_point_id, kept]},
    )  # fmt: skip
    events.publish(
        "contacts.person_updated", company_id=person.company_id, payload={"person_id": person.pk, "fields": [field]}
    )
    return person

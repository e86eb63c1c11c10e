"""Every write of contacts: organizations, people, affiliations, addresses, tags, consents.

Each service takes an ``actor``, runs in one transaction, checks ``contacts.change_contact``
and the record rule (a row the actor cannot see is a 404, even to change it), validates
with ``contacts.validators`` (nothing is written when any field is wrong), keeps
``search_text``/``web_domain`` up to date, writes the audit entry and publishes an event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.contacts import selectors, validators
from comptoir.contacts import tags as tag_services
from comptoir.contacts.models import Address, Affiliation, Consent, ContactPoint, Organization, Person, Tag
from comptoir.contacts.normalize import search_text, web_domain
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.models import SavedView
from comptoir.org.models import Membership, Team

CHANGE = "contacts.change_contact"

ORGANIZATION_FIELDS = [*validators.ORGANIZATION_FIELDS, "do_not_contact", "owner_id", "team_id"]
PERSON_FIELDS = [*validators.PERSON_FIELDS, "do_not_contact", "owner_id", "team_id"]


def organization_search_text(org: Organization) -> str:
    return search_text(
        org.legal_name, org.trade_name, org.siren, org.siret, org.vat_number, org.email, org.phone,
        validators.phone_national_digits(org.phone), org.web_domain, org.external_id,
    )  # fmt: skip


def person_search_text(person: Person) -> str:
    return search_text(
        person.first_name, person.last_name, person.email, person.phone,
        validators.phone_national_digits(person.phone), person.mobile,
        validators.phone_national_digits(person.mobile), person.job_title, person.external_id,
    )  # fmt: skip


def _company_id(actor: Actor) -> int:
    if actor.company_id is None:
        raise NotFound("company_not_found")
    return actor.company_id


def _assignment(actor: Actor, data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """Owner and team must belong to the actor's company (unknown ids are field errors)."""
    cleaned: dict[str, Any] = {}
    if "owner_id" in data:
        owner_id = data["owner_id"]
        if owner_id in (None, ""):
            cleaned["owner_id"] = None
        elif (
            not _is_id(owner_id)
            or not Membership.objects.filter(
                company_id=actor.company_id, user_id=owner_id, user__is_active=True
            ).exists()
        ):
            errors["owner_id"] = [_("Choose a user of your company.")]
        else:
            cleaned["owner_id"] = int(owner_id)
    if "team_id" in data:
        team_id = data["team_id"]
        if team_id in (None, ""):
            cleaned["team_id"] = None
        elif not _is_id(team_id) or not Team.objects.filter(company_id=actor.company_id, pk=team_id).exists():
            errors["team_id"] = [_("Choose a team of your company.")]
        else:
            cleaned["team_id"] = int(team_id)
    return cleaned


def _check_still_visible(actor: Actor, owner_id: int | None, team_id: int | None, errors: dict[str, list[str]]) -> None:
    """Refuse an owner/team that would hide the row from the actor making the change."""
    if "owner_id" in errors or "team_id" in errors:
        return
    rule = selectors.record_rule(actor, selectors.VIEW_ALL)
    if rule is None or owner_id == actor.user_id:
        return
    my_teams = set(
        Team.objects.filter(Q(members=actor.user_id) | Q(manager=actor.user_id)).values_list("pk", flat=True)
    )
    colleagues = set(Team.members.through.objects.filter(team_id__in=my_teams).values_list("user_id", flat=True))
    if team_id in my_teams or owner_id in colleagues:
        return
    errors["owner_id"] = [_("You would no longer see this contact: choose yourself, a team member or your team.")]


def _is_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 < value < 2**63
    return isinstance(value, str) and value.isdigit() and 0 < int(value) < 2**63


def _tags(actor: Actor, tag_ids: Iterable[Any], errors: dict[str, list[str]]) -> list[Tag]:
    ids = list(tag_ids)
    if not all(_is_id(t) for t in ids):
        errors["tag_ids"] = [_("Choose tags of your company.")]
        return []
    wanted = {int(t) for t in ids}
    tags = list(Tag.objects.filter(company_id=actor.company_id, pk__in=wanted))
    if len(tags) != len(wanted):
        errors["tag_ids"] = [_("Choose tags of your company.")]
    return tags


def _named_tags(
    actor: Actor, tags: list[Tag] | None, tag_names: Iterable[Any] | str, errors: dict[str, list[str]], obj: Any = None
) -> list[Tag] | None:
    """Add the tags called ``tag_names`` (created when missing) to ``tags``, or to the row's own.

    Call it last: it creates tags only when no other field is wrong.
    """
    names = tag_services.split_names(tag_names) if isinstance(tag_names, str) else list(tag_names or ())
    if not names:
        return tags
    named = tag_services.tags_named(actor, names, errors, field="tag_names")
    base = tags if tags is not None else (list(obj.tags.all()) if obj is not None else [])
    return list({t.pk: t for t in [*base, *named]}.values())


def _unknown(data: dict[str, Any], allowed: Iterable[str], errors: dict[str, list[str]]) -> None:
    for name in sorted(set(data) - set(allowed)):
        errors[name] = [_("Unknown field.")]


def _set_tags(obj: Organization | Person, tags: list[Tag]) -> list[int]:
    ids = sorted(t.pk for t in tags)
    obj.tags.set(tags)
    return ids


# --- Organizations --------------------------------------------------------------------


def _organization_for_update(actor: Actor, organization_id: int) -> Organization:
    require(actor, CHANGE)
    org = None
    if selectors.exists_id(organization_id):
        org = selectors.visible_organizations(actor).select_for_update().filter(pk=organization_id).first()
    if org is None:
        raise NotFound("organization_not_found", _("Organization not found."))
    return org


def _check_org_identifiers(actor: Actor, cleaned: dict[str, Any], errors: dict[str, list[str]], exclude: int | None):
    """SIRET and SIREN agree; an external id is unique in the company."""
    if cleaned.get("external_id") and "external_id" not in errors:
        clash = Organization.objects.filter(company_id=actor.company_id, external_id=cleaned["external_id"])
        if exclude is not None:
            clash = clash.exclude(pk=exclude)
        if clash.exists():
            errors["external_id"] = [_("Another organization has this external id.")]


@transaction.atomic
def organization_create(
    *, actor: Actor, tag_ids: Iterable[Any] = (), tag_names: Iterable[Any] | str = (), **data: Any
) -> Organization:
    """Create an organization; its owner is the actor unless ``owner_id`` says otherwise.

    ``tag_names`` adds tags by name, creating the ones the company does not have yet.
    """
    require(actor, CHANGE)
    company_id = _company_id(actor)
    errors: dict[str, list[str]] = {}
    _unknown(data, ORGANIZATION_FIELDS, errors)
    cleaned, field_errors = validators.clean_organization({k: v for k, v in data.items() if k in ORGANIZATION_FIELDS})
    errors.update(field_errors)
    cleaned.update(_assignment(actor, {"owner_id": actor.user_id, **data}, errors))
    _check_still_visible(actor, cleaned.get("owner_id"), cleaned.get("team_id"), errors)
    _check_org_identifiers(actor, cleaned, errors, exclude=None)
    tags = _named_tags(actor, _tags(actor, tag_ids, errors), tag_names, errors) or []
    if errors:
        raise ValidationFailed(fields=errors)
    org = Organization(company_id=company_id, **cleaned)
    org.web_domain = web_domain(org.website or org.email)
    org.search_text = organization_search_text(org)
    org.save()
    changes = audit.diff({}, cleaned)
    if tags:
        changes["tags"] = [[], _set_tags(org, tags)]
    audit.record(actor, "contacts.organization_create", org, changes=changes)
    events.publish("contacts.organization_created", company_id=company_id, payload={"organization_id": org.pk})
    return org


@transaction.atomic
def organization_update(
    *,
    actor: Actor,
    organization_id: int,
    tag_ids: Iterable[Any] | None = None,
    tag_names: Iterable[Any] | str = (),
    **data: Any,
) -> Organization:
    """Change the given fields only (a PATCH); ``tag_ids`` replaces the tags when given."""
    org = _organization_for_update(actor, organization_id)
    errors: dict[str, list[str]] = {}
    _unknown(data, ORGANIZATION_FIELDS, errors)
    given = {k: v for k, v in data.items() if k in ORGANIZATION_FIELDS}
    cleaned, field_errors = validators.clean_organization(given, partial=True)
    errors.update(field_errors)
    cleaned.update(_assignment(actor, data, errors))
    if "owner_id" in cleaned or "team_id" in cleaned:
        _check_still_visible(actor, cleaned.get("owner_id", org.owner_id), cleaned.get("team_id", org.team_id), errors)
    if "siret" not in errors and "siren" not in errors:
        siren = cleaned.get("siren", org.siren)
        siret = cleaned.get("siret", org.siret)
        if siret and not siren:
            cleaned["siren"] = siret[:9]
        elif siret and siret[:9] != siren:
            errors["siret"] = [_("The SIRET must start with the organization's SIREN (%(siren)s).") % {"siren": siren}]
    _check_org_identifiers(actor, cleaned, errors, exclude=org.pk)
    tags = _tags(actor, tag_ids, errors) if tag_ids is not None else None
    tags = _named_tags(actor, tags, tag_names, errors, org)
    if errors:
        raise ValidationFailed(fields=errors)
    before = audit.snapshot(org, list(cleaned))
    for name, value in cleaned.items():
        setattr(org, name, value)
    org.web_domain = web_domain(org.website or org.email)
    org.search_text = organization_search_text(org)
    org.save()
    changes = audit.diff(before, cleaned)
    if tags is not None:
        old = sorted(org.tags.values_list("pk", flat=True))
        new = _set_tags(org, tags)
        if old != new:
            changes["tags"] = [old, new]
    if changes:
        audit.record(actor, "contacts.organization_update", org, changes=changes)
        events.publish(
            "contacts.organization_updated",
            company_id=org.company_id,
            payload={"organization_id": org.pk, "fields": sorted(changes)},
        )
    return org


@transaction.atomic
def organization_archive(*, actor: Actor, organization_id: int, archived: bool = True) -> Organization:
    """Archive (or restore) an organization: it leaves the lists but keeps its history."""
    org = _organization_for_update(actor, organization_id)
    if org.is_archived != archived:
        org.is_archived = archived
        org.save(update_fields=["is_archived", "updated_at"])
        action = "archive" if archived else "restore"
        audit.record(actor, f"contacts.organization_{action}", org, changes={"is_archived": [not archived, archived]})
        events.publish(
            f"contacts.organization_{action}d", company_id=org.company_id, payload={"organization_id": org.pk}
        )
    return org


# --- People ---------------------------------------------------------------------------


def _person_for_update(actor: Actor, person_id: int) -> Person:
    require(actor, CHANGE)
    person = None
    if selectors.exists_id(person_id):
        person = selectors.visible_people(actor).select_for_update().filter(pk=person_id).first()
    if person is None:
        raise NotFound("person_not_found", _("Person not found."))
    return person


def _check_person_identifiers(actor: Actor, cleaned: dict[str, Any], errors: dict[str, list[str]], exclude: int | None):
    if cleaned.get("external_id") and "external_id" not in errors:
        clash = Person.objects.filter(company_id=actor.company_id, external_id=cleaned["external_id"])
        if exclude is not None:
            clash = clash.exclude(pk=exclude)
        if clash.exists():
            errors["external_id"] = [_("Another person has this external id.")]


@transaction.atomic
def person_create(
    *,
    actor: Actor,
    tag_ids: Iterable[Any] = (),
    tag_names: Iterable[Any] | str = (),
    organization_id: Any = None,
    role: str = "",
    **data: Any,
) -> Person:
    """Create a person; ``organization_id`` (one the actor sees) makes it their primary organization."""
    require(actor, CHANGE)
    company_id = _company_id(actor)
    errors: dict[str, list[str]] = {}
    _unknown(data, PERSON_FIELDS, errors)
    cleaned, field_errors = validators.clean_person({k: v for k, v in data.items() if k in PERSON_FIELDS})
    errors.update(field_errors)
    cleaned.update(_assignment(actor, {"owner_id": actor.user_id, **data}, errors))
    _check_still_visible(actor, cleaned.get("owner_id"), cleaned.get("team_id"), errors)
    _check_person_identifiers(actor, cleaned, errors, exclude=None)
    tags = _tags(actor, tag_ids, errors)
    org = None
    if organization_id not in (None, ""):
        org = (
            selectors.visible_organizations(actor).filter(pk=organization_id).first()
            if _is_id(organization_id)
            else None
        )
        if org is None:
            errors["organization_id"] = [_("Choose an organization you can see.")]
    if len(role or "") > 100:
        errors["role"] = [_("At most %(n)s characters.") % {"n": 100}]
    tags = _named_tags(actor, tags, tag_names, errors) or []
    if errors:
        raise ValidationFailed(fields=errors)
    person = Person(company_id=company_id, **cleaned)
    person.search_text = person_search_text(person)
    person.save()
    changes = audit.diff({}, cleaned)
    if tags:
        changes["tags"] = [[], _set_tags(person, tags)]
    if org is not None:
        Affiliation.objects.create(person=person, organization=org, role=(role or "").strip(), is_primary=True)
        changes["organization"] = [None, org.pk]
    audit.record(actor, "contacts.person_create", person, changes=changes)
    events.publish("contacts.person_created", company_id=company_id, payload={"person_id": person.pk})
    return person


@transaction.atomic
def person_update(
    *,
    actor: Actor,
    person_id: int,
    tag_ids: Iterable[Any] | None = None,
    tag_names: Iterable[Any] | str = (),
    **data: Any,
) -> Person:
    person = _person_for_update(actor, person_id)
    errors: dict[str, list[str]] = {}
    _unknown(data, PERSON_FIELDS, errors)
    cleaned, field_errors = validators.clean_person({k: v for k, v in data.items() if k in PERSON_FIELDS}, partial=True)
    errors.update(field_errors)
    cleaned.update(_assignment(actor, data, errors))
    if "owner_id" in cleaned or "team_id" in cleaned:
        owner_id, team_id = cleaned.get("owner_id", person.owner_id), cleaned.get("team_id", person.team_id)
        _check_still_visible(actor, owner_id, team_id, errors)
    _check_person_identifiers(actor, cleaned, errors, exclude=person.pk)
    tags = _tags(actor, tag_ids, errors) if tag_ids is not None else None
    tags = _named_tags(actor, tags, tag_names, errors, person)
    if errors:
        raise ValidationFailed(fields=errors)
    before = audit.snapshot(person, list(cleaned))
    for name, value in cleaned.items():
        setattr(person, name, value)
    person.search_text = person_search_text(person)
    person.save()
    changes = audit.diff(before, cleaned)
    if tags is not None:
        old = sorted(person.tags.values_list("pk", flat=True))
        new = _set_tags(person, tags)
        if old != new:
            changes["tags"] = [old, new]
    if changes:
        audit.record(actor, "contacts.person_update", person, changes=changes)
        events.publish(
            "contacts.person_updated", company_id=person.company_id,
            payload={"person_id": person.pk, "fields": sorted(changes)},
        )  # fmt: skip
    return person


@transaction.atomic
def person_archive(*, actor: Actor, person_id: int, archived: bool = True) -> Person:
    person = _person_for_update(actor, person_id)
    if person.is_archived != archived:
        person.is_archived = archived
        person.save(update_fields=["is_archived", "updated_at"])
        action = "archive" if archived else "restore"
        audit.record(actor, f"contacts.person_{action}", person, changes={"is_archived": [not archived, archived]})
        events.publish(f"contacts.person_{action}d", company_id=person.company_id, payload={"person_id": person.pk})
    return person


# --- Affiliations ---------------------------------------------------------------------


@transaction.atomic
def affiliation_set(
    *, actor: Actor, person_id: int, organization_id: int, role: str = "", is_primary: bool = False
) -> Affiliation:
    """Link a person to an organization (or change the link's role); both must be visible."""
    person = _person_for_update(actor, person_id)
    org = None
    if selectors.exists_id(organization_id):
        org = selectors.visible_organizations(actor).filter(pk=organization_id).first()
    if org is None:
        raise NotFound("organization_not_found", _("Organization not found."))
    role = (role or "").strip()
    if len(role) > 100:
        raise ValidationFailed(fields={"role": [_("At most %(n)s characters.") % {"n": 100}]})
    if is_primary:
        Affiliation.objects.filter(person=person, is_primary=True).exclude(organization=org).update(is_primary=False)
    link, created = Affiliation.objects.update_or_create(
        person=person, organization=org, defaults={"role": role, "is_primary": is_primary}
    )
    audit.record(
        actor, "contacts.affiliation_set", person,
        changes={"organization": org.pk, "role": role, "is_primary": is_primary, "created": created},
    )  # fmt: skip
    events.publish(
        "contacts.affiliation_set", company_id=person.company_id,
        payload={"person_id": person.pk, "organization_id": org.pk},
    )  # fmt: skip
    return link


@transaction.atomic
def affiliation_remove(*, actor: Actor, person_id: int, organization_id: int) -> None:
    person = _person_for_update(actor, person_id)
    deleted = 0
    if selectors.exists_id(organization_id):
        deleted, _rows = Affiliation.objects.filter(person=person, organization_id=organization_id).delete()
    if not deleted:
        raise NotFound("affiliation_not_found", _("This person is not linked to that organization."))
    audit.record(actor, "contacts.affiliation_remove", person, changes={"organization": [organization_id, None]})
    events.publish(
        "contacts.affiliation_removed", company_id=person.company_id,
        payload={"person_id": person.pk, "organization_id": organization_id},
    )  # fmt: skip


# --- Addresses ------------------------------------------------------------------------

ADDRESS_FIELDS = ("kind", "label", "line1", "line2", "postal_code", "city", "country", "siret", "is_default")


def _clean_address(org: Organization, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    _unknown(data, ADDRESS_FIELDS, errors)
    if not partial:
        data = {"kind": Address.Kind.BILLING, "line1": "", "city": "", "country": "FR", **data}
    cleaned: dict[str, Any] = {}
    limits = {"label": 100, "line1": 200, "line2": 200, "postal_code": 20, "city": 100}
    for name, value in data.items():
        if name not in ADDRESS_FIELDS:
            continue
        if name == "is_default":
            if not isinstance(value, bool):
                errors[name] = [_("Enter true or false.")]
            else:
                cleaned[name] = value
            continue
        if value is not None and not isinstance(value, str):
            errors[name] = [_("Enter text.")]
            continue
        text = (value or "").strip()
        try:
            if name == "kind":
                if text not in Address.Kind.values:
                    raise ValueError(_("Choose among: %(values)s.") % {"values": ", ".join(Address.Kind.values)})
            elif name == "country":
                text = validators.clean_country(text)
            elif name == "siret":
                if text:
                    text = validators.clean_siret(text)
                    if org.siren and text[:9] != org.siren:
                        raise ValueError(
                            _("The SIRET must start with the organization's SIREN (%(siren)s).") % {"siren": org.siren}
                        )
            elif name in ("line1", "city") and not text:
                raise ValueError(_("This field is required."))
            elif len(text) > limits[name]:
                raise ValueError(_("At most %(n)s characters.") % {"n": limits[name]})
        except ValueError as exc:
            errors[name] = [str(exc)]
            continue
        cleaned[name] = text
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def _only_default(address: Address) -> None:
    if address.is_default:
        Address.objects.filter(organization_id=address.organization_id, kind=address.kind, is_default=True).exclude(
            pk=address.pk
        ).update(is_default=False)


@transaction.atomic
def address_add(*, actor: Actor, organization_id: int, **data: Any) -> Address:
    org = _organization_for_update(actor, organization_id)
    cleaned = _clean_address(org, data, partial=False)
    address = Address.objects.create(organization=org, **cleaned)
    _only_default(address)
    audit.record(actor, "contacts.address_add", org, changes={"address": address.pk, **audit.diff({}, cleaned)})
    events.publish(
        "contacts.address_added", company_id=org.company_id,
        payload={"organization_id": org.pk, "address_id": address.pk},
    )  # fmt: skip
    return address


def _address_for_update(actor: Actor, address_id: int) -> tuple[Organization, Address]:
    require(actor, CHANGE)
    if not selectors.exists_id(address_id):
        raise NotFound("address_not_found", _("Address not found."))
    address = (
        Address.objects.select_for_update()
        .filter(pk=address_id, organization__in=selectors.visible_organizations(actor))
        .first()
    )
    if address is None:
        raise NotFound("address_not_found", _("Address not found."))
    return _organization_for_update(actor, address.organization_id), address


@transaction.atomic
def address_update(*, actor: Actor, address_id: int, **data: Any) -> Address:
    org, address = _address_for_update(actor, address_id)
    cleaned = _clean_address(org, data, partial=True)
    before = audit.snapshot(address, list(cleaned))
    for name, value in cleaned.items():
        setattr(address, name, value)
    address.save()
    _only_default(address)
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor, "contacts.address_update", org, changes={"address": address.pk, **changes})
        events.publish(
            "contacts.address_updated", company_id=org.company_id,
            payload={"organization_id": org.pk, "address_id": address.pk},
        )  # fmt: skip
    return address


@transaction.atomic
def address_remove(*, actor: Actor, address_id: int) -> Organization:
    """Remove an address; returns its organization."""
    org, address = _address_for_update(actor, address_id)
    address_pk = address.pk
    address.delete()
    audit.record(actor, "contacts.address_remove", org, changes={"address": [address_pk, None]})
    events.publish(
        "contacts.address_removed", company_id=org.company_id,
        payload={"organization_id": org.pk, "address_id": address_pk},
    )  # fmt: skip
    return org


# --- Tags -----------------------------------------------------------------------------


@transaction.atomic
def tags_set(
    *, actor: Actor, names: Iterable[str], organization_id: int | None = None, person_id: int | None = None
) -> list[Tag]:
    """Replace the tags of one organization or person by ``names`` (tags are created as needed)."""
    if (organization_id is None) == (person_id is None):
        raise ValidationFailed(fields={"__all__": [_("Give an organization or a person.")]})
    obj: Organization | Person = (
        _organization_for_update(actor, organization_id)
        if organization_id is not None
        else _person_for_update(actor, person_id)  # type: ignore[arg-type]
    )
    errors: dict[str, list[str]] = {}
    # Matched ignoring accents and case; missing tags are created (and audited).
    tags = tag_services.tags_named(actor, names, errors, field="tags")
    if errors:
        raise ValidationFailed(fields=errors)
    old = sorted(obj.tags.values_list("name", flat=True))
    obj.tags.set(tags)
    new = sorted(t.name for t in tags)
    if old != new:
        audit.record(actor, f"contacts.{obj._meta.model_name}_tags", obj, changes={"tags": [old, new]})
        events.publish(
            "contacts.tags_set", company_id=obj.company_id,
            payload={"object_type": obj._meta.model_name, "object_id": obj.pk, "tags": new},
        )  # fmt: skip
    return sorted(tags, key=lambda t: t.name)


# --- Consents and contact points ------------------------------------------------------


@transaction.atomic
def consent_record(
    *, actor: Actor, person_id: int, channel: str, granted: bool, source: str, at: dt.datetime | None = None
) -> Consent:
    """Record a consent decision (history is kept: the newest row per channel is current)."""
    person = _person_for_update(actor, person_id)
    errors: dict[str, list[str]] = {}
    if channel not in Consent.Channel.values:
        errors["channel"] = [_("Choose among: %(values)s.") % {"values": ", ".join(Consent.Channel.values)}]
    if not isinstance(granted, bool):
        errors["granted"] = [_("Enter true or false.")]
    source = (source or "").strip() if isinstance(source, str) else ""
    if not source:
        errors["source"] = [_("Say where the consent was given or withdrawn.")]
    elif len(source) > 200:
        errors["source"] = [_("At most %(n)s characters.") % {"n": 200}]
    now = timezone.now()
    if at is None:
        at = now
    elif not isinstance(at, dt.datetime) or timezone.is_naive(at):
        errors["at"] = [_("Enter a date and time with its time zone.")]
    elif at > now + dt.timedelta(minutes=5):
        errors["at"] = [_("A consent cannot be dated in the future.")]
    if errors:
        raise ValidationFailed(fields=errors)
    consent = Consent.objects.create(person=person, channel=channel, granted=granted, source=source, at=at)
    audit.record(
        actor, "contacts.consent_record", person,
        changes={"channel": channel, "granted": granted, "source": source, "at": at},
    )  # fmt: skip
    events.publish(
        "contacts.consent_recorded", company_id=person.company_id,
        payload={"person_id": person.pk, "channel": channel, "granted": granted},
    )  # fmt: skip
    return consent


PHONE_KINDS = (ContactPoint.Kind.PHONE, ContactPoint.Kind.MOBILE)


def clean_contact_point(
    person: Person, data: dict[str, Any], *, current: ContactPoint | None = None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Kind, value (email in lower case, phone in E.164) and label, checked against the person's others.

    ``data`` holds the fields given; with ``current`` (an edit) the missing ones keep its values.
    A value the person already has — as a contact point or as their main email, phone or
    mobile — is refused.
    """
    errors: dict[str, list[str]] = {}
    for name in sorted(set(data) - {"kind", "value", "label"}):
        errors[name] = [_("Unknown field.")]
    given = {k: data[k] for k in ("kind", "value", "label") if k in data}
    for name, raw in given.items():
        if raw is not None and not isinstance(raw, str):
            errors[name] = [_("Enter text.")]
    if errors:
        return {}, errors
    kind = given.get("kind", current.kind if current else "") or ""
    value = given.get("value", current.value if current else "") or ""
    label = (given.get("label", current.label if current else "") or "").strip()
    cleaned = ""
    try:
        if kind == ContactPoint.Kind.EMAIL:
            cleaned = validators.clean_email(value)
        elif kind in PHONE_KINDS:
            cleaned = validators.clean_phone(value)
        else:
            errors["kind"] = [_("Choose among: %(values)s.") % {"values": ", ".join(ContactPoint.Kind.values)}]
    except ValueError as exc:
        errors["value"] = [str(exc)]
    if len(label) > 40:
        errors["label"] = [_("At most %(n)s characters.") % {"n": 40}]
    if not errors:
        kinds = [ContactPoint.Kind.EMAIL] if kind == ContactPoint.Kind.EMAIL else list(PHONE_KINDS)
        main = [person.email.lower()] if kind == ContactPoint.Kind.EMAIL else [person.phone, person.mobile]
        others = ContactPoint.objects.filter(person=person, kind__in=kinds, value=cleaned)
        if current is not None:
            others = others.exclude(pk=current.pk)
        if cleaned in main or others.exists():
            errors["value"] = [_("This person already has this contact point.")]
    return {"kind": kind, "value": cleaned, "label": label}, errors


@transaction.atomic
def contact_point_add(*, actor: Actor, person_id: int, kind: str, value: str, label: str = "") -> ContactPoint:
    person = _person_for_update(actor, person_id)
    cleaned, errors = clean_contact_point(person, {"kind": kind, "value": value, "label": label})
    if errors:
        raise ValidationFailed(fields=errors)
    point = ContactPoint.objects.create(person=person, **cleaned)
    audit.record(
        actor, "contacts.contact_point_add", person,
        changes={"contact_point": point.pk, "kind": point.kind, "value": point.value, "label": point.label},
    )  # fmt: skip
    events.publish(
        "contacts.contact_point_added", company_id=person.company_id,
        payload={"person_id": person.pk, "contact_point_id": point.pk},
    )  # fmt: skip
    return point


@transaction.atomic
def contact_point_remove(*, actor: Actor, contact_point_id: int) -> None:
    require(actor, CHANGE)
    if not selectors.exists_id(contact_point_id):
        raise NotFound("contact_point_not_found", _("Contact point not found."))
    point = ContactPoint.objects.filter(pk=contact_point_id, person__in=selectors.visible_people(actor)).first()
    if point is None:
        raise NotFound("contact_point_not_found", _("Contact point not found."))
    person = _person_for_update(actor, point.person_id)
    values = {"kind": point.kind, "value": point.value}
    point.delete()
    audit.record(actor, "contacts.contact_point_remove", person, changes=values)
    events.publish("contacts.contact_point_removed", company_id=person.company_id, payload={"person_id": person.pk})


# --- Saved views ----------------------------------------------------------------------

LIST_KEYS = ("contacts.organizations", "contacts.people")


@transaction.atomic
def saved_view_save(*, actor: Actor, list_key: str, name: str, query: str, shared: bool = False) -> SavedView:
    """Save (or overwrite, by name) the actor's view of a contacts list."""
    require(actor, "contacts.view_contact")
    errors: dict[str, list[str]] = {}
    if list_key not in LIST_KEYS:
        errors["list_key"] = [_("Unknown list.")]
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > 100:
        errors["name"] = [_("At most %(n)s characters.") % {"n": 100}]
    if len(query or "") > 2000:
        errors["query"] = [_("At most %(n)s characters.") % {"n": 2000}]
    if errors:
        raise ValidationFailed(fields=errors)
    view, _created = SavedView.objects.update_or_create(
        company_id=_company_id(actor), user_id=actor.user_id, list_key=list_key, name=name,
        defaults={"query": query or "", "shared": bool(shared)},
    )  # fmt: skip
    audit.record(actor, "contacts.saved_view_save", view, changes={"name": name, "query": query, "shared": shared})
    return view


@transaction.atomic
def saved_view_delete(*, actor: Actor, view_id: int) -> None:
    """Only the view's author deletes it (a shared view is read-only to others: 404)."""
    view = None
    if selectors.exists_id(view_id):
        view = SavedView.objects.filter(pk=view_id, company_id=actor.company_id, user_id=actor.user_id).first()
    if view is None:
        raise NotFound("saved_view_not_found", _("Saved view not found."))
    audit.record(actor, "contacts.saved_view_delete", view, changes={"name": [view.name, None]})
    view.delete()

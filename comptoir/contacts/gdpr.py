"""GDPR: export everything held about a person; erase (anonymize or delete) where the law allows.

Erasure is refused (409) while a legal retention applies. Contacts itself knows of none:
apps holding documents with retention periods (invoices: 10 years in France) register a
check with ``register_retention_check``; each returns a reason to keep the person, or None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from comptoir.contacts import selectors
from comptoir.contacts.models import Consent, ContactPoint, Person
from comptoir.contacts.services import person_search_text
from comptoir.kernel import audit, authz, events
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.models import AuditEntry

PERMISSION = "contacts.erase_personal_data"
MODES = ("anonymize", "delete")

RetentionCheck = Callable[[Person], Any]
_retention_checks: dict[str, RetentionCheck] = {}


def register_retention_check(key: str, check: RetentionCheck) -> None:
    """``check(person)`` returns why the person must be kept (e.g. "invoices less than 10 years old") or None."""
    _retention_checks[key] = check


def unregister_retention_check(key: str) -> None:
    _retention_checks.pop(key, None)


def retention_reasons(person: Person) -> list[str]:
    return [str(reason) for check in _retention_checks.values() if (reason := check(person))]


# Fields that describe the person; what erasure replaces, and what the export lists first.
PERSONAL_FIELDS = ("first_name", "last_name", "job_title", "email", "phone", "mobile", "external_id", "notes")
OTHER_FIELDS = ("lifecycle_stage", "do_not_contact", "is_archived", "created_at", "updated_at")


def _person(actor: Actor, person_id: int) -> Person:
    """The person if the actor sees them (404 otherwise), then the permission (403)."""
    person = (
        selectors.visible_people(actor).select_related("owner", "team").filter(pk=person_id).first()
        if actor.has_perm(selectors.VIEW)
        else None
    )
    if person is None:
        raise NotFound("person_not_found", _("Person not found."))
    authz.require(actor, PERMISSION)
    return person


def person_for_erasure(actor: Actor, person_id: int) -> Person:
    return _person(actor, person_id)


def person_export(actor: Actor, person_id: int) -> dict[str, Any]:
    """Everything held about the person: fields, contact points, affiliations, consents, audit trail."""
    person = _person(actor, person_id)
    person = (
        Person.objects.select_related("owner", "team")
        .prefetch_related("tags", "contact_points", "consents", "affiliations__organization")
        .get(pk=person.pk)
    )
    merged = list(Person.objects.filter(merged_into=person).values("id", *PERSONAL_FIELDS))
    trail = AuditEntry.objects.filter(
        company_id=person.company_id, object_type="contacts.person", object_id__in=[str(person.pk)]
    ).order_by("at", "id")
    return {
        "exported_at": timezone.now().isoformat(),
        "person": {
            "id": person.pk,
            **{name: getattr(person, name) for name in PERSONAL_FIELDS},
            **{name: getattr(person, name) for name in OTHER_FIELDS},
            "owner": person.owner.email if person.owner else None,
            "team": person.team.name if person.team else None,
            "tags": [tag.name for tag in person.tags.all()],
        },
        "contact_points": [
            {"kind": cp.kind, "value": cp.value, "label": cp.label, "created_at": cp.created_at}
            for cp in person.contact_points.all()
        ],
        "affiliations": [
            {
                "organization_id": a.organization_id,
                "organization": a.organization.legal_name,
                "role": a.role,
                "is_primary": a.is_primary,
            }
            for a in person.affiliations.all()
        ],
        "consents": [
            {"channel": c.channel, "granted": c.granted, "at": c.at, "source": c.source}
            for c in sorted(person.consents.all(), key=lambda c: (c.at, c.pk))
        ],
        "merged_records": merged,
        "audit_trail": [
            {"at": e.at, "actor": e.actor_label, "channel": e.channel, "action": e.action, "changes": e.changes}
            for e in trail
        ],
    }


def person_erase(*, actor: Actor, person_id: int, mode: str = "anonymize") -> Person | None:
    """Anonymize (rows other records point at are kept) or delete the person and their merged duplicates.

    Refused with 409 while a retention check gives a reason; the audit entry records what was
    erased (field names, counts), never the erased values.
    """
    if mode not in MODES:
        raise ValidationFailed(
            fields={"mode": [gettext("Choose one of: %(choices)s.") % {"choices": ", ".join(MODES)}]}
        )
    with transaction.atomic():
        person = _person(actor, person_id)
        person = Person.objects.select_for_update().get(pk=person.pk)
        reasons = retention_reasons(person)
        if reasons:
            raise Conflict(
                "retention_applies", gettext("The person must be kept: %(reasons)s") % {"reasons": "; ".join(reasons)}
            )
        people = [person, *Person.objects.select_for_update().filter(merged_into=person).order_by("pk")]
        ids = [p.pk for p in people]
        contact_points = ContactPoint.objects.filter(person_id__in=ids).delete()[0]
        consents = Consent.objects.filter(person_id__in=ids).update(source="")
        changes = {"mode": mode, "fields": list(PERSONAL_FIELDS), "contact_points_deleted": contact_points,
                   "consents_cleared": consents, "merged_records": ids[1:]}  # fmt: skip
        if mode == "delete":
            try:
                with transaction.atomic():
                    Person.objects.filter(pk__in=ids).delete()
            except ProtectedError as exc:
                raise Conflict(
                    "person_in_use", gettext("Other records need this person: anonymize them instead.")
                ) from exc
            audit.record(actor, "contacts.person_erase", object_type="contacts.person", object_id=person.pk,
                         changes=changes)  # fmt: skip
            events.publish("contacts.person_erased", company_id=person.company_id,
                           payload={"person_id": person.pk, "mode": mode})  # fmt: skip
            return None
        placeholder = gettext("Erased person")
        for row in people:
            for name in PERSONAL_FIELDS:
                setattr(row, name, "")
            row.last_name = f"{placeholder} #{row.pk}"
            row.do_not_contact = True
            row.is_archived = True
            row.search_text = person_search_text(row)
            row.save(update_fields=[*PERSONAL_FIELDS, "do_not_contact", "is_archived", "search_text", "updated_at"])
            row.tags.clear()
        audit.record(actor, "contacts.person_erase", person, changes=changes)
        events.publish("contacts.person_erased", company_id=person.company_id,
                       payload={"person_id": person.pk, "mode": mode})  # fmt: skip
    return person

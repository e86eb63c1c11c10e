"""Merging two organizations or two people, with a registry of what points at them.

The user picks each field's value; everything that points at the other row is re-pointed
to the survivor through ``merge_registry``. Contacts registers its own tables below; apps
above (crm opportunities, invoices…) register theirs in their ``AppConfig.ready`` with
``merge_registry.register(Model, "fk_field")``, so contacts never imports them. The other
row is kept, archived, with ``merged_into`` set: old links and the audit trail still resolve.
A merge is never automatic: only these services do it, on a user's request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.contacts import duplicates, services
from comptoir.contacts.models import (
    Address,
    Affiliation,
    Consent,
    ContactPoint,
    DuplicateCandidate,
    Organization,
    Person,
)
from comptoir.contacts.normalize import web_domain
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed

# --- Registry -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """``model.fk_field`` points at an organization or a person."""

    model: type[models.Model]
    fk_field: str
    # Columns that, with the foreign key, are unique: the other row's copy of a value the
    # survivor already has is dropped instead of violating the constraint.
    unique_with: tuple[str, ...] = ()
    # Runs before re-pointing (survivor id, other id), e.g. to keep one default address per kind.
    before: Callable[[int, int], None] | None = None

    @property
    def target(self) -> type[models.Model]:
        return self.model._meta.get_field(self.fk_field).related_model  # type: ignore[return-value]

    @property
    def column(self) -> str:
        return f"{self.fk_field}_id"

    @property
    def label(self) -> str:
        return f"{self.model._meta.label_lower}.{self.fk_field}"


class MergeRegistry:
    def __init__(self) -> None:
        self._references: dict[str, Reference] = {}

    def register(
        self,
        model: type[models.Model],
        fk_field: str,
        *,
        unique_with: tuple[str, ...] = (),
        before: Callable[[int, int], None] | None = None,
    ) -> None:
        """Declare that ``model.fk_field`` points at an Organization or a Person (idempotent)."""
        field = model._meta.get_field(fk_field)
        if field.related_model not in (Organization, Person):
            raise ValueError(f"{model.__name__}.{fk_field} does not point at an organization or a person")
        reference = Reference(model, fk_field, unique_with, before)
        self._references[reference.label] = reference

    def unregister(self, model: type[models.Model], fk_field: str) -> None:
        self._references.pop(f"{model._meta.label_lower}.{fk_field}", None)

    def references_to(self, target: type[models.Model]) -> list[Reference]:
        return [r for r in self._references.values() if r.target is target]


merge_registry = MergeRegistry()


def _one_default_address_per_kind(survivor_id: int, other_id: int) -> None:
    kinds = Address.objects.filter(organization_id=survivor_id, is_default=True).values("kind")
    Address.objects.filter(organization_id=other_id, is_default=True, kind__in=kinds).update(is_default=False)


def _one_primary_affiliation(survivor_id: int, other_id: int) -> None:
    # A person keeps one primary organization: the survivor's, if it has one.
    if Affiliation.objects.filter(person_id=survivor_id, is_primary=True).exists():
        Affiliation.objects.filter(person_id=other_id, is_primary=True).update(is_primary=False)


merge_registry.register(Affiliation, "organization", unique_with=("person",))
merge_registry.register(Affiliation, "person", unique_with=("organization",), before=_one_primary_affiliation)
merge_registry.register(Address, "organization", before=_one_default_address_per_kind)
merge_registry.register(ContactPoint, "person", unique_with=("kind", "value"))
merge_registry.register(Consent, "person")
merge_registry.register(Organization.tags.through, "organization", unique_with=("tag",))
merge_registry.register(Person.tags.through, "person", unique_with=("tag",))
# Rows merged earlier into the other row now lead to the survivor (no chains).
merge_registry.register(Organization, "merged_into")
merge_registry.register(Person, "merged_into")


def repoint(target: type[models.Model], survivor_id: int, other_id: int) -> dict[str, int]:
    """Re-point every registered reference from ``other_id`` to ``survivor_id``; counts by reference."""
    counts: dict[str, int] = {}
    for ref in merge_registry.references_to(target):
        if ref.before is not None:
            ref.before(survivor_id, other_id)
        column = ref.column
        manager = ref.model._base_manager
        dropped = 0
        if ref.unique_with:
            kept = manager.filter(**{column: survivor_id}).values_list(*ref.unique_with)
            taken = set(kept)
            clash = [
                pk
                for pk, *values in manager.filter(**{column: other_id}).values_list("pk", *ref.unique_with)
                if tuple(values) in taken
            ]
            if clash:
                dropped, _ = manager.filter(pk__in=clash).delete()
        moved = manager.filter(**{column: other_id}).update(**{column: survivor_id})
        if moved or dropped:
            counts[ref.label] = moved
            if dropped:
                counts[f"{ref.label} (already on the survivor)"] = dropped
    return counts


# --- Services -------------------------------------------------------------------------

ORG_MERGE_FIELDS = (
    "legal_name", "trade_name", "siren", "siret", "vat_number", "naf_code", "sector", "size", "website",
    "email", "phone", "lifecycle_stage", "owner_id", "team_id", "do_not_contact", "external_id", "notes",
)  # fmt: skip
PERSON_MERGE_FIELDS = (
    "first_name", "last_name", "job_title", "email", "phone", "mobile", "lifecycle_stage", "owner_id", "team_id",
    "do_not_contact", "external_id", "notes",
)  # fmt: skip
SURVIVOR, OTHER, BOTH = "survivor", "other", "both"
# Text fields whose two values may be kept together.
JOINABLE = {"notes"}


def merge_fields(kind: str) -> tuple[str, ...]:
    return ORG_MERGE_FIELDS if kind == duplicates.ORG else PERSON_MERGE_FIELDS


# Foreign keys are chosen by their public name ("owner"), the others by the column name.
FOREIGN_KEYS = {"owner_id", "team_id"}


def public_name(name: str) -> str:
    return name.removesuffix("_id") if name in FOREIGN_KEYS else name


def _check_choices(kind: str, field_choices: Mapping[str, Any] | None) -> dict[str, str]:
    allowed = {public_name(f): f for f in merge_fields(kind)}
    errors: dict[str, list[str]] = {}
    choices: dict[str, str] = {}
    for name, choice in (field_choices or {}).items():
        if name not in allowed:
            errors.setdefault(str(name), []).append(str(_("This field cannot be chosen in a merge.")))
        elif choice not in (SURVIVOR, OTHER) and not (choice == BOTH and name in JOINABLE):
            errors.setdefault(name, []).append(str(_("Choose “survivor” or “other”.")))
        else:
            choices[allowed[name]] = choice
    if errors:
        raise ValidationFailed(fields={f"fields.{k}": v for k, v in errors.items()})
    return choices


def _lock_pair(actor: Actor, kind: str, survivor_id: Any, other_id: Any) -> tuple[Any, Any]:
    errors: dict[str, list[str]] = {}
    for name, value in (("survivor", survivor_id), ("other", other_id)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors[name] = [str(_("Give the id of a row."))]
    if not errors and survivor_id == other_id:
        errors["other"] = [str(_("A row cannot be merged into itself."))]
    if errors:
        raise ValidationFailed(fields=errors)
    model = duplicates.model_of(kind)
    # Both rows locked, in primary-key order; merged rows are found too, to answer 409, not 404.
    visible_ids = duplicates.visible(actor, kind, include_merged=True).values("id")
    rows = {
        row.pk: row
        for row in model.objects.select_for_update().filter(pk__in=[survivor_id, other_id]).filter(pk__in=visible_ids)
    }
    if survivor_id not in rows or other_id not in rows:
        raise NotFound()
    survivor, other = rows[survivor_id], rows[other_id]
    for row in (survivor, other):
        if row.merged_into_id is not None:
            raise Conflict("already_merged", _("“%(name)s” has already been merged into another row.") % {"name": row})
    return survivor, other


def _apply_choices(kind: str, survivor: Any, other: Any, choices: dict[str, str]) -> dict[str, Any]:
    """Set the survivor's fields; by default it keeps its values and takes the other's where it has none."""
    chosen: dict[str, str] = {}
    for name in merge_fields(kind):
        mine, theirs = getattr(survivor, name), getattr(other, name)
        choice = choices.get(name)
        if choice is None:
            choice = OTHER if mine in ("", None) and theirs not in ("", None) else SURVIVOR
        if choice == OTHER:
            setattr(survivor, name, theirs)
        elif choice == BOTH and theirs and theirs != mine:
            setattr(survivor, name, f"{mine}\n\n{theirs}".strip())
        chosen[public_name(name)] = choice
    return chosen


def _keep_other_contact_points(survivor: Person, other: Person) -> int:
    """The other person's email and phones the survivor did not take become its extra contact points."""
    kept = 0
    mine = {survivor.email.lower(), survivor.phone, survivor.mobile}
    for kind, value in (
        (ContactPoint.Kind.EMAIL, other.email.lower()),
        (ContactPoint.Kind.PHONE, other.phone),
        (ContactPoint.Kind.MOBILE, other.mobile),
    ):
        if value and value not in mine:
            _point, created = ContactPoint.objects.get_or_create(person=survivor, kind=kind, value=value)
            kept += int(created)
    return kept


def _merge(actor: Actor, kind: str, survivor_id: Any, other_id: Any, field_choices: Mapping[str, Any] | None) -> Any:
    require(actor, "contacts.merge_contacts")
    choices = _check_choices(kind, field_choices)
    with transaction.atomic():
        survivor, other = _lock_pair(actor, kind, survivor_id, other_id)
        before = audit.snapshot(survivor, list(merge_fields(kind)))
        chosen = _apply_choices(kind, survivor, other, choices)
        if kind == duplicates.ORG:
            survivor.web_domain = web_domain(survivor.website)
            survivor.search_text = services.organization_search_text(survivor)
            extra_points = 0
        else:
            extra_points = _keep_other_contact_points(survivor, other)
            survivor.search_text = services.person_search_text(survivor)
        # Unique columns (external id) move from the other row first.
        if other.external_id:
            type(other).objects.filter(pk=other.pk).update(external_id="")
        counts = repoint(type(survivor), survivor.pk, other.pk)
        if extra_points:
            counts["contacts.contactpoint (kept from the other row)"] = extra_points
        survivor.save()
        now = timezone.now()
        type(other).objects.filter(pk=other.pk).update(
            merged_into_id=survivor.pk, is_archived=True, external_id="", updated_at=now
        )
        left, right = sorted((survivor.pk, other.pk))
        DuplicateCandidate.objects.filter(company_id=actor.company_id, kind=kind, left_id=left, right_id=right).update(
            status=DuplicateCandidate.Status.MERGED, decided_at=now, decided_by_id=actor.user_id
        )
        # Other open pairs of the merged row are stale; the next scan finds them on the survivor.
        DuplicateCandidate.objects.filter(
            company_id=actor.company_id, kind=kind, status=DuplicateCandidate.Status.OPEN
        ).filter(models.Q(left_id=other.pk) | models.Q(right_id=other.pk)).delete()
        after = audit.snapshot(survivor, list(merge_fields(kind)))
        audit.record(
            actor,
            f"contacts.{kind}_merged",
            survivor,
            changes={
                "other_id": other.pk,
                "other": str(other),
                "field_choices": chosen,
                "fields": audit.diff(before, after),
                "other_values": audit.snapshot(other, list(merge_fields(kind))),
                "repointed": counts,
            },
        )
        audit.record(
            actor, f"contacts.{kind}_merged_into", other, changes={"merged_into": survivor.pk, "is_archived": True}
        )
        events.publish(
            "contacts.merged",
            company_id=actor.company_id,
            payload={"kind": kind, "survivor_id": survivor.pk, "other_id": other.pk, "repointed": counts},
        )
    survivor.merge_counts = counts  # type: ignore[attr-defined]
    return survivor


def organization_merge(
    *, actor: Actor, survivor_id: int, other_id: int, field_choices: Mapping[str, str] | None = None
) -> Organization:
    """Merge organization ``other_id`` into ``survivor_id``; ``field_choices`` maps a field to "survivor"/"other"."""
    return _merge(actor, duplicates.ORG, survivor_id, other_id, field_choices)  # type: ignore[no-any-return]


def person_merge(
    *, actor: Actor, survivor_id: int, other_id: int, field_choices: Mapping[str, str] | None = None
) -> Person:
    """Merge person ``other_id`` into ``survivor_id``; ``field_choices`` maps a field to "survivor"/"other"."""
    return _merge(actor, duplicates.PERSON, survivor_id, other_id, field_choices)  # type: ignore[no-any-return]


def merge_preview(actor: Actor, kind: str, survivor_id: int, other_id: int) -> dict[str, Any]:
    """What a merge would re-point from the other row (counts by reference), without writing."""
    require(actor, "contacts.merge_contacts")
    target = duplicates.model_of(kind)
    visible = duplicates.visible(actor, kind)
    rows = {row.pk: row for row in visible.select_related("owner", "team").filter(pk__in=[survivor_id, other_id])}
    if survivor_id == other_id or len(rows) != 2:
        raise NotFound()
    moved = []
    for ref in merge_registry.references_to(target):
        column = ref.column
        count = ref.model._base_manager.filter(**{column: other_id}).count()
        if count:
            moved.append({"reference": ref.label, "label": str(ref.model._meta.verbose_name_plural), "count": count})
    return {"survivor": rows[survivor_id], "other": rows[other_id], "repointed": moved}

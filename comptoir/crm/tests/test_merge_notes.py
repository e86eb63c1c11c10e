"""Merging two contacts moves the notes written on the merged one to the one kept."""

from __future__ import annotations

from comptoir.contacts import merge
from comptoir.contacts import services as contact_services
from comptoir.crm import notes
from comptoir.crm.models import Note
from comptoir.org.testing import Personas, enable_modules


def test_merge_repoints_notes(personas: Personas) -> None:
    enable_modules(personas, "contacts", "crm")
    boss = personas.actor("management")
    keep = contact_services.organization_create(actor=boss, legal_name="Lefèvre Frères")
    other = contact_services.organization_create(actor=boss, legal_name="Lefevre Freres")
    person_keep = contact_services.person_create(actor=boss, last_name="Martin")
    person_other = contact_services.person_create(actor=boss, last_name="Martin")
    on_org = notes.note_create(actor=boss, body="Appeler lundi", organization_id=other.pk)
    on_person = notes.note_create(actor=boss, body="Préfère le mail", person_id=person_other.pk)
    merged = merge.organization_merge(actor=boss, survivor_id=keep.pk, other_id=other.pk)
    merge.person_merge(actor=boss, survivor_id=person_keep.pk, other_id=person_other.pk)
    assert Note.objects.get(pk=on_org.pk).organization_id == keep.pk
    assert Note.objects.get(pk=on_person.pk).person_id == person_keep.pk
    assert merged.merge_counts["crm.note.organization"] == 1  # type: ignore[attr-defined]

"""Merging two contacts re-points the opportunities and leads that point at them."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from comptoir.contacts import merge
from comptoir.contacts import services as contact_services
from comptoir.crm import services
from comptoir.crm.models import Lead, Opportunity
from comptoir.org.testing import Personas, enable_modules


def test_merge_repoints_opportunities_and_leads(personas: Personas) -> None:
    enable_modules(personas, "contacts", "crm")
    boss = personas.actor("management")
    keep = contact_services.organization_create(actor=boss, legal_name="Lefèvre Frères")
    other = contact_services.organization_create(actor=boss, legal_name="Lefevre Freres")
    person_keep = contact_services.person_create(actor=boss, last_name="Martin", first_name="Anne")
    person_other = contact_services.person_create(actor=boss, last_name="Martin", first_name="Anne-Marie")
    opportunity = services.opportunity_create(
        actor=boss, title="Vitrines", organization_id=other.pk, amount=Decimal("1200.00")
    )
    Opportunity.people.through.objects.create(opportunity=opportunity, person=person_other)
    lead = Lead.objects.create(
        company=personas.company,
        title="Salon",
        organization=other,
        person=person_other,
        owner=personas.users["management"],
    )
    merge.organization_merge(actor=boss, survivor_id=keep.pk, other_id=other.pk, field_choices={})
    merge.person_merge(actor=boss, survivor_id=person_keep.pk, other_id=person_other.pk, field_choices={})
    opportunity.refresh_from_db()
    lead.refresh_from_db()
    assert opportunity.organization_id == keep.pk
    assert list(
        Opportunity.people.through.objects.filter(opportunity=opportunity).values_list("person_id", flat=True)
    ) == [person_keep.pk]
    assert lead.organization_id == keep.pk and lead.person_id == person_keep.pk


def test_merge_repoints_activities(personas: Personas) -> None:
    from comptoir.crm.models import Activity

    enable_modules(personas, "contacts", "crm")
    boss = personas.actor("management")
    keep = contact_services.organization_create(actor=boss, legal_name="Atelier Blanc")
    other = contact_services.organization_create(actor=boss, legal_name="Atelier Blanc SARL")
    activity = Activity.objects.create(
        company=personas.company, kind="call", subject="Rappeler", organization=other, due_at=timezone.now(),
        owner=personas.users["management"], assignee=personas.users["management"],
    )  # fmt: skip
    merge.organization_merge(actor=boss, survivor_id=keep.pk, other_id=other.pk, field_choices={})
    activity.refresh_from_db()
    assert activity.organization_id == keep.pk

"""Merging organizations and people: field choices, everything re-pointed, audit, event, guards."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.contacts import duplicates, merge
from comptoir.contacts.models import (
    Address,
    Affiliation,
    Consent,
    ContactPoint,
    DuplicateCandidate,
    Organization,
    Person,
    Tag,
)
from comptoir.contacts.tests.dup_helpers import org, person
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent
from comptoir.org.models import User
from comptoir.org.testing import Personas, enable_modules

API = "/api/v1"


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


def _orgs(p: Personas) -> tuple[Organization, Organization]:
    survivor = org(p.company, "Boulangerie Dupont", siren="842157638", email="", phone="+33142720000", notes="Old")
    other = org(p.company, "BOULANGERIE DUPOND", email="contact@dupont.fr", website="https://dupont.fr",
                notes="New", external_id="ERP-7")  # fmt: skip
    vip, local = Tag.objects.create(company=p.company, name="VIP"), Tag.objects.create(company=p.company, name="Local")
    survivor.tags.add(vip)
    other.tags.add(vip, local)
    jean, marie = person(p.company, "Jean", "Martin"), person(p.company, "Marie", "Curie")
    Affiliation.objects.create(person=jean, organization=survivor, role="Boss", is_primary=True)
    Affiliation.objects.create(person=jean, organization=other, role="CEO")  # same person on both: one kept
    Affiliation.objects.create(person=marie, organization=other, role="Baker")
    Address.objects.create(organization=survivor, line1="1 rue A", city="Lyon", is_default=True)
    Address.objects.create(organization=other, line1="2 rue B", city="Lyon", is_default=True)
    Address.objects.create(organization=other, line1="3 rue C", city="Lyon", kind=Address.Kind.DELIVERY)
    return survivor, other


def test_organization_merge_repoints_everything_and_applies_the_choices(p: Personas) -> None:
    survivor, other = _orgs(p)
    actor = p.actor("management")
    pair = DuplicateCandidate.objects.create(
        company=p.company, kind="organization", left_id=survivor.pk, right_id=other.pk, score=80,
        detected_at=timezone.now(), seen_at=timezone.now(),
    )  # fmt: skip
    result = merge.organization_merge(
        actor=actor, survivor_id=survivor.pk, other_id=other.pk,
        field_choices={"legal_name": "survivor", "phone": "other", "notes": "both", "external_id": "other"},
    )  # fmt: skip
    survivor.refresh_from_db()
    other.refresh_from_db()
    assert result.pk == survivor.pk
    assert survivor.legal_name == "Boulangerie Dupont"
    assert survivor.phone == ""  # chosen from the other row, which had none
    assert survivor.email == "contact@dupont.fr"  # not chosen: the survivor had none, so it takes the other's
    assert survivor.web_domain == "dupont.fr" and "contact@dupont.fr" in survivor.search_text
    assert survivor.notes == "Old\n\nNew"
    assert survivor.external_id == "ERP-7" and other.external_id == ""
    assert other.merged_into_id == survivor.pk and other.is_archived
    # Everything moved, nothing duplicated, unique constraints kept.
    assert sorted(survivor.tags.values_list("name", flat=True)) == ["Local", "VIP"]
    assert not other.tags.exists()
    assert sorted(Affiliation.objects.filter(organization=survivor).values_list("role", flat=True)) == ["Baker", "Boss"]
    assert not Affiliation.objects.filter(organization=other).exists()
    assert Address.objects.filter(organization=survivor).count() == 3
    assert Address.objects.filter(organization=survivor, kind="billing", is_default=True).count() == 1
    pair.refresh_from_db()
    assert pair.status == DuplicateCandidate.Status.MERGED and pair.decided_by_id == p.users["management"].pk
    entry = AuditEntry.objects.get(action="contacts.organization_merged")
    assert entry.object_id == str(survivor.pk) and entry.changes["other_id"] == other.pk
    assert entry.changes["field_choices"]["phone"] == "other" and entry.changes["field_choices"]["email"] == "other"
    assert entry.changes["repointed"]["contacts.affiliation.organization"] == 1
    assert entry.changes["repointed"]["contacts.affiliation.organization (already on the survivor)"] == 1
    assert entry.changes["repointed"]["contacts.address.organization"] == 2
    assert entry.changes["other_values"]["email"] == "contact@dupont.fr"
    assert AuditEntry.objects.filter(action="contacts.organization_merged_into", object_id=str(other.pk)).exists()
    event = OutboxEvent.objects.get(name="contacts.merged")
    assert event.payload["survivor_id"] == survivor.pk and event.payload["other_id"] == other.pk


def test_rows_merged_earlier_into_the_other_follow_to_the_survivor(p: Personas) -> None:
    survivor, other = _orgs(p)
    old = org(p.company, "Dupont (old)")
    Organization.objects.filter(pk=old.pk).update(merged_into=other, is_archived=True)
    merge.organization_merge(actor=p.actor("management"), survivor_id=survivor.pk, other_id=other.pk)
    assert Organization.objects.get(pk=old.pk).merged_into_id == survivor.pk


def test_person_merge_keeps_every_contact_point_consent_and_affiliation(p: Personas) -> None:
    acme = org(p.company, "Acme")
    survivor = person(p.company, "Hélène", "Lefèvre", email="h@acme.fr", mobile="+33612345678")
    other = person(p.company, "Helene", "Lefevre", email="helene@perso.fr", phone="+33142720000",
                   mobile="+33612345678", job_title="CFO")  # fmt: skip
    ContactPoint.objects.create(person=survivor, kind="email", value="helene@perso.fr")
    ContactPoint.objects.create(person=other, kind="email", value="helene@perso.fr")  # the same: one kept
    ContactPoint.objects.create(person=other, kind="phone", value="+33478000000")
    Consent.objects.create(person=other, channel="email", granted=True, at=timezone.now() - dt.timedelta(days=1),
                           source="form")  # fmt: skip
    Affiliation.objects.create(person=other, organization=acme, is_primary=True)
    merge.person_merge(actor=p.actor("management"), survivor_id=survivor.pk, other_id=other.pk)
    survivor.refresh_from_db()
    assert survivor.job_title == "CFO" and survivor.email == "h@acme.fr" and survivor.phone == "+33142720000"
    points = set(ContactPoint.objects.filter(person=survivor).values_list("kind", "value"))
    assert points == {("email", "helene@perso.fr"), ("phone", "+33478000000")}
    assert Consent.objects.filter(person=survivor).count() == 1
    assert Affiliation.objects.get(person=survivor).organization_id == acme.pk
    assert Person.objects.get(pk=other.pk).merged_into_id == survivor.pk


def test_merge_needs_the_permission(p: Personas) -> None:
    survivor, other = _orgs(p)
    with pytest.raises(PermissionDenied):
        merge.organization_merge(actor=p.actor("sales"), survivor_id=survivor.pk, other_id=other.pk)
    assert Organization.objects.get(pk=other.pk).merged_into_id is None


def test_rows_of_another_company_are_not_found(p: Personas) -> None:
    survivor, _other = _orgs(p)
    foreign = org(p.other_company, "Boulangerie Dupont")
    with pytest.raises(NotFound):
        merge.organization_merge(actor=p.actor("management"), survivor_id=survivor.pk, other_id=foreign.pk)
    with pytest.raises(NotFound):
        merge.organization_merge(actor=p.actor("management"), survivor_id=foreign.pk, other_id=survivor.pk)
    with pytest.raises(NotFound):  # an id of the other kind is not found either
        merge.person_merge(actor=p.actor("management"), survivor_id=survivor.pk, other_id=10**9)


def test_guards_write_nothing(p: Personas) -> None:
    survivor, other = _orgs(p)
    actor = p.actor("management")
    with pytest.raises(ValidationFailed) as excinfo:
        merge.organization_merge(actor=actor, survivor_id=survivor.pk, other_id=survivor.pk)
    assert excinfo.value.status == 422 and "other" in excinfo.value.fields
    with pytest.raises(ValidationFailed) as excinfo:
        merge.organization_merge(actor=actor, survivor_id=survivor.pk, other_id=other.pk,
                                 field_choices={"legal_name": "neither", "company": "other"})  # fmt: skip
    assert set(excinfo.value.fields) == {"fields.legal_name", "fields.company"}
    assert Organization.objects.get(pk=other.pk).merged_into_id is None
    assert Affiliation.objects.filter(organization=other).count() == 2
    assert not AuditEntry.objects.filter(action__startswith="contacts.organization_merged").exists()

    merge.organization_merge(actor=actor, survivor_id=survivor.pk, other_id=other.pk)
    third = org(p.company, "Boulangerie Dupont 3")
    with pytest.raises(Conflict) as conflict:
        merge.organization_merge(actor=actor, survivor_id=third.pk, other_id=other.pk)
    assert conflict.value.code == "already_merged" and conflict.value.status == 409
    assert Organization.objects.get(pk=third.pk).merged_into_id is None


def test_a_failure_midway_rolls_everything_back(p: Personas) -> None:
    survivor, other = _orgs(p)

    def boom(survivor_id: int, other_id: int) -> None:
        raise RuntimeError("disk full")

    merge.merge_registry.register(Consent, "person")  # idempotent re-registration is harmless
    merge.merge_registry.register(Address, "organization", before=boom)
    try:
        with pytest.raises(RuntimeError):
            merge.organization_merge(actor=p.actor("management"), survivor_id=survivor.pk, other_id=other.pk)
    finally:
        merge.merge_registry.register(Address, "organization", before=merge._one_default_address_per_kind)
    assert Organization.objects.get(pk=other.pk).merged_into_id is None
    assert set(Organization.objects.get(pk=survivor.pk).tags.values_list("name", flat=True)) == {"VIP"}
    assert not OutboxEvent.objects.filter(name="contacts.merged").exists()


def test_registry_refuses_a_field_that_points_elsewhere() -> None:
    with pytest.raises(ValueError):
        merge.merge_registry.register(Tag, "company")


def test_merge_preview_counts_what_moves(p: Personas) -> None:
    survivor, other = _orgs(p)
    preview = merge.merge_preview(p.actor("management"), duplicates.ORG, survivor.pk, other.pk)
    moved = {item["reference"]: item["count"] for item in preview["repointed"]}
    assert moved["contacts.affiliation.organization"] == 2 and moved["contacts.address.organization"] == 2
    assert moved["contacts.organization_tags.organization"] == 2


# --- UI and API -----------------------------------------------------------------------


def _login(client: Client, user: User) -> Client:
    User.objects.filter(pk=user.pk).update(
        language="en", totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now()
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def test_merge_screen_shows_both_rows_and_merges(client: Client, p: Personas) -> None:
    survivor, other = _orgs(p)
    _login(client, p.users["management"])
    url = f"/contacts/duplicates/merge/organization/{survivor.pk}/{other.pk}/"
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert (
        "BOULANGERIE DUPOND" in body
        and 'name="field_email"' in body
        and 'data-reference="contacts.address.organization"' in body
    )
    bad = client.post(url, {"field_email": "nope"})
    assert bad.status_code == 422 and "fields.email" in bad.content.decode()
    done = client.post(url, {"field_email": "other", "field_legal_name": "other"})
    assert done.status_code == 302 and done["Location"] == f"/contacts/organizations/{survivor.pk}/"
    assert Organization.objects.get(pk=survivor.pk).legal_name == "BOULANGERIE DUPOND"
    assert client.get(url).status_code == 404  # the merged row is gone from what one can see
    assert client.get(f"/contacts/duplicates/merge/nope/{survivor.pk}/{other.pk}/").status_code == 404


def test_merge_screen_permission(client: Client, p: Personas) -> None:
    survivor, other = _orgs(p)
    _login(client, p.users["sales"])
    assert client.get(f"/contacts/duplicates/merge/organization/{survivor.pk}/{other.pk}/").status_code == 403

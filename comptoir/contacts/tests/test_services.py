"""Contacts services and validators: happy paths, each validation error with nothing written,
record rules on writes (a row you cannot see is a 404), audit and events."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from comptoir.contacts import services, validators
from comptoir.contacts.models import Address, Affiliation, Consent, ContactPoint, Organization, Person, Tag
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent
from comptoir.org.models import Team
from comptoir.org.testing import Personas, enable_modules

SIREN = "732829320"  # a valid SIREN (Luhn)
SIRET = "73282932000074"


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


# --- Validators -----------------------------------------------------------------------


def test_phone_to_e164_and_national_display() -> None:
    assert validators.clean_phone("01 42 72 00 00") == "+33142720000"
    assert validators.clean_phone("+33 (0)6 12 34 56 78") == "+33612345678"
    assert validators.format_phone("+33142720000") == "01 42 72 00 00"
    assert validators.format_phone("+442071838750").startswith("+44")
    with pytest.raises(ValueError):
        validators.clean_phone("12")
    with pytest.raises(ValueError):
        validators.clean_phone("not a phone")


def test_naf_email_country_website() -> None:
    assert validators.clean_naf("6201z") == "62.01Z"
    assert validators.clean_naf("62.01 Z") == "62.01Z"
    with pytest.raises(ValueError):
        validators.clean_naf("620Z")
    assert validators.clean_email(" Jean.Dupont@Example.FR ") == "jean.dupont@example.fr"
    with pytest.raises(ValueError):
        validators.clean_email("jean@")
    assert validators.clean_country("fr") == "FR"
    with pytest.raises(ValueError):
        validators.clean_country("FRA")
    assert validators.clean_website("acme.fr") == "https://acme.fr"
    with pytest.raises(ValueError):
        validators.clean_website("javascript:alert(1)")


def test_clean_organization_collects_every_field_error() -> None:
    cleaned, errors = validators.clean_organization(
        {"legal_name": "", "siren": "123", "email": "x", "phone": "1", "naf_code": "zz", "size": "huge"}
    )
    assert set(errors) == {"legal_name", "siren", "email", "phone", "naf_code", "size"}
    cleaned, errors = validators.clean_organization({"legal_name": "Acme", "siret": SIRET})
    assert errors == {}
    assert cleaned["siren"] == SIREN  # the SIRET's first 9 digits
    _cleaned, errors = validators.clean_organization({"legal_name": "Acme", "siren": "842157638", "siret": SIRET})
    assert set(errors) == {"siret"}


def test_clean_person() -> None:
    cleaned, errors = validators.clean_person({"last_name": "Lefèvre", "email": "A@B.FR", "mobile": "0612345678"})
    assert errors == {}
    assert cleaned["email"] == "a@b.fr" and cleaned["mobile"] == "+33612345678"
    _cleaned, errors = validators.clean_person({"first_name": "x" * 101})
    assert set(errors) == {"first_name", "last_name"}


# --- Organizations --------------------------------------------------------------------


def test_organization_create_normalizes_audits_and_publishes(p: Personas) -> None:
    actor = p.actor("sales")
    org = services.organization_create(
        actor=actor, legal_name="Boulangerie Lefèvre", siret="732 829 320 00074", phone="04 78 00 00 00",
        website="www.lefevre.fr", naf_code="1071c",
    )  # fmt: skip
    org.refresh_from_db()
    assert org.siren == SIREN and org.siret == SIRET
    assert org.phone == "+33478000000" and org.naf_code == "10.71C"
    assert org.web_domain == "lefevre.fr"
    assert "lefevre" in org.search_text and "0478000000" in org.search_text
    assert org.owner_id == p.users["sales"].pk and org.company_id == p.company.pk
    assert AuditEntry.objects.filter(action="contacts.organization_create", object_id=str(org.pk)).exists()
    assert OutboxEvent.objects.filter(name="contacts.organization_created").count() == 1


def test_organization_create_invalid_writes_nothing(p: Personas) -> None:
    with pytest.raises(ValidationFailed) as exc:
        services.organization_create(
            actor=p.actor("sales"), legal_name="", siren="111111111", email="nope", owner_id=p.outsider.pk,
            tag_ids=[999999], bogus="x",
        )  # fmt: skip
    assert set(exc.value.fields) == {"legal_name", "siren", "email", "owner_id", "tag_ids", "bogus"}
    assert Organization.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="contacts.").exists()
    assert not OutboxEvent.objects.filter(name__startswith="contacts.").exists()


def test_organization_external_id_unique(p: Personas) -> None:
    services.organization_create(actor=p.actor("sales"), legal_name="A", external_id="X1")
    with pytest.raises(ValidationFailed) as exc:
        services.organization_create(actor=p.actor("sales"), legal_name="B", external_id="X1")
    assert set(exc.value.fields) == {"external_id"}


def test_organization_update_and_siret_must_match_siren(p: Personas) -> None:
    actor = p.actor("sales")
    org = services.organization_create(actor=actor, legal_name="Acme", siren=SIREN)
    with pytest.raises(ValidationFailed) as exc:
        services.organization_update(actor=actor, organization_id=org.pk, siret="84215763800011")
    assert set(exc.value.fields) == {"siret"}
    org = services.organization_update(actor=actor, organization_id=org.pk, siret=SIRET, trade_name="Acmé")
    assert org.siret == SIRET and "acme" in org.search_text
    entry = AuditEntry.objects.get(action="contacts.organization_update")
    assert entry.changes["trade_name"] == ["", "Acmé"]


def test_permission_and_record_rules_on_writes(p: Personas) -> None:
    org = services.organization_create(actor=p.actor("sales"), legal_name="Mine")
    # operations sees every contact but may not change any: 403
    with pytest.raises(PermissionDenied):
        services.organization_update(actor=p.actor("operations"), organization_id=org.pk, legal_name="X")
    with pytest.raises(PermissionDenied):
        services.organization_create(actor=p.actor("operations"), legal_name="X")
    # marketing sees all and may change
    services.organization_update(actor=p.actor("marketing"), organization_id=org.pk, notes="seen")
    # another company: 404
    with pytest.raises(NotFound):
        services.organization_update(actor=p.outsider_actor(), organization_id=org.pk, legal_name="X")


def test_salesperson_cannot_edit_colleague_outside_team_but_team_and_manager_can(p: Personas) -> None:
    from comptoir.org.selectors import build_actor
    from comptoir.org.testing import make_user

    colleague = make_user(p.company, "sales", email="colleague@dupont.test")
    manager = make_user(p.company, "sales", email="manager@dupont.test")
    colleague_actor = build_actor(colleague, p.company.pk, "ui")
    org = services.organization_create(actor=colleague_actor, legal_name="Colleague's")
    with pytest.raises(NotFound):
        services.organization_update(actor=p.actor("sales"), organization_id=org.pk, notes="x")
    team = Team.objects.create(company=p.company, name="Nord", manager=manager)
    team.members.add(colleague, p.users["sales"])
    services.organization_update(actor=p.actor("sales"), organization_id=org.pk, notes="team")
    services.organization_update(actor=build_actor(manager, p.company.pk, "ui"), organization_id=org.pk, notes="m")


def test_organization_archive_and_restore(p: Personas) -> None:
    org = services.organization_create(actor=p.actor("sales"), legal_name="Acme")
    services.organization_archive(actor=p.actor("sales"), organization_id=org.pk)
    org.refresh_from_db()
    assert org.is_archived
    services.organization_archive(actor=p.actor("sales"), organization_id=org.pk, archived=False)
    org.refresh_from_db()
    assert not org.is_archived
    assert OutboxEvent.objects.filter(name="contacts.organization_archived").count() == 1
    assert OutboxEvent.objects.filter(name="contacts.organization_restored").count() == 1


def test_owner_and_team_assignment(p: Personas) -> None:
    team = Team.objects.create(company=p.company, name="Sud")
    other_team = Team.objects.create(company=p.other_company, name="Ailleurs")
    org = services.organization_create(
        actor=p.actor("management"), legal_name="Acme", owner_id=p.users["sales"].pk, team_id=team.pk
    )
    assert org.owner_id == p.users["sales"].pk and org.team_id == team.pk
    with pytest.raises(ValidationFailed) as exc:
        services.organization_update(actor=p.actor("management"), organization_id=org.pk, team_id=other_team.pk)
    assert set(exc.value.fields) == {"team_id"}
    org = services.organization_update(actor=p.actor("management"), organization_id=org.pk, owner_id=None)
    assert org.owner_id is None


# --- People, affiliations, addresses, tags, consents -----------------------------------


def test_person_create_with_organization(p: Personas) -> None:
    actor = p.actor("sales")
    org = services.organization_create(actor=actor, legal_name="Acme")
    person = services.person_create(
        actor=actor, first_name="Hélène", last_name="Lefèvre", email="Helene@Acme.FR", phone="06 12 34 56 78",
        organization_id=org.pk, role="CEO", do_not_contact=True,
    )  # fmt: skip
    assert person.email == "helene@acme.fr" and person.phone == "+33612345678" and person.do_not_contact
    assert "helene lefevre" in person.search_text
    link = Affiliation.objects.get(person=person)
    assert link.organization_id == org.pk and link.is_primary and link.role == "CEO"
    assert OutboxEvent.objects.filter(name="contacts.person_created").count() == 1


def test_person_invalid_writes_nothing(p: Personas) -> None:
    hidden = Organization.objects.create(company=p.other_company, legal_name="Elsewhere")
    with pytest.raises(ValidationFailed) as exc:
        services.person_create(
            actor=p.actor("sales"), last_name="", email="bad", mobile="0", organization_id=hidden.pk,
            do_not_contact="yes",
        )  # fmt: skip
    assert set(exc.value.fields) == {"last_name", "email", "mobile", "organization_id", "do_not_contact"}
    assert Person.objects.count() == 0 and Affiliation.objects.count() == 0


def test_person_update_archive(p: Personas) -> None:
    actor = p.actor("sales")
    person = services.person_create(actor=actor, last_name="Martin")
    person = services.person_update(actor=actor, person_id=person.pk, first_name="Zoé", email="z@m.fr")
    assert "zoe martin" in person.search_text
    with pytest.raises(ValidationFailed):
        services.person_update(actor=actor, person_id=person.pk, last_name="")
    services.person_archive(actor=actor, person_id=person.pk)
    person.refresh_from_db()
    assert person.is_archived and person.last_name == "Martin"


def test_affiliation_set_and_remove(p: Personas) -> None:
    actor = p.actor("sales")
    a = services.organization_create(actor=actor, legal_name="A")
    b = services.organization_create(actor=actor, legal_name="B")
    person = services.person_create(actor=actor, last_name="Martin", organization_id=a.pk)
    services.affiliation_set(actor=actor, person_id=person.pk, organization_id=b.pk, role="Buyer", is_primary=True)
    primaries = dict(Affiliation.objects.filter(person=person).values_list("organization_id", "is_primary"))
    assert primaries == {a.pk: False, b.pk: True}
    services.affiliation_remove(actor=actor, person_id=person.pk, organization_id=a.pk)
    assert list(Affiliation.objects.filter(person=person).values_list("organization_id", flat=True)) == [b.pk]
    with pytest.raises(NotFound):
        services.affiliation_remove(actor=actor, person_id=person.pk, organization_id=a.pk)
    hidden = Organization.objects.create(company=p.other_company, legal_name="Elsewhere")
    with pytest.raises(NotFound):
        services.affiliation_set(actor=actor, person_id=person.pk, organization_id=hidden.pk)


def test_addresses(p: Personas) -> None:
    actor = p.actor("sales")
    org = services.organization_create(actor=actor, legal_name="Acme", siren=SIREN)
    first = services.address_add(
        actor=actor, organization_id=org.pk, line1="1 rue A", city="Lyon", is_default=True, siret=SIRET
    )
    second = services.address_add(actor=actor, organization_id=org.pk, line1="2 rue B", city="Lyon", is_default=True)
    first.refresh_from_db()
    assert not first.is_default and second.is_default
    with pytest.raises(ValidationFailed) as exc:
        services.address_add(
            actor=actor, organization_id=org.pk, line1="", city="", country="FRA", kind="x", siret="84215763800011"
        )
    assert set(exc.value.fields) == {"line1", "city", "country", "kind", "siret"}
    assert Address.objects.count() == 2
    services.address_update(actor=actor, address_id=first.pk, city="Villeurbanne")
    first.refresh_from_db()
    assert first.city == "Villeurbanne"
    services.address_remove(actor=actor, address_id=first.pk)
    assert list(Address.objects.values_list("pk", flat=True)) == [second.pk]
    with pytest.raises(NotFound):
        services.address_remove(actor=p.outsider_actor(), address_id=second.pk)


def test_tags_set(p: Personas) -> None:
    actor = p.actor("sales")
    org = services.organization_create(actor=actor, legal_name="Acme")
    tags = services.tags_set(actor=actor, organization_id=org.pk, names=["VIP", " vip ", "Lyon"])
    assert [t.name for t in tags] == ["Lyon", "VIP"]
    assert Tag.objects.filter(company=p.company).count() == 2
    person = services.person_create(actor=actor, last_name="Martin")
    services.tags_set(actor=actor, person_id=person.pk, names=["vip"])
    assert list(person.tags.values_list("name", flat=True)) == ["VIP"]
    with pytest.raises(ValidationFailed):
        services.tags_set(actor=actor, names=["x"])


def test_consent_record_keeps_history(p: Personas) -> None:
    actor = p.actor("sales")
    person = services.person_create(actor=actor, last_name="Martin")
    earlier = timezone.now() - dt.timedelta(days=3)
    services.consent_record(actor=actor, person_id=person.pk, channel="email", granted=True, source="Salon", at=earlier)
    services.consent_record(actor=actor, person_id=person.pk, channel="email", granted=False, source="Unsubscribe")
    assert Consent.objects.filter(person=person).count() == 2
    assert [c.granted for c in Consent.objects.filter(person=person)] == [False, True]  # newest first
    with pytest.raises(ValidationFailed) as exc:
        services.consent_record(
            actor=actor, person_id=person.pk, channel="fax", granted=True, source="",
            at=timezone.now() + dt.timedelta(days=1),
        )  # fmt: skip
    assert set(exc.value.fields) == {"channel", "source", "at"}
    assert Consent.objects.filter(person=person).count() == 2


def test_contact_points(p: Personas) -> None:
    actor = p.actor("sales")
    person = services.person_create(actor=actor, last_name="Martin")
    point = services.contact_point_add(actor=actor, person_id=person.pk, kind="email", value="M@X.FR", label="perso")
    assert point.value == "m@x.fr"
    with pytest.raises(ValidationFailed):
        services.contact_point_add(actor=actor, person_id=person.pk, kind="email", value="m@x.fr")
    with pytest.raises(ValidationFailed):
        services.contact_point_add(actor=actor, person_id=person.pk, kind="phone", value="abc")
    services.contact_point_remove(actor=actor, contact_point_id=point.pk)
    assert ContactPoint.objects.count() == 0


def test_saved_views(p: Personas) -> None:
    actor = p.actor("sales")
    view = services.saved_view_save(actor=actor, list_key="contacts.organizations", name="Lyon", query="city=Lyon")
    again = services.saved_view_save(actor=actor, list_key="contacts.organizations", name="Lyon", query="q=a")
    assert again.pk == view.pk and again.query == "q=a"
    with pytest.raises(ValidationFailed):
        services.saved_view_save(actor=actor, list_key="nope", name="", query="")
    with pytest.raises(NotFound):
        services.saved_view_delete(actor=p.actor("marketing"), view_id=view.pk)
    services.saved_view_delete(actor=actor, view_id=view.pk)


def test_cannot_give_a_row_away_out_of_sight(p: Personas) -> None:
    from comptoir.org.testing import make_user

    actor = p.actor("sales")
    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    with pytest.raises(ValidationFailed) as exc:
        services.organization_create(actor=actor, legal_name="Acme", owner_id=None)
    assert set(exc.value.fields) == {"owner_id"}
    org = services.organization_create(actor=actor, legal_name="Acme")
    with pytest.raises(ValidationFailed):
        services.organization_update(actor=actor, organization_id=org.pk, owner_id=stranger.pk)
    team = Team.objects.create(company=p.company, name="Nord")
    team.members.add(actor.user, stranger)
    org = services.organization_update(actor=actor, organization_id=org.pk, owner_id=stranger.pk)
    assert org.owner_id == stranger.pk
    # Those who see everything may assign anyone, or nobody.
    services.organization_update(actor=p.actor("management"), organization_id=org.pk, owner_id=None)

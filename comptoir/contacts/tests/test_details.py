"""Tags (unique ignoring accents and case, created from the forms, renamed, deleted),
address edits and a person's contact points: services and selectors."""

from __future__ import annotations

import pytest

from comptoir.contacts import details, services, tags
from comptoir.contacts.models import Address, ContactPoint, Organization, Person, Tag
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry
from comptoir.kernel.testkit import count_queries
from comptoir.org.testing import Personas, enable_modules, make_user

SIREN = "732829320"
SIRET = "73282932000074"


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


def _actions(prefix: str) -> list[str]:
    return list(AuditEntry.objects.filter(action__startswith=prefix).order_by("pk").values_list("action", flat=True))


# --- Tags -----------------------------------------------------------------------------


def test_tag_names_are_unique_ignoring_accents_and_case(p: Personas) -> None:
    actor = p.actor("sales")
    client = tags.tag_create(actor=actor, name="  Client  ", color="#1E88E5")
    assert (client.name, client.color) == ("Client", "#1e88e5")
    for name in ("client", "CLIENT", "Cliént"):
        with pytest.raises(ValidationFailed) as exc:
            tags.tag_create(actor=actor, name=name)
        assert list(exc.value.fields) == ["name"]
        assert "Client" in exc.value.fields["name"][0]
    with pytest.raises(ValidationFailed) as exc:
        tags.tag_create(actor=actor, name="", color="blue")
    assert set(exc.value.fields) == {"name", "color"}
    with pytest.raises(ValidationFailed):
        tags.tag_create(actor=actor, name="x" * 61)
    assert list(Tag.objects.values_list("name", flat=True)) == ["Client"]
    assert _actions("contacts.tag_") == ["contacts.tag_create"]
    # Another company has its own list.
    assert tags.tag_create(actor=p.outsider_actor(), name="client").company_id == p.other_company.pk


def test_rename_and_delete_need_the_tag_managers(p: Personas) -> None:
    tag = tags.tag_create(actor=p.actor("sales"), name="VIP")
    other = tags.tag_create(actor=p.actor("sales"), name="Prospect froid")
    with pytest.raises(PermissionDenied):
        tags.tag_update(actor=p.actor("sales"), tag_id=tag.pk, name="V.I.P.")
    with pytest.raises(PermissionDenied):
        tags.tag_delete(actor=p.actor("sales"), tag_id=tag.pk)
    with pytest.raises(PermissionDenied):
        tags.tag_create(actor=p.actor("finance"), name="Compta")
    with pytest.raises(NotFound):
        tags.tag_update(actor=p.outsider_actor(), tag_id=tag.pk, name="Mine")
    with pytest.raises(ValidationFailed) as exc:
        tags.tag_update(actor=p.actor("marketing"), tag_id=tag.pk, name="prospect FROID", shape="round")
    assert set(exc.value.fields) == {"name", "shape"}
    renamed = tags.tag_update(actor=p.actor("marketing"), tag_id=tag.pk, name="Grand compte")
    assert renamed.name == "Grand compte"
    # Renaming to itself with another case is allowed (it is the same tag).
    assert tags.tag_update(actor=p.actor("management"), tag_id=tag.pk, name="grand compte").name == "grand compte"
    entry = AuditEntry.objects.filter(action="contacts.tag_update").order_by("pk").first()
    assert entry is not None and entry.changes == {"name": ["VIP", "Grand compte"]}
    tags.tag_update(actor=p.actor("management"), tag_id=other.pk, color="#00AA00")
    other.refresh_from_db()
    assert other.color == "#00aa00"


def test_delete_says_how_many_contacts_lose_the_tag(p: Personas) -> None:
    sales, admin = p.actor("sales"), p.actor("admin")
    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    mine = services.organization_create(actor=sales, legal_name="Acme", tag_names=["Salon 2025"])
    tag = Tag.objects.get()
    hidden = services.organization_create(actor=admin, legal_name="Loin", owner_id=stranger.pk, tag_ids=[tag.pk])
    person = services.person_create(actor=sales, last_name="Martin", tag_ids=[tag.pk])
    # The list counts the contacts the reader sees; the deletion counts them all.
    row = tags.tag_get(sales, tag.pk)
    assert (row.organization_count, row.person_count) == (1, 1)  # type: ignore[attr-defined]
    row = tags.tag_get(p.actor("management"), tag.pk)
    assert (row.organization_count, row.person_count) == (2, 1)  # type: ignore[attr-defined]
    assert tags.tag_usage(sales, tag.pk) == {"organizations": 2, "people": 1}
    assert tags.tag_delete(actor=p.actor("management"), tag_id=tag.pk) == {"organizations": 2, "people": 1}
    assert not Tag.objects.exists()
    assert Organization.objects.filter(pk__in=[mine.pk, hidden.pk]).count() == 2
    assert Person.objects.filter(pk=person.pk, tags__isnull=True).exists()
    entry = AuditEntry.objects.get(action="contacts.tag_delete")
    assert entry.changes == {"name": ["Salon 2025", None], "organizations": 2, "people": 1}
    with pytest.raises(NotFound):
        tags.tag_delete(actor=p.actor("management"), tag_id=tag.pk)


def test_tag_list_counts_in_constant_queries(p: Personas) -> None:
    actor = p.actor("sales")
    tags.tag_create(actor=actor, name="t0")
    tags.tag_list(actor)  # the record rule reads the actor's teams once per actor
    with count_queries() as one:
        assert len(list(tags.tag_list(actor))) == 1
    for i in range(1, 6):
        org = services.organization_create(actor=actor, legal_name=f"Org {i}", tag_names=[f"t{i}", "t0"])
        services.person_create(actor=actor, last_name=f"P{i}", tag_names=[f"t{i}"], organization_id=org.pk)
    with count_queries() as many:
        rows = list(tags.tag_list(actor))
    assert len(rows) == 6 and len(many) == len(one)
    assert {(t.name, t.organization_count, t.person_count) for t in rows if t.name == "t0"} == {("t0", 5, 0)}  # type: ignore[attr-defined]


def test_forms_create_tags_by_name_only_when_everything_else_is_right(p: Personas) -> None:
    actor = p.actor("sales")
    client = tags.tag_create(actor=actor, name="Client")
    with pytest.raises(ValidationFailed) as exc:
        services.organization_create(actor=actor, legal_name="Acme", siren="123", tag_names=["Nouveau", "client"])
    assert set(exc.value.fields) == {"siren"}
    assert list(Tag.objects.values_list("name", flat=True)) == ["Client"]
    with pytest.raises(ValidationFailed) as exc:
        services.organization_create(actor=actor, legal_name="Acme", tag_names=["y" * 61])
    assert set(exc.value.fields) == {"tag_names"}
    org = services.organization_create(actor=actor, legal_name="Acme", tag_names="Nouveau, CLIENT ; nouveau")
    assert sorted(org.tags.values_list("name", flat=True)) == ["Client", "Nouveau"]
    assert Tag.objects.count() == 2
    # On an edit the named tags join the ones chosen, or the row's own when none are chosen.
    services.organization_update(actor=actor, organization_id=org.pk, tag_ids=[client.pk], tag_names=["Lyon"])
    assert sorted(org.tags.values_list("name", flat=True)) == ["Client", "Lyon"]
    services.organization_update(actor=actor, organization_id=org.pk, tag_names=["Salon"])
    assert sorted(org.tags.values_list("name", flat=True)) == ["Client", "Lyon", "Salon"]
    person = services.person_create(actor=actor, last_name="Martin", tag_names=["lyon"])
    services.person_update(actor=actor, person_id=person.pk, tag_names=["Cliént"])
    assert sorted(person.tags.values_list("name", flat=True)) == ["Client", "Lyon"]
    assert _actions("contacts.tag_create") == ["contacts.tag_create"] * 4
    # tags_set matches the same way.
    services.tags_set(actor=actor, person_id=person.pk, names=["SALON", "lyón"])
    assert sorted(person.tags.values_list("name", flat=True)) == ["Lyon", "Salon"]


# --- Addresses ------------------------------------------------------------------------


def test_address_edit_default_and_siret(p: Personas) -> None:
    actor = p.actor("sales")
    org = services.organization_create(actor=actor, legal_name="Acme", siren=SIREN)
    billing = services.address_add(actor=actor, organization_id=org.pk, line1="1 rue A", city="Lyon", is_default=True)
    other = services.address_add(actor=actor, organization_id=org.pk, line1="2 rue B", city="Lyon")
    site = services.address_add(actor=actor, organization_id=org.pk, kind="site", line1="Zone C", city="Bron")
    services.address_update(actor=actor, address_id=other.pk, is_default=True)
    defaults = dict(Address.objects.filter(is_default=True).values_list("pk", "kind"))
    assert defaults == {other.pk: "billing"}
    services.address_update(actor=actor, address_id=site.pk, is_default=True, siret="732 829 320 00074")
    assert set(Address.objects.filter(is_default=True).values_list("pk", flat=True)) == {other.pk, site.pk}
    with pytest.raises(ValidationFailed) as exc:
        services.address_update(actor=actor, address_id=billing.pk, siret="84215763800011", city="")
    assert set(exc.value.fields) == {"siret", "city"}
    assert "732 829 320" in exc.value.fields["siret"][0] or SIREN in exc.value.fields["siret"][0]
    billing.refresh_from_db()
    assert (billing.city, billing.siret) == ("Lyon", "")
    assert details.organization_addresses(actor, org.pk)[0].pk == other.pk  # default first in its kind
    assert details.address_get(actor, site.pk).organization.pk == org.pk
    assert _actions("contacts.address_update") == ["contacts.address_update"] * 2


def test_addresses_of_a_contact_out_of_sight_are_not_found(p: Personas) -> None:
    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    org = services.organization_create(actor=p.actor("admin"), legal_name="Loin", owner_id=stranger.pk)
    address = services.address_add(actor=p.actor("admin"), organization_id=org.pk, line1="1 rue A", city="Lyon")
    sales = p.actor("sales")
    for call in (
        lambda: details.organization_addresses(sales, org.pk),
        lambda: details.address_get(sales, address.pk),
        lambda: services.address_update(actor=sales, address_id=address.pk, city="Paris"),
        lambda: services.address_remove(actor=sales, address_id=address.pk),
        lambda: details.address_get(p.outsider_actor(), address.pk),
    ):
        with pytest.raises(NotFound):
            call()
    address.refresh_from_db()
    assert address.city == "Lyon"


# --- Contact points -------------------------------------------------------------------


def test_contact_points_are_checked_against_the_person_s_other_values(p: Personas) -> None:
    actor = p.actor("sales")
    person = services.person_create(
        actor=actor, last_name="Martin", email="m@acme.fr", phone="04 78 00 00 00", mobile="06 12 34 56 78"
    )
    for kind, value in (("email", "M@ACME.FR"), ("phone", "+33 6 12 34 56 78"), ("mobile", "0478000000")):
        with pytest.raises(ValidationFailed) as exc:
            services.contact_point_add(actor=actor, person_id=person.pk, kind=kind, value=value)
        assert set(exc.value.fields) == {"value"}
    with pytest.raises(ValidationFailed) as exc:
        services.contact_point_add(actor=actor, person_id=person.pk, kind="fax", value="1", label="x" * 41)
    assert set(exc.value.fields) == {"kind", "label"}
    with pytest.raises(ValidationFailed) as exc:
        services.contact_point_add(actor=actor, person_id=person.pk, kind="email", value=42)  # type: ignore[arg-type]
    assert set(exc.value.fields) == {"value"}
    point = services.contact_point_add(actor=actor, person_id=person.pk, kind="phone", value="01 42 72 00 00")
    assert point.value == "+33142720000"
    assert not ContactPoint.objects.exclude(pk=point.pk).exists()
    assert _actions("contacts.contact_point") == ["contacts.contact_point_add"]


def test_contact_point_update(p: Personas) -> None:
    actor = p.actor("sales")
    person = services.person_create(actor=actor, last_name="Martin", email="m@acme.fr")
    point = services.contact_point_add(actor=actor, person_id=person.pk, kind="email", value="perso@x.fr")
    second = services.contact_point_add(actor=actor, person_id=person.pk, kind="email", value="autre@x.fr")
    updated = details.contact_point_update(actor=actor, contact_point_id=point.pk, value=" Maison@X.fr ", label="home")
    assert (updated.value, updated.label) == ("maison@x.fr", "home")
    with pytest.raises(ValidationFailed) as exc:
        details.contact_point_update(actor=actor, contact_point_id=point.pk, value="autre@x.fr")
    assert set(exc.value.fields) == {"value"}
    with pytest.raises(ValidationFailed) as exc:
        details.contact_point_update(actor=actor, contact_point_id=point.pk, kind="phone")  # the email is no phone
    assert set(exc.value.fields) == {"value"}
    with pytest.raises(ValidationFailed) as exc:
        details.contact_point_update(actor=actor, contact_point_id=point.pk, person_id=3)
    assert set(exc.value.fields) == {"person_id"}
    changed = details.contact_point_update(actor=actor, contact_point_id=second.pk, kind="mobile", value="0612345678")
    assert (changed.kind, changed.value) == ("mobile", "+33612345678")
    point.refresh_from_db()
    assert point.value == "maison@x.fr"
    entry = AuditEntry.objects.filter(action="contacts.contact_point_update").order_by("pk").first()
    assert entry is not None
    assert entry.changes == {"contact_point": point.pk, "label": ["", "home"], "value": ["perso@x.fr", "maison@x.fr"]}


def test_make_primary_swaps_with_the_main_value(p: Personas) -> None:
    actor = p.actor("sales")
    person = services.person_create(actor=actor, last_name="Martin", email="old@acme.fr")
    email = services.contact_point_add(actor=actor, person_id=person.pk, kind="email", value="new@acme.fr", label="pro")
    phone = services.contact_point_add(actor=actor, person_id=person.pk, kind="phone", value="04 78 00 00 00")
    details.contact_point_make_primary(actor=actor, contact_point_id=email.pk)
    person.refresh_from_db()
    assert person.email == "new@acme.fr"
    assert list(ContactPoint.objects.filter(kind="email").values_list("pk", "value", "label")) == [
        (email.pk, "old@acme.fr", "")
    ]
    assert "new@acme.fr" in person.search_text
    # No main phone yet: the contact point becomes it and leaves the list.
    details.contact_point_make_primary(actor=actor, contact_point_id=phone.pk)
    person.refresh_from_db()
    assert person.phone == "+33478000000" and not ContactPoint.objects.filter(pk=phone.pk).exists()
    entries = AuditEntry.objects.filter(action="contacts.contact_point_make_primary").order_by("pk")
    assert [e.changes for e in entries] == [
        {"email": ["old@acme.fr", "new@acme.fr"], "contact_point": [email.pk, email.pk]},
        {"phone": ["", "+33478000000"], "contact_point": [phone.pk, None]},
    ]


def test_contact_points_of_a_person_out_of_sight_are_not_found(p: Personas) -> None:
    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    person = services.person_create(actor=p.actor("admin"), last_name="Loin", owner_id=stranger.pk)
    point = services.contact_point_add(actor=p.actor("admin"), person_id=person.pk, kind="email", value="a@b.fr")
    sales = p.actor("sales")
    for call in (
        lambda: details.person_contact_points(sales, person.pk),
        lambda: details.contact_point_get(sales, point.pk),
        lambda: details.contact_point_update(actor=sales, contact_point_id=point.pk, label="x"),
        lambda: details.contact_point_make_primary(actor=sales, contact_point_id=point.pk),
        lambda: services.contact_point_remove(actor=sales, contact_point_id=point.pk),
        lambda: services.contact_point_add(actor=sales, person_id=person.pk, kind="email", value="c@d.fr"),
        lambda: details.contact_point_get(sales, 2**70),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(PermissionDenied):
        details.contact_point_update(actor=p.actor("finance"), contact_point_id=point.pk, label="x")
    assert list(ContactPoint.objects.values_list("value", "label")) == [("a@b.fr", "")]

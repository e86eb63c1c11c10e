"""Pages for tags, address edits and contact points: forms, per-field errors with nothing
written, permissions and record rules (another team's contact is a 404 here too)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from comptoir.contacts import services, tags
from comptoir.contacts.models import Address, ContactPoint, Organization, Person, Tag
from comptoir.contacts.tests.test_views import login
from comptoir.kernel.testkit import count_queries
from comptoir.org.testing import Personas, enable_modules, make_user

SIREN = "732829320"


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


@pytest.fixture
def sales(client: Client, p: Personas) -> Client:
    return login(client, p.users["sales"])


# --- Tags -----------------------------------------------------------------------------


def test_tags_page_lists_usage_and_creates(sales: Client, p: Personas) -> None:
    tag = tags.tag_create(actor=p.actor("sales"), name="Client")
    services.organization_create(actor=p.actor("sales"), legal_name="Acme", tag_ids=[tag.pk])
    page = sales.get(reverse("contacts:tags"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-tag="{tag.pk}"' in html and 'data-count="organizations">1<' in html
    assert 'data-action="delete"' not in html  # a salesperson creates tags but does not delete them
    refused = sales.post(reverse("contacts:tag_create"), {"name": "CLIÉNT", "color": "#000000"})
    assert refused.status_code == 422
    assert 'data-field-error="name"' in refused.content.decode()
    assert Tag.objects.count() == 1
    created = sales.post(reverse("contacts:tag_create"), {"name": "Salon", "color": "#00aa00"})
    assert created.status_code == 302
    assert list(Tag.objects.order_by("name").values_list("name", "color")) == [
        ("Client", "#6c757d"),
        ("Salon", "#00aa00"),
    ]
    assert sales.get(reverse("contacts:tag_edit", args=[tag.pk])).status_code == 403
    assert sales.post(reverse("contacts:tag_delete", args=[tag.pk])).status_code == 403


def test_tags_page_queries_do_not_grow(sales: Client, p: Personas) -> None:
    tags.tag_create(actor=p.actor("sales"), name="t0")
    sales.get(reverse("contacts:tags"))
    with count_queries() as one:
        sales.get(reverse("contacts:tags"))
    for i in range(1, 8):
        services.organization_create(actor=p.actor("sales"), legal_name=f"O{i}", tag_names=[f"t{i}"])
    with count_queries() as many:
        assert sales.get(reverse("contacts:tags")).content.decode().count("data-tag=") == 8
    assert len(many) == len(one)


def test_manager_renames_and_deletes_after_seeing_what_is_lost(client: Client, p: Personas) -> None:
    manager = login(client, p.users["management"])
    tag = tags.tag_create(actor=p.actor("sales"), name="VIP")
    tags.tag_create(actor=p.actor("sales"), name="Prospect")
    services.organization_create(actor=p.actor("sales"), legal_name="Acme", tag_ids=[tag.pk])
    services.person_create(actor=p.actor("sales"), last_name="Martin", tag_ids=[tag.pk])
    services.person_create(actor=p.actor("sales"), last_name="Durand", tag_ids=[tag.pk])
    form = manager.get(reverse("contacts:tag_edit", args=[tag.pk]))
    assert form.status_code == 200 and 'value="VIP"' in form.content.decode()
    clash = manager.post(reverse("contacts:tag_edit", args=[tag.pk]), {"name": "prospect", "color": "#6c757d"})
    assert clash.status_code == 422 and 'data-field-error="name"' in clash.content.decode()
    saved = manager.post(reverse("contacts:tag_edit", args=[tag.pk]), {"name": "Grand compte", "color": "#6c757d"})
    assert saved.status_code == 302
    confirm = manager.get(reverse("contacts:tag_delete", args=[tag.pk]))
    assert confirm.status_code == 200
    assert 'data-organizations="1" data-people="2"' in confirm.content.decode()
    assert Tag.objects.filter(pk=tag.pk, name="Grand compte").exists()  # asking deletes nothing
    deleted = manager.post(reverse("contacts:tag_delete", args=[tag.pk]), follow=True)
    assert deleted.status_code == 200
    assert not Tag.objects.filter(pk=tag.pk).exists()
    assert Person.objects.count() == 2 and Organization.objects.count() == 1


def test_organization_form_creates_a_typed_tag(sales: Client, p: Personas) -> None:
    tags.tag_create(actor=p.actor("sales"), name="Client")
    me = p.users["sales"].pk
    body = {"legal_name": "Acme", "lifecycle_stage": "prospect", "owner_id": me, "tag_names": "client, Nouveau"}
    refused = sales.post(reverse("contacts:organization_create"), {**body, "siren": "123"})
    assert refused.status_code == 200 and 'data-field-error="siren"' in refused.content.decode()
    assert Tag.objects.count() == 1 and not Organization.objects.exists()
    created = sales.post(reverse("contacts:organization_create"), body)
    assert created.status_code == 302
    org = Organization.objects.get()
    assert sorted(org.tags.values_list("name", flat=True)) == ["Client", "Nouveau"]
    person = sales.post(
        reverse("contacts:person_create"),
        {"last_name": "Martin", "lifecycle_stage": "lead", "owner_id": me, "tag_names": "nouveau"},
    )
    assert person.status_code == 302
    assert list(Person.objects.get().tags.values_list("name", flat=True)) == ["Nouveau"]


# --- Addresses ------------------------------------------------------------------------


def test_address_edit_and_default(sales: Client, p: Personas) -> None:
    actor = p.actor("sales")
    org = services.organization_create(actor=actor, legal_name="Acme", siren=SIREN)
    first = services.address_add(actor=actor, organization_id=org.pk, line1="1 rue A", city="Lyon", is_default=True)
    second = services.address_add(actor=actor, organization_id=org.pk, line1="2 rue B", city="Lyon")
    page = sales.get(reverse("contacts:address_edit", args=[second.pk]))
    assert page.status_code == 200 and 'value="2 rue B"' in page.content.decode()
    body = {"kind": "billing", "line1": "2 rue B", "city": "Lyon", "country": "FR", "siret": "84215763800011"}
    refused = sales.post(reverse("contacts:address_edit", args=[second.pk]), body)
    assert refused.status_code == 422 and 'data-field-error="siret"' in refused.content.decode()
    second.refresh_from_db()
    assert second.siret == ""
    saved = sales.post(reverse("contacts:address_edit", args=[second.pk]), {**body, "siret": "73282932000074"})
    assert saved.status_code == 302
    second.refresh_from_db()
    assert second.siret == "73282932000074"
    assert sales.post(reverse("contacts:address_make_default", args=[second.pk])).status_code == 302
    assert list(Address.objects.filter(is_default=True).values_list("pk", flat=True)) == [second.pk]
    detail = sales.get(reverse("contacts:organization_detail", args=[org.pk])).content.decode()
    assert reverse("contacts:address_edit", args=[first.pk]) in detail
    assert reverse("contacts:address_make_default", args=[first.pk]) in detail
    assert "732 829 320 00074" in detail


def test_another_team_s_addresses_and_contact_points_are_404(sales: Client, p: Personas) -> None:
    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    admin = p.actor("admin")
    org = services.organization_create(actor=admin, legal_name="Loin", owner_id=stranger.pk)
    address = services.address_add(actor=admin, organization_id=org.pk, line1="1 rue A", city="Lyon")
    person = services.person_create(actor=admin, last_name="Loin", owner_id=stranger.pk)
    point = services.contact_point_add(actor=admin, person_id=person.pk, kind="email", value="loin@x.fr")
    for url, body in [
        (reverse("contacts:address_edit", args=[address.pk]), None),
        (reverse("contacts:address_edit", args=[address.pk]), {"kind": "billing", "line1": "x", "city": "y"}),
        (reverse("contacts:address_make_default", args=[address.pk]), {}),
        (reverse("contacts:contact_point_add", args=[person.pk]), {"kind": "email", "value": "a@b.fr"}),
        (reverse("contacts:contact_point_edit", args=[point.pk]), None),
        (reverse("contacts:contact_point_edit", args=[point.pk]), {"kind": "email", "value": "a@b.fr"}),
        (reverse("contacts:contact_point_remove", args=[point.pk]), {}),
        (reverse("contacts:contact_point_make_primary", args=[point.pk]), {}),
    ]:
        response = sales.get(url) if body is None else sales.post(url, body)
        assert response.status_code == 404, url
    assert list(Address.objects.values_list("line1", "is_default")) == [("1 rue A", False)]
    assert list(ContactPoint.objects.values_list("value", flat=True)) == ["loin@x.fr"]


# --- Contact points -------------------------------------------------------------------


def test_contact_points_on_the_person_page(sales: Client, p: Personas) -> None:
    person = services.person_create(actor=p.actor("sales"), last_name="Martin", email="m@acme.fr")
    add = reverse("contacts:contact_point_add", args=[person.pk])
    refused = sales.post(add, {"kind": "phone", "value": "not a phone", "label": "bureau"})
    assert refused.status_code == 422 and 'data-field-error="value"' in refused.content.decode()
    assert sales.post(add, {"kind": "email", "value": "M@acme.fr"}).status_code == 422  # the main email already
    assert not ContactPoint.objects.exists()
    assert sales.post(add, {"kind": "phone", "value": "+33478000000", "label": "bureau"}).status_code == 302
    assert sales.post(add, {"kind": "email", "value": "perso@x.fr"}).status_code == 302
    phone, email = ContactPoint.objects.order_by("pk")
    html = sales.get(reverse("contacts:person_detail", args=[person.pk])).content.decode()
    assert f'data-contact-point="{phone.pk}"' in html and "04 78 00 00 00" in html  # national format
    edit = reverse("contacts:contact_point_edit", args=[phone.pk])
    assert sales.get(edit).status_code == 200
    assert sales.post(edit, {"kind": "mobile", "value": "06 12 34 56 78", "label": ""}).status_code == 302
    phone.refresh_from_db()
    assert (phone.kind, phone.value) == ("mobile", "+33612345678")
    assert sales.post(edit, {"kind": "mobile", "value": "12"}).status_code == 422
    primary = sales.post(reverse("contacts:contact_point_make_primary", args=[email.pk]))
    assert primary.status_code == 302
    person.refresh_from_db()
    assert person.email == "perso@x.fr"
    assert ContactPoint.objects.filter(kind="email").get().value == "m@acme.fr"
    assert sales.post(reverse("contacts:contact_point_remove", args=[phone.pk])).status_code == 302
    assert list(ContactPoint.objects.values_list("value", flat=True)) == ["m@acme.fr"]

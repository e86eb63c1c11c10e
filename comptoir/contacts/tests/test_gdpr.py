"""GDPR: export of everything held about a person, erasure (anonymize/delete), retention refusal."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from django.urls import reverse
from django.utils import timezone

from comptoir.contacts import gdpr
from comptoir.contacts.models import Affiliation, Consent, ContactPoint, Organization, Person
from comptoir.kernel import audit
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent
from comptoir.org.testing import PASSWORD, Personas, enable_modules


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


@pytest.fixture
def person(p: Personas) -> Person:
    org = Organization.objects.create(company=p.company, legal_name="Boulangerie Martin")
    person = Person.objects.create(
        company=p.company, owner=p.users["sales"], first_name="Zoé", last_name="Lefèvre", email="zoe@martin.fr",
        phone="+33612345678", job_title="Gérante", external_id="CRM-42", notes="Aime le pain de seigle",
        search_text="zoe lefevre zoe@martin.fr",
    )  # fmt: skip
    Affiliation.objects.create(person=person, organization=org, role="Gérante", is_primary=True)
    ContactPoint.objects.create(person=person, kind=ContactPoint.Kind.EMAIL, value="zoe.perso@gmail.com")
    now = timezone.now()
    Consent.objects.create(person=person, channel="email", granted=True, at=now - dt.timedelta(days=2), source="form")
    Consent.objects.create(person=person, channel="email", granted=False, at=now, source="unsubscribe link")
    from django.db import transaction

    with transaction.atomic():
        audit.record(p.actor("sales"), "contacts.person_create", person, changes={"email": [None, "zoe@martin.fr"]})
    return person


@pytest.fixture
def invoices_rule() -> Iterator[None]:
    gdpr.register_retention_check(
        "test.invoices", lambda person: "invoices of the last 10 years" if person.external_id == "CRM-42" else None
    )
    yield
    gdpr.unregister_retention_check("test.invoices")


def test_export_holds_everything(p: Personas, person: Person) -> None:
    data = gdpr.person_export(p.actor("management"), person.pk)
    assert data["person"]["email"] == "zoe@martin.fr" and data["person"]["notes"] == "Aime le pain de seigle"
    assert data["person"]["owner"] == p.users["sales"].email
    assert data["contact_points"][0]["value"] == "zoe.perso@gmail.com"
    assert data["affiliations"] == [
        {"organization_id": person.affiliations.get().organization_id, "organization": "Boulangerie Martin",
         "role": "Gérante", "is_primary": True}
    ]  # fmt: skip
    assert [(c["granted"], c["source"]) for c in data["consents"]] == [(True, "form"), (False, "unsubscribe link")]
    assert [e["action"] for e in data["audit_trail"]] == ["contacts.person_create"]
    json.dumps(data, default=str)  # serialisable for the download


def test_export_and_erase_permissions_and_scope(p: Personas, person: Person) -> None:
    with pytest.raises(PermissionDenied):
        gdpr.person_export(p.actor("sales"), person.pk)  # sees the person (owner), lacks the permission
    with pytest.raises(NotFound):
        gdpr.person_export(p.outsider_actor(), person.pk)
    with pytest.raises(NotFound):
        gdpr.person_erase(actor=p.outsider_actor(), person_id=person.pk)
    with pytest.raises(PermissionDenied):
        gdpr.person_erase(actor=p.actor("marketing"), person_id=person.pk)
    with pytest.raises(ValidationFailed):
        gdpr.person_erase(actor=p.actor("management"), person_id=person.pk, mode="shred")
    assert Person.objects.get(pk=person.pk).email == "zoe@martin.fr"


def test_erase_anonymizes_and_is_audited_without_the_data(p: Personas, person: Person) -> None:
    duplicate = Person.objects.create(company=p.company, last_name="Lefevre", email="z@old.fr", merged_into=person)
    gdpr.person_erase(actor=p.actor("management"), person_id=person.pk)
    person.refresh_from_db()
    assert person.last_name.endswith(f"#{person.pk}") and person.first_name == ""
    assert (person.email, person.phone, person.job_title, person.notes, person.external_id) == ("", "", "", "", "")
    assert person.do_not_contact and person.is_archived
    assert "zoe" not in person.search_text
    duplicate.refresh_from_db()
    assert duplicate.email == "" and duplicate.merged_into_id == person.pk
    assert not ContactPoint.objects.filter(person=person).exists()
    assert list(Consent.objects.filter(person=person).values_list("source", flat=True)) == ["", ""]
    assert Affiliation.objects.filter(person=person).exists()  # the organization's records keep their link
    entry = AuditEntry.objects.get(action="contacts.person_erase")
    assert entry.object_id == str(person.pk)
    assert "zoe" not in json.dumps(entry.changes).lower() and "Zo" not in entry.object_repr
    assert entry.changes["contact_points_deleted"] == 1 and entry.changes["merged_records"] == [duplicate.pk]
    assert OutboxEvent.objects.filter(name="contacts.person_erased").exists()


def test_erase_by_deletion(p: Personas, person: Person) -> None:
    assert gdpr.person_erase(actor=p.actor("management"), person_id=person.pk, mode="delete") is None
    assert not Person.objects.filter(pk=person.pk).exists()
    assert AuditEntry.objects.get(action="contacts.person_erase").changes["mode"] == "delete"


def test_retention_refuses_erasure(p: Personas, person: Person, invoices_rule: None) -> None:
    with pytest.raises(Conflict) as caught:
        gdpr.person_erase(actor=p.actor("management"), person_id=person.pk)
    assert caught.value.code == "retention_applies" and caught.value.status == 409
    assert Person.objects.get(pk=person.pk).email == "zoe@martin.fr"
    assert not AuditEntry.objects.filter(action="contacts.person_erase").exists()


def login(client: object, user: object) -> None:
    user.language = "en"  # type: ignore[attr-defined]
    user.save()  # type: ignore[attr-defined]
    assert client.login(email=user.email, password=PASSWORD)  # type: ignore[attr-defined]


def test_ui_download_and_erase(client: object, p: Personas, person: Person) -> None:
    login(client, p.users["management"])
    response = client.get(reverse("contacts:person_personal_data", args=[person.pk]))  # type: ignore[attr-defined]
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert json.loads(response.content)["person"]["email"] == "zoe@martin.fr"
    url = reverse("contacts:person_erase", args=[person.pk])
    assert client.get(url).status_code == 200  # type: ignore[attr-defined]
    response = client.post(url)  # type: ignore[attr-defined]
    assert response.status_code == 302
    assert Person.objects.get(pk=person.pk).email == ""
    login(client, p.users["sales"])
    assert client.get(reverse("contacts:person_personal_data", args=[person.pk])).status_code == 403  # type: ignore[attr-defined]


def test_ui_shows_retention_refusal(client: object, p: Personas, person: Person, invoices_rule: None) -> None:
    login(client, p.users["management"])
    response = client.get(reverse("contacts:person_erase", args=[person.pk]))  # type: ignore[attr-defined]
    assert b"invoices of the last 10 years" in response.content and b"erase-form" not in response.content


def test_api(client: object, p: Personas, person: Person, invoices_rule: None) -> None:
    login(client, p.users["management"])
    response = client.get(f"/api/v1/people/{person.pk}/personal-data")  # type: ignore[attr-defined]
    assert response.status_code == 200 and response.json()["person"]["external_id"] == "CRM-42"
    url = f"/api/v1/people/{person.pk}/erase"
    response = client.post(url, {}, content_type="application/json")  # type: ignore[attr-defined]
    assert response.status_code == 409 and response.json()["code"] == "retention_applies"
    gdpr.unregister_retention_check("test.invoices")
    response = client.post(url, {"mode": "bogus"}, content_type="application/json")  # type: ignore[attr-defined]
    assert response.status_code == 422
    response = client.post(url, {"mode": "anonymize"}, content_type="application/json")  # type: ignore[attr-defined]
    assert response.status_code == 200 and response.json() == {"id": person.pk, "mode": "anonymize", "deleted": False}
    assert client.get("/api/v1/people/999999/personal-data").status_code == 404  # type: ignore[attr-defined]

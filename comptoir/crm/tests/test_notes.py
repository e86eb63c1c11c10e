"""Notes: @mention parsing, one notification per mentioned colleague, record rules, rights, API and page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.contacts import services as contact_services
from comptoir.crm import notes, services
from comptoir.crm.models import Note, Opportunity
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, Notification, OutboxEvent
from comptoir.org import services as org_services
from comptoir.org.models import User
from comptoir.org.testing import Personas, make_user

pytestmark = pytest.mark.django_db
API = "/api/v1"


def _opp(personas: Personas, role: str = "sales") -> Opportunity:
    return services.opportunity_create(actor=personas.actor(role), title="Four à pain")


def _notified(personas: Personas) -> dict[str, int]:
    by_id = {u.pk: role for role, u in personas.users.items()} | {personas.outsider.pk: "outsider"}
    counts: dict[str, int] = {}
    for user_id in Notification.objects.values_list("user_id", flat=True):
        counts[by_id.get(user_id, str(user_id))] = counts.get(by_id.get(user_id, str(user_id)), 0) + 1
    return counts


def test_mention_parsing() -> None:
    text = "Voir @Camille.Martin et @sales. Écrire à jean@exemple.fr, @sales encore, @Élodie-B!"
    assert notes.mentions(text) == ["camille.martin", "sales", "elodie-b"]
    assert notes.mentions("pas de mention, mail@exemple.fr") == []


def test_create_notifies_each_mentioned_colleague_once(crm: Personas) -> None:
    camille = make_user(crm.company, "sales", email="c.martin@atelier-dupont.test")
    User.objects.filter(pk=camille.pk).update(full_name="Camille Martin")
    opp = _opp(crm)
    body = "@camille.martin et @C.Martin, @finance @finance, @sales (moi), @outsider, @inconnu"
    note = notes.note_create(actor=crm.actor("sales"), body=body, opportunity_id=opp.pk)
    assert note.author_id == crm.users["sales"].pk and note.opportunity_id == opp.pk
    rows = Notification.objects.all()
    assert sorted(n.user_id for n in rows) == sorted([camille.pk, crm.users["finance"].pk])
    assert all(n.company_id == crm.company.pk and n.url == f"/crm/opportunities/{opp.pk}/" for n in rows)
    assert AuditEntry.objects.filter(action="note.create", object_id=str(note.pk)).exists()
    event = OutboxEvent.objects.get(name="crm.note_created")
    assert event.payload["id"] == note.pk and sorted(event.payload["mentioned_ids"]) == sorted(n.user_id for n in rows)


def test_no_notification_for_other_companies(crm: Personas) -> None:
    # The outsider's local part is "outsider": not a colleague, so nothing.
    make_user(crm.other_company, "sales", email="juliette@concurrent.test")
    opp = _opp(crm)
    notes.note_create(actor=crm.actor("sales"), body="@outsider @juliette", opportunity_id=opp.pk)
    assert not Notification.objects.exists()


def test_record_rules_and_rights(crm: Personas) -> None:
    hidden = _opp(crm, role="management")
    with pytest.raises(NotFound):
        notes.note_create(actor=crm.actor("sales"), body="Bonjour", opportunity_id=hidden.pk)
    with pytest.raises(NotFound):
        notes.note_list(crm.actor("sales"), opportunity_id=hidden.pk)
    with pytest.raises(NotFound):
        notes.note_create(actor=crm.outsider_actor(), body="Bonjour", opportunity_id=_opp(crm).pk)
    org = contact_services.organization_create(actor=crm.actor("management"), legal_name="Boulangerie Martin")
    with pytest.raises(NotFound):
        notes.note_create(actor=crm.actor("sales"), body="Bonjour", organization_id=org.pk)
    visible = _opp(crm)
    with pytest.raises(PermissionDenied):
        notes.note_create(actor=crm.actor("finance"), body="@sales", opportunity_id=visible.pk)
    assert not Note.objects.exists() and not Notification.objects.exists()


def test_bad_input_writes_nothing(crm: Personas) -> None:
    opp = _opp(crm)
    actor = crm.actor("sales")
    for body in ("", "   ", "x" * (notes.BODY_MAX + 1)):
        with pytest.raises(ValidationFailed) as exc:
            notes.note_create(actor=actor, body=body, opportunity_id=opp.pk)
        assert set(exc.value.fields) == {"body"}
    for target in ({}, {"opportunity_id": opp.pk, "person_id": 1}):
        with pytest.raises(ValidationFailed) as exc:
            notes.note_create(actor=actor, body="@finance", **target)
        assert set(exc.value.fields) == {"target"}
    with pytest.raises(NotFound):
        notes.note_create(actor=actor, body="@finance", opportunity_id=2**70)
    assert not Note.objects.exists() and not Notification.objects.exists()


def test_list_of_one_target(crm: Personas) -> None:
    opp, other = _opp(crm), _opp(crm)
    actor = crm.actor("sales")
    first = notes.note_create(actor=actor, body="Un", opportunity_id=opp.pk)
    notes.note_create(actor=actor, body="Ailleurs", opportunity_id=other.pk)
    second = notes.note_create(actor=crm.actor("management"), body="Deux", opportunity_id=opp.pk)
    rows = list(notes.note_list(actor, opportunity_id=opp.pk))
    assert [n.pk for n in rows] == [second.pk, first.pk]
    assert rows[0].author is not None  # selected with the note: no lazy load


# --- API ------------------------------------------------------------------------------


def key(personas: Personas, role: str, scopes: list[str] | None = None) -> dict[str, str]:
    _k, secret = org_services.apikey_create(
        actor=personas.actor(role), name=f"{role} key", scopes=scopes or ["crm:write", "contacts:write"]
    )
    return {"Authorization": f"Bearer {secret}"}


def post(client: Client, url: str, headers: dict[str, str], body: Any) -> Any:
    return client.post(API + url, data=json.dumps(body), content_type="application/json", headers=headers)


def test_api_happy_path(crm: Personas, client: Client) -> None:
    opp = _opp(crm)
    h = key(crm, "sales")
    created = post(client, "/notes", h, {"body": "Relancer @finance", "opportunity_id": opp.pk})
    assert created.status_code == 201, created.content
    assert created.json()["opportunity_id"] == opp.pk and created.json()["author_id"] == crm.users["sales"].pk
    listed = client.get(API + f"/notes?opportunity_id={opp.pk}", headers=h)
    assert listed.status_code == 200 and [n["body"] for n in listed.json()["items"]] == ["Relancer @finance"]
    assert Notification.objects.filter(user_id=crm.users["finance"].pk).count() == 1


def test_api_errors(crm: Personas, client: Client) -> None:
    opp = _opp(crm)
    hidden = _opp(crm, role="management")
    h = key(crm, "sales")
    assert client.get(API + f"/notes?opportunity_id={opp.pk}").status_code == 401
    assert post(client, "/notes", {}, {"body": "x", "opportunity_id": opp.pk}).status_code == 401
    assert client.get(API + f"/notes?opportunity_id={hidden.pk}", headers=h).status_code == 404
    assert post(client, "/notes", h, {"body": "x", "opportunity_id": hidden.pk}).status_code == 404
    empty = post(client, "/notes", h, {"body": " ", "opportunity_id": opp.pk})
    assert empty.status_code == 422 and "body" in empty.json()["fields"]
    assert client.get(API + "/notes", headers=h).status_code == 422
    read_only = key(crm, "sales", scopes=["crm:read"])
    assert post(client, "/notes", read_only, {"body": "x", "opportunity_id": opp.pk}).status_code == 403
    assert not Note.objects.exists()


# --- Pages ----------------------------------------------------------------------------


def login(client: Client, personas: Personas, role: str) -> Client:
    user = personas.users[role]
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language="en"
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def test_notes_section_on_the_opportunity_page(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    opp = _opp(crm)
    url = f"/crm/notes/opportunity/{opp.pk}/"
    detail = client.get(f"/crm/opportunities/{opp.pk}/")
    assert detail.status_code == 200 and url in detail.content.decode()
    section = client.get(url)
    assert section.status_code == 200 and "No notes yet." in section.content.decode()
    bad = client.post(url, {"body": "  "}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "This field is required." in bad.content.decode()
    added = client.post(url, {"body": "Voir avec @finance"}, headers={"HX-Request": "true"})
    assert added.status_code == 200 and "Voir avec @finance" in added.content.decode()
    assert client.post(url, {"body": "Sans htmx"}).status_code == 302
    assert Note.objects.count() == 2 and Notification.objects.count() == 1
    hidden = _opp(crm, role="management")
    assert client.get(f"/crm/notes/opportunity/{hidden.pk}/").status_code == 404
    assert client.post(f"/crm/notes/opportunity/{hidden.pk}/", {"body": "x"}).status_code == 404
    assert Note.objects.count() == 2


def test_notes_page_needs_the_change_right_to_post(crm: Personas, client: Client) -> None:
    opp = _opp(crm)
    login(client, crm, "finance")  # sees every opportunity, may not write
    response = client.get(f"/crm/notes/opportunity/{opp.pk}/")
    assert response.status_code == 200 and 'id="note-form"' not in response.content.decode()
    assert client.post(f"/crm/notes/opportunity/{opp.pk}/", {"body": "x"}).status_code == 403
    assert not Note.objects.exists()


def test_notifications_link_to_the_organization_or_person_noted(crm: Personas) -> None:
    boss = crm.actor("management")
    org = contact_services.organization_create(actor=boss, legal_name="Verrerie Charpentier")
    person = contact_services.person_create(actor=boss, last_name="Charpentier", first_name="Yves")
    notes.note_create(actor=boss, body="Appeler @sales", organization_id=org.pk)
    notes.note_create(actor=boss, body="Relancer @sales", person_id=person.pk)
    urls = set(Notification.objects.filter(user_id=crm.users["sales"].pk).values_list("url", flat=True))
    assert urls == {f"/contacts/organizations/{org.pk}/", f"/contacts/people/{person.pk}/"}

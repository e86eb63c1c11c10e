"""The CRM on the 360° pages: timeline sources, key figures, the notes panel, pages and API."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from comptoir.contacts import services as contact_services
from comptoir.contacts.models import Organization
from comptoir.contacts.timeline import ORGANIZATION, PERSON, Subject, key_figures, timeline
from comptoir.crm import activities, notes, services
from comptoir.crm.models import Activity, Note, Opportunity
from comptoir.kernel.models import Notification
from comptoir.org.models import User
from comptoir.org.testing import Personas, make_user

pytestmark = pytest.mark.django_db
API = "/api/v1"


@pytest.fixture(autouse=True)
def english() -> Any:
    with translation.override("en"):
        yield


def login(client: Client, personas: Personas, role: str, user: User | None = None) -> Client:
    user = user or personas.users[role]
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language="en"
    )
    user.refresh_from_db()
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def _org(personas: Personas, role: str = "sales", **data: Any) -> Organization:
    return contact_services.organization_create(actor=personas.actor(role), legal_name="Boulangerie Martin", **data)


def _history(personas: Personas, org: Organization, role: str = "sales") -> dict[str, Any]:
    """A planned call, a done meeting, a note, an opportunity won and one open."""
    actor = personas.actor(role)
    now = timezone.now()
    planned = activities.activity_create(
        actor=actor, kind="call", subject="Rappeler", due_at=now + dt.timedelta(days=2), organization_id=org.pk
    )
    done = activities.activity_create(
        actor=actor, kind="meeting", subject="Visite", due_at=now - dt.timedelta(days=1), organization_id=org.pk
    )
    activities.activity_complete(actor=actor, activity_id=done.pk, outcome="Devis demandé")
    overdue = activities.activity_create(
        actor=actor, kind="task", subject="Envoyer la doc", due_at=now - dt.timedelta(days=3), organization_id=org.pk
    )
    note = notes.note_create(actor=actor, body="Préfère être appelé le matin", organization_id=org.pk)
    won = services.opportunity_create(
        actor=actor, title="Four à pain", organization_id=org.pk, amount=Decimal("12000.00"), probability=50
    )
    services.opportunity_mark_won(actor=actor, opportunity_id=won.pk)
    open_opp = services.opportunity_create(
        actor=actor, title="Pétrin", organization_id=org.pk, amount=Decimal("3000.00"), probability=40
    )
    return {"planned": planned, "done": done, "overdue": overdue, "note": note, "won": won, "open": open_opp}


def _all(actor: Any, subject: Subject, **kwargs: Any) -> list[Any]:
    entries, cursor = timeline(actor, subject, limit=100, **kwargs)
    assert cursor is None
    return entries


def test_organization_timeline_merges_crm_and_changes(crm: Personas) -> None:
    org = _org(crm)
    made = _history(crm, org)
    entries = _all(crm.actor("sales"), Subject(ORGANIZATION, org.pk))
    by_source: dict[str, list[Any]] = {}
    for entry in entries:
        by_source.setdefault(entry.source, []).append(entry)
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    assert {e.kind for e in by_source["activities"]} == {"call", "meeting", "task"}
    # The planned call is ahead, so it comes first; the done meeting shows its outcome.
    assert entries[0].source == "activities" and entries[0].kind == "call" and entries[0].badge == "Planned"
    meeting = next(e for e in by_source["activities"] if e.kind == "meeting")
    assert meeting.body == "Devis demandé" and meeting.badge == "Done"
    assert [e.body for e in by_source["notes"]] == ["Préfère être appelé le matin"]
    assert sorted(e.kind for e in by_source["opportunities"]) == ["opportunity", "opportunity", "won"]
    won = next(e for e in by_source["opportunities"] if e.kind == "won")
    assert won.url == f"/crm/opportunities/{made['won'].pk}/" and "12,000.00 EUR" in won.body
    assert [e.title for e in by_source["changes"]] == ["Created"]
    assert _all(crm.actor("sales"), Subject(ORGANIZATION, org.pk), kinds=["notes"]) == by_source["notes"]


def test_changes_name_the_fields_but_never_their_values(crm: Personas) -> None:
    org = _org(crm)
    contact_services.organization_update(
        actor=crm.actor("sales"), organization_id=org.pk, email="contact@martin.fr", sector="Boulangerie"
    )
    contact_services.organization_archive(actor=crm.actor("sales"), organization_id=org.pk)
    entries = _all(crm.actor("sales"), Subject(ORGANIZATION, org.pk), kinds=["changes"])
    assert [e.title for e in entries] == ["Archived", "Changed: email, sector", "Created"]
    assert all(e.actor == "Sales Atelier Dupont" for e in entries)
    assert "contact@martin.fr" not in repr(entries)
    person = contact_services.person_create(actor=crm.actor("sales"), last_name="Martin")
    contact_services.person_update(actor=crm.actor("sales"), person_id=person.pk, mobile="0612345678")
    titles = [e.title for e in _all(crm.actor("sales"), Subject(PERSON, person.pk))]
    assert titles == ["Changed: mobile", "Created"]


def test_person_timeline_shows_their_activities_notes_and_opportunities(crm: Personas) -> None:
    actor = crm.actor("sales")
    person = contact_services.person_create(actor=actor, last_name="Martin", first_name="Jeanne")
    other = contact_services.person_create(actor=actor, last_name="Durand")
    activities.activity_create(actor=actor, subject="Appel", due_at=timezone.now(), person_id=person.pk)
    activities.activity_create(actor=actor, subject="Pas elle", due_at=timezone.now(), person_id=other.pk)
    notes.note_create(actor=actor, body="Sur Jeanne", person_id=person.pk)
    services.opportunity_create(actor=actor, title="Avec Jeanne", people_ids=[person.pk, other.pk])
    services.opportunity_create(actor=actor, title="Sans Jeanne", people_ids=[other.pk])
    entries = _all(actor, Subject(PERSON, person.pk))
    titles = [e.title for e in entries]
    assert "Task: Appel" in titles and "Note" in titles and "Opportunity created: Avec Jeanne" in titles
    assert not any("Pas elle" in t or "Sans Jeanne" in t for t in titles)
    assert any(e.source == "changes" and e.title == "Created" for e in entries)


def test_another_team_sees_only_what_its_rules_allow(crm: Personas) -> None:
    boss = crm.actor("management")
    colleague = make_user(crm.company, "sales", email="vendeur2@atelier-dupont.test")
    # The organization belongs to the other salesperson; the history is the first one's.
    org = contact_services.organization_create(actor=boss, legal_name="Minoterie", owner_id=colleague.pk)
    sales = crm.users["sales"].pk
    activities.activity_create(
        actor=boss, subject="Visite", due_at=timezone.now(), organization_id=org.pk, assignee_id=sales, owner_id=sales
    )
    services.opportunity_create(actor=boss, title="Silo", organization_id=org.pk, owner_id=sales)
    notes.note_create(actor=boss, body="Note sur la minoterie", organization_id=org.pk)
    from comptoir.org.selectors import build_actor

    other = build_actor(colleague, crm.company.pk, "ui")
    sources = {e.source for e in _all(other, Subject(ORGANIZATION, org.pk))}
    assert sources == {"changes", "notes"}  # neither the first salesperson's activity nor their opportunity
    figures = {f.code: f.raw for f in key_figures(other, Subject(ORGANIZATION, org.pk))}
    assert figures["open"] == 0 and figures["overdue"] == 0 and figures["next_activity"] is None
    # The first salesperson does not see the organization at all: 404 on the page and in the API.
    client = login(Client(), crm, "sales")
    assert client.get(f"/contacts/organizations/{org.pk}/").status_code == 404
    assert client.get(f"/contacts/organizations/{org.pk}/timeline/", headers={"HX-Request": "true"}).status_code == 404
    assert client.get(f"{API}/organizations/{org.pk}/timeline").status_code == 404
    assert client.get(f"{API}/organizations/{org.pk}/key-figures").status_code == 404
    other_client = login(Client(), crm, "sales", user=colleague)
    body = other_client.get(f"{API}/organizations/{org.pk}/timeline").json()
    assert {item["source"] for item in body["items"]} == {"changes", "notes"}


def test_key_figures(crm: Personas) -> None:
    org = _org(crm)
    _history(crm, org)
    figures = {f.code: f for f in key_figures(crm.actor("sales"), Subject(ORGANIZATION, org.pk))}
    assert figures["open"].raw == 1
    assert figures["weighted"].raw == "1200.00"  # 3,000 × 40 %
    assert figures["won"].raw == "12000.00" and figures["won"].value == "12,000.00 EUR"
    assert figures["overdue"].raw == 1 and figures["overdue"].tone == "danger"
    today = timezone.localdate()
    assert figures["last_activity"].raw == today.isoformat()
    # The local date (Europe/Paris): after 23:00 UTC the UTC date is the day before.
    assert figures["next_activity"].raw == timezone.localtime(timezone.now() + dt.timedelta(days=2)).date().isoformat()


def test_marketing_sees_no_amounts_when_the_company_hides_them(crm: Personas) -> None:
    org = _org(crm)
    _history(crm, org)
    services.crm_settings_update(actor=crm.actor("management"), hide_amounts_from_marketing=True)
    marketing = crm.actor("marketing")
    entries = _all(marketing, Subject(ORGANIZATION, org.pk), kinds=["opportunities"])
    assert entries and not any("EUR" in e.body for e in entries)
    figures = {f.code: f.raw for f in key_figures(marketing, Subject(ORGANIZATION, org.pk))}
    assert "weighted" not in figures and figures["won"] == 1  # a count, not an amount
    client = login(Client(), crm, "marketing")
    api = client.get(f"{API}/organizations/{org.pk}/key-figures").json()
    assert {f["code"] for f in api} == {"open", "won", "last_activity", "next_activity", "overdue"}
    timeline_json = client.get(f"{API}/organizations/{org.pk}/timeline?kinds=opportunities").json()
    assert timeline_json["items"] and "EUR" not in str(timeline_json)
    page = client.get(f"/contacts/organizations/{org.pk}/").content.decode()
    assert "12,000.00" not in page and 'data-figure="weighted"' not in page


def test_api_cursor_pagination_and_errors(crm: Personas) -> None:
    org = _org(crm)
    actor = crm.actor("sales")
    same_time = timezone.now() - dt.timedelta(hours=1)
    Activity.objects.bulk_create(
        Activity(company_id=crm.company.pk, subject=f"A{i}", due_at=same_time, organization_id=org.pk,
                 assignee_id=actor.user_id, owner_id=actor.user_id)
        for i in range(25)
    )  # fmt: skip
    client = login(Client(), crm, "sales")
    seen: list[str] = []
    url = f"{API}/organizations/{org.pk}/timeline?limit=7"
    cursor = None
    while True:
        response = client.get(url + (f"&before={cursor}" if cursor else ""))
        assert response.status_code == 200
        body = response.json()
        seen += [f"{item['source']}:{item['title']}" for item in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 26  # 25 activities and "Created"
    assert client.get(f"{API}/organizations/{org.pk}/timeline?before=nope").json()["fields"]["before"]
    assert client.get(f"{API}/organizations/{org.pk}/timeline?kinds=invoices").status_code == 422
    assert client.get(f"{API}/organizations/{org.pk}/timeline?limit=1000").status_code == 422
    assert client.get(f"{API}/organizations/{2**63}/timeline").status_code in (404, 422)
    paths = client.get(f"{API}/openapi.json").json()["paths"]
    assert {
        "/api/v1/organizations/{organization_id}/timeline",
        "/api/v1/people/{person_id}/timeline",
        "/api/v1/organizations/{organization_id}/key-figures",
    } <= set(paths)


def _page_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def _grow(personas: Personas, org: Organization, n: int) -> None:
    actor = personas.actor("sales")
    now = timezone.now()
    Activity.objects.bulk_create(
        Activity(company_id=personas.company.pk, subject=f"Appel {i}", due_at=now - dt.timedelta(minutes=i),
                 organization_id=org.pk, assignee_id=actor.user_id, owner_id=actor.user_id)
        for i in range(n)
    )  # fmt: skip
    Note.objects.bulk_create(
        Note(company_id=personas.company.pk, author_id=actor.user_id, body=f"Note {i}", organization_id=org.pk)
        for i in range(n)
    )
    for i in range(min(n, 20)):
        services.opportunity_create(actor=actor, title=f"Affaire {i}", organization_id=org.pk)


def test_page_queries_do_not_grow_with_the_history(crm: Personas) -> None:
    small, large = _org(crm), _org(crm, siren="")
    _grow(crm, small, 1)
    _grow(crm, large, 60)
    client = login(Client(), crm, "sales")
    client.get("/")  # the first request of a session sets things up once
    assert _page_queries(client, f"/contacts/organizations/{small.pk}/") == _page_queries(
        client, f"/contacts/organizations/{large.pk}/"
    )
    client.defaults["HTTP_HX_REQUEST"] = "true"
    assert _page_queries(client, f"/contacts/organizations/{small.pk}/timeline/") == _page_queries(
        client, f"/contacts/organizations/{large.pk}/timeline/"
    )


def test_five_thousand_activities_fetch_one_page_only(crm: Personas) -> None:
    org = _org(crm)
    actor = crm.actor("sales")
    now = timezone.now()
    Activity.objects.bulk_create(
        (Activity(company_id=crm.company.pk, subject=f"Appel {i}", due_at=now - dt.timedelta(minutes=i),
                  organization_id=org.pk, assignee_id=actor.user_id, owner_id=actor.user_id)
         for i in range(5000)),
        batch_size=1000,
    )  # fmt: skip
    client = login(Client(), crm, "sales")
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/contacts/organizations/{org.pk}/")
    assert page.status_code == 200
    assert len(queries) <= 35  # 24 when written: page, figures (4), panels (3), timeline (6)
    html = page.content.decode()
    assert html.count("data-source=") == 30 and 'id="timeline-more"' in html
    activity_reads = [q["sql"] for q in queries.captured_queries if 'FROM "crm_activity"' in q["sql"]]
    timeline_read = [sql for sql in activity_reads if "COALESCE" in sql]
    assert len(timeline_read) == 1 and re.search(r"LIMIT 31\b", timeline_read[0])
    # The figures are aggregates, the panels read pages: no query reads all 5,000 rows.
    assert all("COUNT(" in sql or "MAX(" in sql or "LIMIT" in sql for sql in activity_reads)


def test_load_more_walks_the_whole_timeline_once(crm: Personas) -> None:
    org = _org(crm)
    _grow(crm, org, 40)
    client = login(Client(), crm, "sales")
    html = client.get(f"/contacts/organizations/{org.pk}/").content.decode()
    keys = re.findall(r'data-source="(\w+)" data-kind="\w+" data-key="(\d+)"', html)
    more = re.search(r'hx-get="([^"]+)"[^>]*hx-target="#timeline-more-item"', html)
    plain = re.search(r'id="timeline-more" href="([^"]+)"', html)
    assert more and plain and "before=" in plain.group(1)
    while more:
        fragment = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        text = fragment.content.decode()
        keys += re.findall(r'data-source="(\w+)" data-kind="\w+" data-key="(\d+)"', text)
        more = re.search(r'hx-get="([^"]+)"[^>]*hx-target="#timeline-more-item"', text)
    # 40 activities, 40 notes, 20 opportunities created, 1 change.
    assert len(keys) == len(set(keys)) == 101
    # Without htmx the link opens the page at that point of the timeline.
    fallback = client.get(plain.group(1).replace("&amp;", "&"))
    assert fallback.status_code == 200 and 'id="timeline-newest"' in fallback.content.decode()


def test_kind_filter_chips(crm: Personas) -> None:
    org = _org(crm)
    _history(crm, org)
    client = login(Client(), crm, "sales")
    html = client.get(f"/contacts/organizations/{org.pk}/?kinds=notes").content.decode()
    assert set(re.findall(r'data-source="(\w+)"', html)) == {"notes"}
    assert 'id="timeline-kind-notes" autocomplete="off" checked' in html
    fragment = client.get(
        f"/contacts/organizations/{org.pk}/timeline/?kinds=opportunities&kinds=gone", headers={"HX-Request": "true"}
    ).content.decode()
    assert fragment.startswith('<div id="timeline-entries">')
    assert set(re.findall(r'data-source="(\w+)"', fragment)) == {"opportunities"}
    # Without htmx, the fragment address sends back to the page.
    assert client.get(f"/contacts/organizations/{org.pk}/timeline/?kinds=notes").status_code == 302


def test_notes_inline_on_organization_and_person_pages(crm: Personas) -> None:
    org = _org(crm)
    person = contact_services.person_create(actor=crm.actor("sales"), last_name="Martin")
    client = login(Client(), crm, "sales")
    for kind, row, page in (
        ("organization", org, f"/contacts/organizations/{org.pk}/"),
        ("person", person, f"/contacts/people/{person.pk}/"),
    ):
        url = f"/crm/notes/{kind}/{row.pk}/"
        html = client.get(page).content.decode()
        assert f'data-target="{kind}"' in html and f'action="{url}"' in html and "No notes yet." in html
        bad = client.post(url, {"body": " "}, headers={"HX-Request": "true"})
        assert bad.status_code == 422 and "This field is required." in bad.content.decode()
        bad_plain = client.post(url, {"body": " "})
        assert bad_plain.status_code == 422 and 'id="note-form"' in bad_plain.content.decode()
        added = client.post(url, {"body": f"Voir avec @finance ({kind})"}, headers={"HX-Request": "true"})
        assert added.status_code == 200 and added["HX-Trigger"] == "timeline-changed"
        assert f"Voir avec @finance ({kind})" in added.content.decode()
        plain = client.post(url, {"body": "Sans htmx"})
        assert plain.status_code == 302 and plain["Location"] == f"{page}#notes"
        assert "Sans htmx" in client.get(page).content.decode()
    assert Note.objects.count() == 4
    assert set(Notification.objects.values_list("url", flat=True)) == {
        f"/contacts/organizations/{org.pk}/",
        f"/contacts/people/{person.pk}/",
    }
    # A colleague who does not see the organization can neither read nor post.
    other = login(Client(), crm, "sales", user=make_user(crm.company, "sales", email="autre@atelier-dupont.test"))
    assert other.get(f"/crm/notes/organization/{org.pk}/").status_code == 404
    assert other.post(f"/crm/notes/organization/{org.pk}/", {"body": "x"}).status_code == 404


def test_opportunity_page_renders_its_notes_server_side(crm: Personas) -> None:
    opp = services.opportunity_create(actor=crm.actor("sales"), title="Four")
    notes.note_create(actor=crm.actor("sales"), body="Déjà une note", opportunity_id=opp.pk)
    html = login(Client(), crm, "sales").get(f"/crm/opportunities/{opp.pk}/").content.decode()
    assert "Déjà une note" in html and "Loading notes" not in html and 'data-target="opportunity"' in html
    form = html[html.index('id="note-form"') :]
    assert 'name="csrfmiddlewaretoken"' in form[: form.index("</form>")]


def test_without_the_crm_module_pages_show_only_contacts(personas: Personas) -> None:
    from comptoir.org.testing import enable_modules

    enable_modules(personas, "contacts")
    org = contact_services.organization_create(actor=personas.actor("sales"), legal_name="Sans CRM")
    html = login(Client(), personas, "sales").get(f"/contacts/organizations/{org.pk}/").content.decode()
    assert set(re.findall(r'data-source="(\w+)"', html)) == {"changes"}
    assert 'id="key-figures"' not in html and 'id="notes"' not in html
    assert Opportunity.objects.count() == 0

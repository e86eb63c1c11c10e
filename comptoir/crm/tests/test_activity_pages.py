"""The activities panel (opportunity, organization, person pages), completing from it with and
without htmx, planning with a reminder from a record, and the "My team" tab of my day."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.contacts import services as contact_services
from comptoir.crm import activities, services
from comptoir.crm.models import Activity
from comptoir.org.models import Team, User
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)


def login(client: Client, personas: Personas, role: str) -> Client:
    user = personas.users[role]
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language="en"
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def later_today() -> dt.datetime:
    """An hour from now, but never past tonight's local midnight ("due today" at 23:30 too)."""
    midnight = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time()))
    return min(timezone.now() + HOUR, midnight - dt.timedelta(seconds=1))


def _act(personas: Personas, role: str = "sales", **data: Any) -> Activity:
    data.setdefault("subject", "Call back")
    data.setdefault("due_at", later_today())
    return activities.activity_create(actor=personas.actor(role), **data)


def _ids(html: str, section: str) -> list[int]:
    """The activity ids listed in one part of the page (by its element id)."""
    start = html.index(f'id="{section}"')
    end = html.index("</ul>", start)
    return [int(n) for n in re.findall(r'<li[^>]* data-activity="(\d+)"', html[start:end])]


def test_opportunity_page_shows_open_then_done_with_overdue_highlighted(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    opp = services.opportunity_create(actor=crm.actor("sales"), title="Oven")
    late = _act(crm, subject="Late call", due_at=timezone.now() - 2 * HOUR, opportunity_id=opp.pk)
    soon = _act(crm, subject="Visit", opportunity_id=opp.pk)
    done = _act(crm, subject="First call", opportunity_id=opp.pk)
    activities.activity_complete(actor=crm.actor("sales"), activity_id=done.pk, outcome="Interested")
    _act(crm, subject="Elsewhere")
    html = client.get(f"/crm/opportunities/{opp.pk}/").content.decode()
    assert _ids(html, "open-activities") == [late.pk, soon.pk]
    assert _ids(html, "done-activities") == [done.pk]
    assert f'data-activity="{late.pk}" data-overdue="1"' in html
    assert f'data-activity="{soon.pk}" data-overdue' not in html
    assert "Interested" in html
    assert f"/crm/activities/new/?opportunity={opp.pk}&amp;next=%2Fcrm%2Fopportunities%2F{opp.pk}%2F" in html


def test_panel_queries_do_not_grow_with_the_number_of_activities(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    org = contact_services.organization_create(actor=crm.actor("sales"), legal_name="Boulangerie Martin")
    person = contact_services.person_create(actor=crm.actor("sales"), first_name="Anne", last_name="Martin")
    opp = services.opportunity_create(actor=crm.actor("sales"), title="Oven", organization_id=org.pk)

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    urls = [f"/crm/opportunities/{opp.pk}/", f"/contacts/organizations/{org.pk}/", f"/contacts/people/{person.pk}/"]
    links: dict[str, Any] = {"opportunity_id": opp.pk, "organization_id": org.pk, "person_id": person.pk}
    _act(crm, **links)
    [count(url) for url in urls]  # warm up the per-process caches (modules, permissions)
    few = [count(url) for url in urls]
    for index in range(25):
        activity = _act(crm, subject=f"Call {index}", due_at=timezone.now() + (index - 10) * HOUR, **links)
        if index % 3 == 0:
            activities.activity_complete(actor=crm.actor("sales"), activity_id=activity.pk, outcome="ok")
    many = [count(url) for url in urls]
    assert many == few
    for url in urls:
        assert 'id="activities-panel"' in client.get(url).content.decode()


def test_completing_from_the_panel_with_htmx_and_without(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    org = contact_services.organization_create(actor=crm.actor("sales"), legal_name="Boulangerie Martin")
    first = _act(crm, organization_id=org.pk, due_at=timezone.now() - HOUR)
    second = _act(crm, organization_id=org.pk, subject="Send the quote")
    back = f"/contacts/organizations/{org.pk}/"
    swapped = client.post(
        f"/crm/activities/{first.pk}/complete/",
        {"outcome": "Ordered two ovens", "panel": f"organization:{org.pk}", "next": back},
        headers={"HX-Request": "true"},
    )
    assert swapped.status_code == 200
    html = swapped.content.decode()
    assert html.startswith('<section id="activities-panel"') and "<html" not in html
    assert _ids(html, "open-activities") == [second.pk]
    assert _ids(html, "done-activities") == [first.pk]
    assert "Ordered two ovens" in html
    assert swapped["HX-Trigger"] == "timeline-changed"

    plain = client.post(f"/crm/activities/{second.pk}/complete/", {"outcome": "Sent", "next": back})
    assert plain.status_code == 302 and plain["Location"] == back
    assert Activity.objects.get(pk=second.pk).outcome == "Sent"
    third = _act(crm, organization_id=org.pk)
    elsewhere = client.post(f"/crm/activities/{third.pk}/complete/", {"next": "https://evil.example/"})
    assert elsewhere["Location"] == "/crm/my-day/"
    refreshed = client.get(f"/crm/activities/panel/organization/{org.pk}/", headers={"HX-Request": "true"})
    assert refreshed.status_code == 200
    assert client.get("/crm/activities/panel/invoice/1/").status_code == 404
    outsider_org = contact_services.organization_create(actor=crm.outsider_actor(), legal_name="Ailleurs")
    assert client.get(f"/crm/activities/panel/organization/{outsider_org.pk}/").status_code == 404


def test_planning_from_a_record_prefills_it_keeps_a_reminder_and_goes_back(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    opp = services.opportunity_create(actor=crm.actor("sales"), title="Oven")
    back = f"/crm/opportunities/{opp.pk}/"
    form = client.get(f"/crm/activities/new/?opportunity={opp.pk}&next={back}")
    assert form.status_code == 200
    assert f'<option value="{opp.pk}" selected>' in form.content.decode()
    saved = client.post(
        "/crm/activities/new/",
        {"kind": "call", "subject": "Call the baker", "due_at": "2026-03-10T09:00", "remind_before": "15",
         "assignee_id": crm.users["sales"].pk, "opportunity_id": opp.pk, "next": back},
    )  # fmt: skip
    assert saved.status_code == 302 and saved["Location"] == back
    activity = Activity.objects.get(subject="Call the baker")
    assert activity.opportunity_id == opp.pk
    assert activity.due_at - activity.remind_at == dt.timedelta(minutes=15)  # type: ignore[operator]
    assert f'data-reminder="{activity.pk}"' in client.get(back).content.decode()

    edit = client.get(f"/crm/activities/{activity.pk}/edit/")
    assert '<option value="15" selected>' in edit.content.decode()
    cleared = client.post(
        f"/crm/activities/{activity.pk}/edit/",
        {"kind": "call", "subject": "Call the baker", "due_at": "2026-03-10T10:00", "remind_before": "",
         "assignee_id": crm.users["sales"].pk, "opportunity_id": opp.pk},
    )  # fmt: skip
    assert cleared.status_code == 302
    activity.refresh_from_db()
    assert activity.remind_at is None


def test_my_day_htmx_complete_moves_the_activity_out_of_overdue(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    late = _act(crm, subject="Late", due_at=timezone.now() - dt.timedelta(days=2))
    other = _act(crm, subject="Later late", due_at=timezone.now() - dt.timedelta(days=1))
    page = client.get("/crm/my-day/").content.decode()
    assert _ids(page, "overdue") == [late.pk, other.pk]
    assert 'id="tab-team"' not in page  # sales manages no team
    lists = client.post(
        f"/crm/activities/{late.pk}/complete/", {"outcome": "Done by phone"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert lists.strip().startswith('<div id="my-day-lists">')
    assert _ids(lists, "overdue") == [other.pk]
    assert _ids(lists, "done-today") == [late.pk]
    assert "Done by phone" in lists


def test_team_tab_groups_the_team_by_assignee_and_respects_record_rules(crm: Personas, client: Client) -> None:
    manager, sales = crm.users["management"], crm.users["sales"]
    colleague = crm.users["marketing"]
    team = Team.objects.create(company=crm.company, name="Lyon", manager=crm.users["service"])
    team.members.add(sales)
    late = _act(crm, subject="Late", due_at=timezone.now() - dt.timedelta(days=1))
    _act(crm, subject="Next week", due_at=timezone.now() + dt.timedelta(days=7))
    _act(crm, role="marketing", subject="Not in the team")
    own = _act(crm, role="management", subject="Mine")

    # The team's manager (service role: sees opportunities, not all of them) sees the team.
    login(client, crm, "service")
    html = client.get("/crm/my-day/team/").content.decode()
    assert f'data-member="{sales.pk}"' in html and f'data-member="{colleague.pk}"' not in html
    assert f'data-activity="{late.pk}" data-overdue="1"' in html
    assert "Next week" not in html
    assert 'id="tab-team"' in client.get("/crm/my-day/").content.decode()

    # Management sees every opportunity: everybody's day but its own (that is "Mine").
    login(client, crm, "management")
    html = client.get("/crm/my-day/team/").content.decode()
    assert f'data-member="{sales.pk}"' in html and f'data-member="{colleague.pk}"' in html
    assert f'data-activity="{own.pk}"' not in html and f'data-member="{manager.pk}"' not in html

    login(client, crm, "sales")
    assert client.get("/crm/my-day/team/").status_code == 404


def test_team_day_selector_queries_are_constant(crm: Personas) -> None:
    actor = crm.actor("management")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            team = activities.team_day(actor)
            for member in team.members:
                for a in member.overdue + member.today:
                    str(a.opportunity), str(a.organization), str(a.person), str(a.assignee)
        return len(ctx.captured_queries)

    _act(crm, due_at=timezone.now() - HOUR)
    few = count()
    for role in ("sales", "marketing", "admin"):
        for _index in range(5):
            _act(crm, role=role, due_at=timezone.now() - HOUR)
    assert count() == few

"""Activities in a real browser: complete an overdue one from "my day" with an outcome; plan an
activity with a reminder from an opportunity page, then complete it from the page's panel."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from comptoir.crm import activities, services
from comptoir.crm.models import Activity
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, Personas, enable_modules

from .conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def _salesperson(personas: Personas) -> User:
    enable_modules(personas, "contacts", "crm")
    user = personas.users["sales"]
    User.objects.filter(pk=user.pk).update(language="en")
    return user


def test_complete_an_overdue_activity_from_my_day(page, personas: Personas) -> None:  # type: ignore[no-untyped-def]
    user = _salesperson(personas)
    actor = personas.actor("sales")
    late = activities.activity_create(
        actor=actor, subject="Call Mrs Martin back", due_at=timezone.now() - dt.timedelta(days=2)
    )
    still_late = activities.activity_create(
        actor=actor, subject="Send the brochure", due_at=timezone.now() - dt.timedelta(days=1)
    )

    login(page, user.email, PASSWORD)
    page.goto("/crm/my-day/")
    overdue = page.locator("#overdue")
    assert overdue.locator("[data-activity]").count() == 2
    assert page.locator("#overdue-count").inner_text() == "2"

    row = overdue.locator(f"[data-activity='{late.pk}']")
    row.locator("input[name=outcome]").fill("She orders two ovens")
    row.get_by_role("button", name="Complete").click()
    page.locator(f"#done-today [data-activity='{late.pk}']").wait_for()

    assert overdue.locator(f"[data-activity='{late.pk}']").count() == 0
    assert overdue.locator(f"[data-activity='{still_late.pk}']").is_visible()
    assert page.locator("#overdue-count").inner_text() == "1"
    assert "She orders two ovens" in page.locator("#done-today").inner_text()
    done = Activity.objects.get(pk=late.pk)
    assert done.done_at is not None and done.outcome == "She orders two ovens"


def test_plan_an_activity_with_a_reminder_from_an_opportunity(page, personas: Personas) -> None:  # type: ignore[no-untyped-def]
    user = _salesperson(personas)
    opp = services.opportunity_create(actor=personas.actor("sales"), title="Oven for the bakery")

    login(page, user.email, PASSWORD)
    page.goto(f"/crm/opportunities/{opp.pk}/")
    page.click("#plan-activity")
    page.wait_for_url("**/crm/activities/new/**")
    assert page.locator("#id_opportunity_id").input_value() == str(opp.pk)
    page.select_option("#id_kind", "meeting")
    page.fill("#id_subject", "Demo at the bakery")
    page.fill("#id_due_at", "2031-05-12T10:00")
    page.select_option("#id_remind_before", "60")
    with page.expect_navigation():
        page.click("#activity-form button[type=submit]")

    assert page.url.endswith(f"/crm/opportunities/{opp.pk}/")
    activity = Activity.objects.get(subject="Demo at the bakery")
    assert activity.opportunity_id == opp.pk and activity.kind == "meeting"
    assert activity.remind_at == activity.due_at - dt.timedelta(hours=1)
    panel = page.locator("#activities-panel")
    assert panel.locator(f"[data-activity='{activity.pk}']").is_visible()
    assert panel.locator(f"[data-reminder='{activity.pk}']").is_visible()

    # Completing it from the panel swaps the panel in place: it moves to "Last done".
    item = panel.locator(f"#open-activities [data-activity='{activity.pk}']")
    item.locator("input[name=outcome]").fill("Signed")
    item.get_by_role("button", name="Complete").click()
    page.locator(f"#done-activities [data-activity='{activity.pk}']").wait_for()
    assert page.url.endswith(f"/crm/opportunities/{opp.pk}/")
    assert Activity.objects.get(pk=activity.pk).outcome == "Signed"

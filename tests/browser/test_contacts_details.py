"""Contact details in Chromium: a tag typed in the form is created; a second phone added on
a person's page shows in national format and becomes the main one."""

from __future__ import annotations

import pytest

from comptoir.contacts import services
from comptoir.contacts.models import Person, Tag
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, enable_modules, make_personas
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_typed_tag_and_second_phone(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    personas = make_personas()
    enable_modules(personas, "contacts")
    User.objects.update(language="en")
    actor = personas.actor("sales")
    person = services.person_create(actor=actor, first_name="Anne", last_name="Martin", phone="04 78 00 00 00")
    services.tags_set(actor=actor, person_id=person.pk, names=["Client"])
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    login(page, personas.users["sales"].email, PASSWORD)

    page.goto(f"/contacts/people/{person.pk}/edit/")
    page.fill("#id_tag_names", "client, Salon 2025")  # "client" is the existing "Client"
    with page.expect_navigation():
        page.click("#person-form button[type=submit]")
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["Client", "Salon 2025"]
    page.goto("/contacts/tags/")
    expect(page.locator("#tags-table tr[data-tag]")).to_have_count(2)
    expect(page.locator("#tags-table tr", has_text="Salon 2025").locator("[data-count=people]")).to_have_text("1")

    page.goto(f"/contacts/people/{person.pk}/")
    page.click("#contact-points-section summary")
    page.select_option("#contact-point-form select[name=kind]", "phone")
    page.fill("#contact-point-form input[name=value]", "+33 1 42 72 00 00")
    page.fill("#contact-point-form input[name=label]", "Office")
    with page.expect_navigation():
        page.click("#contact-point-form button[type=submit]")
    point = page.locator("#contact-points [data-kind=phone]")
    expect(point.locator("[data-value]")).to_have_text("01 42 72 00 00")
    with page.expect_navigation():
        point.locator("[data-action=primary]").click()
    expect(page.locator("#phone")).to_have_text("01 42 72 00 00")
    expect(page.locator("#contact-points [data-kind=phone] [data-value]")).to_have_text("04 78 00 00 00")
    assert Person.objects.get(pk=person.pk).phone == "+33142720000"
    assert problems == []

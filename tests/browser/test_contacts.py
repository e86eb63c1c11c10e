"""Contacts journey in Chromium: a salesperson creates an organization, finds it by typing
its name without accents (htmx live search), and opens it."""

from __future__ import annotations

import re

import pytest

from comptoir.contacts.models import Organization
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, enable_modules, make_personas
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_search_without_accents_and_open(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    personas = make_personas()
    enable_modules(personas, "contacts")
    User.objects.update(language="en")
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    login(page, personas.users["sales"].email, PASSWORD)

    page.goto("/")
    page.click("#side-nav >> text=Organizations")
    page.click("#create-link")
    page.fill("#id_legal_name", "Boulangerie Lefèvre")
    page.fill("#id_siren", "732 829 320")
    page.fill("#id_phone", "04 78 00 00 00")
    with page.expect_navigation():
        page.click("#organization-form button[type=submit]")
    expect(page.locator("#organization-name")).to_have_text("Boulangerie Lefèvre")
    expect(page.locator("#siren")).to_have_text("732 829 320")
    expect(page.locator("#phone")).to_have_text("04 78 00 00 00")
    org = Organization.objects.get()

    # A second organization, so the search visibly narrows the list.
    Organization.objects.create(
        company=personas.company, legal_name="Fromagerie Martin", owner=personas.users["sales"],
        search_text="fromagerie martin",
    )  # fmt: skip
    page.goto("/contacts/organizations/")
    rows = page.locator("#list-table tbody tr")
    expect(rows).to_have_count(2)
    page.fill("#list-q", "lefevre")  # no accent, lower case
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Boulangerie Lefèvre")
    expect(page).to_have_url(re.compile(r"q=lefevre"))  # htmx pushed the search into the address bar
    page.click("#list-table >> text=Boulangerie Lefèvre")
    expect(page).to_have_url(re.compile(rf"/contacts/organizations/{org.pk}/$"))
    expect(page.locator("#organization-name")).to_have_text("Boulangerie Lefèvre")
    assert problems == []

"""Duplicates in Chromium: the warning that appears while typing a contact that exists
already (with a link to it), and merging two organizations from the duplicates screen."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from comptoir.contacts import services as contact_services
from comptoir.contacts.models import Organization
from comptoir.crm import activities, notes
from comptoir.crm import services as crm_services
from comptoir.crm.models import Activity, Note, Opportunity
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, enable_modules, make_personas
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def _watch(page) -> list[str]:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def test_duplicate_warning_while_typing(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    personas = make_personas()
    enable_modules(personas, "contacts")
    User.objects.update(language="en")
    actor = personas.actor("sales")
    helene = contact_services.person_create(
        actor=actor, first_name="Hélène", last_name="Lefèvre", email="helene@lefevre-patisserie.fr"
    )
    bakery = contact_services.organization_create(actor=actor, legal_name="Boulangerie Lefèvre", siren="732829320")
    problems = _watch(page)
    login(page, personas.users["sales"].email, PASSWORD)

    page.goto("/contacts/people/new/")
    warning = page.locator("#duplicate-warning [data-duplicate-warning]")
    page.fill("#id_last_name", "Durand")
    page.wait_for_timeout(800)  # past the 400 ms debounce: nobody is called Durand
    expect(warning).to_have_count(0)
    page.fill("#id_first_name", "Helene")
    page.fill("#id_last_name", "Lefevre")  # no accents
    page.fill("#id_email", "HELENE@lefevre-patisserie.fr")
    link = page.locator(f"#duplicate-warning [data-duplicate='{helene.pk}'] a")
    expect(link).to_be_visible()
    expect(link).to_have_text("Hélène Lefèvre")
    expect(link).to_have_attribute("href", f"/contacts/people/{helene.pk}/")

    page.goto("/contacts/organizations/new/")
    page.fill("#id_legal_name", "Boulangerie Lefevre SARL")
    link = page.locator(f"#duplicate-warning [data-duplicate='{bakery.pk}'] a")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", f"/contacts/organizations/{bakery.pk}/")
    # The link opens the existing record.
    with page.context.expect_page() as opened:
        link.click()
    existing = opened.value
    existing.wait_for_load_state()
    expect(existing.locator("#organization-name")).to_have_text("Boulangerie Lefèvre")
    assert problems == []


def test_merge_two_organizations_from_the_duplicates_screen(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    personas = make_personas()
    enable_modules(personas, "contacts", "crm")
    User.objects.update(language="en")
    boss = personas.actor("management")
    keep = contact_services.organization_create(
        actor=boss, legal_name="Lefèvre Frères", siren="732829320", sector="Bakery"
    )
    other = contact_services.organization_create(
        actor=boss, legal_name="Lefevre Freres", siren="732829320", sector="Pastry", phone="04 78 00 00 00"
    )
    call = activities.activity_create(
        actor=boss, kind="call", subject="Call back about the ovens", organization_id=other.pk,
        due_at=timezone.now() + dt.timedelta(days=1),
    )  # fmt: skip
    note = notes.note_create(actor=boss, body="Prefers to be called after 2 pm", organization_id=other.pk)
    deal = crm_services.opportunity_create(
        actor=boss, title="Shop windows", organization_id=other.pk, amount=Decimal("1200.00")
    )
    problems = _watch(page)
    login(page, personas.users["management"].email, PASSWORD)

    page.goto("/contacts/duplicates/")
    with page.expect_navigation():
        page.click("#scan-button")  # the test settings run tasks at once
    row = page.locator("#duplicates-table tr[data-pair]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Lefèvre Frères")
    with page.expect_navigation():
        row.locator("a", has_text="Merge").click()
    expect(page).to_have_url(re.compile(rf"/contacts/duplicates/merge/organization/{keep.pk}/{other.pk}/$"))
    page.check("#f-sector-o")  # keep the merged row's sector
    expect(page.locator("#f-phone-o")).to_be_checked()  # the kept row has no phone: the other's by default
    with page.expect_navigation():
        page.click("#merge-form button[type=submit]")

    expect(page).to_have_url(re.compile(rf"/contacts/organizations/{keep.pk}/$"))
    expect(page.locator("#organization-name")).to_have_text("Lefèvre Frères")
    expect(page.locator("#phone")).to_have_text("04 78 00 00 00")
    expect(page.locator("body")).to_contain_text("Prefers to be called after 2 pm")
    survivor = Organization.objects.get(pk=keep.pk)
    assert (survivor.sector, survivor.legal_name, survivor.phone) == ("Pastry", "Lefèvre Frères", "+33478000000")
    assert Activity.objects.get(pk=call.pk).organization_id == keep.pk
    assert Note.objects.get(pk=note.pk).organization_id == keep.pk
    assert Opportunity.objects.get(pk=deal.pk).organization_id == keep.pk

    # The merged row still has its page, which says where it went.
    page.goto(f"/contacts/organizations/{other.pk}/")
    notice = page.locator(".alert-info", has_text="This organization was merged into")
    expect(notice).to_be_visible()
    with page.expect_navigation():
        notice.locator(f"a[href='/contacts/organizations/{keep.pk}/']").click()
    expect(page.locator("#organization-name")).to_have_text("Lefèvre Frères")
    assert problems == []

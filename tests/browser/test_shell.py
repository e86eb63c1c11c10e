"""The shell in a real browser: live search, company switcher, logout."""

from __future__ import annotations

import pytest

from comptoir.org import services
from comptoir.org.models import Membership
from comptoir.org.testing import PASSWORD
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_live_search_shows_enabled_module_results(page, personas):
    services.module_set(actor=personas.actor("admin"), module="modapp", enabled=True)
    login(page, personas.users["sales"].email, PASSWORD)
    page.fill("#global-search", "demo")
    page.wait_for_selector("#search-live [data-group=modapp]")
    assert page.locator("#search-live a").first.inner_text() == "Demo note 0"
    assert "/search/" not in page.url  # updated in place, no navigation
    page.fill("#global-search", "lyon")
    page.wait_for_selector("#search-live [data-group=sites]")
    assert page.locator("#search-live [data-group=modapp]").count() == 0


def test_company_switcher_and_logout(page, personas):
    user = personas.users["sales"]
    Membership.objects.create(user=user, company=personas.other_company, role="finance")
    login(page, user.email, PASSWORD)
    page.wait_for_selector("#company-identity")
    page.click("#company-switcher .dropdown-toggle")
    with page.expect_navigation():
        page.click("#company-switcher button[name=company_id] >> text=Concurrent Martin")
    assert page.locator("h1").first.inner_text() == "Concurrent Martin"
    assert page.locator("#nav-audit").is_visible()
    page.click("#user-menu .dropdown-toggle")
    with page.expect_navigation():
        page.click("#logout-button")
    assert page.url.endswith("/login/")


def test_admin_login_helper_gets_past_forced_enrolment(page, personas):
    login(page, personas.users["admin"].email, PASSWORD)
    page.wait_for_selector("#company-identity")
    assert page.locator("#nav-settings").is_visible()

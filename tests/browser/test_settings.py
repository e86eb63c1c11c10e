"""Settings journeys in Chromium: management opens every page and manages an API key;
an administrator (through the TOTP step) edits the company, adds a user, switches a module."""

from __future__ import annotations

import pyotp
import pytest
from django.utils import timezone

from comptoir.kernel.models import AuditEntry, ModuleActivation
from comptoir.org.models import ApiKey, Company, User
from comptoir.org.testing import PASSWORD, make_personas
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def _watch_csp(page) -> list[str]:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def _login_admin(page, user: User) -> None:  # type: ignore[no-untyped-def]
    """Log an administrator in through the second-factor step (enrolled here)."""
    secret = pyotp.random_base32()
    User.objects.filter(pk=user.pk).update(totp_secret=secret, totp_confirmed_at=timezone.now())
    login(page, user.email, PASSWORD, second_factor=False)
    assert page.url.endswith("/login/verify/")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login" not in page.url


@pytest.fixture
def personas_en(db):  # type: ignore[no-untyped-def]
    personas = make_personas()
    User.objects.update(language="en")
    return personas


def test_management_opens_settings_and_manages_an_api_key(page, personas_en) -> None:
    problems = _watch_csp(page)
    login(page, personas_en.users["management"].email, PASSWORD)
    assert "/login" not in page.url

    page.goto("/settings/company/")
    assert page.locator("[data-field=siren]").inner_text() == "842 157 638"
    assert page.locator("a[href='/settings/company/edit/']").count() == 0
    page.goto("/settings/sites/")
    assert "842 157 638 00011" in page.locator("#sites-table").inner_text()
    page.goto("/settings/users/")
    assert page.locator("#permission-matrix [data-permission='org.manage_sites']").count() == 1
    assert page.locator("#users-table a:has-text('Roles')").count() == 0  # management may not change roles
    page.goto("/audit/")
    assert page.locator("#audit-table").count() == 1

    page.goto("/settings/api-keys/")
    with page.expect_navigation():
        page.click("text=New API key")
    page.fill("input[name=name]", "Nightly export")
    page.check("input[name=scopes][value='org:read']")
    page.check("input[name=scopes][value='kernel:read']")
    with page.expect_navigation():
        page.click("#api-key-form button[type=submit]")
    secret = page.locator("#api-key-secret").input_value()
    assert secret.startswith("cpt_")
    assert "shown only once" in page.content()
    key = ApiKey.objects.get(name="Nightly export")
    assert key.scopes == ["kernel:read", "org:read"]

    with page.expect_navigation():
        page.click("text=Done")
    assert page.url.endswith("/settings/api-keys/")
    assert secret not in page.content()
    row = page.locator(f"tr[data-key='{key.pk}']")
    assert "Active" in row.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button:has-text('Revoke')").click()
    page.locator(f"tr[data-key='{key.pk}'] [data-status]:has-text('Revoked')").wait_for()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditEntry.objects.filter(action="api_key.revoke", channel="ui").count() == 1

    page.goto("/settings/modules/")
    assert "403" in page.title() or page.locator("[data-error-code=permission_denied]").count() == 1
    assert problems == []


def test_admin_edits_company_adds_user_and_switches_module(page, personas_en) -> None:
    problems = _watch_csp(page)
    _login_admin(page, personas_en.users["admin"])

    page.goto("/settings/company/")
    with page.expect_navigation():
        page.click("a[href='/settings/company/edit/']")
    page.fill("input[name=siren]", "123456789")
    page.fill("input[name=phone]", "04 78 00 00 00")
    with page.expect_navigation():
        page.click("#company-form button[type=submit]")
    assert page.locator("[data-field-error=siren]").count() == 1
    assert Company.objects.get(pk=personas_en.company.pk).phone == ""
    page.fill("input[name=siren]", "842157638")
    with page.expect_navigation():
        page.click("#company-form button[type=submit]")
    assert page.url.endswith("/settings/company/")
    assert Company.objects.get(pk=personas_en.company.pk).phone == "04 78 00 00 00"

    page.goto("/settings/users/new/")
    page.fill("input[name=email]", "lea@atelier-dupont.test")
    page.fill("input[name=full_name]", "Léa Martin")
    page.select_option("select[name=language]", "en")
    page.check("input[name=roles][value=finance]")
    page.fill("input[name=password]", "une-phrase-de-passe-longue")
    with page.expect_navigation():
        page.click("#user-form button[type=submit]")
    assert page.url.endswith("/settings/users/")
    assert "Léa Martin" in page.locator("#users-table").inner_text()

    page.goto("/settings/modules/")
    row = page.locator("tr[data-module=modapp]")
    row.locator("button:has-text('Switch on')").click()
    page.locator("tr[data-module=modapp] [data-status]:has-text('On')").wait_for()
    assert ModuleActivation.objects.get(company_id=personas_en.company.pk, module="modapp").enabled

    page.goto("/audit/?action=company.update")
    assert page.locator("#audit-table tbody tr[data-entry]").count() == 1
    assert "04 78 00 00 00" in page.locator("#audit-table").inner_text()
    assert problems == []

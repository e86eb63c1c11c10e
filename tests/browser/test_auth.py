"""Sign-in journeys in a real browser: TOTP login, forced 2FA enrolment, language switch."""

from __future__ import annotations

import pyotp
import pytest

from comptoir.org.models import User
from comptoir.org.testing import PASSWORD
from comptoir.web.tests.helpers import enable_totp
from tests.browser.conftest import login, totp_code

pytestmark = pytest.mark.django_db(transaction=True)


def csp_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    messages: list[str] = []
    page.on("console", lambda msg: messages.append(msg.text) if "Content Security Policy" in msg.text else None)
    return messages


def test_login_with_totp(page, personas):
    violations = csp_violations(page)
    user = personas.users["sales"]
    enable_totp(user)
    login(page, user.email, PASSWORD, second_factor=False)
    assert page.url.endswith("/login/verify/")
    page.fill("input[name=code]", "000000")
    page.click("button[type=submit]")
    page.wait_for_selector("text=not valid")
    page.fill("input[name=code]", totp_code(user.email))
    page.click("button[type=submit]")
    page.wait_for_selector("#company-identity")
    assert page.locator("h1").first.inner_text() == "Atelier Dupont"
    assert violations == []


def test_admin_enrols_2fa_through_the_ui(page, personas):
    violations = csp_violations(page)
    admin = personas.users["admin"]
    login(page, admin.email, PASSWORD, second_factor=False)
    assert "/account/2fa/" in page.url
    assert page.locator("#totp-required").is_visible()
    assert page.locator("#totp-qr svg").is_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.goto("/")  # every page leads back to enrolment until it is done
    assert "/account/2fa/" in page.url
    page.fill("input[name=code]", "123")
    page.click("main button[type=submit]")
    page.wait_for_selector(".invalid-feedback")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("#codes-saved")
    page.wait_for_selector("#company-identity")
    assert User.objects.get(pk=admin.pk).has_totp
    assert violations == []


def test_switch_language_to_english_and_back(page, personas):
    user = personas.users["sales"]
    login(page, user.email, PASSWORD)
    page.wait_for_selector("#company-identity")
    assert page.locator("html").get_attribute("lang") == "fr"
    with page.expect_navigation():
        page.click("#language-switcher button[value=en]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert User.objects.get(pk=user.pk).language == "en"
    with page.expect_navigation():
        page.click("#language-switcher button[value=fr]")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert User.objects.get(pk=user.pk).language == "fr"

"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("COMPTOIR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) with ``base_url`` set to the live server."""
    context = chromium.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def login(page, email: str, password: str, *, second_factor: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Fill the login form (fields ``email`` and ``password``) and submit it.

    With ``second_factor`` (the default) the helper also gets past 2FA the way the user's
    phone would: it answers the code step from the user's TOTP secret, and completes the
    enrolment that administrators are forced through. Pass ``second_factor=False`` to test
    those pages themselves.
    """
    page.goto("/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    if not second_factor:
        return
    path = page.url.split("://", 1)[-1].partition("/")[2]
    if path.startswith("login/verify/"):
        page.fill("input[name=code]", totp_code(email))
        with page.expect_navigation():
            page.click("button[type=submit]")
    elif path.startswith("account/2fa/"):
        page.fill("input[name=code]", totp_code(email))
        with page.expect_navigation():
            page.click("main button[type=submit]")
        page.goto("/")


def totp_code(email: str) -> str:
    """The code the user's authenticator app would show now (one the server has not used yet)."""
    import datetime as dt

    import pyotp
    from django.utils import timezone

    from comptoir.org.models import User

    user = User.objects.get(email=email.lower())
    totp = pyotp.TOTP(user.totp_secret)
    now = timezone.now()
    for step in (0, 1):
        at = now + dt.timedelta(seconds=30 * step)
        if totp.timecode(at) > user.totp_last_counter:
            return totp.at(at)
    raise AssertionError("no unused TOTP step left in the accepted window")

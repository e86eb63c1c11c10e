"""TOTP second factor: enrolment, the code step at login, replay, recovery codes, admins forced to enrol."""

from __future__ import annotations

import re

import pyotp
import pytest

from comptoir.org.models import RecoveryCode, User
from comptoir.web.tests.helpers import enable_totp, fresh_code, post_login

pytestmark = pytest.mark.django_db


def logged_in(client) -> bool:  # type: ignore[no-untyped-def]
    return "_auth_user_id" in client.session


def enrol(client, user: User) -> list[str]:  # type: ignore[no-untyped-def]
    page = client.get("/account/2fa/")
    assert page.status_code == 200
    user.refresh_from_db()
    response = client.post("/account/2fa/", {"code": pyotp.TOTP(user.totp_secret).now()})
    assert response.status_code == 200
    return response.context["codes"]


def test_enrolment_shows_qr_and_secret_then_recovery_codes_once(client, personas):
    user = personas.users["sales"]
    client.force_login(user)
    page = client.get("/account/2fa/")
    html = page.content.decode()
    user.refresh_from_db()
    assert user.totp_secret and not user.has_totp
    assert "<svg" in html and user.totp_secret in html
    assert "http" not in re.search(r"<svg.*?</svg>", html, re.S).group(0).replace("http://www.w3.org", "")
    # Reloading keeps the same secret (the QR code already scanned stays valid).
    client.get("/account/2fa/")
    assert User.objects.get(pk=user.pk).totp_secret == user.totp_secret
    response = client.post("/account/2fa/", {"code": pyotp.TOTP(user.totp_secret).now()})
    codes = response.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(code in response.content.decode() for code in codes)
    user.refresh_from_db()
    assert user.has_totp
    assert RecoveryCode.objects.filter(user=user).count() == 10
    # Afterwards the page shows the status, never the codes again.
    again = client.get("/account/2fa/").content.decode()
    assert 'id="totp-on"' in again and codes[0] not in again and user.totp_secret not in again


@pytest.mark.parametrize("code", ["", "   ", "12345", "abcdef", "000000x", "9" * 40])
def test_enrolment_with_a_bad_code_gives_a_form_error(client, personas, code):
    user = personas.users["sales"]
    client.force_login(user)
    client.get("/account/2fa/")
    response = client.post("/account/2fa/", {"code": code})
    assert response.status_code == 422
    assert response.context["form"].errors["code"]
    user.refresh_from_db()
    assert not user.has_totp
    assert not RecoveryCode.objects.filter(user=user).exists()


def test_enrolment_needs_login(client, db):
    assert client.get("/account/2fa/")["Location"].startswith("/login/")


def test_login_with_totp_asks_for_the_code_before_logging_in(client, personas):
    user = personas.users["sales"]
    enable_totp(user)
    response = post_login(client, user.email, next="/search/")
    assert response.status_code == 302 and response["Location"] == "/login/verify/"
    assert not logged_in(client)
    assert client.get("/").status_code == 302  # still anonymous
    page = client.get("/login/verify/")
    assert page.status_code == 200 and 'name="code"' in page.content.decode()
    response = client.post("/login/verify/", {"code": fresh_code(user)})
    assert response.status_code == 302 and response["Location"] == "/search/"
    assert logged_in(client)
    assert client.session["company_id"] == personas.company.pk
    assert "pending_user_id" not in client.session


def test_a_code_is_accepted_once_only(client, personas, django_user_model):
    user = personas.users["sales"]
    user.language = "en"  # the message asserted below is the English one
    user.save(update_fields=["language"])
    enable_totp(user)
    code = fresh_code(user)
    post_login(client, user.email)
    assert client.post("/login/verify/", {"code": code}).status_code == 302
    client.post("/logout/")
    post_login(client, user.email)
    replay = client.post("/login/verify/", {"code": code})
    assert replay.status_code == 422
    assert "already used" in replay.content.decode()
    assert not logged_in(client)


def test_recovery_code_works_once(client, personas):
    user = personas.users["sales"]
    client.force_login(user)
    codes = enrol(client, user)
    client.post("/logout/")
    post_login(client, user.email)
    assert client.post("/login/verify/", {"code": codes[3].upper()}).status_code == 302
    assert logged_in(client)
    client.post("/logout/")
    post_login(client, user.email)
    assert client.post("/login/verify/", {"code": codes[3]}).status_code == 422
    assert not logged_in(client)


@pytest.mark.parametrize("code", ["", "garbage", "12 34", "1" * 33])
def test_garbage_code_at_login_is_a_form_error(client, personas, code):
    user = personas.users["sales"]
    enable_totp(user)
    post_login(client, user.email)
    response = client.post("/login/verify/", {"code": code})
    assert response.status_code == 422
    assert response.context["form"].errors
    assert not logged_in(client)


def test_verify_without_the_password_step_goes_back_to_login(client, personas):
    response = client.post("/login/verify/", {"code": "123456"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/login/verify/")["Location"] == "/login/"


def test_stale_pending_login_starts_over(client, personas):
    user = personas.users["sales"]
    enable_totp(user)
    post_login(client, user.email)
    session = client.session
    session["pending_at"] -= 3600
    session.save()
    assert client.post("/login/verify/", {"code": fresh_code(user)})["Location"] == "/login/"
    assert not logged_in(client)


def test_code_step_is_throttled(client, personas):
    user = personas.users["sales"]
    enable_totp(user)
    post_login(client, user.email)
    for _ in range(5):
        assert client.post("/login/verify/", {"code": "000000"}).status_code == 422
    response = client.post("/login/verify/", {"code": fresh_code(user)})
    assert response.status_code == 429
    assert not logged_in(client)
    # The good code was not consumed by the refused attempt.
    user.refresh_from_db()
    assert user.totp_last_counter == 0


def test_password_success_does_not_reset_code_failures(client, personas):
    user = personas.users["sales"]
    enable_totp(user)
    for _ in range(5):
        post_login(client, user.email)
        client.post("/login/verify/", {"code": "000000"})
    assert post_login(client, user.email).status_code == 429


def test_admin_is_forced_to_enrol(client, personas):
    admin = personas.users["admin"]
    client.force_login(admin)
    response = client.get("/search/?q=ly")
    assert response.status_code == 302
    assert response["Location"] == "/account/2fa/?next=%2Fsearch%2F%3Fq%3Dly"
    assert client.get("/").status_code == 302
    htmx = client.get("/search/?q=ly", headers={"HX-Request": "true"})
    assert htmx["HX-Redirect"].startswith("/account/2fa/")
    page = client.get("/account/2fa/")
    assert page.status_code == 200 and 'id="totp-required"' in page.content.decode()
    assert client.get("/static/web/comptoir.css").status_code != 302
    enrol(client, admin)
    assert client.get("/").status_code == 200


def test_admin_can_still_log_out_before_enrolling(client, personas):
    client.force_login(personas.users["admin"])
    assert client.post("/logout/")["Location"] == "/login/"
    assert not logged_in(client)


def test_non_admin_is_not_forced(client, personas):
    client.force_login(personas.users["management"])
    assert client.get("/").status_code == 200


def test_disable_needs_a_valid_code(client, personas):
    user = personas.users["sales"]
    enable_totp(user)
    client.force_login(user)
    refused = client.post("/account/2fa/disable/", {"code": "000000"})
    assert refused.status_code == 422 and refused.context["form"].errors["code"]
    assert User.objects.get(pk=user.pk).has_totp
    assert client.post("/account/2fa/disable/", {"code": fresh_code(user)})["Location"] == "/account/2fa/"
    assert not User.objects.get(pk=user.pk).has_totp

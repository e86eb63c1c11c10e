"""Sign-in with email and password, throttling, logout and the next parameter."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import override_settings

from comptoir.org.models import LoginAttempt
from comptoir.org.testing import PASSWORD
from comptoir.web.tests.helpers import post_login

pytestmark = pytest.mark.django_db


def test_login_page_has_the_named_fields(client):
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="email"' in html and 'name="password"' in html and 'type="submit"' in html


def test_login_ok_remembers_company_and_language(client, personas):
    user = personas.users["sales"]
    user.language = "en"
    user.save(update_fields=["language"])
    response = post_login(client, "SALES@atelier-dupont.test")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["company_id"] == personas.company.pk
    assert client.session["language"] == "en"
    home = client.get("/")
    assert home.status_code == 200
    assert '<html lang="en">' in home.content.decode()
    assert not LoginAttempt.objects.exists()


def test_wrong_password_is_refused_and_counted(client, personas):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = post_login(client, personas.users["sales"].email, "not-the-password")
    assert response.status_code == 422
    assert "not correct" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert LoginAttempt.objects.filter(email=personas.users["sales"].email).count() == 1
    assert client.get("/").status_code == 302


def test_unknown_email_is_refused_the_same_way(client, personas):
    response = post_login(client, "nobody@nowhere.test", "whatever-password")
    assert response.status_code == 422
    assert LoginAttempt.objects.filter(email="nobody@nowhere.test").count() == 1


def test_inactive_user_cannot_log_in(client, personas):
    user = personas.users["sales"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert post_login(client, user.email).status_code == 422


@pytest.mark.parametrize(
    "data, fields",
    [
        ({}, ["email", "password"]),
        ({"email": "", "password": ""}, ["email", "password"]),
        ({"email": "not-an-email", "password": "x"}, ["email"]),
        ({"email": "a@b.test"}, ["password"]),
        ({"email": "a" * 300 + "@b.test", "password": "x"}, ["email"]),
    ],
)
def test_bad_input_gives_field_errors(client, personas, data, fields):
    response = client.post("/login/", data)
    assert response.status_code == 422
    form = response.context["form"]
    assert sorted(form.errors) == sorted(fields)
    assert 'aria-invalid="true"' in response.content.decode()
    assert not LoginAttempt.objects.exists()


def test_sixth_attempt_refused_even_with_right_password(client, personas):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    email = personas.users["sales"].email
    for _ in range(5):
        assert post_login(client, email, "wrong-password-123").status_code == 422
    with mock.patch("comptoir.org.views_auth.authenticate") as authenticate:
        response = post_login(client, email)
    authenticate.assert_not_called()  # a throttled attempt does not even check the password
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_throttle_is_per_ip_too(client, personas):
    for i in range(20):
        post_login(client, f"guess{i}@atelier-dupont.test", "wrong-password-123")
    response = post_login(client, personas.users["sales"].email)
    assert response.status_code == 429
    # Another address is not locked by this one's guesses.
    other = client.post(
        "/login/",
        {"email": personas.users["sales"].email, "password": "correct-horse-battery-staple"},
        REMOTE_ADDR="10.0.0.9",
    )
    assert other.status_code == 302


@override_settings(LOGIN_FAILURE_WINDOW_SECONDS=0)
def test_old_failures_do_not_count(client, personas):
    email = personas.users["sales"].email
    for _ in range(6):
        post_login(client, email, "wrong-password-123")
    assert post_login(client, email).status_code == 302


def test_success_clears_the_failures(client, personas):
    email = personas.users["sales"].email
    for _ in range(3):
        post_login(client, email, "wrong-password-123")
    assert post_login(client, email).status_code == 302
    assert not LoginAttempt.objects.filter(email=email).exists()


def test_next_is_followed_only_when_local(client, personas):
    email = personas.users["sales"].email
    assert post_login(client, email, next="/search/?q=ly")["Location"] == "/search/?q=ly"
    client.post("/logout/")
    assert post_login(client, email, next="https://evil.example/")["Location"] == "/"


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/")


def test_logged_in_user_visiting_login_goes_home(client, personas):
    client.force_login(personas.users["sales"])
    assert client.get("/login/")["Location"] == "/"


def test_logout_needs_post_and_keeps_the_language(client, personas):
    client.force_login(personas.users["sales"])
    assert client.get("/logout/").status_code == 405
    client.post("/language/", {"language": "en"})
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session
    assert client.session["language"] == "en"
    assert client.get("/").status_code == 302


def test_a_sign_in_is_recorded_in_the_audit_trail(client, personas):
    from comptoir.kernel.models import AuditEntry

    user = personas.users["sales"]
    client.post("/login/", {"email": user.email, "password": PASSWORD}, REMOTE_ADDR="192.0.2.7")
    entry = AuditEntry.objects.get(action="user.login")
    assert entry.actor_id == user.pk and entry.company_id == personas.company.pk
    assert entry.channel == "ui"
    assert entry.changes["ip"] == [None, "192.0.2.7"]
    assert entry.changes["second_factor"] == [None, False]

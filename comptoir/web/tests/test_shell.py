"""The navigation shell: home page, language and company switching, module nav, error pages."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from comptoir.kernel.models import AuditEntry
from comptoir.org import services
from comptoir.org.models import Membership, User
from comptoir.web.tests.helpers import post_login

pytestmark = pytest.mark.django_db


def html_of(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def enable_modapp(personas, enabled: bool = True) -> None:  # type: ignore[no-untyped-def]
    services.module_set(actor=personas.actor("admin"), module="modapp", enabled=enabled)


def test_home_shows_company_identity_roles_and_modules(client, personas):
    Membership.objects.create(user=personas.users["sales"], company=personas.company, role="marketing")
    enable_modapp(personas)
    client.force_login(personas.users["sales"])
    html = html_of(client.get("/"))
    assert "Atelier Dupont SAS" in html and "842157638" in html and "12 rue des Artisans" in html
    assert "Sales" in html and "Marketing" in html and "Administrator" not in html
    assert 'data-module="modapp"' in html and 'href="/modapp/"' in html


def test_home_without_company(client, db):
    user = User.objects.create_user(email="lonely@example.test", password="x", full_name="Lonely", language="en")
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    assert "do not belong to any company" in html_of(response)


def test_language_switch_changes_lang_and_persists_on_the_user(client, personas):
    user = personas.users["sales"]
    post_login(client, user.email)
    assert '<html lang="fr">' in html_of(client.get("/"))
    response = client.post("/language/", {"language": "en", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert '<html lang="en">' in html_of(client.get("/"))
    assert User.objects.get(pk=user.pk).language == "en"
    assert AuditEntry.objects.filter(action="user.set_language").exists()
    # A new session (another browser) starts in the user's language.
    other = Client()
    post_login(other, user.email)
    assert '<html lang="en">' in html_of(other.get("/"))
    client.post("/language/", {"language": "fr"})
    assert '<html lang="fr">' in html_of(client.get("/"))
    assert User.objects.get(pk=user.pk).language == "fr"


def test_force_logged_session_uses_the_users_language(client, personas):
    user = personas.users["sales"]
    User.objects.filter(pk=user.pk).update(language="en")
    client.force_login(User.objects.get(pk=user.pk))
    assert '<html lang="en">' in html_of(client.get("/"))


def test_anonymous_language_switch(client, db):
    response = client.post("/language/", {"language": "en", "next": "/login/"})
    assert response["Location"] == "/login/"
    assert response.cookies["django_language"].value == "en"
    assert '<html lang="en">' in html_of(client.get("/login/"))


@pytest.mark.parametrize("data", [{}, {"language": "de"}, {"language": ""}, {"language": "x" * 500}])
def test_bad_language_is_a_clean_422(client, personas, data):
    client.force_login(personas.users["sales"])
    response = client.post("/language/", data)
    assert response.status_code == 422
    assert 'data-error-code="validation_failed"' in html_of(response)
    assert User.objects.get(pk=personas.users["sales"].pk).language == "fr"


def test_unsafe_next_after_language_switch_goes_home(client, db):
    assert client.post("/language/", {"language": "en", "next": "https://evil.example/"})["Location"] == "/"


def test_company_switch(client, personas):
    user = personas.users["sales"]
    Membership.objects.create(user=user, company=personas.other_company, role="finance")
    post_login(client, user.email)
    html = html_of(client.get("/"))
    assert 'id="company-switcher"' in html and "Concurrent Martin" in html
    response = client.post("/company/switch/", {"company_id": personas.other_company.pk})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session["company_id"] == personas.other_company.pk
    html = html_of(client.get("/"))
    assert "Concurrent Martin SAS" in html and "Finance" in html
    # Finance may read the audit trail there; sales could not in the first company.
    assert 'id="nav-audit"' in html
    assert User.objects.get(pk=user.pk).default_company_id == personas.other_company.pk


def test_switcher_hidden_with_one_company(client, personas):
    client.force_login(personas.users["sales"])
    html = html_of(client.get("/"))
    assert 'id="company-switcher"' not in html and 'id="company-name"' in html


def test_switching_to_a_company_you_do_not_belong_to_is_404(client, personas):
    user = personas.users["sales"]
    client.force_login(user)
    response = client.post("/company/switch/", {"company_id": personas.other_company.pk})
    assert response.status_code == 404
    assert 'id="side-nav"' in html_of(response)  # the error renders inside the shell
    assert client.session.get("company_id") != personas.other_company.pk
    assert User.objects.get(pk=user.pk).default_company_id == personas.company.pk


@pytest.mark.parametrize("value", ["", "abc", "-3", "0", "9" * 30])
def test_bad_company_id_is_a_clean_422(client, personas, value):
    client.force_login(personas.users["sales"])
    assert client.post("/company/switch/", {"company_id": value}).status_code == 422


def test_company_switch_needs_post_and_login(client, personas):
    assert client.post("/company/switch/", {"company_id": 1})["Location"].startswith("/login/")
    client.force_login(personas.users["sales"])
    assert client.get("/company/switch/").status_code == 405


def test_nav_hides_a_disabled_module_and_shows_it_when_enabled(client, personas):
    client.force_login(personas.users["sales"])
    assert "Demo notes" not in html_of(client.get("/"))
    enable_modapp(personas)
    assert "Demo notes" in html_of(client.get("/"))
    enable_modapp(personas, enabled=False)
    assert "Demo notes" not in html_of(client.get("/"))


def test_module_enabled_in_another_company_stays_hidden(client, personas):
    services.module_set(actor=personas.outsider_actor(), module="modapp", enabled=True)
    client.force_login(personas.users["sales"])
    assert "Demo notes" not in html_of(client.get("/"))


@pytest.mark.parametrize(
    "role, settings_link, audit_link",
    [("sales", True, False), ("finance", True, True), ("management", True, True)],
)
def test_settings_and_audit_links_follow_permissions(client, personas, role, settings_link, audit_link):
    client.force_login(personas.users[role])
    html = html_of(client.get("/"))
    assert ('id="nav-settings"' in html) is settings_link
    assert ('id="nav-audit"' in html) is audit_link


def test_user_without_company_sees_no_settings_link(client, db):
    client.force_login(User.objects.create_user(email="lonely@example.test", password="x", full_name="Lonely"))
    html = html_of(client.get("/"))
    assert 'id="nav-settings"' not in html and 'id="nav-audit"' not in html


def test_shell_has_no_inline_script_or_style(client, personas):
    client.force_login(personas.users["sales"])
    html = html_of(client.get("/"))
    assert "style=" not in html
    for tag in html.split("<script")[1:]:
        assert "src=" in tag.split(">")[0] or "nonce=" in tag.split(">")[0]


def test_unknown_page_is_a_404_in_the_shell(client, personas):
    client.force_login(personas.users["sales"])
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = html_of(response)
    assert 'data-error-code="not_found"' in html and 'id="side-nav"' in html and "Traceback" not in html


def test_anonymous_404_renders(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404 and 'data-error-code="not_found"' in html_of(response)


@override_settings(ROOT_URLCONF="comptoir.web.tests.urls_boom")
def test_domain_error_renders_in_the_shell(client, personas):
    client.force_login(personas.users["sales"])
    response = client.get("/conflict/")
    assert response.status_code == 409
    html = html_of(response)
    assert 'data-error-code="demo_conflict"' in html and 'id="side-nav"' in html
    fragment = client.get("/conflict/", headers={"HX-Request": "true"})
    assert fragment["HX-Retarget"] == "#errors" and "<html" not in html_of(fragment)


@override_settings(ROOT_URLCONF="comptoir.web.tests.urls_boom")
def test_unexpected_error_gives_the_500_page_not_a_debug_page(personas):
    client = Client(raise_request_exception=False)
    client.force_login(personas.users["sales"])
    response = client.get("/boom/")
    assert response.status_code == 500
    html = html_of(response)
    assert 'data-error-code="server_error"' in html and "RuntimeError" not in html and "Traceback" not in html


def test_csrf_failure_page(personas):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"email": "a@b.test", "password": "x"})
    assert response.status_code == 403
    assert 'data-error-code="csrf_failed"' in html_of(response)

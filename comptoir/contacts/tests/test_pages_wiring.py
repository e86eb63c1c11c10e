"""The parts of the contacts module reach each other: nav, duplicate warning, GDPR links."""

from __future__ import annotations

from django.test import Client

from comptoir.contacts import services
from comptoir.contacts.tests.test_views import login, p  # noqa: F401  (fixtures)
from comptoir.org.testing import Personas


def test_forms_ask_for_the_duplicate_warning_as_you_type(client: Client, p: Personas) -> None:  # noqa: F811
    login(client, p.users["sales"])
    for url, kind in (("/contacts/organizations/new/", "organization"), ("/contacts/people/new/", "person")):
        html = client.get(url).content.decode()
        assert 'id="duplicate-warning"' in html
        assert f"/contacts/duplicates/check/?kind={kind}" in html
        assert 'hx-target="#duplicate-warning"' in html


def test_nav_shows_duplicates_and_import_only_to_who_may_use_them(client: Client, p: Personas) -> None:  # noqa: F811
    login(client, p.users["management"])
    html = client.get("/").content.decode()
    assert "/contacts/duplicates/" in html and "/contacts/import/" in html
    other = Client()
    login(other, p.users["sales"])
    html = other.get("/").content.decode()
    assert "/contacts/organizations/" in html
    assert "/contacts/duplicates/" not in html and "/contacts/import/" not in html


def test_personal_data_links_only_for_who_may_export_or_erase(client: Client, p: Personas) -> None:  # noqa: F811
    person = services.person_create(actor=p.actor("management"), last_name="Durand", first_name="Élise")
    login(client, p.users["management"])
    html = client.get(f"/contacts/people/{person.pk}/").content.decode()
    assert 'id="gdpr-actions"' in html
    other = Client()
    login(other, p.users["sales"])
    response = other.get(f"/contacts/people/{person.pk}/")
    assert response.status_code in (200, 404)
    assert 'id="gdpr-actions"' not in response.content.decode()

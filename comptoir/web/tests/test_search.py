"""Global search: core results (users, sites) plus each enabled module's provider."""

from __future__ import annotations

import pytest

from comptoir.org import services
from comptoir.web.selectors import global_search

pytestmark = pytest.mark.django_db


def enable_modapp(personas, enabled: bool = True) -> None:  # type: ignore[no-untyped-def]
    services.module_set(actor=personas.actor("admin"), module="modapp", enabled=enabled)


def test_disabled_module_results_never_appear(client, personas):
    client.force_login(personas.users["sales"])
    html = client.get("/search/?q=demo").content.decode()
    assert "Demo note" not in html
    enable_modapp(personas)
    html = client.get("/search/?q=demo").content.decode()
    assert "Demo note 0" in html and 'data-group="modapp"' in html
    enable_modapp(personas, enabled=False)
    assert "Demo note" not in client.get("/search/?q=demo").content.decode()


def test_core_results_are_users_and_sites_of_the_company_only(client, personas):
    client.force_login(personas.users["sales"])
    html = client.get("/search/?q=lyon").content.decode()
    assert "Siège Lyon" in html and 'data-group="sites"' in html
    html = client.get("/search/?q=admin").content.decode()
    assert "admin@atelier-dupont.test" in html
    assert "outsider@concurrent.test" not in html
    assert "data-group=" not in client.get("/search/?q=outsider").content.decode()


def test_selector_groups(personas):
    enable_modapp(personas)
    groups = global_search(personas.actor("sales"), "e")
    assert groups == []  # shorter than the minimum
    groups = {g.code: g for g in global_search(personas.actor("sales"), "note")}
    assert list(groups) == ["modapp"] and len(groups["modapp"].items) == 3
    assert [g.code for g in global_search(personas.outsider_actor(), "note")] == []


def test_htmx_request_gets_only_the_results_fragment(client, personas):
    client.force_login(personas.users["sales"])
    response = client.get("/search/?q=lyon", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="search-results"' in html and "Siège Lyon" in html


def test_top_bar_has_the_live_search(client, personas):
    client.force_login(personas.users["sales"])
    html = client.get("/").content.decode()
    assert 'hx-get="/search/"' in html and 'hx-target="#search-live"' in html


def test_top_bar_search_box_shows_the_search_not_a_page_s_own_filters(client, personas):
    import re

    def box(html: str) -> str:
        match = re.search(r'id="global-search"[^>]*value="([^"]*)"', html)
        assert match is not None
        return match.group(1)

    client.force_login(personas.users["sales"])
    assert box(client.get("/search/?q=lyon").content.decode()) == "lyon"
    # A list page's "query" (its filters, for the pager and exports) stays out of the box.
    from comptoir.accounting.services import setup_company_accounting
    from comptoir.org.testing import enable_modules

    enable_modules(personas, "contacts", "catalog", "accounting")
    setup_company_accounting(actor=personas.actor("admin"))
    client.force_login(personas.users["finance"])
    response = client.get("/accounting/?state=draft")
    assert response.status_code == 200 and response.context["query"] == "state=draft"
    assert box(response.content.decode()) == ""


@pytest.mark.parametrize("query", ["", "a", "   "])
def test_short_or_empty_query_finds_nothing(client, personas, query):
    client.force_login(personas.users["sales"])
    response = client.get("/search/", {"q": query})
    assert response.status_code == 200
    assert "data-group=" not in response.content.decode()


def test_nothing_found_message(client, personas):
    type(personas.users["sales"]).objects.filter(pk=personas.users["sales"].pk).update(language="en")
    client.force_login(personas.users["sales"])
    assert "Nothing matches" in client.get("/search/?q=zzzzzz").content.decode()


def test_too_long_query_is_a_form_error_not_a_500(client, personas):
    client.force_login(personas.users["sales"])
    response = client.get("/search/", {"q": "x" * 500})
    assert response.status_code == 422
    assert "invalid-feedback" in response.content.decode()
    htmx = client.get("/search/", {"q": "x" * 500}, headers={"HX-Request": "true"})
    assert htmx.status_code == 422 and htmx["HX-Retarget"] == "#errors"


def test_search_needs_login(client, db):
    assert client.get("/search/?q=lyon")["Location"].startswith("/login/")


def test_query_is_escaped(client, personas):
    client.force_login(personas.users["sales"])
    html = client.get("/search/", {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)</script>" not in html

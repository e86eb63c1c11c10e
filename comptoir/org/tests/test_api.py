"""The REST API of the org app, and the shared API plumbing (auth, errors, lists, gating)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.kernel.models import AuditEntry
from comptoir.kernel.testkit import count_queries
from comptoir.org import services
from comptoir.org.models import ApiKey, Company, Membership, Site, User
from comptoir.org.testing import Personas, make_company, make_user

API = "/api/v1"
ALL_SCOPES = ["org:write", "kernel:read"]


def make_key(personas: Personas, role: str = "admin", scopes: list[str] | None = None) -> str:
    _key, secret = services.apikey_create(actor=personas.actor(role), name=f"{role} key", scopes=scopes or ALL_SCOPES)
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def call(client: Client, method: str, url: str, secret: str | None = None, body: object = None):  # type: ignore[no-untyped-def]
    headers = bearer(secret) if secret else {}
    if method == "get":
        return client.get(url, headers=headers)
    payload = body if isinstance(body, str) else json.dumps(body or {})
    return getattr(client, method)(url, data=payload, content_type="application/json", headers=headers)


def assert_error(response, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    data = response.json()
    assert set(data) == {"code", "message", "fields"}
    assert isinstance(data["message"], str) and data["message"]
    if code:
        assert data["code"] == code
    return data


def other_site(personas: Personas) -> Site:
    return Site.objects.create(company=personas.other_company, name="Martin Nantes", siret="90412835200016")


# Every endpoint, with the URL built from the personas (method, url, body).
ENDPOINTS: dict[str, Callable[[Personas], tuple[str, str, object]]] = {
    "me": lambda p: ("get", f"{API}/me", None),
    "company_list": lambda p: ("get", f"{API}/companies", None),
    "company_get": lambda p: ("get", f"{API}/companies/{p.company.pk}", None),
    "site_list": lambda p: ("get", f"{API}/sites", None),
    "site_get": lambda p: ("get", f"{API}/sites/{p.company.sites.get().pk}", None),
    "site_create": lambda p: ("post", f"{API}/sites", {"name": "Atelier Villeurbanne", "siret": "84215763800029"}),
    "site_update": lambda p: ("patch", f"{API}/sites/{p.company.sites.get().pk}", {"city": "Lyon 2e"}),
    "user_list": lambda p: ("get", f"{API}/users", None),
    "user_get": lambda p: ("get", f"{API}/users/{p.users['sales'].pk}", None),
    "audit_list": lambda p: ("get", f"{API}/audit-entries", None),
}
WRITES = {"site_create", "site_update"}
# What each endpoint needs: (scope, a role that lacks the permission or None when every role has it).
NEEDS = {
    "me": (None, None),
    "company_list": ("org:read", None),
    "company_get": ("org:read", None),
    "site_list": ("org:read", None),
    "site_get": ("org:read", None),
    "site_create": ("org:write", "sales"),
    "site_update": ("org:write", "sales"),
    "user_list": ("org:read", None),
    "user_get": ("org:read", None),
    "audit_list": ("kernel:read", "sales"),
}


# --- Authentication -------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_anonymous_is_401(personas, client, name):
    method, url, body = ENDPOINTS[name](personas)
    assert_error(call(client, method, url, body=body), 401, "unauthenticated")


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize(
    "header",
    ["Bearer cpt_not-a-real-key", "Bearer ", "Bearer nocptprefix", "Token cpt_x", "Basic YWRtaW46YWRtaW4="],
)
def test_bad_key_is_401(personas, client, name, header):
    method, url, body = ENDPOINTS[name](personas)
    if method == "get":
        response = client.get(url, headers={"Authorization": header})
    else:
        response = getattr(client, method)(
            url, data=json.dumps(body), content_type="application/json", headers={"Authorization": header}
        )
    assert_error(response, 401, "unauthenticated")


@pytest.mark.parametrize("name", ENDPOINTS)
def test_revoked_key_is_401(personas, client, name):
    secret = make_key(personas)
    key = ApiKey.objects.get()
    services.apikey_revoke(actor=personas.actor("admin"), key_id=key.pk)
    sites_before = Site.objects.count()
    method, url, body = ENDPOINTS[name](personas)
    assert_error(call(client, method, url, secret, body), 401, "unauthenticated")
    assert Site.objects.count() == sites_before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_expired_key_is_401(personas, client, name):
    secret = make_key(personas)
    ApiKey.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    method, url, body = ENDPOINTS[name](personas)
    assert_error(call(client, method, url, secret, body), 401, "unauthenticated")


def test_key_of_user_removed_from_company_is_401(personas, client):
    secret = make_key(personas, "sales")
    # Leaving the company without revoking the key (the service revokes; a direct DB edit must not help).
    Membership.objects.filter(user=personas.users["sales"]).delete()
    make_user(make_company(name="Ailleurs", siren="732829320"), "admin", email="sales2@x.test")
    assert_error(call(client, "get", f"{API}/me", secret), 401, "unauthenticated")


def test_inactive_user_key_is_401(personas, client):
    secret = make_key(personas)
    User.objects.filter(pk=personas.users["admin"].pk).update(is_active=False)
    assert_error(call(client, "get", f"{API}/me", secret), 401, "unauthenticated")


def test_last_used_at_is_recorded(personas, client):
    secret = make_key(personas)
    assert ApiKey.objects.get().last_used_at is None
    before = timezone.now()
    assert call(client, "get", f"{API}/me", secret).status_code == 200
    used = ApiKey.objects.get().last_used_at
    assert used is not None and used >= before


# --- Scopes and roles -----------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, (scope, _role) in NEEDS.items() if scope])
def test_key_without_scope_is_403(personas, client, name):
    scope, _role = NEEDS[name]
    # A key with every other scope but the one needed (write implies read: drop both).
    app = scope.split(":")[0]
    others = [s for s in ["org:read", "org:write", "kernel:read", "kernel:write"] if not s.startswith(app)]
    if scope == "org:write":
        others.append("org:read")
    secret = make_key(personas, "admin", others)
    sites_before = Site.objects.count()
    method, url, body = ENDPOINTS[name](personas)
    assert_error(call(client, method, url, secret, body), 403, "permission_denied")
    assert Site.objects.count() == sites_before


@pytest.mark.parametrize("name", [n for n, (_scope, role) in NEEDS.items() if role])
def test_wrong_role_is_403(personas, client, name):
    _scope, role = NEEDS[name]
    secret = make_key(personas, role, ["org:write", "kernel:read"])
    audit_before = AuditEntry.objects.count()
    method, url, body = ENDPOINTS[name](personas)
    assert_error(call(client, method, url, secret, body), 403, "permission_denied")
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize("role", ["sales", "finance", "hr", "production"])
def test_every_role_reads_org(personas, client, role):
    secret = make_key(personas, role, ["org:read"])
    for name in ("company_list", "company_get", "site_list", "site_get", "user_list", "user_get"):
        method, url, _body = ENDPOINTS[name](personas)
        assert call(client, method, url, secret).status_code == 200, name


# --- Other company's rows -------------------------------------------------------------


def test_other_company_rows_are_404(personas, client):
    secret = make_key(personas)
    site = other_site(personas)
    assert_error(call(client, "get", f"{API}/companies/{personas.other_company.pk}", secret), 404, "company_not_found")
    assert_error(call(client, "get", f"{API}/sites/{site.pk}", secret), 404, "site_not_found")
    assert_error(call(client, "get", f"{API}/users/{personas.outsider.pk}", secret), 404, "user_not_found")
    assert_error(call(client, "patch", f"{API}/sites/{site.pk}", secret, {"name": "Pris"}), 404, "site_not_found")
    assert Site.objects.get(pk=site.pk).name == "Martin Nantes"
    # Lists never show them either.
    sites = call(client, "get", f"{API}/sites", secret).json()
    assert site.pk not in [s["id"] for s in sites["items"]]
    users = call(client, "get", f"{API}/users", secret).json()
    assert personas.outsider.pk not in [u["id"] for u in users["items"]]
    companies = call(client, "get", f"{API}/companies", secret).json()
    assert [c["id"] for c in companies["items"]] == [personas.company.pk]


def test_missing_rows_are_404(personas, client):
    secret = make_key(personas)
    for url in (f"{API}/companies/999999", f"{API}/sites/999999", f"{API}/users/999999"):
        assert_error(call(client, "get", url, secret), 404)


# --- Happy paths ----------------------------------------------------------------------


def test_me(personas, client):
    secret = make_key(personas, "finance", ["org:read", "kernel:read"])
    data = call(client, "get", f"{API}/me", secret).json()
    assert data["user"]["email"] == personas.users["finance"].email
    assert data["company"]["id"] == personas.company.pk
    assert data["company"]["siren"] == "842157638"
    assert data["roles"] == ["finance"]
    assert "kernel.view_audit" in data["permissions"]
    assert "org.view_site" in data["permissions"]
    # Narrowed by the scopes: no write permission even though the role has one.
    assert "org.manage_own_api_keys" not in data["permissions"]
    assert data["scopes"] == ["kernel:read", "org:read"]


def test_company_list_and_get(personas, client):
    second = make_company(name="Atelier Bis", siren="732829320")
    Membership.objects.create(user=personas.users["admin"], company=second, role="sales")
    secret = make_key(personas)
    data = call(client, "get", f"{API}/companies?sort=-name", secret).json()
    assert [c["name"] for c in data["items"]] == ["Atelier Dupont", "Atelier Bis"]
    assert (data["count"], data["page"], data["pages"]) == (2, 1, 1)
    one = call(client, "get", f"{API}/companies/{second.pk}", secret).json()
    assert one["legal_name"] == "Atelier Bis SAS"


def test_site_list_filters_sort_and_pages(personas, client):
    secret = make_key(personas)
    actor = personas.actor("admin")
    services.site_create(actor=actor, name="Dépôt Vénissieux", siret="84215763800029", city="Vénissieux")
    services.site_create(actor=actor, name="Boutique Annecy", siret="84215763800037", city="Annecy", is_active=False)
    data = call(client, "get", f"{API}/sites", secret).json()
    # Default sort: head office first, then by name.
    assert [s["name"] for s in data["items"]] == ["Siège Lyon", "Boutique Annecy", "Dépôt Vénissieux"]
    data = call(client, "get", f"{API}/sites?sort=-city&page_size=2&page=2", secret).json()
    assert [s["name"] for s in data["items"]] == ["Boutique Annecy"]
    assert (data["count"], data["page"], data["page_size"], data["pages"]) == (3, 2, 2, 2)
    data = call(client, "get", f"{API}/sites?is_active=false", secret).json()
    assert [s["name"] for s in data["items"]] == ["Boutique Annecy"]
    data = call(client, "get", f"{API}/sites?q=dépôt", secret).json()
    assert [s["name"] for s in data["items"]] == ["Dépôt Vénissieux"]
    data = call(client, "get", f"{API}/sites?q=Annecy&is_head_office=false", secret).json()
    assert [s["name"] for s in data["items"]] == ["Boutique Annecy"]
    # Past the last page: an empty page, not an error.
    data = call(client, "get", f"{API}/sites?page=9", secret).json()
    assert data["items"] == [] and data["count"] == 3


def test_site_get(personas, client):
    secret = make_key(personas, "sales", ["org:read"])
    site = personas.company.sites.get()
    data = call(client, "get", f"{API}/sites/{site.pk}", secret).json()
    assert data["siret"] == "84215763800011" and data["is_head_office"] is True


def test_site_create_writes_audit_with_api_channel(personas, client):
    secret = make_key(personas, "management", ["org:write"])
    response = call(client, "post", f"{API}/sites", secret, {
        "name": "Atelier Villeurbanne", "siret": "842 157 638 00029", "city": "Villeurbanne", "is_head_office": True,
    })  # fmt: skip
    assert response.status_code == 201, response.content
    data = response.json()
    site = Site.objects.get(pk=data["id"])
    assert (site.siret, site.city, site.company_id) == ("84215763800029", "Villeurbanne", personas.company.pk)
    assert data["is_head_office"] is True
    assert Site.objects.filter(company=personas.company, is_head_office=True).get() == site
    entry = AuditEntry.objects.get(action="site.create")
    assert entry.channel == "api"
    assert entry.actor_id == personas.users["management"].pk
    assert entry.object_id == str(site.pk)


def test_site_update_changes_only_sent_fields(personas, client):
    secret = make_key(personas)
    site = personas.company.sites.get()
    response = call(client, "patch", f"{API}/sites/{site.pk}", secret, {"city": "Lyon 2e", "is_active": False})
    assert response.status_code == 200, response.content
    site.refresh_from_db()
    assert (site.name, site.city, site.is_active) == ("Siège Lyon", "Lyon 2e", False)
    entry = AuditEntry.objects.get(action="site.update")
    assert entry.channel == "api"
    assert entry.changes == {"city": ["Lyon", "Lyon 2e"], "is_active": [True, False]}


def test_user_list_and_get(personas, client):
    secret = make_key(personas)
    data = call(client, "get", f"{API}/users?page_size=500", secret).json()
    assert data["count"] == 9
    by_email = {u["email"]: u for u in data["items"]}
    assert by_email[personas.users["finance"].email]["roles"] == ["finance"]
    data = call(client, "get", f"{API}/users?role=hr", secret).json()
    assert [u["email"] for u in data["items"]] == [personas.users["hr"].email]
    data = call(client, "get", f"{API}/users?q=SALES&sort=-email", secret).json()
    assert [u["email"] for u in data["items"]] == [personas.users["sales"].email]
    Membership.objects.create(user=personas.users["sales"], company=personas.company, role="marketing")
    one = call(client, "get", f"{API}/users/{personas.users['sales'].pk}", secret).json()
    assert one["roles"] == ["marketing", "sales"]
    assert "password" not in one and "totp_secret" not in one


# --- Bad input: 422 with fields, nothing written --------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"siret": "84215763800029"}, "name"),
        ({"name": "X"}, "siret"),
        ({"name": "", "siret": "84215763800029"}, "name"),
        ({"name": "X", "siret": "12345678901234"}, "siret"),
        ({"name": "X", "siret": "90412835200016"}, "siret"),  # another company's SIREN
        ({"name": "X", "siret": "84215763800011"}, "siret"),  # already used
        ({"name": "X", "siret": "84215763800029", "is_head_office": "maybe"}, "is_head_office"),
        ({"name": "X", "siret": "84215763800029", "colour": "red"}, "colour"),
        ({"name": "X" * 201, "siret": "84215763800029"}, "name"),
        ({"name": "X\x00", "siret": "84215763800029"}, "name"),
        ({"name": 12, "siret": "84215763800029"}, "name"),
        ({"name": "X", "siret": "84215763800029", "country": "FRA"}, "country"),
        ([1, 2], "__all__"),
        ("{not json", "body"),
        ('"just a string"', "__all__"),
    ],
)
def test_site_create_bad_input_is_422(personas, client, body, field):
    secret = make_key(personas)
    sites, entries = Site.objects.count(), AuditEntry.objects.count()
    data = assert_error(call(client, "post", f"{API}/sites", secret, body), 422)
    assert field in data["fields"], data
    assert all(isinstance(m, str) and m for m in data["fields"][field])
    assert (Site.objects.count(), AuditEntry.objects.count()) == (sites, entries)


@pytest.mark.parametrize(
    "body",
    [{"name": None}, {"is_active": None}, {"siret": "1"}, {"name": "  "}, {"name": "Y", "id": 5}, {"country": "FRA"}],
)
def test_site_update_bad_input_is_422(personas, client, body):
    secret = make_key(personas)
    site = personas.company.sites.get()
    entries = AuditEntry.objects.count()
    data = assert_error(call(client, "patch", f"{API}/sites/{site.pk}", secret, body), 422)
    assert data["fields"]
    site.refresh_from_db()
    assert (site.name, site.siret, site.is_active) == ("Siège Lyon", "84215763800011", True)
    assert AuditEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=99999999999999999999", "page"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("sort=password", "sort"),
        ("sort=name,-nope", "sort"),
        ("is_active=perhaps", "is_active"),
        ("q=%00", "q"),
    ],
)
def test_list_bad_query_is_422(personas, client, query, field):
    secret = make_key(personas)
    data = assert_error(call(client, "get", f"{API}/sites?{query}", secret), 422)
    assert field in data["fields"], data


def test_bad_path_ids_are_422(personas, client):
    secret = make_key(personas)
    for url in (f"{API}/sites/0", f"{API}/sites/-3", f"{API}/users/99999999999999999999999", f"{API}/companies/0"):
        data = assert_error(call(client, "get", url, secret), 422)
        assert data["fields"], url


def test_unknown_role_filter_is_422(personas, client):
    secret = make_key(personas)
    data = assert_error(call(client, "get", f"{API}/users?role=king", secret), 422, "validation_failed")
    assert "role" in data["fields"]


# --- Query counts: the same for 1 and 50 rows -----------------------------------------


def _queries(client: Client, url: str, secret: str) -> int:
    # The key's last use is written at most once a minute: warm it so both runs match.
    assert client.get(url, headers=bearer(secret)).status_code == 200
    with count_queries() as ctx:
        response = client.get(url, headers=bearer(secret))
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_list_query_counts_do_not_grow(personas, client):
    secret = make_key(personas)
    urls = [f"{API}/sites", f"{API}/users", f"{API}/companies", f"{API}/me"]
    few = {url: _queries(client, url, secret) for url in urls}
    Site.objects.bulk_create(
        [Site(company=personas.company, name=f"Site {i:02}", siret=f"842157638{i:05}") for i in range(100, 149)]
    )
    for i in range(49):
        make_user(personas.company, "sales", email=f"sales{i}@atelier-dupont.test")
        company = Company.objects.create(name=f"Filiale {i:02}", legal_name=f"Filiale {i:02} SAS")
        Membership.objects.create(user=personas.users["admin"], company=company, role="sales")
    many = {url: _queries(client, url, secret) for url in urls}
    assert call(client, "get", f"{API}/sites", secret).json()["count"] == 50
    assert call(client, "get", f"{API}/companies", secret).json()["count"] == 50
    assert few == many


# --- Browser session ------------------------------------------------------------------


def test_session_auth_reads_and_needs_csrf_for_writes(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.users["admin"])
    data = client.get(f"{API}/me").json()
    assert data["scopes"] is None and "org.manage_sites" in data["permissions"]
    body = json.dumps({"name": "Atelier Villeurbanne", "siret": "84215763800029"})
    assert_error(client.post(f"{API}/sites", data=body, content_type="application/json"), 403, "csrf_failed")
    assert not Site.objects.filter(siret="84215763800029").exists()
    client.get("/login/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(f"{API}/sites", data=body, content_type="application/json", headers={"X-CSRFToken": token})
    assert response.status_code == 201, response.content
    assert AuditEntry.objects.get(action="site.create").channel == "api"


def test_bearer_wins_over_session(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.users["admin"])
    secret = make_key(personas, "sales", ["org:read"])
    assert client.get(f"{API}/me", headers=bearer(secret)).json()["roles"] == ["sales"]
    # A bad key is refused even with a valid session beside it.
    assert_error(client.get(f"{API}/me", headers=bearer("cpt_wrong")), 401, "unauthenticated")


# --- Errors that are not DomainErrors -------------------------------------------------


def test_unexpected_error_raises_in_tests_and_is_json_500_in_production(personas, client, monkeypatch, settings):
    from comptoir.org import selectors

    def boom(actor):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug")

    monkeypatch.setattr(selectors, "site_list", boom)
    secret = make_key(personas)
    with pytest.raises(RuntimeError):
        client.get(f"{API}/sites", headers=bearer(secret))
    settings.COMPTOIR_API_RAISE_ERRORS = False
    data = assert_error(client.get(f"{API}/sites", headers=bearer(secret)), 500, "server_error")
    assert "bug" not in data["message"]


# --- Module gating --------------------------------------------------------------------


def test_disabled_module_answers_404_until_enabled(personas, client):
    secret = make_key(personas)
    assert_error(call(client, "get", f"{API}/modapp/notes", secret), 404, "module_disabled")
    # Gating comes before validation: a disabled module says nothing about its parameters.
    assert_error(call(client, "get", f"{API}/modapp/notes?page=0", secret), 404, "module_disabled")
    services.module_set(actor=personas.actor("admin"), module="modapp", enabled=True)
    data = call(client, "get", f"{API}/modapp/notes", secret).json()
    assert [n["title"] for n in data["items"]] == ["Demo note 1", "Demo note 2", "Demo note 3"]
    # Enabled for this company only.
    outsider_key = services.apikey_create(actor=personas.outsider_actor(), name="k", scopes=["org:read"])[1]
    assert_error(call(client, "get", f"{API}/modapp/notes", outsider_key), 404, "module_disabled")
    # Authentication still comes first.
    assert_error(call(client, "get", f"{API}/modapp/notes"), 401, "unauthenticated")
    services.module_set(actor=personas.actor("admin"), module="modapp", enabled=False)
    assert_error(call(client, "get", f"{API}/modapp/notes", secret), 404, "module_disabled")

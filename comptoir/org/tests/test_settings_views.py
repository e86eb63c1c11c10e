"""Settings pages through the Django client: rendering, writes, permissions, bad input."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from comptoir.kernel.models import AuditEntry, ModuleActivation
from comptoir.kernel.modules import Module
from comptoir.kernel.modules import registry as module_registry
from comptoir.org import services
from comptoir.org.models import ApiKey, Company, Membership, Site, User
from comptoir.org.testing import PASSWORD, Personas

pytestmark = pytest.mark.django_db

OTHER_SIRET = "84215763800201"  # valid, starts with the persona company's SIREN


def _client(client, user: User):  # type: ignore[no-untyped-def]
    # Administrators must have a second factor (middleware), so give everyone one here.
    User.objects.filter(pk=user.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now())
    user.refresh_from_db()
    client.force_login(user)
    return client


@pytest.fixture
def admin(client, personas: Personas):  # type: ignore[no-untyped-def]
    return _client(client, personas.users["admin"])


def _audit(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action))


def _errors(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {name: [str(e) for e in errs] for name, errs in response.context["form"].errors.items()}


# --- Rendering ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["org:company", "org:company_edit", "org:sites", "org:site_create", "org:users", "org:user_create",
     "org:api_keys", "org:api_key_create", "org:modules", "kernel:audit"],
)  # fmt: skip
@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_page_renders_for_admin(admin, personas: Personas, name: str, language: str) -> None:
    admin.cookies["django_language"] = language
    session = admin.session
    session["language"] = language
    session.save()
    response = admin.get(reverse(name))
    assert response.status_code == 200
    assert f'lang="{language}"' in response.content.decode()


def test_edit_pages_render_for_admin(admin, personas: Personas) -> None:
    site = Site.objects.get(company=personas.company)
    assert admin.get(reverse("org:site_edit", args=[site.pk])).status_code == 200
    response = admin.get(reverse("org:user_roles", args=[personas.users["sales"].pk]))
    assert response.status_code == 200
    assert response.context["form"].initial["roles"] == ["sales"]
    assert 'value="sales" class="form-check-input" id="id_roles_0" checked' in response.content.decode()


def test_company_page_shows_formatted_siren_and_site_siret(admin) -> None:
    assert "842 157 638" in admin.get(reverse("org:company")).content.decode()
    assert "842 157 638 00011" in admin.get(reverse("org:sites")).content.decode()


def test_users_page_lists_roles_2fa_and_permission_matrix(admin, personas: Personas) -> None:
    html = admin.get(reverse("org:users")).content.decode()
    assert personas.users["finance"].email in html
    assert 'data-permission="org.manage_sites"' in html
    assert 'data-permission="kernel.view_audit"' in html
    matrix = {g["app"]: g for g in admin.get(reverse("org:users")).context["matrix"]}
    row = next(r for r in matrix["org"]["rows"] if r["codename"] == "org.change_company")
    # Column order follows ROLES: only the administrator may change the company.
    assert row["granted"] == [False] * 8 + [True]
    # Outsiders of the company are not listed.
    assert personas.outsider.email not in html


# --- Company --------------------------------------------------------------------------


def test_admin_edits_company_and_it_is_audited(admin, personas: Personas) -> None:
    data = {f: getattr(personas.company, f) for f in services.COMPANY_FIELDS}
    data.update(name="Atelier Dupont & Fils", phone="04 78 00 00 00")
    response = admin.post(reverse("org:company_edit"), data)
    assert response.status_code == 302
    company = Company.objects.get(pk=personas.company.pk)
    assert company.name == "Atelier Dupont & Fils"
    entry = AuditEntry.objects.get(action="company.update")
    assert entry.changes["name"] == ["Atelier Dupont", "Atelier Dupont & Fils"]
    assert entry.channel == "ui"


@pytest.mark.parametrize(
    ("field", "value"),
    [("siren", "123456789"), ("vat_number", "FR00123"), ("name", ""), ("currency", "EURO"), ("timezone", "Mars/Base")],
)
def test_company_bad_input_shows_field_error_and_writes_nothing(admin, personas: Personas, field, value) -> None:
    data = {f: getattr(personas.company, f) for f in services.COMPANY_FIELDS}
    data.update({field: value, "city": "Paris"})
    response = admin.post(reverse("org:company_edit"), data)
    assert response.status_code == 200
    assert field in _errors(response)
    assert f'data-field-error="{field}"' in response.content.decode()
    assert Company.objects.get(pk=personas.company.pk).city == "Lyon"
    assert not AuditEntry.objects.exists()


def test_sales_cannot_edit_company(client, personas: Personas) -> None:
    c = _client(client, personas.users["sales"])
    assert c.get(reverse("org:company")).status_code == 200
    assert c.get(reverse("org:company_edit")).status_code == 403
    response = c.post(reverse("org:company_edit"), {"name": "Hacked", "legal_name": "x", "country": "FR",
                                                     "currency": "EUR", "timezone": "Europe/Paris"})  # fmt: skip
    assert response.status_code == 403
    assert Company.objects.get(pk=personas.company.pk).name == "Atelier Dupont"


def test_anonymous_is_sent_to_login(client) -> None:
    response = client.get(reverse("org:company"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --- Sites ----------------------------------------------------------------------------


def _site_data(**extra: object) -> dict[str, object]:
    return {"name": "Atelier Villeurbanne", "siret": OTHER_SIRET, "city": "Villeurbanne", "country": "FR",
            "is_active": "on", **extra}  # fmt: skip


def test_admin_creates_site_as_head_office(admin, personas: Personas) -> None:
    response = admin.post(reverse("org:site_create"), _site_data(is_head_office="on", siret="842 157 638 00201"))
    assert response.status_code == 302
    site = Site.objects.get(siret=OTHER_SIRET)
    assert site.is_head_office and site.company_id == personas.company.pk
    assert Site.objects.filter(company=personas.company, is_head_office=True).count() == 1
    assert len(_audit("site.create")) == 1


def test_management_edits_site(client, personas: Personas) -> None:
    c = _client(client, personas.users["management"])
    site = Site.objects.get(company=personas.company)
    response = c.post(
        reverse("org:site_edit", args=[site.pk]),
        {"name": "Siège Lyon 2", "siret": site.siret, "country": "FR", "is_head_office": "on"},
    )
    assert response.status_code == 302
    site.refresh_from_db()
    assert site.name == "Siège Lyon 2" and site.is_active is False
    assert _audit("site.update")[0].changes["name"] == ["Siège Lyon", "Siège Lyon 2"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_site_data(siret="84215763800202"), "siret"),  # bad checksum
        (_site_data(siret="90412835200203"), "siret"),  # valid, but another company's SIREN
        (_site_data(siret="84215763800011"), "siret"),  # already used by the head office
        (_site_data(name=""), "name"),
        (_site_data(siret=""), "siret"),
    ],
)
def test_site_bad_input_shows_field_error_and_writes_nothing(admin, personas: Personas, data, field) -> None:
    response = admin.post(reverse("org:site_create"), data)
    assert response.status_code == 200
    assert field in _errors(response)
    assert Site.objects.count() == 1
    assert not AuditEntry.objects.exists()


def test_sales_cannot_create_or_edit_sites(client, personas: Personas) -> None:
    c = _client(client, personas.users["sales"])
    site = Site.objects.get(company=personas.company)
    assert c.get(reverse("org:sites")).status_code == 200
    assert c.post(reverse("org:site_create"), _site_data()).status_code == 403
    assert c.post(reverse("org:site_edit", args=[site.pk]), _site_data()).status_code == 403
    assert Site.objects.count() == 1


def test_outsider_gets_404_for_our_site(client, personas: Personas) -> None:
    c = _client(client, personas.outsider)
    site = Site.objects.get(company=personas.company)
    assert c.get(reverse("org:site_edit", args=[site.pk])).status_code == 404
    assert c.post(reverse("org:site_edit", args=[site.pk]), _site_data()).status_code == 404
    assert c.get(reverse("org:site_edit", args=[999999])).status_code == 404
    site.refresh_from_db()
    assert site.name == "Siège Lyon"


# --- Users and roles ------------------------------------------------------------------


def test_admin_adds_user_with_roles(admin, personas: Personas) -> None:
    response = admin.post(
        reverse("org:user_create"),
        {"email": "Nouvelle@Dupont.test", "full_name": "Nina Nouvelle", "language": "en",
         "roles": ["sales", "service"], "password": "un-mot-de-passe-solide"},
    )  # fmt: skip
    assert response.status_code == 302
    user = User.objects.get(email="nouvelle@dupont.test")
    assert user.language == "en" and user.check_password("un-mot-de-passe-solide")
    roles = set(Membership.objects.filter(user=user, company=personas.company).values_list("role", flat=True))
    assert roles == {"sales", "service"}
    assert _audit("user.add")[0].changes["roles"] == [[], ["sales", "service"]]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "x@dupont.test", "full_name": "X", "language": "fr", "roles": ["emperor"]}, "roles"),
        ({"email": "x@dupont.test", "full_name": "X", "language": "fr"}, "roles"),
        ({"email": "not-an-email", "full_name": "X", "language": "fr", "roles": ["sales"]}, "email"),
        ({"email": "x@dupont.test", "full_name": "", "language": "fr", "roles": ["sales"]}, "full_name"),
        ({"email": "x@dupont.test", "full_name": "X", "language": "fr", "roles": ["sales"], "password": "123"},
         "password"),
        ({"email": "sales@atelier-dupont.test", "full_name": "X", "language": "fr", "roles": ["sales"]}, "email"),
    ],
)  # fmt: skip
def test_user_bad_input_shows_field_error_and_writes_nothing(admin, personas: Personas, data, field) -> None:
    users_before = User.objects.count()
    memberships_before = Membership.objects.count()
    response = admin.post(reverse("org:user_create"), data)
    assert response.status_code == 200
    assert field in _errors(response)
    assert User.objects.count() == users_before
    assert Membership.objects.count() == memberships_before
    assert not AuditEntry.objects.exists()


def test_admin_changes_roles(admin, personas: Personas) -> None:
    sales = personas.users["sales"]
    response = admin.post(reverse("org:user_roles", args=[sales.pk]), {"roles": ["sales", "marketing"]})
    assert response.status_code == 302
    assert set(Membership.objects.filter(user=sales).values_list("role", flat=True)) == {"sales", "marketing"}
    assert _audit("user.set_roles")[0].changes["roles"] == [["sales"], ["marketing", "sales"]]


def test_roles_form_rejects_unknown_role_and_dropping_own_admin(admin, personas: Personas) -> None:
    sales = personas.users["sales"]
    response = admin.post(reverse("org:user_roles", args=[sales.pk]), {"roles": ["root"]})
    assert response.status_code == 200 and "roles" in _errors(response)
    me = personas.users["admin"]
    response = admin.post(reverse("org:user_roles", args=[me.pk]), {"roles": ["sales"]})
    assert response.status_code == 200 and "roles" in _errors(response)
    assert set(Membership.objects.filter(user=me).values_list("role", flat=True)) == {"admin"}
    assert not AuditEntry.objects.exists()


def test_admin_removes_user_and_resets_2fa(admin, personas: Personas) -> None:
    finance = personas.users["finance"]
    User.objects.filter(pk=finance.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now())
    assert admin.post(reverse("org:user_totp_reset", args=[finance.pk])).status_code == 302
    finance.refresh_from_db()
    assert not finance.has_totp and finance.totp_secret == ""
    assert len(_audit("user.totp_disable")) == 1
    response = admin.post(reverse("org:user_remove", args=[finance.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("org:users")
    assert not Membership.objects.filter(user=finance, company=personas.company).exists()
    assert len(_audit("user.remove")) == 1


def test_user_management_permissions(client, personas: Personas) -> None:
    c = _client(client, personas.users["management"])
    sales = personas.users["sales"]
    assert c.get(reverse("org:users")).status_code == 200
    assert c.get(reverse("org:user_create")).status_code == 403
    assert c.post(reverse("org:user_roles", args=[sales.pk]), {"roles": ["admin"]}).status_code == 403
    assert c.post(reverse("org:user_remove", args=[sales.pk])).status_code == 403
    assert c.post(reverse("org:user_totp_reset", args=[sales.pk])).status_code == 403
    assert set(Membership.objects.filter(user=sales).values_list("role", flat=True)) == {"sales"}


def test_outsider_gets_404_for_our_users(client, personas: Personas) -> None:
    c = _client(client, personas.outsider)
    sales = personas.users["sales"]
    assert c.get(reverse("org:user_roles", args=[sales.pk])).status_code == 404
    assert c.post(reverse("org:user_remove", args=[sales.pk])).status_code == 404
    assert c.post(reverse("org:user_totp_reset", args=[sales.pk])).status_code == 404
    assert Membership.objects.filter(user=sales).exists()


# --- API keys -------------------------------------------------------------------------


def test_create_api_key_shows_secret_once(client, personas: Personas) -> None:
    c = _client(client, personas.users["sales"])
    response = c.post(
        reverse("org:api_key_create"),
        {"name": "Export compta", "scopes": ["org:read", "kernel:read"], "expires_on": "2099-12-31"},
    )
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("cpt_") and secret in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    key = ApiKey.objects.get()
    assert key.user_id == personas.users["sales"].pk and key.scopes == ["kernel:read", "org:read"]
    assert timezone.localtime(key.expires_at).date().isoformat() == "2100-01-01"
    assert services.apikey_authenticate(secret) == key
    listing = c.get(reverse("org:api_keys")).content.decode()
    assert "Export compta" in listing and secret not in listing and key.prefix in listing
    assert len(_audit("api_key.create")) == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "scopes": ["org:read"]}, "name"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": ["root:write"]}, "scopes"),
        ({"name": "k", "scopes": ["org:read"], "expires_on": "2001-01-01"}, "expires_on"),
        ({"name": "k", "scopes": ["org:read"], "expires_on": "demain"}, "expires_on"),
    ],
)
def test_api_key_bad_input(admin, data, field) -> None:
    response = admin.post(reverse("org:api_key_create"), data)
    assert response.status_code == 200
    assert field in _errors(response)
    assert not ApiKey.objects.exists()


def test_revoke_api_key_with_htmx_returns_the_row(admin, personas: Personas) -> None:
    key, _secret = services.apikey_create(actor=personas.actor("admin"), name="CI", scopes=["org:read"])
    response = admin.post(reverse("org:api_key_revoke", args=[key.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith("<tr") and f'data-key="{key.pk}"' in html and "Revoke" not in html.split("</td>")[-2]
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert len(_audit("api_key.revoke")) == 1
    # Revoking again is a conflict, not a 500.
    assert admin.post(reverse("org:api_key_revoke", args=[key.pk])).status_code == 409


def test_api_key_visibility(client, personas: Personas) -> None:
    admin_key, _ = services.apikey_create(actor=personas.actor("admin"), name="Admin key", scopes=["org:read"])
    services.apikey_create(actor=personas.actor("sales"), name="Sales key", scopes=["org:read"])
    other_key, _ = services.apikey_create(actor=personas.outsider_actor(), name="Theirs", scopes=["org:read"])
    c = _client(client, personas.users["sales"])
    html = c.get(reverse("org:api_keys")).content.decode()
    assert "Sales key" in html and "Admin key" not in html
    # Someone else's key of the same company, and another company's key: both 404.
    assert c.post(reverse("org:api_key_revoke", args=[admin_key.pk])).status_code == 404
    assert c.post(reverse("org:api_key_revoke", args=[other_key.pk])).status_code == 404
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()
    c = _client(client, personas.users["admin"])
    html = c.get(reverse("org:api_keys")).content.decode()
    assert "Sales key" in html and "Admin key" in html and "Theirs" not in html
    assert personas.users["sales"].email in html  # owner column for the administrator


# --- Modules --------------------------------------------------------------------------


@pytest.fixture
def needy_module():  # type: ignore[no-untyped-def]
    module_registry.register(Module(code="needy", label="Needy", requires=("modapp",)))
    yield
    module_registry.unregister("needy")


def test_module_toggle_with_htmx(admin, personas: Personas) -> None:
    response = admin.post(reverse("org:modules"), {"module": "modapp", "enabled": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'data-module="modapp"' in response.content.decode()
    assert ModuleActivation.objects.get(company_id=personas.company.pk, module="modapp").enabled
    assert len(_audit("module.enable")) == 1
    response = admin.post(reverse("org:modules"), {"module": "modapp", "enabled": "0"})
    assert response.status_code == 302
    assert not ModuleActivation.objects.get(company_id=personas.company.pk, module="modapp").enabled


def test_module_dependency_error_is_shown(admin, personas: Personas, needy_module) -> None:
    response = admin.post(reverse("org:modules"), {"module": "needy", "enabled": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-module-error" in html and "modapp" in html
    assert not ModuleActivation.objects.filter(module="needy").exists()
    services.module_set(actor=personas.actor("admin"), module="modapp", enabled=True)
    services.module_set(actor=personas.actor("admin"), module="needy", enabled=True)
    response = admin.post(reverse("org:modules"), {"module": "modapp", "enabled": "0"}, follow=True)
    assert "needy" in response.content.decode()
    assert ModuleActivation.objects.get(module="modapp").enabled


def test_module_bad_input_and_permissions(admin, client, personas: Personas) -> None:
    assert admin.post(reverse("org:modules"), {"module": "nope", "enabled": "1"}).status_code == 404
    assert admin.post(reverse("org:modules"), {"module": "modapp", "enabled": "maybe"}).status_code == 422
    admin.logout()
    c = _client(client, personas.users["management"])
    assert c.get(reverse("org:modules")).status_code == 403
    assert c.post(reverse("org:modules"), {"module": "modapp", "enabled": "1"}).status_code == 403
    assert not ModuleActivation.objects.exists()


def test_password_persona_constant_is_usable() -> None:
    # The browser test logs in with it; keep it long enough for the password validators.
    assert len(PASSWORD) >= 10


def test_list_pages_query_count_is_constant(admin, personas: Personas) -> None:
    from comptoir.kernel.testkit import count_queries

    actor = personas.actor("admin")
    admin.get(reverse("org:users"))  # the first request after login also writes the session

    def counts() -> list[int]:
        result = []
        for name in ("org:users", "org:api_keys", "org:sites"):
            with count_queries() as ctx:
                assert admin.get(reverse(name)).status_code == 200
            result.append(len(ctx.captured_queries))
        return result

    services.apikey_create(actor=actor, name="k0", scopes=["org:read"])
    few = counts()
    for i in range(1, 30):
        services.user_create(actor=actor, email=f"u{i}@dupont.test", full_name=f"U {i}", roles=["sales", "hr"])
        services.apikey_create(actor=actor, name=f"k{i}", scopes=["org:read"])
        services.site_create(actor=actor, name=f"S{i}", siret=_siret(i))
    assert counts() == few


def _siret(i: int) -> str:
    from stdnum import luhn

    body = f"842157638{100 + i:04d}"
    return body + luhn.calc_check_digit(body)

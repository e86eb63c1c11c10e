"""Org services: happy paths, every guard (nothing written), 403, other company's ids → 404, audit."""

import datetime as dt

import pyotp
import pytest
from django.test import override_settings
from django.utils import timezone

from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, ModuleActivation, OutboxEvent
from comptoir.kernel.modules import Module
from comptoir.kernel.modules import registry as module_registry
from comptoir.org import services
from comptoir.org.models import ApiKey, Company, LoginAttempt, Membership, RecoveryCode, Site, User
from comptoir.org.testing import make_user

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Company, Site, User, Membership, ApiKey, AuditEntry, ModuleActivation, OutboxEvent)
    }


def assert_nothing_written(before: dict[str, int]) -> None:
    assert counts() == before


# --- companies -----------------------------------------------------------------------


def test_company_update_happy_path(personas):
    company = services.company_update(
        actor=personas.actor("admin"), name=" Atelier Dupont & Fils ", currency="usd", country="be", city="Lyon"
    )
    company.refresh_from_db()
    assert (company.name, company.currency, company.country) == ("Atelier Dupont & Fils", "USD", "BE")
    entry = AuditEntry.objects.get(action="company.update")
    assert entry.changes["name"] == ["Atelier Dupont", "Atelier Dupont & Fils"]
    assert "city" not in entry.changes


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"siren": "123456789"}, {"siren"}),
        ({"siren": "12345"}, {"siren"}),
        ({"vat_number": "FR00842157638"}, {"vat_number"}),
        ({"vat_number": "XX123"}, {"vat_number"}),
        ({"name": ""}, {"name"}),
        ({"legal_name": "   "}, {"legal_name"}),
        ({"email": "not-an-email"}, {"email"}),
        ({"currency": "EURO"}, {"currency"}),
        ({"country": "F1"}, {"country"}),
        ({"timezone": "Mars/Olympus"}, {"timezone"}),
        ({"timezone": "../etc/passwd"}, {"timezone"}),
        ({"is_admin": True}, {"is_admin"}),
        ({"siren": "123", "vat_number": "bad", "email": "x", "city": "Paris"}, {"siren", "vat_number", "email"}),
    ],
)
def test_company_update_guards(personas, data, fields):
    before = counts()
    with pytest.raises(ValidationFailed) as excinfo:
        services.company_update(actor=personas.actor("admin"), **data)
    assert set(excinfo.value.fields) == fields
    assert excinfo.value.status == 422
    assert all(excinfo.value.fields[f] for f in fields)
    assert_nothing_written(before)
    personas.company.refresh_from_db()
    assert personas.company.city == "Lyon"


def test_company_update_siren_already_used(personas):
    with pytest.raises(ValidationFailed) as excinfo:
        services.company_update(actor=personas.actor("admin"), siren=personas.other_company.siren)
    assert "siren" in excinfo.value.fields


def test_company_update_needs_permission(personas):
    before = counts()
    with pytest.raises(PermissionDenied):
        services.company_update(actor=personas.actor("sales"), city="Paris")
    with pytest.raises(PermissionDenied):
        services.company_update(actor=personas.actor("management"), city="Paris")
    assert_nothing_written(before)


def test_company_update_only_touches_the_actor_company(personas):
    services.company_update(actor=personas.outsider_actor(), city="Brest")
    personas.company.refresh_from_db()
    personas.other_company.refresh_from_db()
    assert personas.company.city == "Lyon"
    assert personas.other_company.city == "Brest"


def test_company_create_with_owner_and_event(personas, django_capture_on_commit_callbacks):
    owner = personas.users["sales"]
    with django_capture_on_commit_callbacks(execute=False):
        company = services.company_create(
            actor=Actor.system(None, Channel.CLI), owner=owner, name="Nouvelle", legal_name="Nouvelle SAS",
            siren="732829320",
        )  # fmt: skip
    assert Membership.objects.filter(user=owner, company=company, role="admin").exists()
    assert AuditEntry.objects.get(action="company.create").company_id == company.pk
    assert OutboxEvent.objects.get(name="org.company_created").payload == {"company_id": company.pk}


def test_company_create_guards(personas):
    before = counts()
    with pytest.raises(ValidationFailed) as excinfo:
        services.company_create(actor=Actor.system(None), name="", legal_name="")
    assert set(excinfo.value.fields) == {"name", "legal_name"}
    with pytest.raises(ValidationFailed) as excinfo:
        services.company_create(actor=Actor.system(None), name="X", legal_name="X", siren=personas.company.siren)
    assert set(excinfo.value.fields) == {"siren"}
    with pytest.raises(PermissionDenied):
        services.company_create(actor=personas.actor("sales"), name="X", legal_name="X")
    assert_nothing_written(before)


# --- sites ---------------------------------------------------------------------------


def test_site_create_and_head_office_moves(personas):
    actor = personas.actor("management")
    site = services.site_create(actor=actor, name="Dépôt Vénissieux", siret="842 157 638 00029", is_head_office=True)
    assert site.siret == "84215763800029"
    assert Site.objects.get(company=personas.company, is_head_office=True) == site
    assert AuditEntry.objects.get(action="site.create").changes["siret"] == [None, "84215763800029"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "X", "siret": "90412835200013"}, "siret"),  # valid SIRET of another SIREN
        ({"name": "X", "siret": "84215763800012"}, "siret"),  # bad checksum
        ({"name": "X", "siret": ""}, "siret"),
        ({"name": "X", "siret": "84215763800011"}, "siret"),  # already used by the head office
        ({"name": "", "siret": "84215763800029"}, "name"),
        ({"name": "X", "siret": "84215763800029", "color": "red"}, "color"),
    ],
)
def test_site_create_guards(personas, data, field):
    before = counts()
    with pytest.raises(ValidationFailed) as excinfo:
        services.site_create(actor=personas.actor("admin"), **data)
    assert field in excinfo.value.fields
    assert_nothing_written(before)


def test_site_siret_must_match_the_company_siren(personas):
    with pytest.raises(ValidationFailed) as excinfo:
        services.site_create(actor=personas.actor("admin"), name="X", siret="90412835200013")
    assert "SIREN" in excinfo.value.fields["siret"][0]


def test_site_update_and_guards(personas):
    actor = personas.actor("admin")
    site = Site.objects.get(company=personas.company)
    services.site_update(actor=actor, site_id=site.pk, city="Villeurbanne")
    site.refresh_from_db()
    assert site.city == "Villeurbanne"
    # Keeping its own SIRET is not a duplicate.
    services.site_update(actor=actor, site_id=site.pk, siret=site.siret)
    other_site = Site.objects.create(company=personas.other_company, name="Brest", siret="90412835200013")
    before = counts()
    with pytest.raises(NotFound):
        services.site_update(actor=actor, site_id=other_site.pk, city="Hacked")
    with pytest.raises(NotFound):
        services.site_update(actor=actor, site_id=999_999, city="Nowhere")
    with pytest.raises(PermissionDenied):
        services.site_update(actor=personas.actor("sales"), site_id=site.pk, city="Nope")
    assert_nothing_written(before)
    other_site.refresh_from_db()
    assert other_site.city == ""


def test_site_create_needs_permission(personas):
    with pytest.raises(PermissionDenied):
        services.site_create(actor=personas.actor("finance"), name="X", siret="84215763800029")


# --- users and roles -------------------------------------------------------------------


def test_user_create_new_login(personas):
    user = services.user_create(
        actor=personas.actor("admin"), email=" New.Person@Example.com ", full_name="New Person",
        roles=["sales", "finance", "sales"], password="a-long-and-unusual-passphrase",
    )  # fmt: skip
    assert user.email == "new.person@example.com"
    assert user.check_password("a-long-and-unusual-passphrase")
    assert sorted(Membership.objects.filter(user=user).values_list("role", flat=True)) == ["finance", "sales"]
    entry = AuditEntry.objects.get(action="user.add")
    assert entry.changes == {"email": [None, "new.person@example.com"], "roles": [[], ["finance", "sales"]]}


def test_user_create_existing_login_from_another_company(personas):
    outsider = personas.outsider
    user = services.user_create(
        actor=personas.actor("admin"), email=outsider.email, full_name="Whatever", roles=["service"]
    )
    assert user.pk == outsider.pk
    assert Membership.objects.filter(user=outsider).count() == 2


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"email": "sales@atelier-dupont.test"}, {"email"}),  # duplicate in this company
        ({"email": "SALES@atelier-dupont.test "}, {"email"}),
        ({"email": "nope"}, {"email"}),
        ({"full_name": "  "}, {"full_name"}),
        ({"roles": []}, {"roles"}),
        ({"roles": ["sales", "superuser"]}, {"roles"}),
        ({"language": "de"}, {"language"}),
        ({"password": "123"}, {"password"}),
        ({"email": "bad", "full_name": "", "roles": ["x"]}, {"email", "full_name", "roles"}),
    ],
)
def test_user_create_guards(personas, kwargs, fields):
    data = {"email": "fresh@example.com", "full_name": "Fresh", "roles": ["sales"], **kwargs}
    before = counts()
    with pytest.raises(ValidationFailed) as excinfo:
        services.user_create(actor=personas.actor("admin"), **data)
    assert set(excinfo.value.fields) == fields
    assert_nothing_written(before)


def test_user_create_needs_permission(personas):
    with pytest.raises(PermissionDenied):
        services.user_create(actor=personas.actor("management"), email="x@example.com", full_name="X", roles=["hr"])


def test_user_set_roles(personas):
    actor = personas.actor("admin")
    target = personas.users["sales"]
    services.user_set_roles(actor=actor, user_id=target.pk, roles=["marketing", "sales"])
    assert sorted(Membership.objects.filter(user=target).values_list("role", flat=True)) == ["marketing", "sales"]
    assert AuditEntry.objects.get(action="user.set_roles").changes == {"roles": [["sales"], ["marketing", "sales"]]}
    # Same roles again: nothing to audit.
    services.user_set_roles(actor=actor, user_id=target.pk, roles=["sales", "marketing"])
    assert AuditEntry.objects.filter(action="user.set_roles").count() == 1


def test_user_set_roles_guards(personas):
    actor = personas.actor("admin")
    before = counts()
    with pytest.raises(ValidationFailed) as excinfo:
        services.user_set_roles(actor=actor, user_id=personas.users["sales"].pk, roles=["pope"])
    assert set(excinfo.value.fields) == {"roles"}
    with pytest.raises(ValidationFailed):
        services.user_set_roles(actor=actor, user_id=personas.users["sales"].pk, roles=[])
    with pytest.raises(NotFound):
        services.user_set_roles(actor=actor, user_id=personas.outsider.pk, roles=["sales"])
    with pytest.raises(PermissionDenied):
        services.user_set_roles(actor=personas.actor("sales"), user_id=personas.users["hr"].pk, roles=["admin"])
    with pytest.raises(Conflict) as excinfo:
        services.user_set_roles(actor=actor, user_id=actor.user_id, roles=["sales"])
    assert excinfo.value.code == "cannot_drop_own_admin"
    assert_nothing_written(before)
    # Keeping admin among one's roles is fine.
    services.user_set_roles(actor=actor, user_id=actor.user_id, roles=["admin", "finance"])


def test_user_remove(personas):
    actor = personas.actor("admin")
    target = personas.users["hr"]
    ApiKey.objects.create(company=personas.company, user=target, name="k", prefix="hrkey001", key_hash="a" * 64)
    services.user_remove(actor=actor, user_id=target.pk)
    assert not Membership.objects.filter(user=target, company=personas.company).exists()
    assert ApiKey.objects.get(user=target).revoked_at is not None
    assert User.objects.filter(pk=target.pk).exists()  # the login stays
    assert AuditEntry.objects.filter(action="user.remove").count() == 1


def test_user_remove_guards(personas):
    actor = personas.actor("admin")
    before = counts()
    with pytest.raises(Conflict):
        services.user_remove(actor=actor, user_id=actor.user_id)
    with pytest.raises(NotFound):
        services.user_remove(actor=actor, user_id=personas.outsider.pk)
    with pytest.raises(PermissionDenied):
        services.user_remove(actor=personas.actor("hr"), user_id=personas.users["sales"].pk)
    assert_nothing_written(before)


def test_user_set_language(personas):
    actor = personas.actor("sales")
    assert services.user_set_language(actor=actor, language="en").language == "en"
    with pytest.raises(ValidationFailed) as excinfo:
        services.user_set_language(actor=actor, language="xx")
    assert set(excinfo.value.fields) == {"language"}


def test_user_switch_company(personas):
    user = personas.users["sales"]
    with pytest.raises(NotFound):
        services.user_switch_company(actor=personas.actor("sales"), company_id=personas.other_company.pk)
    Membership.objects.create(user=user, company=personas.other_company, role="sales")
    services.user_switch_company(actor=personas.actor("sales"), company_id=personas.other_company.pk)
    user.refresh_from_db()
    assert user.default_company_id == personas.other_company.pk


# --- modules -----------------------------------------------------------------------------


@pytest.fixture
def modules():
    specs = [
        Module(code="t_base", label="Base"),
        Module(code="t_mid", label="Mid", requires=("t_base",)),
        Module(code="t_top", label="Top", requires=("t_mid", "t_core")),
        Module(code="t_core", label="Core", core=True),
    ]
    for spec in specs:
        module_registry.register(spec)
    yield
    for spec in specs:
        module_registry.unregister(spec.code)


def test_module_set_honours_requires_and_dependants(personas, modules, django_capture_on_commit_callbacks):
    actor = personas.actor("admin")
    with pytest.raises(Conflict) as excinfo:
        services.module_set(actor=actor, module="t_mid", enabled=True)
    assert excinfo.value.code == "module_requires"
    assert "t_base" in excinfo.value.message
    services.module_set(actor=actor, module="t_base", enabled=True)
    services.module_set(actor=actor, module="t_mid", enabled=True)
    services.module_set(actor=actor, module="t_top", enabled=True)  # t_core is always on
    with pytest.raises(Conflict) as excinfo:
        services.module_set(actor=actor, module="t_base", enabled=False)
    assert excinfo.value.code == "module_required_by"
    assert "t_mid" in excinfo.value.message
    services.module_set(actor=actor, module="t_top", enabled=False)
    services.module_set(actor=actor, module="t_mid", enabled=False)
    services.module_set(actor=actor, module="t_base", enabled=False)
    assert AuditEntry.objects.filter(action__startswith="module.").count() == 6
    assert OutboxEvent.objects.filter(name="org.module_changed").count() == 6
    # The other company is untouched.
    assert not ModuleActivation.objects.filter(company_id=personas.other_company.pk).exists()


def test_module_set_guards(personas, modules):
    actor = personas.actor("admin")
    before = counts()
    with pytest.raises(NotFound):
        services.module_set(actor=actor, module="nope", enabled=True)
    with pytest.raises(Conflict) as excinfo:
        services.module_set(actor=actor, module="t_core", enabled=False)
    assert excinfo.value.code == "module_is_core"
    with pytest.raises(PermissionDenied):
        services.module_set(actor=personas.actor("management"), module="t_base", enabled=True)
    # Switching off what is already off is a no-op, not an audit entry.
    services.module_set(actor=actor, module="t_base", enabled=False)
    assert_nothing_written(before)


# --- API keys ------------------------------------------------------------------------------


def test_apikey_create_and_authenticate(personas):
    actor = personas.actor("sales", channel=Channel.UI)
    key, secret = services.apikey_create(actor=actor, name=" CI ", scopes=["org:read", "org:read"])
    assert secret.startswith(services.API_KEY_PREFIX)
    assert key.name == "CI" and key.scopes == ["org:read"]
    assert secret not in key.key_hash and key.key_hash == services.hash_key(secret)
    found = services.apikey_authenticate(secret)
    assert found is not None and found.pk == key.pk
    assert found.last_used_at is not None
    assert AuditEntry.objects.get(action="api_key.create").changes["scopes"] == [[], ["org:read"]]


def test_apikey_authenticate_refuses(personas):
    actor = personas.actor("sales")
    key, secret = services.apikey_create(actor=actor, name="k", scopes=["org:read"])
    assert services.apikey_authenticate("") is None
    assert services.apikey_authenticate(secret[len(services.API_KEY_PREFIX) :]) is None  # wrong prefix
    assert services.apikey_authenticate("xyz_" + secret[4:]) is None
    assert services.apikey_authenticate(secret + "x") is None
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert services.apikey_authenticate(secret) is None  # expired
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() + dt.timedelta(days=1))
    assert services.apikey_authenticate(secret) is not None
    User.objects.filter(pk=actor.user_id).update(is_active=False)
    assert services.apikey_authenticate(secret) is None  # owner deactivated
    User.objects.filter(pk=actor.user_id).update(is_active=True)
    services.apikey_revoke(actor=actor, key_id=key.pk)
    assert services.apikey_authenticate(secret) is None  # revoked


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"name": ""}, {"name"}),
        ({"scopes": []}, {"scopes"}),
        ({"scopes": ["org:admin"]}, {"scopes"}),
        ({"scopes": ["org:read", "root"]}, {"scopes"}),
        ({"expires_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}, {"expires_at"}),
        ({"name": " ", "scopes": ["x"]}, {"name", "scopes"}),
    ],
)
def test_apikey_create_guards(personas, kwargs, fields):
    before = counts()
    with pytest.raises(ValidationFailed) as excinfo:
        services.apikey_create(actor=personas.actor("sales"), **{"name": "k", "scopes": ["org:read"], **kwargs})
    assert set(excinfo.value.fields) == fields
    assert_nothing_written(before)


def test_apikey_revoke_guards(personas):
    owner = personas.actor("sales")
    key, _secret = services.apikey_create(actor=owner, name="k", scopes=["org:read"])
    before = counts()
    # Someone else's key in the same company: invisible without org.manage_api_keys.
    with pytest.raises(NotFound):
        services.apikey_revoke(actor=personas.actor("finance"), key_id=key.pk)
    # Another company's administrator never sees it.
    with pytest.raises(NotFound):
        services.apikey_revoke(actor=personas.outsider_actor(), key_id=key.pk)
    with pytest.raises(NotFound):
        services.apikey_revoke(actor=owner, key_id=999_999)
    assert_nothing_written(before)
    # The company administrator may revoke anyone's key.
    services.apikey_revoke(actor=personas.actor("admin"), key_id=key.pk)
    with pytest.raises(Conflict):
        services.apikey_revoke(actor=owner, key_id=key.pk)


def test_apikey_create_needs_permission(personas):
    nobody = Actor(user=personas.users["sales"], company_id=personas.company.pk, permissions=frozenset())
    with pytest.raises(PermissionDenied):
        services.apikey_create(actor=nobody, name="k", scopes=["org:read"])


def test_module_scopes_are_valid_for_keys(personas):
    key, _secret = services.apikey_create(actor=personas.actor("sales"), name="m", scopes=["modapp:write"])
    assert key.scopes == ["modapp:write"]


# --- TOTP ------------------------------------------------------------------------------------


def test_totp_enrolment_verification_and_recovery(personas):
    user = personas.users["admin"]
    actor = personas.actor("admin")
    secret = services.totp_begin(user=user)
    assert services.totp_uri(user).startswith("otpauth://totp/Comptoir:")
    with pytest.raises(ValidationFailed) as excinfo:
        services.totp_confirm(actor=actor, code="000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    assert set(excinfo.value.fields) == {"code"}
    with pytest.raises(ValidationFailed):
        services.totp_confirm(actor=actor, code="abc")
    totp = pyotp.TOTP(secret)
    codes = services.totp_confirm(actor=actor, code=totp.now())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert RecoveryCode.objects.filter(user=user).count() == 10
    assert AuditEntry.objects.filter(action="user.totp_enable").count() == 1
    user.refresh_from_db()
    assert user.has_totp
    with pytest.raises(Conflict):
        services.totp_begin(user=user)
    with pytest.raises(Conflict):
        services.totp_confirm(actor=actor, code=totp.now())

    # The confirming code cannot be replayed; the next time step's code works once.
    assert services.totp_verify(user=user, code=totp.now()) is False
    future = totp.at(timezone.now() + dt.timedelta(seconds=30))
    assert services.totp_verify(user=user, code=future) is True
    assert services.totp_verify(user=user, code=future) is False
    # A recovery code works once.
    assert services.totp_verify(user=user, code=codes[0]) is True
    assert services.totp_verify(user=user, code=codes[0]) is False
    assert services.totp_verify(user=user, code="") is False
    assert services.totp_required(user) is True
    assert services.totp_required(personas.users["sales"]) is False


def test_totp_disable(personas):
    user = personas.users["sales"]
    secret = services.totp_begin(user=user)
    services.totp_confirm(actor=personas.actor("sales"), code=pyotp.TOTP(secret).now())
    # Another non-admin may not reset it; an outsider cannot even see the user.
    with pytest.raises(PermissionDenied):
        services.totp_disable(actor=personas.actor("finance"), user_id=user.pk)
    with pytest.raises(NotFound):
        services.totp_disable(actor=personas.outsider_actor(), user_id=user.pk)
    services.totp_disable(actor=personas.actor("admin"), user_id=user.pk)
    user.refresh_from_db()
    assert not user.has_totp and user.totp_secret == ""
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert AuditEntry.objects.filter(action="user.totp_disable").count() == 1


# --- login throttling ------------------------------------------------------------------------


@override_settings(LOGIN_MAX_FAILURES=3, LOGIN_FAILURE_WINDOW_SECONDS=900)
def test_login_throttling_per_email_and_ip(personas):
    email = "Sales@Atelier-Dupont.test"
    for _ in range(2):
        services.login_failed(email, "10.0.0.1")
    assert services.login_throttled(email, "10.0.0.1") is False
    services.login_failed(email, "10.0.0.2")
    assert services.login_throttled(email.lower(), "10.0.0.9") is True
    assert services.login_throttled("other@example.com", "10.0.0.1") is False
    # A success clears the email's failures.
    services.login_succeeded(email)
    assert services.login_throttled(email, None) is False
    # Many emails from one IP: the IP is throttled at 4x the limit.
    for i in range(12):
        services.login_failed(f"guess{i}@example.com", "10.0.0.66")
    assert services.login_throttled("new@example.com", "10.0.0.66") is True
    assert services.login_throttled("new@example.com", "10.0.0.67") is False
    # Old failures fall out of the window.
    LoginAttempt.objects.update(at=timezone.now() - dt.timedelta(seconds=901))
    assert services.login_throttled("new@example.com", "10.0.0.66") is False


def test_make_user_helper_is_consistent(personas):
    user = make_user(personas.other_company, "finance", email="fin@concurrent.test")
    assert Membership.objects.get(user=user).company_id == personas.other_company.pk

"""Authorization: roles generated from permission matrices, API scopes narrowing an actor."""

import pytest

from comptoir.kernel.authz import ROLES, PermissionRegistry, registry, require
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.errors import PermissionDenied
from comptoir.org import permissions as org_permissions
from comptoir.org.selectors import build_actor, scope_allows


def test_admin_holds_every_declared_permission():
    assert registry.permissions_for(["admin"]) == frozenset(registry.all_permissions())
    assert set(org_permissions.PERMISSIONS) <= registry.permissions_for(["admin"])


def test_roles_follow_the_matrix():
    sales = registry.permissions_for(["sales"])
    assert "org.view_company" in sales
    assert "org.change_company" not in sales
    assert "org.manage_users" not in sales
    assert "org.manage_sites" in registry.permissions_for(["management"])
    assert "org.manage_sites" not in sales
    # Several roles: the union.
    assert registry.permissions_for(["sales", "management"]) == sales | registry.permissions_for(["management"])
    assert registry.permissions_for([]) == frozenset()
    assert registry.permissions_for(["no-such-role"]) == frozenset()


def test_every_role_in_matrices_is_known():
    assert set(registry.matrix) <= set(ROLES)


def test_registry_refuses_bad_declarations():
    fresh = PermissionRegistry()
    with pytest.raises(ValueError, match="undeclared"):
        fresh.register("shop", {"shop.view_cart": "View"}, {"sales": ["shop.view_cart", "shop.pay"]})
    with pytest.raises(ValueError, match="unknown role"):
        PermissionRegistry().register("shop", {"shop.view_cart": "View"}, {"cashier": ["shop.view_cart"]})
    with pytest.raises(ValueError, match=r"must start with shop\."):
        PermissionRegistry().register("shop", {"crm.view_lead": "View"}, {})


def test_registered_app_feeds_admin_and_roles():
    fresh = PermissionRegistry(loaded=True)
    fresh.register("shop", {"shop.view_cart": "View", "shop.refund": "Refund"}, {"sales": ["shop.view_cart"]})
    assert fresh.permissions_for(["admin"]) == {"shop.view_cart", "shop.refund"}
    assert fresh.permissions_for(["sales"]) == {"shop.view_cart"}


def test_require_raises_403_or_refuses_undeclared_permissions():
    actor = Actor(user=None, company_id=1, permissions=frozenset({"org.view_company"}))
    require(actor, "org.view_company")
    with pytest.raises(PermissionDenied) as excinfo:
        require(actor, "org.change_company")
    assert excinfo.value.status == 403
    with pytest.raises(KeyError, match="undeclared permission"):
        require(actor, "org.launch_rockets")


def test_system_actor_holds_everything():
    system = Actor.system(1)
    for codename in registry.all_permissions():
        require(system, codename)
    assert system.label == "system"
    assert system.user_id is None


@pytest.mark.parametrize(
    ("scopes", "codename", "allowed"),
    [
        (["org:read"], "org.view_user", True),
        (["org:read"], "org.manage_users", False),
        (["org:write"], "org.manage_users", True),
        (["org:write"], "org.view_user", True),
        (["kernel:read"], "org.view_user", False),
        ([], "org.view_user", False),
        (["org:read", "crm:write"], "crm.change_lead", True),
        (["org:read"], "organisation.view_user", False),
    ],
)
def test_scope_allows(scopes, codename, allowed):
    assert scope_allows(scopes, codename) is allowed


@pytest.mark.django_db
def test_build_actor_with_scopes_narrows_permissions(personas):
    admin = personas.users["admin"]
    full = build_actor(admin, personas.company.pk, Channel.API)
    read = build_actor(admin, personas.company.pk, Channel.API, scopes=["org:read"])
    none = build_actor(admin, personas.company.pk, Channel.API, scopes=[])
    assert "org.change_company" in full.permissions
    assert read.permissions == {p for p in full.permissions if p.startswith("org.view_")}
    assert "org.change_company" not in read.permissions
    assert none.permissions == frozenset()
    # Scopes narrow, they never widen: a sales key with org:write still cannot change the company.
    sales = build_actor(personas.users["sales"], personas.company.pk, Channel.API, scopes=["org:write"])
    assert "org.change_company" not in sales.permissions
    assert read.roles == full.roles == {"admin"}


@pytest.mark.django_db
def test_build_actor_never_acts_in_a_company_the_user_is_not_in(personas):
    outsider = personas.outsider
    actor = build_actor(outsider, personas.company.pk, Channel.UI)
    assert actor.company_id == personas.other_company.pk
    assert actor.company_ids == {personas.other_company.pk}
    sales = build_actor(personas.users["sales"], personas.company.pk, Channel.UI)
    assert sales.company_id == personas.company.pk
    assert sales.roles == {"sales"}
    assert sales.channel == Channel.UI

"""Reads of the org app. Every selector starts from what the actor may see."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Prefetch, QuerySet, Value
from django.db.models.aggregates import StringAgg

from comptoir.kernel.authz import registry
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.errors import NotFound
from comptoir.org.models import ApiKey, Company, Membership, Site, User

# API scopes: "<app>:read" or "<app>:write"; a permission "<app>.view_*" needs read, any
# other permission of the app needs write.
SCOPE_APPS = ["org", "kernel"]


def api_scopes() -> list[str]:
    """Every scope an API key may carry: read/write for org, kernel and each non-core module."""
    from comptoir.kernel.modules import registry as module_registry

    apps = SCOPE_APPS + [m.code for m in module_registry.all() if not m.core]
    return [f"{app}:{mode}" for app in apps for mode in ("read", "write")]


def permission_matrix() -> list[dict[str, object]]:
    """Roles × permissions, grouped by app: [{app, rows: [{codename, label, granted: [bool per role]}]}]."""
    from comptoir.kernel.authz import ROLES

    registry.load()
    by_role = {role: registry.permissions_for([role]) for role in ROLES}
    return [
        {
            "app": app,
            "app_label": apps.get_app_config(app).verbose_name,
            "rows": [
                {
                    "codename": codename,
                    "label": registry.permissions[codename],
                    "granted": [codename in by_role[role] for role in ROLES],
                }
                for codename in codenames
            ],
        }
        for app, codenames in registry.by_app.items()
    ]


def scope_allows(scopes: list[str], codename: str) -> bool:
    app, _, action = codename.partition(".")
    if f"{app}:write" in scopes:
        return True
    return action.startswith("view_") and f"{app}:read" in scopes


def roles_of(user: User, company_id: int) -> frozenset[str]:
    return frozenset(Membership.objects.filter(user=user, company_id=company_id).values_list("role", flat=True))


def company_ids_of(user: User) -> frozenset[int]:
    return frozenset(Membership.objects.filter(user=user).values_list("company_id", flat=True).distinct())


def build_actor(
    user: User,
    company_id: int | None,
    channel: str,
    scopes: list[str] | None = None,
    pairs: list[tuple[int, str]] | None = None,
) -> Actor:
    """The actor for ``user`` acting in ``company_id`` (None when they belong to no company).

    One query reads every (company, role) pair of the user: this runs on every request.
    ``pairs`` passes them when the caller already read them in its own query (API keys).
    """
    if pairs is None:
        pairs = list(Membership.objects.filter(user=user).values_list("company_id", "role"))
    company_ids = frozenset(c for c, _ in pairs)
    if company_id not in company_ids:
        company_id = user.default_company_id if user.default_company_id in company_ids else None
        if company_id is None and company_ids:
            company_id = min(company_ids)
    roles = frozenset(r for c, r in pairs if c == company_id)
    permissions = registry.permissions_for(roles)
    if scopes is not None:
        permissions = frozenset(p for p in permissions if scope_allows(scopes, p))
    return Actor(
        user=user,
        company_id=company_id,
        roles=roles,
        permissions=permissions,
        channel=channel,
        company_ids=company_ids,
    )


def cli_actor(email: str) -> Actor:
    user = User.objects.filter(email=email.lower(), is_active=True).first()
    if user is None:
        raise NotFound("user_not_found", f"No active user {email}.")
    return build_actor(user, None, Channel.CLI)


def company_list(actor: Actor) -> QuerySet[Company]:
    """Companies the actor belongs to."""
    return Company.objects.filter(pk__in=actor.company_ids).order_by("name")


def company_get(actor: Actor, company_id: int | None = None) -> Company:
    company_id = company_id or actor.company_id
    company = Company.objects.filter(pk=company_id, pk__in=actor.company_ids).first()
    if company is None:
        raise NotFound("company_not_found")
    return company


def site_list(actor: Actor) -> QuerySet[Site]:
    return Site.objects.filter(company_id=actor.company_id).order_by("-is_head_office", "name")


def site_get(actor: Actor, site_id: int) -> Site:
    site = site_list(actor).filter(pk=site_id).first()
    if site is None:
        raise NotFound("site_not_found")
    return site


def user_list(actor: Actor) -> QuerySet[User]:
    """Users who hold a role in the actor's company, with their roles in that company."""
    members = Membership.objects.filter(company_id=actor.company_id)
    return (
        # A subquery, not a join + DISTINCT: counting and paging stay cheap on big tables.
        User.objects.filter(pk__in=members.values("user_id"))
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=members.only("id", "user_id", "role").order_by("role"),
                to_attr="company_memberships",
            )
        )
        .order_by("full_name", "id")
    )


# Columns of a user row in API lists (``user_rows``).
USER_ROW_FIELDS = ("id", "email", "full_name", "language", "is_active", "date_joined")


def user_rows(actor: Actor) -> QuerySet[User, dict[str, Any]]:
    """``user_list`` as plain dicts for API lists: one query, no model instances.

    The user's roles in the actor's company come in the same query, as ``roles``: a
    comma-separated string (role codes hold no comma), unordered; ``user_roles`` splits it.
    The join on memberships is filtered to the company before grouping, so only roles held
    there are aggregated.
    """
    return (
        User.objects.filter(memberships__company_id=actor.company_id)
        .values(*USER_ROW_FIELDS)
        .annotate(roles=StringAgg("memberships__role", Value(",")))
        .order_by("full_name", "id")
    )


def user_roles(aggregated: str | None) -> list[str]:
    """The ``roles`` of a ``user_rows`` row as a sorted list (the order ``user_list`` gives)."""
    return sorted(aggregated.split(",")) if aggregated else []


def user_get(actor: Actor, user_id: int) -> User:
    user = user_list(actor).filter(pk=user_id).first()
    if user is None:
        raise NotFound("user_not_found")
    return user


def apikey_list(actor: Actor) -> QuerySet[ApiKey]:
    """Own keys; administrators of the company see every key of the company."""
    keys = ApiKey.objects.filter(company_id=actor.company_id).select_related("user")
    if not actor.has_perm("org.manage_api_keys"):
        keys = keys.filter(user_id=actor.user_id)
    return keys.order_by("-created_at")


def apikey_get(actor: Actor, key_id: int) -> ApiKey:
    key = apikey_list(actor).filter(pk=key_id).first()
    if key is None:
        raise NotFound("api_key_not_found")
    return key

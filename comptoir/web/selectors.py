"""Reads for the shell: the home page summary and the global search across modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.authz import ROLES
from comptoir.kernel.context import Actor
from comptoir.kernel.modules import enabled_codes, registry
from comptoir.org.models import Company
from comptoir.org.selectors import company_get, site_list, user_list

SEARCH_MIN_LENGTH = 2


def url_or(name: str, fallback: str) -> str:
    """A named URL of another app, or its known path while that app has not wired it yet."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return fallback


@dataclass
class SearchGroup:
    code: str
    label: Any
    items: list[dict[str, Any]] = field(default_factory=list)


def global_search(actor: Actor, query: str, limit: int = 8) -> list[SearchGroup]:
    """Results the actor may see, grouped: core (users, sites) then each *enabled* module."""
    query = (query or "").strip()
    if len(query) < SEARCH_MIN_LENGTH or actor.company_id is None:
        return []
    groups: list[SearchGroup] = []
    if actor.has_perm("org.view_user"):
        users = user_list(actor).filter(Q(full_name__icontains=query) | Q(email__icontains=query))[:limit]
        url = url_or("org:users", "/settings/users/")
        groups.append(
            SearchGroup("users", _("Users"), [{"label": u.full_name, "detail": u.email, "url": url, "kind": "user"}
                                              for u in users])
        )  # fmt: skip
    if actor.has_perm("org.view_site"):
        sites = site_list(actor).filter(Q(name__icontains=query) | Q(city__icontains=query) | Q(siret__icontains=query))
        url = url_or("org:sites", "/settings/sites/")
        groups.append(
            SearchGroup("sites", _("Sites"), [{"label": s.name, "detail": s.city, "url": url, "kind": "site"}
                                              for s in sites[:limit]])
        )  # fmt: skip
    enabled = enabled_codes(actor.company_id)
    for module in registry.all():
        if module.search is None or module.code not in enabled:
            continue
        groups.append(SearchGroup(module.code, module.label, list(module.search(actor, query, limit))[:limit]))
    return [g for g in groups if g.items]


@dataclass
class HomeSummary:
    company: Company | None
    roles: list[Any]
    modules: list[dict[str, Any]]


def home_summary(actor: Actor) -> HomeSummary:
    if actor.company_id is None:
        return HomeSummary(company=None, roles=[], modules=[])
    company = company_get(actor)
    roles = [ROLES[r] for r in ROLES if r in actor.roles]
    enabled = enabled_codes(actor.company_id)
    modules = []
    for module in registry.all():
        if module.code not in enabled:
            continue
        links = []
        for entry in module.nav:
            if entry.permission is None or actor.has_perm(entry.permission):
                try:
                    links.append({"label": entry.label, "url": reverse(entry.url_name)})
                except NoReverseMatch:
                    continue
        modules.append({"code": module.code, "label": module.label, "description": module.description, "links": links})
    return HomeSummary(company=company, roles=roles, modules=modules)

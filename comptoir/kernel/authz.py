"""Authorization: permissions declared per app, roles generated from their matrices.

Each app has a ``permissions.py`` with ``PERMISSIONS`` (codename → label) and ``MATRIX``
(role → codenames). The registry gathers them at start-up; a role's permissions are the
union over all apps. Record rules (which rows an actor sees) live in selectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module

from django.apps import apps
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.context import Actor
from comptoir.kernel.errors import PermissionDenied

ROLES: dict[str, object] = {
    "sales": _("Sales"),
    "marketing": _("Marketing"),
    "service": _("Customer service"),
    "finance": _("Finance"),
    "operations": _("Operations"),
    "production": _("Production"),
    "hr": _("Human resources"),
    "management": _("Management"),
    "admin": _("Administrator"),
}


@dataclass
class PermissionRegistry:
    permissions: dict[str, object] = field(default_factory=dict)
    matrix: dict[str, set[str]] = field(default_factory=dict)
    by_app: dict[str, list[str]] = field(default_factory=dict)
    loaded: bool = False

    def load(self) -> None:
        if self.loaded:
            return
        for config in apps.get_app_configs():
            if not config.name.startswith("comptoir."):
                continue
            try:
                module = import_module(f"{config.name}.permissions")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.permissions":
                    raise
                continue
            self.register(config.label, module.PERMISSIONS, module.MATRIX)
        self.loaded = True

    def register(self, app_label: str, permissions: dict[str, object], matrix: dict[str, Iterable[str]]) -> None:
        for codename, label in permissions.items():
            if not codename.startswith(f"{app_label}."):
                raise ValueError(f"{codename} must start with {app_label}.")
            self.permissions[codename] = label
        self.by_app[app_label] = list(permissions)
        for role, codenames in matrix.items():
            if role not in ROLES:
                raise ValueError(f"unknown role {role} in {app_label}.permissions")
            unknown = set(codenames) - set(permissions)
            if unknown:
                raise ValueError(f"{app_label}.permissions: undeclared {sorted(unknown)}")
            self.matrix.setdefault(role, set()).update(codenames)

    def all_permissions(self) -> list[str]:
        self.load()
        return list(self.permissions)

    def permissions_for(self, roles: Iterable[str]) -> frozenset[str]:
        self.load()
        granted: set[str] = set()
        for role in roles:
            if role == "admin":
                # The administrator holds every permission, including those of future apps.
                granted.update(self.permissions)
            granted.update(self.matrix.get(role, ()))
        return frozenset(granted)


registry = PermissionRegistry()


def require(actor: Actor, codename: str) -> None:
    """Raise 403 unless the actor holds the permission."""
    registry.load()
    if codename not in registry.permissions:
        raise KeyError(f"undeclared permission {codename}")
    if not actor.has_perm(codename):
        raise PermissionDenied("permission_denied", _("You are not allowed to do this."))

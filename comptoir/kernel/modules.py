"""Modules a company switches on one by one (CRM first, or ERP first).

Each app that forms a module registers a ``Module`` in its AppConfig.ready(): navigation,
API routers and search providers consult ``is_enabled`` so a disabled module disappears
from all three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from comptoir.kernel.models import ModuleActivation


@dataclass(frozen=True)
class NavEntry:
    label: Any
    url_name: str
    permission: str | None = None


@dataclass(frozen=True)
class Module:
    code: str
    label: Any
    description: Any = ""
    nav: tuple[NavEntry, ...] = ()
    # Modules this one needs (e.g. sales needs crm and accounting).
    requires: tuple[str, ...] = ()
    # Search provider: (actor, query, limit) -> list of {"label", "url", "kind"}.
    search: Callable[..., list[dict[str, Any]]] | None = None
    core: bool = False
    # Runs in the enabling transaction each time a company switches the module on, with the
    # enabling actor: sets up the company's data (e.g. the chart of accounts). Idempotent.
    on_enable: Callable[[Any], None] | None = None


@dataclass
class ModuleRegistry:
    modules: dict[str, Module] = field(default_factory=dict)

    def register(self, module: Module) -> None:
        self.modules[module.code] = module

    def unregister(self, code: str) -> None:
        self.modules.pop(code, None)

    def all(self) -> list[Module]:
        return list(self.modules.values())

    def get(self, code: str) -> Module | None:
        return self.modules.get(code)


registry = ModuleRegistry()


def enabled_codes(company_id: int | None) -> set[str]:
    core = {m.code for m in registry.all() if m.core}
    if company_id is None:
        return core
    rows = ModuleActivation.objects.filter(company_id=company_id, enabled=True).values_list("module", flat=True)
    return core | (set(rows) & set(registry.modules))


def is_enabled(company_id: int | None, code: str) -> bool:
    module = registry.get(code)
    if module is None:
        return False
    return module.core or code in enabled_codes(company_id)

"""Demo data loaders: each module registers how it fills the demo company.

``org.demo.load_demo`` creates the company and its logins, switches the modules on, then
runs every registered loader with the system actor, in registration (app) order. Loaders
must be idempotent: the demo runs them at every start.
"""

from __future__ import annotations

from collections.abc import Callable

from comptoir.kernel.context import Actor

Loader = Callable[[Actor], None]
_loaders: dict[str, Loader] = {}


def register(name: str, loader: Loader) -> None:
    _loaders[name] = loader


def run_all(actor: Actor) -> None:
    for loader in _loaders.values():
        loader(actor)

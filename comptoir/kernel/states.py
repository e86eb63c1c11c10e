"""Workflow tables: a status enum plus the transitions allowed between statuses.

A ``Workflow`` is pure data. Services call ``check`` before changing a status; the UI asks
``actions_from`` which buttons to show; the API lists the same actions. One table, three
consumers, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str, ...]
    target: str
    permission: str
    label: object = ""


class Workflow:
    def __init__(self, name: str, statuses: Iterable[str], transitions: Iterable[Transition]) -> None:
        self.name = name
        self.statuses = tuple(statuses)
        self.transitions = {t.action: t for t in transitions}
        for t in self.transitions.values():
            unknown = {*t.sources, t.target} - set(self.statuses)
            if unknown:
                raise ValueError(f"{name}.{t.action}: unknown statuses {sorted(unknown)}")

    def transition(self, action: str) -> Transition:
        try:
            return self.transitions[action]
        except KeyError:
            raise Conflict("unknown_action", _("Unknown action: %(action)s") % {"action": action}) from None

    def check(self, status: str, action: str) -> Transition:
        """Return the transition, or raise Conflict if ``action`` is not allowed from ``status``."""
        t = self.transition(action)
        if status not in t.sources:
            raise Conflict(
                "invalid_transition",
                _("Action “%(action)s” is not possible in status “%(status)s”.") % {"action": action, "status": status},
            )
        return t

    def actions_from(self, status: str, actor: Actor | None = None) -> list[Transition]:
        """Transitions available now, optionally only those the actor may take."""
        return [
            t
            for t in self.transitions.values()
            if status in t.sources and (actor is None or actor.has_perm(t.permission))
        ]

"""Who acts, for which company, through which channel.

Services receive an ``Actor`` explicitly. The channel (UI, API, import, task, CLI) is also
kept in a context variable so the audit trail records it wherever the call came from.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _


class Channel:
    UI = "ui"
    API = "api"
    IMPORT = "import"
    TASK = "task"
    CLI = "cli"
    SYSTEM = "system"

    choices = [
        (UI, _("User interface")),
        (API, _("API")),
        (IMPORT, _("Import")),
        (TASK, _("Background task")),
        (CLI, _("Command line")),
        (SYSTEM, _("System")),
    ]


_channel: contextvars.ContextVar[str] = contextvars.ContextVar("comptoir_channel", default=Channel.SYSTEM)


def current_channel() -> str:
    return _channel.get()


@contextlib.contextmanager
def channel(name: str) -> Iterator[None]:
    token = _channel.set(name)
    try:
        yield
    finally:
        _channel.reset(token)


@dataclass(frozen=True)
class Actor:
    """The person (or system) acting, the company they act for, and what they may do.

    ``permissions`` is already the union of the actor's roles in ``company_id``; for API
    keys it is further narrowed by the key's scopes (see ``org.selectors``).
    """

    user: Any
    company_id: int | None
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    channel: str = Channel.SYSTEM
    company_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "pk", None)

    @property
    def label(self) -> str:
        if self.user is None:
            return "system"
        return str(getattr(self.user, "email", self.user))

    def has_perm(self, codename: str) -> bool:
        return codename in self.permissions

    @classmethod
    def system(cls, company_id: int | None, channel: str = Channel.SYSTEM) -> Actor:
        """The system itself (nightly jobs, migrations): all permissions, no user."""
        from comptoir.kernel.authz import registry

        return cls(
            user=None,
            company_id=company_id,
            roles=frozenset({"system"}),
            permissions=frozenset(registry.all_permissions()),
            channel=channel,
            company_ids=frozenset({company_id}) if company_id else frozenset(),
        )

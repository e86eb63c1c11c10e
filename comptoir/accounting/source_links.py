"""Where a document came from: links from an invoice back to its source (a sales order…).

Accounting imports no module above it. A module that makes invoices registers, at start-up,
a resolver for its ``source_type``; the invoice page asks ``resolve`` for a label and a URL,
and the resolver applies the actor's record rules (``None`` when the actor may not see it).

    source_links.register("sales.order", resolve_order)  # (actor, source_id) -> SourceLink | None
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from comptoir.kernel.context import Actor


@dataclass(frozen=True)
class SourceLink:
    label: str  # e.g. "Sales order CO-2026-00001"
    url: str


Resolver = Callable[[Actor, str], SourceLink | None]
_resolvers: dict[str, Resolver] = {}


def register(source_type: str, resolver: Resolver) -> None:
    _resolvers[source_type] = resolver


def resolve(actor: Actor, source_type: str, source_id: str) -> SourceLink | None:
    resolver = _resolvers.get(source_type)
    if resolver is None or not source_id:
        return None
    return resolver(actor, source_id)

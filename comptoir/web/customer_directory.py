"""Catalog keeps customers as organization ids (contacts is on its layer, it cannot import it):
the contacts app answers for them, plugged in here at start-up (docs/decisions/0010)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _names(company_id: int, ids: Iterable[int]) -> dict[int, str]:
    from comptoir.contacts.models import Organization

    rows = Organization.objects.filter(company_id=company_id, pk__in=list(ids)).values_list(
        "pk", "trade_name", "legal_name"
    )
    return {pk: trade or legal for pk, trade, legal in rows}


def _search(actor: Any, query: str, limit: int) -> list[tuple[int, str]]:
    from comptoir.contacts.selectors import organization_list

    if not actor.has_perm("contacts.view_contact"):
        return []
    rows = organization_list(actor, filters={"q": query} if query else {})[:limit]
    return [(org.pk, str(org)) for org in rows]


def _exists(company_id: int, organization_id: int) -> bool:
    from comptoir.contacts.models import Organization

    return Organization.objects.filter(company_id=company_id, pk=organization_id, merged_into__isnull=True).exists()


def install() -> None:
    from comptoir.catalog import customers

    customers.configure(names=_names, search=_search, exists=_exists)

"""Who the customers are, as far as catalog needs to know: plugged in from above.

Customers are ``contacts.Organization`` rows, on the same layer as catalog, so catalog
cannot import them (docs/decisions/0010-catalog-customer-links.md). Price lists and
customer groups keep an organization id; a higher layer (``config.api``) plugs in a
``CustomerDirectory`` that checks ids, names them and searches them. Without one (tests of
catalog alone), every id exists and is named by its number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _


def _no_names(company_id: int, ids: Iterable[int]) -> dict[int, str]:
    return {}


def _no_search(actor: Any, query: str, limit: int) -> list[tuple[int, str]]:
    return []


def _any_exists(company_id: int, organization_id: int) -> bool:
    return True


@dataclass
class CustomerDirectory:
    # (company_id, ids) -> {id: name} for the ids that exist
    names: Callable[[int, Iterable[int]], dict[int, str]] = _no_names
    # (actor, query, limit) -> [(id, name)] of customers the actor may see
    search: Callable[[Any, str, int], list[tuple[int, str]]] = _no_search
    # (company_id, id) -> the organization exists in the company
    exists: Callable[[int, int], bool] = _any_exists

    def label(self, company_id: int, organization_id: int | None) -> str:
        if organization_id is None:
            return ""
        found = self.names(company_id, [organization_id]).get(organization_id)
        return found or _("Customer #%(id)s") % {"id": organization_id}

    def labels(self, company_id: int, ids: Iterable[int]) -> dict[int, str]:
        ids = [i for i in set(ids) if i is not None]
        found = self.names(company_id, ids) if ids else {}
        return {i: found.get(i) or _("Customer #%(id)s") % {"id": i} for i in ids}


directory = CustomerDirectory()


def configure(
    *,
    names: Callable[[int, Iterable[int]], dict[int, str]],
    search: Callable[[Any, str, int], list[tuple[int, str]]],
    exists: Callable[[int, int], bool],
) -> None:
    directory.names = names
    directory.search = search
    directory.exists = exists

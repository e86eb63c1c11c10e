"""Keyset-free, predictable pagination shared by UI lists and API list endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet, Window
from django.db.models.query import ModelIterable, ValuesIterable
from django.utils.translation import gettext as _

from comptoir.kernel.errors import ValidationFailed


@dataclass
class Page:
    items: list[Any]
    count: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def parse_sort(sort: str | None, allowed: dict[str, str], default: str) -> list[str]:
    """``sort`` is a comma list of public field names, '-' for descending; unknown → 422."""
    if not sort:
        sort = default
    order: list[str] = []
    for part in sort.split(","):
        part = part.strip()
        desc = part.startswith("-")
        name = part.lstrip("-")
        if name not in allowed:
            raise ValidationFailed(
                "invalid_sort",
                fields={
                    "sort": [
                        _("Unknown sort field “%(name)s”. Allowed: %(allowed)s.")
                        % {"name": name, "allowed": ", ".join(sorted(allowed))}
                    ]
                },
            )
        order.append(("-" if desc else "") + allowed[name])
    return order


def paginate(queryset: QuerySet, page: int | None = 1, page_size: int | None = None) -> Page:
    page = 1 if page is None else page
    page_size = settings.COMPTOIR_PAGE_SIZE if page_size is None else page_size
    errors: dict[str, list[str]] = {}
    if page < 1:
        errors["page"] = [_("Must be 1 or more.")]
    if not 1 <= page_size <= settings.COMPTOIR_PAGE_SIZE_MAX:
        errors["page_size"] = [_("Must be between 1 and %(max)s.") % {"max": settings.COMPTOIR_PAGE_SIZE_MAX}]
    if errors:
        raise ValidationFailed("invalid_pagination", fields=errors)
    start = (page - 1) * page_size
    items, count = _slice_and_count(queryset, start, page_size)
    return Page(items=items, count=count, page=page, page_size=page_size)


# The window annotation that carries the total on every row of a page.
_TOTAL = "_comptoir_total"


def _slice_and_count(queryset: QuerySet, start: int, size: int) -> tuple[list[Any], int]:
    """One page and the total row count, in one query when the queryset allows it.

    ``COUNT(*) OVER ()`` is computed before LIMIT/OFFSET, so every row of the page carries
    the total: one round trip (and one ORM compilation) instead of a COUNT query plus the
    page query. An empty page past the end has no row to carry it: then, and for querysets
    where the window would count the wrong rows (DISTINCT runs after window functions,
    set operations) or could not be added, a separate COUNT runs.
    """
    query = queryset.query
    iterable = queryset._iterable_class
    if query.distinct or query.combinator or query.is_sliced or iterable not in (ModelIterable, ValuesIterable):
        return list(queryset[start : start + size]), queryset.count()
    items = list(queryset.annotate(**{_TOTAL: Window(Count("*"))})[start : start + size])
    if not items:
        return [], (queryset.count() if start else 0)
    if iterable is ValuesIterable:
        count = items[0][_TOTAL]
        for row in items:
            del row[_TOTAL]
    else:
        count = getattr(items[0], _TOTAL)
        for obj in items:
            delattr(obj, _TOTAL)
    return items, count

"""Keyset-free, predictable pagination shared by UI lists and API list endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet, Subquery, Value, Window
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


# The annotation that carries the total on every row of a page.
_TOTAL = "_comptoir_total"
# From this offset on, a page is read in two steps inside one query (ids, then rows).
DEFERRED_JOIN_FROM = 500


def _slice_and_count(queryset: QuerySet, start: int, size: int) -> tuple[list[Any], int]:
    """One page and the total row count, in one query when the queryset allows it.

    The total comes as an uncorrelated scalar subquery on every row of the page,
    ``(SELECT COUNT(*) FROM … WHERE …)``: one round trip (and one ORM compilation) instead of
    a COUNT query plus the page query. The database computes it once, with the cheapest plan
    for a count (an index-only scan), while the page itself still stops after LIMIT rows.
    (``COUNT(*) OVER ()`` did the same in one query, but made the database build every
    matching row, joins included, before the limit: 0.5 s for page 1 of 25,000 rows.)
    Grouped querysets (aggregates per row) keep ``COUNT(*) OVER ()``, which counts groups.
    An empty page past the end has no row to carry it: then, and for querysets where either
    would count the wrong rows (DISTINCT, set operations) or could not be added, a separate
    COUNT runs.
    """
    query = queryset.query
    iterable = queryset._iterable_class
    if query.distinct or query.combinator or query.is_sliced or iterable not in (ModelIterable, ValuesIterable):
        return list(queryset[start : start + size]), queryset.count()
    grouped = query.group_by is not None or any(a.contains_aggregate for a in query.annotations.values())
    if grouped:
        total: Any = Window(Count("*"))
    else:
        # A constant is left out of GROUP BY: SELECT COUNT(*) … with the same filters, one row.
        counter = queryset.model._base_manager.all()
        counter.query = query.chain()
        counter.query.clear_ordering(force=True)
        counter.query.clear_select_fields()
        counter.query.select_related = False
        total = Subquery(counter.annotate(_one=Value(1)).values("_one").annotate(n=Count("*")).values("n"))
    if start >= DEFERRED_JOIN_FROM and not grouped:
        # A deep page: find its ids first (the database can walk an index to skip the first
        # rows without reading them from the table), then read only those rows in full.
        ids = queryset.order_by(*query.order_by).values("pk")[start : start + size]
        items = list(queryset.filter(pk__in=Subquery(ids)).annotate(**{_TOTAL: total}))
    else:
        items = list(queryset.annotate(**{_TOTAL: total})[start : start + size])
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

"""Pagination: the page and its total come from one query, and stay right at the edges."""

from __future__ import annotations

import pytest

from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.pagination import paginate
from comptoir.kernel.testkit import count_queries
from comptoir.org.models import Site


@pytest.fixture
def sites(personas):  # type: ignore[no-untyped-def]
    Site.objects.bulk_create(
        [Site(company=personas.company, name=f"Site {i:02}", siret=f"842157638{i:05}") for i in range(100, 123)]
    )
    return Site.objects.filter(company=personas.company).order_by("name", "pk")  # 24 with the head office


def test_page_and_total_in_one_query(sites):
    with count_queries() as ctx:
        page = paginate(sites, 2, 10)
    assert len(ctx.captured_queries) == 1
    assert page.count == 24 and page.pages == 3
    assert [s.pk for s in page.items] == list(sites.values_list("pk", flat=True)[10:20])
    # The window column used to carry the total does not leak onto the rows.
    assert not any(hasattr(s, "_comptoir_total") for s in page.items)


def test_last_partial_page_and_values_rows(sites):
    page = paginate(sites.values("id", "name"), 3, 10)
    assert page.count == 24
    assert [set(row) for row in page.items] == [{"id", "name"}] * 4


def test_page_past_the_end_still_counts(sites):
    with count_queries() as ctx:
        page = paginate(sites, 9, 10)
    assert page.items == [] and page.count == 24
    assert len(ctx.captured_queries) == 2


def test_empty_first_page_needs_no_count(personas):
    with count_queries() as ctx:
        page = paginate(Site.objects.filter(pk=-1).order_by("pk"), 1, 10)
    assert page.items == [] and page.count == 0 and page.pages == 1
    assert len(ctx.captured_queries) == 1


def test_distinct_querysets_fall_back_to_a_count(sites, personas):
    # DISTINCT runs after window functions: the total must come from a separate COUNT.
    joined = Site.objects.filter(company__memberships__isnull=False, company=personas.company).order_by("name", "pk")
    assert joined.count() > 24  # one row per membership of the company
    page = paginate(joined.distinct(), 1, 10)
    assert page.count == 24
    assert len(page.items) == 10


def test_grouped_querysets_count_groups(personas):
    from django.db.models import Count

    from comptoir.org.models import User

    grouped = (
        User.objects.filter(memberships__company=personas.company)
        .values("id")
        .annotate(n=Count("memberships"))
        .order_by("id")
    )
    page = paginate(grouped, 1, 3)
    assert page.count == User.objects.filter(memberships__company=personas.company).distinct().count()
    assert all(row["n"] >= 1 for row in page.items)


def test_bad_pages_are_refused(sites):
    with pytest.raises(ValidationFailed) as exc:
        paginate(sites, 0, 0)
    assert set(exc.value.fields) == {"page", "page_size"}

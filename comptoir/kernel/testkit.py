"""Helpers for tests: count queries, and assert a page costs the same for 1 or 50 rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection
from django.test.utils import CaptureQueriesContext


@contextlib.contextmanager
def count_queries() -> Iterator[CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as ctx:
        yield ctx


def query_count(func, *args, **kwargs) -> int:  # type: ignore[no-untyped-def]
    with count_queries() as ctx:
        func(*args, **kwargs)
    return len(ctx.captured_queries)

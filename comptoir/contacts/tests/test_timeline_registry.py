"""The timeline registry: merging sources newest first and cutting pages with a cursor.

Fake in-memory sources on a fresh registry; no database.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from comptoir.contacts.timeline import (
    Before,
    Cursor,
    KeyFigure,
    Subject,
    TimelineEntry,
    TimelineRegistry,
)
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import ValidationFailed

ACTOR = Actor(user=None, company_id=None)
SUBJECT = Subject("organization", 1)
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def memory_source(kind: str, rows: list[tuple[datetime, int]]):
    """A source over (at, key) rows that filters like a SQL source would."""

    def fetch(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
        kept = [(at, key) for at, key in rows if before is None or before.admits(at, key)]
        kept.sort(key=lambda r: (r[0], r[1]), reverse=True)
        return [TimelineEntry(at=at, kind=kind, title=f"{kind} {key}", key=key) for at, key in kept[:limit]]

    return fetch


def walk(registry: TimelineRegistry, limit: int, kinds=None) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    cursor = None
    for _page in range(10_000):
        entries, cursor = registry.timeline(ACTOR, SUBJECT, before=cursor, limit=limit, kinds=kinds)
        assert len(entries) <= limit
        seen.extend((e.source, e.key) for e in entries)
        if cursor is None:
            return seen
        assert len(entries) == limit
    raise AssertionError("the cursor never ends")


def test_merges_sources_newest_first():
    registry = TimelineRegistry()
    registry.register_source("notes", "Notes", memory_source("note", [(T0, 1), (T0 + timedelta(hours=2), 2)]))
    registry.register_source("calls", "Calls", memory_source("call", [(T0 + timedelta(hours=1), 7)]))

    entries, cursor = registry.timeline(ACTOR, SUBJECT)

    assert [(e.source, e.key) for e in entries] == [("notes", 2), ("calls", 7), ("notes", 1)]
    assert [e.kind for e in entries] == ["note", "call", "note"]
    assert cursor is None


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 30])
def test_load_more_neither_repeats_nor_skips_even_with_ties(limit):
    rng = random.Random(limit)
    # Few distinct timestamps, so most entries tie with others in the same and other sources.
    stamps = [T0 + timedelta(minutes=m) for m in range(4)]
    everything = []
    registry = TimelineRegistry()
    for code in ("changes", "notes", "activities"):
        rows = [(rng.choice(stamps), key) for key in rng.sample(range(1, 500), 40)]
        everything.extend((code, key, at) for at, key in rows)
        registry.register_source(code, code, memory_source(code, rows))

    seen = walk(registry, limit)

    assert len(seen) == len(set(seen)) == 120
    expected = sorted(everything, key=lambda r: (-r[2].timestamp(), r[0], -r[1]))
    assert seen == [(code, key) for code, key, _at in expected]


def test_more_ties_than_a_page():
    registry = TimelineRegistry()
    registry.register_source("notes", "Notes", memory_source("note", [(T0, key) for key in range(1, 26)]))
    registry.register_source("calls", "Calls", memory_source("call", [(T0, key) for key in range(1, 26)]))

    seen = walk(registry, 4)

    assert seen == [("calls", k) for k in range(25, 0, -1)] + [("notes", k) for k in range(25, 0, -1)]


def test_kinds_filter_and_unknown_kind():
    registry = TimelineRegistry()
    registry.register_source("notes", "Notes", memory_source("note", [(T0, 1)]))
    registry.register_source("calls", "Calls", memory_source("call", [(T0, 2)]))

    assert walk(registry, 10, kinds=["calls"]) == [("calls", 2)]
    assert registry.kinds(ACTOR) == [("calls", "Calls"), ("notes", "Notes")]
    with pytest.raises(ValidationFailed) as error:
        registry.timeline(ACTOR, SUBJECT, kinds=["calls", "invoices"])
    assert "kinds" in error.value.fields


BAD_CURSORS = ["", "x", "1.notes", "abc.notes.1", "1.Notes!.1", "1.notes.-4", "1.notes.1.2", "9" * 30 + ".notes.1"]


@pytest.mark.parametrize("bad", BAD_CURSORS)
def test_a_bad_cursor_is_a_field_error(bad):
    registry = TimelineRegistry()
    registry.register_source("notes", "Notes", memory_source("note", [(T0, 1)]))
    with pytest.raises(ValidationFailed) as error:
        registry.timeline(ACTOR, SUBJECT, before=bad or "?")
    assert "before" in error.value.fields


@pytest.mark.parametrize("limit", [0, -1, 101])
def test_limit_is_bounded(limit):
    with pytest.raises(ValidationFailed) as error:
        TimelineRegistry().timeline(ACTOR, SUBJECT, limit=limit)
    assert "limit" in error.value.fields


def test_cursor_round_trip_keeps_microseconds():
    cursor = Cursor(T0.replace(microsecond=123456), "notes", 42)
    assert Cursor.decode(cursor.encode()) == cursor


def test_before_q_with_slots_matches_admits():
    # A source emitting two entries per row (key = id * 2 + slot) filters the same in SQL and Python.
    for bound_key in range(0, 12):
        bound = Before(T0, bound_key)
        for row_id in range(0, 6):
            for slot in (0, 1):
                q = bound.q("at", "id", slot=slot, slots=2)
                id_below = q.children[1].children[1][1]
                assert (row_id < id_below) == bound.admits(T0, row_id * 2 + slot)


def test_source_codes_are_identifiers():
    with pytest.raises(ValueError):
        TimelineRegistry().register_source("Notes.x", "Notes", memory_source("note", []))


def test_key_figures_and_panels_in_order():
    registry = TimelineRegistry()
    registry.register_figures("crm", lambda actor, subject: [KeyFigure("Open", 3, code="open")])
    registry.register_figures("sales", lambda actor, subject: [KeyFigure("Invoiced", "12.00", code="invoiced")])
    registry.register_panel("second", 20, lambda request, actor, subject: "<p>2</p>")
    registry.register_panel("empty", 5, lambda request, actor, subject: "")
    registry.register_panel("first", 10, lambda request, actor, subject: f"<p>{subject.kind}</p>")

    assert [f.code for f in registry.key_figures(ACTOR, SUBJECT)] == ["open", "invoiced"]
    assert registry.render_panels(None, ACTOR, SUBJECT) == [("first", "<p>organization</p>"), ("second", "<p>2</p>")]

"""The 360° view of an organization or a person: timeline sources, key figures, panels.

Contacts knows nothing of the apps above it. Each app that has something to say about a
contact plugs it in from its ``AppConfig.ready`` (the CRM its activities, notes and
opportunities; later quotes, invoices, tickets…)::

    from comptoir.contacts.timeline import registry
    registry.register_source("notes", _("Notes"), fetch_notes, module="crm")
    registry.register_figures("crm", compute_figures, module="crm")
    registry.register_panel("notes", 20, render_notes_panel, module="crm")

A **source** returns the newest entries of one kind for a subject, applying the actor's
record rules itself; ``timeline`` merges the sources newest first. Pages are cut with a
cursor (timestamp, source, key) so "load more" neither repeats nor skips an entry, even
when thousands share one timestamp: each source receives a ``Before`` bound and filters
with ``before.q(...)`` in SQL (or ``before.admits(...)`` in Python). Each source asks the
database for at most ``limit + 1`` rows, so a page costs one or two queries per source
whatever the size of the history.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import OuterRef, Q, Subquery
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from comptoir.contacts.models import Address, Organization, Person
from comptoir.kernel import modules
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.models import AuditEntry
from comptoir.org.models import User

ORGANIZATION = "organization"
PERSON = "person"
MAX_LIMIT = 100
# Larger than any primary key: "every entry at this timestamp still comes".
_ALL_TIES = 2**62
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Subject:
    """What a detail page is about."""

    kind: str  # ORGANIZATION | PERSON
    id: int


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # what happened, for the icon and the data attribute: "call", "note", "won"…
    title: str
    url: str = ""
    body: str = ""
    actor: str = ""
    badge: str = ""
    # Unique within its source and ordered like ``at`` for equal timestamps (usually the
    # row's id; see ``Before.q`` for sources that emit several entries per row).
    key: int = 0
    # Filled by ``timeline``: the code of the source the entry came from.
    source: str = ""


@dataclass(frozen=True)
class KeyFigure:
    label: Any
    value: Any  # as shown on the page ("12 500,00 EUR", "3 mars 2025")
    url: str = ""
    code: str = ""
    tone: str = ""  # "" | "warning" | "danger" | "success"
    # For the API: the value as data (int, decimal string, ISO date) or None for "nothing".
    raw: Any = None


@dataclass(frozen=True)
class Before:
    """Entries strictly older than a position, as one source sees it.

    Entries are ordered by ``at`` descending then ``key`` descending; an entry is admitted
    when ``at < self.at`` or (``at == self.at`` and ``key < self.key``).
    """

    at: datetime
    key: int

    def admits(self, at: datetime, key: int) -> bool:
        return at < self.at or (at == self.at and key < self.key)

    def q(self, at_field: str, id_field: str = "pk", *, slot: int = 0, slots: int = 1) -> Q:
        """The SQL filter for rows whose entry key is ``id * slots + slot``.

        A source that emits several entries per row (an opportunity created, then won) gives
        each its slot, so keys stay unique and ordered by id.
        """
        # id * slots + slot < key  <=>  id < ceil((key - slot) / slots)
        id_below = -(-(self.key - slot) // slots)
        return Q(**{f"{at_field}__lt": self.at}) | Q(**{at_field: self.at, f"{id_field}__lt": id_below})


Fetch = Callable[[Actor, Subject, Before | None, int], list[TimelineEntry]]
Compute = Callable[[Actor, Subject], list[KeyFigure]]
Render = Callable[[Any, Actor, Subject], str]


@dataclass(frozen=True)
class Source:
    code: str
    label: Any
    fetch: Fetch
    module: str | None = None


@dataclass(frozen=True)
class Figures:
    code: str
    compute: Compute
    module: str | None = None


@dataclass(frozen=True)
class Panel:
    code: str
    order: int
    render: Render
    module: str | None = None


@dataclass(frozen=True)
class Cursor:
    """Where a page stopped: the last entry shown."""

    at: datetime
    source: str
    key: int

    def encode(self) -> str:
        return f"{_micros(self.at)}.{self.source}.{self.key}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        parts = value.split(".")
        try:
            micros, source, key = int(parts[0]), parts[1], int(parts[2])
            if len(parts) != 3 or not _CODE.match(source) or not 0 <= key <= _ALL_TIES:
                raise ValueError(value)
            at = _EPOCH + micros * _MICROSECOND
        except (ValueError, IndexError, OverflowError, OSError):
            raise _invalid("before", _("This is not a position in the timeline.")) from None
        return cls(at=at, source=source, key=key)

    def bound_for(self, source: str) -> Before:
        # At equal timestamps, sources come in code order: those before the cursor's source
        # were already shown entirely, those after not at all.
        if source < self.source:
            return Before(self.at, 0)
        if source > self.source:
            return Before(self.at, _ALL_TIES)
        return Before(self.at, self.key)


@dataclass
class TimelineRegistry:
    sources: dict[str, Source] = field(default_factory=dict)
    figures: dict[str, Figures] = field(default_factory=dict)
    panels: dict[str, Panel] = field(default_factory=dict)

    # --- Registration (idempotent: the last registration of a code wins) -------------

    def register_source(self, code: str, label: Any, fetch: Fetch, *, module: str | None = None) -> None:
        if not _CODE.match(code):
            raise ValueError(f"timeline source code {code!r}: lowercase letters, digits and _ only")
        self.sources[code] = Source(code, label, fetch, module)

    def register_figures(self, code: str, compute: Compute, *, module: str | None = None) -> None:
        self.figures[code] = Figures(code, compute, module)

    def register_panel(self, code: str, order: int, render: Render, *, module: str | None = None) -> None:
        self.panels[code] = Panel(code, order, render, module)

    # --- Reading ----------------------------------------------------------------------

    def _enabled(self, actor: Actor, items: Iterable[Any]) -> list[Any]:
        items = list(items)
        if all(item.module is None for item in items):
            return items
        enabled = modules.enabled_codes(actor.company_id)
        return [item for item in items if item.module is None or item.module in enabled]

    def kinds(self, actor: Actor) -> list[tuple[str, Any]]:
        """The sources this actor's company has, as (code, label), for the filter chips."""
        return [(s.code, s.label) for s in sorted(self._enabled(actor, self.sources.values()), key=lambda s: s.code)]

    def timeline(
        self,
        actor: Actor,
        subject: Subject,
        before: str | None = None,
        limit: int = 30,
        kinds: Sequence[str] | None = None,
    ) -> tuple[list[TimelineEntry], str | None]:
        """One page of the subject's history, newest first, and the cursor of the next page."""
        if not 1 <= limit <= MAX_LIMIT:
            raise _invalid("limit", _("Between 1 and %(max)s.") % {"max": MAX_LIMIT})
        sources = self._enabled(actor, self.sources.values())
        if kinds:
            known = {s.code for s in sources}
            unknown = sorted(set(kinds) - known)
            if unknown:
                raise _invalid("kinds", _("Unknown kind: %(kinds)s.") % {"kinds": ", ".join(unknown)})
            sources = [s for s in sources if s.code in kinds]
        cursor = Cursor.decode(before) if before else None
        merged: list[TimelineEntry] = []
        for source in sources:
            bound = cursor.bound_for(source.code) if cursor else None
            # One more than the page, so we know whether a next page exists.
            for entry in source.fetch(actor, subject, bound, limit + 1)[: limit + 1]:
                merged.append(replace(entry, source=source.code))
        merged.sort(key=_newest_first)
        page = merged[:limit]
        if len(merged) > limit:
            last = page[-1]
            return page, Cursor(last.at, last.source, last.key).encode()
        return page, None

    def key_figures(self, actor: Actor, subject: Subject) -> list[KeyFigure]:
        figures: list[KeyFigure] = []
        for item in self._enabled(actor, self.figures.values()):
            figures.extend(item.compute(actor, subject))
        return figures

    def render_panels(self, request: Any, actor: Actor, subject: Subject) -> list[tuple[str, SafeString]]:
        """(code, html) of each panel with something to show, in order."""
        rendered = []
        for panel in sorted(self._enabled(actor, self.panels.values()), key=lambda p: (p.order, p.code)):
            html = panel.render(request, actor, subject)
            if html:
                # Panels render their own templates, which escape what they show.
                rendered.append((panel.code, mark_safe(html)))  # noqa: S308
        return rendered


def _invalid(field: str, message: Any) -> ValidationFailed:
    return ValidationFailed(fields={field: [str(message)]})


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


def _newest_first(entry: TimelineEntry) -> tuple[int, str, int]:
    # Newest first; among equal timestamps, sources in code order (see Cursor.bound_for),
    # then key descending.
    return (-_micros(entry.at), entry.source, -entry.key)


registry = TimelineRegistry()


def timeline(
    actor: Actor,
    subject: Subject,
    before: str | None = None,
    limit: int = 30,
    kinds: Sequence[str] | None = None,
) -> tuple[list[TimelineEntry], str | None]:
    return registry.timeline(actor, subject, before=before, limit=limit, kinds=kinds)


def key_figures(actor: Actor, subject: Subject) -> list[KeyFigure]:
    return registry.key_figures(actor, subject)


def panels(request: Any, actor: Actor, subject: Subject) -> list[tuple[str, SafeString]]:
    return registry.render_panels(request, actor, subject)


# --- Contacts' own source: the changes of the record ---------------------------------

_CHANGE_TITLES = {
    "create": _("Created"),
    "archive": _("Archived"),
    "restore": _("Restored"),
    "tags": _("Tags changed"),
    "merged": _("A duplicate was merged into this record"),
    "merged_into": _("Merged into another record"),
    "erase": _("Personal data erased"),
    "address_add": _("Address added"),
    "address_remove": _("Address removed"),
    "affiliation_set": _("Linked to an organization"),
    "affiliation_remove": _("Unlinked from an organization"),
    "consent_record": _("Consent recorded"),
    "contact_point_add": _("Contact detail added"),
    "contact_point_remove": _("Contact detail removed"),
}
# Actions whose changed fields are worth naming ("Changed: email, phone").
_FIELD_ACTIONS = {"update": _("Changed: %(fields)s"), "address_update": _("Address changed: %(fields)s")}
_CHANGE_ACTIONS = {
    ORGANIZATION: ("contacts.organization", "organization_"),
    PERSON: ("contacts.person", "person_"),
}


def _verb(action: str, prefix: str) -> str:
    """``contacts.organization_update`` → ``update``; ``contacts.address_add`` → ``address_add``."""
    verb = action.removeprefix("contacts.")
    return verb.removeprefix(prefix)


def _field_labels(model: Any, changes: Any) -> str:
    """The changed fields by their names in the form — only names, never values."""
    labels = []
    for name in changes if isinstance(changes, dict) else ():
        try:
            field = model._meta.get_field(name.removesuffix("_id"))
        except FieldDoesNotExist:  # a key that is not a field ("address", "created") is not shown
            continue
        if getattr(field, "editable", False):
            labels.append(str(field.verbose_name))
    return ", ".join(labels)


def fetch_changes(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    """Audit entries of the organization or person itself (the page has already checked it is visible)."""
    object_type, prefix = _CHANGE_ACTIONS[subject.kind]
    model = Organization if subject.kind == ORGANIZATION else Person
    rows = AuditEntry.objects.filter(
        company_id=actor.company_id, object_type=object_type, object_id=str(subject.id)
    ).annotate(actor_name=Subquery(User.objects.filter(pk=OuterRef("actor_id")).values("full_name")[:1]))
    if before is not None:
        rows = rows.filter(before.q("at"))
    entries = []
    for row in rows.order_by("-at", "-pk").values("pk", "at", "action", "changes", "actor_label", "actor_name")[:limit]:
        verb = _verb(row["action"], prefix)
        if verb in _FIELD_ACTIONS:
            fields = _field_labels(Address if verb.startswith("address") else model, row["changes"])
            title = str(_FIELD_ACTIONS[verb] % {"fields": fields}) if fields else str(_("Changed"))
        else:
            title = str(_CHANGE_TITLES.get(verb, _("Changed")))
        entries.append(
            TimelineEntry(
                at=row["at"],
                kind="change",
                title=title,
                actor=row["actor_name"] or row["actor_label"],
                key=row["pk"],
            )
        )
    return entries


def register_contacts_sources(target: TimelineRegistry | None = None) -> None:
    (target or registry).register_source("changes", _("Changes"), fetch_changes)

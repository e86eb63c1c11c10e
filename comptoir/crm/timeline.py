"""What the CRM adds to the 360° pages of an organization or a person.

Timeline sources (activities, notes, opportunities), key figures and the notes panel, plugged
into ``contacts.timeline.registry`` from ``CrmConfig.ready`` (contacts never imports the CRM).
Each reads only what the actor may see: the opportunities' record rule, the activities' rule
(assignee too), notes through the row they are attached to. Amounts follow ``can_see_amounts``.

An organization shows what is linked to it directly (its activities, notes and opportunities);
a person, their activities and notes and the opportunities they take part in.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from comptoir.contacts.timeline import ORGANIZATION, Before, KeyFigure, Subject, TimelineEntry, TimelineRegistry
from comptoir.crm import selectors
from comptoir.crm.activities import activity_rule
from comptoir.crm.models import Activity, ActivityKind, Note, Opportunity, OpportunityStatus
from comptoir.kernel.context import Actor
from comptoir.org.models import Company

VIEW = "crm.view_opportunity"
BODY_MAX = 600


def _clip(text: str) -> str:
    text = (text or "").strip()
    return text if len(text) <= BODY_MAX else text[: BODY_MAX - 1] + "…"


def _money(value: Decimal, currency: str) -> str:
    return f"{formats.number_format(value, 2, use_l10n=True, force_grouping=True)} {currency}"


def _cents(raw: Any) -> Decimal:
    return Decimal(int(raw or 0)).scaleb(-2)


def _person_name(full_name: str | None, email: str | None) -> str:
    return full_name or email or ""


# --- Rows the actor may see about the subject -----------------------------------------


def _opportunities(actor: Actor, subject: Subject) -> QuerySet[Opportunity]:
    rows = Opportunity.objects.filter(company_id=actor.company_id).filter(selectors.record_rule(actor))
    if subject.kind == ORGANIZATION:
        return rows.filter(organization_id=subject.id)
    # The people link is many-to-many: a sub-select keeps one row per opportunity.
    linked = Opportunity.people.through.objects.filter(person_id=subject.id).values("opportunity_id")
    return rows.filter(pk__in=linked)


def _activities(actor: Actor, subject: Subject) -> QuerySet[Activity]:
    link = "organization_id" if subject.kind == ORGANIZATION else "person_id"
    return Activity.objects.filter(company_id=actor.company_id, **{link: subject.id}).filter(activity_rule(actor))


def _notes(actor: Actor, subject: Subject) -> QuerySet[Note]:
    # A note is visible when its row is; the page has already checked the subject is visible.
    link = "organization_id" if subject.kind == ORGANIZATION else "person_id"
    return Note.objects.filter(company_id=actor.company_id, **{link: subject.id})


# --- Timeline sources -----------------------------------------------------------------


def fetch_activities(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    """Done activities at the time they were done, planned ones at their due time (maybe ahead)."""
    if not actor.has_perm(VIEW):
        return []
    activities = _activities(actor, subject).annotate(at=Coalesce("done_at", "due_at"))
    if before is not None:
        activities = activities.filter(before.q("at"))
    rows = activities.order_by("-at", "-pk").values(
        "pk", "at", "kind", "subject", "notes", "outcome", "done_at", "due_at",
        "assignee__full_name", "assignee__email",
    )[:limit]  # fmt: skip
    now = timezone.now()
    can_change = actor.has_perm("crm.change_opportunity")
    kinds = dict(ActivityKind.choices)
    entries = []
    for row in rows:
        done = row["done_at"] is not None
        if done:
            badge = _("Done")
        elif row["due_at"] < now:
            badge = _("Overdue")
        else:
            badge = _("Planned")
        entries.append(
            TimelineEntry(
                at=row["at"],
                kind=row["kind"],
                title=f"{kinds.get(row['kind'], row['kind'])}: {row['subject']}",
                url="" if done or not can_change else reverse("crm:activity_edit", args=[row["pk"]]),
                body=_clip(row["outcome"] if done and row["outcome"] else row["notes"]),
                actor=_person_name(row["assignee__full_name"], row["assignee__email"]),
                badge=str(badge),
                key=row["pk"],
            )
        )
    return entries


def fetch_notes(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    if not actor.has_perm(VIEW):
        return []
    notes = _notes(actor, subject)
    if before is not None:
        notes = notes.filter(before.q("created_at"))
    fields = ("pk", "created_at", "body", "author__full_name", "author__email")
    rows = notes.order_by("-created_at", "-pk").values(*fields)[:limit]
    return [
        TimelineEntry(
            at=row["created_at"],
            kind="note",
            title=_("Note"),
            body=_clip(row["body"]),
            actor=_person_name(row["author__full_name"], row["author__email"]),
            key=row["pk"],
        )
        for row in rows
    ]


# An opportunity gives two entries: created (slot 0) and won or lost (slot 1).
_CREATED, _CLOSED, _SLOTS = 0, 1, 2


def fetch_opportunities(actor: Actor, subject: Subject, before: Before | None, limit: int) -> list[TimelineEntry]:
    if not actor.has_perm(VIEW):
        return []
    show_amounts = selectors.can_see_amounts(actor)
    visible = _opportunities(actor, subject)
    fields = ("pk", "title", "status", "amount", "currency", "created_at", "closed_at", "owner__full_name",
              "owner__email", "stage__name", "lost_reason__name")  # fmt: skip
    created = visible
    closed = visible.filter(status__in=[OpportunityStatus.WON, OpportunityStatus.LOST], closed_at__isnull=False)
    if before is not None:
        created = created.filter(before.q("created_at", slot=_CREATED, slots=_SLOTS))
        closed = closed.filter(before.q("closed_at", slot=_CLOSED, slots=_SLOTS))
    entries = []
    for row in created.order_by("-created_at", "-pk").values(*fields)[:limit]:
        entries.append(_opportunity_entry(row, row["created_at"], _CREATED, show_amounts))
    for row in closed.order_by("-closed_at", "-pk").values(*fields)[:limit]:
        entries.append(_opportunity_entry(row, row["closed_at"], _CLOSED, show_amounts))
    return entries


def _opportunity_entry(row: dict[str, Any], at: dt.datetime, slot: int, show_amounts: bool) -> TimelineEntry:
    amount = _money(row["amount"], row["currency"]) if show_amounts else ""
    if slot == _CREATED:
        kind, title, body, badge = "opportunity", _("Opportunity created: %(title)s"), amount, ""
    elif row["status"] == OpportunityStatus.WON:
        kind, title, body, badge = "won", _("Opportunity won: %(title)s"), amount, _("Won")
    else:
        reason = row["lost_reason__name"] or ""
        kind, title, badge = "lost", _("Opportunity lost: %(title)s"), _("Lost")
        body = " — ".join(part for part in (amount, reason) if part)
    return TimelineEntry(
        at=at,
        kind=kind,
        title=title % {"title": row["title"]},
        url=reverse("crm:opportunity", args=[row["pk"]]),
        body=body,
        actor=_person_name(row["owner__full_name"], row["owner__email"]),
        badge=str(badge),
        key=row["pk"] * _SLOTS + slot,
    )


# --- Key figures ----------------------------------------------------------------------


def compute_figures(actor: Actor, subject: Subject) -> list[KeyFigure]:
    """Open and won business, last and next activity, overdue ones: one SQL query each for
    opportunities and activities (plus the company's currency and time zone, and the CRM
    settings when they decide whether amounts show)."""
    if not actor.has_perm(VIEW):
        return []
    show_amounts = selectors.can_see_amounts(actor)
    company = Company.objects.filter(pk=actor.company_id).values("currency", "timezone").first() or {}
    currency = company.get("currency") or "EUR"
    try:
        zone = zoneinfo.ZoneInfo(company.get("timezone") or "Europe/Paris")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("Europe/Paris")
    now = timezone.now()
    year_start = dt.datetime(now.astimezone(zone).year, 1, 1, tzinfo=zone)
    is_open = Q(status=OpportunityStatus.OPEN)
    won = Q(status=OpportunityStatus.WON, closed_at__gte=year_start)
    opps = (
        _opportunities(actor, subject)
        .order_by()
        .aggregate(
            open_count=Count("pk", filter=is_open),
            open_cents=Sum("amount", filter=is_open, output_field=BigIntegerField()),
            weighted=Sum(F("amount") * F("probability"), filter=is_open, output_field=BigIntegerField()),
            won_count=Count("pk", filter=won),
            won_cents=Sum("amount", filter=won, output_field=BigIntegerField()),
        )
    )
    pending = Q(done_at__isnull=True)
    acts = (
        _activities(actor, subject)
        .order_by()
        .aggregate(
            last_done=Max("done_at"),
            next_due=Min("due_at", filter=pending & Q(due_at__gte=now)),
            overdue=Count("pk", filter=pending & Q(due_at__lt=now)),
        )
    )
    count_open, count_won = opps["open_count"], opps["won_count"]
    figures = [KeyFigure(gettext_lazy("Open opportunities"), count_open, code="open", raw=count_open)]
    if show_amounts:
        weighted = Decimal(int(opps["weighted"] or 0)).scaleb(-4).quantize(Decimal("0.01"))
        won_amount = _cents(opps["won_cents"])
        figures.append(
            KeyFigure(gettext_lazy("Weighted pipeline"), _money(weighted, currency), code="weighted", raw=str(weighted))
        )
        figures.append(
            KeyFigure(
                gettext_lazy("Won this year"),
                _money(won_amount, currency),
                code="won",
                tone="success",
                raw=str(won_amount),
            )
        )
    else:
        figures.append(KeyFigure(gettext_lazy("Won this year"), count_won, code="won", tone="success", raw=count_won))
    last, upcoming, overdue = acts["last_done"], acts["next_due"], acts["overdue"]
    figures += [
        KeyFigure(gettext_lazy("Last activity"), _date(last, zone), code="last_activity", raw=_iso(last, zone)),
        KeyFigure(gettext_lazy("Next activity"), _date(upcoming, zone), code="next_activity", raw=_iso(upcoming, zone)),
        KeyFigure(
            gettext_lazy("Overdue activities"), overdue, code="overdue", tone="danger" if overdue else "", raw=overdue
        ),
    ]
    return figures


def _iso(value: dt.datetime | None, zone: dt.tzinfo) -> str | None:
    return value.astimezone(zone).date().isoformat() if value else None


def _date(value: dt.datetime | None, zone: dt.tzinfo) -> str:
    if value is None:
        return "—"
    return formats.date_format(value.astimezone(zone).date(), "SHORT_DATE_FORMAT")


# --- Notes panel ----------------------------------------------------------------------


def render_notes_panel(request: Any, actor: Actor, subject: Subject) -> str:
    if not actor.has_perm(VIEW):
        return ""
    from comptoir.crm.views_notes import notes_panel

    target = "organization_id" if subject.kind == ORGANIZATION else "person_id"
    return notes_panel(request, actor, target, subject.id)


def register(target: TimelineRegistry) -> None:
    target.register_source("activities", gettext_lazy("Activities"), fetch_activities, module="crm")
    target.register_source("notes", gettext_lazy("Notes"), fetch_notes, module="crm")
    target.register_source("opportunities", gettext_lazy("Opportunities"), fetch_opportunities, module="crm")
    target.register_figures("crm", compute_figures, module="crm")
    target.register_panel("notes", 50, render_notes_panel, module="crm")

"""Activities (calls, meetings, emails, tasks): their writes and reads, and the "my day" selector.

Record rules: an actor sees the activities assigned to them, plus those the opportunities' rule
lets them see through owner and team (``crm.view_all_opportunities`` sees every one).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.contacts import selectors as contact_selectors
from comptoir.crm import selectors
from comptoir.crm.models import Activity, ActivityKind
from comptoir.kernel import audit, events
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.org.models import Company, Membership, Team

ACTIVITY_FIELDS = [
    "kind", "subject", "notes", "due_at", "assignee_id", "owner_id", "team_id", "organization_id", "person_id",
    "opportunity_id", "remind_at",
]  # fmt: skip

# What the activity form offers for a reminder: minutes before the due time (None: no reminder).
REMINDER_CHOICES: list[tuple[str, Any]] = [
    ("", _("No reminder")),
    ("0", _("At due time")),
    ("15", _("15 minutes before")),
    ("60", _("1 hour before")),
    ("1440", _("1 day before")),
]


def remind_at_for(due_at: dt.datetime | None, minutes_before: int | None) -> dt.datetime | None:
    """The reminder time ``minutes_before`` the due time (None: no reminder)."""
    if due_at is None or minutes_before is None:
        return None
    return due_at - dt.timedelta(minutes=minutes_before)


def minutes_before(activity: Activity) -> int | None:
    """The form's reminder choice for an existing activity (None when it has no reminder)."""
    if activity.remind_at is None:
        return None
    return max(0, int((activity.due_at - activity.remind_at).total_seconds() // 60))


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


# --- Reads ----------------------------------------------------------------------------


def activity_rule(actor: Actor) -> Q:
    rule = contact_selectors.record_rule(actor, "crm.view_all_opportunities")
    if rule is None:
        return Q()
    return rule | Q(assignee_id=actor.user_id) if actor.user_id is not None else rule


def activity_list(actor: Actor) -> QuerySet[Activity]:
    require(actor, "crm.view_opportunity")
    return (
        Activity.objects.filter(company_id=actor.company_id)
        .filter(activity_rule(actor))
        .select_related("assignee", "owner", "team", "organization", "person", "opportunity")
    )


def activity_get(actor: Actor, activity_id: int) -> Activity:
    found = activity_list(actor).filter(pk=activity_id).first()
    if found is None:
        raise NotFound("activity_not_found")
    return found


def company_zone(actor: Actor) -> zoneinfo.ZoneInfo:
    name = Company.objects.filter(pk=actor.company_id).values_list("timezone", flat=True).first()
    try:
        return zoneinfo.ZoneInfo(name or "Europe/Paris")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Europe/Paris")


@dataclass
class MyDay:
    day: dt.date
    overdue: list[Activity]
    today: list[Activity]
    done: list[Activity] = field(default_factory=list)  # done today


def my_day(actor: Actor, now: dt.datetime | None = None) -> MyDay:
    """The actor's open activities due before today (overdue) and today, and those done today,
    in the company's time zone."""
    zone = company_zone(actor)
    local = (now or timezone.now()).astimezone(zone)
    start = dt.datetime.combine(local.date(), dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    rows = list(
        activity_list(actor)
        .filter(assignee_id=actor.user_id)
        .filter(Q(done_at__isnull=True, due_at__lt=end) | Q(done_at__gte=start, done_at__lt=end))
        .order_by("due_at", "pk")
    )
    to_do = [a for a in rows if a.done_at is None]
    return MyDay(
        day=local.date(),
        overdue=[a for a in to_do if a.due_at < start],
        today=[a for a in to_do if a.due_at >= start],
        done=[a for a in rows if a.done_at is not None],
    )


def manages_a_team(actor: Actor) -> bool:
    managed = Team.objects.filter(company_id=actor.company_id, manager=actor.user_id)
    return actor.user_id is not None and managed.exists()


def can_see_team_day(actor: Actor) -> bool:
    """The "My team" tab: team managers, and those who see every opportunity."""
    return actor.has_perm("crm.view_opportunity") and (
        actor.has_perm("crm.view_all_opportunities") or manages_a_team(actor)
    )


@dataclass
class MemberDay:
    user: Any
    overdue: list[Activity]
    today: list[Activity]


@dataclass
class TeamDay:
    day: dt.date
    members: list[MemberDay]
    truncated: bool


TEAM_DAY_MAX = 500


def team_day(actor: Actor, now: dt.datetime | None = None) -> TeamDay:
    """Open activities due by tonight of the actor's team (the teams they manage; everyone for
    those who see every opportunity), grouped by assignee. The record rules still apply."""
    require(actor, "crm.view_opportunity")
    zone = company_zone(actor)
    local = (now or timezone.now()).astimezone(zone)
    start = dt.datetime.combine(local.date(), dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    managed = Team.objects.filter(company_id=actor.company_id, manager=actor.user_id)
    if managed.exists() or not actor.has_perm("crm.view_all_opportunities"):
        members = Membership.objects.filter(company_id=actor.company_id, user__teams__in=managed.values("pk")).values(
            "user_id"
        )
    else:
        members = Membership.objects.filter(company_id=actor.company_id).values("user_id")
    rows = list(
        activity_list(actor)
        .filter(assignee_id__in=members, done_at__isnull=True, due_at__lt=end)
        .exclude(assignee_id=actor.user_id)
        .order_by("assignee__full_name", "assignee_id", "due_at", "pk")[: TEAM_DAY_MAX + 1]
    )
    grouped: dict[int, MemberDay] = {}
    for activity in rows[:TEAM_DAY_MAX]:
        member = grouped.setdefault(activity.assignee_id or 0, MemberDay(activity.assignee, [], []))
        (member.overdue if activity.due_at < start else member.today).append(activity)
    return TeamDay(day=local.date(), members=list(grouped.values()), truncated=len(rows) > TEAM_DAY_MAX)


PANEL_TARGETS = ("organization_id", "person_id", "opportunity_id")


@dataclass
class Panel:
    open: list[Activity]
    done: list[Activity]
    more_open: bool


def panel_activities(actor: Actor, target: str, value: int, open_max: int = 20, done_max: int = 5) -> Panel:
    """A record's open activities (soonest first) and its last done ones: two queries, whatever
    the number of activities (indexes on company, record, due time)."""
    if target not in PANEL_TARGETS:
        raise ValueError(target)
    rows = activity_list(actor).filter(**{target: value})
    found = list(rows.filter(done_at__isnull=True).order_by("due_at", "pk")[: open_max + 1])
    done = list(rows.filter(done_at__isnull=False).order_by("-done_at", "-pk")[:done_max])
    return Panel(open=found[:open_max], done=done, more_open=len(found) > open_max)


# --- Writes ---------------------------------------------------------------------------


def _text(value: Any, max_length: int, name: str, errors: dict[str, list[str]], required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        _add(errors, name, _("This field is required."))
    elif len(text) > max_length:
        _add(errors, name, _("At most %(n)s characters.") % {"n": max_length})
    return text


def _user_of_company(actor: Actor, user_id: Any) -> bool:
    return Membership.objects.filter(company_id=actor.company_id, user_id=user_id).exists()


def _clean(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name in sorted(set(data) - set(ACTIVITY_FIELDS)):
        _add(errors, name, _("Unknown field."))
    if "kind" in data:
        if data["kind"] not in ActivityKind.values:
            _add(errors, "kind", _("Choose among: %(values)s.") % {"values": ", ".join(ActivityKind.values)})
        cleaned["kind"] = data["kind"]
    if "subject" in data:
        cleaned["subject"] = _text(data["subject"], 200, "subject", errors, required=True)
    if "notes" in data:
        cleaned["notes"] = _text(data["notes"], 10_000, "notes", errors)
    if "due_at" in data:
        due_at = data["due_at"]
        if not isinstance(due_at, dt.datetime):
            _add(errors, "due_at", _("Enter a valid date and time."))
        elif timezone.is_naive(due_at):
            due_at = timezone.make_aware(due_at, company_zone(actor))
        cleaned["due_at"] = due_at
    if "remind_at" in data:
        remind_at = data["remind_at"]
        if remind_at is not None and not isinstance(remind_at, dt.datetime):
            _add(errors, "remind_at", _("Enter a valid date and time."))
        elif remind_at is not None and timezone.is_naive(remind_at):
            remind_at = timezone.make_aware(remind_at, company_zone(actor))
        cleaned["remind_at"] = remind_at
    for name in ("assignee_id", "owner_id"):
        if name in data:
            if data[name] is not None and not _user_of_company(actor, data[name]):
                _add(errors, name, _("Choose a user of the company."))
            cleaned[name] = data[name]
    if "team_id" in data:
        team_id = data["team_id"]
        if team_id is not None and not Team.objects.filter(company_id=actor.company_id, pk=team_id).exists():
            _add(errors, "team_id", _("Choose a team of the company."))
        cleaned["team_id"] = team_id
    links: dict[str, tuple[Callable[[Actor], QuerySet[Any]], Any]] = {
        "organization_id": (contact_selectors.visible_organizations, _("Choose an organization you can see.")),
        "person_id": (contact_selectors.visible_people, _("Choose a person you can see.")),
        "opportunity_id": (selectors.opportunity_list, _("Choose an opportunity you can see.")),
    }
    for name, (visible, message) in links.items():
        if name in data:
            value = data[name]
            if value is not None and not (
                contact_selectors.exists_id(value) and visible(actor).filter(pk=value).exists()
            ):
                _add(errors, name, message)
            cleaned[name] = value
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def _payload(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.pk,
        "kind": activity.kind,
        "subject": activity.subject,
        "assignee_id": activity.assignee_id,
        "opportunity_id": activity.opportunity_id,
        "organization_id": activity.organization_id,
        "person_id": activity.person_id,
        "done_at": activity.done_at.isoformat() if activity.done_at else None,
    }


def _check_still_visible(actor: Actor, activity_id: int) -> None:
    if not activity_list(actor).filter(pk=activity_id).exists():
        message = _("You would no longer see this activity: assign it to yourself, a team member or your team.")
        raise ValidationFailed(fields={"assignee_id": [str(message)]})


def _check_reminder(due_at: Any, remind_at: Any) -> None:
    if isinstance(due_at, dt.datetime) and isinstance(remind_at, dt.datetime) and remind_at > due_at:
        raise ValidationFailed(fields={"remind_at": [str(_("The reminder must come before the due time."))]})


@transaction.atomic
def activity_create(*, actor: Actor, **data: Any) -> Activity:
    require(actor, "crm.change_opportunity")
    cleaned = _clean(actor, {"subject": "", "due_at": None, **data})
    _check_reminder(cleaned["due_at"], cleaned.get("remind_at"))
    cleaned.setdefault("assignee_id", actor.user_id)
    cleaned.setdefault("owner_id", actor.user_id)
    activity = Activity.objects.create(company_id=actor.company_id, **cleaned)  # type: ignore[misc]
    _check_still_visible(actor, activity.pk)
    audit.record(actor, "activity.create", activity, changes=audit.diff({}, cleaned))
    events.publish("crm.activity_created", company_id=actor.company_id, payload=_payload(activity))
    return activity


def _locked(actor: Actor, activity_id: int) -> Activity:
    """Lock the activity if the actor sees it (404 otherwise), then require the change right."""
    visible = activity_list(actor).filter(pk=activity_id).values("pk")
    activity = Activity.objects.select_for_update().filter(pk__in=visible).first()
    if activity is None:
        raise NotFound("activity_not_found")
    require(actor, "crm.change_opportunity")
    return activity


@transaction.atomic
def activity_update(*, actor: Actor, activity_id: int, **data: Any) -> Activity:
    activity = _locked(actor, activity_id)
    if activity.done_at is not None:
        raise Conflict("activity_done", _("Reopen the activity before changing it."))
    cleaned = _clean(actor, data)
    if "due_at" in cleaned and "remind_at" not in cleaned and activity.remind_at is not None:
        # Moving the due time moves the reminder with it ("15 minutes before" stays so).
        cleaned["remind_at"] = cleaned["due_at"] - (activity.due_at - activity.remind_at)
    _check_reminder(cleaned.get("due_at", activity.due_at), cleaned.get("remind_at", activity.remind_at))
    before = audit.snapshot(activity, list(cleaned))
    rearm = any(name in cleaned and cleaned[name] != getattr(activity, name) for name in ("due_at", "remind_at"))
    for name, value in cleaned.items():
        setattr(activity, name, value)
    if rearm:
        activity.reminded_at = None  # a new time: the reminder will be sent again
    activity.save()
    if {"assignee_id", "owner_id", "team_id"} & set(cleaned):
        _check_still_visible(actor, activity.pk)
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor, "activity.update", activity, changes=changes)
    return activity


@transaction.atomic
def activity_complete(*, actor: Actor, activity_id: int, outcome: str = "") -> Activity:
    activity = _locked(actor, activity_id)
    if activity.done_at is not None:
        raise Conflict("activity_done", _("This activity is already done."))
    errors: dict[str, list[str]] = {}
    activity.outcome = _text(outcome, 10_000, "outcome", errors)
    if errors:
        raise ValidationFailed(fields=errors)
    activity.done_at = timezone.now()
    activity.save(update_fields=["done_at", "outcome", "updated_at"])
    audit.record(actor, "activity.complete", activity, changes={"done_at": [None, activity.done_at.isoformat()]})
    events.publish("crm.activity_completed", company_id=actor.company_id, payload=_payload(activity))
    return activity


@transaction.atomic
def activity_reopen(*, actor: Actor, activity_id: int) -> Activity:
    activity = _locked(actor, activity_id)
    if activity.done_at is None:
        raise Conflict("activity_not_done", _("This activity is not done."))
    old = activity.done_at.isoformat()
    activity.done_at = None
    activity.save(update_fields=["done_at", "updated_at"])
    audit.record(actor, "activity.reopen", activity, changes={"done_at": [old, None]})
    events.publish("crm.activity_reopened", company_id=actor.company_id, payload=_payload(activity))
    return activity

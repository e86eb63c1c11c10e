"""Follow-up rules: their writes (settings, ``crm.manage_pipelines``) and the hourly run.

``run_followup_rules`` looks at open opportunities:

- ``no_activity``: no open activity and nothing done for ``days`` days (counting from the last
  done activity, or the opportunity's creation) → a task for the owner, linked to the
  opportunity and its organization. The task being open, the rule stays quiet until it is done.
- ``stale_stage``: in ``stage`` for more than ``days`` days → a notification and an email to
  the managers of the owner's teams (fallback: users who manage pipelines).

Each firing inserts a ``FollowUpFiring`` keyed by the episode (the last-activity or
in-stage-since timestamp). Its unique constraint is the idempotency guard: a re-run, or a
second worker running at the same time (it waits on the first's uncommitted row, then gets
``IntegrityError``), does not fire again; a new episode fires again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from comptoir.crm import activities
from comptoir.crm.models import (
    Activity,
    ActivityKind,
    FollowUpFiring,
    FollowUpKind,
    FollowUpRule,
    Opportunity,
    OpportunityStatus,
    Pipeline,
    Stage,
    StageKind,
)
from comptoir.crm.reminders import absolute
from comptoir.kernel import audit, events, notifications
from comptoir.kernel.authz import ROLES, registry, require
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.models import OutboxEvent
from comptoir.org.models import Membership, Team, User

logger = logging.getLogger(__name__)

RULE_FIELDS = ["name", "kind", "days", "pipeline_id", "stage_id", "is_active"]
MAX_DAYS = 3650
ALERT_EVENT = "crm.followup_alert"


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


# --- Reads ----------------------------------------------------------------------------


def rule_list(actor: Actor) -> QuerySet[FollowUpRule]:
    require(actor, "crm.manage_pipelines")
    return FollowUpRule.objects.filter(company_id=actor.company_id).select_related("pipeline", "stage")


def rule_get(actor: Actor, rule_id: int) -> FollowUpRule:
    found = rule_list(actor).filter(pk=rule_id).first()
    if found is None:
        raise NotFound("followup_rule_not_found")
    return found


# --- Writes ---------------------------------------------------------------------------


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _clean(actor: Actor, data: dict[str, Any], rule: FollowUpRule | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name in sorted(set(data) - set(RULE_FIELDS)):
        _add(errors, name, _("Unknown field."))
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name:
            _add(errors, "name", _("This field is required."))
        elif len(name) > 100:
            _add(errors, "name", _("At most 100 characters."))
        elif (
            FollowUpRule.objects.filter(company_id=actor.company_id, name=name)
            .exclude(pk=getattr(rule, "pk", None))
            .exists()
        ):
            _add(errors, "name", _("Another follow-up rule already has this name."))
        cleaned["name"] = name
    if "kind" in data:
        if data["kind"] not in FollowUpKind.values:
            _add(errors, "kind", _("Choose among: %(values)s.") % {"values": ", ".join(FollowUpKind.values)})
        cleaned["kind"] = data["kind"]
    if "days" in data:
        days = data["days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
            _add(errors, "days", _("Enter a whole number of days between 1 and %(max)s.") % {"max": MAX_DAYS})
        cleaned["days"] = days
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            _add(errors, "is_active", _("Enter true or false."))
        cleaned["is_active"] = data["is_active"]
    pipeline: Pipeline | None = getattr(rule, "pipeline", None)
    if "pipeline_id" in data:
        pipeline = None
        if data["pipeline_id"] is not None:
            pipeline = (
                Pipeline.objects.filter(company_id=actor.company_id, pk=data["pipeline_id"]).first()
                if _is_id(data["pipeline_id"])
                else None
            )
            if pipeline is None:
                _add(errors, "pipeline_id", _("Choose a pipeline of the company."))
        cleaned["pipeline_id"] = data["pipeline_id"]
    stage: Stage | None = getattr(rule, "stage", None)
    if "stage_id" in data:
        stage = None
        if data["stage_id"] is not None:
            stage = (
                Stage.objects.filter(pipeline__company_id=actor.company_id, pk=data["stage_id"]).first()
                if _is_id(data["stage_id"])
                else None
            )
            if stage is None:
                _add(errors, "stage_id", _("Choose a stage of the company."))
            elif stage.kind != StageKind.OPEN:
                _add(errors, "stage_id", _("Choose a stage in progress (not won or lost)."))
        cleaned["stage_id"] = data["stage_id"]
    kind = cleaned.get("kind", getattr(rule, "kind", None))
    if kind == FollowUpKind.STALE_STAGE and stage is None and "stage_id" not in errors:
        _add(errors, "stage_id", _("Choose the stage this rule watches."))
    if stage is not None and pipeline is not None and stage.pipeline_id != pipeline.pk and "stage_id" not in errors:
        _add(errors, "stage_id", _("Choose a stage of the chosen pipeline."))
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def rule_create(*, actor: Actor, **data: Any) -> FollowUpRule:
    require(actor, "crm.manage_pipelines")
    cleaned = _clean(actor, {"name": "", "kind": None, "days": None, **data})
    rule = FollowUpRule.objects.create(company_id=actor.company_id, **cleaned)
    audit.record(actor, "followup_rule.create", rule, changes=audit.diff({}, cleaned))
    return rule


def _locked(actor: Actor, rule_id: int) -> FollowUpRule:
    require(actor, "crm.manage_pipelines")
    rule = (
        FollowUpRule.objects.select_for_update(of=("self",))
        .select_related("pipeline", "stage")
        .filter(company_id=actor.company_id, pk=rule_id)
        .first()
    )
    if rule is None:
        raise NotFound("followup_rule_not_found")
    return rule


@transaction.atomic
def rule_update(*, actor: Actor, rule_id: int, **data: Any) -> FollowUpRule:
    rule = _locked(actor, rule_id)
    cleaned = _clean(actor, data, rule)
    before = audit.snapshot(rule, list(cleaned))
    for name, value in cleaned.items():
        setattr(rule, name, value)
    rule.save()
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor, "followup_rule.update", rule, changes=changes)
    return rule


@transaction.atomic
def rule_delete(*, actor: Actor, rule_id: int) -> None:
    rule = _locked(actor, rule_id)
    audit.record(actor, "followup_rule.delete", rule, changes={"name": [rule.name, None]})
    rule.delete()


# --- The run --------------------------------------------------------------------------


@dataclass
class RunReport:
    rules: int = 0
    tasks: int = 0
    alerts: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rules": self.rules, "tasks": self.tasks, "alerts": self.alerts, "errors": self.errors}


def _key(moment: dt.datetime) -> str:
    # To the microsecond: a task done within the second of the previous episode's start is
    # still a new episode.
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _candidates(rule: FollowUpRule, now: dt.datetime) -> list[tuple[Opportunity, str]]:
    """The opportunities the rule applies to now, each with the key of its current episode."""
    opps = Opportunity.objects.filter(
        company_id=rule.company_id, status=OpportunityStatus.OPEN, owner__isnull=False
    ).select_related("owner", "team", "organization")
    if rule.pipeline_id is not None:
        opps = opps.filter(pipeline_id=rule.pipeline_id)
    if rule.stage_id is not None:
        opps = opps.filter(stage_id=rule.stage_id)
    limit = now - dt.timedelta(days=rule.days)
    if rule.kind == FollowUpKind.STALE_STAGE:
        rows = opps.filter(stage_changed_at__lte=limit).order_by("pk")
        return [(opp, _key(opp.stage_changed_at)) for opp in rows]
    last_done = (
        Activity.objects.filter(opportunity_id=OuterRef("pk"), done_at__isnull=False)
        .order_by("-done_at")
        .values("done_at")[:1]
    )
    open_activity = Activity.objects.filter(opportunity_id=OuterRef("pk"), done_at__isnull=True)
    rows = (
        opps.exclude(Exists(open_activity))
        .annotate(last_activity=Coalesce(Subquery(last_done), "created_at"))
        .filter(last_activity__lte=limit)
        .order_by("pk")
    )
    return [(opp, _key(opp.last_activity)) for opp in rows]


def _fire(rule: FollowUpRule, opp: Opportunity, key: str, now: dt.datetime, report: RunReport) -> None:
    """Fire once for this episode: the firing row and its effect commit together, or neither."""
    with transaction.atomic():
        _firing, created = FollowUpFiring.objects.get_or_create(rule=rule, opportunity=opp, key=key)
        if not created:
            return  # fired before, or by a concurrent run
        system = Actor.system(rule.company_id, Channel.TASK)
        if rule.kind == FollowUpKind.NO_ACTIVITY:
            _task_for_owner(system, rule, opp, now)
            report.tasks += 1
        else:
            _alert_managers(system, rule, opp)
            report.alerts += 1
        audit.record(system, "followup_rule.fire", opp, changes={"rule": [None, rule.name], "key": [None, key]})


def _task_for_owner(system: Actor, rule: FollowUpRule, opp: Opportunity, now: dt.datetime) -> Activity:
    owner = opp.owner
    assert owner is not None  # candidates have an owner
    with translation.override(owner.language):
        subject = gettext("Follow up: %(title)s") % {"title": opp.title}
        notes = gettext("Created by the follow-up rule “%(rule)s”: no activity for %(days)s days.") % {
            "rule": rule.name,
            "days": rule.days,
        }
    return activities.activity_create(
        actor=system, kind=ActivityKind.TASK, subject=subject[:200], notes=notes, due_at=now,
        assignee_id=owner.pk, owner_id=owner.pk, team_id=opp.team_id, opportunity_id=opp.pk,
        organization_id=opp.organization_id,
    )  # fmt: skip


def manager_ids(company_id: int, opp: Opportunity) -> list[int]:
    """Who hears about a stale opportunity: its team's manager and the managers of its owner's
    teams; without any, the users who manage pipelines."""
    teams = Team.objects.filter(company_id=company_id, manager__isnull=False, manager__is_active=True)
    ids = set(
        teams.filter(Q(members=opp.owner_id) | Q(pk=opp.team_id)).exclude(manager=opp.owner_id)
        .values_list("manager_id", flat=True)
    )  # fmt: skip
    if ids:
        return sorted(ids)
    roles = [role for role in [*ROLES, "admin"] if "crm.manage_pipelines" in registry.permissions_for([role])]
    return sorted(
        set(
            Membership.objects.filter(company_id=company_id, role__in=roles, user__is_active=True).values_list(
                "user_id", flat=True
            )
        )
    )


def _alert_message(rule: FollowUpRule, opp: Opportunity) -> str:
    return gettext("“%(title)s” has been in stage “%(stage)s” for more than %(days)s days (owner: %(owner)s).") % {
        "title": opp.title,
        "stage": rule.stage.name if rule.stage else "",
        "days": rule.days,
        "owner": opp.owner.full_name if opp.owner else "",
    }


def _alert_managers(system: Actor, rule: FollowUpRule, opp: Opportunity) -> None:
    recipients = list(User.objects.filter(pk__in=manager_ids(rule.company_id, opp)).only("pk", "language"))
    url = f"/crm/opportunities/{opp.pk}/"
    for language in sorted({user.language for user in recipients}):
        with translation.override(language):
            message = _alert_message(rule, opp)
        notifications.notify(
            company_id=rule.company_id,
            user_ids=[user.pk for user in recipients if user.language == language],
            message=message,
            url=url,
        )
    if recipients:
        events.publish(
            ALERT_EVENT,
            company_id=rule.company_id,
            payload={"rule_id": rule.pk, "opportunity_id": opp.pk, "user_ids": [u.pk for u in recipients]},
        )


def email_alert(event: OutboxEvent) -> None:
    """Outbox subscriber: the stale-opportunity email, to each manager in their language."""
    rule = FollowUpRule.objects.select_related("stage").filter(pk=event.payload["rule_id"]).first()
    opp = Opportunity.objects.select_related("owner").filter(pk=event.payload["opportunity_id"]).first()
    if rule is None or opp is None:
        return
    for user in User.objects.filter(pk__in=event.payload["user_ids"], is_active=True).order_by("pk"):
        with translation.override(user.language):
            subject = gettext("Opportunity to follow up: %(title)s") % {"title": opp.title}
            body = "\n\n".join(
                [
                    _alert_message(rule, opp),
                    gettext("Open it: %(url)s") % {"url": absolute(f"/crm/opportunities/{opp.pk}/")},
                ]
            )
        EmailMessage(subject=subject, body=body, to=[user.email]).send()


def run_followup_rules(company_id: int | None = None, now: dt.datetime | None = None) -> RunReport:
    """Apply every active rule (of one company, or all); safe to re-run and to run concurrently."""
    now = now or timezone.now()
    report = RunReport()
    rules = FollowUpRule.objects.filter(is_active=True).select_related("stage").order_by("company_id", "pk")
    if company_id is not None:
        rules = rules.filter(company_id=company_id)
    for rule in rules:
        report.rules += 1
        candidates = _candidates(rule, now)
        fired = set(
            FollowUpFiring.objects.filter(rule=rule, opportunity_id__in=[o.pk for o, _k in candidates]).values_list(
                "opportunity_id", "key"
            )
        )
        for opp, key in candidates:
            if (opp.pk, key) in fired:
                continue
            try:
                _fire(rule, opp, key, now, report)
            except ValidationFailed as exc:  # e.g. the owner left the company: skip, report, go on
                logger.warning("follow-up rule %s on opportunity %s: %s", rule.pk, opp.pk, exc)
                report.errors.append(f"rule {rule.pk} opportunity {opp.pk}: {exc}")
    return report


@transaction.atomic
def run_now(*, actor: Actor) -> RunReport:
    """The management's "run now" button / API: the actor's company only."""
    require(actor, "crm.manage_pipelines")
    audit.record(actor, "followup_rule.run", object_type="crm.followuprule")
    return run_followup_rules(company_id=actor.company_id)

"""Pipelines and their stages, leads, opportunities, lost reasons and CRM settings.

Every row belongs to a company. Amounts are ``MoneyField`` (integer minor units), so the
kanban's per-stage totals are exact SQL sums on both databases.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from comptoir.contacts.models import Organization, Person
from comptoir.kernel.models import ComptoirManager, ComptoirModel
from comptoir.kernel.money import MoneyField
from comptoir.org.models import Company, Team


class CrmSettings(ComptoirModel):
    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="+")
    hide_amounts_from_marketing = models.BooleanField(
        _("hide amounts from marketing"),
        default=False,
        help_text=_("Marketing users see opportunities without their amounts."),
    )

    class Meta:
        verbose_name = _("CRM settings")

    def __str__(self) -> str:
        return f"CRM settings ({self.company_id})"


class Pipeline(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["-is_default", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="crm_pipeline_unique_name"),
            models.UniqueConstraint(
                fields=["company"], condition=models.Q(is_default=True), name="crm_pipeline_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StageKind(models.TextChoices):
    OPEN = "open", _("In progress")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class Stage(ComptoirModel):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("name"), max_length=100)
    sequence = models.PositiveIntegerField(_("sequence"), default=10)
    probability = models.PositiveSmallIntegerField(_("probability (%)"), default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=StageKind.choices, default=StageKind.OPEN)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "sequence", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="crm_stage_unique_name"),
            models.CheckConstraint(condition=models.Q(probability__lte=100), name="crm_stage_probability_max"),
        ]

    def __str__(self) -> str:
        return self.name


class LostReason(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("lost reason")
        verbose_name_plural = _("lost reasons")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="crm_lost_reason_unique_name")]

    def __str__(self) -> str:
        return self.name


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    QUALIFIED = "qualified", _("Qualified")
    DISCARDED = "discarded", _("Discarded")


class OpportunityStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("opportunity status", "Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class Owned(ComptoirModel):
    """Ownership shared by leads and opportunities (the record rules key on owner and team)."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("owner"),
    )  # fmt: skip
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("team")
    )
    source = models.CharField(_("source"), max_length=100, blank=True)
    # Folded (accent- and case-insensitive) text the row is searched by; services keep it up to date.
    search_text = models.CharField(max_length=1000, blank=True, editable=False)

    class Meta:
        abstract = True


class Opportunity(Owned):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities")
    title = models.CharField(_("title"), max_length=200)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("organization"),
    )  # fmt: skip
    people = models.ManyToManyField(Person, blank=True, related_name="+", verbose_name=_("people"))
    amount = MoneyField(_("amount"), default=0)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    probability = models.PositiveSmallIntegerField(_("probability (%)"), default=0)
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=OpportunityStatus.choices, default=OpportunityStatus.OPEN
    )
    closed_at = models.DateTimeField(_("won or lost at"), null=True, blank=True)
    lost_reason = models.ForeignKey(
        LostReason, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("lost reason")
    )
    lost_note = models.TextField(_("lost note"), blank=True)
    stage_changed_at = models.DateTimeField(_("in stage since"))

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["company", "pipeline", "status", "stage"], name="crm_opp_board"),
            models.Index(fields=["company", "owner"], name="crm_opp_company_owner"),
            # The list, newest first or open by close date; the trailing columns let the record
            # rule and the total be checked from the index alone (50,000 rows).
            models.Index(
                fields=["company", "created_at", "id", "owner", "team", "status"], name="crm_opp_list_created"
            ),
            models.Index(
                fields=["company", "status", "expected_close_date", "id", "owner", "team"], name="crm_opp_list_close"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(probability__lte=100), name="crm_opp_probability_max"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="crm_opp_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.title


class Lead(Owned):
    title = models.CharField(_("title"), max_length=200)
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("organization"),
    )  # fmt: skip
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("person")
    )
    # Free contact details for a lead not yet linked to contacts (created on qualification).
    organization_name = models.CharField(_("organization name"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact name"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=LeadStatus.choices, default=LeadStatus.NEW)
    discard_reason = models.CharField(_("discard reason"), max_length=200, blank=True)
    opportunity = models.OneToOneField(
        Opportunity, on_delete=models.SET_NULL, null=True, blank=True, related_name="lead",
        verbose_name=_("opportunity"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["company", "status"], name="crm_lead_company_status")]

    def __str__(self) -> str:
        return self.title


class ActivityKind(models.TextChoices):
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    EMAIL = "email", _("Email")
    TASK = "task", _("Task")


class Activity(ComptoirModel):
    """A call, meeting, email or task to do, linked to contacts or an opportunity (or to nothing: personal)."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=ActivityKind.choices, default=ActivityKind.TASK)
    subject = models.CharField(_("subject"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    due_at = models.DateTimeField(_("due at"))
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("assignee"),
    )  # fmt: skip
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("owner"),
    )  # fmt: skip
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("team")
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        verbose_name=_("organization"),
    )  # fmt: skip
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("person")
    )
    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, null=True, blank=True, related_name="activities",
        verbose_name=_("opportunity"),
    )  # fmt: skip
    # When to remind the assignee (null: no reminder); ``reminded_at`` marks it sent, so it is sent
    # once. Changing ``due_at`` or ``remind_at`` clears ``reminded_at``: the reminder is re-armed.
    remind_at = models.DateTimeField(_("remind at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["company", "assignee", "done_at", "due_at"], name="crm_activity_my_day"),
            # The activity list by due date, all or to do (500,000 rows): rule columns trail. To do
            # is a partial index: "done_at IS NULL" does not let an index on it give due_at order.
            models.Index(fields=["company", "due_at", "id", "owner", "team", "assignee"], name="crm_activity_due"),
            models.Index(
                fields=["company", "due_at", "id", "owner", "team", "assignee"],
                condition=models.Q(done_at__isnull=True),
                name="crm_activity_todo",
            ),
            # The page total under a salesperson's record rule (owner, team or assignee): counted
            # from this narrow, deduplicated index instead of the table (500,000 rows).
            models.Index(fields=["company", "owner", "team", "assignee"], name="crm_activity_rule"),
            # Activity panels of the 360° pages (500k activities): one index range per record.
            models.Index(fields=["company", "organization", "due_at"], name="crm_activity_organization"),
            models.Index(fields=["company", "person", "due_at"], name="crm_activity_person"),
            models.Index(fields=["company", "opportunity", "due_at"], name="crm_activity_opportunity"),
            # The reminder sweep reads only the few armed, unsent reminders.
            models.Index(
                fields=["remind_at"],
                condition=models.Q(remind_at__isnull=False, reminded_at__isnull=True, done_at__isnull=True),
                name="crm_activity_reminder_due",
            ),
        ]

    def __str__(self) -> str:
        return self.subject


class Note(ComptoirModel):
    """A free-text note on an organization, a person or an opportunity; ``@mentions`` notify colleagues."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("author"),
    )  # fmt: skip
    body = models.TextField(_("text"))
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        verbose_name=_("organization"),
    )  # fmt: skip
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("person")
    )
    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, null=True, blank=True, related_name="notes",
        verbose_name=_("opportunity"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["company", "opportunity", "-created_at"], name="crm_note_opportunity"),
            models.Index(fields=["company", "organization", "-created_at"], name="crm_note_organization"),
            models.Index(fields=["company", "person", "-created_at"], name="crm_note_person"),
        ]

    def __str__(self) -> str:
        return self.body[:60]


class FollowUpKind(models.TextChoices):
    NO_ACTIVITY = "no_activity", _("Open opportunity without activity → task for its owner")
    STALE_STAGE = "stale_stage", _("Open opportunity stuck in a stage → alert to the manager")


class FollowUpRule(ComptoirModel):
    """A rule the hourly follow-up run applies to open opportunities.

    ``no_activity``: no open activity and none done for ``days`` days → a task for the owner.
    ``stale_stage``: in ``stage`` for more than ``days`` days → the owner's team manager is alerted.
    """

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=FollowUpKind.choices)
    days = models.PositiveIntegerField(_("days"))
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("pipeline"),
        help_text=_("Leave empty to apply the rule to every pipeline."),
    )  # fmt: skip
    stage = models.ForeignKey(
        Stage, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("stage")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("follow-up rule")
        verbose_name_plural = _("follow-up rules")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="crm_followup_rule_unique_name"),
            models.CheckConstraint(condition=models.Q(days__gte=1), name="crm_followup_rule_days_positive"),
            models.CheckConstraint(
                condition=~models.Q(kind="stale_stage") | models.Q(stage__isnull=False),
                name="crm_followup_rule_stale_needs_stage",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FollowUpFiring(models.Model):
    """A rule fired for an opportunity. ``key`` names the episode (the last-activity or
    in-stage-since timestamp it fired for): the unique constraint makes re-runs and concurrent
    runs fire once per episode, while a new episode (new activity, new stage) may fire again."""

    rule = models.ForeignKey(FollowUpRule, on_delete=models.CASCADE, related_name="firings")
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    fired_at = models.DateTimeField(auto_now_add=True)

    objects = ComptoirManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "opportunity", "key"], name="crm_followup_firing_once"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.opportunity_id}/{self.key}"

"""Kernel tables: document sequences, audit trail, event outbox.

Kernel sits below every app, so it refers to companies by ``company_id`` only (no foreign
key into ``org``): audit entries and events must also survive whatever they describe.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.fetch_modes import FETCH_ONE, FETCH_PEERS, FETCH_RAISE
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.context import Channel

_FETCH_MODES = {"raise": FETCH_RAISE, "peers": FETCH_PEERS, "one": FETCH_ONE}


def project_fetch_mode() -> Any:
    """What a lazy load of a deferred field or relation does: raise in tests (an N+1 found), fetch the
    peers in production."""
    return _FETCH_MODES[getattr(settings, "COMPTOIR_FETCH_MODE", "peers")]


class ComptoirQuerySet(models.QuerySet):
    """QuerySet applying the project's fetch mode: N+1 lazy loads raise in tests."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fetch_mode = project_fetch_mode()

    def select_for_update(self, nowait: bool = False, skip_locked: bool = False, of: Any = (),
                          no_key: bool = True) -> Any:  # fmt: skip
        """Row locks default to ``FOR NO KEY UPDATE`` on PostgreSQL (SQLite has no row locks).

        Our locks serialise business operations (a partner's matchings, an invoice's
        allocations, a counter); they never change a key. A plain ``FOR UPDATE`` also blocks
        the foreign-key checks (``FOR KEY SHARE``) that PostgreSQL runs at COMMIT for every
        row inserted pointing to the locked one — Django's foreign keys are deferred — so a
        transaction holding it and waiting for another one's lock deadlocked with that one's
        commit (the parallel order-to-cash bench: an invoice posting committing journal lines
        of a partner account a payment had locked). Pass ``no_key=False`` to delete the row or
        change its key.
        """
        return super().select_for_update(nowait=nowait, skip_locked=skip_locked, of=of, no_key=no_key)


class ComptoirManager(models.Manager.from_queryset(ComptoirQuerySet)):  # type: ignore[misc]
    pass


class ComptoirModel(models.Model):
    """Base for Comptoir tables: the fetch-mode manager and created/updated stamps."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ComptoirManager()

    class Meta:
        abstract = True


class DocumentSequence(models.Model):
    """One counter per (company, kind, year). Locked while a number is issued."""

    company_id = models.BigIntegerField()
    kind = models.CharField(max_length=40)
    # 0 for sequences that do not restart every year.
    year = models.PositiveIntegerField(default=0)
    format = models.CharField(max_length=80, default="{prefix}-{year}-{n:05}")
    prefix = models.CharField(max_length=20, default="")
    next_value = models.PositiveBigIntegerField(default=1)

    objects = ComptoirManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company_id", "kind", "year"], name="kernel_sequence_unique"),
            models.CheckConstraint(condition=models.Q(next_value__gte=1), name="kernel_sequence_next_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.year or '-'} (company {self.company_id}) next={self.next_value}"


class IssuedNumber(models.Model):
    """Every number handed out, with the document it went to: proves there is no gap."""

    sequence = models.ForeignKey(DocumentSequence, on_delete=models.PROTECT, related_name="issued")
    value = models.PositiveBigIntegerField()
    number = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    issued_at = models.DateTimeField(auto_now_add=True)

    objects = ComptoirManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sequence", "value"], name="kernel_issued_unique_value"),
            models.UniqueConstraint(fields=["sequence", "number"], name="kernel_issued_unique_number"),
        ]

    def __str__(self) -> str:
        return self.number


class AuditEntry(models.Model):
    """Who did what, when, through which channel, with the field changes."""

    company_id = models.BigIntegerField(null=True, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(null=True, db_index=True)
    actor_label = models.CharField(max_length=254)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    # SHA-256 keyed digest of the fields above; the integrity check recomputes it.
    digest = models.CharField(max_length=64)

    objects = ComptoirManager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["company_id", "-at"], name="kernel_audit_company_at"),
            models.Index(fields=["object_type", "object_id"], name="kernel_audit_object"),
        ]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}#{self.object_id}"


class OutboxEvent(models.Model):
    """A domain event, written in the transaction of the change it announces."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    company_id = models.BigIntegerField(null=True)
    name = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    objects = ComptoirManager()

    class Meta:
        indexes = [models.Index(fields=["status", "id"], name="kernel_outbox_status")]

    def __str__(self) -> str:
        return f"{self.name}#{self.pk} ({self.status})"


class SubscriberRun(models.Model):
    """A subscriber that handled an event; its uniqueness makes delivery idempotent."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="runs")
    subscriber = models.CharField(max_length=200)
    done_at = models.DateTimeField(auto_now_add=True)

    objects = ComptoirManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="kernel_subscriber_run_once"),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} on event {self.event_id}"


class ModuleActivation(models.Model):
    """A module switched on for a company (absent row = off)."""

    company_id = models.BigIntegerField()
    module = models.CharField(max_length=40)
    enabled = models.BooleanField(default=True)
    changed_at = models.DateTimeField(auto_now=True)

    objects = ComptoirManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company_id", "module"], name="kernel_module_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.module} for company {self.company_id}: {'on' if self.enabled else 'off'}"


class SavedView(ComptoirModel):
    """A named list view (filters, sort, columns as a query string) a user keeps for later."""

    company_id = models.BigIntegerField()
    user_id = models.BigIntegerField()
    # Which list it belongs to, e.g. "contacts.organizations".
    list_key = models.CharField(max_length=60)
    name = models.CharField(_("name"), max_length=100)
    query = models.CharField(_("query"), max_length=2000, blank=True)
    shared = models.BooleanField(_("shared with the company"), default=False)

    class Meta:
        verbose_name = _("saved view")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["company_id", "user_id", "list_key", "name"], name="kernel_savedview_unique"
            ),
        ]
        indexes = [models.Index(fields=["company_id", "list_key"], name="kernel_savedview_list")]

    def __str__(self) -> str:
        return self.name


class ImportJob(ComptoirModel):
    """A file import: mapping, dry-run report, progress, outcome. The file is kept until done."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        VALIDATING = "validating", _("Checking")
        VALIDATED = "validated", _("Checked")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    company_id = models.BigIntegerField(db_index=True)
    user_id = models.BigIntegerField()
    # What is imported, e.g. "contacts.person".
    kind = models.CharField(max_length=60)
    filename = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    # [{"row": 12, "field": "siret", "message": "..."}], capped by the importer.
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.filename} ({self.status})"


class ImportPreset(ComptoirModel):
    """A saved column mapping for an import kind (e.g. "our CRM export")."""

    company_id = models.BigIntegerField()
    kind = models.CharField(max_length=60)
    name = models.CharField(_("name"), max_length=100)
    mapping = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("import preset")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["company_id", "kind", "name"], name="kernel_importpreset_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """A message for one user of one company (a mention, ...), unread until they mark it read."""

    company_id = models.BigIntegerField()
    user_id = models.BigIntegerField()
    message = models.CharField(_("message"), max_length=300)
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = ComptoirManager()

    class Meta:
        verbose_name = _("notification")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user_id", "company_id", "read_at"], name="kernel_notification_unread")]

    def __str__(self) -> str:
        return self.message

"""Organizations and people the company deals with, their addresses, tags and consents.

Every row belongs to a company. ``search_text`` holds the folded (accent- and
case-insensitive) text a row is searched by; services keep it up to date. A merged row is
kept with ``merged_into`` set, so old links and the audit trail still resolve.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from comptoir.kernel.models import ComptoirManager, ComptoirModel
from comptoir.org.models import Company, Team


class LifecycleStage(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    LEAD = "lead", _("Lead")
    CUSTOMER = "customer", _("Customer")
    FORMER_CUSTOMER = "former_customer", _("Former customer")
    SUPPLIER = "supplier", _("Supplier")
    PARTNER = "partner", _("Partner")


class CompanySize(models.TextChoices):
    MICRO = "micro", _("Micro (fewer than 10)")
    SMALL = "small", _("Small (10–49)")
    MEDIUM = "medium", _("Medium (50–249)")
    INTERMEDIATE = "intermediate", _("Intermediate (250–4,999)")
    LARGE = "large", _("Large (5,000 or more)")


class Tag(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    color = models.CharField(_("colour"), max_length=7, default="#6c757d")

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="contacts_tag_unique_name")]

    def __str__(self) -> str:
        return self.name


# Trailing columns of the list indexes (not INCLUDE: SQLite has none): the record rule and
# the list's filters are checked, and the total counted, from the index alone, without
# reading the table for the 100,000 rows a count or a deep page walks.
LIST_INDEX_TAIL = ["owner", "team", "is_archived", "merged_into", "lifecycle_stage"]


class Party(ComptoirModel):
    """What organizations and people share: ownership, lifecycle, tags, do-not-contact."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("owner"),
    )  # fmt: skip
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("team")
    )
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.PROSPECT
    )
    do_not_contact = models.BooleanField(_("do not contact"), default=False)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, help_text=_("E.164, e.g. +33142720000"))
    # Identifier in the system the row was imported from: re-importing updates, never duplicates.
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    # Searched with LIKE '%word%'; on PostgreSQL a trigram index serves it (migration 0003).
    search_text = models.CharField(max_length=1000, blank=True, editable=False)
    is_archived = models.BooleanField(_("archived"), default=False)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        abstract = True


class Organization(Party):
    legal_name = models.CharField(_("legal name"), max_length=200)
    trade_name = models.CharField(_("trade name"), max_length=200, blank=True)
    siren = models.CharField(_("SIREN"), max_length=9, blank=True)
    siret = models.CharField(_("SIRET"), max_length=14, blank=True)
    vat_number = models.CharField(_("intra-EU VAT number"), max_length=20, blank=True)
    naf_code = models.CharField(_("NAF/APE code"), max_length=6, blank=True)
    sector = models.CharField(_("sector"), max_length=100, blank=True)
    size = models.CharField(_("size"), max_length=20, choices=CompanySize.choices, blank=True)
    website = models.URLField(_("website"), blank=True)
    web_domain = models.CharField(max_length=200, blank=True, editable=False)
    tags = models.ManyToManyField(Tag, blank=True, related_name="organizations", verbose_name=_("tags"))
    merged_into = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["legal_name", "id"]
        indexes = [
            # The list in name order (see LIST_INDEX_TAIL).
            models.Index(fields=["company", "legal_name", "id", *LIST_INDEX_TAIL], name="contacts_org_list_name"),
            models.Index(fields=["company", "siren"], name="contacts_org_company_siren"),
            models.Index(fields=["company", "web_domain"], name="contacts_org_company_domain"),
            models.Index(fields=["company", "owner"], name="contacts_org_company_owner"),
            # Exact-key blocking of duplicate detection.
            models.Index(fields=["company", "email"], name="contacts_org_company_email"),
            models.Index(fields=["company", "phone"], name="contacts_org_company_phone"),
            models.Index(fields=["company", "siret"], name="contacts_org_company_siret"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "external_id"], condition=~models.Q(external_id=""), name="contacts_org_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.trade_name or self.legal_name


class Person(Party):
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100)
    job_title = models.CharField(_("job title"), max_length=100, blank=True)
    mobile = models.CharField(_("mobile"), max_length=20, blank=True)
    organizations = models.ManyToManyField(
        Organization, through="Affiliation", related_name="people", verbose_name=_("organizations")
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="people", verbose_name=_("tags"))
    merged_into = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(
                fields=["company", "last_name", "first_name", "id", *LIST_INDEX_TAIL], name="contacts_person_list_name"
            ),
            models.Index(fields=["company", "email"], name="contacts_person_company_email"),
            models.Index(fields=["company", "phone"], name="contacts_person_company_phone"),
            models.Index(fields=["company", "owner"], name="contacts_person_company_owner"),
            models.Index(fields=["company", "mobile"], name="contacts_person_company_mobile"),
            # The page total under a salesperson's record rule (owner or team): counted from
            # this narrow index alone instead of the table (200,000 people: 75 → 35 ms).
            models.Index(
                fields=["company", "owner", "team"],
                condition=models.Q(is_archived=False, merged_into__isnull=True),
                name="contacts_person_rule",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "external_id"],
                condition=~models.Q(external_id=""),
                name="contacts_person_external_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Affiliation(ComptoirModel):
    """A person's role at an organization (several organizations per person are allowed)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="affiliations")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="affiliations")
    role = models.CharField(_("role"), max_length=100, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("affiliation")
        constraints = [
            models.UniqueConstraint(fields=["person", "organization"], name="contacts_affiliation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} @ {self.organization_id}"


class ContactPoint(ComptoirModel):
    """Extra emails and phones of a person, beyond the primary ``email``/``phone``."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")
        MOBILE = "mobile", _("Mobile")

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=254, help_text=_("Emails in lower case, phones in E.164."))
    label = models.CharField(_("label"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("contact point")
        constraints = [
            models.UniqueConstraint(fields=["person", "kind", "value"], name="contacts_contact_point_unique"),
        ]
        # The as-you-type duplicate check looks extra emails and phones up by value.
        indexes = [models.Index(fields=["value"], name="contacts_cpoint_value")]

    def __str__(self) -> str:
        return self.value


class Address(ComptoirModel):
    class Kind(models.TextChoices):
        BILLING = "billing", _("Billing")
        DELIVERY = "delivery", _("Delivery")
        SITE = "site", _("Site")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.BILLING)
    label = models.CharField(_("label"), max_length=100, blank=True)
    line1 = models.CharField(_("address"), max_length=200)
    line2 = models.CharField(_("address (continued)"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100)
    country = models.CharField(_("country"), max_length=2, default="FR")
    siret = models.CharField(
        _("SIRET"), max_length=14, blank=True, help_text=_("For an establishment of the organization.")
    )
    is_default = models.BooleanField(_("default for its kind"), default=False)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["kind", "-is_default", "id"]

    def __str__(self) -> str:
        return f"{self.line1}, {self.postal_code} {self.city}".strip(", ")


class Consent(models.Model):
    """A marketing consent decision for one channel; the latest row per channel is current."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")
        PHONE = "phone", _("Phone")
        POST = "post", _("Post")

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    granted = models.BooleanField(_("granted"))
    at = models.DateTimeField(_("date"))
    source = models.CharField(_("source"), max_length=200, help_text=_("Where the consent was given or withdrawn."))

    class Meta:
        verbose_name = _("consent")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["person", "channel", "-at"], name="contacts_consent_latest")]

    def __str__(self) -> str:
        return f"{self.channel}: {'yes' if self.granted else 'no'}"


class DuplicateCandidate(models.Model):
    """A probable duplicate pair found by the scan, kept until merged or dismissed.

    ``left_id < right_id`` and the pair is unique per (company, kind), so a rescan updates
    the row instead of adding another; a dismissed pair keeps its status across rescans.
    The ids are plain columns (not foreign keys) because ``kind`` says which table they name.
    """

    class Kind(models.TextChoices):
        ORGANIZATION = "organization", _("Organization")
        PERSON = "person", _("Person")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("duplicate pair status", "Open")
        DISMISSED = "dismissed", _("Dismissed")
        MERGED = "merged", _("Merged")

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    left_id = models.BigIntegerField()
    right_id = models.BigIntegerField()
    score = models.PositiveSmallIntegerField(_("score"))
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    detected_at = models.DateTimeField(_("detected at"))
    # When the last scan still found the pair; an open pair not seen again is dropped.
    seen_at = models.DateTimeField(_("last seen at"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = ComptoirManager()

    class Meta:
        verbose_name = _("duplicate candidate")
        verbose_name_plural = _("duplicate candidates")
        ordering = ["-score", "id"]
        indexes = [
            models.Index(fields=["company", "status", "-score", "id"], name="contacts_dup_company_status"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["company", "kind", "left_id", "right_id"], name="contacts_dup_unique_pair"),
            models.CheckConstraint(condition=models.Q(left_id__lt=models.F("right_id")), name="contacts_dup_ordered"),
            models.CheckConstraint(condition=models.Q(score__lte=100), name="contacts_dup_score_max"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.left_id}/{self.right_id} ({self.score})"


class DuplicateScan(models.Model):
    """One run of the background duplicate scan of a company, shown as "last scan" in the UI."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_at = models.DateTimeField(_("requested at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    organizations_checked = models.PositiveIntegerField(default=0)
    people_checked = models.PositiveIntegerField(default=0)
    pairs_found = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    objects = ComptoirManager()

    class Meta:
        verbose_name = _("duplicate scan")
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["company", "-requested_at"], name="contacts_dupscan_company")]

    def __str__(self) -> str:
        return f"scan {self.pk} ({self.status})"

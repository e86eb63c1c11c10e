"""Companies, their sites, users, role memberships, API keys and second factors."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.authz import ROLES
from comptoir.kernel.models import ComptoirModel, ComptoirQuerySet


class Company(ComptoirModel):
    """A legal entity keeping its books in Comptoir (identified by its SIREN)."""

    name = models.CharField(_("trade name"), max_length=200)
    legal_name = models.CharField(_("legal name"), max_length=200)
    legal_form = models.CharField(_("legal form"), max_length=60, blank=True)
    siren = models.CharField(_("SIREN"), max_length=9, blank=True)
    vat_number = models.CharField(_("intra-EU VAT number"), max_length=20, blank=True)
    share_capital = models.CharField(_("share capital"), max_length=40, blank=True)
    rcs = models.CharField(_("RCS registration"), max_length=80, blank=True)
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    address_line2 = models.CharField(_("address (continued)"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="FR")
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Paris")
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    website = models.URLField(_("website"), blank=True)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["siren"], condition=~models.Q(siren=""), name="org_company_siren_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def siren_display(self) -> str:
        from comptoir.org.validators import format_siren

        return format_siren(self.siren)

    @property
    def legal_name_display(self) -> str:
        """Legal name with the legal form, unless the name already ends with it."""
        if self.legal_form and not self.legal_name.endswith(self.legal_form):
            return f"{self.legal_name} ({self.legal_form})"
        return self.legal_name


class Site(ComptoirModel):
    """An establishment of the company, identified by its SIRET."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(_("name"), max_length=200)
    siret = models.CharField(_("SIRET"), max_length=14)
    is_head_office = models.BooleanField(_("head office"), default=False)
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="FR")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["siret"], name="org_site_siret_unique"),
            models.UniqueConstraint(
                fields=["company"], condition=models.Q(is_head_office=True), name="org_site_one_head_office"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager.from_queryset(ComptoirQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser):
    """A person who logs in with email and password (and a TOTP second factor)."""

    email = models.EmailField(_("email"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200)
    language = models.CharField(
        _("language"), max_length=5, default="fr", choices=[("fr", "Français"), ("en", "English")]
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), auto_now_add=True)
    default_company = models.ForeignKey(Company, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # TOTP second factor: the secret is set at enrolment, confirmed by a first valid code.
    totp_secret = models.CharField(max_length=64, blank=True)
    totp_confirmed_at = models.DateTimeField(null=True, blank=True)
    totp_last_counter = models.BigIntegerField(default=0)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def has_totp(self) -> bool:
        return self.totp_confirmed_at is not None


class Membership(ComptoirModel):
    """A role a user holds in a company; several rows give several roles."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=[(k, v) for k, v in ROLES.items()])

    class Meta:
        verbose_name = _("role membership")
        constraints = [
            models.UniqueConstraint(fields=["user", "company", "role"], name="org_membership_unique"),
        ]
        indexes = [models.Index(fields=["company", "role"], name="org_membership_company_role")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.company_id}:{self.role}"


class Team(ComptoirModel):
    """A sales (or service…) team: its members see each other's records; the manager sees all."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(_("name"), max_length=100)
    manager = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="managed_teams", verbose_name=_("manager")
    )
    members = models.ManyToManyField(User, related_name="teams", blank=True, verbose_name=_("members"))

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="org_team_unique_name")]

    def __str__(self) -> str:
        return self.name


class RecoveryCode(models.Model):
    """One-time codes that replace a TOTP code when the phone is lost (stored hashed)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of user {self.user_id}"


class LoginAttempt(models.Model):
    """Failed logins, counted per email and per IP to throttle guessing."""

    email = models.CharField(max_length=254, db_index=True)
    ip = models.GenericIPAddressField(null=True, db_index=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"failed login {self.email} from {self.ip} at {self.at}"


class ApiKey(ComptoirModel):
    """A bearer key acting as its owner in one company, narrowed to scopes.

    Only a SHA-256 of the secret is stored (keys are 256-bit random, so a fast hash is
    safe); the prefix identifies the key in lists and logs.
    """

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="api_keys")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    # e.g. ["org:read", "audit:read", "crm:write"]; write implies read.
    scopes = models.JSONField(_("scopes"), default=list)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

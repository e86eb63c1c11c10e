"""Every write of the org app: companies, sites, users and roles, modules, API keys, 2FA.

Each service takes an ``actor``, runs in one transaction, checks permissions, writes the
audit entry and returns the object. UI, API, CLI and tasks call these same functions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.kernel import audit, events
from comptoir.kernel.authz import ROLES, require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import ModuleActivation
from comptoir.kernel.modules import registry as module_registry
from comptoir.org import validators
from comptoir.org.models import ApiKey, Company, LoginAttempt, Membership, RecoveryCode, Site, User
from comptoir.org.selectors import api_scopes

COMPANY_FIELDS = [
    "name", "legal_name", "legal_form", "siren", "vat_number", "share_capital", "rcs",
    "address_line1", "address_line2", "postal_code", "city", "country", "currency", "timezone",
    "email", "phone", "website",
]  # fmt: skip
SITE_FIELDS = ["name", "siret", "is_head_office", "address_line1", "postal_code", "city", "country", "is_active"]


def _company_id(actor: Actor) -> int:
    """The actor's current company; an actor without one can write nothing company-scoped."""
    if actor.company_id is None:
        raise NotFound("company_not_found")
    return actor.company_id


def _clean_company(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items() if k in COMPANY_FIELDS}
    unknown = set(data) - set(COMPANY_FIELDS)
    for name in sorted(unknown):
        errors[name] = [_("Unknown field.")]
    for required in ("name", "legal_name"):
        if required in cleaned and not cleaned[required]:
            errors[required] = [_("This field is required.")]
    for name, cleaner in (("siren", validators.clean_siren), ("vat_number", validators.clean_vat)):
        if cleaned.get(name):
            try:
                cleaned[name] = cleaner(cleaned[name])
            except ValueError as exc:
                errors[name] = [str(exc)]
    if cleaned.get("email"):
        try:
            validate_email(cleaned["email"])
        except DjangoValidationError:
            errors["email"] = [_("Enter a valid email address.")]
    if "currency" in cleaned and (len(cleaned["currency"]) != 3 or not cleaned["currency"].isalpha()):
        errors["currency"] = [_("Use a three-letter ISO 4217 code, e.g. EUR.")]
    if "country" in cleaned and (len(cleaned["country"]) != 2 or not cleaned["country"].isalpha()):
        errors["country"] = [_("Use a two-letter ISO 3166 code, e.g. FR.")]
    if "timezone" in cleaned:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(cleaned["timezone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = [_("Unknown time zone.")]
    if errors:
        raise ValidationFailed(fields=errors)
    if "currency" in cleaned:
        cleaned["currency"] = cleaned["currency"].upper()
    if "country" in cleaned:
        cleaned["country"] = cleaned["country"].upper()
    return cleaned


@transaction.atomic
def company_create(*, actor: Actor, owner: User | None = None, **data: Any) -> Company:
    """Create a company; ``owner`` becomes its administrator. System/CLI use (bootstrap, demo)."""
    if "system" not in actor.roles and actor.user is not None and not actor.has_perm("org.change_company"):
        raise PermissionDenied()
    cleaned = _clean_company({"name": "", "legal_name": "", **data})
    if cleaned.get("siren") and Company.objects.filter(siren=cleaned["siren"]).exists():
        raise ValidationFailed(fields={"siren": [_("A company with this SIREN already exists.")]})
    company = Company.objects.create(**cleaned)
    if owner is not None:
        Membership.objects.create(user=owner, company=company, role="admin")
    audit.record(actor, "company.create", company, changes=audit.diff({}, cleaned), company_id=company.pk)
    events.publish("org.company_created", company_id=company.pk, payload={"company_id": company.pk})
    return company


@transaction.atomic
def company_update(*, actor: Actor, **data: Any) -> Company:
    require(actor, "org.change_company")
    company = Company.objects.select_for_update().get(pk=actor.company_id)
    cleaned = _clean_company(data)
    if cleaned.get("siren") and Company.objects.filter(siren=cleaned["siren"]).exclude(pk=company.pk).exists():
        raise ValidationFailed(fields={"siren": [_("A company with this SIREN already exists.")]})
    before = audit.snapshot(company, list(cleaned))
    for name, value in cleaned.items():
        setattr(company, name, value)
    company.save()
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor, "company.update", company, changes=changes)
    return company


def _clean_site(company: Company, data: dict[str, Any], site: Site | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items() if k in SITE_FIELDS}
    for name in sorted(set(data) - set(SITE_FIELDS)):
        errors[name] = [_("Unknown field.")]
    if "name" in cleaned and not cleaned["name"]:
        errors["name"] = [_("This field is required.")]
    if "siret" in cleaned:
        try:
            cleaned["siret"] = validators.clean_siret(cleaned["siret"] or "")
        except ValueError as exc:
            errors["siret"] = [str(exc)]
        else:
            if company.siren and not cleaned["siret"].startswith(company.siren):
                errors["siret"] = [_("A SIRET starts with the company's SIREN (%(siren)s).") % {"siren": company.siren}]
            elif Site.objects.filter(siret=cleaned["siret"]).exclude(pk=getattr(site, "pk", None)).exists():
                errors["siret"] = [_("A site with this SIRET already exists.")]
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def site_create(*, actor: Actor, **data: Any) -> Site:
    require(actor, "org.manage_sites")
    company = Company.objects.select_for_update().get(pk=actor.company_id)
    cleaned = _clean_site(company, {"name": "", "siret": "", **data})
    if cleaned.get("is_head_office"):
        Site.objects.filter(company=company, is_head_office=True).update(is_head_office=False)
    site = Site.objects.create(company=company, **cleaned)
    audit.record(actor, "site.create", site, changes=audit.diff({}, cleaned))
    return site


@transaction.atomic
def site_update(*, actor: Actor, site_id: int, **data: Any) -> Site:
    require(actor, "org.manage_sites")
    company = Company.objects.select_for_update().get(pk=actor.company_id)
    site = Site.objects.filter(company=company, pk=site_id).first()
    if site is None:
        raise NotFound("site_not_found")
    cleaned = _clean_site(company, data, site)
    before = audit.snapshot(site, list(cleaned))
    if cleaned.get("is_head_office"):
        Site.objects.filter(company=company, is_head_office=True).exclude(pk=site.pk).update(is_head_office=False)
    for name, value in cleaned.items():
        setattr(site, name, value)
    site.save()
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor, "site.update", site, changes=changes)
    return site


def _clean_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValidationFailed(
            fields={"roles": [_("Choose at least one role among: %(roles)s.") % {"roles": ", ".join(ROLES)}]}
        )
    return sorted(set(roles))


@transaction.atomic
def user_create(
    *, actor: Actor, email: str, full_name: str, roles: list[str], password: str | None = None, language: str = "fr"
) -> User:
    """Add a person to the actor's company with roles (creating the login if new)."""
    require(actor, "org.manage_users")
    errors: dict[str, list[str]] = {}
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        errors["email"] = [_("Enter a valid email address.")]
    if not (full_name or "").strip():
        errors["full_name"] = [_("This field is required.")]
    if language not in dict(settings.LANGUAGES):
        errors["language"] = [_("Unknown language.")]
    try:
        roles = _clean_roles(roles)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    user = User.objects.filter(email=email).first() if "email" not in errors else None
    if password and "email" not in errors:
        try:
            validate_password(password, User(email=email, full_name=full_name))
        except DjangoValidationError as exc:
            errors["password"] = list(exc.messages)
    if user is not None and Membership.objects.filter(user=user, company_id=actor.company_id).exists():
        errors["email"] = [_("This person is already a user of the company.")]
    if errors:
        raise ValidationFailed(fields=errors)
    if user is None:
        user = User.objects.create_user(
            email=email, password=password, full_name=full_name.strip(), language=language,
            default_company_id=actor.company_id,
        )  # fmt: skip
    company_id = _company_id(actor)
    Membership.objects.bulk_create([Membership(user=user, company_id=company_id, role=r) for r in roles])
    audit.record(actor, "user.add", user, changes={"email": [None, email], "roles": [[], roles]})
    return user


@transaction.atomic
def user_set_roles(*, actor: Actor, user_id: int, roles: list[str]) -> User:
    require(actor, "org.manage_users")
    roles = _clean_roles(roles)
    user = User.objects.filter(pk=user_id, memberships__company_id=actor.company_id).distinct().first()
    if user is None:
        raise NotFound("user_not_found")
    current = sorted(Membership.objects.filter(user=user, company_id=actor.company_id).values_list("role", flat=True))
    if user.pk == actor.user_id and "admin" in current and "admin" not in roles:
        raise Conflict("cannot_drop_own_admin", _("You cannot remove your own administrator role."))
    Membership.objects.filter(user=user, company_id=actor.company_id).exclude(role__in=roles).delete()
    Membership.objects.bulk_create(
        [Membership(user=user, company_id=_company_id(actor), role=r) for r in roles if r not in current]
    )
    if current != roles:
        audit.record(actor, "user.set_roles", user, changes={"roles": [current, roles]})
    return user


@transaction.atomic
def user_remove(*, actor: Actor, user_id: int) -> None:
    """Remove a person from the company (their login stays for their other companies)."""
    require(actor, "org.manage_users")
    if user_id == actor.user_id:
        raise Conflict("cannot_remove_self", _("You cannot remove yourself."))
    user = User.objects.filter(pk=user_id, memberships__company_id=actor.company_id).distinct().first()
    if user is None:
        raise NotFound("user_not_found")
    ApiKey.objects.filter(user=user, company_id=actor.company_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    Membership.objects.filter(user=user, company_id=actor.company_id).delete()
    audit.record(actor, "user.remove", user)


@transaction.atomic
def user_set_language(*, actor: Actor, language: str) -> User:
    if language not in dict(settings.LANGUAGES):
        raise ValidationFailed(fields={"language": [_("Unknown language.")]})
    user = User.objects.select_for_update().get(pk=actor.user_id)
    if user.language != language:
        audit.record(actor, "user.set_language", user, changes={"language": [user.language, language]})
        user.language = language
        user.save(update_fields=["language"])
    return user


@transaction.atomic
def user_switch_company(*, actor: Actor, company_id: int) -> User:
    if company_id not in actor.company_ids:
        raise NotFound("company_not_found")
    user = User.objects.select_for_update().get(pk=actor.user_id)
    if user.default_company_id != company_id:
        # Every write is audited, preferences included (recorded in the company switched to).
        audit.record(
            actor, "user.switch_company", user, changes={"default_company": [user.default_company_id, company_id]},
            company_id=company_id,
        )  # fmt: skip
        user.default_company_id = company_id
        user.save(update_fields=["default_company"])
    return user


@transaction.atomic
def module_set(*, actor: Actor, module: str, enabled: bool) -> None:
    """Switch a module on or off for the actor's company, honouring dependencies."""
    require(actor, "org.manage_modules")
    spec = module_registry.get(module)
    if spec is None:
        raise NotFound("module_not_found")
    if spec.core:
        raise Conflict("module_is_core", _("This module is always on."))
    active = set(
        ModuleActivation.objects.filter(company_id=actor.company_id, enabled=True).values_list("module", flat=True)
    )
    if enabled:
        missing = [r for r in spec.requires if r not in active and not getattr(module_registry.get(r), "core", False)]
        if missing:
            raise Conflict("module_requires", _("Switch on first: %(modules)s.") % {"modules": ", ".join(missing)})
    else:
        dependants = [m.code for m in module_registry.all() if module in m.requires and m.code in active]
        if dependants:
            raise Conflict(
                "module_required_by", _("Switch off first: %(modules)s.") % {"modules": ", ".join(dependants)}
            )
    was = module in active
    if was == enabled:
        return
    ModuleActivation.objects.update_or_create(company_id=actor.company_id, module=module, defaults={"enabled": enabled})
    if enabled and spec.on_enable is not None:
        spec.on_enable(actor)
    audit.record(actor, "module.enable" if enabled else "module.disable", object_type="kernel.module", object_id=module,
                 changes={"enabled": [was, enabled]})  # fmt: skip
    events.publish("org.module_changed", company_id=actor.company_id, payload={"module": module, "enabled": enabled})


# --- API keys -------------------------------------------------------------------------

API_KEY_PREFIX = "cpt_"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _valid_scopes() -> list[str]:
    return api_scopes()


@transaction.atomic
def apikey_create(
    *, actor: Actor, name: str, scopes: list[str], expires_at: dt.datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key for the actor in their company. The secret is returned once, never stored."""
    require(actor, "org.manage_own_api_keys")
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = [_("This field is required.")]
    valid = _valid_scopes()
    bad = [s for s in scopes if s not in valid]
    if bad or not scopes:
        errors["scopes"] = [_("Choose scopes among: %(scopes)s.") % {"scopes": ", ".join(valid)}]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = [_("The expiry must be in the future.")]
    if errors:
        raise ValidationFailed(fields=errors)
    body = secrets.token_urlsafe(32)
    prefix = body[:8]
    secret = f"{API_KEY_PREFIX}{body}"
    key = ApiKey.objects.create(
        company_id=actor.company_id, user_id=actor.user_id, name=name.strip(), prefix=prefix,
        key_hash=hash_key(secret), scopes=sorted(set(scopes)), expires_at=expires_at,
    )  # fmt: skip
    audit.record(actor, "api_key.create", key, changes={"name": [None, key.name], "scopes": [[], key.scopes]})
    return key, secret


@transaction.atomic
def apikey_revoke(*, actor: Actor, key_id: int) -> ApiKey:
    require(actor, "org.manage_own_api_keys")
    key = ApiKey.objects.select_for_update().filter(pk=key_id, company_id=actor.company_id).first()
    if key is None or (key.user_id != actor.user_id and not actor.has_perm("org.manage_api_keys")):
        raise NotFound("api_key_not_found")
    if key.revoked_at is not None:
        raise Conflict("api_key_already_revoked", _("This key is already revoked."))
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at", "updated_at"])
    audit.record(actor, "api_key.revoke", key)
    return key


def apikey_authenticate(secret: str) -> ApiKey | None:
    """The active key matching ``secret``, or None. Records the last use (at most once a minute).

    Runs on every API request, so it is one query: the key, its owner and the owner's
    (company, role) pairs, given as ``key.membership_pairs`` for ``selectors.build_actor``.
    Nothing is cached between requests: a revoked key is refused on its next request.
    """
    if not secret or not secret.startswith(API_KEY_PREFIX):
        return None
    rows = list(
        # One row per membership of the owner (LEFT JOIN: an owner without any still comes back).
        ApiKey.objects.select_related("user")
        .filter(key_hash=hash_key(secret))
        .annotate(m_company_id=F("user__memberships__company_id"), m_role=F("user__memberships__role"))
        .order_by()
    )
    if not rows:
        return None
    key = rows[0]
    key.membership_pairs = [(r.m_company_id, r.m_role) for r in rows if r.m_company_id is not None]  # type: ignore[attr-defined]
    now = timezone.now()
    if key.revoked_at is not None or not key.user.is_active:
        return None
    if key.expires_at is not None and key.expires_at <= now:
        return None
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# --- Login throttling and TOTP --------------------------------------------------------


def login_throttled(email: str, ip: str | None) -> bool:
    since = timezone.now() - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    recent = LoginAttempt.objects.filter(at__gte=since)
    by_email = recent.filter(email=(email or "").lower()).count()
    by_ip = recent.filter(ip=ip).count() if ip else 0
    return by_email >= settings.LOGIN_MAX_FAILURES or by_ip >= settings.LOGIN_MAX_FAILURES * 4


def login_failed(email: str, ip: str | None) -> None:
    LoginAttempt.objects.create(email=(email or "").lower()[:254], ip=ip)


def login_succeeded(email: str) -> None:
    LoginAttempt.objects.filter(email=(email or "").lower()).delete()


@transaction.atomic
def login_record(*, actor: Actor, ip: str | None, second_factor: bool) -> None:
    """Leave a sign-in in the audit trail of the company the user lands in (who, when, from where)."""
    audit.record(
        actor,
        "user.login",
        actor.user,
        changes={"ip": [None, ip], "second_factor": [None, second_factor]},
    )


def totp_begin(*, user: User) -> str:
    """Start (or restart) enrolment: a new secret, unconfirmed until a valid code is given."""
    if user.has_totp:
        raise Conflict("totp_already_enabled", _("Two-factor authentication is already on."))
    user.totp_secret = pyotp.random_base32()
    user.save(update_fields=["totp_secret"])
    return user.totp_secret


def totp_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name="Comptoir")


def _totp_counter(user: User, code: str) -> int | None:
    """The time step the code belongs to (±1 step of drift), or None."""
    code = (code or "").replace(" ", "")
    if not user.totp_secret or not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(user.totp_secret)
    now = timezone.now()
    for drift in (0, -1, 1):
        at = now + dt.timedelta(seconds=30 * drift)
        if secrets.compare_digest(totp.at(at), code):
            return totp.timecode(at)
    return None


@transaction.atomic
def totp_confirm(*, actor: Actor, code: str) -> list[str]:
    """Confirm enrolment with a first code; returns ten recovery codes (shown once)."""
    user = User.objects.select_for_update().get(pk=actor.user_id)
    if user.has_totp:
        raise Conflict("totp_already_enabled", _("Two-factor authentication is already on."))
    counter = _totp_counter(user, code)
    if counter is None:
        raise ValidationFailed(
            "invalid_totp", fields={"code": [_("This code is not valid. Check the time on your phone.")]}
        )
    user.totp_confirmed_at = timezone.now()
    user.totp_last_counter = counter
    user.save(update_fields=["totp_confirmed_at", "totp_last_counter"])
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(10)]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create([RecoveryCode(user=user, code_hash=hash_key(c)) for c in codes])
    audit.record(actor, "user.totp_enable", user, company_id=actor.company_id)
    return codes


@transaction.atomic
def totp_verify(*, user: User, code: str) -> bool:
    """Check a login code (TOTP or recovery). A TOTP code is accepted once only (no replay)."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    counter = _totp_counter(locked, code)
    if counter is not None and counter > locked.totp_last_counter:
        User.objects.filter(pk=user.pk).update(totp_last_counter=counter)
        return True
    recovery = RecoveryCode.objects.filter(
        user=user, code_hash=hash_key((code or "").strip()), used_at__isnull=True
    ).first()
    if recovery is not None:
        recovery.used_at = timezone.now()
        recovery.save(update_fields=["used_at"])
        return True
    return False


@transaction.atomic
def totp_disable(*, actor: Actor, user_id: int) -> None:
    """Turn off a user's second factor (self, or an administrator resetting a lost phone)."""
    if user_id != actor.user_id:
        require(actor, "org.manage_users")
    member_ids = Membership.objects.filter(company_id=actor.company_id).values("user_id")
    user = User.objects.select_for_update().filter(pk=user_id, pk__in=member_ids).first()
    if user is None:
        raise NotFound("user_not_found")
    user.totp_secret = ""
    user.totp_confirmed_at = None
    user.save(update_fields=["totp_secret", "totp_confirmed_at"])
    RecoveryCode.objects.filter(user=user).delete()
    audit.record(actor, "user.totp_disable", user)


def totp_required(user: User) -> bool:
    """The administrator role must use a second factor."""
    return Membership.objects.filter(user=user, role="admin").exists()

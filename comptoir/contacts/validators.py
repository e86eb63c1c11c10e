"""Pure checks of contact data: each returns the cleaned value or raises ``ValueError(message)``.

No database access here: the importer validates 100,000 rows with ``clean_organization`` /
``clean_person``, and services, forms and the duplicate finder call the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.translation import gettext as _

from comptoir.contacts.models import CompanySize, LifecycleStage
from comptoir.org.validators import clean_siren, clean_siret, clean_vat, format_siren, format_siret

__all__ = [
    "clean_country",
    "clean_email",
    "clean_naf",
    "clean_organization",
    "clean_person",
    "clean_phone",
    "clean_siren",
    "clean_siret",
    "clean_vat",
    "clean_website",
    "format_phone",
    "format_siren",
    "format_siret",
]

DEFAULT_REGION = "FR"
_NAF = re.compile(r"^(\d{2})\.?(\d{2})([A-Z])$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_email_validator = EmailValidator()
_url_validator = URLValidator(schemes=["http", "https"])


def clean_email(value: str) -> str:
    value = (value or "").strip().lower()
    try:
        _email_validator(value)
    except ValidationError as exc:
        raise ValueError(_("Enter a valid email address.")) from exc
    return value


def clean_phone(value: str, region: str = DEFAULT_REGION) -> str:
    """Any way of writing a phone number → E.164 ("01 42 72 00 00" → "+33142720000")."""
    text = (value or "").strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(_("Enter a valid phone number.")) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(_("Enter a valid phone number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str, region: str = DEFAULT_REGION) -> str:
    """For display: national format at home ("01 42 72 00 00"), international abroad."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_national_digits(e164: str, region: str = DEFAULT_REGION) -> str:
    """Digits as people type them at home ("0142720000"), for search."""
    return "".join(ch for ch in format_phone(e164, region) if ch.isdigit())


def clean_naf(value: str) -> str:
    """NAF/APE code as ``NN.NNL`` ("6201z", "62.01 Z" → "62.01Z")."""
    compact = re.sub(r"[\s.]", "", (value or "").upper())
    match = _NAF.match(compact)
    if not match:
        raise ValueError(_("Enter a NAF/APE code such as 62.01Z."))
    return f"{match.group(1)}.{match.group(2)}{match.group(3)}"


def clean_country(value: str) -> str:
    value = (value or "").strip().upper()
    if not _COUNTRY.match(value):
        raise ValueError(_("Enter a two-letter country code (ISO 3166-1), e.g. FR."))
    return value


def clean_website(value: str) -> str:
    value = (value or "").strip()
    if value and "://" not in value:
        value = f"https://{value}"
    try:
        _url_validator(value)
    except ValidationError as exc:
        raise ValueError(_("Enter a valid web address.")) from exc
    return value


def _text(max_length: int, *, required: bool = False) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = (value or "").strip()
        if required and not value:
            raise ValueError(_("This field is required."))
        if len(value) > max_length:
            raise ValueError(_("At most %(n)s characters.") % {"n": max_length})
        return value

    return check


def _choice(choices: list[tuple[str, Any]], *, blank: bool = False) -> Callable[[str], str]:
    allowed = [code for code, _label in choices]

    def check(value: str) -> str:
        value = (value or "").strip()
        if blank and not value:
            return ""
        if value not in allowed:
            raise ValueError(_("Choose among: %(values)s.") % {"values": ", ".join(allowed)})
        return value

    return check


def _optional(check: Callable[[str], str]) -> Callable[[str], str]:
    def run(value: str) -> str:
        value = "" if value is None else str(value).strip()
        return check(value) if value else ""

    return run


ORGANIZATION_FIELDS: dict[str, Callable[[str], str]] = {
    "legal_name": _text(200, required=True),
    "trade_name": _text(200),
    "siren": _optional(clean_siren),
    "siret": _optional(clean_siret),
    "vat_number": _optional(clean_vat),
    "naf_code": _optional(clean_naf),
    "sector": _text(100),
    "size": _choice(CompanySize.choices, blank=True),
    "website": _optional(clean_website),
    "email": _optional(clean_email),
    "phone": _optional(clean_phone),
    "lifecycle_stage": _choice(LifecycleStage.choices),
    "external_id": _text(100),
    "notes": _text(10_000),
}

PERSON_FIELDS: dict[str, Callable[[str], str]] = {
    "first_name": _text(100),
    "last_name": _text(100, required=True),
    "job_title": _text(100),
    "email": _optional(clean_email),
    "phone": _optional(clean_phone),
    "mobile": _optional(clean_phone),
    "lifecycle_stage": _choice(LifecycleStage.choices),
    "external_id": _text(100),
    "notes": _text(10_000),
}

BOOLEAN_FIELDS = ("do_not_contact",)


def _clean(
    data: Mapping[str, Any], checks: Mapping[str, Callable[[str], str]]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        if name in BOOLEAN_FIELDS:
            if not isinstance(value, bool):
                errors[name] = [_("Enter true or false.")]
            else:
                cleaned[name] = value
            continue
        check = checks.get(name)
        if check is None:
            continue  # not a field these rules know: the caller handles it (owner, team, tags)
        if value is not None and not isinstance(value, str):
            errors[name] = [_("Enter text.")]
            continue
        if value is not None and "\x00" in value:
            errors[name] = [_("Null characters are not allowed.")]
            continue
        try:
            cleaned[name] = check(value or "")
        except ValueError as exc:
            errors[name] = [str(exc)]
    return cleaned, errors


def clean_organization(
    data: Mapping[str, Any], *, partial: bool = False
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check an organization's fields; ``partial`` for an update (only the given fields)."""
    if not partial:
        data = {"legal_name": "", "lifecycle_stage": LifecycleStage.PROSPECT, **data}
    cleaned, errors = _clean(data, ORGANIZATION_FIELDS)
    siren, siret = cleaned.get("siren"), cleaned.get("siret")
    if siret and "siret" not in errors and "siren" not in errors:
        if not siren and not partial:
            # The SIRET's first 9 digits are the SIREN of its organization.
            cleaned["siren"] = siret[:9]
        elif siren and siret[:9] != siren:
            errors["siret"] = [_("The SIRET must start with the organization's SIREN (%(siren)s).") % {"siren": siren}]
    return cleaned, errors


def clean_person(data: Mapping[str, Any], *, partial: bool = False) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check a person's fields; ``partial`` for an update (only the given fields)."""
    if not partial:
        data = {"last_name": "", "lifecycle_stage": LifecycleStage.PROSPECT, **data}
    return _clean(data, PERSON_FIELDS)

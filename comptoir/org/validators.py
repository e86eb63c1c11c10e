"""French company identifiers, checked with python-stdnum (no hand-written checksums)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from stdnum import exceptions as stdnum_exceptions
from stdnum.eu import vat as eu_vat
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret


def _reason(exc: stdnum_exceptions.ValidationError) -> str:
    """stdnum's English messages, by exception class, in the user's language."""
    reasons = {
        stdnum_exceptions.InvalidChecksum: _("the check digit is wrong"),
        stdnum_exceptions.InvalidLength: _("the length is wrong"),
        stdnum_exceptions.InvalidFormat: _("the format is wrong"),
        stdnum_exceptions.InvalidComponent: _("a part of the number is invalid"),
    }
    for cls, reason in reasons.items():
        if isinstance(exc, cls):
            return str(reason)
    return str(exc)


def clean_siren(value: str) -> str:
    """Return the compact SIREN or raise ValueError with a message for the user."""
    try:
        return str(fr_siren.validate(value))
    except stdnum_exceptions.ValidationError as exc:
        raise ValueError(_("Invalid SIREN: %(reason)s") % {"reason": _reason(exc)}) from exc


def clean_siret(value: str) -> str:
    try:
        return str(fr_siret.validate(value))
    except stdnum_exceptions.ValidationError as exc:
        raise ValueError(_("Invalid SIRET: %(reason)s") % {"reason": _reason(exc)}) from exc


def clean_vat(value: str) -> str:
    try:
        return str(eu_vat.validate(value))
    except stdnum_exceptions.ValidationError as exc:
        raise ValueError(_("Invalid VAT number: %(reason)s") % {"reason": _reason(exc)}) from exc


def format_siren(value: str) -> str:
    return fr_siren.format(value) if value else ""


def format_siret(value: str) -> str:
    return fr_siret.format(value) if value else ""

"""French company identifiers, checked with python-stdnum (no hand-written checksums)."""

from __future__ import annotations

from stdnum import exceptions as stdnum_exceptions
from stdnum.eu import vat as eu_vat
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret


def clean_siren(value: str) -> str:
    """Return the compact SIREN or raise ValueError with a message for the user."""
    try:
        return str(fr_siren.validate(value))
    except stdnum_exceptions.ValidationError as exc:
        raise ValueError(f"Invalid SIREN: {exc.message}") from exc


def clean_siret(value: str) -> str:
    try:
        return str(fr_siret.validate(value))
    except stdnum_exceptions.ValidationError as exc:
        raise ValueError(f"Invalid SIRET: {exc.message}") from exc


def clean_vat(value: str) -> str:
    try:
        return str(eu_vat.validate(value))
    except stdnum_exceptions.ValidationError as exc:
        raise ValueError(f"Invalid VAT number: {exc.message}") from exc


def format_siren(value: str) -> str:
    return fr_siren.format(value) if value else ""


def format_siret(value: str) -> str:
    return fr_siret.format(value) if value else ""

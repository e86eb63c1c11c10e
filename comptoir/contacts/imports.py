"""Import of organizations and people from CSV or XLSX files.

The flow is: upload (the file is checked and kept beside the ``ImportJob``) → column mapping
(guessed from the headers, or a saved ``ImportPreset``) → dry run (every row validated, a
clear error per row and field, duplicate warnings) → commit (the same checks again, then
every write in ONE transaction: any error and nothing is written) → result.

Speed: rows are streamed from the file, validated in Python, and written with
``bulk_create``/``bulk_update`` in batches; the keys needed for duplicate checks and for
re-imports (external ids, emails, phones, SIREN/SIRET, names) are read once into dicts.
No query runs per row. One audit entry and one ``contacts.imported`` event per import.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from comptoir.contacts import selectors, validators
from comptoir.contacts.models import Address, Affiliation, LifecycleStage, Organization, Person
from comptoir.contacts.normalize import digits, fold, search_text, web_domain
from comptoir.kernel import audit, authz, events
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed
from comptoir.kernel.models import ImportJob, ImportPreset

ORGANIZATION = "contacts.organization"
PERSON = "contacts.person"
KINDS = {ORGANIZATION: _("Organizations"), PERSON: _("People")}

MAX_BYTES = getattr(settings, "COMPTOIR_IMPORT_MAX_BYTES", 64 * 1024 * 1024)
MAX_ROWS = getattr(settings, "COMPTOIR_IMPORT_MAX_ROWS", 200_000)
MAX_COLUMNS = 200
# Errors and warnings kept on the job; the counts beyond are summed up in one last line.
MAX_REPORTED = 1000
BATCH_SIZE = 1000
PROGRESS_EVERY = 2000


@dataclass(frozen=True)
class ImportField:
    name: str
    label: Any
    required: bool = False
    max_length: int = 0
    # Headers (folded, punctuation as spaces) that map to this field without asking.
    aliases: tuple[str, ...] = ()


ORGANIZATION_FIELDS = (
    ImportField("external_id", _("External id"), max_length=100,
                aliases=("external id", "id externe", "identifiant", "identifiant externe", "id", "reference", "ref")),
    ImportField("legal_name", _("Legal name"), required=True, max_length=200,
                aliases=("raison sociale", "legal name", "denomination", "denomination sociale", "nom",
                         "name", "company", "company name", "societe", "entreprise", "organisation", "organization")),
    ImportField("trade_name", _("Trade name"), max_length=200,
                aliases=("nom commercial", "trade name", "enseigne")),
    ImportField("siren", _("SIREN"), aliases=("siren", "n siren", "numero siren")),
    ImportField("siret", _("SIRET"), aliases=("siret", "n siret", "numero siret")),
    ImportField("vat_number", _("Intra-EU VAT number"),
                aliases=("tva", "n tva", "tva intracommunautaire", "numero tva", "vat", "vat number")),
    ImportField("naf_code", _("NAF/APE code"),
                aliases=("naf", "ape", "code naf", "code ape", "naf ape", "code naf ape")),
    ImportField("sector", _("Sector"), max_length=100, aliases=("secteur", "sector", "industry", "secteur d activite")),
    ImportField("website", _("Website"), max_length=200, aliases=("site web", "site", "website", "web", "url")),
    ImportField("email", _("Email"), aliases=("email", "e mail", "mail", "courriel", "adresse email")),
    ImportField("phone", _("Phone"), aliases=("telephone", "tel", "phone", "phone number", "standard")),
    ImportField("lifecycle_stage", _("Lifecycle stage"), aliases=("statut", "status", "stage", "cycle de vie")),
    ImportField("notes", _("Notes"), aliases=("notes", "note", "commentaire", "commentaires", "comments")),
    ImportField("address_line1", _("Address"), max_length=200,
                aliases=("adresse", "address", "adresse 1", "address 1", "address line 1", "rue")),
    ImportField("address_line2", _("Address (continued)"), max_length=200,
                aliases=("adresse 2", "address 2", "address line 2", "complement d adresse")),
    ImportField("postal_code", _("Postal code"), max_length=20,
                aliases=("code postal", "cp", "postal code", "zip", "zip code", "postcode")),
    ImportField("city", _("City"), max_length=100, aliases=("ville", "city", "commune", "town")),
    ImportField("country", _("Country"), aliases=("pays", "country", "code pays", "country code")),
)  # fmt: skip

PERSON_FIELDS = (
    ImportField("external_id", _("External id"), max_length=100,
                aliases=("external id", "id externe", "identifiant", "identifiant externe", "id", "reference", "ref")),
    ImportField("first_name", _("First name"), max_length=100,
                aliases=("prenom", "first name", "firstname", "given name")),
    ImportField("last_name", _("Last name"), required=True, max_length=100,
                aliases=("nom", "nom de famille", "last name", "lastname", "surname", "family name", "name")),
    ImportField("email", _("Email"), aliases=("email", "e mail", "mail", "courriel", "adresse email")),
    ImportField("phone", _("Phone"), aliases=("telephone", "tel", "phone", "phone number", "telephone fixe")),
    ImportField("mobile", _("Mobile"), aliases=("mobile", "portable", "telephone mobile", "tel mobile", "cell")),
    ImportField("job_title", _("Job title"), max_length=100,
                aliases=("fonction", "poste", "job title", "title", "titre")),
    ImportField("lifecycle_stage", _("Lifecycle stage"), aliases=("statut", "status", "stage", "cycle de vie")),
    ImportField("organization", _("Organization (external id, SIREN/SIRET or name)"), max_length=200,
                aliases=("societe", "entreprise", "organisation", "organization", "company", "raison sociale",
                         "company name", "siret", "siren", "id societe", "organization id")),
    ImportField("role", _("Role at the organization"), max_length=100, aliases=("role", "role dans l entreprise")),
    ImportField("notes", _("Notes"), aliases=("notes", "note", "commentaire", "commentaires", "comments")),
)  # fmt: skip

FIELDS: dict[str, tuple[ImportField, ...]] = {ORGANIZATION: ORGANIZATION_FIELDS, PERSON: PERSON_FIELDS}

# --- Reading files --------------------------------------------------------------------


def _file_error(message: Any) -> ValidationFailed:
    return ValidationFailed("invalid_file", message, fields={"file": [str(message)]})


@dataclass
class Table:
    headers: list[str]
    rows: Callable[[], Iterator[list[str]]]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # Spreadsheets store "842157638" as 842157638.0.
        return str(int(value))
    return str(value).strip()


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) if the whole file decodes so, else Windows-1252."""
    with path.open("rb") as handle:
        if handle.read(2) in (b"\xff\xfe", b"\xfe\xff"):
            raise _file_error(_("The file's encoding (UTF-16) is not supported: save it as UTF-8 CSV."))
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise _file_error(_("The file's encoding could not be read: save it as UTF-8 CSV."))


def _csv_table(path: Path) -> Table:
    encoding = _csv_encoding(path)
    with path.open(encoding=encoding, newline="") as handle:
        sample = handle.read(64 * 1024)
    if "\x00" in sample:
        raise _file_error(_("This is not a text file: export the sheet as CSV or XLSX."))
    first_line = sample.splitlines()[0] if sample.strip() else ""
    if not first_line.strip():
        raise _file_error(_("The file is empty."))
    delimiter = max((";", ",", "\t"), key=first_line.count)

    def rows() -> Iterator[list[str]]:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            next(reader, None)
            for row in reader:
                yield [cell.strip() for cell in row]

    try:
        with path.open(encoding=encoding, newline="") as handle:
            headers = next(csv.reader(handle, delimiter=delimiter), [])
    except csv.Error as exc:
        raise _file_error(_("The CSV file is malformed: %(reason)s") % {"reason": exc}) from exc
    return Table([h.strip() for h in headers], rows)


def _xlsx_table(path: Path) -> Table:
    import openpyxl

    def open_sheet() -> Any:
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=False)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
            raise _file_error(_("The XLSX file could not be read.")) from exc
        return book, book.worksheets[0]

    book, sheet = open_sheet()
    try:
        first = next(sheet.iter_rows(max_row=1, values_only=True), None)
    finally:
        book.close()
    if first is None:
        raise _file_error(_("The file is empty."))

    def rows() -> Iterator[list[str]]:
        book, sheet = open_sheet()
        try:
            for row in sheet.iter_rows(min_row=2, values_only=True):
                yield [_cell(v) for v in row]
        finally:
            book.close()

    return Table([_cell(v) for v in first], rows)


def open_table(path: Path, filename: str) -> Table:
    """The file's headers and a way to stream its rows; ValidationFailed for a bad file."""
    suffix = Path(filename).suffix.lower()
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:
        raise _file_error(_("The file is empty."))
    if suffix == ".xlsx":
        if not head.startswith(b"PK\x03\x04"):
            raise _file_error(_("The XLSX file could not be read."))
        table = _xlsx_table(path)
    elif suffix in (".csv", ".txt"):
        if head.startswith(b"PK\x03\x04"):
            raise _file_error(_("This is not a text file: export the sheet as CSV or XLSX."))
        table = _csv_table(path)
    else:
        raise _file_error(_("Only CSV and XLSX files can be imported."))
    while table.headers and not table.headers[-1]:
        table.headers.pop()
    if not any(table.headers):
        raise _file_error(_("The first line must hold the column names."))
    if len(table.headers) > MAX_COLUMNS:
        raise _file_error(_("The file has too many columns (at most %(max)d).") % {"max": MAX_COLUMNS})
    seen: set[str] = set()
    for header in table.headers:
        if header and header in seen:
            raise _file_error(_("The column “%(name)s” appears twice.") % {"name": header})
        seen.add(header)
    return table


# --- Mapping --------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _header_key(header: str) -> str:
    return _NON_ALNUM.sub(" ", fold(header)).strip()


def guess_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """{header: field} for the headers recognised (FR/EN); each field at most once."""
    by_alias: dict[str, str] = {}
    for spec in FIELDS[kind]:
        by_alias.setdefault(_header_key(spec.name.replace("_", " ")), spec.name)
        for alias in spec.aliases:
            by_alias.setdefault(alias, spec.name)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        name = by_alias.get(_header_key(header))
        if header and name and name not in used:
            mapping[header] = name
            used.add(name)
    return mapping


def check_mapping(kind: str, headers: list[str], mapping: Any) -> dict[str, str]:
    """The mapping cleaned ({header: field}, ignored columns dropped) or ValidationFailed."""
    if not isinstance(mapping, dict):
        raise ValidationFailed(fields={"mapping": [gettext("The mapping must be an object {column: field}.")]})
    known = {spec.name: spec for spec in FIELDS[kind]}
    problems: list[str] = []
    cleaned: dict[str, str] = {}
    for header, name in mapping.items():
        if not name:
            continue
        if header not in headers:
            problems.append(gettext("“%(name)s” is not a column of the file.") % {"name": header})
        elif name not in known:
            problems.append(gettext("“%(name)s” is not a field that can be imported.") % {"name": name})
        elif name in cleaned.values():
            problems.append(gettext("The field “%(name)s” is mapped to two columns.") % {"name": known[name].label})
        else:
            cleaned[str(header)] = str(name)
    for spec in FIELDS[kind]:
        if spec.required and spec.name not in cleaned.values():
            problems.append(gettext("The required field “%(name)s” is not mapped to a column.") % {"name": spec.label})
    if problems:
        raise ValidationFailed(fields={"mapping": problems})
    return cleaned


# --- Row validation -------------------------------------------------------------------

_NUMBER_LIKE = re.compile(r"^[+-]?[\d\s().]+$")
_COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS) | {"AQ", "BV", "HM", "PN", "GS", "TF", "UM"}
_COUNTRY_NAMES = {"france": "FR", "belgique": "BE", "belgium": "BE", "suisse": "CH", "switzerland": "CH",
                  "allemagne": "DE", "germany": "DE", "espagne": "ES", "spain": "ES", "italie": "IT", "italy": "IT",
                  "luxembourg": "LU", "royaume uni": "GB", "united kingdom": "GB", "pays bas": "NL",
                  "netherlands": "NL", "portugal": "PT", "etats unis": "US", "united states": "US"}  # fmt: skip


def _stage_lookup() -> dict[str, str]:
    lookup = {fold(value): value for value in LifecycleStage.values}
    lookup.update({"client": "customer", "ancien client": "former_customer", "fournisseur": "supplier",
                   "partenaire": "partner", "piste": "lead", "former customer": "former_customer"})  # fmt: skip
    return lookup


_STAGES = _stage_lookup()


def _is_formula(value: str) -> bool:
    """A cell a spreadsheet would run as a formula (CSV injection); phone numbers pass."""
    if value[0] in "=@\t\r":
        return True
    return value[0] in "+-" and not _NUMBER_LIKE.match(value)


def _country(value: str) -> str:
    code = _COUNTRY_NAMES.get(_header_key(value), value.upper())
    if code not in _COUNTRIES:
        raise ValueError(gettext("Unknown country: use a two-letter ISO code such as FR."))
    return code


def _stage(value: str) -> str:
    stage = _STAGES.get(fold(value))
    if stage is None:
        raise ValueError(gettext("Unknown lifecycle stage."))
    return stage


_FRENCH_NUMBER = re.compile(r"^(?:0|\+33\s?|0033\s?)([1-9](?:[\s.-]?\d{2}){4})$")
_french_prefix_valid: dict[str, bool] = {}


def _phone(value: str) -> str:
    """``validators.clean_phone``, with a fast path for French numbers written the usual ways.

    Parsing with phonenumbers costs ~0.1 ms, most of an import's time. A French national
    number has 9 digits and whether it is valid depends on its first digits only (the
    metadata's patterns are prefix ranges), so the verdict of phonenumbers is kept per
    5-digit prefix; anything else goes through ``validators.clean_phone``.
    """
    match = _FRENCH_NUMBER.match(value.strip())
    if match is None:
        return validators.clean_phone(value)
    national = digits(match[1])
    prefix = national[:5]
    valid = _french_prefix_valid.get(prefix)
    if valid is None:
        try:
            validators.clean_phone(f"0{national}")
            valid = True
        except ValueError:
            valid = False
        _french_prefix_valid[prefix] = valid
    if not valid:
        return validators.clean_phone(value)  # raises with the validators' own message
    return f"+33{national}"


def _national_digits(e164: str) -> str:
    """``validators.phone_national_digits`` without parsing for French numbers (+33 → 0)."""
    if len(e164) == 12 and e164.startswith("+33"):
        return f"0{e164[3:]}"
    return validators.phone_national_digits(e164)


def person_search_text(person: Person) -> str:
    """What ``services.person_search_text`` gives (a test holds them equal), at import speed."""
    return _person_text({name: getattr(person, name) for name in _PERSON_TEXT})


_PERSON_TEXT = ("first_name", "last_name", "email", "phone", "mobile", "job_title", "external_id", "notes")
_PERSON_INSERT = (*_PERSON_TEXT, "lifecycle_stage", "search_text")


def _person_text(v: dict[str, str]) -> str:
    return search_text(
        v["first_name"], v["last_name"], v["email"], v["phone"], _national_digits(v["phone"]),
        v["mobile"], _national_digits(v["mobile"]), v["job_title"], v["external_id"],
    )  # fmt: skip


def organization_search_text(org: Organization) -> str:
    """What ``services.organization_search_text`` gives (a test holds them equal), at import speed."""
    return search_text(
        org.legal_name, org.trade_name, org.siren, org.siret, org.vat_number, org.email, org.phone,
        _national_digits(org.phone), org.web_domain, org.external_id,
    )  # fmt: skip


# The same checks as the services (contacts.validators); the country must also be a known one.
_CLEANERS: dict[str, Callable[[str], str]] = {
    "email": validators.clean_email,
    "phone": _phone,
    "mobile": _phone,
    "siren": validators.clean_siren,
    "siret": validators.clean_siret,
    "vat_number": validators.clean_vat,
    "website": validators.clean_website,
    "country": _country,
    "naf_code": validators.clean_naf,
    "lifecycle_stage": _stage,
}


def clean_row(kind: str, data: dict[str, str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Validate one mapped row: (cleaned values, [(field, message)]). Pure Python, no query."""
    cleaned: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for spec in FIELDS[kind]:
        if spec.name not in data:
            continue
        value = data[spec.name]
        if not value:
            if spec.required:
                errors.append((spec.name, gettext("This field is required.")))
            cleaned[spec.name] = ""
            continue
        if "\x00" in value:
            errors.append((spec.name, gettext("Null characters are not allowed.")))
            continue
        if _is_formula(value):
            errors.append((spec.name, gettext("This value looks like a spreadsheet formula; it was refused.")))
            continue
        cleaner = _CLEANERS.get(spec.name)
        if cleaner is not None:
            try:
                value = cleaner(value)
            except ValueError as exc:
                errors.append((spec.name, str(exc)))
                continue
        if spec.max_length and len(value) > spec.max_length:
            errors.append((spec.name, gettext("Too long (at most %(max)d characters).") % {"max": spec.max_length}))
            continue
        cleaned[spec.name] = value
    if kind == ORGANIZATION and cleaned.get("siret"):
        siren = cleaned.get("siren") or cleaned["siret"][:9]
        if siren != cleaned["siret"][:9]:
            errors.append(("siret", gettext("The SIRET does not start with the SIREN.")))
        else:
            cleaned["siren"] = siren
    if kind == ORGANIZATION and (cleaned.get("address_line1") or cleaned.get("city")):
        for name in ("address_line1", "city"):
            if not cleaned.get(name) and not any(f == name for f, _m in errors):
                errors.append((name, gettext("An address needs both a street and a city.")))
    return cleaned, errors


# --- Running an import ----------------------------------------------------------------


@dataclass
class Report:
    total: int = 0
    processed: int = 0
    error_rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0

    def error(self, row: int, name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append({"row": row, "field": name, "message": message})

    def warn(self, row: int, name: str, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_REPORTED:
            self.warnings.append({"row": row, "field": name, "message": message})

    def closed(self, items: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
        if count > len(items):
            more = gettext("… and %(n)d more.") % {"n": count - len(items)}
            return [*items, {"row": None, "field": "", "message": more}]
        return items


class _Abort(Exception):
    """Raised inside the import transaction to roll every write back."""


def _progress_path(job: ImportJob) -> Path | None:
    return Path(f"{job.file_path}.progress") if job.file_path else None


def live_progress(job: ImportJob) -> int:
    """Rows processed so far: the import transaction cannot show it to others, a side file can."""
    path = _progress_path(job)
    if job.status in (ImportJob.Status.VALIDATING, ImportJob.Status.IMPORTING) and path and path.exists():
        try:
            return max(job.processed_rows, int(path.read_text() or 0))
        except (OSError, ValueError):
            return job.processed_rows
    return job.processed_rows


# Columns read once per import: what search_text and the update of a re-imported row need.
_ORG_KEPT = ("external_id", "legal_name", "trade_name", "siren", "siret", "vat_number", "email", "phone", "website",
             "web_domain")  # fmt: skip
_PERSON_KEPT = ("external_id", "first_name", "last_name", "email", "phone", "mobile", "job_title")


class _Keys:
    """Keys of the company's existing rows, read once: duplicates and re-imports by set lookups."""

    def __init__(self, company_id: int, kind: str, actor: Actor) -> None:
        self.by_external: dict[str, dict[str, Any]] = {}
        self.email: dict[str, int] = {}
        self.phone: dict[str, int] = {}
        self.siren: dict[str, int] = {}
        self.siret: dict[str, int] = {}
        self.vat: dict[str, int] = {}
        # Organizations a person may point at: by external id, SIRET, SIREN, folded name.
        self.org_external: dict[str, int] = {}
        self.org_siret: dict[str, int] = {}
        self.org_siren: dict[str, list[int]] = {}
        self.org_name: dict[str, list[int]] = {}
        self.kind = kind
        live = {"company_id": company_id, "merged_into__isnull": True}
        # Record rules: an importer who may not see every contact neither updates nor links others' rows.
        self.hidden_orgs: set[int] = set()
        self.hidden_people: set[int] = set()
        if not actor.has_perm(selectors.VIEW_ALL):
            seen_orgs = selectors.visible_organizations(actor).values("pk")
            self.hidden_orgs = set(
                Organization.objects.filter(**live).exclude(pk__in=seen_orgs).values_list("pk", flat=True)
            )
            if kind == PERSON:
                seen_people = selectors.visible_people(actor).values("pk")
                self.hidden_people = set(
                    Person.objects.filter(**live).exclude(pk__in=seen_people).values_list("pk", flat=True)
                )
        org_columns = ("id", *_ORG_KEPT)
        for row in Organization.objects.filter(**live).values(*org_columns).iterator(chunk_size=5000):
            pk = row["id"]
            if kind == PERSON and pk in self.hidden_orgs:
                continue
            if row["external_id"]:
                self.org_external[row["external_id"]] = pk
            if row["siret"]:
                self.org_siret.setdefault(row["siret"], pk)
            if row["siren"]:
                self.org_siren.setdefault(row["siren"], []).append(pk)
            for name in {fold(row["legal_name"]), fold(row["trade_name"])} - {""}:
                self.org_name.setdefault(name, []).append(pk)
            if kind == ORGANIZATION:
                self._remember(row)
                if row["siren"]:
                    self.siren.setdefault(row["siren"], pk)
                if row["siret"]:
                    self.siret.setdefault(row["siret"], pk)
                if row["vat_number"]:
                    self.vat.setdefault(row["vat_number"], pk)
        if kind == PERSON:
            person_columns = ("id", *_PERSON_KEPT)
            for row in Person.objects.filter(**live).values(*person_columns).iterator(chunk_size=5000):
                self._remember(row)
                if row["mobile"]:
                    self.phone.setdefault(row["mobile"], row["id"])

    @property
    def hidden(self) -> set[int]:
        return self.hidden_people if self.kind == PERSON else self.hidden_orgs

    def _remember(self, row: dict[str, Any]) -> None:
        if row["external_id"]:
            self.by_external[row["external_id"]] = row
        if row["email"]:
            self.email.setdefault(row["email"], row["id"])
        if row["phone"]:
            self.phone.setdefault(row["phone"], row["id"])


def _resolve_organization(keys: _Keys, ref: str) -> tuple[int | None, str]:
    """The organization a person row points at (external id, SIRET, SIREN or name), or why not."""
    if ref in keys.org_external:
        return keys.org_external[ref], ""
    number = digits(ref)
    if len(number) == 14 and number == ref.replace(" ", "") and number in keys.org_siret:
        return keys.org_siret[number], ""
    if len(number) == 9 and number == ref.replace(" ", "") and number in keys.org_siren:
        found = keys.org_siren[number]
        return (found[0], "") if len(found) == 1 else (None, gettext("Several organizations have this SIREN."))
    found = keys.org_name.get(fold(ref), [])
    if len(found) == 1:
        return found[0], ""
    if found:
        return None, gettext("Several organizations have this name: use the external id or SIRET.")
    return None, gettext("No organization matches (external id, SIREN/SIRET or name).")


@dataclass
class _Batch:
    creates: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    updates: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.creates) + len(self.updates)


class _Importer:
    def __init__(self, job: ImportJob, actor: Actor, *, commit: bool, table: Table) -> None:
        self.job = job
        self.actor = actor
        self.commit = commit
        self.table = table
        self.kind = job.kind
        self.report = Report()
        self.now = timezone.now()
        self.company_id: int = job.company_id
        self.now_db = Person._meta.get_field("created_at").get_db_prep_save(self.now, transaction.get_connection())  # type: ignore[union-attr]
        self.columns = [(table.headers.index(h), name) for h, name in job.mapping.items() if h in table.headers]
        self.mapped = {name for _i, name in self.columns}
        if "siret" in self.mapped:
            self.mapped.add("siren")  # derived from the SIRET
        self.progress_file = _progress_path(job)

    # -- the pass over the file --

    def run(self) -> Report:
        keys = _Keys(self.company_id, self.kind, self.actor)
        seen_external: dict[str, int] = {}
        seen: dict[tuple[str, str], int] = {}
        batch = _Batch()
        report = self.report
        for number, raw in enumerate(self.table.rows(), start=2):
            if not any(raw):
                continue  # blank lines of spreadsheets
            report.total += 1
            if report.total > MAX_ROWS:
                report.error(number, "", gettext("The file has too many rows (at most %(max)d).") % {"max": MAX_ROWS})
                break
            data = {name: (raw[index] if index < len(raw) else "") for index, name in self.columns}
            cleaned, problems = clean_row(self.kind, data)
            row_ok = not problems
            for name, message in problems:
                report.error(number, name, message)
            external = cleaned.get("external_id", "")
            if external:
                if external in seen_external:
                    row_ok = False
                    message = gettext("Same external id as row %(row)d.") % {"row": seen_external[external]}
                    report.error(number, "external_id", message)
                else:
                    seen_external[external] = number
            existing = keys.by_external.get(external) if external else None
            if existing is not None and existing["id"] in keys.hidden:
                row_ok = False
                report.error(number, "external_id", gettext("This external id belongs to a contact you may not see."))
            if self.kind == PERSON and cleaned.get("organization"):
                org_id, why = _resolve_organization(keys, cleaned["organization"])
                if org_id is None:
                    row_ok = False
                    report.error(number, "organization", why)
                cleaned["organization_id"] = str(org_id or "")
            self._duplicates(number, cleaned, existing, keys, seen)
            if not row_ok:
                report.error_rows += 1
            elif existing is not None:
                report.updated += 1
                batch.updates.append((cleaned, existing))
            else:
                report.created += 1
                batch.creates.append((cleaned, {}))
            report.processed += 1
            if len(batch) >= BATCH_SIZE:
                self._flush(batch)
                batch = _Batch()
            if report.processed % PROGRESS_EVERY == 0:
                self._progress()
        self._flush(batch)
        return report

    def _duplicates(
        self,
        number: int,
        cleaned: dict[str, str],
        existing: dict[str, Any] | None,
        keys: _Keys,
        seen: dict[tuple[str, str], int],
    ) -> None:
        own_id = existing["id"] if existing else None
        checks = [("email", keys.email), ("phone", keys.phone)]
        if self.kind == PERSON:
            checks.append(("mobile", keys.phone))
        else:
            checks += [("siret", keys.siret), ("vat_number", keys.vat)]
            if not cleaned.get("siret"):
                checks.append(("siren", keys.siren))
        for name, index in checks:
            value = cleaned.get(name)
            if not value:
                continue
            key = ("phone" if name == "mobile" else name, value)
            if key in seen:
                message = gettext("Same value as row %(row)d: probably a duplicate.") % {"row": seen[key]}
                self.report.warn(number, name, message)
            else:
                seen[key] = number
            other = index.get(value)
            if other is not None and other != own_id:
                message = gettext("A contact with this value exists already (#%(id)d): probably a duplicate.")
                message %= {"id": other}
                self.report.warn(number, name, message)

    def _progress(self) -> None:
        done = self.report.processed
        if self.progress_file is not None:
            try:
                self.progress_file.write_text(str(done))
            except OSError:
                pass
        ImportJob.objects.filter(pk=self.job.pk).update(processed_rows=done)

    # -- writes --

    def _flush(self, batch: _Batch) -> None:
        # Once a row failed, the transaction will be rolled back: stop writing, keep checking.
        if not self.commit or self.report.error_count or not len(batch):
            return
        if self.kind == PERSON:
            self._write_people(batch)
        else:
            self._write_organizations(batch)

    def _party_values(self, cleaned: dict[str, str]) -> dict[str, Any]:
        fields = ("external_id", "email", "phone", "lifecycle_stage", "notes")
        return {name: cleaned[name] for name in fields if name in self.mapped and name in cleaned}

    def _write_people(self, batch: _Batch) -> None:
        names = ("first_name", "last_name", "job_title", "mobile")
        affiliations: list[Affiliation] = []
        # New people go in with plain multi-row INSERTs: the ORM's bulk_create spent more time
        # building model instances and compiling SQL than the database spent writing.
        now = self.now_db
        rows: list[list[Any]] = []
        for cleaned, _row in batch.creates:
            v = {n: cleaned.get(n, "") for n in _PERSON_TEXT}
            v["lifecycle_stage"] = cleaned.get("lifecycle_stage") or LifecycleStage.PROSPECT
            v["search_text"] = _person_text(v)
            rows.append([self.company_id, self.actor.user_id, False, False, now, now, *(v[n] for n in _PERSON_INSERT)])
        ids = _insert_many(Person, ["company_id", "owner_id", "do_not_contact", "is_archived", "created_at",
                                    "updated_at", *_PERSON_INSERT], rows)  # fmt: skip
        links = [
            [pk, int(cleaned["organization_id"]), cleaned.get("role", ""), True, now, now]
            for pk, (cleaned, _row) in zip(ids, batch.creates, strict=True)
            if cleaned.get("organization_id")
        ]
        _insert_many(Affiliation, ["person_id", "organization_id", "role", "is_primary", "created_at", "updated_at"],
                     links, returning=False)  # fmt: skip
        updated: list[Person] = []
        update_fields = {n for n in (*names, "email", "phone", "lifecycle_stage", "notes") if n in self.mapped}
        for cleaned, row in batch.updates:
            merged = {**row, **{n: cleaned[n] for n in update_fields if n in cleaned}}
            person = Person(pk=row["id"], updated_at=self.now, **{n: merged[n] for n in _PERSON_KEPT})
            person.search_text = person_search_text(person)
            updated.append(person)
            if cleaned.get("organization_id"):
                affiliations.append(
                    Affiliation(person_id=row["id"], organization_id=int(cleaned["organization_id"]),
                                role=cleaned.get("role", ""))
                )  # fmt: skip
        if updated:
            _update_many(Person, [*update_fields, "search_text", "updated_at"], updated)
        if affiliations:
            Affiliation.objects.bulk_create(affiliations, batch_size=BATCH_SIZE, ignore_conflicts=True)

    def _write_organizations(self, batch: _Batch) -> None:
        names = ("legal_name", "trade_name", "siren", "siret", "vat_number", "naf_code", "sector", "website")
        created: list[tuple[Organization, dict[str, str]]] = []
        for cleaned, _row in batch.creates:
            values = {**self._party_values(cleaned), **{n: cleaned[n] for n in names if n in cleaned}}
            org = Organization(company_id=self.company_id, owner_id=self.actor.user_id, **values)
            org.web_domain = web_domain(org.website or org.email)
            org.search_text = organization_search_text(org)
            created.append((org, cleaned))
        Organization.objects.bulk_create([o for o, _c in created], batch_size=BATCH_SIZE)
        addresses = [_address(org.pk, cleaned) for org, cleaned in created if cleaned.get("address_line1")]
        updated: list[Organization] = []
        update_fields = {n for n in (*names, "email", "phone", "lifecycle_stage", "notes") if n in self.mapped}
        readdress: dict[int, dict[str, str]] = {}
        for cleaned, row in batch.updates:
            merged = {**row, **{n: cleaned[n] for n in update_fields if n in cleaned}}
            org = Organization(pk=row["id"], updated_at=self.now, **{n: merged[n] for n in _ORG_KEPT})
            org.web_domain = web_domain(org.website or org.email)
            org.search_text = organization_search_text(org)
            updated.append(org)
            if cleaned.get("address_line1"):
                readdress[row["id"]] = cleaned
        if updated:
            fields = [*update_fields, "web_domain", "search_text", "updated_at"]
            _update_many(Organization, fields, updated)
        if readdress:
            # Re-import replaces the default billing address; one query for the whole batch.
            current = {
                a.organization_id: a
                for a in Address.objects.filter(
                    organization_id__in=readdress, kind=Address.Kind.BILLING, is_default=True
                )
            }
            changed = []
            for org_id, cleaned in readdress.items():
                if org_id in current:
                    address = current[org_id]
                    for name, value in _address_values(cleaned).items():
                        setattr(address, name, value)
                    address.updated_at = self.now
                    changed.append(address)
                else:
                    addresses.append(_address(org_id, cleaned))
            if changed:
                _update_many(Address, [*_ADDRESS_FIELDS, "updated_at"], changed)
        if addresses:
            Address.objects.bulk_create(addresses, batch_size=BATCH_SIZE)


def _insert_many(
    model: type[models.Model], fields: list[str], rows: list[list[Any]], *, returning: bool = True
) -> list[int]:
    """Multi-row INSERTs of ready values (str, bool, int, None, prepared dates); the new ids in order."""
    if not rows:
        return []
    connection = transaction.get_connection()
    meta = model._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)  # type: ignore[union-attr]
    one = "({})".format(", ".join(["%s"] * len(fields)))
    size = max(1, min(BATCH_SIZE, (connection.features.max_query_params or 30_000) // len(fields)))
    tail = f" RETURNING {quote(meta.pk.column)}" if returning else ""
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            # Names come from the model's metadata; values are parameters.
            sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join([one] * len(chunk))}{tail}"  # noqa: S608
            cursor.execute(sql, [value for row in chunk for value in row])
            if returning:
                ids.extend(row[0] for row in cursor.fetchall())
    return ids


def _update_many(model: type[models.Model], fields: list[str], rows: list[Any]) -> None:
    """One UPDATE per row by primary key, sent with ``executemany``.

    ``bulk_update`` builds a CASE WHEN per field over the whole batch: its compile time grows
    with batch × fields and dominated a re-import (100,000 updates took minutes).
    """
    connection = transaction.get_connection()
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    # Names come from the model's metadata; values are parameters.
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608
        quote(meta.db_table),
        ", ".join(f"{quote(col.column)} = %s" for col in columns),  # type: ignore[union-attr]
        quote(meta.pk.column),
    )
    params = [
        [col.get_db_prep_save(getattr(row, col.attname), connection) for col in columns] + [row.pk]  # type: ignore[union-attr]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


_ADDRESS_FIELDS = ("line1", "line2", "postal_code", "city", "country")


def _address_values(cleaned: dict[str, str]) -> dict[str, str]:
    return {
        "line1": cleaned.get("address_line1", ""),
        "line2": cleaned.get("address_line2", ""),
        "postal_code": cleaned.get("postal_code", ""),
        "city": cleaned.get("city", ""),
        "country": cleaned.get("country") or "FR",
    }


def _address(org_id: int, cleaned: dict[str, str]) -> Address:
    return Address(organization_id=org_id, kind=Address.Kind.BILLING, is_default=True, **_address_values(cleaned))


# --- Services and selectors -----------------------------------------------------------


def _require_import(actor: Actor) -> None:
    authz.require(actor, "contacts.import_contacts")


def _check_kind(kind: str) -> None:
    if kind not in FIELDS:
        choices = ", ".join(FIELDS)
        raise ValidationFailed(fields={"kind": [gettext("Choose one of: %(choices)s.") % {"choices": choices}]})


def _storage_dir(company_id: int) -> Path:
    path = Path(settings.DATA_DIR) / "imports" / str(company_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_job_get(actor: Actor, job_id: int) -> ImportJob:
    """An import of the actor's company (another company's is a 404)."""
    _require_import(actor)
    job = ImportJob.objects.filter(pk=job_id, company_id=actor.company_id, kind__in=list(FIELDS)).first()
    if job is None:
        raise NotFound()
    return job


def import_job_list(actor: Actor, limit: int = 20) -> list[ImportJob]:
    _require_import(actor)
    return list(ImportJob.objects.filter(company_id=actor.company_id, kind__in=list(FIELDS))[:limit])


def job_table(job: ImportJob) -> Table:
    if not job.file_path or not Path(job.file_path).exists():
        raise Conflict("file_gone", _("The imported file is no longer kept: upload it again."))
    return open_table(Path(job.file_path), job.filename)


def preview(job: ImportJob, rows: int = 10) -> dict[str, Any]:
    """The headers, the first rows as read, and the same rows mapped to fields."""
    table = job_table(job)
    raw: list[list[str]] = []
    for row in table.rows():
        if any(row):
            raw.append(row)
        if len(raw) >= rows:
            break
    index = {h: i for i, h in enumerate(table.headers)}
    mapped = [
        {name: (row[index[h]] if index[h] < len(row) else "") for h, name in job.mapping.items() if h in index}
        for row in raw
    ]
    return {"headers": table.headers, "rows": raw, "mapped": mapped}


def import_job_create(
    *, actor: Actor, kind: str, filename: str, content: bytes, mapping: dict[str, str] | None = None
) -> ImportJob:
    """Keep the uploaded file and create the job, with the mapping given or guessed."""
    _require_import(actor)
    _check_kind(kind)
    if len(content) > MAX_BYTES:
        raise _file_error(_("The file is too large (at most %(mb)d MB).") % {"mb": MAX_BYTES // (1024 * 1024)})
    safe_name = Path(filename or "").name[:200] or "import"
    suffix = Path(safe_name).suffix.lower()
    if suffix not in (".csv", ".txt", ".xlsx"):
        raise _file_error(_("Only CSV and XLSX files can be imported."))
    path = _storage_dir(actor.company_id or 0) / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(content)
    try:
        table = open_table(path, safe_name)
        total = sum(1 for row in table.rows() if any(row))
        if total == 0:
            raise _file_error(_("The file has no data rows under its header line."))
        if total > MAX_ROWS:
            raise _file_error(_("The file has too many rows (at most %(max)d).") % {"max": MAX_ROWS})
        cleaned = check_mapping(kind, table.headers, mapping) if mapping else guess_mapping(kind, table.headers)
    except (ValidationFailed, csv.Error, OSError) as exc:
        path.unlink(missing_ok=True)
        if isinstance(exc, ValidationFailed):
            raise
        raise _file_error(_("The file could not be read.")) from exc
    with transaction.atomic():
        job = ImportJob.objects.create(
            company_id=actor.company_id, user_id=actor.user_id or 0, kind=kind, filename=safe_name,
            file_path=str(path), mapping=cleaned, total_rows=total,
        )  # fmt: skip
        audit.record(actor, "contacts.import_upload", job, changes={"kind": kind, "filename": safe_name, "rows": total})
    return job


_EDITABLE = (ImportJob.Status.UPLOADED, ImportJob.Status.VALIDATED, ImportJob.Status.FAILED)


def import_job_set_mapping(*, actor: Actor, job_id: int, mapping: Any) -> ImportJob:
    with transaction.atomic():
        job = import_job_get(actor, job_id)
        if job.status not in _EDITABLE:
            raise Conflict("import_busy", _("This import is running or finished: its mapping cannot change."))
        cleaned = check_mapping(job.kind, job_table(job).headers, mapping)
        before = job.mapping
        job.mapping = cleaned
        job.status = ImportJob.Status.UPLOADED
        job.errors, job.warnings = [], []
        job.processed_rows = job.created_count = job.updated_count = 0
        job.save()
        audit.record(actor, "contacts.import_mapping", job, changes={"mapping": [before, cleaned]})
    return job


def _start(actor: Actor, job_id: int, *, commit: bool) -> ImportJob:
    from comptoir.contacts.tasks_import import run_import

    with transaction.atomic():
        job = import_job_get(actor, job_id)
        if commit:
            if job.status != ImportJob.Status.VALIDATED:
                raise Conflict("not_checked", _("Run the dry run first; the file is imported after it passes."))
            if job.errors:
                raise Conflict("has_errors", _("The dry run found errors: correct the file and upload it again."))
            job.status = ImportJob.Status.IMPORTING
        else:
            if job.status not in _EDITABLE:
                raise Conflict("import_busy", _("This import is running or finished."))
            job.status = ImportJob.Status.VALIDATING
        check_mapping(job.kind, job_table(job).headers, job.mapping)
        job.processed_rows = 0
        job.save(update_fields=["status", "processed_rows", "updated_at"])
    # Enqueued after the state change committed: the worker must see it.
    run_import.enqueue(job.pk, commit)
    job.refresh_from_db()
    return job


def import_job_validate(*, actor: Actor, job_id: int) -> ImportJob:
    """Start the dry run (a task): every row checked, nothing written."""
    return _start(actor, job_id, commit=False)


def import_job_commit(*, actor: Actor, job_id: int) -> ImportJob:
    """Start the import (a task) of a job whose dry run passed."""
    return _start(actor, job_id, commit=True)


def run_job(job_id: int, *, commit: bool) -> dict[str, Any]:
    """The task's body: checks (and writes, when committing) every row of the job's file."""
    from comptoir.kernel.context import Channel
    from comptoir.org.models import User
    from comptoir.org.selectors import build_actor

    job = ImportJob.objects.get(pk=job_id)
    user = User.objects.filter(pk=job.user_id).first()
    expected = ImportJob.Status.IMPORTING if commit else ImportJob.Status.VALIDATING
    if user is None or job.status != expected:
        return {"status": job.status}
    actor = build_actor(user, job.company_id, Channel.IMPORT)
    # The report is stored as text: write it in the language of the user who runs the import.
    with translation.override(user.language or None):
        return _run(job, actor, commit=commit)


def _run(job: ImportJob, actor: Actor, *, commit: bool) -> dict[str, Any]:
    try:
        if actor.company_id != job.company_id:
            raise NotFound()
        _require_import(actor)
        importer = _Importer(job, actor, commit=commit, table=job_table(job))
        if commit:
            try:
                with transaction.atomic():
                    report = importer.run()
                    if report.error_count:
                        raise _Abort()
                    audit.record(
                        actor, "contacts.import", job,
                        changes={"kind": job.kind, "filename": job.filename, "rows": report.total,
                                 "created": report.created, "updated": report.updated},
                    )  # fmt: skip
                    events.publish(
                        "contacts.imported", company_id=job.company_id,
                        payload={"job_id": job.pk, "kind": job.kind, "created": report.created,
                                 "updated": report.updated},
                    )  # fmt: skip
                    _finish(job, report, ImportJob.Status.DONE)
            except _Abort:
                report.created = report.updated = 0
                _finish(job, report, ImportJob.Status.FAILED)
        else:
            report = importer.run()
            _finish(job, report, ImportJob.Status.VALIDATED)
    except Exception as exc:  # the job must end in a state the user can read, whatever happened
        from comptoir.kernel.errors import DomainError

        message = exc.message if isinstance(exc, DomainError) else gettext("The import failed unexpectedly.")
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, errors=[{"row": None, "field": "", "message": str(message)}],
            finished_at=timezone.now(),
        )  # fmt: skip
        if not isinstance(exc, DomainError):
            raise
    job.refresh_from_db()
    return {"status": job.status, "created": job.created_count, "updated": job.updated_count}


def _finish(job: ImportJob, report: Report, status: str) -> None:
    job.status = status
    job.total_rows = report.total
    job.processed_rows = report.processed
    job.created_count = report.created
    job.updated_count = report.updated
    job.errors = report.closed(report.errors, report.error_count)
    job.warnings = report.closed(report.warnings, report.warning_count)
    if status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
        job.finished_at = timezone.now()
    job.save()
    progress = _progress_path(job)
    if progress is not None:
        progress.unlink(missing_ok=True)
    if status == ImportJob.Status.DONE and job.file_path:
        # Kept until done: after a successful import nobody needs it any more.
        transaction.on_commit(lambda: Path(job.file_path).unlink(missing_ok=True))


def import_presets(actor: Actor, kind: str) -> list[ImportPreset]:
    _require_import(actor)
    return list(ImportPreset.objects.filter(company_id=actor.company_id, kind=kind))


def import_preset_get(actor: Actor, preset_id: int) -> ImportPreset:
    _require_import(actor)
    preset = ImportPreset.objects.filter(pk=preset_id, company_id=actor.company_id).first()
    if preset is None:
        raise NotFound()
    return preset


def import_preset_save(*, actor: Actor, kind: str, name: str, mapping: Any) -> ImportPreset:
    """Save (or replace) a named mapping for ``kind``."""
    _require_import(actor)
    _check_kind(kind)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(fields={"name": [gettext("Give the preset a name of at most 100 characters.")]})
    headers = list(mapping) if isinstance(mapping, dict) else []
    cleaned = check_mapping(kind, headers, mapping)
    with transaction.atomic():
        preset, created = ImportPreset.objects.update_or_create(
            company_id=actor.company_id, kind=kind, name=name, defaults={"mapping": cleaned}
        )
        audit.record(actor, "contacts.import_preset_save", preset, changes={"mapping": cleaned, "created": created})
    return preset


def rows_as_csv(rows: list[list[str]], delimiter: str = ";") -> bytes:
    """A CSV file's bytes from rows (tests and the benchmark)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()

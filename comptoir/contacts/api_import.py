"""Contacts import API (upload, dry run, commit, status) and GDPR endpoints (export, erase)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Path, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from comptoir.contacts import gdpr, imports
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.models import ImportJob

router = apikit.module_router("contacts")

ObjectId = Path(..., ge=1, le=MAX_ID)


class ImportIssueOut(Schema):
    row: int | None = Field(description="Line of the file (the header is line 1); null for the whole file.")
    field: str
    message: str


class ImportJobOut(Schema):
    id: int
    kind: str
    filename: str
    status: str
    mapping: dict[str, str] = Field(description="{column of the file: field}")
    total_rows: int
    processed_rows: int
    created_count: int = Field(description="Rows created (after a dry run: rows that would be).")
    updated_count: int = Field(description="Rows updated by external id (after a dry run: rows that would be).")
    errors: list[ImportIssueOut]
    warnings: list[ImportIssueOut] = Field(description="Probable duplicates, in the file or with existing contacts.")
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_processed_rows(job: ImportJob) -> int:
        return imports.live_progress(job)


@router.post("/imports", response=responses(ImportJobOut, status=201), summary="Upload a file to import")
def import_create(
    request: HttpRequest,
    file: UploadedFile = File(..., description="CSV (; or , separated) or XLSX, first line = column names."),  # noqa: B008
    kind: Literal["contacts.organization", "contacts.person"] = Form(...),
    mapping: str | None = Form(None, description='JSON {"column": "field"}; guessed from the headers if absent.'),
) -> Status:
    """Keeps the file and returns the job (status `uploaded`); then call `validate`, then `commit`."""
    parsed: Any = None
    if mapping:
        try:
            parsed = json.loads(mapping)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ValidationFailed(fields={"mapping": [_("The mapping must be a JSON object {column: field}.")]})
    if file.size and file.size > imports.MAX_BYTES:
        raise ValidationFailed(fields={"file": [_("The file is too large.")]})
    job = imports.import_job_create(
        actor=apikit.actor(request), kind=kind, filename=file.name or "", content=file.read(), mapping=parsed
    )
    return Status(201, job)


@router.get("/imports/{job_id}", response=responses(ImportJobOut), summary="Status, counts and report of an import")
def import_get(request: HttpRequest, job_id: int = ObjectId) -> ImportJob:
    return imports.import_job_get(apikit.actor(request), job_id)


class MappingIn(InputSchema):
    mapping: dict[str, str] = Field(description="{column of the file: field}; columns left out are ignored.")


@router.put("/imports/{job_id}/mapping", response=responses(ImportJobOut), summary="Change the column mapping")
def import_set_mapping(request: HttpRequest, payload: MappingIn, job_id: int = ObjectId) -> ImportJob:
    return imports.import_job_set_mapping(actor=apikit.actor(request), job_id=job_id, mapping=payload.mapping)


@router.post("/imports/{job_id}/validate", response=responses(ImportJobOut), summary="Dry run")
def import_validate(request: HttpRequest, job_id: int = ObjectId) -> ImportJob:
    """Checks every row in the background (poll `GET /imports/{id}`); nothing is written."""
    return imports.import_job_validate(actor=apikit.actor(request), job_id=job_id)


@router.post("/imports/{job_id}/commit", response=responses(ImportJobOut), summary="Import (all or nothing)")
def import_commit(request: HttpRequest, job_id: int = ObjectId) -> ImportJob:
    """Only after a dry run without errors (409 otherwise). One transaction: any error and nothing is written."""
    return imports.import_job_commit(actor=apikit.actor(request), job_id=job_id)


# --- GDPR -----------------------------------------------------------------------------


@router.get(
    "/people/{person_id}/personal-data", response=responses(dict[str, Any]), summary="Everything held about a person"
)
def person_personal_data(request: HttpRequest, person_id: int = ObjectId) -> dict[str, Any]:
    return gdpr.person_export(apikit.actor(request), person_id)


class EraseIn(InputSchema):
    mode: Literal["anonymize", "delete"] = "anonymize"


class EraseOut(Schema):
    id: int
    mode: str
    deleted: bool


@router.post("/people/{person_id}/erase", response=responses(EraseOut), summary="Erase a person's personal data")
def person_erase(request: HttpRequest, payload: EraseIn, person_id: int = ObjectId) -> dict[str, Any]:
    """409 `retention_applies` while a legal retention keeps the person."""
    person = gdpr.person_erase(actor=apikit.actor(request), person_id=person_id, mode=payload.mode)
    return {"id": person_id, "mode": payload.mode, "deleted": person is None}

"""Accounting report API (/api/v1/accounting/fec…): FEC download and FEC checker."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, File, Form, Query, Schema
from ninja.files import UploadedFile

from comptoir.accounting import fec_check, fec_export
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses

router = apikit.module_router("accounting")


class FecParams(InputSchema):
    model_config = {"extra": "ignore"}

    fiscal_year: int | None = Field(None, ge=1, le=MAX_ID, description="Id of the fiscal year (see /fiscal-years).")
    year: int | None = Field(None, ge=1900, le=2999, description="Or the calendar year the fiscal year ends in.")
    date_from: dt.date | None = Field(None, description="Or a date range: first day…")
    date_to: dt.date | None = Field(None, description="…and last day (names the file).")


@router.get(
    "/fec",
    response=responses(None),
    summary="Download the FEC of a fiscal year",
    openapi_extra={"responses": {200: {"description": "The FEC file (text/plain, ISO-8859-15, tab-separated)",
                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}},
)  # fmt: skip
def fec_download(request: HttpRequest, params: Query[FecParams]) -> Any:
    """Every posted entry of the fiscal year, opening entries first then in posting order,
    streamed as `<SIREN>FEC<closing date>.txt`. Needs `accounting.export`."""
    export = fec_export.prepare(
        apikit.actor(request), fiscal_year_id=params.fiscal_year, year=params.year, date_from=params.date_from,
        date_to=params.date_to,
    )  # fmt: skip
    return fec_export.streaming_response(export)


class FecIssueOut(Schema):
    code: str
    line: int | None
    column: str | None
    message: str


class FecReportOut(Schema):
    ok: bool
    filename: str | None
    encoding: str | None
    separator: str | None
    line_ending: str | None
    lines: int
    entries: int
    total_debit: str
    total_credit: str
    error_count: int
    warning_count: int
    counts: dict[str, int]
    not_listed: dict[str, int]
    errors: list[FecIssueOut]
    warnings: list[FecIssueOut]


@router.post("/fec/check", response=responses(FecReportOut), summary="Check a FEC file")
def fec_check_upload(
    request: HttpRequest,
    file: File[UploadedFile],
    fiscal_year_start: Form[dt.date | None] = None,
    fiscal_year_end: Form[dt.date | None] = None,
) -> Any:
    """Upload any FEC file (multipart, field `file`); the answer lists every problem with its
    line (the first 100 of each kind; `counts` counts them all). Empty, binary or too big
    files are refused with 422 on `file`."""
    assert file.file is not None  # an upload always has its file
    report = fec_check.check_upload(
        apikit.actor(request), file.file, name=file.name or "", size=file.size,
        fiscal_year_start=fiscal_year_start, fiscal_year_end=fiscal_year_end,
    )  # fmt: skip
    return fec_check.report_data(report)

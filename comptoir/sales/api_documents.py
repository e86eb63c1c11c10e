"""Sales API: quote documents (PDF, sending, acceptance links) (conventions: docs/api.md)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses
from comptoir.sales import documents, sending
from comptoir.sales.quote_pdf import filename, version_pdf

router = apikit.module_router("sales")

ObjectId = Path(..., ge=1, le=MAX_ID)


class SendIn(InputSchema):
    to: list[str] = Field(..., min_length=1, max_length=10, description="Recipients' email addresses.")
    subject: str = Field("", max_length=200, description="Empty: « Quote <number> — <company> » in its language.")
    message: str = Field("", max_length=5000, description="Empty: a short default text; the link is added below.")


class SentOut(Schema):
    quote_id: int
    version: int = Field(description="The version sent (frozen).")
    state: str
    pdf_sha256: str = Field(description="SHA-256 of the PDF attached.")
    to: list[str]


class LinkOut(Schema):
    quote_id: int
    version: int
    url: str = Field(description="The signed link the customer opens to accept or decline this version.")
    valid_until: str = Field(description="The link stops working after this date (ISO 8601), or when revised.")


class PdfQuery(Schema):
    version: int | None = Field(None, ge=1, le=100000, description="A version number; the current one when omitted.")


@router.get("/quotes/{quote_id}/pdf", response=responses(None), summary="Download a quote's PDF",
            openapi_extra={"responses": {200: {"content": {"application/pdf": {}}}}})  # fmt: skip
def quote_pdf(request: HttpRequest, params: Query[PdfQuery], quote_id: int = ObjectId) -> HttpResponse:
    """The PDF of a sent version as stored (stamped once accepted online); a draft is rendered as a preview."""
    actor = apikit.actor(request)
    quote, version = documents.quote_version_get(actor, quote_id, params.version)
    data = version_pdf(quote, version)
    accepted = quote.accepted_version == version.version and quote.acceptance_via == "online"
    response = HttpResponse(data, content_type="application/pdf")
    name = filename(quote.number, version.version, accepted=accepted)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    if version.pdf_sha256 and version.pdf:
        response["X-Content-SHA256"] = version.pdf_sha256
    return response


@router.post("/quotes/{quote_id}/send", response=responses(SentOut), summary="Send a quote by email")
def quote_send(request: HttpRequest, payload: SendIn, quote_id: int = ObjectId) -> Any:
    """Freezes the current version (a draft becomes sent), stores its PDF and emails it with the link."""
    actor = apikit.actor(request)
    documents.quote_get(actor, quote_id)
    version = sending.quote_send(actor=actor, quote_id=quote_id, **payload.model_dump())
    quote = documents.quote_get(actor, quote_id)
    return {"quote_id": quote.pk, "version": version.version, "state": quote.state,
            "pdf_sha256": version.pdf_sha256, "to": payload.to}  # fmt: skip


@router.post("/quotes/{quote_id}/acceptance-link", response=responses(LinkOut, status=201),
             summary="Make the link to accept a sent quote online")  # fmt: skip
def quote_acceptance_link(request: HttpRequest, quote_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    url = documents.link_issue(actor=actor, quote_id=quote_id)
    quote = documents.quote_get(actor, quote_id)
    return Status(201, {"quote_id": quote.pk, "version": quote.version, "url": url,
                        "valid_until": quote.valid_until.isoformat()})  # fmt: skip

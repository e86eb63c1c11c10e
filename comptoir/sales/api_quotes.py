"""Quotes API (/api/v1/sales/quotes): see docs/api.md for conventions.

Drafts are created and changed freely (``lines``, when sent, replaces every line); ``/mark-sent``
freezes the current version, ``/revise`` starts the next one, ``/accept`` records the
customer's yes for a given version (a stale version is a 409), ``/refuse`` and ``/cancel``
close the quote. Amounts, quantities and prices travel as decimal strings (``"1250.50"``).
The same record rules as the pages apply.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.context import Actor
from comptoir.sales import quote_selectors as selectors
from comptoir.sales import quotes as services

router = apikit.module_router("sales")

ObjectId = Path(..., ge=1, le=MAX_ID)
OptionalId = Field(None, ge=1, le=MAX_ID)
DECIMAL_HELP = 'Decimal string, e.g. `"12.50"`.'
VatCategory = Literal["standard", "intermediate", "reduced", "super_reduced", "exempt_261_4", "exempt_261c_1",
                      "exempt_261c_2", "out_of_scope"]  # fmt: skip
FiscalPosition = Literal["france", "eu_business", "eu_consumer", "non_eu", "france_reverse_charge"]
State = Literal["draft", "sent", "accepted", "refused", "expired", "cancelled"]


# --- Schemas -----------------------------------------------------------------------------


class QuoteLineIn(InputSchema):
    kind: Literal["product", "section", "text"] = "product"
    product_id: int | None = OptionalId
    description: str = Field("", max_length=4000, description="The product's name when empty; a section's title.")
    operation: Literal["goods", "services"] | None = Field(None, description="From the product's kind when omitted.")
    quantity: str = Field("1", max_length=30, description=DECIMAL_HELP + " At most 3 decimals.")
    uom_id: int | None = Field(None, ge=1, le=MAX_ID, description="The product's sale unit when omitted.")
    unit_price: str = Field(
        "", max_length=30, description=DECIMAL_HELP + " Excluding VAT; from the customer's price list when empty."
    )
    discount_percent: str = Field("", max_length=10, description=DECIMAL_HELP)
    vat_code: VatCategory | None = Field(None, description="VAT category; the product's when omitted.")
    optional: bool = False
    selected: bool = Field(False, description="An optional line counted in the totals.")


class QuoteCreateIn(InputSchema):
    organization_id: int | None = Field(None, ge=1, le=MAX_ID, description="The opportunity's when omitted.")
    contact_id: int | None = OptionalId
    opportunity_id: int | None = OptionalId
    owner_id: int | None = Field(None, ge=1, le=MAX_ID, description="The caller when omitted.")
    title: str = Field("", max_length=200)
    currency: str = Field("EUR", min_length=3, max_length=3)
    issue_date: dt.date | None = Field(None, description="Today when omitted.")
    valid_until: dt.date | None = Field(None, description="30 days after the date when omitted.")
    payment_term_id: int | None = Field(None, ge=1, le=MAX_ID, description="The customer's when omitted.")
    fiscal_position: FiscalPosition | None = Field(None, description="The customer's when omitted.")
    language: Literal["fr", "en"] | None = Field(None, description="The customer's when omitted.")
    notes: str = Field("", max_length=10000)
    discount_percent: str = Field("", max_length=10, description="Discount on the total. " + DECIMAL_HELP)
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="An active site of the company; the head "
                                "office when omitted, the company as a whole when null.")  # fmt: skip
    lines: list[QuoteLineIn] = Field(..., max_length=500)


class QuoteUpdateIn(InputSchema):
    """Only the fields sent change; ``lines``, when sent, replaces every line."""

    organization_id: int = Field(None, ge=1, le=MAX_ID)  # type: ignore[assignment]
    contact_id: int | None = OptionalId
    opportunity_id: int | None = OptionalId
    owner_id: int | None = OptionalId
    title: str = Field(None, max_length=200)  # type: ignore[assignment]
    currency: str = Field(None, min_length=3, max_length=3)  # type: ignore[assignment]
    issue_date: dt.date = None  # type: ignore[assignment]
    valid_until: dt.date = None  # type: ignore[assignment]
    payment_term_id: int | None = OptionalId
    fiscal_position: FiscalPosition = None  # type: ignore[assignment]
    language: Literal["fr", "en"] = None  # type: ignore[assignment]
    notes: str = Field(None, max_length=10000)  # type: ignore[assignment]
    discount_percent: str = Field(None, max_length=10)  # type: ignore[assignment]
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="Null: the company as a whole.")
    lines: list[QuoteLineIn] = Field(None, max_length=500)  # type: ignore[assignment,arg-type]


class AcceptIn(InputSchema):
    version: int = Field(..., ge=1, le=100000, description="The version the customer accepted (409 when stale).")
    by_name: str = Field("", max_length=200, description="Who accepted for the customer.")
    selected_line_ids: list[int] = Field([], max_length=500, description="The optional lines taken.")


class RefuseIn(InputSchema):
    reason: str = Field("", max_length=2000)


class QuoteSummaryOut(Schema):
    id: int
    number: str
    version: int
    state: str
    title: str
    organization_id: int
    opportunity_id: int | None
    owner_id: int | None
    issue_date: dt.date
    valid_until: dt.date
    currency: str
    untaxed_amount: str
    tax_amount: str
    total_amount: str


class QuoteLineOut(Schema):
    id: int
    position: int
    kind: str
    product_id: int | None
    description: str
    operation: str
    quantity: str
    uom_id: int | None
    unit_price: str
    discount_percent: str
    vat_code: str
    tax_category: str
    vat_rate: str
    optional: bool
    selected: bool
    price_explanation: str
    net_amount: str
    tax_amount: str


class VatGroupOut(Schema):
    category: str
    rate: str
    base: str
    tax: str


class VersionOut(Schema):
    version: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    has_pdf: bool


class QuoteOut(QuoteSummaryOut):
    contact_id: int | None
    payment_term_id: int | None
    site_id: int | None
    fiscal_position: str
    language: str
    notes: str
    discount_percent: str
    lines_amount: str
    discount_amount: str
    sent_at: dt.datetime | None
    accepted_at: dt.datetime | None
    accepted_by_name: str
    accepted_version: int | None
    acceptance_via: str
    refusal_reason: str
    lines: list[QuoteLineOut]
    vat_breakdown: list[VatGroupOut]
    versions: list[VersionOut]
    actions: list[str] = Field(description="Actions the caller may take now: edit, send, accept, refuse, revise, "
                                           "cancel.")  # fmt: skip


class QuoteFilters(ListParams):
    state: Literal["draft", "sent", "accepted", "refused", "expired", "cancelled", "open"] | None = None
    organization_id: int | None = OptionalId
    owner_id: int | None = OptionalId
    opportunity_id: int | None = OptionalId
    scope: Literal["mine", "team", "all"] | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str | None = Field(None, max_length=100, description="Search the number, the customer and the subject.")


# --- Helpers -----------------------------------------------------------------------------

MONEY = ("untaxed_amount", "tax_amount", "total_amount")
SUMMARY_FIELDS = tuple(QuoteSummaryOut.model_fields)
LINE_DECIMALS = ("quantity", "unit_price", "discount_percent", "vat_rate", "net_amount", "tax_amount")


def quote_out(actor: Actor, quote_id: int) -> dict[str, Any]:
    quote = selectors.quote_detail(actor, quote_id)
    scalar = ("contact_id", "payment_term_id", "fiscal_position", "language", "notes", "sent_at", "accepted_at",
              "accepted_by_name", "accepted_version", "acceptance_via", "refusal_reason", "site_id")  # fmt: skip
    return {
        **{name: getattr(quote, name) for name in SUMMARY_FIELDS},
        **{name: str(getattr(quote, name)) for name in MONEY},
        **{name: getattr(quote, name) for name in scalar},
        "discount_percent": str(quote.discount_percent), "lines_amount": str(quote.lines_amount),
        "discount_amount": str(quote.discount_amount),
        "lines": [
            {name: getattr(line, name) for name in QuoteLineOut.model_fields if name not in LINE_DECIMALS}
            | {name: str(getattr(line, name)) for name in LINE_DECIMALS}
            for line in quote.line_rows  # type: ignore[attr-defined]
        ],
        "vat_breakdown": [{"category": g["category"], "rate": str(g["rate"]), "base": str(g["base"]),
                           "tax": str(g["tax"])} for g in services.vat_breakdown(quote)],
        "versions": [{"version": v["version"], "created_at": v["created_at"], "sent_at": v["sent_at"],
                      "has_pdf": bool(v["pdf_sha256"])} for v in quote.version_rows],  # type: ignore[attr-defined]
        "actions": services.available_actions(actor, quote),
    }  # fmt: skip


def _lines(lines: list[QuoteLineIn] | None) -> list[dict[str, Any]] | None:
    if lines is None:
        return None
    result = []
    for line in lines:
        data = {k: v for k, v in line.model_dump().items() if v not in (None, "")}
        if data.get("kind", "product") != "product":
            data = {"kind": data["kind"], "description": data.get("description", "")}
        result.append(data)
    return result


def _payload(payload: QuoteCreateIn | QuoteUpdateIn, *, partial: bool) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=partial)
    if not partial:
        # Omitted optional fields keep the service's defaults (the customer's term, language…).
        data = {k: v for k, v in data.items() if v is not None or k in payload.model_fields_set}
    if "lines" in data:
        data["lines"] = _lines(payload.lines)
    return data


# --- Endpoints ---------------------------------------------------------------------------

API_SORT = {"number": "number", "date": "issue_date", "valid_until": "valid_until", "total": "total_amount",
            "id": "id"}  # fmt: skip


@router.get("/quotes", response=responses(page_of(QuoteSummaryOut)), summary="List quotes")
def quote_list(request: HttpRequest, params: Query[QuoteFilters]) -> HttpResponse:
    """Quotes the caller may see. Sort: `number`, `date`, `valid_until`, `total`, `id`."""
    filters = params.model_dump(include=set(selectors.FILTERS))
    rows = selectors.quote_list(apikit.actor(request), filters).values(*SUMMARY_FIELDS)

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return row | {name: str(row[name]) for name in MONEY}

    return apikit.paginate_rows(request, rows, params, item=QuoteSummaryOut, convert=convert, sort=API_SORT,
                                default_sort="-number,-id")  # fmt: skip


@router.post("/quotes", response=responses(QuoteOut, status=201), summary="Create a draft quote")
def quote_create(request: HttpRequest, payload: QuoteCreateIn) -> Status:
    """Numbered at once (``DE-2026-00001``); prices default from the customer's price list,
    VAT from the customer's fiscal position and the product's VAT category."""
    actor = apikit.actor(request)
    quote = services.quote_create(actor=actor, **_payload(payload, partial=False))
    return Status(201, quote_out(actor, quote.pk))


@router.get("/quotes/{quote_id}", response=responses(QuoteOut), summary="Get a quote")
def quote_get(request: HttpRequest, quote_id: int = ObjectId) -> Any:
    return quote_out(apikit.actor(request), quote_id)


@router.patch("/quotes/{quote_id}", response=responses(QuoteOut), summary="Change a draft quote")
def quote_update(request: HttpRequest, payload: QuoteUpdateIn, quote_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    selectors.quote_get(actor, quote_id)
    services.quote_update(actor=actor, quote_id=quote_id, **_payload(payload, partial=True))
    return quote_out(actor, quote_id)


@router.post("/quotes/{quote_id}/mark-sent", response=responses(QuoteOut),
             summary="Mark a quote sent (freezes the current version)")  # fmt: skip
def quote_mark_sent(request: HttpRequest, quote_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    selectors.quote_get(actor, quote_id)
    services.quote_mark_sent(actor=actor, quote_id=quote_id)
    return quote_out(actor, quote_id)


@router.post("/quotes/{quote_id}/revise", response=responses(QuoteOut),
             summary="Start the next version of a sent, refused or expired quote")  # fmt: skip
def quote_revise(request: HttpRequest, quote_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    selectors.quote_get(actor, quote_id)
    services.quote_revise(actor=actor, quote_id=quote_id)
    return quote_out(actor, quote_id)


@router.post("/quotes/{quote_id}/accept", response=responses(QuoteOut),
             summary="Record the customer's acceptance of a version")  # fmt: skip
def quote_accept(request: HttpRequest, payload: AcceptIn, quote_id: int = ObjectId) -> Any:
    """409 ``quote_version_stale`` when the version is not the current one, ``quote_expired``
    past the validity date, ``invalid_transition`` when the quote is not sent."""
    actor = apikit.actor(request)
    selectors.quote_get(actor, quote_id)
    services.quote_accept(actor=actor, quote_id=quote_id, version=payload.version, by_name=payload.by_name,
                          via="salesperson", selected_line_ids=payload.selected_line_ids)  # fmt: skip
    return quote_out(actor, quote_id)


@router.post("/quotes/{quote_id}/refuse", response=responses(QuoteOut), summary="Record the customer's refusal")
def quote_refuse(request: HttpRequest, quote_id: int = ObjectId, payload: RefuseIn | None = None) -> Any:
    actor = apikit.actor(request)
    selectors.quote_get(actor, quote_id)
    services.quote_refuse(actor=actor, quote_id=quote_id, reason=payload.reason if payload else "")
    return quote_out(actor, quote_id)


@router.post("/quotes/{quote_id}/cancel", response=responses(QuoteOut), summary="Cancel a draft or sent quote")
def quote_cancel(request: HttpRequest, quote_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    selectors.quote_get(actor, quote_id)
    services.quote_cancel(actor=actor, quote_id=quote_id)
    return quote_out(actor, quote_id)

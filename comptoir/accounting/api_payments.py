"""Payments and matching API (/api/v1/accounting/payments, /api/v1/accounting/matching).

``POST /payments`` honours the ``Idempotency-Key`` header (or the ``idempotency_key`` field):
the first request answers 201 with the payment, any replay of the same request 200 with the
same payment, and the same key with another content 409 ``idempotency_key_reused``. Amounts
travel as decimal strings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Header, Path, Query, Schema
from ninja.responses import Status

from comptoir.accounting import matching, payments
from comptoir.accounting.models_payments import Payment
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.errors import ValidationFailed

router = apikit.module_router("accounting")

ObjectId = Path(..., ge=1, le=MAX_ID)
AMOUNT = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
AMOUNT_HELP = 'Decimal string with at most 2 decimals, e.g. `"1250.50"`.'
Direction = Literal["inbound", "outbound"]
Method = Literal["transfer", "card", "cheque", "cash", "direct_debit"]


class AllocationIn(InputSchema):
    invoice_id: int = Field(..., ge=1, le=MAX_ID)
    amount: str = Field(..., pattern=AMOUNT, description=AMOUNT_HELP)


class PaymentIn(InputSchema):
    organization_id: int = Field(..., ge=1, le=MAX_ID)
    direction: Direction = Field("inbound", description="`inbound`: received from a customer; `outbound`: paid out.")
    amount: str = Field(..., pattern=AMOUNT, description=AMOUNT_HELP)
    date: dt.date
    journal_id: int = Field(..., ge=1, le=MAX_ID, description="A bank or cash journal.")
    method: Method
    reference: str = Field("", max_length=140)
    allocations: list[AllocationIn] = Field(
        [], max_length=200, description="The invoices settled and how much of each. What is not allocated "
        "stays on the partner's account as a credit.",
    )  # fmt: skip
    auto: bool = Field(False, description="Allocate to the oldest due invoices first (send no `allocations`).")
    idempotency_key: str = Field("", max_length=100, description="Same as the `Idempotency-Key` header.")
    currency: str | None = Field(None, max_length=3, description="ISO 4217, the invoices' currency; the company "
                                 "currency when omitted. Converted at the rate of `date`.")  # fmt: skip
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="An active site of the company; when omitted, "
                                "the site the settled invoices share, if any.")  # fmt: skip


class CancelIn(InputSchema):
    date: dt.date | None = Field(None, description="Date of the reversal entry (default: today).")


class UseCreditIn(InputSchema):
    invoice_id: int = Field(..., ge=1, le=MAX_ID)
    amount: str = Field(..., pattern=AMOUNT, description=AMOUNT_HELP)
    date: dt.date | None = None


class AllocationOut(Schema):
    id: int
    invoice_id: int
    invoice_number: str
    amount: str
    date: dt.date
    from_credit: bool
    is_active: bool


class PaymentSummaryOut(Schema):
    id: int
    direction: str
    organization_id: int
    partner_account_id: int
    partner_code: str
    date: dt.date
    amount: str
    currency: str
    site_id: int | None
    journal_id: int
    method: str
    reference: str
    unallocated: str = Field(description="Credit left on the partner account by this payment.")
    state: str
    journal_entry_id: int | None
    entry_number: str | None


class PaymentOut(PaymentSummaryOut):
    cancel_entry_id: int | None
    cancelled_at: dt.datetime | None
    allocations: list[AllocationOut]


class PaymentFilters(ListParams):
    direction: Direction | None = None
    state: Literal["posted", "cancelled"] | None = None
    organization_id: int | None = Field(None, ge=1, le=MAX_ID)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str | None = Field(None, max_length=100, description="Search reference, partner and entry number.")


class LinesIn(InputSchema):
    line_ids: list[int] = Field(..., min_length=1, max_length=matching.MAX_LINES)


class MatchingOut(Schema):
    id: int
    partner_account_id: int
    code: str = Field(description="As written on the lines: upper case when full, lower case when partial.")
    full: bool
    date: dt.date


class UnmatchedOut(Schema):
    line_ids: list[int]


class PartnerLineOut(Schema):
    id: int
    entry_id: int
    number: str
    journal_code: str
    account_code: str
    date: dt.date
    label: str
    due_date: dt.date | None
    debit: str
    credit: str
    matching_code: str
    matched_at: dt.date | None


class PartnerLineParams(ListParams):
    open: bool = Field(True, description="Only unmatched and partially matched lines.")


def payment_out(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.pk, "direction": payment.direction, "organization_id": payment.organization_id,
        "partner_account_id": payment.partner_account_id, "partner_code": payment.partner_account.code,
        "date": payment.date, "amount": str(payment.amount), "currency": payment.currency, "site_id": payment.site_id,
        "journal_id": payment.journal_id, "method": payment.method, "reference": payment.reference,
        "unallocated": str(payment.unallocated), "state": payment.state,
        "journal_entry_id": payment.journal_entry_id,
        "entry_number": payment.journal_entry.number if payment.journal_entry else None,
        "cancel_entry_id": payment.cancel_entry_id, "cancelled_at": payment.cancelled_at,
        "allocations": [
            {"id": a.pk, "invoice_id": a.invoice_id, "invoice_number": a.invoice.number, "amount": str(a.amount),
             "date": a.date, "from_credit": a.from_credit, "is_active": a.is_active}
            for a in payment.allocations.all()
        ],
    }  # fmt: skip


LIST_FIELDS = ("id", "direction", "organization_id", "partner_account_id", "partner_account__code", "date", "amount",
               "currency", "site_id", "journal_id", "method", "reference", "unallocated", "state", "journal_entry_id",
               "journal_entry__number")  # fmt: skip


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return row | {"partner_code": row["partner_account__code"], "amount": str(row["amount"]),
                  "unallocated": str(row["unallocated"]), "entry_number": row["journal_entry__number"]}  # fmt: skip


@router.get("/payments", response=responses(page_of(PaymentSummaryOut)), summary="List payments")
def payment_list(request: HttpRequest, params: Query[PaymentFilters]) -> Any:
    """Sort: `date`, `amount`, `created_at`, `id` (default: newest first)."""
    filters = payments.PaymentFilters(
        direction=params.direction or "", state=params.state or "", organization_id=params.organization_id,
        date_from=params.date_from, date_to=params.date_to, q=params.q or "",
    )  # fmt: skip
    rows = payments.payment_list(apikit.actor(request), filters).values(*LIST_FIELDS)
    return apikit.paginate_rows(request, rows, params, item=PaymentSummaryOut, convert=_summary,
                                sort=payments.PAYMENT_SORT, default_sort="-date")  # fmt: skip


@router.post(
    "/payments",
    response={**responses(PaymentOut, status=201), 200: PaymentOut},
    summary="Register a payment (idempotent with a key)",
)
def payment_register(
    request: HttpRequest,
    payload: PaymentIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=100),
) -> Status:
    """Books and posts the payment's entry, allocates it to invoices, matches the lines.

    Errors are per field, allocations included (`allocations.1.amount`). With a key (header
    or field), a replay answers 200 with the first payment; the same key with another
    content is a 409."""
    actor = apikit.actor(request)
    data = payload.model_dump()
    header_key = (idempotency_key or "").strip()
    if header_key and data["idempotency_key"] and header_key != data["idempotency_key"]:
        raise ValidationFailed(fields={"idempotency_key": [_("The header and the field carry different keys.")]})
    data["idempotency_key"] = header_key or data["idempotency_key"]
    if data.pop("auto"):
        if data["allocations"]:
            raise ValidationFailed(fields={"allocations": [_("Send either allocations or auto, not both.")]})
        data["allocations"] = "auto"
    payment = payments.payment_register(actor=actor, **data)
    return Status(200 if payment.replayed else 201, payment_out(payments.payment_get(actor, payment.pk)))


@router.get("/payments/{payment_id}", response=responses(PaymentOut), summary="Get a payment")
def payment_get(request: HttpRequest, payment_id: int = ObjectId) -> Any:
    return payment_out(payments.payment_get(apikit.actor(request), payment_id))


@router.post("/payments/{payment_id}/cancel", response=responses(PaymentOut), summary="Cancel a payment")
def payment_cancel(request: HttpRequest, payload: CancelIn, payment_id: int = ObjectId) -> Any:
    """By a reversal entry: the invoices it paid are due again, its lines are unmatched."""
    actor = apikit.actor(request)
    payments.payment_cancel(actor=actor, payment_id=payment_id, date=payload.date)
    return payment_out(payments.payment_get(actor, payment_id))


@router.post("/payments/{payment_id}/use-credit", response=responses(PaymentOut), summary="Use a payment's credit")
def payment_use_credit(request: HttpRequest, payload: UseCreditIn, payment_id: int = ObjectId) -> Any:
    """Allocates part of what the payment left on the partner's account to another invoice."""
    actor = apikit.actor(request)
    payments.payment_allocate_credit(actor=actor, payment_id=payment_id, **payload.model_dump())
    return payment_out(payments.payment_get(actor, payment_id))


@router.post("/matching/match", response=responses(MatchingOut), summary="Match lines (lettrage)")
def match(request: HttpRequest, payload: LinesIn) -> Any:
    """Posted lines of one customer or supplier account: full (upper-case code) when they sum
    to zero, partial (lower case) otherwise. Lines already partially matched bring their
    matching along."""
    found = matching.match_lines(actor=apikit.actor(request), line_ids=payload.line_ids)
    return {"id": found.pk, "partner_account_id": found.partner_account_id, "code": found.line_code,
            "full": found.full, "date": found.date}  # fmt: skip


@router.post("/matching/unmatch", response=responses(UnmatchedOut), summary="Unmatch lines")
def unmatch(request: HttpRequest, payload: LinesIn) -> Any:
    """Undoes the whole matchings of these lines; answers every line unmatched."""
    return {"line_ids": matching.unmatch_lines(actor=apikit.actor(request), line_ids=payload.line_ids)}


@router.get(
    "/partner-accounts/{partner_account_id}/lines",
    response=responses(page_of(PartnerLineOut)),
    summary="Lines of a partner account, to match",
)
def partner_lines(request: HttpRequest, params: Query[PartnerLineParams], partner_account_id: int = ObjectId) -> Any:
    _partner, rows = matching.partner_lines(apikit.actor(request), partner_account_id, open_only=params.open)

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"], "entry_id": row["entry_id"], "number": row["entry__number"],
            "journal_code": row["journal__code"], "account_code": row["account__code"], "date": row["date"],
            "label": row["label"] or row["entry__label"], "due_date": row["due_date"], "debit": str(row["debit"]),
            "credit": str(row["credit"]), "matching_code": row["matching_code"], "matched_at": row["matched_at"],
        }  # fmt: skip

    return apikit.paginate_rows(request, rows, params, item=PartnerLineOut, convert=convert)

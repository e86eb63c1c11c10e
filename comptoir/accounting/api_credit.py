"""Credit note allocation API (/api/v1/accounting/invoices/{id}/allocations): conventions in docs/api.md.

``POST`` settles open invoices of the same partner with a posted credit note (or supplier
refund), without money. It honours the ``Idempotency-Key`` header (or the
``idempotency_key`` field): 201 the first time, 200 with the same allocations on a replay,
409 ``idempotency_key_reused`` for the same key with another content. Amounts travel as
decimal strings; errors are per field (``allocations.1.amount``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Header, Path, Schema
from ninja.responses import Status

from comptoir.accounting import credit_allocation
from comptoir.accounting.models_credit import CreditAllocation
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses
from comptoir.kernel.errors import ValidationFailed

router = apikit.module_router("accounting")

ObjectId = Path(..., ge=1, le=MAX_ID)
AMOUNT = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"


class CreditAllocationIn(InputSchema):
    invoice_id: int = Field(..., ge=1, le=MAX_ID)
    amount: str = Field(..., pattern=AMOUNT, description='Decimal string with at most 2 decimals, e.g. `"120.00"`.')


class AllocateIn(InputSchema):
    allocations: list[CreditAllocationIn] = Field(
        ..., min_length=1, max_length=credit_allocation.MAX_ALLOCATIONS,
        description="The open invoices settled and how much of each.",
    )  # fmt: skip
    date: dt.date | None = Field(None, description="Date of the matching (and of the VAT entry, if any).")
    idempotency_key: str = Field("", max_length=100, description="Same as the `Idempotency-Key` header.")


class CreditAllocationOut(Schema):
    id: int
    credit_note_id: int
    credit_note_number: str
    invoice_id: int
    invoice_number: str
    amount: str
    date: dt.date
    vat_entry_id: int | None


class AllocationResultOut(Schema):
    credit_note_id: int
    state: str
    residual_amount: str
    replayed: bool
    allocations: list[CreditAllocationOut]


def _row(row: CreditAllocation) -> dict[str, Any]:
    return {
        "id": row.pk, "credit_note_id": row.credit_note_id, "credit_note_number": row.credit_note.number,
        "invoice_id": row.invoice_id, "invoice_number": row.invoice.number, "amount": str(row.amount),
        "date": row.date, "vat_entry_id": row.vat_entry_id,
    }  # fmt: skip


@router.get("/invoices/{invoice_id}/allocations", response=responses(list[CreditAllocationOut]),
            summary="Credit note allocations of a document")  # fmt: skip
def allocation_list(request: HttpRequest, invoice_id: int = ObjectId) -> Any:
    """The credit allocations of an invoice (the credit notes that settled it) or of a credit note (what it settled)."""
    return [_row(row) for row in credit_allocation.allocations_of(apikit.actor(request), invoice_id)]


@router.post(
    "/invoices/{invoice_id}/allocations",
    response={**responses(AllocationResultOut, status=201), 200: AllocationResultOut},
    summary="Allocate a credit note to open invoices (idempotent with a key)",
)
def allocation_create(
    request: HttpRequest,
    payload: AllocateIn,
    invoice_id: int = ObjectId,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=100),
) -> Status:
    """``invoice_id`` is the credit note. Lowers both documents' amounts due and matches their lines."""
    actor = apikit.actor(request)
    data = payload.model_dump()
    header_key = (idempotency_key or "").strip()
    if header_key and data["idempotency_key"] and header_key != data["idempotency_key"]:
        raise ValidationFailed(fields={"idempotency_key": [_("The header and the field carry different keys.")]})
    result = credit_allocation.credit_allocate(actor=actor, credit_note_id=invoice_id, allocations=data["allocations"],
                                               date=data["date"],
                                               idempotency_key=header_key or data["idempotency_key"])  # fmt: skip
    rows = [row for row in credit_allocation.allocations_of(actor, invoice_id)
            if row.pk in {a.pk for a in result.allocations}]  # fmt: skip
    credit = result.credit_note
    body = {"credit_note_id": credit.pk, "state": credit.state, "residual_amount": str(credit.residual_amount),
            "replayed": result.replayed, "allocations": [_row(row) for row in rows]}  # fmt: skip
    return Status(200 if result.replayed else 201, body)

"""Payment terms API, the writes beyond creation (conventions: docs/api.md):
``PATCH /accounting/payment-terms/{id}`` changes a term (posted invoices keep their due
dates), ``POST …/archive`` and ``…/restore`` hide it from new invoices or bring it back.
List and create are in api_invoices.py."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Path

from comptoir.accounting import terms
from comptoir.accounting.api_invoices import PaymentTermOut, TermLineIn, _term_out
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses

router = apikit.module_router("accounting")

ObjectId = Path(..., ge=1, le=MAX_ID)


class PaymentTermPatch(InputSchema):
    name: str | None = Field(None, max_length=100)
    note: str | None = Field(None, max_length=300)
    lines: list[TermLineIn] | None = Field(None, min_length=1, max_length=12,
                                    description="All the installments (they replace the current ones).")  # fmt: skip


@router.patch("/payment-terms/{term_id}", response=responses(PaymentTermOut), summary="Change a payment term")
def payment_term_update(request: HttpRequest, payload: PaymentTermPatch, term_id: int = ObjectId) -> Any:
    """Only the fields sent change. Posted invoices keep the due dates and wording they were issued with."""
    actor = apikit.actor(request)
    terms.payment_term_update(actor=actor, term_id=term_id, **payload.model_dump(exclude_unset=True))
    return _term_out(terms.term_get(actor, term_id))


@router.post("/payment-terms/{term_id}/archive", response=responses(PaymentTermOut), summary="Archive a payment term")
def payment_term_archive(request: HttpRequest, term_id: int = ObjectId) -> Any:
    """No longer offered for new invoices and profiles; those using it keep it."""
    actor = apikit.actor(request)
    terms.payment_term_set_active(actor=actor, term_id=term_id, active=False)
    return _term_out(terms.term_get(actor, term_id))


@router.post("/payment-terms/{term_id}/restore", response=responses(PaymentTermOut), summary="Restore a payment term")
def payment_term_restore(request: HttpRequest, term_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    terms.payment_term_set_active(actor=actor, term_id=term_id, active=True)
    return _term_out(terms.term_get(actor, term_id))

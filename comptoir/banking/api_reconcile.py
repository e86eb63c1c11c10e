"""Banking API: reconciliation proposals, matches and rules (conventions: docs/api.md).

* ``GET  /statement-lines/{id}/proposals`` — scored proposals with their reasons.
* ``POST /statement-lines/{id}/accept`` ``{proposal}`` — the key of a proposal (``inv:12,15``,
  ``rule:3``); a repeated accept answers 200 with the same match (``replayed``).
* ``POST /statement-lines/{id}/split`` ``{allocations: [{invoice_id, amount}], remainder}``.
* ``POST /statement-lines/{id}/manual`` ``{account_id, label, vat_rate}``.
* ``POST /statement-lines/{id}/ignore`` ``{reason}`` · ``POST /statement-lines/{id}/undo`` ``{date}``.
* ``POST /reconcile/apply-rules`` ``{bank_account_id}``.
* ``/rules`` — list, create; ``/rules/{id}`` — get, change (PATCH), delete.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Schema
from ninja.responses import Status

from comptoir.banking import reconcile, rules
from comptoir.banking.models_rules import ReconciliationRule, StatementLineMatch
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses

router = apikit.module_router("banking")

ObjectId = Path(..., ge=1, le=MAX_ID)
AMOUNT = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
AMOUNT_HELP = 'Decimal string with at most 2 decimals, e.g. `"1250.50"`.'
VatRate = Literal["", "20", "10", "5.5", "2.1"]


class ReasonOut(Schema):
    code: str = Field(description="number, amount, amount_shared, group, iban, name, rule_partner, rule, partial, "
                                  "credit")  # fmt: skip
    text: str
    params: dict[str, Any]


class ProposalItemOut(Schema):
    invoice_id: int
    number: str
    kind: str
    amount: str = Field(description="What this proposal pays on the invoice.")
    residual: str = Field(description="What is due on the invoice now.")
    due_date: dt.date | None


class ProposalOut(Schema):
    key: str = Field(description="Send it back to `accept`.")
    kind: Literal["invoices", "rule"]
    score: int = Field(ge=0, le=100)
    organization_id: int | None
    partner_name: str
    credit: str = Field(description="What would stay as the partner's credit.")
    rule_id: int | None
    account_code: str
    items: list[ProposalItemOut]
    reasons: list[ReasonOut]


class ProposalsOut(Schema):
    line_id: int
    state: str
    proposals: list[ProposalOut]


class AcceptIn(InputSchema):
    proposal: str = Field(..., max_length=600, pattern=r"^(inv:\d+(,\d+)*|rule:\d+)$")


class AllocationIn(InputSchema):
    invoice_id: int = Field(..., ge=1, le=MAX_ID)
    amount: str | None = Field(None, pattern=AMOUNT, description=AMOUNT_HELP + " Empty: what is due.")


class SplitIn(InputSchema):
    allocations: list[AllocationIn] = Field(..., min_length=1, max_length=reconcile.MAX_SPLIT)
    remainder: Literal["credit", "refuse"] = Field("credit", description="What the line leaves over: the partner's "
                                                   "credit, or refused.")  # fmt: skip


class ManualIn(InputSchema):
    account_id: int = Field(..., ge=1, le=MAX_ID)
    label: str = Field("", max_length=200)
    vat_rate: VatRate = ""


class IgnoreIn(InputSchema):
    reason: str = Field(..., min_length=1, max_length=200)


class UndoIn(InputSchema):
    date: dt.date | None = Field(None, description="Date of the reversal (default: today).")


class ApplyRulesIn(InputSchema):
    bank_account_id: int | None = Field(None, ge=1, le=MAX_ID)


class ApplyRulesOut(Schema):
    reconciled: int


class MatchOut(Schema):
    id: int
    line_id: int
    kind: str
    payment_id: int | None
    journal_entry_id: int | None
    rule_id: int | None
    account_id: int | None
    invoices: list[dict[str, Any]]
    credit: str
    note: str
    is_active: bool
    replayed: bool


class LineStateOut(Schema):
    line_id: int
    state: str


class RuleIn(InputSchema):
    name: str = Field(..., max_length=100)
    sequence: int = Field(10, ge=0, le=32767)
    is_active: bool = True
    bank_account_id: int | None = Field(None, ge=1, le=MAX_ID)
    label_contains: str = Field("", max_length=100)
    label_regex: str = Field("", max_length=200)
    direction: Literal["any", "inbound", "outbound"] = "any"
    amount_min: str | None = Field(None, pattern=AMOUNT)
    amount_max: str | None = Field(None, pattern=AMOUNT)
    partner_iban: str = Field("", max_length=42)
    action: Literal["post", "partner"] = "post"
    account_id: int | None = Field(None, ge=1, le=MAX_ID)
    vat_rate: VatRate = ""
    entry_label: str = Field("", max_length=200)
    organization_id: int | None = Field(None, ge=1, le=MAX_ID)


class RulePatch(InputSchema):
    name: str | None = Field(None, max_length=100)
    sequence: int | None = Field(None, ge=0, le=32767)
    is_active: bool | None = None
    bank_account_id: int | None = Field(None, ge=1, le=MAX_ID)
    label_contains: str | None = Field(None, max_length=100)
    label_regex: str | None = Field(None, max_length=200)
    direction: Literal["any", "inbound", "outbound"] | None = None
    amount_min: str | None = Field(None, pattern=AMOUNT)
    amount_max: str | None = Field(None, pattern=AMOUNT)
    partner_iban: str | None = Field(None, max_length=42)
    action: Literal["post", "partner"] | None = None
    account_id: int | None = Field(None, ge=1, le=MAX_ID)
    vat_rate: VatRate | None = None
    entry_label: str | None = Field(None, max_length=200)
    organization_id: int | None = Field(None, ge=1, le=MAX_ID)


class RuleOut(Schema):
    id: int
    name: str
    sequence: int
    is_active: bool
    bank_account_id: int | None
    label_contains: str
    label_regex: str
    direction: str
    amount_min: str | None
    amount_max: str | None
    partner_iban: str
    action: str
    account_id: int | None
    vat_rate: str
    entry_label: str
    organization_id: int | None


def _proposal_out(proposal: reconcile.Proposal) -> dict[str, Any]:
    return {
        "key": proposal.key, "kind": proposal.kind, "score": proposal.score,
        "organization_id": proposal.organization_id, "partner_name": proposal.partner_name,
        "credit": str(proposal.credit), "rule_id": proposal.rule_id, "account_code": proposal.account_code,
        "items": [{"invoice_id": item.id, "number": item.number or item.supplier_reference, "kind": item.kind,
                   "amount": str(amount), "residual": str(item.residual), "due_date": item.due_date}
                  for item, amount in proposal.items],
        "reasons": [{"code": r.get("code", ""), "text": reconcile.reason_text(r),
                     "params": {k: v for k, v in r.items() if k != "code"}} for r in proposal.reasons],
    }  # fmt: skip


def _match_out(match: StatementLineMatch) -> dict[str, Any]:
    return {
        "id": match.pk, "line_id": match.line_id, "kind": match.kind, "payment_id": match.payment_id,
        "journal_entry_id": match.journal_entry_id, "rule_id": match.rule_id, "account_id": match.account_id,
        "invoices": match.invoices, "credit": str(match.credit), "note": match.note, "is_active": match.is_active,
        "replayed": bool(getattr(match, "replayed", False)),
    }  # fmt: skip


def _match_status(match: StatementLineMatch) -> Status:
    return Status(200 if getattr(match, "replayed", False) else 201, _match_out(match))


def _rule_out(rule: ReconciliationRule) -> dict[str, Any]:
    data = {name: getattr(rule, name) for name in rules.FIELDS} | {"id": rule.pk}
    for name in ("amount_min", "amount_max"):
        data[name] = None if data[name] is None else str(Decimal(data[name]))
    return data


@router.get("/statement-lines/{line_id}/proposals", response=responses(ProposalsOut),
            summary="Reconciliation proposals for a statement line")  # fmt: skip
def line_proposals(request: HttpRequest, line_id: int = ObjectId) -> Any:
    """Best first, each with its score (0–100) and the reasons behind it. Empty once the line is handled."""
    actor = apikit.actor(request)
    line = reconcile.statement_line_get(actor, line_id)
    found = reconcile.proposals_for(actor, [line])[line.pk]
    return {"line_id": line.pk, "state": line.state, "proposals": [_proposal_out(p) for p in found]}


@router.post("/statement-lines/{line_id}/accept", response={**responses(MatchOut, status=201), 200: MatchOut},
             summary="Accept a proposal")  # fmt: skip
def line_accept(request: HttpRequest, payload: AcceptIn, line_id: int = ObjectId) -> Status:
    """Creates the payment (bank journal of the account, date of the line), allocates it,
    matches the lines; the same accept again answers 200 with the same match."""
    return _match_status(reconcile.accept(actor=apikit.actor(request), line_id=line_id, proposal=payload.proposal))


@router.post("/statement-lines/{line_id}/split", response={**responses(MatchOut, status=201), 200: MatchOut},
             summary="Split a statement line over invoices")  # fmt: skip
def line_split(request: HttpRequest, payload: SplitIn, line_id: int = ObjectId) -> Status:
    allocations = [item.model_dump() for item in payload.allocations]
    match = reconcile.reconcile_invoices(actor=apikit.actor(request), line_id=line_id, allocations=allocations,
                                         remainder=payload.remainder)  # fmt: skip
    return _match_status(match)


@router.post("/statement-lines/{line_id}/manual", response={**responses(MatchOut, status=201), 200: MatchOut},
             summary="Post a statement line to an account")  # fmt: skip
def line_manual(request: HttpRequest, payload: ManualIn, line_id: int = ObjectId) -> Status:
    return _match_status(reconcile.reconcile_manual(actor=apikit.actor(request), line_id=line_id,
                                                    **payload.model_dump()))  # fmt: skip


@router.post("/statement-lines/{line_id}/ignore", response={**responses(MatchOut, status=201), 200: MatchOut},
             summary="Ignore a statement line, with a reason")  # fmt: skip
def line_ignore(request: HttpRequest, payload: IgnoreIn, line_id: int = ObjectId) -> Status:
    return _match_status(reconcile.ignore(actor=apikit.actor(request), line_id=line_id, reason=payload.reason))


@router.post("/statement-lines/{line_id}/undo", response=responses(LineStateOut), summary="Undo a reconciliation")
def line_undo(request: HttpRequest, payload: UndoIn, line_id: int = ObjectId) -> Any:
    """Cancels the payment (reversal entry) or reverses the manual entry; the line is open again."""
    line = reconcile.undo(actor=apikit.actor(request), line_id=line_id, date=payload.date)
    return {"line_id": line.pk, "state": line.state}


@router.post("/reconcile/apply-rules", response=responses(ApplyRulesOut), summary="Apply the rules to open lines")
def apply_rules(request: HttpRequest, payload: ApplyRulesIn) -> Any:
    done = reconcile.apply_rules(actor=apikit.actor(request), bank_account_id=payload.bank_account_id)
    return {"reconciled": done}


@router.get("/rules", response=responses(list[RuleOut]), summary="List reconciliation rules")
def rule_list(request: HttpRequest) -> Any:
    return [_rule_out(rule) for rule in rules.rule_list(apikit.actor(request))]


@router.post("/rules", response=responses(RuleOut, status=201), summary="Create a reconciliation rule")
def rule_create(request: HttpRequest, payload: RuleIn) -> Status:
    return Status(201, _rule_out(rules.rule_create(actor=apikit.actor(request), **payload.model_dump())))


@router.get("/rules/{rule_id}", response=responses(RuleOut), summary="Get a reconciliation rule")
def rule_get(request: HttpRequest, rule_id: int = ObjectId) -> Any:
    return _rule_out(rules.rule_get(apikit.actor(request), rule_id))


@router.patch("/rules/{rule_id}", response=responses(RuleOut), summary="Change a reconciliation rule")
def rule_update(request: HttpRequest, payload: RulePatch, rule_id: int = ObjectId) -> Any:
    data = payload.model_dump(exclude_unset=True)
    return _rule_out(rules.rule_update(actor=apikit.actor(request), rule_id=rule_id, **data))


@router.delete("/rules/{rule_id}", response=responses(None, status=204), summary="Delete a reconciliation rule")
def rule_delete(request: HttpRequest, rule_id: int = ObjectId) -> Status:
    rules.rule_delete(actor=apikit.actor(request), rule_id=rule_id)
    return Status(204, None)

"""Accounting API: dunning levels, today's proposals, runs, the notices' history and automatic reminders.

Conventions: docs/api.md. Finance only (`accounting.manage_invoices`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.accounting import dunning
from comptoir.accounting.invoices import MANAGE
from comptoir.accounting.models import DunningLevel, DunningNotice
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound

router = apikit.module_router("accounting")


class LevelOut(Schema):
    id: int
    sequence: int
    name: str
    days_after_due: int
    action: str
    subject: str
    body: str
    attach_statement: bool
    include_penalties: bool
    is_active: bool


class LevelIn(InputSchema):
    sequence: int = Field(..., ge=1, le=20)
    name: str = Field(..., min_length=1, max_length=100)
    days_after_due: int = Field(..., ge=1, le=3650)
    action: str = "email"
    subject: str = Field("", max_length=200)
    body: str = Field("", max_length=5000)
    attach_statement: bool = True
    include_penalties: bool = False
    is_active: bool = True


class LevelPatch(InputSchema):
    sequence: int | None = Field(None, ge=1, le=20)
    name: str | None = Field(None, min_length=1, max_length=100)
    days_after_due: int | None = Field(None, ge=1, le=3650)
    action: str | None = None
    subject: str | None = Field(None, max_length=200)
    body: str | None = Field(None, max_length=5000)
    attach_statement: bool | None = None
    include_penalties: bool | None = None
    is_active: bool | None = None


class OverdueOut(Schema):
    invoice_id: int
    number: str
    due_date: dt.date
    days_overdue: int
    residual: str
    level: int


class ProposalOut(Schema):
    organization_id: int
    organization_name: str
    email: str
    level: int
    level_name: str
    action: str
    total: str
    penalties: str
    indemnity: str
    invoices: list[OverdueOut]


class RunIn(InputSchema):
    organization_ids: list[int] | None = Field(None, max_length=10_000)


class NoticeOut(Schema):
    id: int
    organization_id: int
    level: int
    date: dt.date
    action: str
    total_due: str
    penalties: str
    indemnity: str
    sent_to: str
    sent_at: dt.datetime | None


class AutomaticOut(Schema):
    auto_enabled: bool
    auto_mode: str = Field(description="email, activity or both: replaces each level's action when automatic.")
    last_auto_run: dt.date | None


class AutomaticIn(InputSchema):
    auto_enabled: bool | None = None
    auto_mode: str | None = Field(None, max_length=10)


class NoticeFilters(ListParams):
    organization_id: int | None = Field(None, ge=1, le=MAX_ID)


def _notice(notice: DunningNotice) -> dict[str, Any]:
    return {
        "id": notice.pk, "organization_id": notice.organization_id, "level": notice.level.sequence,
        "date": notice.date, "action": notice.action, "total_due": str(notice.total_due),
        "penalties": str(notice.penalties), "indemnity": str(notice.indemnity), "sent_to": notice.sent_to,
        "sent_at": notice.sent_at,
    }  # fmt: skip


@router.get("/dunning/levels", response=responses(list[LevelOut]), summary="List dunning levels")
def level_list(request: HttpRequest) -> list[DunningLevel]:
    actor = apikit.actor(request)
    require(actor, MANAGE)
    assert actor.company_id is not None
    return dunning.levels(actor.company_id)


@router.post("/dunning/levels", response=responses(LevelOut, status=201), summary="Create a dunning level")
def level_create(request: HttpRequest, payload: LevelIn) -> Status:
    return Status(201, dunning.level_create(actor=apikit.actor(request), **payload.model_dump()))


@router.patch("/dunning/levels/{level_id}", response=responses(LevelOut), summary="Change a dunning level")
def level_update(request: HttpRequest, payload: LevelPatch, level_id: int = Path(..., ge=1, le=MAX_ID)) -> Any:
    return dunning.level_update(actor=apikit.actor(request), level_id=level_id,
                                **payload.model_dump(exclude_unset=True))  # fmt: skip


@router.get("/dunning/proposals", response=responses(list[ProposalOut]), summary="Who is due a reminder")
def proposal_list(request: HttpRequest, date: dt.date | None = None) -> list[dict[str, Any]]:
    """Nothing is written: the reminders a run on `date` (default today) would record."""
    return [
        {
            "organization_id": p.organization_id, "organization_name": p.organization_name, "email": p.email,
            "level": p.level.sequence, "level_name": p.level.name, "action": p.level.action,
            "total": str(p.total), "penalties": str(p.penalties), "indemnity": str(p.indemnity),
            "invoices": [{"invoice_id": i.invoice_id, "number": i.number, "due_date": i.due_date,
                          "days_overdue": i.days_overdue, "residual": str(i.residual), "level": i.level.sequence}
                         for i in p.invoices],
        }
        for p in dunning.proposals(apikit.actor(request), date)
    ]  # fmt: skip


@router.post("/dunning/run", response=responses(list[NoticeOut]), summary="Send today's reminders")
def run(request: HttpRequest, payload: RunIn) -> list[dict[str, Any]]:
    """Records one notice per customer due a reminder (all, or `organization_ids`) and queues
    the emails and activities. Repeating the call the same day records nothing more."""
    notices = dunning.run(actor=apikit.actor(request), organization_ids=payload.organization_ids)
    return [_notice(notice) for notice in notices]


@router.get("/dunning/notices", response=responses(page_of(NoticeOut)), summary="Dunning history")
def notice_list(request: HttpRequest, params: Query[NoticeFilters]) -> dict[str, Any]:
    rows = dunning.history(apikit.actor(request), params.organization_id)
    page = apikit.paginate(rows, params, sort={"date": "date"}, default_sort="-date")
    page["items"] = [_notice(notice) for notice in page["items"]]
    return page


@router.get("/dunning/notices/{notice_id}", response=responses(NoticeOut), summary="A dunning notice")
def notice_get(request: HttpRequest, notice_id: int = Path(..., ge=1, le=MAX_ID)) -> dict[str, Any]:
    notice = dunning.history(apikit.actor(request)).filter(pk=notice_id).first()
    if notice is None:
        raise NotFound("dunning_notice_not_found")
    return _notice(notice)


@router.get("/dunning/settings", response=responses(AutomaticOut), summary="Automatic reminders")
def automatic_get(request: HttpRequest) -> Any:
    actor = apikit.actor(request)
    require(actor, MANAGE)
    assert actor.company_id is not None
    return dunning.settings_of(actor.company_id)


@router.patch("/dunning/settings", response=responses(AutomaticOut), summary="Switch automatic reminders")
def automatic_update(request: HttpRequest, payload: AutomaticIn) -> Any:
    """Off by default. When on, a daily task records and sends the reminders due, as the system
    (`auto_mode`: email with the statement attached, activity for the account manager, or both)."""
    return dunning.settings_update(actor=apikit.actor(request), **payload.model_dump(exclude_unset=True))

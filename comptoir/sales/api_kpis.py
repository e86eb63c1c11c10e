"""Sales API: KPIs and targets (conventions: docs/api.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Path, Schema
from ninja.responses import Status

from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, responses
from comptoir.sales import kpis

router = apikit.module_router("sales")
AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"


class BreakdownOut(Schema):
    key: str | None
    label: str
    orders: int
    revenue: str


class TargetRowOut(Schema):
    owner_id: int
    name: str
    target: str
    sold: str
    achieved: str | None
    weighted_pipeline: str


class KpisOut(Schema):
    date_from: dt.date
    date_to: dt.date
    currency: str
    leads: int
    leads_converted: int
    opportunities: int
    opportunities_quoted: int
    quotes: int
    quotes_ordered: int
    won: int
    lost: int
    orders: int
    other_currency_orders: int
    revenue: str
    lead_to_opportunity: str | None = Field(None, description="Percentage, one decimal.")
    opportunity_to_quote: str | None
    quote_to_order: str | None
    win_rate: str | None
    average_cycle_days: str | None
    average_deal: str | None
    by_salesperson: list[BreakdownOut]
    by_team: list[BreakdownOut]
    by_product: list[BreakdownOut]
    by_month: list[BreakdownOut]
    targets: list[TargetRowOut]


class TargetOut(Schema):
    id: int
    owner_id: int | None
    team_id: int | None
    start_date: dt.date
    end_date: dt.date
    amount: str


class TargetIn(InputSchema):
    owner_id: int | None = Field(None, ge=1, le=MAX_ID)
    team_id: int | None = Field(None, ge=1, le=MAX_ID)
    start_date: dt.date
    end_date: dt.date
    amount: str = Field(..., pattern=AMOUNT_PATTERN)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _rows(rows: list[kpis.Breakdown]) -> list[dict[str, Any]]:
    return [{"key": _text(row.key), "label": row.label, "orders": row.orders, "revenue": str(row.revenue)}
            for row in rows]  # fmt: skip


@router.get("/kpis", response=responses(KpisOut), summary="Sales KPIs for a period")
def kpi_get(request: HttpRequest, date_from: str | None = None, date_to: str | None = None) -> dict[str, Any]:
    """Funnel conversion rates, win rate, sales cycle, deal size, revenue breakdowns and targets.
    Default period: this year to date. Amounts are decimal strings excluding VAT."""
    result = kpis.compute(apikit.actor(request), date_from, date_to)
    data = {name: getattr(result, name) for name in (
        "date_from", "date_to", "currency", "leads", "leads_converted", "opportunities", "opportunities_quoted",
        "quotes", "quotes_ordered", "won", "lost", "orders", "other_currency_orders")}  # fmt: skip
    for name in ("revenue", "lead_to_opportunity", "opportunity_to_quote", "quote_to_order", "win_rate",
                 "average_cycle_days", "average_deal"):  # fmt: skip
        data[name] = _text(getattr(result, name))
    for name in ("by_salesperson", "by_team", "by_product", "by_month"):
        data[name] = _rows(getattr(result, name))
    data["targets"] = [{"owner_id": row.owner_id, "name": row.name, "target": str(row.target), "sold": str(row.sold),
                        "achieved": _text(row.achieved), "weighted_pipeline": str(row.weighted_pipeline)}
                       for row in result.targets]  # fmt: skip
    return data


def _target(target: Any) -> dict[str, Any]:
    return {"id": target.pk, "owner_id": target.owner_id, "team_id": target.team_id, "start_date": target.start_date,
            "end_date": target.end_date, "amount": str(target.amount)}  # fmt: skip


@router.get("/targets", response=responses(list[TargetOut]), summary="List sales targets")
def target_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [_target(target) for target in kpis.target_list(apikit.actor(request))[:1000]]


@router.post("/targets", response=responses(TargetOut, status=201), summary="Create a sales target")
def target_create(request: HttpRequest, payload: TargetIn) -> Status:
    return Status(201, _target(kpis.target_create(actor=apikit.actor(request), **payload.model_dump())))


@router.delete("/targets/{target_id}", response=responses(None, status=204), summary="Delete a sales target")
def target_delete(request: HttpRequest, target_id: int = Path(..., ge=1, le=MAX_ID)) -> Status:
    kpis.target_delete(actor=apikit.actor(request), target_id=target_id)
    return Status(204, None)

"""Sales KPIs, computed by the database (a handful of GROUP BY queries, whatever the volume).

For a period (dates inclusive, in the company's time zone as the database sees it):

* funnel — leads created in the period and how many became opportunities; opportunities
  created and how many got a quote; quotes created and how many became a sales order;
* win rate — of the opportunities closed in the period, the share won;
* average sales cycle — for orders confirmed in the period that came from an opportunity,
  days from the first contact (the lead's creation if the opportunity was qualified from a
  lead, else the opportunity's) to the order's confirmation;
* average deal size and revenue — sales orders confirmed in the period (not cancelled),
  excluding VAT, by salesperson, team, product (order lines) and month;
* pipeline against target — per salesperson: the target of the period (targets overlapping
  it), what they sold, and their open opportunities expected to close in it, weighted.

Amounts are in the company currency; orders in another currency are left out of the sums
and counted apart (``other_currency_orders``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from comptoir.crm.models import Lead, Opportunity, OpportunityStatus
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.models import Company, Team, User
from comptoir.sales.models import OrderLineKind, OrderState, Quote, SalesOrder, SalesOrderLine, SalesTarget

VIEW = "sales.view_kpis"
SOLD = (OrderState.CONFIRMED, OrderState.DONE)
MAX_DAYS = 3 * 366


def _cents(raw: Any) -> Decimal:
    return Decimal(int(raw or 0)).scaleb(-2)


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1")) if whole else None


def _money_sum(name: str) -> Sum:
    return Sum(name, output_field=models.BigIntegerField())


@dataclass
class Breakdown:
    key: Any
    label: str
    orders: int
    revenue: Decimal
    share: Decimal = Decimal(0)  # of the biggest row, for the bars (0–100)


@dataclass
class TargetRow:
    owner_id: int
    name: str
    target: Decimal
    sold: Decimal
    weighted_pipeline: Decimal

    @property
    def achieved(self) -> Decimal | None:
        return (self.sold * 100 / self.target).quantize(Decimal("0.1")) if self.target else None

    @property
    def gap(self) -> Decimal:
        return max(self.target - self.sold - self.weighted_pipeline, Decimal(0))


@dataclass
class Kpis:
    date_from: dt.date
    date_to: dt.date
    currency: str
    leads: int = 0
    leads_converted: int = 0
    opportunities: int = 0
    opportunities_quoted: int = 0
    quotes: int = 0
    quotes_ordered: int = 0
    won: int = 0
    lost: int = 0
    orders: int = 0
    revenue: Decimal = Decimal(0)
    other_currency_orders: int = 0
    average_cycle_days: Decimal | None = None
    by_salesperson: list[Breakdown] = field(default_factory=list)
    by_team: list[Breakdown] = field(default_factory=list)
    by_product: list[Breakdown] = field(default_factory=list)
    by_month: list[Breakdown] = field(default_factory=list)
    targets: list[TargetRow] = field(default_factory=list)

    @property
    def lead_to_opportunity(self) -> Decimal | None:
        return _rate(self.leads_converted, self.leads)

    @property
    def opportunity_to_quote(self) -> Decimal | None:
        return _rate(self.opportunities_quoted, self.opportunities)

    @property
    def quote_to_order(self) -> Decimal | None:
        return _rate(self.quotes_ordered, self.quotes)

    @property
    def win_rate(self) -> Decimal | None:
        return _rate(self.won, self.won + self.lost)

    @property
    def average_deal(self) -> Decimal | None:
        return (self.revenue / self.orders).quantize(Decimal("0.01")) if self.orders else None

    def funnel(self) -> list[tuple[str, int]]:
        return [(str(_("Leads")), self.leads), (str(_("Opportunities")), self.opportunities),
                (str(_("Quotes")), self.quotes), (str(_("Orders")), self.orders)]  # fmt: skip


def parse_period(date_from: Any, date_to: Any, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The period asked for (default: this year to date); bad dates → one error per field."""
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    parsed: dict[str, dt.date] = {}
    for name, value, default in (("date_from", date_from, dt.date(today.year, 1, 1)), ("date_to", date_to, today)):
        if value in (None, ""):
            parsed[name] = default
        elif isinstance(value, dt.date):
            parsed[name] = value
        else:
            try:
                parsed[name] = dt.date.fromisoformat(str(value))
            except ValueError:
                errors[name] = [str(_("Enter a valid date (YYYY-MM-DD)."))]
    if not errors and parsed["date_to"] < parsed["date_from"]:
        errors["date_to"] = [str(_("The end comes before the start."))]
    if not errors and (parsed["date_to"] - parsed["date_from"]).days > MAX_DAYS:
        errors["date_to"] = [str(_("At most three years at a time."))]
    if errors:
        raise ValidationFailed(fields=errors)
    return parsed["date_from"], parsed["date_to"]


def _bars(rows: list[Breakdown]) -> list[Breakdown]:
    top = max((row.revenue for row in rows), default=Decimal(0))
    for row in rows:
        row.share = (row.revenue * 100 / top).quantize(Decimal("0.1")) if top > 0 else Decimal(0)
    return rows


def compute(actor: Actor, date_from: Any = None, date_to: Any = None, *, top: int = 20) -> Kpis:
    require(actor, VIEW)
    assert actor.company_id is not None
    start, end = parse_period(date_from, date_to)
    company_id = actor.company_id
    currency = Company.objects.filter(pk=company_id).values_list("currency", flat=True).first() or "EUR"
    kpis = Kpis(date_from=start, date_to=end, currency=currency)

    leads = Lead.objects.filter(company_id=company_id, created_at__date__gte=start, created_at__date__lte=end)
    counts = leads.aggregate(n=Count("pk"), converted=Count("pk", filter=Q(opportunity__isnull=False)))
    kpis.leads, kpis.leads_converted = counts["n"], counts["converted"]

    quoted = Quote.objects.filter(opportunity_id=OuterRef("pk"))
    opportunities = Opportunity.objects.filter(company_id=company_id)
    counts = opportunities.filter(created_at__date__gte=start, created_at__date__lte=end).aggregate(
        n=Count("pk"), quoted=Count("pk", filter=Q(Exists(quoted)))
    )
    kpis.opportunities, kpis.opportunities_quoted = counts["n"], counts["quoted"]
    counts = opportunities.filter(closed_at__date__gte=start, closed_at__date__lte=end).aggregate(
        won=Count("pk", filter=Q(status=OpportunityStatus.WON)),
        lost=Count("pk", filter=Q(status=OpportunityStatus.LOST)),
    )
    kpis.won, kpis.lost = counts["won"], counts["lost"]

    ordered = SalesOrder.objects.filter(quote_id=OuterRef("pk"), state__in=SOLD)
    counts = Quote.objects.filter(
        company_id=company_id, created_at__date__gte=start, created_at__date__lte=end
    ).aggregate(n=Count("pk"), ordered=Count("pk", filter=Q(Exists(ordered))))
    kpis.quotes, kpis.quotes_ordered = counts["n"], counts["ordered"]

    sold = SalesOrder.objects.filter(company_id=company_id, state__in=SOLD, confirmed_at__date__gte=start,
                                     confirmed_at__date__lte=end)  # fmt: skip
    kpis.other_currency_orders = sold.exclude(currency=currency).count()
    sold = sold.filter(currency=currency)
    totals = sold.aggregate(n=Count("pk"), revenue=_money_sum("untaxed_amount"))
    kpis.orders, kpis.revenue = totals["n"], _cents(totals["revenue"])
    cycle = sold.filter(opportunity__isnull=False).aggregate(
        first=Count("pk"),
        days=Sum(F("confirmed_at") - Coalesce("opportunity__lead__created_at", "opportunity__created_at"),
                 output_field=models.DurationField()),
    )  # fmt: skip
    if cycle["first"] and cycle["days"] is not None:
        seconds = Decimal(cycle["days"].total_seconds()) / cycle["first"]
        kpis.average_cycle_days = (seconds / 86400).quantize(Decimal("0.1"))

    names = dict(User.objects.filter(pk__in=sold.values("owner_id")).values_list("pk", "full_name"))
    kpis.by_salesperson = _bars([
        Breakdown(row["owner_id"], names.get(row["owner_id"]) or str(_("Nobody")), row["n"], _cents(row["revenue"]))
        for row in sold.values("owner_id").annotate(n=Count("pk"), revenue=_money_sum("untaxed_amount"))
        .order_by("-revenue", "owner_id")[:top]
    ])  # fmt: skip
    teams = dict(Team.objects.filter(company_id=company_id).values_list("pk", "name"))
    kpis.by_team = _bars([
        Breakdown(row["team_id"], teams.get(row["team_id"]) or str(_("No team")), row["n"], _cents(row["revenue"]))
        for row in sold.values("team_id").annotate(n=Count("pk"), revenue=_money_sum("untaxed_amount"))
        .order_by("-revenue", "team_id")[:top]
    ])  # fmt: skip
    lines = SalesOrderLine.objects.filter(order__in=sold.values("pk"), kind=OrderLineKind.PRODUCT)
    english = (translation.get_language() or "fr").startswith("en")
    kpis.by_product = _bars([
        Breakdown(row["product_id"], _product_label(row, english), row["n"], _cents(row["revenue"]))
        for row in lines.values("product_id", "product__reference", "product__name_fr", "product__name_en")
        .annotate(n=Count("order_id", distinct=True), revenue=_money_sum("net_amount"))
        .order_by("-revenue", "product_id")[:top]
    ])  # fmt: skip
    kpis.by_month = _bars([
        Breakdown(row["month"], _month_label(row["month"]), row["n"], _cents(row["revenue"]))
        for row in sold.annotate(month=TruncMonth("confirmed_at")).values("month")
        .annotate(n=Count("pk"), revenue=_money_sum("untaxed_amount")).order_by("month")
    ])  # fmt: skip
    kpis.targets = _targets(company_id, start, end, sold)
    return kpis


def _product_label(row: dict[str, Any], english: bool) -> str:
    if row["product_id"] is None:
        return str(_("Free text lines"))
    name = (row["product__name_en"] if english else "") or row["product__name_fr"] or ""
    return f"[{row['product__reference']}] {name}" if row["product__reference"] else name


def _month_label(value: Any) -> str:
    day = value.date() if isinstance(value, dt.datetime) else value
    return day.strftime("%Y-%m") if day else ""


def _targets(company_id: int, start: dt.date, end: dt.date, sold: Any) -> list[TargetRow]:
    """Per salesperson with a target overlapping the period: target, sold, weighted open pipeline."""
    targets: dict[int, Decimal] = defaultdict(Decimal)
    for row in SalesTarget.objects.filter(company_id=company_id, owner__isnull=False, start_date__lte=end,
                                          end_date__gte=start).values("owner_id").annotate(
                                              amount=_money_sum("amount")):  # fmt: skip
        targets[row["owner_id"]] += _cents(row["amount"])
    if not targets:
        return []
    sold_by = {
        row["owner_id"]: _cents(row["revenue"])
        for row in sold.filter(owner_id__in=list(targets)).values("owner_id")
        .annotate(revenue=_money_sum("untaxed_amount")).order_by()
    }  # fmt: skip
    weighted = {
        row["owner_id"]: Decimal(int(row["weighted"] or 0)).scaleb(-4)
        for row in Opportunity.objects.filter(
            company_id=company_id, owner_id__in=list(targets), status=OpportunityStatus.OPEN,
            expected_close_date__gte=start, expected_close_date__lte=end,
        ).values("owner_id").annotate(
            weighted=Sum(F("amount") * F("probability"), output_field=models.BigIntegerField())
        ).order_by()
    }  # fmt: skip
    names = dict(User.objects.filter(pk__in=list(targets)).values_list("pk", "full_name"))
    rows = [
        TargetRow(owner_id, names.get(owner_id, ""), amount, sold_by.get(owner_id, Decimal(0)),
                  weighted.get(owner_id, Decimal(0)).quantize(Decimal("0.01")))
        for owner_id, amount in targets.items()
    ]  # fmt: skip
    return sorted(rows, key=lambda row: row.name)


# --- Targets --------------------------------------------------------------------------


def target_list(actor: Actor) -> Any:
    require(actor, VIEW)
    return (
        SalesTarget.objects.filter(company_id=actor.company_id)
        .select_related("owner", "team")
        .order_by("-start_date", "id")
    )


def _clean_target(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    allowed = {"owner_id", "team_id", "start_date", "end_date", "amount"}
    for name in data:
        if name not in allowed:
            errors[name] = [str(_("Unknown field."))]
    start: dt.date | None = None
    end: dt.date | None = None
    try:
        start, end = parse_period(data.get("start_date") or "x", data.get("end_date") or "x")
    except ValidationFailed as exc:
        errors.update({"start_date" if k == "date_from" else "end_date": v for k, v in exc.fields.items()})
    try:
        amount = Decimal(str(data.get("amount")))
        if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")) or amount > 10**12:
            raise ValueError
    except (ArithmeticError, ValueError):
        errors["amount"] = [str(_("Enter a positive amount with at most 2 decimals."))]
        amount = Decimal(0)
    owner_id, team_id = data.get("owner_id"), data.get("team_id")
    if owner_id and team_id:
        errors["team_id"] = [str(_("A target is a salesperson's or a team's, not both."))]
    if owner_id and not User.objects.filter(pk=owner_id if isinstance(owner_id, int) else 0,
                                            memberships__company_id=actor.company_id).exists():  # fmt: skip
        errors["owner_id"] = [str(_("Unknown salesperson."))]
    if team_id and not Team.objects.filter(pk=team_id if isinstance(team_id, int) else 0,
                                           company_id=actor.company_id).exists():  # fmt: skip
        errors["team_id"] = [str(_("Unknown team."))]
    if errors:
        raise ValidationFailed(fields=errors)
    return {"owner_id": owner_id or None, "team_id": team_id or None, "start_date": start, "end_date": end,
            "amount": amount}  # fmt: skip


def target_create(*, actor: Actor, **data: Any) -> SalesTarget:
    from comptoir.kernel import audit

    require(actor, VIEW)
    require(actor, "sales.manage_orders")
    cleaned = _clean_target(actor, data)
    target = SalesTarget.objects.create(company_id=actor.company_id, **cleaned)
    audit.record(actor, "sales_target.create", target, changes=audit.diff({}, cleaned))
    return target


def target_delete(*, actor: Actor, target_id: int) -> None:
    from comptoir.kernel import audit

    require(actor, VIEW)
    require(actor, "sales.manage_orders")
    target = SalesTarget.objects.filter(company_id=actor.company_id, pk=target_id).first()
    if target is None:
        raise NotFound("sales_target_not_found")
    audit.record(actor, "sales_target.delete", target, changes={"amount": [str(target.amount), None]})
    target.delete()

"""Sales KPIs: funnel rates, win rate, sales cycle, deal size, revenue breakdowns and targets —
computed by the database, shown on a page with charts, exported, and in the API."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from comptoir.crm import services as crm_services
from comptoir.crm.models import Lead, LostReason
from comptoir.kernel import events
from comptoir.kernel.errors import PermissionDenied, ValidationFailed
from comptoir.org.testing import Personas
from comptoir.sales import kpis
from comptoir.sales.models import SalesOrder, SalesTarget
from comptoir.sales.orders import order_create_from_quote
from comptoir.sales.tests.orders_kit import Shop, accepted_quote, confirmed_order, make_shop, opportunity, product_line
from comptoir.sales.tests.test_orders_web import call, key, login

pytestmark = pytest.mark.django_db


def today():
    """Read when a test runs (a run crossing midnight on 31 December sees the new year)."""
    return timezone.localdate()


@pytest.fixture
def shop(personas: Personas) -> Shop:
    return make_shop(personas)


def sell(shop: Shop) -> None:
    """Two leads (one qualified), three opportunities (one won through an order, one lost, one
    open), two quotes (one ordered), orders by the salesperson: 480 + 900 excl. VAT."""
    sales = shop.actor("sales")
    Lead.objects.create(company_id=shop.company_id, title="Lead perdu", owner=shop.personas.users["sales"])
    won = opportunity(shop)
    lead = Lead.objects.create(company_id=shop.company_id, title="Lead qualifié", opportunity=won)
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    lost = crm_services.opportunity_create(actor=sales, title="Perdue", organization_id=shop.customer_id)
    reason = LostReason.objects.filter(company_id=shop.company_id).first()
    assert reason is not None
    crm_services.opportunity_mark_lost(actor=sales, opportunity_id=lost.pk, lost_reason_id=reason.pk)
    crm_services.opportunity_create(actor=sales, title="Ouverte", organization_id=shop.customer_id, amount="1000.00",
                                    probability=50, expected_close_date=today())  # fmt: skip
    quote = accepted_quote(shop, opportunity_id=won.pk, number="DE-1")
    accepted_quote(shop, number="DE-2", state="sent")
    order_create_from_quote(actor=sales, quote_id=quote.pk)
    events.dispatch_pending()  # the CRM marks the opportunity won (outbox subscriber)
    confirmed_order(shop, [product_line(shop.chair, "6", "80.00")])


def confirmed_months(shop: Shop) -> list[str]:
    """The months (Europe/Paris) the orders were confirmed in, read from them: not the import
    day of this module, which a run crossing midnight at a month's end leaves behind."""
    confirmed = SalesOrder.objects.filter(company_id=shop.company_id, state="confirmed")
    stamps = confirmed.values_list("confirmed_at", flat=True)
    return sorted({timezone.localtime(stamp).strftime("%Y-%m") for stamp in stamps if stamp is not None})


def test_kpis_from_the_system_data(shop: Shop) -> None:
    sell(shop)
    # The last 30 days, not the default year to date: the lead dated 10 days back is last
    # year's from 1 to 10 January.
    today = timezone.localdate()
    result = kpis.compute(shop.actor("management"), date_from=today - dt.timedelta(days=30), date_to=today)
    assert (result.leads, result.leads_converted, result.lead_to_opportunity) == (2, 1, Decimal("50.0"))
    assert (result.opportunities, result.opportunities_quoted) == (3, 1)
    assert (result.quotes, result.quotes_ordered, result.quote_to_order) == (2, 1, Decimal("50.0"))
    assert (result.won, result.lost, result.win_rate) == (1, 1, Decimal("50.0"))
    orders = SalesOrder.objects.filter(company_id=shop.company_id, state="confirmed")
    revenue = sum((o.untaxed_amount for o in orders), Decimal(0))
    assert (
        result.orders == 2
        and result.revenue == revenue
        and result.average_deal == (revenue / 2).quantize(Decimal("0.01"))
    )
    # The qualified lead was created 10 days before its order: first contact → order.
    assert result.average_cycle_days == Decimal("10.0")
    assert [(row.key, row.revenue) for row in result.by_salesperson] == [(shop.personas.users["sales"].pk, revenue)]
    assert sum((row.revenue for row in result.by_product), Decimal(0)) == revenue
    assert [row.label for row in result.by_month] == confirmed_months(shop)
    assert result.by_product[0].share == Decimal("100.0")


def test_pipeline_against_target(shop: Shop) -> None:
    sell(shop)
    sales_user = shop.personas.users["sales"]
    kpis.target_create(actor=shop.actor("management"), owner_id=sales_user.pk, start_date=today().replace(day=1),
                       end_date=today(), amount="5000.00")  # fmt: skip
    [row] = kpis.compute(shop.actor("management")).targets
    assert row.owner_id == sales_user.pk and row.target == Decimal("5000.00")
    assert row.weighted_pipeline == Decimal("500.00")  # 1,000 at 50 %
    assert row.sold == kpis.compute(shop.actor("management")).revenue
    assert row.gap == Decimal("5000.00") - row.sold - Decimal("500.00")


def test_constant_queries_whatever_the_volume(shop: Shop) -> None:
    sell(shop)
    actor = shop.actor("management")
    with CaptureQueriesContext(connection) as small:
        kpis.compute(actor)
    for _i in range(5):
        confirmed_order(shop, [product_line(shop.book, "3")])
        crm_services.opportunity_create(
            actor=shop.actor("sales"), title=f"Autre {_i}", organization_id=shop.customer_id
        )
    with CaptureQueriesContext(connection) as large:
        kpis.compute(actor)
    assert len(large.captured_queries) == len(small.captured_queries) <= 20


def test_bad_periods_and_permissions(shop: Shop) -> None:
    actor = shop.actor("management")
    with pytest.raises(ValidationFailed) as caught:
        kpis.compute(actor, "2026-13-01", "nope")
    assert set(caught.value.fields) == {"date_from", "date_to"}
    with pytest.raises(ValidationFailed) as caught:
        kpis.compute(actor, "2026-02-01", "2026-01-01")
    assert "date_to" in caught.value.fields
    with pytest.raises(PermissionDenied):
        kpis.compute(shop.actor("sales"))
    with pytest.raises(ValidationFailed) as caught:
        kpis.target_create(actor=actor, owner_id=10**9, team_id=None, start_date="x", end_date="2026-01-01",
                           amount="-3")  # fmt: skip
    assert {"owner_id", "start_date", "amount"} <= set(caught.value.fields)
    assert not SalesTarget.objects.exists()


def test_kpi_page_charts_and_exports(shop: Shop, client: Client) -> None:
    sell(shop)
    login(client, shop, "management")
    page = client.get("/sales/kpis/")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-kpi="win_rate">50.0 %' in html and 'id="chart-months"' in html
    export = client.get("/sales/kpis/?table=salesperson&format=xlsx")
    assert export.status_code == 200
    sheet = load_workbook(filename=io.BytesIO(export.getvalue()))
    rows = list(sheet.active.iter_rows(values_only=True))
    assert rows[0][0] == "Revenue by salesperson" and len(rows) == 2
    csv = client.get("/sales/kpis/?table=funnel&format=csv")
    assert b"Win rate" in csv.getvalue()
    assert client.get("/sales/kpis/?date_from=2026-02-30").status_code == 422
    assert client.get("/sales/kpis/?table=product&format=pdf").status_code == 422
    targets = client.post("/sales/kpis/targets/", {"owner_id": str(shop.personas.users["sales"].pk),
                                                   "start_date": today().isoformat(), "end_date": today().isoformat(),
                                                   "amount": "1000"})  # fmt: skip
    assert targets.status_code == 302 and SalesTarget.objects.count() == 1
    assert "data-owner" in client.get("/sales/kpis/").content.decode()
    login(client, shop, "sales")
    assert client.get("/sales/kpis/").status_code == 403


def test_kpi_api(shop: Shop, client: Client) -> None:
    sell(shop)
    h = key(shop, "management")
    data = call(client, "get", "/kpis", h).json()
    assert data["win_rate"] == "50.0" and data["orders"] == 2
    assert [m["label"] for m in data["by_month"]] == confirmed_months(shop)
    assert call(client, "get", "/kpis?date_from=bad", h).status_code == 422
    created = call(client, "post", "/targets", h, {"start_date": today().isoformat(), "end_date": today().isoformat(),
                                                   "amount": "2000.00"})  # fmt: skip
    assert created.status_code == 201, created.content
    assert [t["amount"] for t in call(client, "get", "/targets", h).json()] == ["2000.00"]
    assert call(client, "delete", f"/targets/{created.json()['id']}", h).status_code == 204
    assert call(client, "get", "/kpis", key(shop, "sales")).status_code == 403

"""The CRM API: CRUD, workflow actions, record rules, amounts rule, errors, query counts."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from comptoir.crm import services
from comptoir.crm.models import LostReason, Opportunity, Stage
from comptoir.org import services as org_services
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db
API = "/api/v1"


def key(personas: Personas, role: str, scopes: list[str] | None = None) -> dict[str, str]:
    _k, secret = org_services.apikey_create(
        actor=personas.actor(role), name=f"{role} key", scopes=scopes or ["crm:write", "contacts:write"]
    )
    return {"Authorization": f"Bearer {secret}"}


def call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    if method == "get":
        return client.get(API + url, headers=headers)
    data = body if isinstance(body, str) else json.dumps(body or {})
    return getattr(client, method)(API + url, data=data, content_type="application/json", headers=headers)


def error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    data = response.json()
    assert set(data) == {"code", "message", "fields"}
    if code:
        assert data["code"] == code
    return data  # type: ignore[no-any-return]


def test_opportunity_lifecycle(crm: Personas, client: Client) -> None:
    h = key(crm, "sales")
    pipelines = call(client, "get", "/pipelines", h)
    assert pipelines.status_code == 200
    pipeline = pipelines.json()[0]
    assert [s["kind"] for s in pipeline["stages"]] == ["open", "open", "open", "won", "lost"]
    created = call(client, "post", "/opportunities", h, {"title": "Four à pain", "amount": "12500.50"})
    assert created.status_code == 201, created.content
    opp = created.json()
    assert opp["amount"] == "12500.50" and opp["stage_id"] == pipeline["stages"][0]["id"] and opp["probability"] == 10
    assert opp["actions"] == ["mark_won", "mark_lost"]
    oid = opp["id"]
    patched = call(client, "patch", f"/opportunities/{oid}", h, {"title": "Four à bois", "probability": 25})
    assert patched.status_code == 200 and patched.json()["title"] == "Four à bois"
    moved = call(client, "post", f"/opportunities/{oid}/move-stage", h, {"stage_id": pipeline["stages"][1]["id"]})
    assert moved.status_code == 200 and moved.json()["probability"] == 30
    error(call(client, "post", f"/opportunities/{oid}/move-stage", h, {"stage_id": pipeline["stages"][3]["id"]}), 409)
    won = call(client, "post", f"/opportunities/{oid}/mark-won", h)
    assert won.json()["status"] == "won" and won.json()["actions"] == ["reopen"]
    error(call(client, "post", f"/opportunities/{oid}/mark-won", h), 409, "invalid_transition")
    assert call(client, "post", f"/opportunities/{oid}/reopen", h).json()["status"] == "open"
    reason = LostReason.objects.filter(company=crm.company).first()
    assert reason is not None
    lost = call(client, "post", f"/opportunities/{oid}/mark-lost", h, {"lost_reason_id": reason.pk, "note": "Prix"})
    assert lost.json()["status"] == "lost" and lost.json()["lost_reason_id"] == reason.pk
    listed = call(client, "get", "/opportunities?status=lost&sort=-amount", h).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == oid


def test_bad_input_is_422_per_field(crm: Personas, client: Client) -> None:
    h = key(crm, "sales")
    bad = call(client, "post", "/opportunities", h, {"title": "x", "amount": "1.234", "currency": "E", "nope": 1})
    fields = error(bad, 422)["fields"]
    assert {"amount", "currency", "nope"} <= set(fields)
    error(call(client, "post", "/opportunities", h, {"title": "", "organization_id": 2**62}), 422)
    error(call(client, "post", "/opportunities", h, "{not json"), 422)
    error(call(client, "get", "/opportunities?sort=bogus", h), 422)
    error(call(client, "get", "/opportunities/99999999999999999999", h), 422)
    error(call(client, "post", "/leads/1/discard", h, {"reason": "x\x00"}), 422)
    assert not Opportunity.objects.exists()


def test_permission_record_rules_and_gating(crm: Personas, client: Client) -> None:
    opp = services.opportunity_create(actor=crm.actor("sales"), title="A")
    error(client.get(f"{API}/opportunities"), 401)
    # Service may read (no row of its own) but not create.
    service = key(crm, "service")
    error(call(client, "post", "/opportunities", service, {"title": "x"}), 403)
    error(call(client, "get", f"/opportunities/{opp.pk}", service), 404)
    # A read-only key cannot act.
    read_only = key(crm, "sales", scopes=["crm:read"])
    assert call(client, "get", f"/opportunities/{opp.pk}", read_only).status_code == 200
    error(call(client, "post", f"/opportunities/{opp.pk}/mark-won", read_only), 403)
    # Another company: 404 on its rows, even for its administrator.
    _k, secret = org_services.apikey_create(actor=crm.outsider_actor(), name="o", scopes=["org:read"])
    outsider = {"Authorization": f"Bearer {secret}"}
    error(call(client, "get", f"/opportunities/{opp.pk}", outsider), 404)
    # Module switched off: every CRM endpoint is 404.
    org_services.module_set(actor=crm.actor("admin"), module="crm", enabled=False)
    error(call(client, "get", "/opportunities", key(crm, "admin", ["crm:read"])), 404, "module_disabled")


def test_amounts_null_for_marketing_when_hidden(crm: Personas, client: Client) -> None:
    opp = services.opportunity_create(actor=crm.actor("sales"), title="A", amount=Decimal("99.90"))
    h = key(crm, "marketing")
    assert call(client, "get", f"/opportunities/{opp.pk}", h).json()["amount"] == "99.90"
    services.crm_settings_update(actor=crm.actor("management"), hide_amounts_from_marketing=True)
    assert call(client, "get", f"/opportunities/{opp.pk}", h).json()["amount"] is None
    assert call(client, "get", "/opportunities", h).json()["items"][0]["amount"] is None
    error(call(client, "get", "/opportunities?sort=amount", h), 422)
    error(call(client, "patch", f"/opportunities/{opp.pk}", h, {"amount": "1.00"}), 403)
    assert call(client, "get", f"/opportunities/{opp.pk}", key(crm, "sales")).json()["amount"] == "99.90"


def test_leads_endpoints(crm: Personas, client: Client) -> None:
    h = key(crm, "sales")
    lead = call(client, "post", "/leads", h, {"title": "Salon", "organization_name": "Fournil SARL"})
    assert lead.status_code == 201 and lead.json()["actions"] == ["qualify", "discard"]
    lid = lead.json()["id"]
    assert call(client, "patch", f"/leads/{lid}", h, {"source": "salon"}).json()["source"] == "salon"
    qualified = call(client, "post", f"/leads/{lid}/qualify", h, {"amount": "800"})
    assert qualified.status_code == 201 and qualified.json()["organization_name"] == "Fournil SARL"
    error(call(client, "post", f"/leads/{lid}/discard", h, {"reason": "x"}), 409)
    other = call(client, "post", "/leads", h, {"title": "Spam"}).json()["id"]
    assert call(client, "post", f"/leads/{other}/discard", h, {"reason": "spam"}).json()["status"] == "discarded"
    assert call(client, "get", "/leads?status=new", h).json()["count"] == 0


def test_list_queries_constant(crm: Personas, client: Client) -> None:
    h = key(crm, "management")
    actor = crm.actor("management")
    services.opportunity_create(actor=actor, title="O0", amount=Decimal("1"))

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = call(client, "get", "/opportunities?page_size=100", h)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    count()  # the key's first use records its last-used time
    one = count()
    stage = Stage.objects.filter(pipeline__company=crm.company, kind="open").last()
    for i in range(49):
        services.opportunity_create(actor=actor, title=f"O{i + 1}", stage_id=stage.pk if stage else None)
    assert count() == one

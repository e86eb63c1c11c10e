"""CRM pages: board, move, list (filters, export, queries), detail actions, leads, settings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.crm import services
from comptoir.crm.models import Lead, LostReason, Opportunity, Stage
from comptoir.kernel.models import OutboxEvent
from comptoir.org import services as org_services
from comptoir.org.models import User
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db


def login(client: Client, personas: Personas, role: str) -> Client:
    user = personas.users[role]
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language="en"
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def _opp(personas: Personas, **data: Any) -> Opportunity:
    data.setdefault("title", "Pétrin")
    return services.opportunity_create(actor=personas.actor("sales"), **data)


def test_board_shows_totals_and_drop_moves(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    opp = _opp(crm, amount=Decimal("1000.00"))
    response = client.get("/crm/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Pétrin" in html and 'data-move-url="/crm/opportunities/' in html and "crm/kanban.js" in html
    assert "<script>" not in html  # CSP: no inline script
    proposal = Stage.objects.get(pipeline=opp.pipeline, probability=30)
    moved = client.post(f"/crm/opportunities/{opp.pk}/move/", {"stage_id": proposal.pk}, headers={"HX-Request": "true"})
    assert moved.status_code == 200
    fragment = moved.content.decode()
    assert fragment.lstrip().startswith('<div id="board"') and "300.00" in fragment  # 1000 × 30 %
    assert Opportunity.objects.get(pk=opp.pk).stage_id == proposal.pk
    won = Stage.objects.get(pipeline=opp.pipeline, kind="won")
    refused = client.post(f"/crm/opportunities/{opp.pk}/move/", {"stage_id": won.pk}, headers={"HX-Request": "true"})
    assert refused.status_code == 409 and refused["HX-Retarget"] == "#errors"
    bad = client.post(f"/crm/opportunities/{opp.pk}/move/", {"stage_id": "abc"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422
    assert client.get("/crm/opportunities/999999999999999999999999/").status_code == 404


def test_board_queries_constant(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    _opp(crm, amount=Decimal("1"))

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/crm/").status_code == 200
        return len(ctx.captured_queries)

    count()  # the first request of a session does one-off work (session, company choice)
    one = count()
    for i in range(49):
        _opp(crm, title=f"O{i}", amount=Decimal(i))
    assert count() == one


def test_list_filters_export_and_queries(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    _opp(crm, title="Four à pain", amount=Decimal("10.50"))
    _opp(crm, title="Pétrin", amount=Decimal("20"))

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    count("/crm/opportunities/?q=four")  # the session's one-off work
    one = count("/crm/opportunities/?q=four")
    for i in range(49):
        _opp(crm, title=f"Four {i}")
    assert count("/crm/opportunities/?q=four&page=1") == one
    response = client.get("/crm/opportunities/?q=petrin")
    assert response.context["page"].count == 1
    assert client.get("/crm/opportunities/?sort=bogus").status_code == 422
    export = client.get("/crm/opportunities/?q=p%C3%A9trin&format=csv")
    body = b"".join(export.streaming_content).decode()  # type: ignore[attr-defined]
    assert "Amount" in body and "20.00" in body and "Four" not in body
    assert client.get("/crm/opportunities/?format=pdf").status_code == 422


def test_amounts_hidden_from_marketing_in_pages_and_export(crm: Personas, client: Client) -> None:
    _opp(crm, title="Secret", amount=Decimal("4321.99"))
    services.crm_settings_update(actor=crm.actor("management"), hide_amounts_from_marketing=True)
    login(client, crm, "marketing")
    for url in ("/crm/", "/crm/opportunities/", "/crm/opportunities/?format=csv"):
        response = client.get(url)
        content = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
        assert b"Secret" in content
        assert b"4321" not in content and b"4,321" not in content and b"Amount" not in content, url
    opp = Opportunity.objects.get()
    assert b"4321" not in client.get(f"/crm/opportunities/{opp.pk}/").content


def test_detail_actions_and_lost_dialog(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    opp = _opp(crm)
    page = client.get(f"/crm/opportunities/{opp.pk}/").content.decode()
    assert 'id="action-mark_won"' in page and 'id="action-mark_lost"' in page and 'id="action-reopen"' not in page
    invalid = client.post(f"/crm/opportunities/{opp.pk}/mark_lost/", {"lost_reason_id": "", "note": "x"})
    assert invalid.status_code == 422 and "lost_reason_id" in invalid.context["lost_form"].errors
    assert Opportunity.objects.get(pk=opp.pk).status == "open"
    reason = LostReason.objects.filter(company=crm.company).first()
    assert reason is not None
    client.post(f"/crm/opportunities/{opp.pk}/mark_lost/", {"lost_reason_id": reason.pk, "note": "Trop cher"})
    assert Opportunity.objects.get(pk=opp.pk).status == "lost"
    page = client.get(f"/crm/opportunities/{opp.pk}/").content.decode()
    assert 'id="action-reopen"' in page and 'id="action-mark_won"' not in page and "Trop cher" in page
    assert client.post(f"/crm/opportunities/{opp.pk}/mark_won/").status_code == 409
    client.post(f"/crm/opportunities/{opp.pk}/reopen/")
    client.post(f"/crm/opportunities/{opp.pk}/mark_won/")
    assert Opportunity.objects.get(pk=opp.pk).status == "won"
    assert OutboxEvent.objects.filter(name="crm.opportunity_won").count() == 1
    assert client.post(f"/crm/opportunities/{opp.pk}/explode/").status_code == 404


def test_service_role_sees_no_actions_and_403(crm: Personas, client: Client) -> None:
    opp = services.opportunity_create(actor=crm.actor("management"), title="Vu", owner_id=crm.users["service"].pk)
    login(client, crm, "service")
    page = client.get(f"/crm/opportunities/{opp.pk}/").content.decode()
    assert "action-mark_won" not in page
    assert client.post(f"/crm/opportunities/{opp.pk}/mark_won/").status_code == 403
    assert client.get("/crm/opportunities/new/").status_code == 403
    assert client.get("/crm/settings/").status_code == 403


def test_record_rules_and_module_gate(crm: Personas, client: Client) -> None:
    other = services.opportunity_create(actor=crm.actor("management"), title="Pas à moi")
    login(client, crm, "sales")
    assert client.get(f"/crm/opportunities/{other.pk}/").status_code == 404
    assert client.post(f"/crm/opportunities/{other.pk}/mark_won/").status_code == 404
    assert "Pas à moi" not in client.get("/crm/").content.decode()
    org_services.module_set(actor=crm.actor("admin"), module="crm", enabled=False)
    assert client.get("/crm/").status_code == 404


def test_create_form_errors_next_to_fields(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    response = client.post("/crm/opportunities/new/", {"title": "", "amount": "-1", "currency": "EUR"})
    assert response.status_code == 200 and {"title", "amount"} <= set(response.context["form"].errors)
    owner = crm.users["sales"].pk
    response = client.post(
        "/crm/opportunities/new/", {"title": "Four", "amount": "12.5", "currency": "eu", "owner_id": owner}
    )
    assert "currency" in response.context["form"].errors
    assert not Opportunity.objects.exists()
    response = client.post(
        "/crm/opportunities/new/", {"title": "Four", "amount": "12.5", "currency": "EUR", "owner_id": owner}
    )
    opp = Opportunity.objects.get()
    assert response.status_code == 302 and opp.amount == Decimal("12.50")
    response = client.post(
        f"/crm/opportunities/{opp.pk}/edit/", {"title": "Four 2", "amount": "13", "currency": "EUR", "owner_id": owner}
    )
    assert response.status_code == 302 and Opportunity.objects.get().title == "Four 2"


def test_leads_pages(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    assert client.post("/crm/leads/new/", {"title": "", "email": "x"}).status_code == 200
    client.post("/crm/leads/new/", {"title": "Salon", "organization_name": "Moulin SA", "email": "a@moulin.fr"})
    lead = Lead.objects.get()
    assert "Salon" in client.get("/crm/leads/?q=moulin").content.decode()
    assert client.post(f"/crm/leads/{lead.pk}/discard/", {"reason": ""}).status_code == 422
    response = client.post(f"/crm/leads/{lead.pk}/qualify/")
    assert response.status_code == 302 and Lead.objects.get().status == "qualified"
    assert client.post(f"/crm/leads/{lead.pk}/qualify/").status_code == 409
    assert b"Salon" in b"".join(client.get("/crm/leads/?format=csv").streaming_content)  # type: ignore[attr-defined]


def test_pipeline_settings(crm: Personas, client: Client) -> None:
    login(client, crm, "management")
    assert client.get("/crm/settings/").status_code == 200
    response = client.post("/crm/settings/", {"name": "Démo", "sequence": 25, "probability": 150, "kind": "open"})
    assert response.status_code == 422 and "probability" in response.context["stage_form"].errors
    response = client.post("/crm/settings/", {"name": "Démo", "sequence": 25, "probability": 40, "kind": "open"})
    assert response.status_code == 302
    stage = Stage.objects.get(name="Démo")
    client.post(f"/crm/stages/{stage.pk}/edit/", {"name": "Démo", "sequence": 25, "probability": 45, "kind": "open"})
    assert Stage.objects.get(pk=stage.pk).probability == 45
    client.post(f"/crm/stages/{stage.pk}/delete/")
    assert not Stage.objects.filter(pk=stage.pk).exists()
    client.post("/crm/settings/save/", {"hide_amounts_from_marketing": "on"})
    from comptoir.crm.models import CrmSettings

    assert CrmSettings.objects.get(company=crm.company).hide_amounts_from_marketing
    home = client.get("/").content.decode()
    assert "/crm/settings/" in home and "/crm/leads/" in home

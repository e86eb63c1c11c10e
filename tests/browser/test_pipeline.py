"""The pipeline in a real browser: drag a card to another stage, totals follow; mark it won."""

from __future__ import annotations

from decimal import Decimal

import pytest

from comptoir.crm import services
from comptoir.crm.models import Opportunity, Stage
from comptoir.org.models import User
from comptoir.org.testing import PASSWORD, Personas, enable_modules

from .conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_drag_card_then_mark_won(page, personas: Personas) -> None:  # type: ignore[no-untyped-def]
    enable_modules(personas, "contacts", "crm")
    user = personas.users["sales"]
    User.objects.filter(pk=user.pk).update(language="en")
    actor = personas.actor("sales")
    opp = services.opportunity_create(actor=actor, title="Four à pain", amount=Decimal("1000.00"))
    services.opportunity_create(actor=actor, title="Pétrin", amount=Decimal("500.00"))
    proposal = Stage.objects.get(pipeline=opp.pipeline, probability=30)

    login(page, user.email, PASSWORD)
    page.goto("/crm/")
    first = page.locator(f"[data-stage-id='{opp.stage_id}']")
    second = page.locator(f"[data-stage-id='{proposal.pk}']")
    assert first.locator("[data-count]").inner_text() == "2"
    assert page.locator("#board-weighted").inner_text() == "150.00"  # (1000 + 500) × 10 %

    page.drag_and_drop(f"[data-opportunity-id='{opp.pk}']", f"[data-stage-id='{proposal.pk}'] .kanban-cards")
    second.locator(f"[data-opportunity-id='{opp.pk}']").wait_for()
    assert first.locator("[data-count]").inner_text() == "1"
    assert second.locator("[data-count]").inner_text() == "1"
    assert second.locator("[data-weighted]").inner_text() == "300.00"
    assert page.locator("#board-weighted").inner_text() == "350.00"  # 50 + 300
    assert Opportunity.objects.get(pk=opp.pk).stage_id == proposal.pk

    page.click(f"[data-opportunity-id='{opp.pk}'] a")
    page.click("#action-mark_won")
    with page.expect_navigation():
        page.click("#confirm-won")
    assert page.locator("#opportunity-status").get_attribute("data-status") == "won"
    assert page.locator("#action-reopen").is_visible()
    assert Opportunity.objects.get(pk=opp.pk).status == "won"
    page.goto("/crm/")
    assert page.locator(f"[data-opportunity-id='{opp.pk}']").count() == 0
    assert page.locator("#board-total").inner_text() == "500.00"

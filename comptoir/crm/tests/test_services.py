from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from comptoir.contacts.models import Organization, Person
from comptoir.crm import selectors, services
from comptoir.crm.models import Lead, LostReason, Opportunity, Pipeline, Stage
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent
from comptoir.org.models import Team
from comptoir.org.testing import Personas, make_user

pytestmark = pytest.mark.django_db


def _opp(personas: Personas, role: str = "sales", **data: Any) -> Opportunity:
    data.setdefault("title", "Cuisine pro")
    return services.opportunity_create(actor=personas.actor(role), **data)


def test_default_pipeline_created_once(crm: Personas) -> None:
    first = services.pipeline_ensure_default(actor=crm.actor("sales"))
    second = services.pipeline_ensure_default(actor=crm.actor("management"))
    assert first.pk == second.pk
    assert Pipeline.objects.filter(company=crm.company).count() == 1
    kinds = list(Stage.objects.filter(pipeline=first).order_by("sequence").values_list("kind", "probability"))
    assert kinds == [("open", 10), ("open", 30), ("open", 60), ("won", 100), ("lost", 0)]
    assert LostReason.objects.filter(company=crm.company).count() == 5


def test_create_uses_first_open_stage_and_owner(crm: Personas) -> None:
    opp = _opp(crm, amount=Decimal("1234.56"))
    assert opp.stage.sequence == 10 and opp.probability == 10
    assert opp.owner_id == crm.users["sales"].pk
    assert AuditEntry.objects.filter(action="opportunity.create", object_id=str(opp.pk)).exists()


def test_create_validation_per_field_writes_nothing(crm: Personas) -> None:
    with pytest.raises(ValidationFailed) as exc:
        _opp(crm, title=" ", amount="-3", currency="euro", probability=120, organization_id=999999, bogus=1)
    assert set(exc.value.fields) == {"title", "amount", "currency", "probability", "organization_id", "bogus"}
    assert not Opportunity.objects.exists()
    with pytest.raises(ValidationFailed) as exc:
        _opp(crm, amount="1.234")
    assert "amount" in exc.value.fields


def test_permission_denied_for_service_role(crm: Personas) -> None:
    with pytest.raises(PermissionDenied):
        _opp(crm, role="service")


def test_move_stage_records_time_and_event(crm: Personas) -> None:
    opp = _opp(crm)
    proposal = Stage.objects.get(pipeline=opp.pipeline, probability=30)
    before = opp.stage_changed_at
    moved = services.opportunity_move_stage(actor=crm.actor("sales"), opportunity_id=opp.pk, stage_id=proposal.pk)
    assert moved.stage_id == proposal.pk and moved.probability == 30 and moved.stage_changed_at > before
    assert OutboxEvent.objects.filter(name="crm.opportunity_stage_changed").count() == 1


def test_move_into_won_stage_needs_the_action(crm: Personas) -> None:
    opp = _opp(crm)
    won = Stage.objects.get(pipeline=opp.pipeline, kind="won")
    with pytest.raises(Conflict) as exc:
        services.opportunity_move_stage(actor=crm.actor("sales"), opportunity_id=opp.pk, stage_id=won.pk)
    assert exc.value.code == "use_won_lost_action"
    other = Stage.objects.create(pipeline=Pipeline.objects.create(company=crm.company, name="B"), name="x")
    with pytest.raises(ValidationFailed):
        services.opportunity_move_stage(actor=crm.actor("sales"), opportunity_id=opp.pk, stage_id=other.pk)


def test_won_lost_reopen_workflow(crm: Personas) -> None:
    actor = crm.actor("sales")
    opp = _opp(crm)
    won = services.opportunity_mark_won(actor=actor, opportunity_id=opp.pk)
    assert won.status == "won" and won.stage.kind == "won" and won.closed_at is not None
    assert OutboxEvent.objects.filter(name="crm.opportunity_won", payload__id=opp.pk).count() == 1
    with pytest.raises(Conflict) as exc:
        services.opportunity_mark_won(actor=actor, opportunity_id=opp.pk)
    assert exc.value.code == "invalid_transition" and exc.value.status == 409
    with pytest.raises(Conflict):
        services.opportunity_mark_lost(actor=actor, opportunity_id=opp.pk, lost_reason_id=None)
    reopened = services.opportunity_reopen(actor=actor, opportunity_id=opp.pk)
    assert reopened.status == "open" and reopened.closed_at is None and reopened.stage.kind == "open"
    with pytest.raises(ValidationFailed) as exc2:
        services.opportunity_mark_lost(actor=actor, opportunity_id=opp.pk, lost_reason_id=None)
    assert "lost_reason_id" in exc2.value.fields
    reason = LostReason.objects.filter(company=crm.company).first()
    assert reason is not None
    lost = services.opportunity_mark_lost(
        actor=actor, opportunity_id=opp.pk, lost_reason_id=reason.pk, note="Trop cher"
    )
    assert lost.status == "lost" and lost.lost_reason_id == reason.pk and lost.lost_note == "Trop cher"
    assert OutboxEvent.objects.filter(name="crm.opportunity_lost").count() == 1


def test_record_rules(crm: Personas) -> None:
    mine = _opp(crm)
    colleague = make_user(crm.company, "sales", email="colleague@dupont.test")
    manager = make_user(crm.company, "sales", email="manager@dupont.test")
    theirs = services.opportunity_create(actor=crm.actor("admin"), title="Autre", owner_id=colleague.pk)
    # Not in a team together: neither sees the other's row; 404 on get and on actions.
    with pytest.raises(NotFound):
        selectors.opportunity_get(crm.actor("sales"), theirs.pk)
    with pytest.raises(NotFound):
        services.opportunity_mark_won(actor=crm.actor("sales"), opportunity_id=theirs.pk)
    team = Team.objects.create(company=crm.company, name="Lyon", manager=manager)
    team.members.add(crm.users["sales"], colleague)
    assert selectors.opportunity_get(crm.actor("sales"), theirs.pk).pk == theirs.pk
    from comptoir.org.selectors import build_actor

    manager_actor = build_actor(manager, crm.company.pk, "ui")
    # The manager sees rows of the team's members and rows assigned to the team.
    assert {o.pk for o in selectors.opportunity_list(manager_actor)} == {mine.pk, theirs.pk}
    # Marketing sees everything; the other company sees nothing.
    assert selectors.opportunity_list(crm.actor("marketing")).count() == 2
    outsider = crm.outsider_actor()
    with pytest.raises(NotFound):
        services.opportunity_update(actor=outsider, opportunity_id=mine.pk, title="x")


def test_amounts_hidden_from_marketing_when_configured(crm: Personas) -> None:
    assert selectors.can_see_amounts(crm.actor("marketing"))
    services.crm_settings_update(actor=crm.actor("management"), hide_amounts_from_marketing=True)
    assert not selectors.can_see_amounts(crm.actor("marketing"))
    assert selectors.can_see_amounts(crm.actor("sales"))
    assert not selectors.can_see_amounts(crm.actor("service"))
    with pytest.raises(PermissionDenied):
        services.crm_settings_update(actor=crm.actor("sales"), hide_amounts_from_marketing=False)


def test_kanban_totals_exact_and_constant_queries(crm: Personas) -> None:
    actor = crm.actor("management")
    pipeline = services.pipeline_ensure_default(actor=actor)
    stages = list(Stage.objects.filter(pipeline=pipeline, kind="open").order_by("sequence"))
    amounts = [Decimal("0.01"), Decimal("1999.99"), Decimal("333.33"), Decimal("0.10")]
    expected: dict[int, tuple[Decimal, Decimal]] = {s.pk: (Decimal(0), Decimal(0)) for s in stages}
    for i in range(50):
        stage = stages[i % 3]
        amount = amounts[i % 4] + i
        _opp(crm, role="management", title=f"O{i}", amount=amount, stage_id=stage.pk, probability=(7 * i) % 101)
        total, weighted = expected[stage.pk]
        expected[stage.pk] = (total + amount, weighted + amount * ((7 * i) % 101) / 100)

    def board_queries() -> tuple[int, selectors.Board]:
        pipe = selectors.pipeline_get(actor, pipeline.pk)
        with CaptureQueriesContext(connection) as ctx:
            board = selectors.kanban(actor, pipe)
        return len(ctx.captured_queries), board

    many, board = board_queries()
    for column in board.columns:
        assert (column.total, column.weighted) == expected[column.stage.pk]
        assert column.count == len(column.cards)
    assert board.count == 50
    assert board.weighted == sum((w for _t, w in expected.values()), Decimal(0))
    Opportunity.objects.exclude(pk=Opportunity.objects.order_by("pk").first().pk).delete()  # type: ignore[union-attr]
    one, board = board_queries()
    assert board.count == 1
    assert one == many


def test_lead_qualify_creates_contacts_and_opportunity(crm: Personas) -> None:
    actor = crm.actor("sales")
    lead = services.lead_create(
        actor=actor, title="Salon Lyon", organization_name="Boulangerie Martin", contact_name="Jeanne Martin",
        email="Jeanne@Martin.fr", source="salon",
    )  # fmt: skip
    opp = services.lead_qualify(actor=actor, lead_id=lead.pk, amount=Decimal("500"))
    lead.refresh_from_db()
    assert lead.status == "qualified" and lead.opportunity_id == opp.pk
    org = Organization.objects.get(pk=opp.organization_id)
    assert org.legal_name == "Boulangerie Martin"
    person = Person.objects.get(pk=lead.person_id)
    assert (person.first_name, person.last_name, person.email) == ("Jeanne", "Martin", "jeanne@martin.fr")
    assert opp.amount == Decimal("500.00") and opp.source == "salon"
    with pytest.raises(Conflict):
        services.lead_qualify(actor=actor, lead_id=lead.pk)
    with pytest.raises(Conflict):
        services.lead_discard(actor=actor, lead_id=lead.pk, reason="x")


def test_lead_discard_and_validation(crm: Personas) -> None:
    actor = crm.actor("sales")
    with pytest.raises(ValidationFailed) as exc:
        services.lead_create(actor=actor, title="", email="pas-un-email")
    assert set(exc.value.fields) == {"title", "email"}
    lead = services.lead_create(actor=actor, title="Appel entrant")
    with pytest.raises(ValidationFailed):
        services.lead_discard(actor=actor, lead_id=lead.pk, reason=" ")
    services.lead_discard(actor=actor, lead_id=lead.pk, reason="Spam")
    assert Lead.objects.get(pk=lead.pk).status == "discarded"


def test_stage_crud_guards(crm: Personas) -> None:
    manager = crm.actor("management")
    pipeline = services.pipeline_ensure_default(actor=manager)
    with pytest.raises(PermissionDenied):
        services.stage_create(actor=crm.actor("sales"), pipeline_id=pipeline.pk, name="Démo")
    stage = services.stage_create(actor=manager, pipeline_id=pipeline.pk, name="Démo", probability=40)
    with pytest.raises(ValidationFailed) as exc:
        services.stage_create(actor=manager, pipeline_id=pipeline.pk, name="Démo", probability=101)
    assert set(exc.value.fields) == {"name", "probability"}
    opp = _opp(crm, stage_id=stage.pk)
    with pytest.raises(Conflict):
        services.stage_delete(actor=manager, stage_id=stage.pk)
    services.opportunity_move_stage(actor=manager, opportunity_id=opp.pk, stage_id=pipeline.stages.first().pk)  # type: ignore[union-attr]
    services.stage_delete(actor=manager, stage_id=stage.pk)
    assert not Stage.objects.filter(pk=stage.pk).exists()
    with pytest.raises(NotFound):
        services.stage_update(actor=crm.outsider_actor(), stage_id=pipeline.stages.first().pk, name="x")  # type: ignore[union-attr]


def test_owner_that_would_hide_the_row_is_refused(crm: Personas) -> None:
    colleague = make_user(crm.company, "sales", email="other@dupont.test")
    with pytest.raises(ValidationFailed) as exc:
        _opp(crm, owner_id=colleague.pk)
    assert "owner_id" in exc.value.fields
    assert not Opportunity.objects.exists()
    opp = _opp(crm)
    with pytest.raises(ValidationFailed):
        services.opportunity_update(actor=crm.actor("sales"), opportunity_id=opp.pk, owner_id=colleague.pk)
    assert Opportunity.objects.get(pk=opp.pk).owner_id == crm.users["sales"].pk
    # Who sees everything may hand it to anyone.
    services.opportunity_update(actor=crm.actor("management"), opportunity_id=opp.pk, owner_id=colleague.pk)
    with pytest.raises(ValidationFailed):
        services.lead_create(actor=crm.actor("sales"), title="Lead", owner_id=colleague.pk)
    assert not Lead.objects.exists()

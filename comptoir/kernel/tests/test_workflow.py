"""Workflow tables: allowed and forbidden transitions, actions filtered by permission."""

import pytest

from comptoir.kernel.context import Actor
from comptoir.kernel.errors import Conflict
from comptoir.kernel.states import Transition, Workflow

ORDER = Workflow(
    "order",
    statuses=["draft", "confirmed", "done", "cancelled"],
    transitions=[
        Transition("confirm", ("draft",), "confirmed", "sales.confirm_order", "Confirm"),
        Transition("deliver", ("confirmed",), "done", "inventory.deliver_order", "Deliver"),
        Transition("cancel", ("draft", "confirmed"), "cancelled", "sales.cancel_order", "Cancel"),
        Transition("reopen", ("cancelled",), "draft", "sales.confirm_order", "Reopen"),
    ],
)


def actor_with(*permissions: str) -> Actor:
    return Actor(user=None, company_id=1, permissions=frozenset(permissions))


@pytest.mark.parametrize(
    ("status", "action", "target"),
    [
        ("draft", "confirm", "confirmed"),
        ("draft", "cancel", "cancelled"),
        ("confirmed", "cancel", "cancelled"),
        ("confirmed", "deliver", "done"),
        ("cancelled", "reopen", "draft"),
    ],
)
def test_allowed_transitions(status, action, target):
    transition = ORDER.check(status, action)
    assert transition.target == target
    assert transition.action == action


@pytest.mark.parametrize(
    ("status", "action"),
    [("draft", "deliver"), ("done", "cancel"), ("done", "confirm"), ("confirmed", "confirm"), ("cancelled", "cancel")],
)
def test_forbidden_transitions_raise_conflict(status, action):
    with pytest.raises(Conflict) as excinfo:
        ORDER.check(status, action)
    assert excinfo.value.code == "invalid_transition"
    assert excinfo.value.status == 409
    assert action in excinfo.value.message and status in excinfo.value.message


def test_unknown_action_raises_conflict():
    with pytest.raises(Conflict) as excinfo:
        ORDER.check("draft", "explode")
    assert excinfo.value.code == "unknown_action"
    with pytest.raises(Conflict):
        ORDER.transition("explode")


def test_actions_from_a_status():
    assert [t.action for t in ORDER.actions_from("draft")] == ["confirm", "cancel"]
    assert [t.action for t in ORDER.actions_from("confirmed")] == ["deliver", "cancel"]
    assert ORDER.actions_from("done") == []
    assert ORDER.actions_from("no-such-status") == []


def test_actions_are_filtered_by_the_actor_permissions():
    sales = actor_with("sales.confirm_order", "sales.cancel_order")
    warehouse = actor_with("inventory.deliver_order")
    nobody = actor_with()
    assert [t.action for t in ORDER.actions_from("confirmed", sales)] == ["cancel"]
    assert [t.action for t in ORDER.actions_from("confirmed", warehouse)] == ["deliver"]
    assert ORDER.actions_from("draft", warehouse) == []
    assert ORDER.actions_from("draft", nobody) == []
    assert [t.action for t in ORDER.actions_from("cancelled", sales)] == ["reopen"]


@pytest.mark.parametrize(
    "transition",
    [
        Transition("ship", ("draft",), "shipped", "x.ship"),
        Transition("ship", ("packed",), "done", "x.ship"),
    ],
)
def test_unknown_status_in_definition_raises(transition):
    with pytest.raises(ValueError, match="unknown statuses"):
        Workflow("broken", statuses=["draft", "done"], transitions=[transition])

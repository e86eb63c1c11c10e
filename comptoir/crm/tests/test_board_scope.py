"""Kanban card cap ("load more", exact totals over every card), scopes Mine / My team / All, constant queries."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from comptoir.crm import selectors, services
from comptoir.crm.models import Opportunity, Stage
from comptoir.crm.tests.test_views import login
from comptoir.org.models import Team, User
from comptoir.org.testing import Personas, make_user

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 2)


def _opp(personas: Personas, role: str = "sales", **data: Any) -> Opportunity:
    data.setdefault("title", "Four à pain")
    return services.opportunity_create(actor=personas.actor(role), **data)


def _column_ids(html: str, stage_id: int) -> list[int]:
    """Card ids of one column, in page order."""
    section = html.split(f'data-stage-id="{stage_id}"', 1)[1].split("</section>", 1)[0]
    return [int(x) for x in re.findall(r'data-opportunity-id="(\d+)"', section)]


def test_board_caps_each_column_and_keeps_totals_exact(crm: Personas, client: Client, settings: Any) -> None:
    settings.CRM_KANBAN_CARDS = 3
    login(client, crm, "sales")
    pipeline = services.pipeline_ensure_default(actor=crm.actor("sales"))
    first, second = Stage.objects.filter(pipeline=pipeline, kind="open").order_by("sequence")[:2]
    dates = [TODAY + dt.timedelta(days=d) for d in (5, 1, 3, 1, 9)] + [None, None, TODAY]
    made = [
        _opp(crm, title=f"Carte {i}", stage_id=first.pk, amount=Decimal("100.01") * (i + 1), expected_close_date=d,
             probability=10 + i)
        for i, d in enumerate(dates)
    ]  # fmt: skip
    lone = _opp(crm, title="Seule", stage_id=second.pk, amount=Decimal("7.00"))
    # Soonest expected close first, then by id; undated cards last.
    order = sorted(made, key=lambda o: (o.expected_close_date is None, o.expected_close_date or TODAY, o.pk))
    expected_ids = [o.pk for o in order]

    html = client.get("/crm/").content.decode()
    assert _column_ids(html, first.pk) == expected_ids[:3]
    assert _column_ids(html, second.pk) == [lone.pk]
    board = selectors.kanban(crm.actor("sales"), selectors.pipeline_get(crm.actor("sales"), pipeline.pk))
    column = next(c for c in board.columns if c.stage.pk == first.pk)
    assert (column.count, len(column.cards), column.more) == (8, 3, 5)
    assert column.total == sum((o.amount for o in made), Decimal(0))
    assert column.weighted == sum((o.amount * o.probability / 100 for o in made), Decimal(0))
    assert board.count == 9
    assert f"?status=open&amp;stage={first.pk}&amp;scope=team&amp;sort=expected_close_date" in html
    assert "+ 5 more" in html
    more_url = f"/crm/board/stages/{first.pk}/cards/?pipeline={pipeline.pk}&amp;scope=team&amp;offset=3"
    assert more_url in html

    # "Load more": the next cards, then a button for the rest; the last batch has none.
    page2 = client.get(more_url.replace("&amp;", "&")).content.decode()
    assert [int(x) for x in re.findall(r'data-opportunity-id="(\d+)"', page2)] == expected_ids[3:6]
    assert "offset=6" in page2 and 'draggable="true"' in page2
    page3 = client.get(more_url.replace("&amp;", "&").replace("offset=3", "offset=6")).content.decode()
    assert [int(x) for x in re.findall(r'data-opportunity-id="(\d+)"', page3)] == expected_ids[6:]
    assert "data-load-more" not in page3
    # The list the "+ 5 more" link opens: that stage's open opportunities, soonest first.
    listed = client.get(f"/crm/opportunities/?status=open&stage={first.pk}&scope=team&sort=expected_close_date")
    assert [int(x) for x in re.findall(r'data-opportunity="(\d+)"', listed.content.decode())][:3] == expected_ids[:3]
    # A stage of no pipeline of the company, or a closed one, is a 404.
    won = Stage.objects.get(pipeline=pipeline, kind="won")
    assert client.get(f"/crm/board/stages/{won.pk}/cards/").status_code == 404
    assert client.get("/crm/board/stages/999999999/cards/").status_code == 404


def test_drop_keeps_the_scope_shown(crm: Personas, client: Client) -> None:
    login(client, crm, "sales")
    opp = _opp(crm)
    proposal = Stage.objects.get(pipeline=opp.pipeline, probability=30)
    moved = client.post(
        f"/crm/opportunities/{opp.pk}/move/", {"stage_id": proposal.pk, "scope": "mine"}, headers={"HX-Request": "true"}
    )
    assert moved.status_code == 200
    assert 'data-scope="mine"' in moved.content.decode()


def _teams(crm: Personas) -> dict[str, User]:
    """sales + colleague in one team managed by management; a stranger in another team."""
    colleague = make_user(crm.company, "sales", email="colleague@atelier.test")
    stranger = make_user(crm.company, "sales", email="stranger@atelier.test")
    team = Team.objects.create(company=crm.company, name="Lyon", manager=crm.users["management"])
    team.members.set([crm.users["sales"], colleague])
    Team.objects.create(company=crm.company, name="Paris").members.set([stranger])
    return {"colleague": colleague, "stranger": stranger, "team": team}  # type: ignore[dict-item]


def test_scopes_mine_team_all(crm: Personas, client: Client) -> None:
    people = _teams(crm)
    boss = crm.users["management"]
    manager = crm.actor("management")
    mine = _opp(crm, title="Mine")
    colleague = _opp(crm, title="Colleague", owner_id=people["colleague"].pk)
    team_only = _opp(crm, role="management", title="Team row", owner_id=None, team_id=people["team"].pk)
    stranger = _opp(crm, role="management", title="Stranger", owner_id=people["stranger"].pk)
    boss_own = _opp(crm, role="management", title="Boss", owner_id=boss.pk)

    def ids(actor: Any, scope: str | None) -> set[int]:
        return set(selectors.opportunity_list(actor, scope).values_list("pk", flat=True))

    sales = crm.actor("sales")
    assert selectors.scope_choices(sales) == ["mine", "team"]
    assert ids(sales, "mine") == {mine.pk}
    assert ids(sales, "team") == ids(sales, None) == {mine.pk, colleague.pk, team_only.pk}
    with pytest.raises(Exception) as refused:
        ids(sales, "all")
    assert getattr(refused.value, "fields", {}).get("scope")
    assert selectors.scope_choices(manager) == ["mine", "team", "all"]
    assert ids(manager, "mine") == {boss_own.pk}
    # The manager's team: what its members own and what is assigned to it (and their own rows).
    assert ids(manager, "team") == {mine.pk, colleague.pk, team_only.pk, boss_own.pk}
    assert ids(manager, "all") == {mine.pk, colleague.pk, team_only.pk, stranger.pk, boss_own.pk}

    # The board and the list take the scope; "All" is offered only to those who may see all.
    login(client, crm, "sales")
    html = client.get("/crm/?scope=mine").content.decode()
    assert 'data-scope="mine"' in html and "1 open opportunity" in html
    assert 'data-scope="all"' not in html
    listed = client.get("/crm/opportunities/?scope=mine").content.decode()
    assert re.findall(r'data-opportunity="(\d+)"', listed) == [str(mine.pk)]
    # A scope one may not use falls back to the widest allowed one in the UI…
    assert 'data-scope="team"' in client.get("/crm/?scope=all").content.decode()
    # …and is a 422 naming the field in the API.
    refused_api = client.get("/api/v1/opportunities?scope=all")
    assert refused_api.status_code == 422 and "scope" in refused_api.json()["fields"]
    api = client.get("/api/v1/opportunities?scope=team").json()
    assert {row["id"] for row in api["items"]} == {mine.pk, colleague.pk, team_only.pk}
    assert client.get("/api/v1/opportunities?scope=everyone").status_code == 422

    login(client, crm, "management")
    assert 'data-scope="all"' in client.get("/crm/").content.decode()
    api = client.get("/api/v1/opportunities?scope=all").json()
    assert api["count"] == 5
    board = client.get("/crm/?scope=team").content.decode()
    assert "4 open opportunities" in board


def test_board_and_list_queries_do_not_grow_with_rows(
    crm: Personas, client: Client, settings: Any, django_assert_max_num_queries: Any
) -> None:
    settings.CRM_KANBAN_CARDS = 50
    login(client, crm, "sales")
    pipeline = services.pipeline_ensure_default(actor=crm.actor("sales"))
    stages = list(Stage.objects.filter(pipeline=pipeline, kind="open"))

    def make(n: int) -> None:
        for i in range(n):
            _opp(crm, title=f"O{i}", stage_id=stages[i % len(stages)].pk, amount=Decimal("10.00"))

    urls = ["/crm/", "/crm/?scope=mine", "/crm/opportunities/", "/crm/opportunities/?scope=mine&status=open",
            f"/crm/board/stages/{stages[0].pk}/cards/?offset=0", "/api/v1/opportunities?scope=team"]  # fmt: skip
    make(3)
    counts = {}
    for url in urls:
        client.get(url)  # first use: the default pipeline, caches
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        counts[url] = len(ctx.captured_queries)
    make(27)
    for url in urls:
        with django_assert_max_num_queries(counts[url]):
            assert client.get(url).status_code == 200

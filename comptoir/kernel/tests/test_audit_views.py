"""The audit page and its CSV/XLSX export through the Django client."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from comptoir.kernel import audit
from comptoir.kernel.context import Channel
from comptoir.kernel.exports import export_response
from comptoir.kernel.models import AuditEntry
from comptoir.kernel.selectors import audit_list
from comptoir.kernel.testkit import count_queries
from comptoir.org.models import User
from comptoir.org.testing import Personas

pytestmark = pytest.mark.django_db

HEADER = ["When", "Who", "Channel", "Action", "Object type", "Object id", "Object", "Changes"]


def _login(client, user: User, language: str = "en"):  # type: ignore[no-untyped-def]
    # Administrators must have a second factor (middleware): give it to every test user.
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language=language
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def _record(actor, action: str, n: int = 1, object_type: str = "crm.thing", **kwargs) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with transaction.atomic():
        return [
            audit.record(actor, action, object_type=object_type, object_id=i, changes={"name": [f"old{i}", f"new{i}"]},
                         **kwargs)
            for i in range(1, n + 1)
        ]  # fmt: skip


@pytest.fixture
def trail(personas: Personas) -> dict[str, list[AuditEntry]]:
    """Entries from two authors and channels, one of them dated last year, plus another company's."""
    admin = personas.actor("admin", channel=Channel.UI)
    sales = personas.actor("sales", channel=Channel.API)
    old = _record(admin, "site.update", object_type="org.site")
    # Noon, local time, 400 days ago: "now - 400 days" crosses midnight across a DST change.
    noon = dt.datetime.combine(timezone.localdate() - dt.timedelta(days=400), dt.time(12))
    AuditEntry.objects.filter(pk=old[0].pk).update(at=timezone.make_aware(noon))
    return {
        "admin": _record(admin, "site.create", 2, object_type="org.site") + old,
        "sales": _record(sales, "api_key.create", 3, object_type="org.apikey"),
        "other": _record(personas.outsider_actor(), "site.create", 2, object_type="org.site"),
    }


def test_audit_page_lists_company_entries_newest_first(client, personas: Personas, trail) -> None:
    c = _login(client, personas.users["admin"])
    response = c.get(reverse("kernel:audit"))
    assert response.status_code == 200
    ids = [row["entry"].pk for row in response.context["rows"]]
    mine = trail["admin"] + trail["sales"]
    assert sorted(ids) == sorted(e.pk for e in mine)
    ats = [row["entry"].at for row in response.context["rows"]]
    assert ats == sorted(ats, reverse=True)
    html = response.content.decode()
    assert "old1" in html and "→ new1" in html
    assert f'data-entry="{trail["other"][0].pk}"' not in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"channel": "api"}, "sales"),
        ({"action": "api_key.create"}, "sales"),
        ({"object_type": "org.apikey"}, "sales"),
        ({"q": "sales@"}, "sales"),
        ({"action": "site."}, "admin"),
    ],
)
def test_audit_filters(client, personas: Personas, trail, params, expected) -> None:
    c = _login(client, personas.users["admin"])
    response = c.get(reverse("kernel:audit"), params)
    assert {row["entry"].pk for row in response.context["rows"]} == {e.pk for e in trail[expected]}


def test_audit_filter_by_user_and_dates(client, personas: Personas, trail) -> None:
    c = _login(client, personas.users["admin"])
    response = c.get(reverse("kernel:audit"), {"actor_id": personas.users["sales"].pk})
    assert {r["entry"].pk for r in response.context["rows"]} == {e.pk for e in trail["sales"]}
    today = timezone.localdate().isoformat()
    response = c.get(
        reverse("kernel:audit"), {"date_from": today, "date_to": today, "actor_id": personas.users["admin"].pk}
    )
    assert {r["entry"].pk for r in response.context["rows"]} == {e.pk for e in trail["admin"][:2]}
    last_year = (timezone.localdate() - dt.timedelta(days=400)).isoformat()
    response = c.get(reverse("kernel:audit"), {"date_from": last_year, "date_to": last_year})
    assert [r["entry"].pk for r in response.context["rows"]] == [trail["admin"][2].pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"channel": "telepathy"}, "channel"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2025-02-01", "date_to": "2025-01-01"}, "date_to"),
        ({"actor_id": "bob"}, "actor_id"),
        ({"page": "zero"}, "page"),
        ({"page": "0"}, "page"),
        ({"date_to": "0001-01-01"}, "date_to"),
    ],
)
def test_audit_bad_filters_show_errors(client, personas: Personas, trail, params, field) -> None:
    c = _login(client, personas.users["admin"])
    response = c.get(reverse("kernel:audit"), params)
    assert response.status_code == 200
    assert field in response.context["errors"]
    assert "invalid-feedback" in response.content.decode()


def test_audit_pagination(client, personas: Personas) -> None:
    _record(personas.actor("admin"), "thing.touch", 60)
    c = _login(client, personas.users["admin"])
    first = c.get(reverse("kernel:audit"), {"action": "thing.touch"})
    assert len(first.context["rows"]) == 50 and first.context["page"].count == 60
    assert "page=2" in first.content.decode() and "action=thing.touch" in first.content.decode()
    second = c.get(reverse("kernel:audit"), {"action": "thing.touch", "page": 2})
    assert len(second.context["rows"]) == 10
    assert not {r["entry"].pk for r in first.context["rows"]} & {r["entry"].pk for r in second.context["rows"]}


def test_audit_page_query_count_is_constant(client, personas: Personas) -> None:
    c = _login(client, personas.users["admin"])
    actor = personas.actor("admin")
    _record(actor, "thing.one", 1)
    c.get(reverse("kernel:audit"))  # the first request after login also writes the session
    with count_queries() as one:
        assert c.get(reverse("kernel:audit"), {"action": "thing.one"}).status_code == 200
    _record(actor, "thing.many", 50)
    with count_queries() as many:
        response = c.get(reverse("kernel:audit"), {"action": "thing.many"})
    assert len(response.context["rows"]) == 50
    assert len(one.captured_queries) == len(many.captured_queries)


def test_audit_permissions(client, personas: Personas, trail) -> None:
    c = _login(client, personas.users["sales"])
    assert c.get(reverse("kernel:audit")).status_code == 403
    assert c.get(reverse("kernel:audit_export"), {"format": "csv"}).status_code == 403
    c = _login(client, personas.users["finance"])  # may view, may not export
    response = c.get(reverse("kernel:audit"))
    assert response.status_code == 200 and "data-export" not in response.content.decode()
    assert c.get(reverse("kernel:audit_export"), {"format": "csv"}).status_code == 403
    c = _login(client, personas.users["management"])
    response = c.get(reverse("kernel:audit"))
    assert 'data-export="xlsx"' in response.content.decode()
    assert c.get(reverse("kernel:audit_export"), {"format": "csv"}).status_code == 200
    client.logout()
    assert client.get(reverse("kernel:audit")).status_code == 302


def _expected_rows(personas: Personas, **filters) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    return list(audit_list(personas.actor("management"), **filters))


def test_export_csv_is_exactly_the_filtered_view(client, personas: Personas, trail) -> None:
    c = _login(client, personas.users["management"])
    response = c.get(reverse("kernel:audit_export"), {"format": "csv", "action": "site.", "page": "1"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    text = response.getvalue().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == HEADER
    expected = _expected_rows(personas, action="site.")
    assert len(expected) == 3
    assert [(r[1], r[3], r[4], r[5], r[6], r[7]) for r in rows[1:]] == [
        (
            e.actor_label,
            e.action,
            e.object_type,
            e.object_id,
            e.object_repr,
            f"name: old{e.object_id} → new{e.object_id}",
        )
        for e in expected
    ]
    assert [r[0] for r in rows[1:]] == [
        timezone.localtime(e.at).isoformat(sep=" ", timespec="seconds") for e in expected
    ]


def test_export_xlsx_is_exactly_the_filtered_view(client, personas: Personas, trail) -> None:
    c = _login(client, personas.users["management"])
    response = c.get(reverse("kernel:audit_export"), {"format": "xlsx", "channel": "api"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = load_workbook(io.BytesIO(response.getvalue()), read_only=True)
    rows = [list(r) for r in workbook.active.iter_rows(values_only=True)]
    assert rows[0] == HEADER
    expected = _expected_rows(personas, channel="api")
    assert len(expected) == 3
    assert [r[1:7] for r in rows[1:]] == [
        [e.actor_label, e.channel, e.action, e.object_type, e.object_id, e.object_repr or None] for e in expected
    ]
    # Local wall-clock time, to the second.
    assert [r[0].replace(microsecond=0) for r in rows[1:]] == [
        timezone.localtime(e.at).replace(tzinfo=None, microsecond=0) for e in expected
    ]


def test_export_bad_input(client, personas: Personas, trail) -> None:
    c = _login(client, personas.users["management"])
    assert c.get(reverse("kernel:audit_export"), {"format": "pdf"}).status_code == 422
    assert c.get(reverse("kernel:audit_export"), {"format": "csv", "date_from": "nope"}).status_code == 422
    assert c.post(reverse("kernel:audit_export"), {"format": "csv"}).status_code == 405


def test_export_helper_neutralises_formulas_and_streams() -> None:
    rows = iter([{"a": '=HYPERLINK("http://evil")', "b": 3}, {"a": "-2+3", "b": None}])
    response = export_response(rows, [("A", "a"), ("B", "b")], "x y/z", "csv")
    assert response["Content-Disposition"] == 'attachment; filename="x-y-z.csv"'
    text = response.getvalue().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [["A", "B"], ['\'=HYPERLINK("http://evil")', "3"], ["'-2+3", ""]]
    response = export_response(iter([{"a": "=1+1\x01"}]), [("A", "a")], "f", "XLSX")
    sheet = load_workbook(io.BytesIO(response.getvalue())).active
    assert sheet["A2"].value == "'=1+1" and sheet["A2"].data_type == "s"


def test_audit_page_in_french(client, personas: Personas, trail) -> None:
    c = _login(client, personas.users["admin"], language="fr")
    response = c.get(reverse("kernel:audit"))
    assert response.status_code == 200 and 'lang="fr"' in response.content.decode()

"""Accounting pages: entry form (errors per line, add a line without JS), post, reverse,
lock date, trial balance drill-down, exports, verification, permissions, query counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounting import services
from comptoir.accounting.models import EntryState, JournalEntry
from comptoir.accounting.tests.conftest import Ledger, open_previous_year, today
from comptoir.org.models import User

pytestmark = pytest.mark.django_db


def login(client: Client, ledger: Ledger, role: str) -> Client:
    user = ledger.personas.users[role]
    User.objects.filter(pk=user.pk).update(
        totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now(), language="en"
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def form_data(ledger: Ledger, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "journal_id": ledger.journals["VT"], "date": today().isoformat(), "label": "Facture 12", "ref": "",
        "lines-TOTAL_FORMS": str(len(lines)), "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "500",
    }  # fmt: skip
    for index, line in enumerate(lines):
        for name, value in line.items():
            data[f"lines-{index}-{name}"] = "" if value is None else value
    return data | extra


def posted(ledger: Ledger) -> JournalEntry:
    actor = ledger.actor()
    entry = services.entry_create(actor=actor, **ledger.entry_data())
    return services.entry_post(actor=actor, entry_id=entry.pk)


def test_entry_form_reports_errors_per_line_adds_lines_and_posts(ledger: Ledger, client: Client) -> None:
    login(client, ledger, "finance")
    page = client.get("/accounting/entries/new/")
    assert page.status_code == 200 and "accounting/entry_form.js" in page.content.decode()
    assert "<script>" not in page.content.decode()
    # A blank line in the middle is skipped; errors land on the line they belong to.
    lines = [ledger.line("411", debit="120.00"), {}, ledger.line("706", credit="100.001"),
             ledger.line("44571", credit="20.00")]  # fmt: skip
    response = client.post("/accounting/entries/new/", form_data(ledger, lines))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-field-error="lines.2.credit"' in html and "Nothing was saved" in html
    assert not JournalEntry.objects.exists()
    # "Add a line" works without JavaScript: one more empty line, nothing saved.
    more = client.post("/accounting/entries/new/", form_data(ledger, lines, add_line="1"))
    assert more.content.decode().count('name="lines-4-account_id"') == 1
    assert not JournalEntry.objects.exists()
    # Unbalanced: a message for the whole entry.
    lines[2]["credit"] = "90.00"
    unbalanced = client.post("/accounting/entries/new/", form_data(ledger, lines))
    assert "not balanced" in unbalanced.content.decode()
    lines[2]["credit"] = "100.00"
    saved = client.post("/accounting/entries/new/", form_data(ledger, lines, post="1"))
    entry = JournalEntry.objects.get()
    assert saved.status_code == 302 and saved["Location"] == f"/accounting/entries/{entry.pk}/"
    assert entry.state == EntryState.POSTED and entry.number == f"VT-{entry.date.year}-00001"
    detail = client.get(saved["Location"]).content.decode()
    assert entry.hash in detail and 'id="entry-reverse"' in detail and 'id="entry-edit"' not in detail


def test_draft_edit_post_delete_and_reverse(ledger: Ledger, client: Client) -> None:
    login(client, ledger, "finance")
    draft = services.entry_create(actor=ledger.actor(), **ledger.entry_data())
    edit = client.get(f"/accounting/entries/{draft.pk}/edit/")
    assert edit.status_code == 200 and 'value="120.00"' in edit.content.decode()
    lines = [ledger.line("411", debit="240.00"), ledger.line("706", credit="200.00"),
             ledger.line("44571", credit="40.00")]  # fmt: skip
    data = form_data(ledger, lines, save="1")
    assert client.post(f"/accounting/entries/{draft.pk}/edit/", data).status_code == 302
    assert str(JournalEntry.objects.get(pk=draft.pk).total) == "240.00"
    assert client.post(f"/accounting/entries/{draft.pk}/post/").status_code == 302
    assert JournalEntry.objects.get(pk=draft.pk).state == EntryState.POSTED
    # A posted entry's edit page sends back to the entry; its delete is a 409.
    assert client.get(f"/accounting/entries/{draft.pk}/edit/")["Location"] == f"/accounting/entries/{draft.pk}/"
    assert client.post(f"/accounting/entries/{draft.pk}/delete/").status_code == 409
    reversed_ = client.post(f"/accounting/entries/{draft.pk}/reverse/", {"date": today().isoformat(), "label": ""})
    reversal = JournalEntry.objects.get(reversal_of=draft)
    assert reversed_["Location"] == f"/accounting/entries/{reversal.pk}/"
    assert 'id="reversed-by"' in client.get(f"/accounting/entries/{draft.pk}/").content.decode()
    other = services.entry_create(actor=ledger.actor(), **ledger.entry_data())
    assert client.post(f"/accounting/entries/{other.pk}/delete/").status_code == 302
    assert not JournalEntry.objects.filter(pk=other.pk).exists()


def test_locked_period_refused_in_the_ui(ledger: Ledger, client: Client) -> None:
    open_previous_year(ledger)
    login(client, ledger, "finance")
    day = today() - dt.timedelta(days=3)
    response = client.post("/accounting/periods/", {"set_lock": "1", "lock_date": day.isoformat()})
    assert response.status_code == 302
    page = client.get("/accounting/periods/").content.decode()
    assert f'data-lock-date="{day.isoformat()}"' in page
    lines = [ledger.line("411", debit="12.00"), ledger.line("706", credit="12.00")]
    refused = client.post("/accounting/entries/new/", form_data(ledger, lines, date=day.isoformat()))
    assert 'data-field-error="date"' in refused.content.decode() and "locked" in refused.content.decode()
    back = client.post("/accounting/periods/", {"set_lock": "1", "lock_date": (day - dt.timedelta(days=1)).isoformat()})
    assert back.status_code == 422 and "cannot move back" in back.content.decode()


def test_fiscal_year_page_creates_and_closes(ledger: Ledger, client: Client) -> None:
    login(client, ledger, "finance")
    created = client.post("/accounting/periods/", {"create_year": "1", "name": "",
                                                  "start_date": f"{today().year - 1}-01-01",
                                                  "end_date": f"{today().year - 1}-12-31"})  # fmt: skip
    assert created.status_code == 302
    year = services.FiscalYear.objects.get(company_id=ledger.company_id, start_date=dt.date(today().year - 1, 1, 1))
    assert client.post("/accounting/periods/", {"close_year": str(year.pk)}).status_code == 302
    year.refresh_from_db()
    assert year.state == "closed"


def test_trial_balance_drills_down_to_ledger_and_entries(ledger: Ledger, client: Client) -> None:
    entry = posted(ledger)
    login(client, ledger, "management")
    html = client.get("/accounting/trial-balance/").content.decode()
    assert 'data-account="411"' in html and 'id="total-debit"' in html
    ledger_url = f"/accounting/accounts/{ledger.accounts['411']}/ledger/"
    assert ledger_url in html
    gl = client.get(ledger_url).content.decode()
    assert f"/accounting/entries/{entry.pk}/" in gl and 'data-balance="120.00"' in gl
    by_partner = client.get("/accounting/trial-balance/?partners=1").content.decode()
    assert ledger.customer.code in by_partner


def test_exports_follow_the_permission(ledger: Ledger, client: Client) -> None:
    posted(ledger)
    login(client, ledger, "management")
    csv = client.get("/accounting/trial-balance/?format=csv")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    body = b"".join(csv.streaming_content).decode()  # type: ignore[attr-defined]
    assert "411" in body and "120.00" in body
    xlsx = client.get(f"/accounting/accounts/{ledger.accounts['411']}/ledger/?format=xlsx")
    assert xlsx.status_code == 200 and "spreadsheetml" in xlsx["Content-Type"]
    journal = client.get(f"/accounting/journals/{ledger.journals['VT']}/?format=csv")
    assert journal.status_code == 200
    assert client.get("/accounting/trial-balance/?format=pdf").status_code == 422


@pytest.mark.parametrize(
    ("role", "status"), [("finance", 200), ("management", 200), ("sales", 403), ("marketing", 403)]
)
def test_permission_matrix_on_pages(ledger: Ledger, client: Client, role: str, status: int) -> None:
    posted(ledger)
    login(client, ledger, role)
    for url in ("/accounting/", "/accounting/trial-balance/", "/accounting/accounts/", "/accounting/journals/",
                "/accounting/periods/", "/accounting/verify/", "/accounting/trial-balance/?format=csv"):  # fmt: skip
        assert client.get(url).status_code == status, url
    new = client.get("/accounting/entries/new/").status_code
    assert new == (200 if role == "finance" else 403)


def test_module_off_is_404(personas: Any, client: Client) -> None:
    from comptoir.org.testing import enable_modules

    enable_modules(personas, "contacts")
    user = personas.users["finance"]
    User.objects.filter(pk=user.pk).update(language="en")
    client.force_login(user)
    assert client.get("/accounting/").status_code == 404


def test_other_company_entries_are_404(ledger: Ledger, client: Client) -> None:
    entry = posted(ledger)
    other = ledger.personas.outsider
    User.objects.filter(pk=other.pk).update(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now())
    from comptoir.org.services import module_set
    from comptoir.org.testing import Personas

    outsider = Personas.outsider_actor(ledger.personas)
    module_set(actor=outsider, module="contacts", enabled=True)
    module_set(actor=outsider, module="accounting", enabled=True)
    client.force_login(other)
    assert client.get(f"/accounting/entries/{entry.pk}/").status_code == 404
    assert client.get(f"/accounting/accounts/{ledger.accounts['411']}/ledger/").status_code == 404


def test_verify_page_shows_the_problem(ledger: Ledger, client: Client) -> None:
    from comptoir.accounting.tests.test_services import tamper

    entry = posted(ledger)
    login(client, ledger, "finance")
    assert 'data-ok="1"' in client.get("/accounting/verify/?run=1").content.decode()
    tamper("UPDATE accounting_journalline SET label = 'x' WHERE entry_id = %s", [entry.pk])
    html = client.get("/accounting/verify/?run=1").content.decode()
    assert 'data-ok="0"' in html and 'data-kind="lines" data-chain="1"' in html


def test_chart_pages(ledger: Ledger, client: Client) -> None:
    login(client, ledger, "finance")
    html = client.get("/accounting/accounts/").content.decode()
    assert 'data-account="411"' in html and "Customers" in html  # English label for an English user
    created = client.post("/accounting/accounts/new/", {"code": "5121", "name": "Banque 2", "type": "bank"})
    assert created.status_code == 302
    bad = client.post("/accounting/accounts/new/", {"code": "9ABC", "name": "X", "type": "other"})
    assert bad.status_code == 200 and 'data-field-error="code"' in bad.content.decode()
    account_id = ledger.accounts["6064"]
    assert client.post(f"/accounting/accounts/{account_id}/active/", {"active": "0"}).status_code == 302
    assert client.get(f"/accounting/accounts/{account_id}/edit/").status_code == 200
    journals = client.get("/accounting/journals/").content.decode()
    assert 'data-journal="BQ"' in journals
    assert client.post("/accounting/journals/new/", {"code": "BQ2", "name": "Banque 2", "kind": "bank",
                                                     "default_account_id": ""}).status_code == 302  # fmt: skip
    assert client.get(f"/accounting/journals/{ledger.journals['VT']}/").status_code == 200


def test_entry_list_filters_and_constant_queries(ledger: Ledger, client: Client) -> None:
    login(client, ledger, "finance")
    posted(ledger)

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    count("/accounting/")  # the session's first request stores more than the next ones
    one = count("/accounting/")
    for _ in range(30):
        posted(ledger)
    services.entry_create(actor=ledger.actor(), **ledger.entry_data(label="Brouillon unique"))
    assert count("/accounting/") == one
    html = client.get("/accounting/?state=draft").content.decode()
    assert html.count('data-state="draft"') == 1
    assert "Brouillon unique" in client.get("/accounting/?q=unique").content.decode()
    filtered = client.get(f"/accounting/?account={ledger.accounts['512']}").content.decode()
    assert "data-entry=" not in filtered
    assert client.get("/accounting/?date_from=yesterday").status_code == 422
    assert client.get("/accounting/?sort=bogus").status_code == 422
    gl = f"/accounting/accounts/{ledger.accounts['411']}/ledger/"
    assert count(gl) == count(gl + "?page=1")

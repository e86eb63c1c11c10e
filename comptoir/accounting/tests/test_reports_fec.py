"""FEC export from the ledger (service, page, API, CLI) and the FEC checker (page, API).

The export of a ledger written through the services must pass ``fec.check_fec`` with no
error; its order, columns and lettering are checked line by line.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from comptoir.accounting import fec, fec_export, services
from comptoir.accounting.models import FiscalYear, JournalEntry, JournalLine
from comptoir.accounting.tests.conftest import Ledger, today
from comptoir.accounting.tests.test_api import key
from comptoir.accounting.tests.test_views import login
from comptoir.kernel.errors import PermissionDenied, ValidationFailed
from comptoir.org.models import Company

pytestmark = pytest.mark.django_db
API = "/api/v1/accounting"


def post(
    ledger: Ledger, journal: str, lines: list[dict[str, Any]], day: dt.date | None = None, **extra: Any
) -> JournalEntry:
    actor = ledger.actor()
    entry = services.entry_create(actor=actor, journal_id=ledger.journals[journal], date=day or today(), lines=lines,
                                  label=extra.pop("label", f"Entry {journal}"), **extra)  # fmt: skip
    return services.entry_post(actor=actor, entry_id=entry.pk)


def year(ledger: Ledger) -> FiscalYear:
    return FiscalYear.objects.get(company_id=ledger.company_id, start_date__lte=today(), end_date__gte=today())


def build_books(ledger: Ledger) -> dict[str, JournalEntry]:
    """Sales, a purchase, a payment lettered against the sale, a reversal, a draft, and the
    opening entry posted last (it must still come first in the FEC)."""
    start = year(ledger).start_date
    sale = post(ledger, "VT", ledger.sale("120.00"), ref="FA-2026-00001", label="Facture Martin")
    second = post(ledger, "VT", ledger.sale("60.00"), label="Facture\tavec | séparateurs")
    purchase = post(ledger, "AC", [ledger.line("607", debit="50.00"), ledger.line("44566", debit="10.00"),
                                   ledger.line("401", credit="60.00", label="Papier")])  # fmt: skip
    payment = post(ledger, "BQ", [ledger.line("512", debit="120.00"), ledger.line("411", credit="120.00")],
                   label="Règlement Martin")  # fmt: skip
    reversal = services.entry_reverse(actor=ledger.actor(), entry_id=second.pk, date=today())
    services.entry_create(actor=ledger.actor(), **ledger.entry_data())  # a draft: never exported
    opening = post(ledger, "AN", [ledger.line("512", debit="1000.00"), ledger.line("101", credit="1000.00")],
                   day=start, label="À-nouveaux")  # fmt: skip
    # Lettering as the payments module writes it: the two matching columns only.
    JournalLine.objects.filter(entry__in=[sale, payment], account_id=ledger.accounts["411"]).update(
        matching_code="AA", matched_at=today()
    )
    return {"sale": sale, "second": second, "purchase": purchase, "payment": payment, "reversal": reversal,
            "opening": opening}  # fmt: skip


def export_text(ledger: Ledger, **kwargs: Any) -> tuple[fec_export.FecExport, bytes]:
    export = fec_export.prepare(ledger.actor(), **(kwargs or {"fiscal_year_id": year(ledger).pk}))
    return export, b"".join(fec_export.iter_bytes(export))


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def rows(data: bytes) -> list[dict[str, str]]:
    lines = data.decode(fec.ENCODING).split("\r\n")
    assert lines[-1] == ""
    header = lines[0].split("\t")
    assert tuple(header) == fec.FEC_COLUMNS
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:-1]]


def test_export_of_the_ledger_passes_the_checker_opening_first_then_posting_order(ledger: Ledger) -> None:
    books = build_books(ledger)
    fy = year(ledger)
    export, data = export_text(ledger)
    assert export.filename == f"842157638FEC{fy.end_date:%Y%m%d}.txt"
    report = fec.check_fec(io.BytesIO(data), filename=export.filename, fiscal_year_start=fy.start_date,
                           fiscal_year_end=fy.end_date, opening_journals=export.opening_journal_codes)  # fmt: skip
    assert report.ok, report.as_text()
    assert report.warnings == [], report.as_text()
    assert report.entries == 6 and report.lines == 16
    assert report.total_debit == report.total_credit == Decimal("1420.00")

    lines = rows(data)
    assert [line["EcritureNum"] for line in lines[:2]] == [books["opening"].number] * 2
    numbers = list(dict.fromkeys(line["EcritureNum"] for line in lines[2:]))
    assert numbers == [books[k].number for k in ("sale", "second", "purchase", "payment", "reversal")]
    first = lines[0]
    assert first["JournalCode"] == "AN" and first["EcritureDate"] == f"{fy.start_date:%Y%m%d}"
    assert first["ValidDate"] == f"{today():%Y%m%d}" and first["Debit"] == "1000,00" and first["Credit"] == "0,00"
    sale_customer = next(line for line in lines if line["EcritureNum"] == books["sale"].number
                         and line["CompteNum"] == "411")  # fmt: skip
    assert sale_customer["CompAuxNum"] == ledger.customer.code and sale_customer["CompAuxLib"] == ledger.customer.label
    assert sale_customer["EcritureLet"] == "AA" and sale_customer["DateLet"] == f"{today():%Y%m%d}"
    assert sale_customer["PieceRef"] == "FA-2026-00001" and sale_customer["EcritureLib"] == "Facture Martin"
    assert sale_customer["Montantdevise"] == "" and sale_customer["Idevise"] == ""
    supplier = next(line for line in lines if line["CompteNum"] == "401")
    assert supplier["CompAuxNum"] == ledger.supplier.code and supplier["EcritureLib"] == "Papier"
    assert supplier["EcritureLet"] == "" and supplier["DateLet"] == ""
    # No reference typed: the entry number is the piece reference; separators in labels became spaces.
    second = next(line for line in lines if line["EcritureNum"] == books["second"].number)
    assert second["PieceRef"] == books["second"].number and second["EcritureLib"] == "Facture avec   séparateurs"
    assert all(line["CompteLib"] for line in lines)


def test_export_reads_chunks_of_entries_not_one_query_per_entry(ledger: Ledger) -> None:
    for _ in range(3):
        post(ledger, "VT", ledger.sale())
    export = fec_export.prepare(ledger.actor(), fiscal_year_id=year(ledger).pk)
    with CaptureQueriesContext(connection) as few:
        few_rows = list(fec_export.iter_rows(export, chunk=100))
    for _ in range(12):
        post(ledger, "VT", ledger.sale())
    export = fec_export.prepare(ledger.actor(), fiscal_year_id=year(ledger).pk)
    with CaptureQueriesContext(connection) as many:
        many_rows = list(fec_export.iter_rows(export, chunk=100))
    assert (len(few_rows), len(many_rows)) == (9, 45)
    assert len(few) == len(many) == 3  # opening entries (none), the other entries, their lines
    # Chunks of 4 entries: two queries per chunk (+1 for the opening entries), whatever the number of lines.
    with CaptureQueriesContext(connection) as chunked:
        assert len(list(fec_export.iter_rows(export, chunk=4))) == 45
    assert len(chunked) == 2 * 4 + 1


def test_export_by_year_and_date_range_and_what_is_refused(ledger: Ledger) -> None:
    entry = post(ledger, "VT", ledger.sale())
    fy = year(ledger)
    export, data = export_text(ledger, year=fy.end_date.year)
    assert len(rows(data)) == 3 and export.fiscal_year_id == fy.pk
    export, data = export_text(ledger, date_from=today(), date_to=today())
    assert export.filename == f"842157638FEC{today():%Y%m%d}.txt" and len(rows(data)) == 3
    assert export.last_chain_number == entry.chain_number
    # Posted after the export was prepared: not in that file.
    post(ledger, "VT", ledger.sale())
    assert len(rows(b"".join(fec_export.iter_bytes(export)))) == 3

    actor = ledger.actor()
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "fiscal_year"), ({"year": 1990}, "year"), ({"date_from": today()}, "fiscal_year"),
        ({"date_from": today(), "date_to": today() - dt.timedelta(days=1)}, "date_to"),
        ({"fiscal_year_id": fy.pk, "date_from": today()}, "date_from"),
    ]  # fmt: skip
    for kwargs, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            fec_export.prepare(actor, **kwargs)
        assert field in caught.value.fields, kwargs
    Company.objects.filter(pk=ledger.company_id).update(siren="")
    with pytest.raises(ValidationFailed) as caught:
        fec_export.prepare(actor, fiscal_year_id=fy.pk)
    assert "siren" in caught.value.fields
    with pytest.raises(PermissionDenied):
        fec_export.prepare(ledger.actor("sales"), fiscal_year_id=fy.pk)


def test_fec_page_downloads_the_file_and_is_for_exporters_only(ledger: Ledger, client: Client) -> None:
    post(ledger, "VT", ledger.sale())
    fy = year(ledger)
    login(client, ledger, "finance")
    page = client.get("/accounting/fec/")
    assert page.status_code == 200 and f'value="{fy.pk}"' in page.content.decode()
    response = client.get(f"/accounting/fec/?fiscal_year={fy.pk}")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/plain; charset=iso-8859-15"
    assert response["Content-Disposition"] == f'attachment; filename="842157638FEC{fy.end_date:%Y%m%d}.txt"'
    assert len(rows(body(response))) == 3
    bad = client.get("/accounting/fec/?fiscal_year=abc")
    assert bad.status_code == 422 and 'id="fec-export-error"' in bad.content.decode()
    assert client.get("/accounting/fec/?fiscal_year=999999").status_code == 404
    client.logout()
    login(client, ledger, "sales")
    assert client.get("/accounting/fec/").status_code == 403


def test_fec_api_streams_the_file_with_permissions(ledger: Ledger, client: Client) -> None:
    post(ledger, "VT", ledger.sale())
    fy = year(ledger)
    response = client.get(f"{API}/fec?fiscal_year={fy.pk}", headers=key(ledger, "management"))
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"].endswith(f'842157638FEC{fy.end_date:%Y%m%d}.txt"')
    assert len(rows(body(response))) == 3
    response = client.get(f"{API}/fec?year={fy.end_date.year}", headers=key(ledger, "finance"))
    assert response.status_code == 200
    missing = client.get(f"{API}/fec", headers=key(ledger, "finance"))
    assert missing.status_code == 422 and "fiscal_year" in missing.json()["fields"]
    assert client.get(f"{API}/fec?fiscal_year=abc", headers=key(ledger, "finance")).status_code == 422
    assert client.get(f"{API}/fec?fiscal_year={fy.pk}", headers=key(ledger, "sales")).status_code == 403


def test_export_fec_command_writes_the_file(ledger: Ledger, tmp_path: Any) -> None:
    post(ledger, "VT", ledger.sale())
    fy = year(ledger)
    out = io.StringIO()
    call_command("export_fec", company=ledger.company_id, year=fy.end_date.year, output=str(tmp_path), stdout=out)
    path = tmp_path / f"842157638FEC{fy.end_date:%Y%m%d}.txt"
    assert "3 lines written" in out.getvalue()
    assert fec.check_fec(path, opening_journals=()).ok
    target = tmp_path / "mine.txt"
    call_command("export_fec", company=ledger.company_id, year=fy.end_date.year, output=str(target), stdout=out)
    assert len(rows(target.read_bytes())) == 3
    with pytest.raises(CommandError) as caught:
        call_command("export_fec", company=ledger.company_id, year=1990, stdout=out)
    assert caught.value.returncode == 2 and "1990" in str(caught.value)
    with pytest.raises(CommandError):
        call_command("export_fec", company=999999, year=fy.end_date.year, stdout=out)


# --- Checker ----------------------------------------------------------------------------

GOOD_NAME = "842157638FEC20261231.txt"


def good_file() -> bytes:
    header = "\t".join(fec.FEC_COLUMNS)
    line = "VT\tVentes\tVT-1\t20260105\t411\tClients\t\t\tFA1\t20260105\tFacture\t{d}\t{c}\t\t\t20260105\t\t"
    return "\r\n".join([header, line.format(d="120,00", c="0,00"), line.replace("411\tClients", "706\tVentes")
                        .format(d="0,00", c="120,00"), ""]).encode()  # fmt: skip


def test_checker_page_lists_problems_with_line_numbers(ledger: Ledger, client: Client) -> None:
    login(client, ledger, "finance")
    assert client.get("/accounting/fec/check/").status_code == 200
    good = client.post("/accounting/fec/check/", {"file": _named(good_file(), GOOD_NAME)})
    body = good.content.decode()
    assert good.status_code == 200 and 'data-ok="1"' in body and 'id="fec-entries">1<' in body
    broken = good_file().replace(b"120,00\t0,00", b"120.00\t0,00")
    response = client.post("/accounting/fec/check/", {"file": _named(broken, "fec.txt")})
    body = response.content.decode()
    assert response.status_code == 200 and 'data-ok="0"' in body
    assert 'data-code="amount.decimal_point" data-line="2"' in body and 'data-code="filename.pattern"' in body


def _named(content: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


@pytest.mark.parametrize(
    ("content", "name", "needle"),
    [
        (b"", GOOD_NAME, "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "fec.pdf", "PDF"),
        (b"PK\x03\x04\x14\x00\x00\x00", "fec.xlsx", "XLSX"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00", "fec.bin", "NUL"),
    ],
)
def test_checker_refuses_bad_uploads_clearly(ledger: Ledger, client: Client, content: bytes, name: str,
                                             needle: str) -> None:  # fmt: skip
    login(client, ledger, "finance")
    page = client.post("/accounting/fec/check/", {"file": _named(content, name)})
    assert page.status_code == 422 and 'id="fec-check-refused"' in page.content.decode()
    assert needle in page.content.decode()
    api = client.post(f"{API}/fec/check", {"file": _named(content, name)}, headers=key(ledger, "finance"))
    assert api.status_code == 422 and "file" in api.json()["fields"] and needle in api.json()["fields"]["file"][0]


def test_checker_refuses_a_huge_upload_and_a_missing_file(ledger: Ledger, client: Client) -> None:
    login(client, ledger, "finance")
    with override_settings(COMPTOIR_FEC_CHECK_MAX_BYTES=100):
        page = client.post("/accounting/fec/check/", {"file": _named(good_file() * 2, GOOD_NAME)})
        assert page.status_code == 422 and "too big" in page.content.decode()
        api = client.post(f"{API}/fec/check", {"file": _named(good_file() * 2, GOOD_NAME)},
                          headers=key(ledger, "finance"))  # fmt: skip
        assert api.status_code == 422 and "too big" in api.json()["fields"]["file"][0]
    assert client.post("/accounting/fec/check/", {}).status_code == 422
    assert client.post(f"{API}/fec/check", {}, headers=key(ledger, "finance")).status_code == 422


def test_checker_api_returns_the_report(ledger: Ledger, client: Client) -> None:
    utf16 = good_file().decode().encode("utf-16")
    response = client.post(f"{API}/fec/check", {"file": _named(utf16, GOOD_NAME)}, headers=key(ledger, "finance"))
    assert response.status_code == 200 and response.json()["counts"] == {"file.utf16": 1}
    broken = good_file().replace(b"\t0,00\t\t\t20260105", b"\t0,00\tA\t\t20260105", 1)
    response = client.post(f"{API}/fec/check", {"file": _named(broken, GOOD_NAME), "fiscal_year_start": "2026-01-01"},
                           headers=key(ledger, "management"))  # fmt: skip
    data = response.json()
    assert response.status_code == 200 and data["ok"] is False and data["lines"] == 2 and data["entries"] == 1
    assert [(e["code"], e["line"], e["column"]) for e in data["errors"]] == [("pair.lettering", 2, "EcritureLet")]
    assert "DateLet" in data["errors"][0]["message"]
    assert data["total_debit"] == "120.00" and data["separator"] == "tab" and data["encoding"] == "ascii"
    bad_date = client.post(f"{API}/fec/check", {"file": _named(broken, GOOD_NAME), "fiscal_year_end": "31/12/2026"},
                           headers=key(ledger, "finance"))  # fmt: skip
    assert bad_date.status_code == 422 and "fiscal_year_end" in str(bad_date.json()["fields"])

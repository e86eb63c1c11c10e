"""The ledger at volume on PostgreSQL: trial balance, general ledger, journal listing, FEC
export and chain verification over 1,000,000 posted journal lines.

    .venv/bin/python bench/ledger.py                      # 1 company of 1M lines + 1 of 100k
    .venv/bin/python bench/ledger.py --others 3           # + 3 more companies of 1M lines (5 in all)
    .venv/bin/python bench/ledger.py --lines 200000 --runs 3   # a quicker look
    .venv/bin/python bench/ledger.py --keep               # keep the seeded database, reuse it next time

Seeding writes posted entries and their lines straight into the tables with COPY, company
by company, one fiscal year (2026) each: an opening entry, then sales (411 customer / 7xx /
44571), purchases (6xx / 44566 / 401 supplier) and bank receipts (512 / 411), ~2.7 lines per
entry, 1,000 customers and 100 suppliers, dated through the year in posting order. The hash
chain is the real one (``chain.lines_digest``/``entry_digest`` computed per entry), so
``verify_chain`` is timed on a valid chain and reports zero anomalies. Then ``VACUUM
ANALYZE`` (what autovacuum does after a bulk load; without it the visibility map is empty
and no index-only scan is possible).

Measured for the 1M-line company (median and best of ``--runs``): the trial balance through
the selector next to the plain ``SELECT account_id, SUM(debit), SUM(credit) … GROUP BY``
(its lower bound) with the plan each one got; the first 100-line page of the general ledger
of 411 (a third of all lines) and of a small account; the first page of the sales journal
listing; ``verify_chain``. The FEC export of the whole year runs in a separate process per
company (1M and 100k lines) so its peak RSS is the export's alone: time, rows/s, peak RSS.

The machine is shared (2 cores): the 1-minute load average is printed before and after;
rerun when it is above ~1.5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from _harness import ROOT, load_average, peak_rss_mib, run_child, setup_django

YEAR = 2026
START = dt.date(YEAR, 1, 1)
END = dt.date(YEAR, 12, 31)


# --- seeding ------------------------------------------------------------------------------


def _copy(table: str, columns: Sequence[str], rows: Iterator[Sequence[Any]]) -> int:
    from django.db import connection

    connection.ensure_connection()
    count = 0
    with (
        connection.connection.cursor() as cursor,
        cursor.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _next_id(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"')
        return int(cursor.fetchone()[0])


def _reset_sequence(table: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM \"{table}\"))")


def seed_company(name: str, siren: str, lines_wanted: int, seed: int) -> dict[str, Any]:
    """One company with accounting on and ``lines_wanted`` posted lines of a real hash chain."""
    from django.utils import timezone

    from comptoir.accounting import chain, services
    from comptoir.accounting.models import Account, FiscalYear, Journal, JournalEntry, JournalLine, PartnerAccount
    from comptoir.contacts.models import Organization
    from comptoir.kernel.context import Actor
    from comptoir.kernel.models import DocumentSequence, ModuleActivation
    from comptoir.org.testing import make_company

    rng = random.Random(seed)
    company = make_company(name=name, siren=siren)
    ModuleActivation.objects.bulk_create(
        [ModuleActivation(company_id=company.pk, module=code) for code in ("contacts", "accounting")]
    )
    services.setup_company_accounting(actor=Actor.system(company.pk), company_id=company.pk)
    accounts = dict(Account.objects.filter(company=company).values_list("code", "pk"))
    journals = {j.code: j for j in Journal.objects.filter(company=company)}
    orgs = Organization.objects.bulk_create(
        [Organization(company=company, legal_name=f"Client {i:04d}") for i in range(1000)]
        + [Organization(company=company, legal_name=f"Fournisseur {i:03d}") for i in range(100)]
    )
    partners = PartnerAccount.objects.bulk_create(
        [PartnerAccount(company=company, organization=o, kind="customer", code=f"C{i + 1:06d}", label=o.legal_name,
                        account_id=accounts["411"]) for i, o in enumerate(orgs[:1000])]
        + [PartnerAccount(company=company, organization=o, kind="supplier", code=f"F{i + 1:06d}", label=o.legal_name,
                          account_id=accounts["401"]) for i, o in enumerate(orgs[1000:])]
    )  # fmt: skip
    customers, suppliers = partners[:1000], partners[1000:]
    income = [code for code in accounts if code.startswith("70")] or ["706"]
    expenses = [code for code in accounts if code.startswith(("60", "61", "62"))] or ["607"]
    codes = {pk: code for code, pk in accounts.items()}
    partner_codes = {p.pk: p.code for p in partners}
    year_id = FiscalYear.objects.get_or_create(
        company=company, start_date=START, defaults={"name": str(YEAR), "end_date": END}
    )[0].pk

    entry_table, line_table = JournalEntry._meta.db_table, JournalLine._meta.db_table
    entry_id, line_id = _next_id(entry_table), _next_id(line_table)
    now = timezone.now()
    posted_base = dt.datetime(YEAR, 1, 1, 8, tzinfo=dt.UTC)
    numbers: dict[str, int] = {}
    entries: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    written = {"entries": 0, "lines": 0}
    previous = chain.GENESIS
    chain_number = 0
    entry_columns = (
        "id", "created_at", "updated_at", "company_id", "journal_id", "date", "ref", "label", "state", "total",
        "number", "fiscal_year_id", "chain_number", "previous_hash", "lines_hash", "hash", "posted_at", "source_type",
        "source_id",
    )  # fmt: skip
    line_columns = (
        "id", "created_at", "updated_at", "entry_id", "company_id", "sequence", "account_id", "partner_account_id",
        "label", "debit", "credit", "due_date", "matching_code", "date", "journal_id", "is_posted", "currency",
    )  # fmt: skip

    def flush() -> None:
        written["entries"] += _copy(entry_table, entry_columns, iter(entries))
        written["lines"] += _copy(line_table, line_columns, iter(lines))
        entries.clear()
        lines.clear()

    def add(journal: str, day: dt.date, label: str, items: list[tuple[str, int | None, int, int]]) -> None:
        nonlocal previous, chain_number, entry_id, line_id
        chain_number += 1
        numbers[journal] = numbers.get(journal, 0) + 1
        number = f"{journal}-{YEAR}-{numbers[journal]:05d}"
        posted_at = posted_base + dt.timedelta(seconds=chain_number * 60)
        total = sum(debit for _code, _partner, debit, _credit in items)
        digest_lines = [
            {"sequence": i + 1, "account_code": code, "partner_code": partner_codes.get(partner or 0, ""),
             "label": "", "debit": Decimal(debit).scaleb(-2), "credit": Decimal(credit).scaleb(-2), "due_date": None}
            for i, (code, partner, debit, credit) in enumerate(items)
        ]  # fmt: skip
        lines_hash = chain.lines_digest(digest_lines)
        header = {
            "company_id": company.pk, "chain_number": chain_number, "number": number, "journal_code": journal,
            "date": day, "ref": number, "label": label, "total": Decimal(total).scaleb(-2), "posted_at": posted_at,
            "reversal_of_id": None, "source_type": "", "source_id": "",
        }  # fmt: skip
        digest = chain.entry_digest(header, lines_hash, previous)
        journal_id = journals[journal].pk
        entries.append((entry_id, now, now, company.pk, journal_id, day, number, label, "posted", total, number,
                        year_id, chain_number, previous, lines_hash, digest, posted_at, "", ""))  # fmt: skip
        for i, (code, partner, debit, credit) in enumerate(items):
            lines.append((line_id, now, now, entry_id, company.pk, i + 1, accounts[code], partner, "", debit, credit,
                          None, "", day, journal_id, True, ""))  # fmt: skip
            line_id += 1
        entry_id += 1
        previous = digest
        if len(lines) >= 50_000:
            flush()

    add("AN", START, "À-nouveaux", [("512", None, 5_000_000, 0), ("101", None, 0, 5_000_000)])
    produced = 2
    days = (END - START).days + 1
    while produced < lines_wanted:
        day = START + dt.timedelta(days=min(days - 1, produced * days // lines_wanted))
        kind = rng.random()
        amount = rng.randrange(1_000, 500_000)
        vat = amount // 5
        if kind < 0.45:
            customer = rng.choice(customers).pk
            add("VT", day, "Facture", [("411", customer, amount + vat, 0), (rng.choice(income), None, 0, amount),
                                       ("44571", None, 0, vat)])  # fmt: skip
            produced += 3
        elif kind < 0.75:
            supplier = rng.choice(suppliers).pk
            add("AC", day, "Facture fournisseur", [(rng.choice(expenses), None, amount, 0), ("44566", None, vat, 0),
                                                   ("401", supplier, 0, amount + vat)])  # fmt: skip
            produced += 3
        else:
            customer = rng.choice(customers).pk
            add("BQ", day, "Règlement client", [("512", None, amount, 0), ("411", customer, 0, amount)])
            produced += 2
    flush()
    _reset_sequence(entry_table)
    _reset_sequence(line_table)
    # The posting counter says how many posting numbers were issued (verify_chain reads it).
    DocumentSequence.objects.filter(company_id=company.pk, kind=chain.CHAIN_KIND).update(next_value=chain_number + 1)
    return {"company_id": company.pk, "entries": written["entries"], "lines": written["lines"], "codes": len(codes)}


# --- measuring ----------------------------------------------------------------------------


def timed(function: Callable[[], Any], runs: int) -> dict[str, Any]:
    times = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(times), 3), "best_s": round(min(times), 3), "result": result}


def plan_nodes(sql: str, params: Sequence[Any]) -> str:
    """The plan's main node types, e.g. "Finalize GroupAggregate < Gather Merge < Index Only Scan"."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0][0]["Plan"]
    nodes = []
    while plan:
        label = plan["Node Type"]
        if plan.get("Index Name"):
            label += f" ({plan['Index Name']})"
        nodes.append(label)
        plan = (plan.get("Plans") or [None])[0]
    return " < ".join(nodes)


def measure(company_id: int, runs: int) -> dict[str, Any]:
    from django.db import connection

    from comptoir.accounting import chain, selectors
    from comptoir.accounting.models import Account, Journal
    from comptoir.kernel.context import Actor
    from comptoir.kernel.pagination import paginate

    actor = Actor.system(company_id)
    out: dict[str, Any] = {}

    def balance() -> int:
        return len(selectors.trial_balance(actor, date_from=START, date_to=END).rows)

    sql = (
        "SELECT account_id, SUM(debit), SUM(credit) FROM accounting_journalline "
        "WHERE company_id = %s AND is_posted AND date >= %s AND date <= %s GROUP BY account_id"
    )
    params = [company_id, START, END]

    def plain() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return len(cursor.fetchall())

    out["trial_balance"] = timed(balance, runs) | {"plan": plan_nodes(sql, params)}
    out["trial_balance_sql"] = timed(plain, runs)
    quarter = [company_id, START, dt.date(YEAR, 3, 31)]
    out["trial_balance_quarter"] = timed(
        lambda: len(selectors.trial_balance(actor, date_from=START, date_to=dt.date(YEAR, 3, 31)).rows), runs
    ) | {"plan": plan_nodes(sql, quarter)}

    accounts = dict(Account.objects.filter(company_id=company_id).values_list("code", "pk"))

    def ledger_page(code: str) -> Callable[[], int]:
        def run() -> int:
            _account, opening, rows = selectors.general_ledger(
                actor, account_id=accounts[code], date_from=START, date_to=END
            )
            page = paginate(rows, 1, 100)
            return len(selectors.ledger_rows(page.items, opening))

        return run

    out["general_ledger_411_page1"] = timed(ledger_page("411"), runs)
    out["general_ledger_44566_page1"] = timed(ledger_page("44566"), runs)
    sales = Journal.objects.get(company_id=company_id, code="VT").pk

    def journal_page() -> int:
        rows = selectors.journal_lines(actor, journal_id=sales, date_from=START, date_to=END)
        return len(paginate(rows, 1, 100).items)

    out["journal_VT_page1"] = timed(journal_page, runs)
    print("  verifying the chain…", file=sys.stderr, flush=True)
    report = timed(lambda: chain.verify_chain(company_id), 1)
    verified = report.pop("result")
    out["verify_chain"] = report | {"entries": verified.entries, "anomalies": len(verified.anomalies)}
    for value in out.values():
        value.pop("result", None)
    return out


def fec_child(company_id: int) -> None:
    """In its own process: export the company's FEC to /dev/null; time, rows and peak RSS."""
    setup_django(migrate=False)
    from comptoir.accounting import fec_export
    from comptoir.kernel.context import Actor

    baseline = peak_rss_mib()
    started = time.perf_counter()
    export = fec_export.prepare(Actor.system(company_id), year=YEAR)
    size = rows = 0
    for piece in fec_export.iter_bytes(export):
        size += len(piece)
        rows += piece.count(b"\r\n")
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows - 1, "seconds": round(seconds, 2), "rows_per_s": round((rows - 1) / seconds),
                      "mib": round(size / 2**20, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
                      "rss_after_setup_mib": round(baseline, 1)}))  # fmt: skip


def fec_in_subprocess(company_id: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--fec-child", str(company_id)], cwd=ROOT, check=True, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(args: argparse.Namespace) -> None:
    setup_django()
    from django.db import connection

    from comptoir.org.models import Company

    seeded: dict[str, Any] = {}
    targets = list(Company.objects.filter(name__startswith="Grand Livre").order_by("pk").values_list("pk", flat=True))
    if targets:
        seeded = {"reused": True}
        big, small = targets[0], targets[1]
    else:
        started = time.perf_counter()
        sizes = [("Grand Livre SAS", "842157638", args.lines), ("Grand Livre (petit) SARL", "904128352", args.small)]
        sizes += [(f"Autre Livre {i}", f"{100000000 + i:09d}", args.lines) for i in range(args.others)]
        companies = []
        for index, (name, siren, count) in enumerate(sizes):
            print(f"seeding {name}: {count:,} lines…", file=sys.stderr, flush=True)
            companies.append(seed_company(name, siren, count, seed=index))
        print("VACUUM ANALYZE…", file=sys.stderr, flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE accounting_journalline")
            cursor.execute("VACUUM ANALYZE accounting_journalentry")
        seeded = {"companies": companies, "seconds": round(time.perf_counter() - started, 1)}
        big, small = companies[0]["company_id"], companies[1]["company_id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounting_journalline")
        total_lines = cursor.fetchone()[0]
        cursor.execute("SHOW server_version")
        server = f"PostgreSQL {cursor.fetchone()[0]}"
    load_before = load_average()
    print(f"measuring ({total_lines:,} lines in the table)…", file=sys.stderr, flush=True)
    results = measure(big, args.runs)
    print("FEC exports…", file=sys.stderr, flush=True)
    results["fec_big"] = fec_in_subprocess(big)
    results["fec_small"] = fec_in_subprocess(small)
    print(json.dumps({"seeded": seeded, "server": server, "table_lines": total_lines, "load_before": load_before,
                      "load_after": load_average(), "results": results}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000, help="posted lines of the measured company")
    parser.add_argument("--small", type=int, default=100_000, help="posted lines of the second company")
    parser.add_argument("--others", type=int, default=0, help="more companies of --lines lines each")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database and reuse it")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fec-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fec_child:
        fec_child(args.fec_child)
        return
    if args.child:
        child(args)
        return
    print(f"load average (1 min) before: {load_average():.2f}; {os.cpu_count()} CPUs")
    command = ["--child", "--lines", str(args.lines), "--small", str(args.small), "--others", str(args.others),
               "--runs", str(args.runs)]  # fmt: skip
    name = f"ledger{args.others}" if args.keep else "ledger"
    out = run_child(__file__, "postgres", name, command, stream_stderr=True, keep=args.keep)
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()

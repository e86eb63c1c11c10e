"""Financial statements at volume on PostgreSQL: balance sheet, income statement, aged
receivables and VAT return over 1,000,000 posted journal lines, each next to the plain SQL
aggregate that is its lower bound.

    .venv/bin/python bench/statements.py                  # 1M lines, database kept for reuse
    .venv/bin/python bench/statements.py --lines 200000 --runs 3

Seeding is bench/ledger.py's (``seed_company``: an opening entry, then sales 411/7xx/44571,
purchases 6xx/44566/401 and customer receipts 512/411 through 2026, a real hash chain,
then VACUUM ANALYZE), into the database ``comptoir_bench_statements``, kept between runs
(``--fresh`` drops it first). Then three sites, each entry's lines on one of them (by entry
id: a third of the lines each, every site's entries balanced); see ``seed_sites``. The
seeded partner lines carry no due date and no matching: every customer line is an open
item aged by its date, the worst case for the aged balance.

Each measurement (median and best of ``--runs``) calls the selector exactly as the page
does (the statements with the N-1 column), for the whole company and for the first site
(``…_site``: ``AND site_id = …`` in the plain SQL), and the plain SQL next to it:

* balance sheet / income statement: ``SELECT account_id, SUM(debit), SUM(credit) … GROUP BY
  account_id`` over the period (the statements add the account names and the mapping);
* aged receivables: ``SELECT partner_account_id, SUM(debit - credit) FILTER (WHERE due …) × 5
  … GROUP BY 1`` over the customer lines open today (``matching_code = lower(matching_code)``,
  the condition of the partial index ``accounting_line_open``); ``aged_sql_heap`` is the
  former form (``NOT (fully matched on or before the date)``, every partner line read from
  the heap), for comparison;
* VAT return: the GROUP BY over the VAT accounts (plus, in the selector, the settlement
  exclusion and the invoice breakdown, empty here: the seeded ledger has no invoices).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from typing import Any

from _harness import load_average, pg_admin, run_child, setup_django
from ledger import END, START, plan_nodes, seed_company, timed

NAME = "statements"


def measure(company_id: int, runs: int) -> dict[str, Any]:
    from django.db import connection

    from comptoir.accounting import aged, statements, vat_return
    from comptoir.accounting.models import Account
    from comptoir.kernel.context import Actor
    from comptoir.org.models import Site

    actor = Actor.system(company_id)
    period = statements.resolve_period(actor, date_from=START, date_to=END)
    site_ids = list(Site.objects.filter(company_id=company_id).order_by("pk").values_list("pk", flat=True))
    site = site_ids[0]
    out: dict[str, Any] = {"site_id": site}

    def sql_timer(sql: str, params: list[Any]) -> Any:
        def run() -> int:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return len(cursor.fetchall())

        return run

    def both(name: str, sql: str, params: list[Any]) -> None:
        out[name] = timed(sql_timer(sql, params), runs) | {"plan": plan_nodes(sql, params)}

    by_account = (
        "SELECT account_id, SUM(debit), SUM(credit) FROM accounting_journalline "
        "WHERE company_id = %s AND is_posted AND date >= %s AND date <= %s {site}GROUP BY account_id"
    )
    params = [company_id, START, END]
    out["balance_sheet"] = timed(lambda: len(statements.balance_sheet(actor, period).sections), runs)
    out["balance_sheet_site"] = timed(lambda: len(statements.balance_sheet(actor, period, site_id=site).sections), runs)
    out["income_statement"] = timed(lambda: len(statements.income_statement(actor, period).sections), runs)
    out["income_statement_site"] = timed(
        lambda: len(statements.income_statement(actor, period, site_id=site).sections), runs
    )
    both("statements_sql", by_account.format(site=""), params)
    both("statements_sql_site", by_account.format(site="AND site_id = %s "), [*params, site])

    as_of = END
    bounds = [as_of, as_of - dt.timedelta(days=30), as_of - dt.timedelta(days=60), as_of - dt.timedelta(days=90)]
    due = "COALESCE(l.due_date, l.date)"
    amount = "l.debit - l.credit"
    # The lower bound: one aggregate over the open customer lines (the selector adds the
    # lines fully matched after the date, a second aggregate, and the partner names).
    aged_sql = (
        f"SELECT l.partner_account_id, SUM({amount}) FILTER (WHERE {due} >= %s), "
        f"SUM({amount}) FILTER (WHERE {due} < %s AND {due} >= %s), "
        f"SUM({amount}) FILTER (WHERE {due} < %s AND {due} >= %s), "
        f"SUM({amount}) FILTER (WHERE {due} < %s AND {due} >= %s), SUM({amount}) FILTER (WHERE {due} < %s) "
        "FROM accounting_journalline l WHERE l.company_id = %s AND l.is_posted AND l.partner_account_id IS NOT NULL "
        "AND l.date <= %s AND l.partner_account_id IN (SELECT id FROM accounting_partneraccount "
        "WHERE company_id = %s AND kind = 'customer') AND {open} {site}"
        "GROUP BY 1"
    )
    b = bounds
    aged_params = [b[0], b[0], b[1], b[1], b[2], b[2], b[3], b[3], company_id, as_of, company_id]
    open_now = "l.matching_code = LOWER(l.matching_code)"
    heap = "NOT (l.matching_code <> '' AND l.matching_code ~ '^[A-Z]+$' AND l.matched_at <= %s)"
    out["aged_receivables"] = timed(lambda: len(aged.aged_balance(actor, kind="customer", as_of=as_of).rows), runs)
    out["aged_receivables_site"] = timed(
        lambda: len(aged.aged_balance(actor, kind="customer", as_of=as_of, site_id=site).rows), runs
    )
    both("aged_sql", aged_sql.format(open=open_now, site=""), aged_params)
    both("aged_sql_site", aged_sql.format(open=open_now, site="AND l.site_id = %s "), [*aged_params, site])
    # The former query (every partner line read from the heap), for comparison.
    both("aged_sql_heap", aged_sql.format(open=heap, site=""), [*aged_params, as_of])

    vat_ids = list(
        Account.objects.filter(company_id=company_id, code__in=list(vat_return.LEDGER_ACCOUNTS)).values_list(
            "pk", flat=True
        )
    )
    vat_sql = (
        "SELECT account_id, SUM(debit), SUM(credit) FROM accounting_journalline "
        "WHERE company_id = %s AND is_posted AND date >= %s AND date <= %s AND account_id = ANY(%s) {site}"
        "GROUP BY account_id"
    )
    vat_params = [company_id, START, END, vat_ids]
    month = statements.Period(dt.date(START.year, 3, 1), dt.date(START.year, 3, 31))
    out["vat_return_year"] = timed(lambda: vat_return.vat_return(actor, period).gross_due, runs)
    out["vat_return_year_site"] = timed(lambda: vat_return.vat_return(actor, period, site_id=site).gross_due, runs)
    out["vat_return_month"] = timed(lambda: vat_return.vat_return(actor, month).gross_due, runs)
    out["vat_return_month_site"] = timed(lambda: vat_return.vat_return(actor, month, site_id=site).gross_due, runs)
    both("vat_sql_year", vat_sql.format(site=""), vat_params)
    both("vat_sql_year_site", vat_sql.format(site="AND site_id = %s "), [*vat_params, site])
    sheet = statements.balance_sheet(actor, period)
    site_sheets = [statements.balance_sheet(actor, period, site_id=pk) for pk in site_ids]
    out["checks"] = {
        "balanced": sheet.balanced,
        "total_assets": str(sheet.total_assets),
        "result": str(sheet.result),
        "income_statement_result": str(statements.income_statement(actor, period).result),
        "vat_gross_due": str(vat_return.vat_return(actor, period).gross_due),
        "sites_balanced": all(s.balanced for s in site_sheets),
        "site_results": [str(s.result) for s in site_sheets],
        "site_results_add_up": sum(s.result for s in site_sheets) == sheet.result,
        "site_aged_total": str(aged.aged_balance(actor, kind="customer", as_of=as_of, site_id=site).grand_total),
        "aged_total": str(aged.aged_balance(actor, kind="customer", as_of=as_of).grand_total),
    }
    for value in out.values():
        if isinstance(value, dict):
            value.pop("result", None)
    return out


SITES = ("Lyon", "Paris", "Nantes")


def seed_sites(company_id: int) -> dict[str, Any]:
    """Three sites of the company, each posted entry's lines on one of them (by entry id, so
    every site's entries balance on their own). The lines were copied in without a site (the
    ledger seeding is bench/ledger.py's): set with one UPDATE, the immutability guard of
    posted lines (which freezes the site too) bypassed for this session only
    (``session_replication_role = replica``: triggers off), then the table rewritten (VACUUM
    FULL: no dead half left behind) and analysed. The hash chain no longer verifies on this
    database (the site is hashed when set): the statements do not read it."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic():
        updated, ids = _set_sites(company_id)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM FULL accounting_journalline")
        cursor.execute("VACUUM ANALYZE accounting_journalline")
        cursor.execute("VACUUM ANALYZE accounting_journalentry")
    return {"sites": ids, "lines": updated, "seconds": round(time.perf_counter() - started, 1)}


def _set_sites(company_id: int) -> tuple[int, list[int]]:
    from django.db import connection

    from comptoir.org.models import Site

    ids = [
        Site.objects.get_or_create(siret=f"84215763800{i + 1:03d}", defaults={
            "company_id": company_id, "name": name, "is_head_office": i == 0})[0].pk
        for i, name in enumerate(SITES)
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE accounting_journalline SET site_id = (ARRAY[%s, %s, %s])[entry_id %% 3 + 1] WHERE company_id = %s",
            [*ids, company_id],
        )
        updated = cursor.rowcount
        cursor.execute(
            "UPDATE accounting_journalentry SET site_id = (ARRAY[%s, %s, %s])[id %% 3 + 1] WHERE company_id = %s",
            [*ids, company_id],
        )
    return updated, ids


def child(args: argparse.Namespace) -> None:
    setup_django()
    from django.db import connection

    from comptoir.org.models import Company

    seeded: dict[str, Any] = {}
    found = Company.objects.filter(name="Grand Livre SAS").values_list("pk", flat=True).first()
    if found is not None:
        seeded, company_id = {"reused": True}, found
    else:
        started = time.perf_counter()
        print(f"seeding {args.lines:,} lines…", file=sys.stderr, flush=True)
        company = seed_company("Grand Livre SAS", "842157638", args.lines, seed=0)
        print("VACUUM ANALYZE…", file=sys.stderr, flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE accounting_journalline")
            cursor.execute("VACUUM ANALYZE accounting_journalentry")
            cursor.execute("ANALYZE")  # the partner accounts too (autovacuum would)
        seeded = {"company": company, "seconds": round(time.perf_counter() - started, 1)}
        company_id = company["company_id"]
    from comptoir.accounting.models import JournalLine

    if not JournalLine.objects.filter(company_id=company_id, site__isnull=False).exists():
        print("sites…", file=sys.stderr, flush=True)
        seeded["sites"] = seed_sites(company_id)
    if args.seed_only:
        print(json.dumps({"seeded": seeded}))
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounting_journalline WHERE company_id = %s", [company_id])
        lines = cursor.fetchone()[0]
        cursor.execute("SHOW server_version")
        server = f"PostgreSQL {cursor.fetchone()[0]}"
    load_before = load_average()
    print(f"measuring ({lines:,} lines)…", file=sys.stderr, flush=True)
    results = measure(company_id, args.runs)
    print(json.dumps({"seeded": seeded, "server": server, "lines": lines, "load_before": load_before,
                      "load_after": load_average(), "results": results}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000, help="posted lines of the measured company")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--fresh", action="store_true", help="drop the kept database and seed again")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--seed-only", action="store_true", help="seed (or reuse) the database, measure nothing")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.fresh:
        pg_admin(f"DROP DATABASE IF EXISTS comptoir_bench_{NAME} WITH (FORCE)")
    print(f"load average (1 min) before: {load_average():.2f}; {os.cpu_count()} CPUs")
    command = ["--child", "--lines", str(args.lines), "--runs", str(args.runs)] + (
        ["--seed-only"] if args.seed_only else []
    )
    out = run_child(__file__, "postgres", NAME, command, stream_stderr=True, keep=True)
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()

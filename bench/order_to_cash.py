"""Order to cash through the services: quote → sent → accepted → order → invoice → posted → paid.

    .venv/bin/python bench/order_to_cash.py                          # SQLite and PostgreSQL, 2,000 flows
    .venv/bin/python bench/order_to_cash.py --database postgres --orders 500
    .venv/bin/python bench/order_to_cash.py --profile 200            # cProfile of 200 more flows, top functions

Each engine runs in a child process on a throwaway database (``_harness``). One flow, one
transaction per service call, as the pages and the API call them:

1. ``quotes.quote_create``: a draft quote of 3 lines (goods at 20 %, a book at 5.5 %, a
   service at 20 %), numbered;
2. ``quotes.quote_mark_sent``: the version frozen, the quote sent (the email and its PDF are
   the sending service's: with ``--send-pdf N`` N more flows go through ``sending.quote_send``
   instead, PDF rendered and mailed to Django's locmem backend);
3. ``quotes.quote_accept`` as the salesperson records it;
4. ``orders.order_create_from_quote``: the confirmed, numbered order;
5. ``invoicing.invoice_order``: the draft invoice of the ordered quantities, linked both ways;
6. ``invoices.invoice_post`` with the Factur-X PDF deferred (as ``bench/invoices.py``): legal
   number, journal entry, hash chain;
7. ``payments.payment_register``: the bank payment allocated to the invoice and matched.

Reported per engine: flows per second (and per step), the process's peak RSS, the queries
per flow (per step, counted on a separate sample after the timed run), the rows the flow
leaves in the database, and the floor: the same business rows (quote, quote lines, order,
order lines, invoice, invoice lines, journal entries and lines, payment, allocation), copied
from the first flow with fresh ids, inserted with ``executemany`` in one transaction — the
ratio is flow time over floor time. The issue's reference is Tryton 8 at about 0.5 complete
flows per second on this kind of machine; the target is 100× that (50 flows/s).

The machine is shared: the 1-minute load average is printed before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from _harness import load_average, peak_rss_mib, run_child, setup_django

REFERENCE_FLOWS_PER_S = 0.5  # Tryton 8, the issue's measure
STEPS = ("quote", "send", "accept", "order", "invoice", "post", "pay")


class Shop:
    """The company, its customer and products, and one flow through the services."""

    def __init__(self) -> None:
        from comptoir.accounting import invoices, services
        from comptoir.accounting.models import Journal
        from comptoir.catalog import services as catalog_services
        from comptoir.contacts.models import Address, Organization
        from comptoir.kernel.context import Actor
        from comptoir.org.services import module_set
        from comptoir.org.testing import make_company

        company = make_company(name="Boulangerie Bench", siren="842157638")
        self.actor = Actor.system(company.pk)
        for code in ("contacts", "accounting", "crm", "catalog", "sales"):  # their set-up hooks: units, accounts
            module_set(actor=self.actor, module=code, enabled=True)
        if not Journal.objects.filter(company_id=company.pk).exists():
            services.setup_company_accounting(actor=self.actor, company_id=company.pk)
        invoices.setup_invoicing(company.pk)
        customer = Organization.objects.create(
            company=company, legal_name="Client Bench SARL", siren="732829320", vat_number="FR40732829320",
            email="achats@client-bench.test",
        )  # fmt: skip
        Address.objects.create(organization=customer, kind="billing", line1="3 rue du Pain", postal_code="69003",
                               city="Lyon", country="FR", is_default=True)  # fmt: skip
        self.company_id: int = company.pk
        self.customer_id = customer.pk
        self.bank_journal_id = Journal.objects.get(company_id=company.pk, code="BQ").pk
        make = catalog_services.product_create
        products = [
            make(actor=self.actor, reference="FO-1", name_fr="Four à pain", kind="goods", sale_price="1249.90",
                 vat_category="standard"),
            make(actor=self.actor, reference="BA-1", name_fr="Baguettes", kind="goods", sale_price="1.17",
                 vat_category="reduced"),
            make(actor=self.actor, reference="EN-1", name_fr="Entretien", kind="service", sale_price="80",
                 vat_category="standard"),
        ]  # fmt: skip
        self.lines = [
            {"product_id": products[0].pk, "quantity": "1"},
            {"product_id": products[1].pk, "quantity": "36"},
            {"product_id": products[2].pk, "quantity": "1.5"},
        ]
        self.today = dt.date.today()
        self.paid = 0

    def steps(self, send_pdf: bool = False) -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
        from comptoir.accounting import invoices, payments
        from comptoir.sales import invoicing, orders, quotes, sending

        actor = self

        def quote(state: dict[str, Any]) -> None:
            state["quote"] = quotes.quote_create(actor=actor.actor, organization_id=actor.customer_id,
                                                 lines=actor.lines)  # fmt: skip

        def send(state: dict[str, Any]) -> None:
            if send_pdf:
                sending.quote_send(actor=actor.actor, quote_id=state["quote"].pk, to="achats@client-bench.test",
                                   subject="Devis", message="Bonjour")  # fmt: skip
            else:
                quotes.quote_mark_sent(actor=actor.actor, quote_id=state["quote"].pk)

        def accept(state: dict[str, Any]) -> None:
            quotes.quote_accept(actor=actor.actor, quote_id=state["quote"].pk, version=1, by_name="Julie Martin")

        def order(state: dict[str, Any]) -> None:
            state["order"] = orders.order_create_from_quote(actor=actor.actor, quote_id=state["quote"].pk)

        def invoice(state: dict[str, Any]) -> None:
            state["invoice"] = invoicing.invoice_order(actor=actor.actor, order_id=state["order"].pk, mode="order")

        def post(state: dict[str, Any]) -> None:
            state["invoice"] = invoices.invoice_post(actor=actor.actor, invoice_id=state["invoice"].pk,
                                                     render_pdf=False)  # fmt: skip

        def pay(state: dict[str, Any]) -> None:
            posted = state["invoice"]
            actor.paid += 1
            state["payment"] = payments.payment_register(
                actor=actor.actor, organization_id=actor.customer_id, amount=posted.total_amount, date=actor.today,
                journal_id=actor.bank_journal_id, method="transfer", reference=f"VIR {posted.number}",
                allocations=[{"invoice_id": posted.pk, "amount": posted.total_amount}],
            )  # fmt: skip

        return [("quote", quote), ("send", send), ("accept", accept), ("order", order), ("invoice", invoice),
                ("post", post), ("pay", pay)]  # fmt: skip


def _run(shop: Shop, count: int, send_pdf: bool = False) -> tuple[float, dict[str, float], list[dict[str, Any]]]:
    """Wall seconds of ``count`` flows, per step, and the ids each flow made (``spent["cpu"]``: this process's CPU)."""
    steps = shop.steps(send_pdf)
    spent = dict.fromkeys(STEPS, 0.0)
    states = []
    cpu = time.process_time()
    started = time.perf_counter()
    for _ in range(count):
        state: dict[str, Any] = {}
        for name, step in steps:
            at = time.perf_counter()
            step(state)
            spent[name] += time.perf_counter() - at
        states.append({"quote": state["quote"].pk, "order": state["order"].pk, "invoice": state["invoice"].pk,
                       "payment": state["payment"].pk})  # fmt: skip
    seconds = time.perf_counter() - started
    spent["cpu"] = time.process_time() - cpu
    return seconds, spent, states


def _run_parallel(shop: Shop, count: int, workers: int) -> dict[str, Any]:
    """``count`` flows shared by ``workers`` processes at once (forked, one connection each), as a
    server's workers would serve concurrent requests: throughput, and the contention on the
    shared counters, the hash chain and the customer's partner account (every flow is for the
    same company and customer, the worst case)."""
    import multiprocessing
    import resource

    from django.db import connections

    connections.close_all()  # each worker opens its own
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    shares = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]

    def work(flows: int) -> None:
        seconds, spent, _states = _run(shop, flows)
        results.put({"flows": flows, "seconds": seconds, "cpu": spent["cpu"]})
        connections.close_all()

    processes = [context.Process(target=work, args=(flows,)) for flows in shares]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    if any(process.exitcode for process in processes):  # its traceback is on standard error
        raise RuntimeError(f"a worker failed: exit codes {[p.exitcode for p in processes]}")
    done = [results.get(timeout=10) for _ in processes]
    return {
        "workers": workers, "flows": count, "seconds": round(seconds, 2), "flows_per_s": round(count / seconds, 1),
        "cpu_ms_per_flow": round(sum(d["cpu"] for d in done) * 1000 / count, 1),
        "worker_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }  # fmt: skip


def _queries(shop: Shop, count: int) -> dict[str, float]:
    """Queries per flow and per step, counted with an execute wrapper (not timed)."""
    from django.db import connection

    counts: Counter[str] = Counter()
    current = ["quote"]

    def counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        counts[current[0]] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        for _ in range(count):
            state: dict[str, Any] = {}
            for name, step in shop.steps():
                current[0] = name
                step(state)
    per_step = {name: round(counts[name] / count, 1) for name in STEPS}
    return {"total": round(sum(counts.values()) / count, 1)} | per_step


def _row_counts() -> dict[str, int]:
    from django.apps import apps
    from django.db import connection

    tables = {model._meta.db_table for model in apps.get_models() if not model._meta.proxy}
    found = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        result = {}
        for table in sorted(tables & found):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            result[table] = cursor.fetchone()[0]
    return result


# --- The floor: the same business rows, plain SQL --------------------------------------------------------------


def _floor_models() -> list[Any]:
    from comptoir.accounting.models import Invoice, InvoiceLine, JournalEntry, JournalLine
    from comptoir.accounting.models_payments import Payment, PaymentAllocation
    from comptoir.sales.models_orders import SalesOrder, SalesOrderLine
    from comptoir.sales.models_quotes import Quote, QuoteLine

    return [Quote, QuoteLine, SalesOrder, SalesOrderLine, Invoice, InvoiceLine, JournalEntry, JournalLine, Payment,
            PaymentAllocation]  # fmt: skip


def _template(flow: dict[str, Any]) -> dict[Any, list[dict[str, Any]]]:
    """The rows of one flow, per model, as the database returns them (column → value)."""
    from django.db import connection
    from django.db.models import Q

    from comptoir.accounting.models import Invoice, InvoiceLine, JournalEntry, JournalLine
    from comptoir.accounting.models_payments import Payment, PaymentAllocation
    from comptoir.sales.models_orders import SalesOrder, SalesOrderLine
    from comptoir.sales.models_quotes import Quote, QuoteLine

    invoice = Invoice.objects.get(pk=flow["invoice"])
    payment = Payment.objects.get(pk=flow["payment"])
    entries = [invoice.journal_entry_id, payment.journal_entry_id]
    ids = {
        Quote: Q(pk=flow["quote"]), QuoteLine: Q(quote_id=flow["quote"]), SalesOrder: Q(pk=flow["order"]),
        SalesOrderLine: Q(order_id=flow["order"]), Invoice: Q(pk=flow["invoice"]),
        InvoiceLine: Q(invoice_id=flow["invoice"]), JournalEntry: Q(pk__in=entries),
        JournalLine: Q(entry_id__in=entries), Payment: Q(pk=flow["payment"]),
        PaymentAllocation: Q(payment_id=flow["payment"]),
    }  # fmt: skip
    rows: dict[Any, list[dict[str, Any]]] = {}
    for model, where in ids.items():
        columns = [str(field.column) for field in model._meta.concrete_fields]
        pks = list(model.objects.filter(where).order_by("pk").values_list("pk", flat=True))
        quoted = ", ".join(f'"{c}"' for c in columns)
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT {quoted} FROM "{model._meta.db_table}" WHERE id IN ({", ".join(map(str, pks))}) '
                           "ORDER BY id")  # fmt: skip
            rows[model] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return rows


def _varying(model: Any, remapped: set[str]) -> set[str]:
    """Columns to change per copy so that every unique constraint of the model still holds."""
    from django.db import models

    groups: list[list[str]] = [[f.column] for f in model._meta.concrete_fields if f.unique and not f.primary_key]
    groups += [[model._meta.get_field(n).column for n in names] for names in model._meta.unique_together]
    groups += [[model._meta.get_field(n).column for n in c.fields] for c in model._meta.constraints
               if isinstance(c, models.UniqueConstraint) and c.fields]  # fmt: skip
    varying: set[str] = set()
    for columns in groups:
        if any(column in remapped or column == "id" for column in columns):
            continue
        fields = {model._meta.get_field(n).column: model._meta.get_field(n) for n in
                  [f.name for f in model._meta.concrete_fields]}  # fmt: skip
        texts = [c for c in columns if isinstance(fields[c], (models.CharField, models.TextField))]
        varying.add(texts[0] if texts else columns[-1])
    return varying


def _floor(flow: dict[str, Any], count: int) -> tuple[float, int]:
    """Insert ``count`` copies of the flow's business rows with executemany, one transaction."""
    import json as _json

    from django.db import connection, transaction

    template = _template(flow)
    models_ = list(template)
    index = {model: {row["id"]: j for j, row in enumerate(rows)} for model, rows in template.items()}
    base: dict[Any, int] = {}
    for model in models_:
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{model._meta.db_table}"')
            base[model] = cursor.fetchone()[0] + 1_000_000
    # Foreign keys between the copied rows point to the copy of the same flow.
    targets: dict[Any, dict[str, Any]] = {}
    for model in models_:
        targets[model] = {f.column: f.related_model for f in model._meta.concrete_fields
                          if f.is_relation and f.related_model in template}  # fmt: skip
    statements = []
    for model in models_:
        rows = template[model]
        columns = list(rows[0])
        remapped = {c for c in targets[model] if any(row[c] is not None for row in rows)}
        varying = _varying(model, remapped)
        width = len(rows)
        params = []
        for i in range(count):
            for j, row in enumerate(rows):
                values = []
                for column in columns:
                    value = row[column]
                    if column == "id":
                        value = base[model] + i * width + j
                    elif column in targets[model] and value is not None:
                        target = targets[model][column]
                        value = base[target] + i * len(template[target]) + index[target][value]
                    elif column in varying and value is not None:
                        value = f"{value}~{i}" if isinstance(value, str) else 10_000_000 + i * width + j
                    if isinstance(value, (dict, list)):
                        value = _json.dumps(value)
                    values.append(value)
                params.append(values)
        quoted = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join(["%s"] * len(columns))
        statements.append((f'INSERT INTO "{model._meta.db_table}" ({quoted}) VALUES ({marks})', params))
    rows_inserted = sum(len(p) for _s, p in statements)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.executemany(sql, params)
    seconds = time.perf_counter() - started
    return seconds, rows_inserted


def _check(company_id: int, flows: int) -> dict[str, Any]:
    from comptoir.accounting.chain import verify_chain
    from comptoir.accounting.models import Invoice
    from comptoir.crm.models import Opportunity  # noqa: F401 - the CRM module is loaded
    from comptoir.sales.models_orders import SalesOrder
    from comptoir.sales.models_quotes import Quote

    chain = verify_chain(company_id)
    return {
        "quotes_accepted": Quote.objects.filter(company_id=company_id, state="accepted").count(),
        "orders_confirmed": SalesOrder.objects.filter(company_id=company_id).exclude(number="").count(),
        "invoices_paid": Invoice.objects.filter(company_id=company_id, state="paid").count(),
        "expected": flows,
        "chain_ok": chain.ok,
    } | ({"chain_anomalies": [str(anomaly) for anomaly in chain.anomalies[:3]]} if not chain.ok else {})


def child(args: argparse.Namespace) -> None:
    setup_django()
    from django.db import connection

    shop = Shop()
    result: dict[str, Any] = {"engine": connection.vendor, "orders": args.orders}
    _run(shop, 5)  # warm-up: imports, caches, first numbers of each series
    before = _row_counts()
    seconds, spent, states = _run(shop, args.orders)
    after = _row_counts()
    result["seconds"] = round(seconds, 2)
    result["flows_per_s"] = round(args.orders / seconds, 1)
    result["vs_tryton"] = round(args.orders / seconds / REFERENCE_FLOWS_PER_S)
    # The child's own CPU per flow: what an idle machine would approach on SQLite (in-process).
    result["cpu_ms_per_flow"] = round(spent["cpu"] * 1000 / args.orders, 1)
    result["flows_per_cpu_s"] = round(args.orders / spent["cpu"], 1)
    result["ms_per_step"] = {name: round(spent[name] * 1000 / args.orders, 2) for name in STEPS}
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    rows = {table: (after[table] - before.get(table, 0)) / args.orders for table in after}
    result["rows_per_flow"] = round(sum(rows.values()), 1)
    result["rows_per_flow_by_table"] = {t: round(n, 2) for t, n in sorted(rows.items()) if n}
    result |= _check(shop.company_id, args.orders + 5)
    result["queries_per_flow"] = _queries(shop, min(args.orders, 50))
    if args.workers > 1:  # before the floor: its copied rows are not a valid hash chain
        before_parallel = _check(shop.company_id, 0)
        result["parallel"] = _run_parallel(shop, args.orders, args.workers)
        after_parallel = _check(shop.company_id, args.orders)
        result["parallel"]["check"] = {key: value - before_parallel[key] if type(value) is int and key != "expected"
                                       else value for key, value in after_parallel.items()}  # fmt: skip
    floor_seconds, floor_rows = _floor(states[0], args.orders)
    result["floor_seconds"] = round(floor_seconds, 3)
    result["floor_rows"] = floor_rows
    result["floor_flows_per_s"] = round(args.orders / floor_seconds, 1)
    result["ratio_to_floor"] = round(seconds / floor_seconds, 1)
    if args.send_pdf:
        from django.test.utils import override_settings

        locmem = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
        with override_settings(MAILERS=locmem):
            pdf_seconds, pdf_spent, _states = _run(shop, args.send_pdf, send_pdf=True)
        result["with_send_pdf"] = {"flows": args.send_pdf, "flows_per_s": round(args.send_pdf / pdf_seconds, 2),
                                   "send_ms": round(pdf_spent["send"] * 1000 / args.send_pdf, 1)}  # fmt: skip
    if args.profile:
        result["profile"] = _profile(shop, args.profile)
    if args.dump_sql:
        result["sql"] = _dump_sql(shop)
    print(json.dumps(result))


def _dump_sql(shop: Shop) -> list[str]:
    """The SQL of one flow, step by step (``--dump-sql``): what to read before cutting queries."""
    from django.db import connection

    lines: list[str] = []

    def logging_(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        lines.append(f"  {sql[:400]}")
        return execute(sql, params, many, context)

    state: dict[str, Any] = {}
    with connection.execute_wrapper(logging_):
        for name, step in shop.steps():
            lines.append(f"--- {name}")
            step(state)
    return lines


def _profile(shop: Shop, count: int) -> list[str]:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    _run(shop, count)
    profiler.disable()
    if os.environ.get("BENCH_PROFILE_OUT"):  # the raw stats, for pstats or snakeviz
        profiler.dump_stats(os.environ["BENCH_PROFILE_OUT"])
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(25)
    out.write("\n--- cumulative ---\n")
    stats.sort_stats("cumulative").print_stats(60)
    return out.getvalue().splitlines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--send-pdf", type=int, default=0, help="more flows sent with the PDF rendered and mailed")
    parser.add_argument("--profile", type=int, default=0, help="more flows under cProfile (top functions)")
    parser.add_argument("--workers", type=int, default=1,
                        help="then run the same number of flows again in N processes at once")  # fmt: skip
    parser.add_argument("--dump-sql", action="store_true", help="print the SQL of one more flow, step by step")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(f"load average before: {load_average():.2f}")
    engines = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    common = ["--orders", str(args.orders), "--send-pdf", str(args.send_pdf), "--profile", str(args.profile)]
    common += ["--dump-sql"] if args.dump_sql else []
    common += ["--workers", str(args.workers)]
    for engine in engines:
        result = run_child(__file__, engine, "order_to_cash", [*common, "--child"])
        profile = result.pop("profile", None)
        sql = result.pop("sql", None)
        print(json.dumps(result))
        if profile:
            print("\n".join(profile))
        if sql:
            print("\n".join(sql))
        print(f"load average: {load_average():.2f}")


if __name__ == "__main__":
    main()

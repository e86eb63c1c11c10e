"""Customer invoices through the services: drafts created, then posted (legal number, journal
entry, hash chain), with the Factur-X PDF rendered at posting or deferred to a task.

    .venv/bin/python bench/invoices.py                        # SQLite and PostgreSQL, 10,000 invoices
    .venv/bin/python bench/invoices.py --db postgres --invoices 2000
    .venv/bin/python bench/invoices.py --pdf-sample 100       # how many are posted with their PDF rendered
    .venv/bin/python bench/invoices.py --writers 8 --concurrent 1000   # PostgreSQL concurrency run only

Each engine runs in a child process on a throwaway database (``_harness``). Per engine:

* ``--invoices`` drafts of 3 lines (goods at 20 %, bread at 5.5 %, a service at 20 %) are
  created with ``invoice_create``, then posted one transaction each with ``invoice_post``
  and the PDF deferred (``render_pdf=False``: the posting enqueues the rendering task in the
  task backend's table, which is what the posting transaction pays). Invoices/s for both
  phases, and the process's peak RSS.
* ``--pdf-sample`` more invoices are posted with the Factur-X PDF rendered and stored in the
  posting transaction (WeasyPrint + factur-x embedding): invoices/s for that mode.
* PostgreSQL only: ``--writers`` threads (own connection each) post ``--concurrent``
  prepared drafts at once. Then the numbers must be 1..N without gap, each entry must
  balance, the hash chain must verify, and no writer may have died (deadlock or other).

The machine is shared: the 1-minute load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from _harness import load_average, peak_rss_mib, run_child, setup_django

LINES = [
    {"name": "Four à pain", "quantity": "1", "unit_price": "1249.90"},
    {"name": "Baguettes", "quantity": "36", "unit_price": "1.17", "vat_category": "reduced"},
    {"name": "Entretien", "quantity": "1.5", "unit_price": "80", "operation": "services"},
]


def _company() -> tuple[Any, int]:
    from comptoir.accounting import invoices, services
    from comptoir.contacts.models import Address, Organization
    from comptoir.kernel.context import Actor
    from comptoir.kernel.models import ModuleActivation
    from comptoir.org.testing import make_company

    company = make_company(name="Boulangerie Bench", siren="842157638")
    ModuleActivation.objects.bulk_create(
        [ModuleActivation(company_id=company.pk, module=code) for code in ("contacts", "accounting")]
    )
    actor = Actor.system(company.pk)
    services.setup_company_accounting(actor=actor, company_id=company.pk)
    invoices.setup_invoicing(company.pk)
    customer = Organization.objects.create(company=company, legal_name="Client Bench SARL", siren="732829320",
                                           vat_number="FR40732829320")  # fmt: skip
    Address.objects.create(organization=customer, kind="billing", line1="3 rue du Pain", postal_code="69003",
                           city="Lyon", country="FR", is_default=True)  # fmt: skip
    return actor, customer.pk


def _drafts(actor: Any, customer_id: int, count: int) -> tuple[list[int], float]:
    from comptoir.accounting import invoices

    started = time.perf_counter()
    ids = [invoices.invoice_create(actor=actor, kind="customer_invoice", organization_id=customer_id,
                                   lines=LINES).pk for _ in range(count)]  # fmt: skip
    return ids, time.perf_counter() - started


def _post(actor: Any, ids: list[int], render_pdf: bool) -> float:
    from comptoir.accounting import invoices

    started = time.perf_counter()
    for invoice_id in ids:
        invoices.invoice_post(actor=actor, invoice_id=invoice_id, render_pdf=render_pdf)
    return time.perf_counter() - started


def _check(company_id: int, expected: int) -> dict[str, Any]:
    import datetime as dt

    from django.db.models import Sum

    from comptoir.accounting.chain import verify_chain
    from comptoir.accounting.models import Invoice, JournalLine

    posted = Invoice.objects.filter(company_id=company_id, state="posted")
    year = dt.date.today().year
    numbers = sorted(posted.values_list("number", flat=True))
    gapless = numbers == [f"FA-{year}-{n:05}" for n in range(1, expected + 1)]
    sums = (
        JournalLine.objects.filter(entry__in=posted.values("journal_entry_id"))
        .values("entry_id").annotate(debit=Sum("debit"), credit=Sum("credit")).order_by()
    )  # fmt: skip
    balanced = sum(1 for row in sums if row["debit"] == row["credit"] > 0)
    report = verify_chain(company_id)
    return {"posted": len(numbers), "gapless": gapless, "balanced_entries": balanced, "chain_ok": report.ok}


def child(args: argparse.Namespace) -> None:
    setup_django()
    from django.db import connection

    actor, customer_id = _company()
    result: dict[str, Any] = {"engine": connection.vendor, "invoices": args.invoices}
    ids, seconds = _drafts(actor, customer_id, args.invoices)
    result["drafts_per_s"] = round(args.invoices / seconds, 1)
    seconds = _post(actor, ids, render_pdf=False)
    result["post_deferred_pdf_per_s"] = round(args.invoices / seconds, 1)
    result["create_and_post_per_s"] = round(args.invoices / (args.invoices / result["drafts_per_s"] + seconds), 1)
    if args.pdf_sample:
        sample, _seconds = _drafts(actor, customer_id, args.pdf_sample)
        seconds = _post(actor, sample, render_pdf=True)
        result["post_with_pdf_per_s"] = round(args.pdf_sample / seconds, 2)
        from comptoir.accounting.models import InvoiceFile

        sizes = list(InvoiceFile.objects.filter(role="issued").values_list("size", flat=True))
        result["pdf_kib_avg"] = round(sum(sizes) / len(sizes) / 1024, 1) if sizes else None
    result |= _check(actor.company_id, args.invoices + args.pdf_sample)
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(json.dumps(result))


def child_concurrent(args: argparse.Namespace) -> None:
    setup_django()
    from django.db import connection

    from comptoir.accounting import invoices

    actor, customer_id = _company()
    ids, _seconds = _drafts(actor, customer_id, args.concurrent)
    connection.close()
    errors: list[str] = []
    barrier = threading.Barrier(args.writers)

    def writer(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            for invoice_id in ids[index :: args.writers]:
                invoices.invoice_post(actor=actor, invoice_id=invoice_id, render_pdf=False)
        except Exception as exc:  # reported below: a deadlock would show up here
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(args.writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "engine": connection.vendor, "writers": args.writers, "invoices": args.concurrent,
        "seconds": round(seconds, 2), "per_s": round(args.concurrent / seconds, 1), "errors": errors[:5],
    }  # fmt: skip
    result |= _check(actor.company_id, args.concurrent)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--pdf-sample", type=int, default=200)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--skip-serial", action="store_true")
    parser.add_argument("--skip-concurrent", action="store_true")
    parser.add_argument("--child", choices=["serial", "concurrent"])
    args = parser.parse_args()
    if args.child == "serial":
        child(args)
        return
    if args.child == "concurrent":
        child_concurrent(args)
        return
    print(f"load average before: {load_average():.2f}")
    engines = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    common = ["--invoices", str(args.invoices), "--pdf-sample", str(args.pdf_sample)]
    if not args.skip_serial:
        for engine in engines:
            print(json.dumps(run_child(__file__, engine, "invoices", [*common, "--child", "serial"])))
    if not args.skip_concurrent and "postgres" in engines:
        extra = ["--writers", str(args.writers), "--concurrent", str(args.concurrent), "--child", "concurrent"]
        print(json.dumps(run_child(__file__, "postgres", "invoices_mt", extra)))
    print(f"load average after: {load_average():.2f}")


if __name__ == "__main__":
    main()

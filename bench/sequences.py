"""Document numbers issued per second, each in its own transaction with an audit entry.

    .venv/bin/python bench/sequences.py                 # SQLite and PostgreSQL
    .venv/bin/python bench/sequences.py --db sqlite     # one engine
    .venv/bin/python bench/sequences.py --numbers 4000  # fixed size per run (default 2000)

Each engine runs in a child process on a throwaway database (a temporary data directory for
SQLite; ``comptoir_bench_seq_<pid>`` on the PostgreSQL server of ``BENCH_PG_URL``, default
``postgres://postgres@127.0.0.1:5432/postgres``), created and dropped by the script.
Writers are threads with their own connection, and on PostgreSQL also separate processes
(threads share one GIL). Afterwards every run checks that numbers 1..N were each used once.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import threading
import time

from _harness import run_child, setup_django

# --- child: one engine ---------------------------------------------------------------


def _issue(kind: str, count: int, tag: str) -> int:
    """Issue ``count`` numbers, one transaction each, like a posting service would."""
    import datetime as dt

    from django.db import connection, transaction

    from comptoir.kernel import audit, sequences
    from comptoir.kernel.context import Actor, Channel

    actor = Actor.system(1, channel=Channel.TASK)
    today = dt.date(2026, 1, 15)
    try:
        for i in range(count):
            with transaction.atomic():
                issued = sequences.next_number(
                    company_id=1, kind=kind, on_date=today, object_type="bench.doc", object_id=f"{tag}-{i}"
                )
                audit.record(
                    actor,
                    "bench.issue",
                    object_type=f"bench.{kind}",
                    object_id=issued.value,
                    changes={"number": [None, issued.number]},
                )
    finally:
        connection.close()
    return count


def _process_writer(kind: str, count: int, tag: str, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    _issue(kind, count, tag)


def _verify(kind: str, expected: int) -> str:
    from comptoir.kernel.models import AuditEntry, DocumentSequence, IssuedNumber

    seq = DocumentSequence.objects.get(company_id=1, kind=kind)
    values = sorted(IssuedNumber.objects.filter(sequence=seq).values_list("value", flat=True))
    numbers = set(IssuedNumber.objects.filter(sequence=seq).values_list("number", flat=True))
    audited = AuditEntry.objects.filter(action="bench.issue", object_type=f"bench.{kind}").count()
    ok = values == list(range(1, expected + 1)) and len(numbers) == expected and seq.next_value == expected + 1
    ok = ok and audited == expected
    return "ok" if ok else f"FAILED (values {len(values)}, unique numbers {len(numbers)}, audit {audited})"


def _run(kind: str, writers: int, total: int, mode: str) -> dict[str, object]:
    from django.db import connections

    per_writer = total // writers
    total = per_writer * writers
    if mode == "threads":
        barrier = threading.Barrier(writers + 1)

        def work(index: int) -> None:
            barrier.wait()
            _issue(kind, per_writer, f"t{index}")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    else:
        # Children open their own connections: never share the parent's socket across a fork.
        connections.close_all()
        ctx = multiprocessing.get_context("fork")
        start = ctx.Event()
        procs = [ctx.Process(target=_process_writer, args=(kind, per_writer, f"p{i}", start)) for i in range(writers)]
        for proc in procs:
            proc.start()
        time.sleep(0.5)
        started = time.perf_counter()
        start.set()
        for proc in procs:
            proc.join()
        elapsed = time.perf_counter() - started
        if any(proc.exitcode for proc in procs):
            raise SystemExit("a writer process failed")
    return {
        "writers": writers,
        "mode": mode,
        "numbers": total,
        "seconds": round(elapsed, 3),
        "per_second": round(total / elapsed, 1),
        "check": _verify(kind, total),
    }


def child(engine: str, total: int) -> None:
    setup_django()
    from comptoir.kernel.integrity import run_all

    plans = [(1, "threads"), (8, "threads")]
    if engine == "postgres":
        plans.append((8, "processes"))
    results = []
    for writers, mode in plans:
        kind = f"bench{writers}{mode[0]}"
        results.append({"engine": engine, **_run(kind, writers, total, mode)})
    report = run_all()
    results.append({"engine": engine, "integrity": "ok" if report.ok else report.problems})
    print(json.dumps(results))


# --- parent ---------------------------------------------------------------------------


def run_engine(engine: str, total: int) -> list[dict[str, object]]:
    # One connection per writer, held for the whole run (the harness turns the pool off).
    return run_child(__file__, engine, "seq", ["--child", engine, "--numbers", str(total)])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--numbers", type=int, default=2000, help="numbers issued per run")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.numbers)
        return
    engines = ["sqlite", "postgres"] if args.db == "all" else [args.db]
    print(f"cpus={os.cpu_count()} numbers per run={args.numbers} load average (1 min) before={os.getloadavg()[0]:.2f}")
    print(f"{'engine':<10} {'writers':>7} {'mode':<10} {'numbers':>7} {'seconds':>8} {'numbers/s':>10}  check")
    for engine in engines:
        for row in run_engine(engine, args.numbers):
            if "integrity" in row:
                print(f"{engine:<10} integrity check: {row['integrity']}")
                continue
            print(
                f"{row['engine']:<10} {row['writers']:>7} {row['mode']:<10} {row['numbers']:>7} "
                f"{row['seconds']:>8} {row['per_second']:>10}  {row['check']}"
            )


if __name__ == "__main__":
    main()

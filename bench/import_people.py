"""Import of 100,000 people (CSV) with validation and duplicate checks: rows/s and peak memory.

    .venv/bin/python bench/import_people.py                # SQLite and PostgreSQL
    .venv/bin/python bench/import_people.py --db sqlite    # one engine
    .venv/bin/python bench/import_people.py --rows 20000   # fixed size per run (default 100,000)

Each engine runs in a child process on a throwaway database (a temporary data directory for
SQLite; ``comptoir_bench_import_<pid>`` on the server of ``BENCH_PG_URL``). The child makes
1,000 organizations, then writes two files of ``--rows`` people referring to them by external
id: one with ~3% bad rows (bad email, bad phone, missing name, unknown organization) and ~1%
in-file duplicates, for the dry run; one clean, for the import. It times the dry run of the
first, the dry run + commit of the second, and a re-import of the second (every row updated
by external id). Peak memory is the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from _harness import peak_rss_mib, run_child, setup_django

ORGS = 1000
HEADER = ["Identifiant", "Prénom", "Nom", "E-mail", "Téléphone", "Mobile", "Fonction", "Société"]


def write_file(path: Path, rows: int, *, dirty: bool, seed: int = 42) -> None:
    """People rows; ``dirty`` adds ~3% bad rows and ~1% in-file duplicate emails."""
    import csv

    rng = random.Random(seed)
    first = ["Jean", "Marie", "Zoé", "Luc", "Chloé", "Hugo", "Léa", "Noé", "Inès", "Éric"]
    last = ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent", "Simon", "Michel", "Garcia", "Roux"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        for i in range(rows):
            row = [
                f"P{i:07d}", rng.choice(first), f"{rng.choice(last)}{i % 97}", f"person{i}@example{i % 50}.fr",
                f"01 {40 + i % 50:02d} {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}",
                f"06 {12 + i // 1000000 % 20:02d} {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}",
                "Acheteur", f"ORG{rng.randrange(ORGS):05d}",
            ]  # fmt: skip
            if dirty:
                roll = rng.random()
                if roll < 0.01:
                    row[3] = "not-an-email"
                elif roll < 0.02:
                    row[4] = "12"
                elif roll < 0.025:
                    row[2] = ""
                elif roll < 0.03:
                    row[7] = "ORG-UNKNOWN"
                elif roll < 0.04 and i:
                    row[3] = f"person{i - 1}@example{(i - 1) % 50}.fr"
            writer.writerow(row)


# --- child: one engine ---------------------------------------------------------------


def child(engine: str, rows: int) -> None:
    setup_django()
    from django.conf import settings

    from comptoir.contacts import imports
    from comptoir.contacts.models import Organization, Person
    from comptoir.kernel.models import ImportJob
    from comptoir.org.selectors import build_actor
    from comptoir.org.testing import make_company, make_user

    company = make_company()
    user = make_user(company, "management")
    actor = build_actor(user, company.pk, "cli")
    Organization.objects.bulk_create(
        Organization(company=company, legal_name=f"Organisation {n}", external_id=f"ORG{n:05d}") for n in range(ORGS)
    )
    work = Path(settings.DATA_DIR)
    dirty, clean = work / "people-dirty.csv", work / "people-clean.csv"
    write_file(dirty, rows, dirty=True)
    write_file(clean, rows, dirty=False)
    results: list[dict[str, object]] = []

    def run(label: str, path: Path, *, commit: bool) -> ImportJob:
        start = time.perf_counter()
        job = imports.import_job_create(actor=actor, kind=imports.PERSON, filename=path.name, content=path.read_bytes())
        job = imports.import_job_validate(actor=actor, job_id=job.pk)
        if commit:
            job = imports.import_job_commit(actor=actor, job_id=job.pk)
        seconds = time.perf_counter() - start
        results.append({
            "engine": engine, "step": label, "rows": job.total_rows, "seconds": round(seconds, 2),
            "rows_per_s": round(job.total_rows / seconds), "status": job.status, "errors": len(job.errors),
            "warnings": len(job.warnings), "created": job.created_count, "updated": job.updated_count,
            "peak_rss_mb": round(peak_rss_mib()),
        })  # fmt: skip
        return job

    run("dry run, 3% bad rows", dirty, commit=False)
    run("dry run + commit (create)", clean, commit=True)
    run("dry run + commit (re-import: update)", clean, commit=True)
    assert Person.objects.filter(company=company).count() == rows
    print(json.dumps(results))


# --- parent ---------------------------------------------------------------------------


def run_engine(engine: str, rows: int) -> list[dict[str, object]]:
    # The task runs in this process, so its time and memory are measured.
    env = {"COMPTOIR_TASKS_BACKEND": "immediate"}
    return run_child(__file__, engine, "import", ["--child", engine, "--rows", str(rows)], env)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--rows", type=int, default=100_000, help="people per file")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows)
        return
    engines = ["sqlite", "postgres"] if args.db == "all" else [args.db]
    print(f"{'engine':9} {'step':38} {'rows':>7} {'s':>7} {'rows/s':>8} {'status':>10} {'err':>5} {'warn':>5} "
          f"{'created':>8} {'updated':>8} {'peak MB':>8}")  # fmt: skip
    for engine in engines:
        for r in run_engine(engine, args.rows):
            print(f"{r['engine']:9} {r['step']:38} {r['rows']:>7} {r['seconds']:>7} {r['rows_per_s']:>8} "
                  f"{r['status']:>10} {r['errors']:>5} {r['warnings']:>5} {r['created']:>8} {r['updated']:>8} "
                  f"{r['peak_rss_mb']:>8}")  # fmt: skip


if __name__ == "__main__":
    main()

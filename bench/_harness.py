"""What every benchmark shares: a throwaway database, a child process that runs Django on it.

A bench script's parent process calls ``run_child``: it makes a temporary data directory
and, on PostgreSQL, a database ``comptoir_bench_<name>_<pid>`` on the server of
``BENCH_PG_URL`` (default ``postgres://postgres@127.0.0.1:5432/postgres``), runs the script
again as a child with production settings pointing at them, reads the JSON the child prints
on its last line of output, then drops both. The child calls ``setup_django`` first.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
ENGINES = ("sqlite", "postgres")


def pg_url(dbname: str) -> str:
    return f"{PG_ADMIN_URL.rpartition('/')[0]}/{dbname}"


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _pg_exists(dbname: str) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone() is not None


def load_average() -> float:
    return os.getloadavg()[0]


@contextlib.contextmanager
def throwaway(
    engine: str, name: str, extra_env: Mapping[str, str] | None = None, *, keep: bool = False
) -> Iterator[dict[str, str]]:
    """The environment of a child process on a fresh database, dropped on exit.

    Production settings (DEBUG off: with DEBUG on every query is also timed and logged),
    a random secret key, one connection per thread held for the run (no pool), events
    dispatched inline. ``extra_env`` adds or overrides variables. ``keep`` (PostgreSQL only)
    names the database ``comptoir_bench_<name>`` without the pid, creates it only when
    missing and leaves it in place, so that a script can reuse what it seeded last time.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}")
    data_dir = tempfile.mkdtemp(prefix=f"comptoir-bench-{name}-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "comptoir.config.settings",
        "COMPTOIR_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "COMPTOIR_DATA_DIR": data_dir,
        "COMPTOIR_DB_POOL": "0",
        "COMPTOIR_EVENTS_DISPATCH": "inline",
        **(extra_env or {}),
    }
    keep = keep and engine == "postgres"
    dbname = f"comptoir_bench_{name}" if keep else f"comptoir_bench_{name}_{os.getpid()}"
    if engine == "postgres":
        if not keep:
            pg_admin(f"DROP DATABASE IF EXISTS {dbname}")
        if not keep or not _pg_exists(dbname):
            pg_admin(f"CREATE DATABASE {dbname}")
        env["DATABASE_URL"] = pg_url(dbname)
    else:
        env.pop("DATABASE_URL", None)
    try:
        yield env
    finally:
        if engine == "postgres" and not keep:
            pg_admin(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        shutil.rmtree(data_dir, ignore_errors=True)


def run_child(
    script: str,
    engine: str,
    name: str,
    args: Sequence[str],
    extra_env: Mapping[str, str] | None = None,
    *,
    stream_stderr: bool = False,
    keep: bool = False,
) -> Any:
    """Run ``script`` (a bench file) with ``args`` in a child on a throwaway database.

    Returns the JSON value the child printed on the last line of its standard output.
    ``stream_stderr`` lets the child's progress messages through as they come.
    """
    with throwaway(engine, name, extra_env, keep=keep) as env:
        try:
            out = subprocess.run(
                [sys.executable, script, *args],
                env=env,
                cwd=ROOT,
                check=True,
                stdout=subprocess.PIPE,
                stderr=None if stream_stderr else subprocess.PIPE,
                text=True,
            )
        except subprocess.CalledProcessError as exc:
            print(exc.stdout, exc.stderr or "", file=sys.stderr)
            raise
        return json.loads(out.stdout.strip().splitlines()[-1])


def setup_django(*, migrate: bool = True) -> None:
    """In the child: Django on the throwaway database, migrated."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

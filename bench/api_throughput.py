"""JSON API throughput: GET /api/v1/users?page_size=50 under granian (WSGI, 2 workers).

    .venv/bin/python bench/api_throughput.py                    # 15 s, 32 connections
    .venv/bin/python bench/api_throughput.py --duration 30 --connections 64 --client python
    .venv/bin/python bench/api_throughput.py --path /healthz      # floor: trivial view, no DB
    .venv/bin/python bench/api_throughput.py --granian-opt=--blocking-threads=1

Creates a throwaway PostgreSQL database (``comptoir_bench_api_<pid>`` on ``BENCH_PG_URL``,
default ``postgres://postgres@127.0.0.1:5432/postgres``), seeds one company, 200 users and
an API key, starts granian on 127.0.0.1, loads it from a separate process (``wrk`` when
installed, else a threaded ``http.client`` keep-alive client), prints requests/s, latency
p50/p99 and the peak RSS (VmHWM) of each granian worker, then stops granian and drops the
database.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PATH = "/api/v1/users?page_size=50"  # default; --path changes it


def _pg_url(dbname: str) -> str:
    return f"{PG_ADMIN_URL.rpartition('/')[0]}/{dbname}"


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- seeding (child process with Django) ----------------------------------------------


def seed(users: int) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from comptoir.kernel.authz import ROLES
    from comptoir.kernel.context import Actor, Channel
    from comptoir.org import services
    from comptoir.org.models import Membership, User
    from comptoir.org.selectors import build_actor

    call_command("migrate", verbosity=0)
    system = Actor.system(None, channel=Channel.CLI)
    owner = User.objects.create_user(email="owner@bench.test", password=None, full_name="Bench Owner")
    company = services.company_create(actor=system, owner=owner, name="Bench SARL", legal_name="Bench SARL")
    roles = [r for r in ROLES if r != "admin"]
    with transaction.atomic():
        # No password: hashing 200 Argon2 passwords would only measure Argon2.
        people = User.objects.bulk_create(
            [
                User(email=f"user{i:03}@bench.test", full_name=f"Person {i:03}", default_company=company, password="!")
                for i in range(users - 1)
            ]
        )
        Membership.objects.bulk_create(
            [Membership(user=u, company=company, role=roles[i % len(roles)]) for i, u in enumerate(people)]
        )
    actor = build_actor(owner, company.pk, Channel.CLI)
    _key, secret = services.apikey_create(actor=actor, name="bench", scopes=["org:read"])
    print(json.dumps({"secret": secret, "users": User.objects.count()}))


# --- load client (separate process) ----------------------------------------------------


def python_client(port: int, secret: str, connections: int, duration: float, path: str) -> None:
    """Keep-alive HTTP/1.1 clients in threads; prints a JSON summary."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    deadline = time.perf_counter() + duration
    headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}

    def run(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            latencies[index].append(time.perf_counter() - started)
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    all_latencies = sorted(x for per in latencies for x in per)
    count = len(all_latencies)
    print(
        json.dumps(
            {
                "client": "python http.client",
                "requests": count,
                "errors": sum(errors),
                "rps": count / elapsed,
                "p50_ms": all_latencies[count // 2] * 1000 if count else None,
                "p99_ms": all_latencies[min(count - 1, int(count * 0.99))] * 1000 if count else None,
            }
        )
    )


_WRK_LUA = """
wrk.headers["Authorization"] = "Bearer %s"
wrk.headers["Accept"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write("JSON {\\"requests\\": " .. summary.requests
    .. ", \\"errors\\": " .. (e.connect + e.read + e.write + e.timeout)
    .. ", \\"non2xx\\": " .. e.status
    .. ", \\"p50_us\\": " .. latency:percentile(50)
    .. ", \\"p99_us\\": " .. latency:percentile(99)
    .. ", \\"duration_us\\": " .. summary.duration .. "}\\n")
end
"""


def wrk_client(port: int, secret: str, connections: int, duration: float, path: str) -> dict[str, object]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_LUA % secret)
    try:
        out = subprocess.run(
            [
                "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(duration)}s", "--latency",
                "-s", script.name, f"http://127.0.0.1:{port}{path}",
            ],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    data = json.loads(re.search(r"^JSON (.*)$", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return {
        "client": "wrk",
        "requests": data["requests"],
        "errors": data["errors"] + data["non2xx"],
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
    }


# --- parent -----------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(c) for c in children)
    return found


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])  # kB
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--path", default=PATH, help=f"path to load (default {PATH}); /healthz gives the floor")
    parser.add_argument(
        "--granian-opt", action="append", default=[], metavar="OPT",
        help="extra granian option, repeatable (e.g. --granian-opt=--blocking-threads=1)",
    )  # fmt: skip
    parser.add_argument(
        "--debug", action="store_true", help="serve with COMPTOIR_DEBUG=1 (default: production settings)"
    )
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--python-client", nargs=2, metavar=("PORT", "SECRET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        seed(args.seed)
        return
    if args.python_client:
        python_client(int(args.python_client[0]), args.python_client[1], args.connections, args.duration, args.path)
        return

    load_before = os.getloadavg()[0]
    data_dir = tempfile.mkdtemp(prefix="comptoir-bench-api-")
    dbname = f"comptoir_bench_api_{os.getpid()}"
    _pg_admin(f"DROP DATABASE IF EXISTS {dbname}")
    _pg_admin(f"CREATE DATABASE {dbname}")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "comptoir.config.settings",
        "COMPTOIR_DEBUG": "1",
        "COMPTOIR_DATA_DIR": data_dir,
        "DATABASE_URL": _pg_url(dbname),
    }
    server = None
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--seed", str(args.users)],
            env=env, cwd=ROOT, check=True, capture_output=True, text=True,
        )  # fmt: skip
        seeded = json.loads(out.stdout.strip().splitlines()[-1])
        secret = seeded["secret"]
        server_env = dict(env)
        if not args.debug:
            # Production settings: DEBUG off (no query log), a fixed key, plain HTTP on localhost.
            server_env.update(
                COMPTOIR_DEBUG="0",
                SECRET_KEY=(Path(data_dir) / "secret_key").read_text().strip(),
                ALLOWED_HOSTS="127.0.0.1,localhost",
            )
        port = _free_port()
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/granian"), "--interface", "wsgi", "--workers", str(args.workers),
                "--host", "127.0.0.1", "--port", str(port), "--no-ws", *args.granian_opt,
                "comptoir.config.wsgi:application",
            ],
            env=server_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        # Wait until a worker answers the real endpoint (granian takes a few seconds).
        for _ in range(120):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", args.path, headers={"Authorization": f"Bearer {secret}"})
                response = conn.getresponse()
                body = response.read()
                if response.status == 200:
                    break
                raise SystemExit(f"GET {args.path} answered {response.status}: {body[:300]!r}")
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("granian did not start")
        payload = json.loads(body) if body.startswith(b"{") else {}
        items = payload.get("items", payload.get("results", []))
        # Warm both workers (imports, connection pool) before measuring.
        wrk = shutil.which("wrk")
        use_wrk = args.client == "wrk" or (args.client == "auto" and wrk)
        if use_wrk:
            wrk_client(port, secret, args.connections, 3, args.path)
            result = wrk_client(port, secret, args.connections, args.duration, args.path)
        else:
            cmd = [sys.executable, __file__, "--python-client", str(port), secret, "--path", args.path]
            subprocess.run([*cmd, "--connections", str(args.connections), "--duration", "3"], check=True,
                           capture_output=True)  # fmt: skip
            out = subprocess.run(
                [*cmd, "--connections", str(args.connections), "--duration", str(args.duration)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            result = json.loads(out.stdout.strip().splitlines()[-1])
        workers = _children(server.pid)
        rss = {pid: _status(pid, "VmHWM") for pid in workers}
        print(f"cpus={os.cpu_count()} granian workers={args.workers} users={seeded['users']} "
              f"items per page={len(items)} debug={args.debug} path={args.path} "
              f"granian options={' '.join(args.granian_opt) or '-'}")  # fmt: skip
        print(f"load average (1 min) before the run: {load_before:.2f}")
        print(f"client={result['client']} connections={args.connections} duration={args.duration:.0f}s")
        print(f"requests={result['requests']} errors={result['errors']}")
        print(f"requests/s={result['rps']:.0f}")
        print(f"latency p50={result['p50_ms']:.1f} ms p99={result['p99_ms']:.1f} ms")
        for pid, kb in rss.items():
            print(f"worker {pid} peak RSS (VmHWM)={kb / 1024:.1f} MiB")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        _pg_admin(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

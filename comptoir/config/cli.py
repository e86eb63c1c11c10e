"""The ``comptoir`` command: demo, serve, worker, scheduler, and every Django management command.

``comptoir demo`` must set its environment (demo mode, data directory) before Django reads its
settings, so this module imports nothing from Django at import time. Anything else is handed
to Django's ``manage`` machinery, with hyphens accepted in command names
(``comptoir check-integrity`` runs ``check_integrity``).

Bad input answers with one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import zoneinfo
from pathlib import Path
from types import FrameType
from typing import Any

SETTINGS = "comptoir.config.settings"
WSGI_APP = "comptoir.config.wsgi:application"
# When the scheduler enqueues the integrity check, in the settings' time zone (Europe/Paris).
DEFAULT_INTEGRITY_AT = "02:30"
USAGE = """usage: comptoir <command> [options]

Comptoir commands:
  demo             run the demo on SQLite in a data directory (migrate, demo data, worker, web server)
  serve            run the production web server (granian; needs SECRET_KEY)
  worker           run a background task worker (db_worker, or RQ with COMPTOIR_TASKS_BACKEND=rq)
  scheduler        enqueue periodic tasks (reminders, follow-ups) and the nightly integrity check (run one)
  check-integrity  check sequences, audit trail and outbox now (exit code 1 on problems)
  load-demo        create the demo company in the configured database (idempotent)
  create-admin     create a company and its first administrator

Any Django management command also works: comptoir migrate, comptoir collectstatic, ...
Run `comptoir <command> --help` for a command's options.
"""


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}: use a number between 1 and 65535") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}: use a number between 1 and 65535")
    return port


def _workers(maximum: int) -> Any:
    def parse(value: str) -> int:
        try:
            count = int(value)
        except ValueError:
            count = 0
        if not 1 <= count <= maximum:
            raise argparse.ArgumentTypeError(f"invalid worker count {value!r}: use a number between 1 and {maximum}")
        return count

    return parse


def _time_of_day(value: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid time {value!r}: use HH:MM, e.g. 02:30") from None


def _check_port_free(host: str, port: int) -> None:
    """Fail early and clearly instead of letting the server die after the slow set-up."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CliError(f"unknown host {host!r}: {exc.strerror}") from None
    family, kind, proto, _canon, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _prepare_data_dir(path: Path) -> Path:
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"cannot use data directory {path}: {exc.strerror or exc}") from None
    return path


def _setup_django() -> None:
    import django
    from django.core.exceptions import ImproperlyConfigured

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise CliError(str(exc)) from None


# --- Nightly scheduler ------------------------------------------------------------------


class NightlyScheduler:
    """Enqueues ``kernel.tasks.check_integrity`` once a day at a fixed local time.

    Deliberately tiny: the demo process ticks it once a second; ``comptoir scheduler`` does
    the same for deployments without cron. It only enqueues; a worker runs the task.
    """

    def __init__(self, at: dt.time, tz: dt.tzinfo, now: dt.datetime | None = None) -> None:
        self.at = at
        self.tz = tz
        self.next_run = self._next_after(now or dt.datetime.now(tz))

    def _next_after(self, now: dt.datetime) -> dt.datetime:
        now = now.astimezone(self.tz)
        candidate = dt.datetime.combine(now.date(), self.at, tzinfo=self.tz)
        if candidate <= now:
            candidate = dt.datetime.combine(now.date() + dt.timedelta(days=1), self.at, tzinfo=self.tz)
        return candidate

    def tick(self, now: dt.datetime | None = None) -> bool:
        """Enqueue the check if its time has come; returns whether it did."""
        now = now or dt.datetime.now(self.tz)
        if now < self.next_run:
            return False
        self.next_run = self._next_after(now)
        from django.db import close_old_connections

        from comptoir.kernel.tasks import check_integrity

        try:
            check_integrity.enqueue()
        except Exception as exc:  # the scheduler must outlive a database hiccup; the next night retries
            print(f"comptoir: could not enqueue the integrity check: {exc}", file=sys.stderr)
            return False
        finally:
            close_old_connections()
        return True


def _scheduler_for(at: dt.time) -> NightlyScheduler:
    from django.conf import settings

    return NightlyScheduler(at, zoneinfo.ZoneInfo(settings.TIME_ZONE))


def _periodic_scheduler() -> Any:
    """The apps' periodic tasks (``kernel.schedule``), registered when Django set up."""
    from comptoir.kernel.schedule import PeriodicScheduler

    return PeriodicScheduler()


def scheduler_step(nightly: NightlyScheduler, periodic: Any, now: dt.datetime | None = None) -> list[str]:
    """One turn of the scheduler loop: what it enqueued (the loop sleeps between turns)."""
    from django.db import close_old_connections

    now = now or dt.datetime.now(nightly.tz)
    enqueued = ["kernel.check_integrity"] if nightly.tick(now) else []
    try:
        enqueued += periodic.tick(now)
    finally:
        close_old_connections()
    return enqueued


def _integrity_at_default() -> str:
    return os.environ.get("COMPTOIR_INTEGRITY_CHECK_AT", DEFAULT_INTEGRITY_AT)


# --- Process handling ------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop(processes: list[tuple[str, subprocess.Popen[bytes]]], timeout: float = 10) -> None:
    """Stop children in reverse start order: SIGTERM, then SIGKILL after ``timeout``.

    Each child leads its own process group, so its own children (granian's workers) get
    the signal too and nothing is left behind.
    """
    for _name, proc in reversed(processes):
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for _name, proc in reversed(processes):
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        _signal_group(proc, signal.SIGKILL)  # stragglers whose parent already left


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_until_listening(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((host if host not in ("0.0.0.0", "::") else "127.0.0.1", port), timeout=1):  # noqa: S104
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _granian_command(host: str, port: int, workers: int, static_root: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "granian", "--interface", "wsgi", "--no-ws",
        "--host", host, "--port", str(port), "--workers", str(workers),
        # granian serves the collected static files itself, before Django sees the request.
        "--static-path-route", "/static", "--static-path-mount", str(static_root),
        *extra, WSGI_APP,
    ]  # fmt: skip


# --- Subcommands -----------------------------------------------------------------------


def cmd_demo(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="comptoir demo",
        description="Run Comptoir with demo data on SQLite: everything lives in the data directory.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--data-dir", type=Path, default=Path("comptoir-data"), help="default ./comptoir-data")
    parser.add_argument("--workers", type=_workers(2), default=1, help="web worker processes, 1 or 2")
    parser.add_argument(
        "--integrity-at", type=_time_of_day, default=_integrity_at_default(),
        help="local time of the nightly integrity check (default 02:30)",
    )  # fmt: skip
    options = parser.parse_args(args)

    data_dir = _prepare_data_dir(options.data_dir)
    _check_port_free(options.host, options.port)
    # Demo mode must be decided before Django reads its settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["COMPTOIR_DEMO"] = "1"
    os.environ["COMPTOIR_DATA_DIR"] = str(data_dir)
    os.environ["COMPTOIR_TASKS_BACKEND"] = "db"
    for name in ("DATABASE_URL", "COMPTOIR_STATIC_ROOT", "COMPTOIR_TESTING"):
        os.environ.pop(name, None)
    _setup_django()

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from comptoir.org.demo import DEMO_PASSWORD, load_demo

    print(f"Preparing the demo in {data_dir} …", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    result = load_demo()
    call_command("collectstatic", interactive=False, verbosity=0)
    connections.close_all()

    url = f"http://{'localhost' if options.host in ('127.0.0.1', '0.0.0.0') else options.host}:{options.port}/"  # noqa: S104
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    # Also SIGINT explicitly: a shell starting us in the background would otherwise leave it ignored.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    scheduler = _scheduler_for(options.integrity_at)
    periodic = _periodic_scheduler()
    try:
        # Own sessions: Ctrl-C reaches only this process, which then stops the children in order.
        processes.append(
            (
                "task worker",
                subprocess.Popen([sys.executable, "-m", "comptoir.config.cli", "worker"], start_new_session=True),
            )
        )
        granian = _granian_command(options.host, options.port, options.workers, Path(settings.STATIC_ROOT),
                                   ["--log-level", "warning", "--blocking-threads", "4"])  # fmt: skip
        server = subprocess.Popen(granian, start_new_session=True)  # noqa: S603 - our own argv, no shell
        processes.append(("web server", server))
        if not _wait_until_listening(options.host, options.port, server):
            raise CliError(f"the web server did not start listening on {options.host}:{options.port}")
        print()
        print(f"Comptoir demo: {url}   ({'new demo data' if result.created else 'reusing the demo data'})")
        print(f"Company: {result.company.name} (SIREN {result.company.siren})")
        print(f"Password for every demo login: {DEMO_PASSWORD}")
        for role, email in result.logins:
            print(f"  {role:<11} {email}")
        print("The admin login asks to set up two-factor authentication (any TOTP app) at first sign-in.")
        print(f"Nightly integrity check enqueued every day at {options.integrity_at:%H:%M} ({settings.TIME_ZONE}).")
        print(f"Data, logs of sent mail and static files: {data_dir}")
        print("Press Ctrl-C to stop.", flush=True)
        while True:
            for name, proc in processes:
                code = proc.poll()
                if code is not None:
                    raise CliError(f"the {name} stopped unexpectedly (exit code {code})")
            scheduler_step(scheduler, periodic)
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping the web server and the task worker …", flush=True)
    finally:
        _stop(processes)
    return 0


def cmd_serve(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="comptoir serve", description="Run the production web server (granian, WSGI)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--workers", type=_workers(64), default=2, help="web worker processes (default 2)")
    parser.add_argument(
        "--threads", type=_workers(256), default=8, help="requests served at once per worker process (default 8)"
    )
    options = parser.parse_args(args)

    demo_like = any(
        os.environ.get(n, "").lower() in {"1", "true", "yes", "on"} for n in ("COMPTOIR_DEMO", "COMPTOIR_DEBUG")
    )
    if not os.environ.get("SECRET_KEY") and not demo_like:
        raise CliError("SECRET_KEY is not set: production needs a long random secret (see docs/deployment.md)")
    _setup_django()
    from django.conf import settings

    static_root = Path(settings.STATIC_ROOT)
    if not static_root.is_dir():
        raise CliError(f"static files are missing in {static_root}: run `comptoir collectstatic --noinput` first")
    _check_port_free(options.host, options.port)
    extra = ["--blocking-threads", str(options.threads), "--respawn-failed-workers"]
    command = _granian_command(options.host, options.port, options.workers, static_root, extra)
    sys.stdout.flush()
    # Replace this process: the supervisor (systemd, container) then signals granian directly.
    os.execv(sys.executable, command)  # noqa: S606 - our own argv, no shell
    return 0  # pragma: no cover


def cmd_worker(args: list[str]) -> int:
    backend = os.environ.get("COMPTOIR_TASKS_BACKEND", "db")
    if backend == "immediate":
        raise CliError("COMPTOIR_TASKS_BACKEND=immediate runs tasks inline: there is nothing for a worker to do")
    _setup_django()
    from django.core.management import execute_from_command_line

    if backend == "rq":
        execute_from_command_line(
            ["comptoir", "rqworker", "--job-class", "django_tasks_rq.backend.Job", *args, "default"]
        )
    else:
        execute_from_command_line(["comptoir", "db_worker", "--no-reload", *args])
    return 0


def cmd_scheduler(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="comptoir scheduler",
        description="Enqueue the periodic tasks (activity reminders every 5 minutes, follow-up rules every hour) "
        "and the nightly integrity check. Run exactly one.",
    )
    parser.add_argument(
        "--integrity-at", type=_time_of_day, default=_integrity_at_default(),
        help="local time of the nightly integrity check (default 02:30)",
    )  # fmt: skip
    options = parser.parse_args(args)
    _setup_django()
    scheduler = _scheduler_for(options.integrity_at)
    periodic = _periodic_scheduler()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    print(f"Next integrity check enqueued at {scheduler.next_run:%Y-%m-%d %H:%M %Z}.", flush=True)
    for task in periodic.tasks:
        print(f"Periodic task {task.name}: every {task.every}.", flush=True)
    try:
        while True:
            for name in scheduler_step(scheduler, periodic):
                print(f"{dt.datetime.now(scheduler.tz):%Y-%m-%d %H:%M:%S} enqueued {name}.", flush=True)
            time.sleep(20)
    except KeyboardInterrupt:
        return 0


def cmd_manage(argv: list[str]) -> int:
    """Hand over to Django's management commands (``check-integrity`` → ``check_integrity``)."""
    argv = list(argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        raise CliError(str(exc)) from None
    return 0


COMMANDS = {"demo": cmd_demo, "serve": cmd_serve, "worker": cmd_worker, "scheduler": cmd_scheduler}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "comptoir"
    name = argv[1] if len(argv) > 1 else ""
    try:
        if name in ("", "-h", "--help"):
            print(USAGE, end="")
            return 0 if name else 2
        if name in COMMANDS:
            return COMMANDS[name](argv[2:])
        return cmd_manage(argv)
    except CliError as exc:
        print(f"comptoir: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The scale-out configuration really works: Redis + RQ worker runs our task end to end.

Runs the documented set-up in subprocesses (settings are read at start-up): a task is
enqueued with COMPTOIR_TASKS_BACKEND=rq, an RQ worker (with django-tasks-rq's job class)
runs it in burst mode, and the result is read back through Django's Tasks API.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

REDIS_URL = "redis://127.0.0.1:6379/15"  # a database of its own, flushed by this test

SNIPPET_PREFIX = (
    "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'comptoir.config.settings'\n"
    "import django; django.setup()\n"
    "from comptoir.kernel.tasks import check_integrity\n"
)


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_integrity_check_runs_through_redis_and_an_rq_worker(tmp_path: Path) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    env = {
        **os.environ,
        "COMPTOIR_DEBUG": "1",
        "COMPTOIR_DATA_DIR": str(tmp_path),
        "COMPTOIR_TASKS_BACKEND": "rq",
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'rq.sqlite3'}",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    cli = [sys.executable, "-m", "comptoir.config.cli"]
    try:
        run([*cli, "migrate", "-v0"], env)
        task_id = (
            run([sys.executable, "-c", SNIPPET_PREFIX + "r = check_integrity.enqueue(); print('ID', r.id)"], env)
            .split("ID ", 1)[1]
            .split()[0]
        )
        assert client.llen("rq:queue:default") == 1  # the job waits in Redis, not in the database
        worker_log = run([*cli, "rqworker", "--job-class", "django_tasks_rq.backend.Job", "--burst", "default"], env)
        result = run(
            [
                sys.executable,
                "-c",
                SNIPPET_PREFIX
                + f"r = check_integrity.get_result({task_id!r}); print('RESULT', r.status, r.return_value['ok'])",
            ],
            env,
        )
    finally:
        client.flushdb()
    assert "Job OK" in worker_log or "Successfully completed" in worker_log, worker_log
    assert "RESULT SUCCESSFUL True" in result, result

"""Background task of the contacts import (Django's Tasks API): takes the job's id only."""

from __future__ import annotations

from typing import Any

from django.tasks import task

from comptoir.kernel.context import Channel, channel


@task()
def run_import(job_id: int, commit: bool) -> dict[str, Any]:
    """Dry run (``commit=False``) or import of the job's file; progress goes to the job."""
    from comptoir.contacts.imports import run_job

    with channel(Channel.IMPORT):
        return run_job(job_id, commit=commit)

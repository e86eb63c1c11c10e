"""CRM background tasks, enqueued periodically by ``comptoir scheduler`` (see ``kernel.schedule``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.tasks import task

from comptoir.kernel import schedule
from comptoir.kernel.context import Channel, channel


@task()
def send_due_reminders() -> int:
    from comptoir.crm.reminders import send_due_reminders as send

    with channel(Channel.TASK):
        return send()


@task()
def run_followup_rules() -> dict[str, Any]:
    from comptoir.crm.followups import run_followup_rules as run

    with channel(Channel.TASK):
        return run().as_dict()


schedule.register("crm.send_due_reminders", send_due_reminders, every=dt.timedelta(minutes=5))
schedule.register("crm.run_followup_rules", run_followup_rules, every=dt.timedelta(hours=1))

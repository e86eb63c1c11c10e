"""Background tasks of accounting (Django's Tasks API)."""

from __future__ import annotations

import datetime as dt

from django.tasks import task

from comptoir.kernel import schedule
from comptoir.kernel.context import Channel, channel


@task()
def render_invoice_pdf(invoice_id: int) -> bool:
    """Render and store a posted invoice's Factur-X PDF (idempotent: does nothing twice)."""
    from comptoir.accounting.invoices import invoice_pdf_render

    with channel(Channel.TASK):
        return invoice_pdf_render(invoice_id)


@task()
def send_dunning_reminders() -> dict[int, int]:
    """The automatic reminders of the day, for every company that switched them on (once a day each)."""
    from comptoir.accounting.dunning import run_automatic_all

    with channel(Channel.TASK):
        return run_automatic_all()


def register() -> None:
    """Called from the accounting app's ``ready()``. Hourly, so a day is not missed after a restart
    or an outage; each company runs once per day (``dunning.run_automatic``)."""
    schedule.register("accounting.send_dunning_reminders", send_dunning_reminders, every=dt.timedelta(hours=1))

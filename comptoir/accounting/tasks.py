"""Background tasks of accounting (Django's Tasks API)."""

from __future__ import annotations

from django.tasks import task

from comptoir.kernel.context import Channel, channel


@task()
def render_invoice_pdf(invoice_id: int) -> bool:
    """Render and store a posted invoice's Factur-X PDF (idempotent: does nothing twice)."""
    from comptoir.accounting.invoices import invoice_pdf_render

    with channel(Channel.TASK):
        return invoice_pdf_render(invoice_id)

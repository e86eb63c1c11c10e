"""``{% invoice_source_link invoice %}``: a link to the document the invoice was made from (see ``source_links``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from comptoir.accounting import source_links

register = template.Library()


@register.simple_tag(takes_context=True)
def invoice_source_link(context: dict[str, Any], invoice: Any) -> str:
    actor = getattr(context.get("request"), "actor", None)
    if actor is None or invoice is None or not invoice.source_type:
        return ""
    link = source_links.resolve(actor, invoice.source_type, invoice.source_id)
    if link is None:
        return ""
    return format_html('<div class="small" id="invoice-source"><a href="{}">{}</a></div>', link.url, link.label)

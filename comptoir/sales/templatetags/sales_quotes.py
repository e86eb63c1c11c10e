"""Template helpers of the quote pages.

``{% optional_url "sales:quote_pdf" quote.pk as pdf_url %}`` gives the URL, or "" while the
page it names does not exist yet (documents and orders land separately): the quote page
shows a button only when its target resolves.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.simple_tag
def optional_url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""

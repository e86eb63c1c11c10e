"""Template filters of the catalog."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def trimmed(value: Any) -> str:
    """A decimal without its useless zeros, localized: 12.500 → "12.5" ("12,5" in French), 10.000 → "10"."""
    if value is None or value == "":
        return ""
    number = Decimal(value)
    text = format(number.normalize(), "f")
    places = len(text.partition(".")[2])
    return number_format(Decimal(text), decimal_pos=places)


@register.simple_tag(takes_context=True)
def can(context: Any, codename: str) -> bool:
    """Whether the page's actor holds ``codename`` (tabs hidden from roles they would refuse)."""
    actor = context.get("actor")
    return bool(actor is not None and actor.has_perm(codename))

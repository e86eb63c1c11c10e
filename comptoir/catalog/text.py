"""Accent- and case-folding for ``Product.search_text`` and search queries.

The same rule as ``contacts.normalize.fold`` (this layer may not import contacts): the
database only ever compares folded text, so search is portable and indexable.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text: str | None) -> str:
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def search_text(*parts: str | None) -> str:
    return " ".join(p for p in (fold(part) for part in parts) if p)[:1000]

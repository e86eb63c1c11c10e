"""Normalization shared by storage, search and duplicate detection.

``fold`` removes accents and case so that "Lefèvre", "LEFEVRE" and "lefevre" compare equal;
it is applied to the ``search_text`` column when a row is written and to the user's query
when searching, so the database only ever compares folded text (portable, indexable).
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


def digits(text: str | None) -> str:
    return "".join(ch for ch in (text or "") if ch.isdigit())


def web_domain(url_or_email: str | None) -> str:
    """The registrable-looking domain of a website or email: "https://www.acme.fr/x" → "acme.fr"."""
    value = (url_or_email or "").strip().lower()
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value)
    value = value.split("/", 1)[0].split(":", 1)[0]
    return value.removeprefix("www.")


def search_text(*parts: str | None) -> str:
    """The folded text a row is searched by (names, emails, phones, identifiers)."""
    return " ".join(p for p in (fold(part) for part in parts) if p)[:1000]

"""PDF of the ledger reports (trial balance, general ledger, journal listing) with WeasyPrint.

Like the invoice PDF (``einvoice.pdf``): the stylesheet is inlined from a template, fonts
are the system's, and the URL fetcher refuses every URL, so rendering reaches nothing
outside the process. WeasyPrint lays the whole document out in memory and is slow on long
tables (measured on the shared 2-core box: 2,000 journal lines in 37–57 s under load, about
5 ms a line when idle), so the reports are capped at ``MAX_ROWS`` lines (setting
``COMPTOIR_REPORT_PDF_MAX_ROWS``): past that the caller is told to narrow the period or
take the XLSX, which streams.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from comptoir.accounting.einvoice.pdf import refuse_url

MAX_ROWS = 5_000
LANGUAGES = ("fr", "en")
CONTENT_TYPE = "application/pdf"


def max_rows() -> int:
    return int(getattr(settings, "COMPTOIR_REPORT_PDF_MAX_ROWS", MAX_ROWS))


def language_of(requested: str | None) -> str:
    """``fr`` or ``en``: the one asked for, else the page's language."""
    if requested in LANGUAGES:
        return requested  # type: ignore[return-value]
    current = (translation.get_language() or settings.LANGUAGE_CODE)[:2]
    return current if current in LANGUAGES else "fr"


def render_pdf(template: str, context: dict[str, Any], language: str) -> bytes:
    from weasyprint import HTML  # heavy import, kept out of web start-up

    with translation.override(language):
        html = render_to_string(template, {**context, "language": language, "printed_at": timezone.localtime()})
    return HTML(string=html, url_fetcher=refuse_url, base_url=None).write_pdf()  # type: ignore[no-any-return]

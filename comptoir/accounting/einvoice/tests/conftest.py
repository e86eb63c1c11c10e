from __future__ import annotations

import pytest

from comptoir.accounting.einvoice.pdf import facturx_pdf
from comptoir.accounting.einvoice.tests import samples


@pytest.fixture(scope="session")
def standard_pdf() -> bytes:
    """The standard sample as a Factur-X PDF, rendered once for the whole run (≈1 s)."""
    return facturx_pdf(samples.standard_invoice(), "en")

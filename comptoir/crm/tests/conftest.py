from __future__ import annotations

import pytest

from comptoir.org.testing import Personas, enable_modules


@pytest.fixture
def crm(personas: Personas) -> Personas:
    """Personas with the contacts and CRM modules on."""
    enable_modules(personas, "contacts", "crm")
    return personas

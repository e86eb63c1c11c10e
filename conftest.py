import pytest

from comptoir.org.testing import Personas, make_personas


@pytest.fixture
def personas(db) -> Personas:
    """One user per role in “Atelier Dupont”, plus an administrator of another company."""
    return make_personas()

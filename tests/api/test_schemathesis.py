"""Fuzz every operation of the live OpenAPI schema: no 5xx, answers match the schema.

The schema is loaded through the WSGI app (the test URLconf, so the test module's router is
fuzzed too, answering 404 ``module_disabled``). Requests carry an administrator's API key
with every scope, so the fuzzer gets past authentication and reaches validation and writes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from comptoir.config.wsgi import application
from comptoir.org import services

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Calling the WSGI app fires request_finished, which closes the connection holding the
    test's transaction (on PostgreSQL); Django's own test client unhooks it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_key(personas, keep_test_connection) -> str:  # type: ignore[no-untyped-def]
    return services.apikey_create(actor=personas.actor("admin"), name="fuzz", scopes=["org:write", "kernel:read"])[1]


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_and_never_fails(case, admin_key):  # type: ignore[no-untyped-def]
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_key}"}, checks=CHECKS)

"""The OpenAPI document and the interactive docs: complete, local assets only."""

from __future__ import annotations

import pytest

API = "/api/v1"


def test_production_openapi_has_no_test_module():
    from comptoir.config.api import api

    paths = api.get_openapi_schema(path_prefix=f"{API}/")["paths"]
    assert {f"{API}/me", f"{API}/sites", f"{API}/sites/{{site_id}}", f"{API}/audit-entries"} <= set(paths)
    assert not [p for p in paths if "modapp" in p]


@pytest.mark.django_db
def test_openapi_declares_auth_and_error_answers(client):
    schema = client.get(f"{API}/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {"ApiKeyAuth", "SessionAuth"} <= set(schema["components"]["securitySchemes"])
    assert set(schema["components"]["schemas"]["ErrorOut"]["properties"]) == {"code", "message", "fields"}
    for path in schema["paths"].values():
        for operation in path.values():
            assert {"401", "403", "404", "422"} <= set(operation["responses"])
            assert operation["security"]
    # Money and quantities never travel as floats.
    assert '"type": "number"' not in client.get(f"{API}/openapi.json").content.decode()


@pytest.mark.django_db
def test_docs_page_uses_only_local_assets(client):
    response = client.get(f"{API}/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert "Content-Security-Policy" in response.headers

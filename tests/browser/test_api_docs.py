"""The Swagger page loads in Chromium under our CSP (no CDN, no blocked script)."""

from __future__ import annotations

import pytest


@pytest.mark.django_db(transaction=True)
def test_swagger_page_renders_under_csp(page, live_server):
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/sites" in paths and "/api/v1/audit-entries" in paths
    assert errors == []
    assert requested and all(url.startswith(live_server.url) for url in requested), requested

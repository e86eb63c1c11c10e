"""Load balancer probes: no login, no session, plain text."""

from __future__ import annotations

from unittest import mock

from django.db import DatabaseError

from comptoir.kernel.testkit import count_queries


def test_healthz_answers_without_the_database(client, db):
    with count_queries() as ctx:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"
    assert len(ctx.captured_queries) == 0
    assert "no-cache" in response["Cache-Control"]
    assert "sessionid" not in response.cookies


def test_readyz_checks_the_database(client, db):
    with count_queries() as ctx:
        response = client.get("/readyz")
    assert response.status_code == 200 and response.content == b"ok"
    assert len(ctx.captured_queries) == 1


def test_readyz_is_503_when_the_database_fails(client, db):
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=DatabaseError("down")):
        response = client.get("/readyz")
    assert response.status_code == 503


def test_probes_refuse_writes(client, db):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405

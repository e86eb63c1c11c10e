"""Checks registered by the apps run with the kernel's; one that crashes is a problem, not a crash."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from comptoir.kernel import integrity

pytestmark = pytest.mark.django_db


@pytest.fixture
def restore_checks() -> Iterator[None]:
    saved = integrity.registered_checks()
    yield
    integrity._checks.clear()
    integrity._checks.update(saved)


def test_registered_checks_run_and_a_failing_one_is_reported(restore_checks: None) -> None:
    def counts(report: integrity.Report) -> None:
        report.checked["widgets"] = 7
        report.problems.append("widget 3 is bent")

    def crashes(report: integrity.Report) -> None:
        raise RuntimeError("disk on fire")

    integrity.register_check("test.widgets", counts)
    integrity.register_check("test.crash", crashes)
    report = integrity.run_all()
    assert report.checked["widgets"] == 7 and "sequences" in report.checked
    assert "widget 3 is bent" in report.problems
    assert "check test.crash could not run: RuntimeError: disk on fire" in report.problems
    integrity.register_check("test.crash", counts)  # same name: replaced
    assert integrity.registered_checks()["test.crash"] is counts

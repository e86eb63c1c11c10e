"""Background tasks of the contacts app (Django's Tasks API)."""

from __future__ import annotations

from typing import Any

from django.tasks import task

from comptoir.kernel.context import Channel, channel


@task()
def scan_duplicates(scan_id: int) -> dict[str, Any]:
    """Scan a company for duplicate organizations and people (``DuplicateScan`` row ``scan_id``)."""
    from comptoir.contacts.duplicates import duplicate_scan_run

    with channel(Channel.TASK):
        scan = duplicate_scan_run(scan_id=scan_id)
    return {
        "organizations_checked": scan.organizations_checked,
        "people_checked": scan.people_checked,
        "pairs_found": scan.pairs_found,
    }

"""Row locks do not block the commits of rows that point to the locked row.

Django's foreign keys are DEFERRABLE INITIALLY DEFERRED on PostgreSQL: the check of a new
row's foreign key runs at COMMIT and takes ``FOR KEY SHARE`` on the row it points to. A plain
``FOR UPDATE`` lock conflicts with it, so a transaction holding such a lock while waiting for
another one deadlocked with that one's commit (found by the parallel order-to-cash bench: a
payment holding its partner account, an invoice posting committing lines of that account).
Our locks are ``FOR NO KEY UPDATE`` (``ComptoirQuerySet.select_for_update``).
"""

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from comptoir.contacts.models import Address, Organization
from comptoir.org.testing import make_company


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_locked_row_does_not_block_the_commit_of_a_row_pointing_to_it() -> None:
    company = make_company(name="Verrous", siren="842157638")
    organization = Organization.objects.create(company=company, legal_name="Client verrouillé")
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        assert Organization.objects.select_for_update().filter(pk=organization.pk).first() == organization
    locking = [q["sql"] for q in captured.captured_queries if "contacts_organization" in q["sql"]]
    if connection.vendor != "postgresql":  # SQLite has no row locks (IMMEDIATE transactions serialise writers)
        assert locking and "FOR " not in locking[0]
        return
    assert "FOR NO KEY UPDATE" in locking[0]
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def holder() -> None:
        try:
            with transaction.atomic():
                Organization.objects.select_for_update().filter(pk=organization.pk).first()
                locked.set()
                release.wait(timeout=30)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        with transaction.atomic():
            with connection.cursor() as cursor:  # a plain FOR UPDATE would make the commit wait: fail fast instead
                cursor.execute("SET LOCAL lock_timeout = '3s'")
            Address.objects.create(organization=organization, kind="billing", line1="1 rue", postal_code="69001",
                                   city="Lyon", country="FR")  # fmt: skip
        assert Address.objects.filter(organization=organization).count() == 1
        # The lock still serialises lockers: a second locker waits (here: gives up at once).
        with pytest.raises(Exception, match="could not obtain lock"), transaction.atomic():
            Organization.objects.select_for_update(nowait=True).filter(pk=organization.pk).first()
    finally:
        release.set()
        thread.join(timeout=30)
    assert not errors

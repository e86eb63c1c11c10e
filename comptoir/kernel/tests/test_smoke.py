import datetime as dt

from django.db import transaction

from comptoir.kernel import audit, sequences
from comptoir.kernel.models import AuditEntry


def test_personas_and_audit(personas):
    actor = personas.actor("admin")
    assert actor.has_perm("org.change_company")
    assert not personas.actor("sales").has_perm("org.change_company")
    with transaction.atomic():
        entry = audit.record(actor, "test.action", personas.company)
        issued = sequences.next_number(company_id=actor.company_id, kind="test", on_date=dt.date(2026, 1, 5))
    assert AuditEntry.objects.get(pk=entry.pk).digest == audit.compute_digest(AuditEntry.objects.get(pk=entry.pk))
    assert issued.number == "T-2026-00001"

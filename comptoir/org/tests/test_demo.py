"""The demo company: valid French identifiers, one login per role, idempotent loading."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from stdnum.eu import vat
from stdnum.fr import siren, siret

from comptoir.kernel.authz import ROLES
from comptoir.kernel.integrity import run_all
from comptoir.kernel.models import AuditEntry, ModuleActivation
from comptoir.kernel.modules import registry as module_registry
from comptoir.org import services
from comptoir.org.demo import DEMO_PASSWORD, demo_email, load_demo
from comptoir.org.models import Company, Membership, Site, User

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        "companies": Company.objects.count(),
        "sites": Site.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "modules": ModuleActivation.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


def test_load_demo_twice_changes_nothing_the_second_time() -> None:
    first = load_demo()
    after_first = _counts()
    second = load_demo()
    assert first.created is True
    assert second.created is False
    assert second.company.pk == first.company.pk
    assert _counts() == after_first
    assert after_first["companies"] == 1
    assert after_first["sites"] == 2
    assert after_first["users"] == len(ROLES)


def test_demo_company_identifiers_are_valid() -> None:
    company = load_demo().company
    company.refresh_from_db()
    assert siren.is_valid(company.siren)
    assert vat.is_valid(company.vat_number)
    assert company.vat_number == f"FR{(12 + 3 * (int(company.siren) % 97)) % 97:02d}{company.siren}"
    assert (company.country, company.currency, company.timezone) == ("FR", "EUR", "Europe/Paris")
    assert company.rcs and company.share_capital and company.postal_code and company.city
    sites = list(Site.objects.filter(company=company).order_by("siret"))
    assert [s.is_head_office for s in sites] == [True, False]
    for site in sites:
        assert siret.is_valid(site.siret)
        assert site.siret.startswith(company.siren)


def test_one_demo_user_per_role_who_can_sign_in() -> None:
    result = load_demo()
    assert [role for role, _email in result.logins] == list(ROLES)
    for role in ROLES:
        roles = set(
            Membership.objects.filter(company=result.company, user__email=demo_email(role)).values_list(
                "role", flat=True
            )
        )
        assert roles == {role}
        user = authenticate(None, email=demo_email(role), password=DEMO_PASSWORD)
        assert user is not None, role
        assert user.default_company_id == result.company.pk


def test_demo_switches_on_every_module_but_respects_a_later_switch_off() -> None:
    company = load_demo().company
    optional = {m.code for m in module_registry.all() if not m.core}
    assert optional, "the test settings register at least the test-only module"
    enabled = set(ModuleActivation.objects.filter(company_id=company.pk, enabled=True).values_list("module", flat=True))
    assert enabled == optional
    admin = User.objects.get(email=demo_email("admin"))
    from comptoir.org.selectors import build_actor

    # A module nothing else requires (switching off a required one is refused).
    code = next(c for c in sorted(optional) if not any(c in m.requires for m in module_registry.all()))
    services.module_set(actor=build_actor(admin, company.pk, "cli"), module=code, enabled=False)
    load_demo()
    assert not ModuleActivation.objects.get(company_id=company.pk, module=code).enabled


def test_demo_leaves_a_clean_integrity_report() -> None:
    load_demo()
    report = run_all()
    assert report.ok, report.problems
    assert report.checked["audit_entries"] > 0


def test_demo_fills_the_modules_once() -> None:
    """Registered module loaders (contacts, CRM) add sample data at the first run only."""
    from comptoir.contacts.models import Organization, Person
    from comptoir.crm.models import Lead, Opportunity

    company = load_demo().company
    counts = (
        Organization.objects.filter(company=company).count(),
        Person.objects.filter(company=company).count(),
        Opportunity.objects.filter(company=company).count(),
        Lead.objects.filter(company=company).count(),
    )
    assert all(counts) and counts[0] >= 10 and counts[2] >= 8
    assert Opportunity.objects.filter(company=company, status="won").exists()
    assert Opportunity.objects.filter(company=company, status="lost").exists()
    load_demo()
    assert counts == (
        Organization.objects.filter(company=company).count(),
        Person.objects.filter(company=company).count(),
        Opportunity.objects.filter(company=company).count(),
        Lead.objects.filter(company=company).count(),
    )


def test_demo_books_the_workshop_on_the_lyon_site() -> None:
    """The reports' site filter has something to show: the workshop's sale, purchase and receipt."""
    from django.db.models import Sum

    from comptoir.accounting.models import JournalLine

    company = load_demo().company
    lyon = Site.objects.get(company=company, city="Lyon")
    lines = JournalLine.objects.filter(company=company, site=lyon, is_posted=True)
    totals = lines.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    assert lines.values("entry").distinct().count() == 3
    assert totals["debit"] == totals["credit"] > 0

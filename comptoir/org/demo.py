"""Demo data: a small French company with one login per role, created through the services.

``load_demo()`` is idempotent: it creates what is missing and leaves the rest alone, so
``comptoir demo`` can run it at every start and keep what the visitor changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from comptoir.kernel import demo as demo_registry
from comptoir.kernel.authz import ROLES
from comptoir.kernel.context import Actor, Channel, channel
from comptoir.kernel.errors import Conflict
from comptoir.kernel.models import ModuleActivation
from comptoir.kernel.modules import registry as module_registry
from comptoir.org import services
from comptoir.org.models import Company, Membership, Site, User

# Long enough for the password validators and unlike the demo e-mail addresses.
DEMO_PASSWORD = "bienvenue-comptoir"
DEMO_DOMAIN = "demo.comptoir.test"

# SIREN 512345679 passes the Luhn check; the VAT key is (12 + 3 × (SIREN mod 97)) mod 97 = 75;
# each SIRET is the SIREN + a 5-digit establishment number (NIC) with its own Luhn check.
COMPANY: dict[str, Any] = {
    "name": "Maison Lefèvre",
    "legal_name": "Maison Lefèvre SAS",
    "legal_form": "SAS",
    "siren": "512345679",
    "vat_number": "FR75512345679",
    "share_capital": "50 000 EUR",
    "rcs": "RCS Paris 512 345 679",
    "address_line1": "18 rue de la Verrerie",
    "postal_code": "75004",
    "city": "Paris",
    "country": "FR",
    "currency": "EUR",
    "timezone": "Europe/Paris",
    "email": f"contact@{DEMO_DOMAIN}",
    "phone": "+33 1 42 72 00 00",
    "website": f"https://{DEMO_DOMAIN}",
}
SITES: list[dict[str, Any]] = [
    {
        "name": "Siège — Paris",
        "siret": "51234567900017",
        "is_head_office": True,
        "address_line1": "18 rue de la Verrerie",
        "postal_code": "75004",
        "city": "Paris",
    },
    {
        "name": "Atelier — Lyon",
        "siret": "51234567900025",
        "is_head_office": False,
        "address_line1": "5 quai Saint-Vincent",
        "postal_code": "69001",
        "city": "Lyon",
    },
]
PEOPLE = {
    "sales": "Camille Martin",
    "marketing": "Léa Bernard",
    "service": "Hugo Thomas",
    "finance": "Chloé Petit",
    "operations": "Lucas Robert",
    "production": "Manon Richard",
    "hr": "Nathan Durand",
    "management": "Inès Dubois",
    "admin": "Julien Moreau",
}


def demo_email(role: str) -> str:
    return f"{role}@{DEMO_DOMAIN}"


@dataclass
class DemoResult:
    company: Company
    created: bool
    # (role, email) for every demo login, in role order.
    logins: list[tuple[str, str]] = field(default_factory=list)


def _switch_on_modules(actor: Actor) -> None:
    """Switch on every module this company never decided about, dependencies first."""
    decided = set(ModuleActivation.objects.filter(company_id=actor.company_id).values_list("module", flat=True))
    pending = [m.code for m in module_registry.all() if not m.core and m.code not in decided]
    while pending:
        progressed = False
        for code in list(pending):
            try:
                services.module_set(actor=actor, module=code, enabled=True)
            except Conflict:
                continue  # needs a module not switched on yet: retry on the next pass
            pending.remove(code)
            progressed = True
        if not progressed:
            break  # the rest need modules that do not exist here


@transaction.atomic
def load_demo() -> DemoResult:
    with channel(Channel.CLI):
        company = Company.objects.filter(siren=COMPANY["siren"]).first()
        created = company is None
        if company is None:
            company = services.company_create(actor=Actor.system(None, Channel.CLI), **COMPANY)
        actor = Actor.system(company.pk, Channel.CLI)

        sirets = set(Site.objects.filter(company=company).values_list("siret", flat=True))
        for site in SITES:
            if site["siret"] not in sirets:
                services.site_create(actor=actor, **site)

        held = set(Membership.objects.filter(company=company).values_list("user__email", "role"))
        for role in ROLES:
            email = demo_email(role)
            if (email, role) in held:
                continue
            user = User.objects.filter(email=email).first()
            if user is None or not any(e == email for e, _r in held):
                services.user_create(
                    actor=actor, email=email, full_name=PEOPLE.get(role, f"Demo {role}"), roles=[role],
                    password=DEMO_PASSWORD, language="fr",
                )  # fmt: skip
            else:
                current = [r for e, r in held if e == email]
                services.user_set_roles(actor=actor, user_id=user.pk, roles=[*current, role])

        _switch_on_modules(actor)
        # Each module fills its part of the demo (contacts, opportunities…), idempotently.
        demo_registry.run_all(actor)
    return DemoResult(company=company, created=created, logins=[(role, demo_email(role)) for role in ROLES])

"""Test fixtures for people and companies: one persona per role, plus an outsider."""

from __future__ import annotations

from dataclasses import dataclass, field

from comptoir.kernel.authz import ROLES
from comptoir.kernel.context import Actor, Channel
from comptoir.org.models import Company, Membership, Site, User
from comptoir.org.selectors import build_actor

PASSWORD = "correct-horse-battery-staple"


def make_company(name: str = "Atelier Dupont", siren: str = "842157638", **extra: object) -> Company:
    key = (12 + 3 * (int(siren) % 97)) % 97
    return Company.objects.create(
        name=name,
        legal_name=f"{name} SAS",
        legal_form="SAS",
        siren=siren,
        vat_number=f"FR{key:02d}{siren}",
        address_line1="12 rue des Artisans",
        postal_code="69002",
        city="Lyon",
        **extra,
    )


def make_user(company: Company, role: str, email: str | None = None, password: str = PASSWORD) -> User:
    email = email or f"{role}@{company.name.lower().replace(' ', '-')}.test"
    user = User.objects.create_user(
        email=email, password=password, full_name=f"{role.title()} {company.name}", default_company=company
    )
    Membership.objects.create(user=user, company=company, role=role)
    return user


@dataclass
class Personas:
    company: Company
    other_company: Company
    outsider: User
    users: dict[str, User] = field(default_factory=dict)

    def actor(self, role: str, channel: str = Channel.UI) -> Actor:
        return build_actor(self.users[role], self.company.pk, channel)

    def outsider_actor(self, channel: str = Channel.UI) -> Actor:
        return build_actor(self.outsider, self.other_company.pk, channel)


def make_personas() -> Personas:
    company = make_company()
    Site.objects.create(company=company, name="Siège Lyon", siret="84215763800011", is_head_office=True, city="Lyon")
    other = make_company(name="Concurrent Martin", siren="904128352")
    outsider = make_user(other, "admin", email="outsider@concurrent.test")
    personas = Personas(company=company, other_company=other, outsider=outsider)
    for role in ROLES:
        personas.users[role] = make_user(company, role)
    return personas


def enable_modules(personas: Personas, *codes: str) -> None:
    """Switch modules on for the personas' company (as its administrator), in dependency order."""
    from comptoir.org.services import module_set

    for code in codes:
        module_set(actor=personas.actor("admin"), module=code, enabled=True)

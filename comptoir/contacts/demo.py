"""Demo contacts: French customers and suppliers with valid identifiers, and their people."""

from __future__ import annotations

from stdnum import luhn

from comptoir.contacts import services
from comptoir.contacts.models import Organization
from comptoir.contacts.normalize import fold
from comptoir.kernel.context import Actor
from comptoir.org.models import User

# (legal name, SIREN base without check digit, city, postal code, lifecycle, sector, website)
ORGANIZATIONS = [
    ("Boulangerie Martin SARL", "41234567", "Lyon", "69003", "customer", "Boulangerie", "boulangerie-martin.fr"),
    ("Atelier Moreau", "42345678", "Nantes", "44000", "customer", "Menuiserie", "atelier-moreau.fr"),
    ("Hôtel du Vieux Port SAS", "43456789", "Marseille", "13002", "customer", "Hôtellerie", "hotel-vieuxport.fr"),
    ("Cave Lefèvre et Fils", "44567891", "Reims", "51100", "lead", "Négoce de vins", "cave-lefevre.fr"),
    ("Imprimerie Rousseau", "45678912", "Rennes", "35000", "prospect", "Imprimerie", "imprimerie-rousseau.fr"),
    ("Garage Dubois", "46789123", "Toulouse", "31000", "prospect", "Automobile", "garage-dubois.fr"),
    ("Pharmacie Centrale de Lille", "47891234", "Lille", "59000", "customer", "Santé", "pharmacie-centrale-lille.fr"),
    ("Librairie Fontaine", "48912345", "Bordeaux", "33000", "former_customer", "Librairie", "librairie-fontaine.fr"),
    ("Papeterie Girard SA", "49123456", "Grenoble", "38000", "supplier", "Fournitures", "papeterie-girard.fr"),
    ("Transports Lambert", "51234568", "Dijon", "21000", "supplier", "Transport", "transports-lambert.fr"),
]
# (first name, last name, job title, index of their organization)
PEOPLE = [
    ("Sophie", "Martin", "Gérante", 0),
    ("Julien", "Moreau", "Artisan menuisier", 1),
    ("Claire", "Blanc", "Directrice", 2),
    ("Marc", "Lefèvre", "Associé", 3),
    ("Émilie", "Rousseau", "Responsable des achats", 4),
    ("Thomas", "Dubois", "Chef d'atelier", 5),
    ("Nathalie", "Petit", "Pharmacienne titulaire", 6),
    ("Hélène", "Fontaine", "Libraire", 7),
    ("Pierre", "Girard", "Commercial", 8),
    ("Luc", "Lambert", "Gérant", 9),
    ("Camille", "Roux", "Assistante de direction", 2),
    ("Antoine", "Faure", "Sommelier", 3),
]


def _ascii(name: str) -> str:
    return fold(name).replace(" ", "-").replace("'", "")


def _siren(base: str) -> str:
    return base + luhn.calc_check_digit(base)


def load(actor: Actor) -> None:
    if Organization.objects.filter(company_id=actor.company_id).exists():
        return  # the visitor's data is theirs: never add the samples twice
    sales = User.objects.filter(email__startswith="sales@", memberships__company_id=actor.company_id).first()
    owner_id = sales.pk if sales else None
    orgs = []
    for legal_name, base, city, postal_code, stage, sector, domain in ORGANIZATIONS:
        siren = _siren(base)
        siret_base = siren + "0001"
        org = services.organization_create(
            actor=actor,
            legal_name=legal_name,
            siren=siren,
            siret=siret_base + luhn.calc_check_digit(siret_base),
            lifecycle_stage=stage,
            sector=sector,
            website=f"https://www.{domain}",
            email=f"contact@{domain}",
            owner_id=owner_id,
        )
        services.address_add(
            actor=actor, organization_id=org.pk, kind="billing", line1="1 place de la Mairie",
            postal_code=postal_code, city=city, country="FR", is_default=True,
        )  # fmt: skip
        orgs.append(org)
    for first_name, last_name, job_title, index in PEOPLE:
        org = orgs[index]
        domain = org.web_domain
        services.person_create(
            actor=actor,
            first_name=first_name,
            last_name=last_name,
            job_title=job_title,
            email=f"{_ascii(first_name)}.{_ascii(last_name)}@{domain}",
            organization_id=org.pk,
            role=job_title,
            owner_id=owner_id,
        )

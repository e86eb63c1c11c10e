"""Demo pipeline: opportunities at every stage, a few won and lost, and leads to qualify."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from comptoir.contacts.models import Organization
from comptoir.crm import services
from comptoir.crm.models import LostReason, Opportunity, Stage, StageKind
from comptoir.kernel.context import Actor
from comptoir.org.models import User

# (title, organization index, amount, stage position among open stages, days to close)
OPPORTUNITIES = [
    ("Renouvellement du four", 0, "18500.00", 2, 20),
    ("Agencement de la boutique", 1, "9200.00", 1, 45),
    ("Équipement des 40 chambres", 2, "64000.00", 0, 90),
    ("Cave à vins climatisée", 3, "12750.00", 1, 30),
    ("Catalogue 2027", 4, "4300.00", 0, 60),
    ("Pont élévateur", 5, "7800.00", 2, 15),
    ("Robot de dispensation", 6, "38900.00", 1, 75),
]
LEADS = [
    ("Salon de l'artisanat — contact stand", "Fromagerie Bernard", "Louise Bernard", "louise@fromagerie-bernard.fr"),
    ("Demande de devis via le site", "Studio Vidal", "Hugo Vidal", "hugo@studio-vidal.fr"),
    ("Recommandation de Sophie Martin", "Pâtisserie Mercier", "Inès Mercier", "ines@patisserie-mercier.fr"),
]


def load(actor: Actor) -> None:
    if Opportunity.objects.filter(company_id=actor.company_id).exists():
        return
    orgs = list(Organization.objects.filter(company_id=actor.company_id).order_by("id"))
    if not orgs:
        return
    sales = User.objects.filter(email__startswith="sales@", memberships__company_id=actor.company_id).first()
    owner = {"owner_id": sales.pk} if sales else {}
    pipeline = services.pipeline_ensure_default(actor=actor)
    open_stages = list(Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN).order_by("sequence"))
    today = timezone.localdate()
    created = []
    for title, index, amount, position, days in OPPORTUNITIES:
        stage = open_stages[min(position, len(open_stages) - 1)]
        created.append(
            services.opportunity_create(
                actor=actor,
                pipeline_id=pipeline.pk,
                stage_id=stage.pk,
                title=title,
                organization_id=orgs[index % len(orgs)].pk,
                amount=Decimal(amount),
                expected_close_date=today + dt.timedelta(days=days),
                source="Démo",
                **owner,
            )
        )
    services.opportunity_mark_won(actor=actor, opportunity_id=created[0].pk)
    lost = services.opportunity_create(
        actor=actor, title="Étagères sur mesure", organization_id=orgs[7 % len(orgs)].pk,
        amount=Decimal("3100.00"), source="Démo", **owner,
    )  # fmt: skip
    reason = LostReason.objects.filter(company_id=actor.company_id).order_by("id").first()
    services.opportunity_mark_lost(
        actor=actor, opportunity_id=lost.pk, lost_reason_id=reason.pk if reason else None, note="Budget reporté"
    )
    for title, organization_name, contact_name, email in LEADS:
        services.lead_create(
            actor=actor, title=title, organization_name=organization_name, contact_name=contact_name, email=email,
            source="Démo", **owner,
        )  # fmt: skip

"""Demo quotes: a draft, a sent quote with an optional line, an accepted one (from an
opportunity when the CRM demo made one) and a refused one, on the demo catalogue."""

from __future__ import annotations

from typing import Any

from comptoir.catalog.models import Product
from comptoir.contacts.models import Organization
from comptoir.crm.models import Opportunity
from comptoir.kernel import modules
from comptoir.kernel.context import Actor
from comptoir.org.models import Membership
from comptoir.sales import quotes
from comptoir.sales.models_quotes import Quote


def _line(products: dict[str, int], reference: str, quantity: str, **extra: Any) -> dict[str, Any] | None:
    if reference not in products:
        return None
    return {"product_id": products[reference], "quantity": quantity, **extra}


def load(actor: Actor) -> None:
    if not modules.is_enabled(actor.company_id, "sales") or not modules.is_enabled(actor.company_id, "catalog"):
        return
    if Quote.objects.filter(company_id=actor.company_id).exists():
        return
    products = dict(Product.objects.filter(company_id=actor.company_id).values_list("reference", "pk"))
    organizations = list(Organization.objects.filter(company_id=actor.company_id, merged_into__isnull=True)
                         .order_by("id").values_list("pk", flat=True)[:3])  # fmt: skip
    if not organizations or not products:
        return
    owner_id = (Membership.objects.filter(company_id=actor.company_id, role="sales")
                .order_by("id").values_list("user_id", flat=True).first())  # fmt: skip
    owner = {"owner_id": owner_id} if owner_id else {}

    def make(organization_id: int, title: str, lines: list[dict[str, Any] | None], **data: Any) -> Quote:
        return quotes.quote_create(actor=actor, organization_id=organization_id, title=title,
                                   lines=[line for line in lines if line], **owner, **data)  # fmt: skip

    make(organizations[0], "Renouvellement du fournil", [
        {"kind": "section", "description": "Équipement"},
        _line(products, "FOUR-SOLE-4", "1"), _line(products, "PETRIN-80", "1", discount_percent="5"),
        {"kind": "section", "description": "Services"},
        _line(products, "INSTALL", "12"),
    ])  # fmt: skip
    sent = make(organizations[-1], "Plaques et consommables", [
        _line(products, "PLAQUE-ALU", "40"), _line(products, "JOINT-PORTE", "6"),
        _line(products, "FARINE-T65", "250", optional=True),
        {"kind": "text", "description": "Livraison sous 8 jours ouvrés."},
    ], discount_percent="3")  # fmt: skip
    quotes.quote_mark_sent(actor=actor, quote_id=sent.pk)
    opportunity = (Opportunity.objects.filter(company_id=actor.company_id, organization_id__isnull=False)
                   .order_by("id").values_list("pk", "organization_id").first())  # fmt: skip
    target = {"opportunity_id": opportunity[0]} if opportunity else {}
    accepted = make(opportunity[1] if opportunity else organizations[0], "Four et formation", [
        _line(products, "FOUR-SOLE-4", "1"), _line(products, "FORMATION", "2"),
    ], **target)  # fmt: skip
    quotes.quote_mark_sent(actor=actor, quote_id=accepted.pk)
    quotes.quote_accept(actor=actor, quote_id=accepted.pk, version=1, by_name="Signé en rendez-vous")
    refused = make(organizations[0], "Pétrin supplémentaire", [_line(products, "PETRIN-80", "1")])
    quotes.quote_mark_sent(actor=actor, quote_id=refused.pk)
    quotes.quote_refuse(actor=actor, quote_id=refused.pk, reason="Budget reporté à l'an prochain")

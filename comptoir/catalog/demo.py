"""Demo catalogue: a bakery equipment maker's products and services, a wholesale price list."""

from __future__ import annotations

from decimal import Decimal

from comptoir.catalog import services
from comptoir.catalog.models import PriceList, Product, RuleMethod, RuleTarget, Uom
from comptoir.kernel import modules
from comptoir.kernel.context import Actor

CATEGORIES = [("Fours", None), ("Pétrins", None), ("Fours à sole", "Fours"), ("Services", None)]

# (reference, barcode, French name, English name, kind, category, unit code, sale price, purchase price, VAT)
PRODUCTS = [
    ("FOUR-SOLE-4", "3760123450010", "Four à sole 4 étages", "Four-deck oven", "goods", "Fours à sole", "unit",
     "18500.00", "11200.00", "standard"),
    ("PETRIN-80", "3760123450027", "Pétrin à spirale 80 L", "Spiral mixer 80 L", "goods", "Pétrins", "unit",
     "7800.00", "4950.00", "standard"),
    ("PLAQUE-ALU", "3760123450034", "Plaque de cuisson aluminium perforée", "Perforated aluminium baking tray",
     "consumable", "Fours", "unit", "24.90", "11.40", "standard"),
    ("JOINT-PORTE", "", "Joint de porte de four (au mètre)", "Oven door seal (per metre)", "consumable", "Fours",
     "m", "18.50", "7.20", "standard"),
    ("FARINE-T65", "3760123450041", "Farine de tradition T65", "T65 traditional flour", "consumable", None, "kg",
     "1.35", "0.82", "reduced"),
    ("INSTALL", "", "Installation et mise en service", "Installation and commissioning", "service", "Services",
     "hour", "85.00", "0", "standard"),
    ("FORMATION", "", "Formation des boulangers (journée)", "Baker training (day)", "service", "Services", "unit",
     "650.00", "0", "exempt_261_4"),
]  # fmt: skip


def load(actor: Actor) -> None:
    if not modules.is_enabled(actor.company_id, "catalog"):
        return
    services.setup_company_catalog(actor=actor)
    if Product.objects.filter(company_id=actor.company_id).exists():
        return
    uoms = dict(Uom.objects.filter(company_id=actor.company_id).exclude(code="").values_list("code", "pk"))
    categories: dict[str, int] = {}
    for name, parent in CATEGORIES:
        category = services.category_create(actor=actor, name=name, parent_id=categories.get(parent or ""))
        categories[name] = category.pk
    products = {}
    for reference, barcode, name_fr, name_en, kind, category_name, unit, sale, purchase, vat in PRODUCTS:
        products[reference] = services.product_create(
            actor=actor, reference=reference, barcode=barcode, name_fr=name_fr, name_en=name_en, kind=kind,
            category_id=categories.get(category_name or ""), sale_uom_id=uoms[unit], purchase_uom_id=uoms[unit],
            sale_price=Decimal(sale), purchase_price=Decimal(purchase), vat_category=vat,
        )  # fmt: skip
    if PriceList.objects.filter(company_id=actor.company_id).exists():
        return
    group = services.customer_group_create(actor=actor, name="Grossistes")
    wholesale = services.price_list_create(actor=actor, name="Grossistes", customer_group_id=group.pk, priority=20)
    services.rule_create(actor=actor, price_list_id=wholesale.pk, target=RuleTarget.ALL,
                         method=RuleMethod.DISCOUNT, discount_percent=Decimal("10"))  # fmt: skip
    breaks = services.price_list_create(
        actor=actor, name="Grossistes — quantités", customer_group_id=group.pk, priority=10
    )
    services.rule_create(
        actor=actor, price_list_id=breaks.pk, target=RuleTarget.CATEGORY, category_id=categories["Fours"],
        min_quantity=Decimal("10"), method=RuleMethod.PRICE_LIST, base_price_list_id=wholesale.pk,
        discount_percent=Decimal("5"),
    )  # fmt: skip
    promo = services.price_list_create(actor=actor, name="Salon du pain", priority=5)
    services.rule_create(actor=actor, price_list_id=promo.pk, target=RuleTarget.PRODUCT,
                         product_id=products["PETRIN-80"].pk, method=RuleMethod.FIXED,
                         fixed_price=Decimal("7400.00"))  # fmt: skip

"""Quote services: numbering, pricing, EN 16931 totals, versions, acceptance, record rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from comptoir.accounting import invoices
from comptoir.accounting.models import PaymentTerm
from comptoir.catalog import services as catalog_services
from comptoir.contacts.models import Organization
from comptoir.crm.models import Opportunity
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent
from comptoir.org.models import Team
from comptoir.org.testing import Personas
from comptoir.sales import quote_selectors, quotes
from comptoir.sales.models_quotes import Quote, QuoteLine, QuoteState, QuoteVersion
from comptoir.sales.tests.quotes_kit import Shop, make_shop, product_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(personas: Personas) -> Iterator[Shop]:
    with translation.override("en"):
        yield make_shop(personas)


def _lines(quote: Quote) -> list[QuoteLine]:
    return list(QuoteLine.objects.filter(quote=quote).order_by("position"))


# --- Creation, numbering, defaults -------------------------------------------------------


def test_create_numbers_prices_and_defaults(shop: Shop) -> None:
    term = PaymentTerm.objects.filter(company_id=shop.company_id).order_by("id").last()
    invoices.partner_profile_update(actor=shop.actor("admin"), organization_id=shop.customer.pk, language="en",
                                    payment_term_id=term.pk)  # fmt: skip
    first = shop.quote()
    second = shop.quote()
    year = timezone.localdate().year
    assert first.number == f"DE-{year}-00001"
    assert second.number == f"DE-{year}-00002"
    assert first.state == QuoteState.DRAFT and first.version == 1
    assert first.valid_until == first.issue_date + dt.timedelta(days=30)
    assert first.language == "en" and first.payment_term_id == term.pk
    (line,) = _lines(first)
    assert line.unit_price == Decimal("80.0000") and line.description == "Chair"
    assert "80.00" in line.price_explanation
    assert line.uom_id == shop.chair.sale_uom_id
    assert (first.untaxed_amount, first.tax_amount, first.total_amount) == (
        Decimal("160.00"),
        Decimal("32.00"),
        Decimal("192.00"),
    )
    assert AuditEntry.objects.filter(action="quote.create", object_id=str(first.pk)).exists()


def test_price_comes_from_the_customers_price_list(shop: Shop) -> None:
    admin = shop.actor("management")
    price_list = catalog_services.price_list_create(actor=admin, name="Martin", customer_id=shop.customer.pk)
    catalog_services.rule_create(actor=admin, price_list_id=price_list.pk, target="product", product_id=shop.chair.pk,
                                 method="fixed", fixed_price="72.50")  # fmt: skip
    quote = shop.quote([product_line(shop.chair, "3")])
    (line,) = _lines(quote)
    assert line.unit_price == Decimal("72.5000")
    assert "Martin" in line.price_explanation
    assert quote.untaxed_amount == Decimal("217.50")


# --- Totals, the EN 16931 way ------------------------------------------------------------


def _mixed(shop: Shop) -> list[dict]:
    return [
        {"kind": "section", "description": "Mobilier"},
        product_line(shop.chair, "3", "80.00", discount_percent="10"),
        product_line(shop.book, "7", "19.99"),
        {"kind": "text", "description": "Livraison comprise"},
        product_line(shop.design, "1.5", "450.00"),
        product_line(shop.chair, "10", "80.00", optional=True),
    ]


def test_totals_to_the_cent_with_mixed_vat_and_discounts(shop: Shop) -> None:
    quote = shop.quote(_mixed(shop), discount_percent="5")
    # Standard base 216.00 + 675.00 = 891.00, discount 44.55; reduced 139.93, discount 7.00 (6.9965).
    assert quote.lines_amount == Decimal("1030.93")
    assert quote.discount_amount == Decimal("51.55")
    assert quote.untaxed_amount == Decimal("979.38")
    # VAT once per rate: 846.45 × 20 % = 169.29; 132.93 × 5.5 % = 7.31115 → 7.31.
    assert quote.tax_amount == Decimal("176.60")
    assert quote.total_amount == Decimal("1155.98")
    rows = _lines(quote)
    assert [r.kind for r in rows] == ["section", "product", "product", "text", "product", "product"]
    assert rows[1].net_amount == Decimal("216.00") and rows[2].net_amount == Decimal("139.93")
    assert rows[5].optional and not rows[5].selected and rows[5].net_amount == Decimal("800.00")
    breakdown = {(b["category"], b["rate"]): (b["base"], b["tax"]) for b in quotes.vat_breakdown(quote)}
    assert breakdown == {("S", Decimal("20.00")): (Decimal("846.45"), Decimal("169.29")),
                         ("S", Decimal("5.50")): (Decimal("132.93"), Decimal("7.31"))}  # fmt: skip


def test_totals_match_the_invoice_of_the_same_lines(shop: Shop) -> None:
    quote = shop.quote(_mixed(shop))
    invoice = invoices.invoice_create(actor=shop.actor("finance"), kind="customer_invoice",
                                      organization_id=shop.customer.pk, lines=[
        {"name": "Chaise", "quantity": "3", "unit_price": "80.00", "discount_percent": "10"},
        {"name": "Livre", "quantity": "7", "unit_price": "19.99", "vat_category": "reduced"},
        {"name": "Conception", "quantity": "1.5", "unit_price": "450.00", "operation": "services"},
    ])  # fmt: skip
    assert (quote.untaxed_amount, quote.tax_amount, quote.total_amount) == (
        invoice.untaxed_amount,
        invoice.tax_amount,
        invoice.total_amount,
    )


def test_selected_optional_line_counts(shop: Shop) -> None:
    quote = shop.quote([product_line(shop.chair, "1"), product_line(shop.book, "2", optional=True, selected=True)])
    assert quote.untaxed_amount == Decimal("120.00")
    assert quote.tax_amount == Decimal("18.20")  # 16.00 + 2.20


def test_eu_business_customer_pays_no_french_vat(shop: Shop) -> None:
    quote = shop.quote([product_line(shop.chair, "2")], organization=shop.books.eu_customer)
    assert quote.fiscal_position == "eu_business"
    assert quote.tax_amount == Decimal("0.00") and quote.total_amount == Decimal("160.00")
    (line,) = _lines(quote)
    assert line.tax_category == "K"


# --- Bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "field"), [
    ({"lines": [{"product_id": 999999, "quantity": "1"}]}, "lines.0.product_id"),
    ({"lines": [{"description": "Sans prix", "quantity": "1"}]}, "lines.0.unit_price"),
    ({"lines": [{"description": "X", "quantity": 1.5, "unit_price": "1"}]}, "lines.0.quantity"),
    ({"lines": [{"description": "X", "quantity": "0", "unit_price": "1"}]}, "lines.0.quantity"),
    ({"lines": [{"description": "X", "unit_price": "-3"}]}, "lines.0.unit_price"),
    ({"lines": [{"description": "X", "unit_price": "3", "discount_percent": "120"}]}, "lines.0.discount_percent"),
    ({"lines": [{"description": "X", "unit_price": "3", "vat_code": "zero"}]}, "lines.0.vat_code"),
    ({"lines": [{"kind": "banner", "description": "X"}]}, "lines.0.kind"),
    ({"lines": [{"kind": "section", "description": ""}]}, "lines.0.description"),
    ({"lines": [{"description": "X", "unit_price": "3", "colour": "red"}]}, "lines.0.colour"),
    ({"lines": "nope"}, "lines"),
    ({"discount_percent": "-1"}, "discount_percent"),
    ({"currency": "euro"}, "currency"),
    ({"valid_until": "2001-01-01", "issue_date": "2026-01-10"}, "valid_until"),
    ({"issue_date": "31/12/2026"}, "issue_date"),
    ({"language": "de"}, "language"),
    ({"unknown": 1}, "unknown"),
    ({"owner_id": "abc"}, "owner_id"),
])  # fmt: skip
def test_bad_input_is_a_field_error_and_writes_nothing(shop: Shop, data: dict, field: str) -> None:
    payload = {"lines": [product_line(shop.chair)]} | data
    with pytest.raises(ValidationFailed) as caught:
        quotes.quote_create(actor=shop.actor(), organization_id=shop.customer.pk, **payload)
    assert field in caught.value.fields
    assert not Quote.objects.exists()


def test_organization_of_another_company_is_unknown(shop: Shop) -> None:
    other = Organization.objects.create(company=shop.personas.other_company, legal_name="Ailleurs")
    with pytest.raises(ValidationFailed) as caught:
        shop.quote(organization=other)
    assert "organization_id" in caught.value.fields


def test_lines_outside_scope_and_taxed_cannot_mix(shop: Shop) -> None:
    with pytest.raises(ValidationFailed) as caught:
        shop.quote(
            [product_line(shop.chair), {"description": "Débours", "unit_price": "10", "vat_code": "out_of_scope"}]
        )
    assert "lines" in caught.value.fields


# --- Life cycle: versions, acceptance ------------------------------------------------------


def test_update_replaces_lines_only_on_drafts(shop: Shop) -> None:
    quote = shop.quote()
    updated = quotes.quote_update(actor=shop.actor(), quote_id=quote.pk, title="Atelier",
                                  lines=[product_line(shop.book, "3")])  # fmt: skip
    assert updated.title == "Atelier" and updated.untaxed_amount == Decimal("60.00")
    assert [line.product_id for line in _lines(quote)] == [shop.book.pk]
    quotes.quote_mark_sent(actor=shop.actor(), quote_id=quote.pk)
    with pytest.raises(Conflict):
        quotes.quote_update(actor=shop.actor(), quote_id=quote.pk, title="Trop tard")


def test_send_revise_send_keeps_every_version(shop: Shop) -> None:
    quote = shop.quote()
    v1 = quotes.quote_mark_sent(actor=shop.actor(), quote_id=quote.pk)
    assert v1.version == 1 and v1.sent_at is not None
    assert v1.snapshot["quote"]["number"] == quote.number
    assert v1.snapshot["totals"]["total"] == "192.00"
    assert v1.snapshot["customer"]["name"] == shop.customer.legal_name
    assert v1.snapshot["lines"][0]["unit_price"] == "80.0000"
    revised = quotes.quote_revise(actor=shop.actor(), quote_id=quote.pk)
    assert (revised.state, revised.version) == (QuoteState.DRAFT, 2)
    quotes.quote_update(actor=shop.actor(), quote_id=quote.pk, lines=[product_line(shop.chair, "5")])
    v2 = quotes.quote_mark_sent(actor=shop.actor(), quote_id=quote.pk)
    assert v2.version == 2 and v2.snapshot["totals"]["total"] == "480.00"
    v1.refresh_from_db()
    assert v1.snapshot["totals"]["total"] == "192.00"
    assert list(QuoteVersion.objects.filter(quote=quote).order_by("version").values_list("version", flat=True)) == [
        1,
        2,
    ]
    with pytest.raises(Conflict) as caught:
        quotes.quote_accept(actor=shop.actor(), quote_id=quote.pk, version=1, by_name="M. Martin")
    assert caught.value.code == "quote_version_stale"


def test_sending_again_the_same_version_keeps_one_snapshot(shop: Shop) -> None:
    quote = shop.quote()
    first = quotes.quote_mark_sent(actor=shop.actor(), quote_id=quote.pk)
    again = quotes.quote_mark_sent(actor=shop.actor(), quote_id=quote.pk)
    assert first.pk == again.pk and QuoteVersion.objects.filter(quote=quote).count() == 1


def test_accept_online_publishes_the_event(shop: Shop) -> None:
    opportunity = Opportunity.objects.filter(company_id=shop.company_id).first()
    quote = shop.sent([product_line(shop.chair, "1"), product_line(shop.book, "1", optional=True),
                       product_line(shop.design, "1", optional=True)])  # fmt: skip
    optional = [line.pk for line in _lines(quote) if line.optional]
    accepted = quotes.quote_accept(actor=None, quote_id=quote.pk, version=1, by_name="Jeanne Martin",
                                   ip="203.0.113.7", via="online", selected_line_ids=[optional[0]])  # fmt: skip
    assert accepted.state == QuoteState.ACCEPTED and accepted.acceptance_via == "online"
    assert accepted.accepted_version == 1 and accepted.accepted_ip == "203.0.113.7"
    # The chair (80.00 at 20 %) and the book picked (20.00 at 5.5 %).
    assert accepted.untaxed_amount == Decimal("100.00") and accepted.tax_amount == Decimal("17.10")
    assert [line.selected for line in _lines(quote)] == [True, True, False]
    assert optional[0] in {line.pk for line in _lines(quote)}  # the lines keep their ids
    event = OutboxEvent.objects.get(name=quotes.ACCEPTED_EVENT)
    assert event.payload["quote_id"] == quote.pk
    assert event.payload["opportunity_id"] == (opportunity.pk if opportunity and quote.opportunity_id else None)
    entry = AuditEntry.objects.get(action="quote.accept", object_id=str(quote.pk))
    assert entry.actor_id is None and entry.changes["by_name"] == [None, "Jeanne Martin"]


def test_accept_refuses_drafts_expired_and_bad_input(shop: Shop) -> None:
    draft = shop.quote()
    with pytest.raises(Conflict):
        quotes.quote_accept(actor=shop.actor(), quote_id=draft.pk, version=1, by_name="X")
    quote = shop.sent()
    with pytest.raises(ValidationFailed) as caught:
        quotes.quote_accept(actor=None, quote_id=quote.pk, version=1, by_name="", via="online")
    assert "by_name" in caught.value.fields
    with pytest.raises(ValidationFailed) as caught:
        quotes.quote_accept(actor=None, quote_id=quote.pk, version=1, by_name="X", via="online", ip="999.1.1.1")
    assert "ip" in caught.value.fields
    line_id = _lines(quote)[0].pk
    with pytest.raises(ValidationFailed) as caught:
        quotes.quote_accept(actor=shop.actor(), quote_id=quote.pk, version=1, selected_line_ids=[line_id])
    assert "selected_line_ids" in caught.value.fields
    with pytest.raises(PermissionDenied):
        quotes.quote_accept(actor=None, quote_id=quote.pk, version=1, by_name="X", via="salesperson")
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    with pytest.raises(Conflict) as expired:
        quotes.quote_accept(actor=None, quote_id=quote.pk, version=1, by_name="X", via="online")
    assert expired.value.code == "quote_expired"
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.SENT


def test_salesperson_records_acceptance(shop: Shop) -> None:
    Organization.objects.filter(pk=shop.customer.pk).update(owner=shop.personas.users["sales"])
    quote = shop.sent()
    accepted = quotes.quote_accept(actor=shop.actor("sales"), quote_id=quote.pk, version=1, by_name="Par téléphone")
    assert accepted.acceptance_via == "salesperson" and accepted.accepted_at is not None
    with pytest.raises(Conflict):
        quotes.quote_cancel(actor=shop.actor(), quote_id=quote.pk)


def test_refuse_cancel_and_expire(shop: Shop) -> None:
    refused = quotes.quote_refuse(actor=shop.actor(), quote_id=shop.sent().pk, reason="Trop cher")
    assert refused.state == QuoteState.REFUSED and refused.refusal_reason == "Trop cher"
    assert quotes.quote_revise(actor=shop.actor(), quote_id=refused.pk).version == 2
    cancelled = quotes.quote_cancel(actor=shop.actor(), quote_id=shop.quote().pk)
    assert cancelled.state == QuoteState.CANCELLED
    late = shop.sent()
    fresh = shop.sent()
    Quote.objects.filter(pk=late.pk).update(valid_until=dt.date(2020, 1, 31))
    assert quotes.expire_quotes(shop.company_id, timezone.localdate()) == 1
    assert Quote.objects.get(pk=late.pk).state == QuoteState.EXPIRED
    assert Quote.objects.get(pk=fresh.pk).state == QuoteState.SENT
    assert AuditEntry.objects.filter(action="quote.expire", object_id=str(late.pk)).exists()
    revised = quotes.quote_revise(actor=shop.actor(), quote_id=late.pk)
    assert revised.state == QuoteState.DRAFT and revised.valid_until >= timezone.localdate()


def test_quote_from_an_opportunity_takes_its_organization(shop: Shop) -> None:
    from comptoir.crm import services as crm_services

    Organization.objects.filter(pk=shop.customer.pk).update(owner=shop.personas.users["sales"])
    opportunity = crm_services.opportunity_create(actor=shop.actor("sales"), title="Salle de réunion",
                                                  organization_id=shop.customer.pk)  # fmt: skip
    quote = quotes.quote_create(actor=shop.actor("sales"), opportunity_id=opportunity.pk,
                                lines=[product_line(shop.chair)])  # fmt: skip
    assert quote.organization_id == shop.customer.pk and quote.opportunity_id == opportunity.pk
    assert list(opportunity.quotes.values_list("pk", flat=True)) == [quote.pk]
    with pytest.raises(ValidationFailed) as caught:
        shop.quote(organization=shop.books.eu_customer, opportunity_id=opportunity.pk)
    assert "opportunity_id" in caught.value.fields


# --- Record rules ------------------------------------------------------------------------


def test_record_rules_matrix(shop: Shop) -> None:
    personas = shop.personas
    seller, colleague = personas.users["sales"], personas.users["marketing"]
    team = Team.objects.create(company=personas.company, name="Lyon")
    team.members.add(seller, colleague)
    own = Organization.objects.create(company=personas.company, legal_name="Client du vendeur", owner=seller)
    teams = Organization.objects.create(company=personas.company, legal_name="Client de l'équipe", owner=colleague)
    others = Organization.objects.create(company=personas.company, legal_name="Client d'un autre",
                                         owner=personas.users["management"])  # fmt: skip
    by_org = {org.pk: shop.quote(organization=org) for org in (own, teams, others)}

    def seen(role: str) -> set[int]:
        actor = personas.actor(role)
        return set(quote_selectors.quote_list(actor).values_list("organization_id", flat=True))

    assert seen("sales") == {own.pk, teams.pk}
    assert seen("finance") >= {own.pk, teams.pk, others.pk}  # sales.view_all
    assert seen("management") >= {own.pk, teams.pk, others.pk}
    assert seen("service") >= {own.pk, teams.pk, others.pk}  # sees every contact
    with pytest.raises(PermissionDenied):
        quote_selectors.quote_list(personas.actor("production"))
    assert not quotes.visible_quotes(personas.outsider_actor()).exists()
    with pytest.raises(NotFound):
        quote_selectors.quote_get(personas.actor("sales"), by_org[others.pk].pk)
    with pytest.raises(NotFound):
        quotes.quote_cancel(actor=personas.actor("sales"), quote_id=by_org[others.pk].pk)
    with pytest.raises(PermissionDenied):
        quotes.quote_cancel(actor=personas.actor("finance"), quote_id=by_org[own.pk].pk)
    with pytest.raises(NotFound):
        quotes.quote_cancel(actor=personas.outsider_actor(), quote_id=by_org[own.pk].pk)
    # A salesperson cannot quote an organization they do not see.
    with pytest.raises(ValidationFailed):
        shop.quote(actor=personas.actor("sales"), organization=others)
    # Scopes narrow the list further.
    mine = quotes.quote_create(actor=personas.actor("sales"), organization_id=own.pk, lines=[product_line(shop.chair)])
    listed = quote_selectors.quote_list(personas.actor("sales"), {"scope": "mine"})
    assert list(listed.values_list("pk", flat=True)) == [mine.pk]
    with pytest.raises(ValidationFailed):
        quote_selectors.quote_list(personas.actor("sales"), {"scope": "everyone"})


def test_list_filters_and_search(shop: Shop) -> None:
    first = shop.quote(title="Salle de réunion")
    second = shop.sent(organization=shop.books.eu_customer)
    actor = shop.actor()
    assert [q.pk for q in quote_selectors.quote_list(actor)] == [second.pk, first.pk]
    assert [q.pk for q in quote_selectors.quote_list(actor, {"state": "sent"})] == [second.pk]
    assert [q.pk for q in quote_selectors.quote_list(actor, {"q": "reunion"})] == []
    assert [q.pk for q in quote_selectors.quote_list(actor, {"q": "réunion"})] == [first.pk]
    assert [q.pk for q in quote_selectors.quote_list(actor, {"q": "Bäckerei"})] == [second.pk]
    assert [q.pk for q in quote_selectors.quote_list(actor, {"organization_id": str(shop.customer.pk)})] == [first.pk]
    for bad in ({"state": "won"}, {"organization_id": "x"}, {"date_from": "hier"}):
        with pytest.raises(ValidationFailed):
            quote_selectors.quote_list(actor, bad)

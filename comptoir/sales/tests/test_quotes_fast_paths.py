"""The quote services' statements written once say what the ORM reads said: the lock of a quote
(statement for an actor who sees every quote, record rule otherwise), a new quote's defaults
(customer check, partner profile, invoicing settings, head office), the lines inserted, read
back and snapshotted, and the parties of the snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from comptoir.accounting.models import InvoicingSettings, PartnerProfile, PaymentTerm
from comptoir.catalog import services as catalog_services
from comptoir.catalog.models import Product
from comptoir.contacts.models import Address, Organization, Person
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.models import Company, Site, Team, User
from comptoir.org.testing import Personas
from comptoir.sales import quotes
from comptoir.sales.models_quotes import Quote, QuoteLine, QuoteLineKind, QuoteState, QuoteVersion
from comptoir.sales.tests.quotes_kit import Shop, make_shop, product_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(personas: Personas) -> Iterator[Shop]:
    with translation.override("en"):
        yield make_shop(personas)


def _orm_locked(actor: Actor, quote_id: Any) -> Quote | None:
    """The lock as the record rule reads it (the reference of the statement's path)."""
    return quotes.visible_quotes(actor).select_for_update(of=("self",)).filter(pk=quote_id).first()


def _locked_or_none(actor: Actor, quote_id: Any) -> Quote | None:
    try:
        with transaction.atomic():
            return quotes._locked(actor, quote_id)
    except NotFound:
        return None


def _columns(quote: Quote) -> dict[str, Any]:
    return {field.attname: getattr(quote, field.attname) for field in Quote._meta.concrete_fields}


def test_lock_refuses_and_returns_what_the_record_rule_does(shop: Shop) -> None:
    personas = shop.personas
    seller = personas.users["sales"]
    team = Team.objects.create(company=personas.company, name="Lyon")
    team.members.add(seller, personas.users["marketing"])
    own = Organization.objects.create(company=personas.company, legal_name="Client du vendeur", owner=seller)
    teams = Organization.objects.create(company=personas.company, legal_name="Client de l'équipe",
                                        owner=personas.users["marketing"])  # fmt: skip
    others = Organization.objects.create(company=personas.company, legal_name="Client d'un autre",
                                         owner=personas.users["management"])  # fmt: skip
    made = [shop.quote(organization=org) for org in (own, teams, others)]
    made.append(shop.sent())
    outsider_company = Company.objects.create(name="Ailleurs")
    elsewhere = Quote.objects.create(
        company=outsider_company,
        number="X-1",
        organization=Organization.objects.create(company=outsider_company, legal_name="Autre"),
        issue_date=made[0].issue_date,
        valid_until=made[0].valid_until,
    )
    ids: list[Any] = [quote.pk for quote in made] + [elsewhere.pk, 10**12, 0, -1, True, "1", 2**63, None]
    # management sees every quote (the statement); sales only their customers' (the record rule).
    assert quotes.sees_all(shop.actor("management")) and not quotes.sees_all(shop.actor("sales"))
    for role in ("management", "finance", "sales", "production"):
        actor = shop.actor(role)
        for quote_id in ids:
            found = _locked_or_none(actor, quote_id)
            valid = isinstance(quote_id, int) and not isinstance(quote_id, bool) and 0 < quote_id < 2**63
            expected = _orm_locked(actor, quote_id) if valid else None
            assert (found is None) == (expected is None), (role, quote_id)
            if found is not None and expected is not None:
                assert _columns(found) == _columns(expected)
    assert {q.pk for q in made if _locked_or_none(shop.actor("sales"), q.pk)} == {made[0].pk, made[1].pk}
    assert _locked_or_none(personas.outsider_actor(), made[0].pk) is None


def test_online_lock_reads_any_quote_and_refuses_bad_ids(shop: Shop) -> None:
    quote = shop.sent()
    with transaction.atomic():
        assert _columns(quotes._locked_online(quote.pk)) == _columns(Quote.objects.get(pk=quote.pk))
    for bad in (10**12, 2**63, 0, True, "1"):
        with pytest.raises(NotFound), transaction.atomic():
            quotes._locked_online(bad)
    with pytest.raises(NotFound):
        quotes.quote_accept(actor=None, quote_id=2**70, version=1, by_name="Julie", via="online")


def test_new_quote_takes_the_profile_settings_and_head_office(shop: Shop) -> None:
    term = PaymentTerm.objects.create(company_id=shop.company_id, name="Terme profil")
    default_term = PaymentTerm.objects.create(company_id=shop.company_id, name="Terme par défaut")
    InvoicingSettings.objects.update_or_create(company_id=shop.company_id,
                                               defaults={"default_payment_term": default_term})  # fmt: skip
    Site.objects.filter(company_id=shop.company_id).update(is_head_office=False)
    head = Site.objects.create(company_id=shop.company_id, name="Siège", siret="84215763800012", is_head_office=True)
    PartnerProfile.objects.update_or_create(company_id=shop.company_id, organization=shop.books.export_customer,
                                            defaults={"language": "en", "payment_term": term})  # fmt: skip
    for role in ("management", "sales"):  # the statement's customer check, and the record rule's
        actor = shop.actor(role)
        Organization.objects.filter(company_id=shop.company_id).update(owner=shop.personas.users["sales"])
        profiled = shop.quote(actor=actor, organization=shop.books.export_customer)
        assert (profiled.fiscal_position, profiled.language, profiled.payment_term_id, profiled.site_id) == (
            "non_eu",
            "en",
            term.pk,
            head.pk,
        )
        plain = shop.quote(actor=actor)  # no profile: the quote's defaults and the settings' term
        assert (plain.fiscal_position, plain.language, plain.payment_term_id, plain.site_id) == (
            "france",
            "fr",
            default_term.pk,
            head.pk,
        )
        stored = Quote.objects.get(pk=plain.pk)
        assert _columns(stored) | {"updated_at": None, "created_at": None} == _columns(plain) | {
            "updated_at": None,
            "created_at": None,
        }
    Site.objects.filter(pk=head.pk).update(is_active=False)  # a closed head office is no default
    assert shop.quote().site_id is None
    given = Site.objects.create(company_id=shop.company_id, name="Atelier", siret="84215763800020")
    assert shop.quote(site_id=given.pk).site_id == given.pk


def test_unknown_customers_are_refused_on_both_paths(shop: Shop) -> None:
    merged = Organization.objects.create(company_id=shop.company_id, legal_name="Doublon",
                                         merged_into=shop.customer)  # fmt: skip
    hidden = Organization.objects.create(company_id=shop.company_id, legal_name="Client d'un autre",
                                         owner=shop.personas.users["management"])  # fmt: skip
    other_company = Company.objects.create(name="Ailleurs")
    foreign = Organization.objects.create(company=other_company, legal_name="Autre")
    cases = [(merged.pk, ["management", "sales"]), (foreign.pk, ["management", "sales"]), (10**12, ["management"]),
             (hidden.pk, ["sales"])]  # fmt: skip
    for organization_id, roles in cases:
        for role in roles:
            with pytest.raises(ValidationFailed) as caught:
                quotes.quote_create(actor=shop.actor(role), organization_id=organization_id,
                                    lines=[product_line(shop.chair)])  # fmt: skip
            assert caught.value.fields == {"organization_id": ["Unknown organization."]}, (organization_id, role)
    assert quotes.quote_create(actor=shop.actor("management"), organization_id=hidden.pk,
                               lines=[product_line(shop.chair)]).organization_id == hidden.pk  # fmt: skip


def test_lines_are_stored_as_bulk_create_stored_them(shop: Shop) -> None:
    lines = [product_line(shop.chair, "2"), {"kind": QuoteLineKind.SECTION, "description": "Options"},
             product_line(shop.book, "3", "19.5", discount_percent="10", optional=True, selected=False),
             product_line(shop.design, "1.5", "450", description="Sur mesure", operation="services")]  # fmt: skip
    quote = shop.quote(lines * 30)  # 120 lines: more than one INSERT on SQLite (999 parameters)
    stored = list(QuoteLine.objects.filter(quote=quote).order_by("position"))
    assert [line.position for line in stored] == list(range(1, 121))
    first, section, book, design = stored[:4]
    assert (first.product_id, first.quantity, first.unit_price, first.net_amount, first.vat_rate, first.selected) == (
        shop.chair.pk,
        Decimal("2"),
        Decimal("80"),
        Decimal("160"),
        Decimal("20"),
        True,
    )
    assert (section.kind, section.description, section.product_id, section.net_amount) == (
        "section",
        "Options",
        None,
        Decimal(0),
    )
    assert (book.optional, book.selected, book.discount_percent, book.net_amount, book.tax_category) == (
        True,
        False,
        Decimal("10"),
        Decimal("52.65"),
        "S",
    )
    assert (design.description, design.operation, design.quantity, design.net_amount) == (
        "Sur mesure",
        "services",
        Decimal("1.5"),
        Decimal("675"),
    )
    assert all(line.created_at == line.updated_at for line in stored)
    assert [(line.net_amount, line.tax_amount) for line in stored[4:8]] == [
        (line.net_amount, line.tax_amount) for line in stored[:4]
    ]
    # Lines the update rewrites go through the same INSERT.
    updated = quotes.quote_update(actor=shop.actor(), quote_id=quote.pk, lines=lines[:2])
    assert list(QuoteLine.objects.filter(quote=updated).values_list("position", "kind")) == [
        (1, "product"),
        (2, "section"),
    ]


def test_lines_read_as_the_orm_reads_them(shop: Shop) -> None:
    quote = shop.quote([product_line(shop.chair, "2"), product_line(shop.book, "3", "19.5", discount_percent="12.5",
                                                                    optional=True, selected=False),
                        {"kind": QuoteLineKind.TEXT, "description": "Livraison comprise"}])  # fmt: skip
    orm = QuoteLine.objects.filter(quote=quote).order_by("position", "id")
    assert quotes.current_lines(quote) == list(orm.values(*quotes.LINE_VALUES))
    read = quotes._snapshot_lines(quote)
    assert read == list(orm.values(*quotes.SNAPSHOT_LINES))
    typed = ("quantity", "optional", "net_amount")
    assert [type(row[name]) for row in read for name in typed] == [
        type(row[name]) for row in orm.values(*quotes.SNAPSHOT_LINES) for name in typed
    ]
    assert all(isinstance(row["optional"], bool) and isinstance(row["unit_price"], Decimal) for row in read)


def test_snapshot_parties_are_those_the_orm_reads(shop: Shop) -> None:
    customer = shop.customer
    Address.objects.create(organization=customer, kind=Address.Kind.BILLING, line1="Ancienne adresse", city="Lyon")
    Address.objects.create(organization=customer, kind=Address.Kind.BILLING, line1="Autre", city="Lyon",
                           is_default=False)  # fmt: skip
    person = Person.objects.create(company_id=shop.company_id, first_name="Julie", last_name="Martin",
                                   email="julie@client.test")  # fmt: skip
    term = PaymentTerm.objects.create(company_id=shop.company_id, name="Terme du devis", note="À 30 jours net")
    owner = shop.personas.users["management"]
    quote = shop.quote(contact_id=person.pk, payment_term_id=term.pk)
    assert quote.owner_id == owner.pk
    parties = quotes._Parties(quote)
    company = Company.objects.filter(pk=quote.company_id).values(*quotes.SNAPSHOT_COMPANY).get()
    assert parties.company == company
    assert (
        parties.organization
        == Organization.objects.filter(pk=customer.pk).values("legal_name", "trade_name", "siren", "vat_number").get()
    )
    expected_address = (
        Address.objects.filter(organization=customer, kind=Address.Kind.BILLING)
        .order_by("-is_default", "id")
        .values("line1", "line2", "postal_code", "city", "country")
        .first()
    )
    assert parties.address == expected_address
    assert expected_address is not None and expected_address["line1"] == "3 rue du Pain"
    assert parties.contact == {"first_name": "Julie", "last_name": "Martin", "email": "julie@client.test"}
    assert parties.owner == User.objects.filter(pk=owner.pk).values("full_name", "email").get()
    assert parties.term == {"name": "Terme du devis", "note": "À 30 jours net"}
    assert parties.franchise is False and parties.version_id is None
    InvoicingSettings.objects.update_or_create(company_id=shop.company_id, defaults={"vat_franchise": True})
    assert quotes._Parties(quote).franchise is True
    # Without contact, salesperson, term or billing address: empty, as the ORM's first() gave.
    bare = shop.quote(organization=shop.books.export_customer)
    Quote.objects.filter(pk=bare.pk).update(owner=None, payment_term=None)
    Address.objects.filter(organization=shop.books.export_customer).delete()
    bare = Quote.objects.get(pk=bare.pk)
    empty = quotes._Parties(bare)
    assert (empty.address, empty.contact, empty.owner, empty.term) == (None, None, None, None)
    snapshot = quotes.quote_snapshot(bare)
    assert (snapshot["customer"]["address"], snapshot["contact"], snapshot["salesperson"],
            snapshot["quote"]["payment_terms"]) == ({}, None, None, "")  # fmt: skip


def test_sending_freezes_the_snapshot_once_and_resending_moves_sent_at(shop: Shop) -> None:
    actor = shop.actor()
    quote = shop.quote([product_line(shop.chair, "2"), product_line(shop.book, "1")])
    with CaptureQueriesContext(connection) as first:
        version = quotes.quote_mark_sent(actor=actor, quote_id=quote.pk)
    stored = QuoteVersion.objects.get(pk=version.pk)
    # What the statements read is what a fresh read of every row shows.
    assert stored.snapshot == quotes.quote_snapshot(Quote.objects.get(pk=quote.pk))
    assert stored.snapshot["quote"]["state"] == QuoteState.SENT
    assert [line["reference"] for line in stored.snapshot["lines"]] == ["CH-1", "LV-1"]
    again = quotes.quote_mark_sent(actor=actor, quote_id=quote.pk)
    assert again.pk == version.pk and again.sent_at is not None and again.sent_at > version.sent_at  # type: ignore[operator]
    assert QuoteVersion.objects.filter(quote=quote).count() == 1
    assert QuoteVersion.objects.get(pk=version.pk).snapshot == stored.snapshot
    sent = Quote.objects.get(pk=quote.pk)
    assert (sent.state, sent.sent_at, sent.updated_at) == (QuoteState.SENT, again.sent_at, again.sent_at)
    # Lock, lines, the quote's UPDATE, the snapshot's parties, the version's INSERT, the audit (and the transaction's).
    assert len([q for q in first.captured_queries if q["sql"].lstrip().upper().startswith(
        ("SELECT", "UPDATE", "INSERT"))]) == 6  # fmt: skip


def test_acceptance_saves_its_columns_and_the_totals_with_optional_lines(shop: Shop) -> None:
    quote = shop.sent([product_line(shop.chair, "2"), product_line(shop.book, "3", optional=True, selected=False)])
    optional = QuoteLine.objects.get(quote=quote, optional=True)
    accepted = quotes.quote_accept(actor=shop.actor(), quote_id=quote.pk, version=1, by_name="Julie Martin",
                                   ip="192.0.2.7", selected_line_ids=[optional.pk])  # fmt: skip
    stored = Quote.objects.get(pk=quote.pk)
    assert _columns(stored) == _columns(accepted)
    assert (stored.state, stored.accepted_by_name, stored.accepted_ip, stored.accepted_version,
            stored.acceptance_via, stored.updated_at) == (QuoteState.ACCEPTED, "Julie Martin", "192.0.2.7", 1,
                                                          "salesperson", stored.accepted_at)  # fmt: skip
    assert stored.total_amount == Decimal("192") + Decimal("63.30")
    plain = shop.sent()
    accepted = quotes.quote_accept(actor=None, quote_id=plain.pk, version=1, by_name="Julie", via="online")
    assert _columns(Quote.objects.get(pk=plain.pk)) == _columns(accepted)


def test_products_read_with_their_unit_and_category_as_select_related(shop: Shop) -> None:
    admin = shop.actor("admin")
    ovens = catalog_services.category_create(actor=admin, name="Fours")
    deck = catalog_services.category_create(actor=admin, name="À sole", parent_id=ovens.pk)
    oven = catalog_services.product_create(actor=admin, reference="FO-1", name_fr="Four", name_en="Oven",
                                           description_fr="À sole", kind="goods", sale_price="1249.90",
                                           vat_category="standard", category_id=deck.pk)  # fmt: skip
    catalog_services.product_archive(actor=admin, product_id=shop.book.pk)
    other_company = Company.objects.create(name="Ailleurs")
    ids = {oven.pk, shop.chair.pk, shop.book.pk, shop.design.pk, 10**12}
    with CaptureQueriesContext(connection) as queries:
        found = quotes._products(shop.company_id, ids)
        read = {pk: ({name: getattr(p, name) for name in quotes._PRODUCT_COLUMNS},
                     {name: getattr(p.sale_uom, name) for name in quotes._UOM_COLUMNS},
                     None if p.category is None else (p.category.path, p.category.depth, p.category.ancestor_ids))
                for pk, p in found.items()}  # fmt: skip
    assert len(queries.captured_queries) == 1  # nothing read on access
    orm = Product.objects.filter(company_id=shop.company_id, pk__in=ids).select_related("sale_uom", "category")
    assert read == {p.pk: ({name: getattr(p, name) for name in quotes._PRODUCT_COLUMNS},
                           {name: getattr(p.sale_uom, name) for name in quotes._UOM_COLUMNS},
                           None if p.category is None else (p.category.path, p.category.depth, p.category.ancestor_ids))
                    for p in orm}  # fmt: skip
    assert read[oven.pk][2] == (f"/{ovens.pk}/{deck.pk}/", 2, [ovens.pk, deck.pk])
    assert read[shop.book.pk][0]["is_archived"] is True and read[oven.pk][0]["sale_price"] == Decimal("1249.90")
    assert quotes._products(other_company.pk, ids) == {} and quotes._products(shop.company_id, set()) == {}
    # The archived product is refused on its line, the others priced from the catalog.
    with pytest.raises(ValidationFailed) as caught:
        shop.quote([product_line(oven), product_line(shop.book)])
    assert (caught.value.fields or {})["lines.1.product_id"] == ["Unknown or archived product."]
    assert not any(name.startswith("lines.0.") for name in caught.value.fields or {})
    priced = QuoteLine.objects.get(quote=shop.quote([product_line(oven, "2")]))
    assert (priced.unit_price, priced.description, priced.vat_code) == (Decimal("1249.90"), "Four\nÀ sole", "standard")


def test_preview_reads_the_invoicing_settings_once_and_gives_the_quotes_totals(shop: Shop) -> None:
    actor = shop.actor()
    lines = [product_line(shop.chair, "2"), product_line(shop.book, "3")]
    for franchise in (False, True):
        InvoicingSettings.objects.update_or_create(company_id=shop.company_id, defaults={"vat_franchise": franchise})
        with CaptureQueriesContext(connection) as queries:
            preview = quotes.quote_preview(actor=actor, organization_id=shop.customer.pk, lines=lines)
        settings_reads = [q for q in queries.captured_queries if "accounting_invoicingsettings" in q["sql"]]
        assert len(settings_reads) == 1
        created = shop.quote(lines)
        assert preview["errors"] == {} and preview["totals"].grand_total == created.total_amount
        assert (created.tax_amount == 0) is franchise
        without_customer = quotes.quote_preview(actor=actor, lines=lines)
        assert without_customer["totals"].grand_total == created.total_amount

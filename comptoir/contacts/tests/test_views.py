"""Contacts pages: lists (search, htmx, filters, sort, saved views, export = view), details, forms."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from comptoir.contacts import services
from comptoir.contacts.models import Address, Affiliation, Consent, Organization, Person
from comptoir.kernel.models import SavedView
from comptoir.kernel.testkit import count_queries
from comptoir.org.models import User
from comptoir.org.testing import Personas, enable_modules, make_user


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


def login(client: Client, user: User) -> Client:
    # English pages; a second factor so administrators are not sent to enrol.
    User.objects.filter(pk=user.pk).update(
        language="en", totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now()
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


@pytest.fixture
def sales(client: Client, p: Personas) -> Client:
    return login(client, p.users["sales"])


@pytest.fixture
def data(p: Personas) -> dict[str, object]:
    actor = p.actor("sales")
    lefevre = services.organization_create(
        actor=actor, legal_name="Boulangerie Lefèvre", siren="732829320", phone="04 78 00 00 00"
    )
    ecole = services.organization_create(actor=actor, legal_name="École Martin", lifecycle_stage="customer")
    person = services.person_create(
        actor=actor, first_name="Hélène", last_name="Lefèvre", phone="0612345678", organization_id=lefevre.pk
    )
    return {"lefevre": lefevre, "ecole": ecole, "person": person}


def ids(response) -> list[int]:  # type: ignore[no-untyped-def]
    return [row["obj"].pk for row in response.context["rows"]]


def test_lists_render_with_formatted_identifiers(sales: Client, data: dict) -> None:
    response = sales.get(reverse("contacts:organizations"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "732 829 320" in html and "04 78 00 00 00" in html
    assert ids(response) == [data["lefevre"].pk, data["ecole"].pk]
    response = sales.get(reverse("contacts:people"))
    assert "06 12 34 56 78" in response.content.decode() and "Boulangerie Lefèvre" in response.content.decode()


def test_search_filter_sort_and_htmx_fragment(sales: Client, data: dict) -> None:
    url = reverse("contacts:organizations")
    assert ids(sales.get(url, {"q": "lefevre"})) == [data["lefevre"].pk]
    assert ids(sales.get(url, {"lifecycle_stage": "customer"})) == [data["ecole"].pk]
    assert ids(sales.get(url, {"sort": "-name"})) == [data["ecole"].pk, data["lefevre"].pk]
    fragment = sales.get(url, {"q": "ecole"}, headers={"HX-Request": "true", "HX-Target": "list-results"})
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert "<html" not in html and "École Martin" in html and "Lefèvre" not in html


def test_bad_list_parameters_are_422_not_500(sales: Client, data: dict) -> None:
    response = sales.get(reverse("contacts:organizations"), {"sort": "nope", "owner": "x", "page": "-1"})
    assert response.status_code == 422
    response = sales.get(reverse("contacts:people"), {"do_not_contact": "maybe"})
    assert response.status_code == 422 and "do_not_contact" in response.context["errors"]


def test_pagination_and_constant_query_count(sales: Client, p: Personas) -> None:
    def cost() -> int:
        with count_queries() as ctx:
            assert sales.get(reverse("contacts:people")).status_code == 200
        return len(ctx.captured_queries)

    actor = p.actor("sales")
    org = services.organization_create(actor=actor, legal_name="Acme")
    person = services.person_create(actor=actor, last_name="P000", organization_id=org.pk)
    services.tags_set(actor=actor, person_id=person.pk, names=["x"])
    cost()
    one = cost()
    for i in range(1, 51):  # one more than a page
        person = services.person_create(actor=actor, last_name=f"P{i:03}", organization_id=org.pk)
        services.tags_set(actor=actor, person_id=person.pk, names=["x", f"y{i}"])
    assert cost() == one
    page2 = sales.get(reverse("contacts:people"), {"page": "2"})
    assert page2.context["page"].page == 2 and page2.context["page"].pages == 2 and len(ids(page2)) == 1


def test_saved_views(sales: Client, p: Personas, data: dict) -> None:
    response = sales.post(
        reverse("contacts:saved_view_save", args=["organizations"]),
        {"name": "Customers", "query": "lifecycle_stage=customer&sort=-name&evil=1", "shared": "on"},
    )
    assert response.status_code == 302
    view = SavedView.objects.get(list_key="contacts.organizations")
    assert view.query == "lifecycle_stage=customer&sort=-name" and view.shared
    page = sales.get(reverse("contacts:organizations"))
    assert 'data-saved-view="Customers"' in page.content.decode()
    assert ids(sales.get(f"{reverse('contacts:organizations')}?{view.query}")) == [data["ecole"].pk]
    # Shared: a colleague sees it but cannot delete it.
    other = Client()
    login(other, p.users["marketing"])
    assert 'data-saved-view="Customers"' in other.get(reverse("contacts:organizations")).content.decode()
    assert other.post(reverse("contacts:saved_view_delete", args=[view.pk])).status_code == 404
    assert sales.post(reverse("contacts:saved_view_delete", args=[view.pk])).status_code == 302
    assert not SavedView.objects.exists()
    assert sales.post(reverse("contacts:saved_view_save", args=["bogus"]), {"name": "x"}).status_code == 404
    assert sales.post(reverse("contacts:saved_view_save", args=["people"]), {"name": ""}).status_code == 422


def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content)


def _csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    text = _body(response).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_export_is_exactly_the_view(sales: Client, p: Personas, data: dict) -> None:
    for i in range(3):
        services.organization_create(actor=p.actor("sales"), legal_name=f"Lefèvre fils {i}")
    params = {"q": "LEFEVRE", "sort": "-name"}
    view = sales.get(reverse("contacts:organizations"), params)
    rows = _csv(sales.get(reverse("contacts:organizations_export"), {**params, "format": "csv"}))
    assert rows[0][0] == "Id"
    assert [int(r[0]) for r in rows[1:]] == ids(view)
    xlsx = sales.get(reverse("contacts:organizations_export"), {**params, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(_body(xlsx)), read_only=True).active
    assert [r[0] for r in list(sheet.iter_rows(values_only=True))[1:]] == ids(view)
    people = _csv(sales.get(reverse("contacts:people_export"), {"format": "csv"}))
    assert [r[1:3] for r in people[1:]] == [["Hélène", "Lefèvre"]]
    assert sales.get(reverse("contacts:people_export"), {"format": "pdf"}).status_code == 422


def test_export_needs_permission(client: Client, p: Personas, data: dict) -> None:
    login(client, p.users["operations"])
    assert client.get(reverse("contacts:organizations")).status_code == 200
    assert client.get(reverse("contacts:organizations_export"), {"format": "csv"}).status_code == 403


def test_organization_create_form(sales: Client, p: Personas) -> None:
    url = reverse("contacts:organization_create")
    assert sales.get(url).status_code == 200
    response = sales.post(url, {"legal_name": "", "siren": "123", "email": "bad", "lifecycle_stage": "prospect"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"legal_name", "siren", "email"} <= set(errors)
    assert "Invalid SIREN" in response.content.decode()
    assert Organization.objects.count() == 0
    response = sales.post(
        url,
        {"legal_name": "Lefèvre SA", "siret": "73282932000074", "naf_code": "1071c", "lifecycle_stage": "lead",
         "owner_id": str(p.users["sales"].pk)},
    )  # fmt: skip
    org = Organization.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "contacts:organization_detail", args=[org.pk]
    )
    assert org.siren == "732829320" and org.naf_code == "10.71C"
    detail = sales.get(response["Location"]).content.decode()
    assert "732 829 320" in detail and "732 829 320 00074" in detail


def test_organization_edit_form(sales: Client, data: dict) -> None:
    url = reverse("contacts:organization_edit", args=[data["lefevre"].pk])
    page = sales.get(url)
    assert page.context["form"].initial["legal_name"] == "Boulangerie Lefèvre"
    response = sales.post(url, {"legal_name": "Boulangerie Lefèvre", "siret": "84215763800011", "siren": "732829320",
                                "lifecycle_stage": "lead"})  # fmt: skip
    assert "siret" in response.context["form"].errors
    me = str(data["lefevre"].owner_id)
    response = sales.post(
        url, {"legal_name": "Lefèvre & fils", "siren": "732829320", "lifecycle_stage": "customer", "owner_id": me}
    )
    assert response.status_code == 302
    data["lefevre"].refresh_from_db()
    assert data["lefevre"].legal_name == "Lefèvre & fils" and data["lefevre"].lifecycle_stage == "customer"


def test_person_forms_and_detail_actions(sales: Client, data: dict) -> None:
    url = reverse("contacts:person_create")
    response = sales.post(url, {"last_name": "", "email": "x", "lifecycle_stage": "prospect"})
    assert {"last_name", "email"} <= set(response.context["form"].errors)
    me = str(data["person"].owner_id)
    response = sales.post(
        url, {"first_name": "Zoé", "last_name": "Martin", "lifecycle_stage": "prospect", "phone": "0478000001",
              "organization_id": str(data["ecole"].pk), "role": "Directrice", "owner_id": me},
    )  # fmt: skip
    person = Person.objects.get(last_name="Martin")
    assert response.status_code == 302 and Affiliation.objects.get(person=person).role == "Directrice"
    edit = reverse("contacts:person_edit", args=[person.pk])
    # Giving the row away to nobody would hide it from its editor: refused beside the field.
    refused = sales.post(edit, {"last_name": "Martin-Durand", "lifecycle_stage": "lead"})
    assert "owner_id" in refused.context["form"].errors
    assert (
        sales.post(
            edit, {"last_name": "Martin-Durand", "lifecycle_stage": "lead", "owner_id": me, "phone": "0478000001"}
        ).status_code
        == 302
    )
    consent = reverse("contacts:consent_record", args=[person.pk])
    assert sales.post(consent, {"channel": "email", "granted": "1", "source": "Salon"}).status_code == 302
    assert sales.post(consent, {"channel": "email", "granted": "0", "source": "Lien"}).status_code == 302
    assert sales.post(consent, {"channel": "fax", "granted": "1", "source": ""}).status_code == 422
    assert Consent.objects.filter(person=person).count() == 2
    detail = sales.get(reverse("contacts:person_detail", args=[person.pk])).content.decode()
    for text in ("Withdrawn", "Salon", "04 78 00 00 01", "École Martin"):
        assert text in detail, text
    link = reverse("contacts:affiliation_set", args=[person.pk])
    assert sales.post(link, {"organization_id": str(data["lefevre"].pk), "role": "x"}).status_code == 302
    assert Affiliation.objects.filter(person=person).count() == 2
    unlink = reverse("contacts:affiliation_remove", args=[person.pk, data["lefevre"].pk])
    assert sales.post(unlink).status_code == 302
    assert sales.post(reverse("contacts:person_archive", args=[person.pk])).status_code == 302
    person.refresh_from_db()
    assert person.is_archived


def test_addresses_on_organization_page(sales: Client, data: dict) -> None:
    org = data["lefevre"]
    url = reverse("contacts:address_add", args=[org.pk])
    bad = sales.post(url, {"kind": "billing", "line1": "", "city": "", "country": "FRA"})
    assert bad.status_code == 422 and {"line1", "city", "country"} <= set(bad.context["form"].errors)
    ok = sales.post(url, {"kind": "billing", "line1": "1 rue A", "city": "Lyon", "country": "fr", "siret": ""})
    assert ok.status_code == 302
    address = Address.objects.get()
    assert address.country == "FR"
    assert "1 rue A" in sales.get(reverse("contacts:organization_detail", args=[org.pk])).content.decode()
    assert sales.post(reverse("contacts:address_remove", args=[address.pk])).status_code == 302
    assert not Address.objects.exists()


def test_invisible_rows_are_404_and_roles_without_permission_403(client: Client, p: Personas, data: dict) -> None:
    stranger = make_user(p.company, "sales", email="stranger@dupont.test")
    login(client, stranger)
    org, person = data["lefevre"], data["person"]
    for name, args in [
        ("contacts:organization_detail", [org.pk]), ("contacts:organization_edit", [org.pk]),
        ("contacts:person_detail", [person.pk]), ("contacts:person_edit", [person.pk]),
    ]:  # fmt: skip
        assert client.get(reverse(name, args=args)).status_code == 404
    assert client.post(reverse("contacts:organization_archive", args=[org.pk])).status_code == 404
    assert ids(client.get(reverse("contacts:organizations"))) == []
    production = Client()
    login(production, p.users["production"])
    assert production.get(reverse("contacts:organizations")).status_code == 403
    operations = Client()
    login(operations, p.users["operations"])
    assert operations.get(reverse("contacts:organization_detail", args=[org.pk])).status_code == 200
    assert operations.get(reverse("contacts:organization_create")).status_code == 403
    assert operations.post(reverse("contacts:organization_archive", args=[org.pk])).status_code == 403


def test_module_off_hides_nav(client: Client, personas: Personas) -> None:
    login(client, personas.users["sales"])
    html = client.get("/").content.decode()
    assert reverse("contacts:organizations") not in html


def test_huge_ids_are_404_not_500(sales: Client, data: dict) -> None:
    huge = 10**30
    for name in ("contacts:organization_detail", "contacts:organization_edit", "contacts:person_detail"):
        assert sales.get(reverse(name, args=[huge])).status_code == 404
    assert sales.post(reverse("contacts:address_remove", args=[huge])).status_code == 404
    assert sales.post(reverse("contacts:saved_view_delete", args=[huge])).status_code == 404
    assert sales.post(reverse("contacts:affiliation_remove", args=[data["person"].pk, huge])).status_code == 404

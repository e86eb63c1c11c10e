"""Duplicate detection: scoring, the as-you-type warning, the background scan and the pairs list/API."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from comptoir.contacts import duplicates
from comptoir.contacts.duplicates import ORG, PERSON, compare, org_profile, person_profile
from comptoir.contacts.models import ContactPoint, DuplicateCandidate, DuplicateScan
from comptoir.contacts.tests.dup_helpers import org, person
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.errors import NotFound, PermissionDenied
from comptoir.kernel.models import AuditEntry
from comptoir.org.models import User
from comptoir.org.testing import Personas, enable_modules

API = "/api/v1"


# --- Scoring (pure) -------------------------------------------------------------------


def _org_score(a: dict, b: dict) -> tuple[int, list[str]]:
    score, reasons = compare(org_profile(a), org_profile(b))
    return score, [r["code"] for r in reasons]


@pytest.mark.parametrize(
    "other",
    ["boulangerie dupont", "BOULANGERIE DUPONT", "Boulangérie Dupont SARL", "Boulangeri Dupont", "Dupont Boulangerie"],
)
def test_accents_case_legal_forms_typos_and_word_order_score_as_the_same_name(other: str) -> None:
    score, codes = _org_score({"legal_name": "Boulangerie Dupont SAS"}, {"legal_name": other})
    assert codes == ["name"]
    assert 80 <= score <= 85  # a name alone is never as strong as an identifier


def test_a_different_name_is_not_a_duplicate() -> None:
    assert _org_score({"legal_name": "Boulangerie Dupont"}, {"legal_name": "Garage Moreau"})[0] < duplicates.THRESHOLD


def test_same_siren_or_siret_scores_95_or_more_whatever_the_names() -> None:
    score, codes = _org_score({"legal_name": "Acme", "siren": "842157638"}, {"legal_name": "Zed"
                                                                              , "siret": "84215763800011"})  # fmt: skip
    assert score >= 95 and codes == ["siren"]
    score, codes = _org_score({"legal_name": "A", "siret": "84215763800011"}, {"legal_name": "B",
                                                                                "siret": "84215763800011"})  # fmt: skip
    assert score >= 98 and codes == ["siret", "siren"]


def test_same_email_scores_95_or_more_and_is_case_insensitive() -> None:
    score, codes = _org_score(
        {"legal_name": "A", "email": "Contact@Acme.fr"}, {"legal_name": "B", "email": "contact@acme.fr"}
    )
    assert score >= 95 and "email" in codes
    assert compare(person_profile({"last_name": "Martin", "email": "JM@x.fr"}),
                   person_profile({"last_name": "Curie", "email": "jm@x.fr"}))[0] >= 95  # fmt: skip


def test_phone_matches_in_any_format_and_free_mail_domains_say_nothing() -> None:
    score, codes = _org_score({"legal_name": "A", "phone": "+33142720000"}, {"legal_name": "B",
                                                                              "phone": "01 42 72 00 00"})  # fmt: skip
    assert codes == ["phone"] and score >= 80
    score, codes = _org_score({"legal_name": "A", "email": "a@gmail.com"}, {"legal_name": "B",
                                                                             "email": "b@gmail.com"})  # fmt: skip
    assert codes == [] and score == 0
    assert _org_score({"legal_name": "A", "email": "a@acme.fr"}, {"legal_name": "B", "website": "https://www.acme.fr"}
                      )[1] == ["domain"]  # fmt: skip


def test_two_different_sirens_cap_the_score_however_alike_the_names() -> None:
    score, codes = _org_score({"legal_name": "Acme", "siren": "842157638"}, {"legal_name": "Acme",
                                                                              "siren": "904128352"})  # fmt: skip
    assert score <= 40 and "different_siren" in codes


def test_people_names_accents_case_and_order() -> None:
    a = person_profile({"first_name": "Hélène", "last_name": "Lefèvre"})
    assert compare(a, person_profile({"first_name": "helene", "last_name": "LEFEVRE"}))[0] >= 80
    assert compare(a, person_profile({"first_name": "Lefevre", "last_name": "Helene"}))[0] >= 80
    assert compare(a, person_profile({"first_name": "Hélène", "last_name": "Lefèbre"}))[0] >= duplicates.THRESHOLD
    jean, marie = (
        person_profile({"first_name": "Jean", "last_name": "Martin"}),
        person_profile({"first_name": "Marie", "last_name": "Martin"}),
    )
    assert compare(jean, marie)[0] < duplicates.THRESHOLD


def _person_score(a: tuple[str, str], b: tuple[str, str]) -> tuple[int, list[str]]:
    score, reasons = compare(
        person_profile({"first_name": a[0], "last_name": a[1]}), person_profile({"first_name": b[0], "last_name": b[1]})
    )
    return score, [r["code"] for r in reasons]


@pytest.mark.parametrize("initials", ["J.", "j", "J.-P.", "J. P."])
def test_a_first_name_given_as_initials_matches_but_weighs_less(initials: str) -> None:
    full = "Jean-Pierre" if "P" in initials.upper() else "Jean"
    score, codes = _person_score((initials, "Martin"), (full, "Martin"))
    assert duplicates.THRESHOLD <= score <= 60 and codes == ["name", "initial"]
    assert _person_score((initials, "Martin"), (full, "Martn"))[0] >= duplicates.THRESHOLD  # and a typo
    # Other initials, or another last name: not the same person.
    assert _person_score((initials, "Martin"), ("Paul", "Martin"))[0] < duplicates.THRESHOLD
    assert _person_score((initials, "Martin"), (full, "Moreau"))[0] < duplicates.THRESHOLD


def test_a_name_with_a_missing_part_weighs_less_than_a_full_name() -> None:
    alone, codes = _person_score(("", "Martin"), ("", "Martin"))
    assert duplicates.THRESHOLD <= alone <= 60 and codes == ["name", "partial_name"]
    assert _person_score(("Jean", ""), ("Jean", ""))[0] <= 60
    assert _person_score(("Jean", "Martin"), ("Jean", "Martin")) == (85, ["name"])
    # A last name alone is not a duplicate of every person with that last name.
    assert _person_score(("", "Martin"), ("Jean", "Martin"))[0] < duplicates.THRESHOLD
    # The cap only shows when it lowered the score.
    assert _person_score(("", "Martin"), ("", "Martinez"))[1] == ["name"]


def test_reasons_explain_an_incomplete_name() -> None:
    from django.utils import translation

    with translation.override("en"):
        assert duplicates.reasons_text([{"code": "initial"}, {"code": "partial_name"}]) == [
            "first name given as an initial",
            "first or last name missing",
        ]


def test_people_extra_emails_and_phones_are_keys() -> None:
    main = person_profile({"last_name": "Curie", "email": "marie@curie.fr"})
    other = person_profile({"last_name": "Sklodowska", "extra_emails": ["MARIE@curie.fr"]})
    assert compare(main, other) == (95, [{"code": "email"}])
    by_phone = person_profile({"last_name": "Sklodowska", "extra_phones": ["+33612345678"]})
    assert compare(person_profile({"last_name": "Curie", "mobile": "06 12 34 56 78"}), by_phone)[0] >= 85


def test_reasons_are_text_in_the_readers_language() -> None:
    from django.utils import translation

    with translation.override("en"):
        assert duplicates.reasons_text([{"code": "siren"}, {"code": "name", "similarity": 92}]) == [
            "same SIREN",
            "name 92% similar",
        ]


# --- As you type ----------------------------------------------------------------------


@pytest.fixture
def contacts_on(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


def test_find_duplicates_uses_the_indexed_keys_and_the_name(contacts_on: Personas) -> None:
    p = contacts_on
    dupont = org(p.company, "Boulangerie Dupont", siren="842157638")
    by_mail = org(p.company, "Something Else", email="hello@moreau.fr")
    org(p.company, "Garage Moreau")
    org(p.other_company, "Boulangerie Dupont", siren="842157638")  # another company: never found
    actor = p.actor("management")

    found = duplicates.find_duplicates(actor, ORG, {"legal_name": "BOULANGERIE DUPOND"})
    assert [f["id"] for f in found] == [dupont.pk]
    found = duplicates.find_duplicates(actor, ORG, {"legal_name": "Nouveau", "siret": "84215763800011"})
    assert found[0]["id"] == dupont.pk and found[0]["score"] >= 95
    found = duplicates.find_duplicates(actor, ORG, {"legal_name": "X", "email": "HELLO@moreau.fr"})
    assert [f["id"] for f in found] == [by_mail.pk]
    assert duplicates.find_duplicates(actor, ORG, {"legal_name": "Boulangerie Dupont"}, exclude_id=dupont.pk) == []
    assert duplicates.find_duplicates(actor, ORG, {}) == []


def test_find_duplicates_of_people_by_phone_in_another_format(contacts_on: Personas) -> None:
    p = contacts_on
    marie = person(p.company, "Marie", "Curie", mobile="+33612345678")
    found = duplicates.find_duplicates(p.actor("management"), PERSON, {"last_name": "Sklodowska",
                                                                       "phone": "06 12 34 56 78"})  # fmt: skip
    assert [f["id"] for f in found] == [marie.pk]


def test_find_duplicates_of_people_by_their_extra_emails_and_phones(
    contacts_on: Personas, django_assert_max_num_queries
) -> None:
    p = contacts_on
    marie = person(p.company, "Marie", "Curie")
    ContactPoint.objects.create(person=marie, kind=ContactPoint.Kind.EMAIL, value="marie@curie.fr")
    ContactPoint.objects.create(person=marie, kind=ContactPoint.Kind.MOBILE, value="+33612345678")
    other = person(p.other_company, "Marie", "Curie")
    ContactPoint.objects.create(person=other, kind=ContactPoint.Kind.EMAIL, value="marie@sorbonne.fr")
    actor = p.actor("management")
    with django_assert_max_num_queries(3):
        found = duplicates.find_duplicates(actor, PERSON, {"last_name": "Sklodowska", "email": "Marie@Curie.fr"})
    assert [(f["id"], f["reason_codes"]) for f in found] == [(marie.pk, [{"code": "email"}])]
    found = duplicates.find_duplicates(actor, PERSON, {"last_name": "Sklodowska", "phone": "06 12 34 56 78"})
    assert [f["id"] for f in found] == [marie.pk]
    # Another company's contact points are never found.
    assert duplicates.find_duplicates(actor, PERSON, {"last_name": "X", "email": "marie@sorbonne.fr"}) == []


def test_find_duplicates_follows_the_record_rules(contacts_on: Personas) -> None:
    p = contacts_on
    org(p.company, "Boulangerie Dupont", owner=p.users["management"])
    assert duplicates.find_duplicates(p.actor("sales"), ORG, {"legal_name": "Boulangerie Dupont"}) == []
    assert len(duplicates.find_duplicates(p.actor("management"), ORG, {"legal_name": "Boulangerie Dupont"})) == 1


def _login(client: Client, user: User) -> Client:
    # Administrators must have a second factor (middleware): give everyone one.
    User.objects.filter(pk=user.pk).update(
        language="en", totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now()
    )
    user.refresh_from_db()
    client.force_login(user)
    return client


def test_warning_endpoint_returns_a_fragment_with_links(client: Client, contacts_on: Personas) -> None:
    p = contacts_on
    dupont = org(p.company, "Boulangerie Dupont", siren="842157638")
    _login(client, p.users["sales"])
    org(p.company, "Boulangerie Dupont bis", owner=p.users["sales"], siren="842157638")
    response = client.get("/contacts/duplicates/check/", {"kind": "organization", "siren": "842 157 638",
                                                           "legal_name": "Boulangerie"})  # fmt: skip
    assert response.status_code == 200
    body = response.content.decode()
    assert "probably exists already" in body
    assert f"/contacts/organizations/{dupont.pk}/" not in body  # not the sales user's row: invisible
    assert "Boulangerie Dupont bis" in body and "same SIREN" in body
    nothing = client.get("/contacts/duplicates/check/", {"kind": "organization", "legal_name": "Zzyzx"})
    assert nothing.status_code == 200 and "probably" not in nothing.content.decode()
    # Bad input is an empty answer, never an error.
    odd = client.get("/contacts/duplicates/check/", {"kind": "nope", "exclude": "x" * 50, "siren": "\x00" * 500})
    assert odd.status_code == 200


def test_warning_endpoint_needs_login_and_the_module(client: Client, contacts_on: Personas) -> None:
    p = contacts_on
    assert client.get("/contacts/duplicates/check/").status_code == 302
    _login(client, p.outsider)  # the module is off in the outsider's company
    assert client.get("/contacts/duplicates/check/", {"legal_name": "Dupont"}).status_code == 404


# --- Background scan ------------------------------------------------------------------


def _seed(p: Personas) -> dict[str, int]:
    a = org(p.company, "Boulangerie Dupont", siren="842157638")
    b = org(p.company, "BOULANGERIE DUPOND SARL")
    c = org(p.company, "Dupont et Fils", siren="842157638")
    org(p.company, "Garage Moreau")
    d = person(p.company, "Hélène", "Lefèvre", email="h.lefevre@acme.fr")
    e = person(p.company, "Helene", "Lefevre")
    f = person(p.company, "Jean", "Autre", email="H.Lefevre@acme.fr")
    org(p.other_company, "Boulangerie Dupont", siren="842157638")
    return {"a": a.pk, "b": b.pk, "c": c.pk, "d": d.pk, "e": e.pk, "f": f.pk}


def _pairs(company_id: int) -> dict[tuple[str, int, int], DuplicateCandidate]:
    return {(c.kind, c.left_id, c.right_id): c for c in DuplicateCandidate.objects.filter(company_id=company_id)}


def test_scan_finds_pairs_and_is_idempotent(contacts_on: Personas) -> None:
    p = contacts_on
    ids = _seed(p)
    for _ in range(2):
        scan = duplicates.duplicate_scan_request(actor=p.actor("management"), enqueue=False)
        scan = duplicates.duplicate_scan_run(scan_id=scan.pk)
        assert scan.status == DuplicateScan.Status.DONE
    pairs = _pairs(p.company.pk)
    assert set(pairs) == {
        (ORG, ids["a"], ids["b"]),
        (ORG, ids["a"], ids["c"]),
        (PERSON, ids["d"], ids["e"]),
        (PERSON, ids["d"], ids["f"]),
    }
    assert pairs[(ORG, ids["a"], ids["c"])].score >= 95
    assert {r["code"] for r in pairs[(ORG, ids["a"], ids["c"])].reasons} == {"siren"}
    assert scan.organizations_checked == 4 and scan.people_checked == 3 and scan.pairs_found == 4
    assert not DuplicateCandidate.objects.filter(company=p.other_company).exists()
    assert AuditEntry.objects.filter(action="contacts.duplicate_scan_done").count() == 2


def test_scan_blocks_people_by_name_words_and_weighs_incomplete_names(contacts_on: Personas) -> None:
    p = contacts_on
    hugo, typo = person(p.company, "Hugo", "Petit"), person(p.company, "Hugo", "Patit")
    jp, initials = person(p.company, "Jean-Pierre", "Rousseau"), person(p.company, "J.-P.", "Rousseau")
    person(p.company, "Paul", "Rousseau")
    # "hugopetit" and "hugopatit" differ within their first and last six characters: only
    # the word block ("hugo" + initial "p") brings them together.
    assert not any({hugo.pk, typo.pk} <= set(ids) for ids in duplicates._name_blocks(
        {hugo.pk: ("hugo petit",), typo.pk: ("hugo patit",)}))  # fmt: skip
    found = duplicates.scan(p.company.pk, PERSON).pairs
    assert set(found) == {(hugo.pk, typo.pk), (jp.pk, initials.pk)}
    assert found[(hugo.pk, typo.pk)] == (54, [{"code": "name", "similarity": 90}])
    assert found[(jp.pk, initials.pk)] == (60, [{"code": "name", "similarity": 100}, {"code": "initial"}])


def test_scan_finds_people_sharing_an_extra_email_or_phone(contacts_on: Personas) -> None:
    p = contacts_on
    curie = person(p.company, "Marie", "Curie", email="marie@curie.fr")
    sklodowska = person(p.company, "Maria", "Sklodowska")
    ContactPoint.objects.create(person=sklodowska, kind=ContactPoint.Kind.EMAIL, value="marie@curie.fr")
    one, two = person(p.company, "Pierre", "Dupont"), person(p.company, "Paul", "Durand", phone="+33142720000")
    ContactPoint.objects.create(person=one, kind=ContactPoint.Kind.PHONE, value="+33142720000")
    three = person(p.company, "Louise", "Bernard")
    ContactPoint.objects.create(person=three, kind=ContactPoint.Kind.MOBILE, value="+33612345678")
    four = person(p.company, "Anne", "Girard")
    ContactPoint.objects.create(person=four, kind=ContactPoint.Kind.PHONE, value="+33612345678")
    # A merged person's points are no longer theirs to match.
    merged = person(p.company, "Jeanne", "Moreau", merged_into=curie)
    ContactPoint.objects.create(person=merged, kind=ContactPoint.Kind.EMAIL, value="marie@curie.fr")
    found = duplicates.scan(p.company.pk, PERSON).pairs
    assert found == {
        (curie.pk, sklodowska.pk): (95, [{"code": "email"}]),
        (one.pk, two.pk): (85, [{"code": "phone"}]),
        (three.pk, four.pk): (85, [{"code": "phone"}]),
    }


def test_dismissed_pairs_stay_dismissed_and_fixed_pairs_go(contacts_on: Personas) -> None:
    p = contacts_on
    ids = _seed(p)
    actor = p.actor("management")
    duplicates.duplicate_scan_run(scan_id=duplicates.duplicate_scan_request(actor=actor, enqueue=False).pk)
    pair = DuplicateCandidate.objects.get(kind=ORG, left_id=ids["a"], right_id=ids["b"])
    duplicates.duplicate_dismiss(actor=actor, candidate_id=pair.pk)
    # The data is fixed: the other person's email changes, the pair is no longer found.
    from comptoir.contacts.models import Person

    Person.objects.filter(pk=ids["f"]).update(email="jean@autre.fr")
    duplicates.duplicate_scan_run(scan_id=duplicates.duplicate_scan_request(actor=actor, enqueue=False).pk)
    pairs = _pairs(p.company.pk)
    assert pairs[(ORG, ids["a"], ids["b"])].status == DuplicateCandidate.Status.DISMISSED
    assert pairs[(ORG, ids["a"], ids["b"])].pk == pair.pk
    assert (PERSON, ids["d"], ids["f"]) not in pairs
    with pytest.raises(Exception) as excinfo:
        duplicates.duplicate_dismiss(actor=actor, candidate_id=pair.pk)
    assert getattr(excinfo.value, "status", None) == 409


def test_scan_button_enqueues_the_task_and_shows_the_last_scan(
    client: Client, contacts_on: Personas, django_capture_on_commit_callbacks
) -> None:
    p = contacts_on
    _seed(p)
    _login(client, p.users["management"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/contacts/duplicates/scan/")
    assert response.status_code == 302
    scan = DuplicateScan.objects.get(company=p.company)
    assert scan.status == DuplicateScan.Status.DONE and scan.pairs_found == 4  # the immediate backend ran it
    page = client.get("/contacts/duplicates/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "4 probable pairs" in body and body.count("data-pair=") == 4
    assert "same SIREN" in body


def test_scan_permission_and_pending_scan(contacts_on: Personas) -> None:
    p = contacts_on
    with pytest.raises(PermissionDenied):
        duplicates.duplicate_scan_request(actor=p.actor("sales"))
    duplicates.duplicate_scan_request(actor=p.actor("management"), enqueue=False)
    with pytest.raises(Exception) as excinfo:
        duplicates.duplicate_scan_request(actor=p.actor("management"), enqueue=False)
    assert getattr(excinfo.value, "code", None) == "scan_pending"


def test_management_command_scans_every_company_with_contacts(contacts_on: Personas, capsys) -> None:
    p = contacts_on
    _seed(p)
    call_command("scan_duplicates")
    assert "4 probable duplicate pairs" in capsys.readouterr().out
    assert DuplicateCandidate.objects.filter(company=p.company).count() == 4
    call_command("scan_duplicates", company=p.company.pk)
    assert DuplicateCandidate.objects.filter(company=p.company).count() == 4


def test_pairs_list_needs_the_permission_and_hides_other_companies(contacts_on: Personas) -> None:
    p = contacts_on
    _seed(p)
    duplicates.duplicate_scan_run(scan_id=duplicates.duplicate_scan_request(actor=p.actor("management"),
                                                                            enqueue=False).pk)  # fmt: skip
    with pytest.raises(PermissionDenied):
        duplicates.duplicate_list(p.actor("sales"))
    assert duplicates.duplicate_list(p.actor("management")).count() == 4
    pair = DuplicateCandidate.objects.filter(company=p.company).first()
    assert pair is not None
    outsider = Actor.system(p.other_company.pk, Channel.UI)
    with pytest.raises(NotFound):
        duplicates.duplicate_dismiss(actor=outsider, candidate_id=pair.pk)


# --- API ------------------------------------------------------------------------------


def test_api_list_and_dismiss(client: Client, contacts_on: Personas) -> None:
    p = contacts_on
    ids = _seed(p)
    duplicates.duplicate_scan_run(scan_id=duplicates.duplicate_scan_request(actor=p.actor("management"),
                                                                            enqueue=False).pk)  # fmt: skip
    _login(client, p.users["management"])
    data = client.get(f"{API}/duplicates", {"kind": "organization"}).json()
    assert data["count"] == 2
    top = data["items"][0]
    assert top["score"] >= 95 and top["left"]["id"] == ids["a"] and "same SIREN" in top["reasons"]
    response = client.post(f"{API}/duplicates/{top['id']}/dismiss", content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    assert client.post(f"{API}/duplicates/{top['id']}/dismiss").status_code == 409
    assert client.get(f"{API}/duplicates", {"status": "dismissed"}).json()["count"] == 1
    assert client.get(f"{API}/duplicates", {"status": "nope"}).status_code == 422
    assert client.post(f"{API}/duplicates/999999/dismiss").status_code == 404
    assert client.post(f"{API}/duplicates/0/dismiss").status_code == 422


def test_api_needs_the_permission(client: Client, contacts_on: Personas) -> None:
    _login(client, contacts_on.users["sales"])
    response = client.get(f"{API}/duplicates")
    assert response.status_code == 403
    assert json.loads(response.content)["code"] == "permission_denied"

"""Contacts import: file reading, mapping, dry run, all-or-nothing commit, re-import, UI, API."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from comptoir.contacts import imports, validators
from comptoir.contacts.imports import ORGANIZATION, PERSON
from comptoir.contacts.models import Address, Affiliation, Organization, Person
from comptoir.contacts.services import organization_search_text, person_search_text
from comptoir.kernel.errors import Conflict, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, ImportJob, ImportPreset, OutboxEvent
from comptoir.org.testing import PASSWORD, Personas, enable_modules

PEOPLE_HEADER = ["Identifiant", "Prénom", "Nom", "E-mail", "Téléphone", "Société", "Fonction"]
ORG_HEADER = ["Id externe", "Raison sociale", "SIRET", "E-mail", "Téléphone", "Adresse", "Code postal", "Ville", "Pays"]


@pytest.fixture
def p(personas: Personas) -> Personas:
    enable_modules(personas, "contacts")
    return personas


def csv_bytes(rows: list[list[str]], delimiter: str = ";", encoding: str = "utf-8") -> bytes:
    return imports.rows_as_csv(rows, delimiter).decode().encode(encoding)


def upload(p: Personas, kind: str, rows: list[list[str]], role: str = "management", **kw: object) -> ImportJob:
    return imports.import_job_create(
        actor=p.actor(role),
        kind=kind,
        filename="file.csv",
        content=csv_bytes(rows),
        **kw,  # type: ignore[arg-type]
    )


def validate(p: Personas, job: ImportJob) -> ImportJob:
    return imports.import_job_validate(actor=p.actor("management"), job_id=job.pk)


def commit(p: Personas, job: ImportJob) -> ImportJob:
    return imports.import_job_commit(actor=p.actor("management"), job_id=job.pk)


def org_rows() -> list[list[str]]:
    return [
        ORG_HEADER,
        ["O1", "Boulangerie Martin", "73282932000074", "contact@martin.fr", "01 42 72 00 00", "3 rue Haute", "69001",
         "Lyon", "FR"],
        ["O2", "Garage Lefèvre", "", "", "", "", "", "", ""],
    ]  # fmt: skip


def people_rows(n: int = 3) -> list[list[str]]:
    rows = [PEOPLE_HEADER]
    for i in range(n):
        rows.append([f"P{i}", f"Jean{i}", f"Dupont{i}", f"Jean{i}@Example.FR", f"06 12 34 56 {i:02d}", "", "Gérant"])
    return rows


# --- Reading and mapping --------------------------------------------------------------


def test_guess_mapping_french_and_english_headers() -> None:
    assert imports.guess_mapping(ORGANIZATION, ORG_HEADER) == {
        "Id externe": "external_id", "Raison sociale": "legal_name", "SIRET": "siret", "E-mail": "email",
        "Téléphone": "phone", "Adresse": "address_line1", "Code postal": "postal_code", "Ville": "city",
        "Pays": "country",
    }  # fmt: skip
    guessed = imports.guess_mapping(PERSON, ["First name", "Last Name", "Email", "Mobile", "Company", "Whatever"])
    assert guessed == {"First name": "first_name", "Last Name": "last_name", "Email": "email",
                       "Mobile": "mobile", "Company": "organization"}  # fmt: skip


@pytest.mark.parametrize(
    ("delimiter", "encoding"),
    [(";", "utf-8"), (",", "utf-8"), (";", "utf-8-sig"), (",", "cp1252"), ("\t", "utf-8")],
)
def test_csv_delimiters_and_encodings(p: Personas, delimiter: str, encoding: str) -> None:
    rows = [["Nom", "Prénom", "E-mail"], ["Lefèvre", "Zoé", "zoe@example.fr"]]
    job = imports.import_job_create(
        actor=p.actor("management"), kind=PERSON, filename="people.csv", content=csv_bytes(rows, delimiter, encoding)
    )
    assert job.mapping == {"Nom": "last_name", "Prénom": "first_name", "E-mail": "email"}
    assert imports.preview(job)["mapped"] == [{"last_name": "Lefèvre", "first_name": "Zoé", "email": "zoe@example.fr"}]
    commit(p, validate(p, job))
    person = Person.objects.get(company=p.company)
    assert (person.first_name, person.last_name, person.email) == ("Zoé", "Lefèvre", "zoe@example.fr")
    assert person.search_text == person_search_text(person) == "zoe lefevre zoe@example.fr"


def test_xlsx_import(p: Personas) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Raison sociale", "SIREN", "Pays", "Ville", "Adresse"])
    sheet.append(["Acme", 732829320, "fr", "Paris", "1 rue de Rivoli"])  # SIREN typed as a number
    buffer = io.BytesIO()
    book.save(buffer)
    job = imports.import_job_create(
        actor=p.actor("management"), kind=ORGANIZATION, filename="orgs.xlsx", content=buffer.getvalue()
    )
    job = commit(p, validate(p, job))
    assert job.status == ImportJob.Status.DONE, job.errors
    org = Organization.objects.get(company=p.company)
    assert (org.legal_name, org.siren) == ("Acme", "732829320")
    assert Address.objects.get(organization=org).country == "FR"


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("a.pdf", b"%PDF-1.4", "Only CSV and XLSX"),
        ("a.csv", b"", "empty"),
        ("a.csv", b"Nom;Email\n", "no data rows"),
        ("a.xlsx", b"Nom;Email\nx;y\n", "could not be read"),
        ("a.xlsx", b"PK\x03\x04garbage", "could not be read"),
        ("a.csv", b"PK\x03\x04" + b"\x00" * 20, "not a text file"),
        ("a.csv", b"Nom\x00;Email\nx;y\n", "not a text file"),
        ("a.csv", "Nom;Email\nx;y\n".encode("utf-16"), "encoding"),
        ("a.csv", b"Nom;Nom\nx;y\n", "appears twice"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_kept(p: Personas, filename: str, content: bytes, message: str) -> None:
    p.users["management"].language = "en"
    with pytest.raises(ValidationFailed) as caught:
        imports.import_job_create(actor=p.actor("management"), kind=PERSON, filename=filename, content=content)
    assert message in caught.value.fields["file"][0]
    assert not ImportJob.objects.exists()


def test_too_large_file(p: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "MAX_BYTES", 100)
    with pytest.raises(ValidationFailed) as caught:
        upload(p, PERSON, people_rows(10))
    assert "file" in caught.value.fields


def test_mapping_errors(p: Personas) -> None:
    job = upload(p, PERSON, people_rows(1))
    with pytest.raises(ValidationFailed) as caught:
        imports.import_job_set_mapping(
            actor=p.actor("management"), job_id=job.pk,
            mapping={"Nom": "first_name", "Prénom": "first_name", "Nope": "email", "E-mail": "password"},
        )  # fmt: skip
    problems = " ".join(caught.value.fields["mapping"])
    assert "two columns" in problems or "deux colonnes" in problems
    assert len(caught.value.fields["mapping"]) == 4  # twice, unknown column, unknown field, last name missing


# --- Dry run --------------------------------------------------------------------------


def test_dry_run_reports_each_kind_of_error_per_row_and_writes_nothing(p: Personas) -> None:
    p.users["management"].language = "en"
    p.users["management"].save()
    rows = [
        ORG_HEADER,
        ["A", "Bonne SARL", "73282932000074", "ok@bonne.fr", "0142720000", "1 rue", "75001", "Paris", "FR"],
        ["B", "Mauvais SIRET", "73282932000075", "", "", "", "", "", ""],
        ["C", "Mauvais email", "", "pas-un-email", "", "", "", "", ""],
        ["D", "Pays inconnu", "", "", "", "1 rue", "1000", "Bxl", "ZZ"],
        ["E", "", "", "", "", "", "", "", ""],
        ["F", '=HYPERLINK("http://evil")', "", "", "", "", "", "", ""],
        ["G", "Tel faux", "", "", "12", "", "", "", ""],
        ["H", "Sans ville", "", "", "", "1 rue", "", "", ""],
    ]
    job = validate(p, upload(p, ORGANIZATION, rows))
    assert job.status == ImportJob.Status.VALIDATED
    errors = {(e["row"], e["field"]): e["message"] for e in job.errors}
    assert "Invalid SIRET" in errors[(3, "siret")]
    assert "email" in errors[(4, "email")]
    assert "Unknown country" in errors[(5, "country")]
    assert "required" in errors[(6, "legal_name")]
    assert "formula" in errors[(7, "legal_name")]
    assert "phone" in errors[(8, "phone")]
    assert (9, "city") in errors
    assert not [e for e in job.errors if e["row"] == 2]
    assert (job.total_rows, job.processed_rows, job.created_count) == (8, 8, 1)
    assert not Organization.objects.exists()
    with pytest.raises(Conflict):
        commit(p, job)


def test_duplicates_flagged_in_file_and_against_the_database(p: Personas) -> None:
    Person.objects.create(company=p.company, last_name="Ancien", email="jean0@example.fr", phone="+33612345699")
    rows = [*people_rows(2), ["P9", "Autre", "Dupont", "jean1@example.fr", "0612345699", "", ""]]
    job = validate(p, upload(p, PERSON, rows))
    assert job.errors == []
    flagged = {(w["row"], w["field"]) for w in job.warnings}
    assert flagged == {(2, "email"), (4, "email"), (4, "phone")}


def test_people_reference_their_organization(p: Personas) -> None:
    org = Organization.objects.create(company=p.company, legal_name="Boulangerie Martin", external_id="O1",
                                      siren="732829320", siret="73282932000074")  # fmt: skip
    rows = [PEOPLE_HEADER]
    for i, ref in enumerate(["O1", "73282932000074", "732829320", "boulangerie MARTIN", "Inconnue SA"]):
        rows.append([f"P{i}", "A", f"B{i}", "", "", ref, "Chef"])
    job = validate(p, upload(p, PERSON, rows))
    assert [(e["row"], e["field"]) for e in job.errors] == [(6, "organization")]
    del rows[-1]
    job = commit(p, validate(p, upload(p, PERSON, rows)))
    assert job.status == ImportJob.Status.DONE
    assert Affiliation.objects.filter(organization=org, is_primary=True).count() == 4
    assert Person.objects.filter(job_title="Chef").count() == 4


# --- Commit ---------------------------------------------------------------------------


def test_commit_is_all_or_nothing(p: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    rows = people_rows(5)
    job = validate(p, upload(p, PERSON, rows))
    assert job.errors == []
    # The file changes between the dry run and the commit: row 6 is now bad, after batches were written.
    rows[5][3] = "broken@"
    Path(job.file_path).write_bytes(csv_bytes(rows))
    job = commit(p, job)
    assert job.status == ImportJob.Status.FAILED
    assert [(e["row"], e["field"]) for e in job.errors] == [(6, "email")]
    assert (job.created_count, Person.objects.count()) == (0, 0)
    assert not AuditEntry.objects.filter(action="contacts.import").exists()


def test_commit_writes_audit_event_and_idempotent_reimport(p: Personas, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        job = commit(p, validate(p, upload(p, ORGANIZATION, org_rows())))
    assert (job.status, job.created_count, job.updated_count) == (ImportJob.Status.DONE, 2, 0)
    org = Organization.objects.get(external_id="O1")
    assert (org.siren, org.siret, org.phone, org.email) == ("732829320", "73282932000074", "+33142720000",
                                                            "contact@martin.fr")  # fmt: skip
    assert org.web_domain == "martin.fr" and "boulangerie martin" in org.search_text
    assert org.search_text == organization_search_text(org)
    assert org.owner_id == p.users["management"].pk
    entry = AuditEntry.objects.get(action="contacts.import")
    assert entry.changes["created"] == 2 and entry.channel == "import"
    assert OutboxEvent.objects.get(name="contacts.imported").payload["created"] == 2
    assert not Path(job.file_path).exists()

    rows = org_rows()
    rows[1][1] = "Boulangerie Martin & Fils"
    rows[1][5] = "5 rue Basse"
    rows.append(["O3", "Nouvelle", "", "", "", "", "", "", ""])
    job = commit(p, validate(p, upload(p, ORGANIZATION, rows)))
    assert (job.created_count, job.updated_count) == (1, 2)
    assert Organization.objects.count() == 3
    org = Organization.objects.get(external_id="O1")
    assert org.legal_name == "Boulangerie Martin & Fils" and "fils" in org.search_text
    assert list(Address.objects.filter(organization=org).values_list("line1", flat=True)) == ["5 rue Basse"]
    assert AuditEntry.objects.filter(action="contacts.import").count() == 2


def test_reimport_people_updates_only_mapped_fields(p: Personas) -> None:
    commit(p, validate(p, upload(p, PERSON, people_rows(3))))
    job = upload(p, PERSON, [["Identifiant", "Nom"], ["P1", "Durand"]])
    job = commit(p, validate(p, job))
    assert (job.created_count, job.updated_count) == (0, 1)
    person = Person.objects.get(external_id="P1")
    assert (person.first_name, person.last_name, person.email) == ("Jean1", "Durand", "jean1@example.fr")
    assert person.search_text == person_search_text(person) and "durand" in person.search_text


def test_same_external_id_twice_in_the_file_is_an_error(p: Personas) -> None:
    rows = [*people_rows(2), ["P1", "X", "Y", "", "", "", ""]]
    job = validate(p, upload(p, PERSON, rows))
    assert [(e["row"], e["field"]) for e in job.errors] == [(4, "external_id")]


def test_task_updates_progress(p: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    from comptoir.contacts import tasks_import

    monkeypatch.setattr(imports, "PROGRESS_EVERY", 2)
    seen: list[int] = []
    original = imports._Importer._progress

    def spy(self: imports._Importer) -> None:
        original(self)
        seen.append(ImportJob.objects.get(pk=self.job.pk).processed_rows)

    monkeypatch.setattr(imports._Importer, "_progress", spy)
    enqueued: list[tuple[int, bool]] = []
    real_task = tasks_import.run_import

    class Spy:
        def enqueue(self, job_id: int, commit_: bool) -> object:
            enqueued.append((job_id, commit_))
            return real_task.enqueue(job_id, commit_)

    monkeypatch.setattr(tasks_import, "run_import", Spy())
    job = validate(p, upload(p, PERSON, people_rows(5)))
    assert enqueued == [(job.pk, False)]
    assert seen == [2, 4] and job.processed_rows == 5
    result = real_task.call(job.pk, True)  # not IMPORTING yet: the task does nothing
    assert result == {"status": "validated"}


def test_permission_and_company_scope(p: Personas) -> None:
    with pytest.raises(PermissionDenied):
        upload(p, PERSON, people_rows(1), role="sales")
    job = upload(p, PERSON, people_rows(1))
    from comptoir.kernel.errors import NotFound

    with pytest.raises(NotFound):
        imports.import_job_get(p.outsider_actor(), job.pk)


def test_presets(p: Personas) -> None:
    preset = imports.import_preset_save(
        actor=p.actor("marketing"), kind=PERSON, name="Notre CRM", mapping={"Nom": "last_name", "Mail": "email"}
    )
    assert ImportPreset.objects.get(pk=preset.pk).mapping == {"Nom": "last_name", "Mail": "email"}
    with pytest.raises(ValidationFailed):
        imports.import_preset_save(actor=p.actor("marketing"), kind=PERSON, name="x", mapping={"Mail": "email"})


# --- UI and API -----------------------------------------------------------------------


def login(client: object, user: object) -> None:
    user.language = "en"  # type: ignore[attr-defined]
    user.save()  # type: ignore[attr-defined]
    assert client.login(email=user.email, password=PASSWORD)  # type: ignore[attr-defined]


def test_ui_flow(client: object, p: Personas) -> None:
    login(client, p.users["management"])
    response = client.get(reverse("contacts:import_start"))  # type: ignore[attr-defined]
    assert response.status_code == 200
    upload_file = SimpleUploadedFile("people.csv", csv_bytes(people_rows(2)), content_type="text/csv")
    response = client.post(reverse("contacts:import_start"), {"kind": PERSON, "file": upload_file})  # type: ignore[attr-defined]
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("contacts:import_mapping", args=[job.pk])
    response = client.get(reverse("contacts:import_mapping", args=[job.pk]))  # type: ignore[attr-defined]
    assert response.status_code == 200 and b"Jean0" in response.content
    data = {f"col_{i}": name for i, name in enumerate(["external_id", "first_name", "last_name", "email", "", "", ""])}
    response = client.post(reverse("contacts:import_mapping", args=[job.pk]), {**data, "action": "check"})  # type: ignore[attr-defined]
    assert response.status_code == 302
    response = client.get(reverse("contacts:import_detail", args=[job.pk]))  # type: ignore[attr-defined]
    assert response.status_code == 200 and b"import-commit" in response.content
    response = client.post(reverse("contacts:import_commit", args=[job.pk]))  # type: ignore[attr-defined]
    assert response.status_code == 302
    assert Person.objects.filter(company=p.company).count() == 2
    assert Person.objects.get(external_id="P0").phone == ""  # the phone column was not mapped
    response = client.get(reverse("contacts:import_progress", args=[job.pk]))  # type: ignore[attr-defined]
    assert response.status_code == 200 and b"2" in response.content


def test_ui_bad_file_and_permission(client: object, p: Personas) -> None:
    login(client, p.users["management"])
    bad = SimpleUploadedFile("x.exe", b"MZ", content_type="application/octet-stream")
    response = client.post(reverse("contacts:import_start"), {"kind": PERSON, "file": bad})  # type: ignore[attr-defined]
    assert response.status_code == 200 and b"Only CSV and XLSX" in response.content
    assert not ImportJob.objects.exists()
    login(client, p.users["sales"])
    assert client.get(reverse("contacts:import_start")).status_code == 403  # type: ignore[attr-defined]


def test_api_flow(client: object, p: Personas) -> None:
    login(client, p.users["management"])
    upload_file = SimpleUploadedFile("orgs.csv", csv_bytes(org_rows()), content_type="text/csv")
    response = client.post(  # type: ignore[attr-defined]
        "/api/v1/imports",
        {
            "kind": ORGANIZATION,
            "file": upload_file,
            "mapping": json.dumps({"Raison sociale": "legal_name", "Id externe": "external_id"}),
        },
    )
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    assert response.json()["mapping"] == {"Raison sociale": "legal_name", "Id externe": "external_id"}
    response = client.post(f"/api/v1/imports/{job_id}/validate")  # type: ignore[attr-defined]
    assert response.status_code == 200 and response.json()["status"] == "validated"
    response = client.post(f"/api/v1/imports/{job_id}/commit")  # type: ignore[attr-defined]
    assert response.json()["status"] == "done" and response.json()["created_count"] == 2
    body = client.get(f"/api/v1/imports/{job_id}").json()  # type: ignore[attr-defined]
    assert body["errors"] == [] and body["processed_rows"] == 2
    assert client.post(f"/api/v1/imports/{job_id}/commit").status_code == 409  # type: ignore[attr-defined]


def test_api_errors(client: object, p: Personas) -> None:
    login(client, p.users["management"])
    response = client.post("/api/v1/imports", {"kind": "nope"})  # type: ignore[attr-defined]
    assert response.status_code == 422
    upload_file = SimpleUploadedFile("orgs.csv", csv_bytes(org_rows()), content_type="text/csv")
    response = client.post("/api/v1/imports", {"kind": ORGANIZATION, "file": upload_file, "mapping": "{not json"})  # type: ignore[attr-defined]
    assert response.status_code == 422 and "mapping" in response.json()["fields"]
    assert client.get("/api/v1/imports/999999").status_code == 404  # type: ignore[attr-defined]
    login(client, p.users["sales"])
    upload_file = SimpleUploadedFile("orgs.csv", csv_bytes(org_rows()), content_type="text/csv")
    response = client.post("/api/v1/imports", {"kind": ORGANIZATION, "file": upload_file})  # type: ignore[attr-defined]
    assert response.status_code == 403


@pytest.mark.parametrize(
    "value",
    ["01 42 72 00 00", "0142720000", "06.12.34.56.78", "+33 6 12 34 56 78", "0033612345678", "06 39 00 00 29",
     "07 00 00 00 00", "09 12 34 56 78", "08 00 00 00 00", "+32 2 555 12 12", "12", "0612", "+33 1 42 72 00 00 0"],
)  # fmt: skip
def test_fast_phone_path_agrees_with_the_validators(value: str) -> None:
    try:
        expected = validators.clean_phone(value)
    except ValueError:
        with pytest.raises(ValueError):
            imports._phone(value)
    else:
        assert imports._phone(value) == expected
        assert imports._national_digits(expected) == validators.phone_national_digits(expected)

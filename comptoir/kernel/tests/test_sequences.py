"""Document sequences: formats, per company, per year, and numbers only inside a transaction."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import translation

from comptoir.kernel import sequences
from comptoir.kernel.errors import ValidationFailed
from comptoir.kernel.integrity import Report, check_sequences
from comptoir.kernel.models import DocumentSequence, IssuedNumber

pytestmark = pytest.mark.django_db

JAN = dt.date(2026, 1, 5)


@pytest.fixture(autouse=True)
def english():
    # Messages are asserted in the source language; the default language is French.
    with translation.override("en"):
        yield


@pytest.fixture
def kinds():
    saved = dict(sequences.DEFAULT_FORMATS)
    sequences.register_kind("invoice_t", "FA")
    sequences.register_kind("customer_t", "CL", "{prefix}{n:06}", yearly=False)
    sequences.register_kind("short_t", "Q", "{prefix}{yy}-{n}")
    yield
    sequences.DEFAULT_FORMATS.clear()
    sequences.DEFAULT_FORMATS.update(saved)


def issue(company_id, kind, on_date=JAN, **kwargs):
    with transaction.atomic():
        return sequences.next_number(company_id=company_id, kind=kind, on_date=on_date, **kwargs)


def test_default_format_and_consecutive_numbers(kinds):
    first = issue(1, "invoice_t", object_type="accounting.invoice", object_id=42)
    second = issue(1, "invoice_t")
    assert (first.value, first.number) == (1, "FA-2026-00001")
    assert (second.value, second.number) == (2, "FA-2026-00002")
    issued = IssuedNumber.objects.get(number="FA-2026-00001")
    assert (issued.object_type, issued.object_id, issued.value) == ("accounting.invoice", "42", 1)


def test_other_formats(kinds):
    assert issue(1, "customer_t").number == "CL000001"
    assert issue(1, "short_t").number == "Q26-1"
    # A kind nobody registered still gets a sane default.
    assert issue(1, "delivery").number == "DEL-2026-00001"


def test_numbers_are_per_company(kinds):
    assert issue(1, "invoice_t").number == "FA-2026-00001"
    assert issue(2, "invoice_t").number == "FA-2026-00001"
    assert issue(1, "invoice_t").number == "FA-2026-00002"
    assert issue(2, "invoice_t").number == "FA-2026-00002"
    assert DocumentSequence.objects.filter(kind="invoice_t").count() == 2


def test_yearly_sequences_restart_each_year(kinds):
    assert issue(1, "invoice_t", dt.date(2025, 12, 31)).number == "FA-2025-00001"
    assert issue(1, "invoice_t", dt.date(2025, 12, 31)).number == "FA-2025-00002"
    assert issue(1, "invoice_t", dt.date(2026, 1, 1)).number == "FA-2026-00001"
    # Late posting into the previous year continues that year's counter.
    assert issue(1, "invoice_t", dt.date(2025, 6, 1)).number == "FA-2025-00003"
    years = set(DocumentSequence.objects.filter(kind="invoice_t").values_list("year", flat=True))
    assert years == {2025, 2026}


def test_non_yearly_sequences_continue_across_years(kinds):
    assert issue(1, "customer_t", dt.date(2025, 12, 31)).number == "CL000001"
    assert issue(1, "customer_t", dt.date(2026, 1, 1)).number == "CL000002"
    assert DocumentSequence.objects.get(kind="customer_t").year == 0


def test_a_company_format_carries_over_to_the_next_year(kinds):
    issue(1, "invoice_t", dt.date(2025, 3, 1))
    DocumentSequence.objects.filter(company_id=1, kind="invoice_t").update(prefix="FAC", format="{prefix}/{yy}/{n:04}")
    assert issue(1, "invoice_t", dt.date(2025, 3, 2)).number == "FAC/25/0002"
    assert issue(1, "invoice_t", dt.date(2026, 1, 2)).number == "FAC/26/0001"
    # Another company keeps the default.
    assert issue(2, "invoice_t", dt.date(2026, 1, 2)).number == "FA-2026-00001"


def test_rollback_returns_the_number(kinds):
    with pytest.raises(RuntimeError, match="boom"), transaction.atomic():
        sequences.next_number(company_id=1, kind="invoice_t", on_date=JAN)
        raise RuntimeError("boom")
    assert issue(1, "invoice_t").number == "FA-2026-00001"
    assert IssuedNumber.objects.count() == 1
    report = Report()
    check_sequences(report)
    assert report.ok, report.problems


def test_a_number_taken_before_its_document_is_recorded_with_the_documents_id(kinds):
    with transaction.atomic():
        taken = sequences.take_number(company_id=1, kind="invoice_t", on_date=JAN)
        assert (taken.value, taken.number) == (1, "FA-2026-00001")
        assert not IssuedNumber.objects.exists()  # the document's INSERT comes between
        issued = sequences.record_number(taken, object_type="accounting.invoice", object_id=7)
    assert (issued.value, issued.number) == (1, "FA-2026-00001")
    row = IssuedNumber.objects.get()
    assert (row.number, row.object_type, row.object_id) == ("FA-2026-00001", "accounting.invoice", "7")
    assert issue(1, "invoice_t").number == "FA-2026-00002"
    with pytest.raises(RuntimeError, match="boom"), transaction.atomic():
        sequences.take_number(company_id=1, kind="invoice_t", on_date=JAN)
        raise RuntimeError("boom")
    assert issue(1, "invoice_t").number == "FA-2026-00003"  # the rolled back take gave its number back


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_raises(kinds):
    with pytest.raises(RuntimeError, match="inside the issuing transaction"):
        sequences.next_number(company_id=1, kind="invoice_t", on_date=JAN)
    with pytest.raises(RuntimeError, match="inside the issuing transaction"):
        sequences.take_number(company_id=1, kind="invoice_t", on_date=JAN)
    assert IssuedNumber.objects.count() == 0
    assert DocumentSequence.objects.count() == 0


@pytest.mark.parametrize(
    "fmt",
    ["{prefix}-{year}-{n:05}", "{prefix}{n}", "{yy}{n:06}", "N°{n}", "{prefix}/{year}/{n:>6}", "{{{n}}}"],
)
def test_validate_format_accepts(fmt):
    sequences.validate_format(fmt)


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("{prefix}-{year}", "must contain {n}"),
        ("INV-", "must contain {n}"),
        ("", "required"),
        ("   ", "required"),
        ("{prefix}-{month}-{n}", "Unknown placeholder {month}"),
        ("{}-{n}", "Unknown placeholder"),
        ("{0}-{n}", "Unknown placeholder {0}"),
        ("{n.__class__}", "Unknown placeholder"),
        ("{prefix[0]}{n}", "Unknown placeholder"),
        ("{n!r}", "Unsupported format"),
        ("{n:>100000000}", "Unsupported format"),
        ("{n:{year}}", "Unsupported format"),
        ("{n:zz}", "Bad format"),
        ("{prefix:05d}{n}", "Bad format"),
        ("{n", "Bad format"),
        ("}{n}", "Bad format"),
        ("X" * 81 + "{n}", "too long"),
        ("{prefix}" * 9 + "{n}", "too long"),
    ],
)
def test_validate_format_refuses_with_a_field_error(fmt, message):
    with pytest.raises(ValidationFailed) as excinfo:
        sequences.validate_format(fmt)
    assert excinfo.value.code == "invalid_sequence_format"
    assert excinfo.value.status == 422
    assert list(excinfo.value.fields) == ["format"]
    assert message in excinfo.value.fields["format"][0]


def test_numbers_taken_for_one_document_are_recorded_together(kinds):
    with transaction.atomic():
        number = sequences.take_number(company_id=1, kind="invoice_t", on_date=JAN)
        chain = sequences.take_number(company_id=1, kind="customer_t", on_date=JAN)
        issued = sequences.record_numbers([number, chain], object_type="accounting.journalentry", object_id=9)
    assert [(i.value, i.number) for i in issued] == [(1, "FA-2026-00001"), (1, "CL000001")]
    rows = set(IssuedNumber.objects.values_list("number", "object_type", "object_id"))
    assert rows == {("FA-2026-00001", "accounting.journalentry", "9"), ("CL000001", "accounting.journalentry", "9")}
    report = Report()
    check_sequences(report)
    assert report.ok, report.problems

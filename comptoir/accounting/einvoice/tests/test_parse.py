"""Reading received e-invoices: good files round-trip, hostile or broken ones are refused with one clear error."""

from __future__ import annotations

import io
import time

import pytest
from pypdf import PdfWriter

from comptoir.accounting.einvoice.cii import Profile, build_cii
from comptoir.accounting.einvoice.parse import MAX_XML_BYTES, InvalidEInvoice, parse_einvoice
from comptoir.accounting.einvoice.tests import samples
from comptoir.accounting.einvoice.totals import compute_totals
from comptoir.kernel.errors import ValidationFailed

CII_OPEN = (
    b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
    b'xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100">'
)


@pytest.fixture(scope="module")
def standard_xml() -> bytes:
    return build_cii(samples.standard_invoice(), language="en")


def refused(data: bytes) -> InvalidEInvoice:
    with pytest.raises(InvalidEInvoice) as caught:
        parse_einvoice(data)
    assert caught.value.message.strip()
    return caught.value


def pdf_with_attachments(**files: bytes) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    for name, content in files.items():
        writer.add_attachment(name.replace("_", "-") + ".xml", content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# ---- good files -------------------------------------------------------------------------


def test_cii_xml_round_trips_to_the_same_amounts(standard_xml):
    parsed = parse_einvoice(standard_xml)
    original = samples.standard_invoice()
    assert parsed.source == "xml"
    assert parsed.level == "en16931"
    assert parsed.warnings == ()
    assert parsed.totals == compute_totals(original)
    doc = parsed.document
    assert (doc.number, doc.issue_date, doc.due_date) == (original.number, original.issue_date, original.due_date)
    assert doc.seller.siren == "732829320"
    assert doc.seller.vat_number == "FR44732829320"
    assert doc.buyer.siren == "552100554"
    assert doc.delivery_address == original.delivery_address
    assert doc.vat_on_debits is True
    assert doc.operation_category == original.operation_category
    assert doc.payment_means[0].iban == "FR7630006000011234567890189"
    assert [(line.line_id, line.quantity, line.net_unit_price) for line in doc.lines] == [
        (line.line_id, line.quantity, line.net_unit_price) for line in original.lines
    ]


def test_factur_x_pdf_round_trips(standard_pdf):
    parsed = parse_einvoice(standard_pdf)
    assert parsed.source == "pdf"
    assert parsed.warnings == ()
    assert parsed.document.number == "FA-2026-00042"
    assert parsed.totals.grand_total == compute_totals(samples.standard_invoice()).grand_total


def test_credit_note_keeps_its_reference_and_basic_profile_reads():
    parsed = parse_einvoice(build_cii(samples.credit_note(), Profile.BASIC, language="en"))
    assert parsed.level == "basic"
    assert parsed.document.is_credit_note
    assert parsed.document.preceding_invoices[0].number == "FA-2026-00042"


def test_amounts_that_disagree_with_the_lines_are_flagged(standard_xml):
    tampered = standard_xml.replace(b"<ram:GrandTotalAmount>1424.20<", b"<ram:GrandTotalAmount>1524.20<").replace(
        b"<ram:LineTotalAmount>162.50<", b"<ram:LineTotalAmount>162.60<"
    )
    parsed = parse_einvoice(tampered, check_rules=True)
    codes = {warning.code for warning in parsed.warnings}
    assert codes == {"total_grand_total", "line_total", "rule"}
    assert any("1524.20" in warning.message and "1424.20" in warning.message for warning in parsed.warnings)
    rules = [warning.message for warning in parsed.warnings if warning.code == "rule"]
    assert any(message.startswith("BR-CO-15") for message in rules)  # grand total = basis + VAT


# ---- hostile and broken files -----------------------------------------------------------


def test_external_entity_is_refused_without_reading_the_file():
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + CII_OPEN
        + b"&x;</rsm:CrossIndustryInvoice>"
    )
    error = refused(xxe)
    assert error.code == "doctype_forbidden"
    assert "root:" not in error.message


def test_entity_hidden_by_utf16_is_refused_after_a_parse_that_loads_nothing():
    xxe = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    ).encode("utf-16")
    assert b"<!DOCTYPE" not in xxe  # the byte scan cannot see it
    error = refused(xxe)
    assert error.code == "doctype_forbidden"
    assert "root:" not in error.message


def test_external_dtd_over_the_network_is_refused():
    assert refused(
        b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">' + CII_OPEN + b"</rsm:CrossIndustryInvoice>"
    ).code == ("doctype_forbidden")


def test_billion_laughs_is_refused_fast():
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"".join(b"&lol%d;" % (i - 1) for _ in range(10))) for i in range(1, 10)
    )
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [' + entities + b"]>" + CII_OPEN + b"&lol9;</rsm:CrossIndustryInvoice>"
    started = time.perf_counter()
    assert refused(bomb).code == "doctype_forbidden"
    assert time.perf_counter() - started < 1


def test_png_renamed_xml_is_not_xml():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
    assert refused(png).code == "not_xml"


def test_truncated_xml_is_malformed(standard_xml):
    assert refused(standard_xml[: len(standard_xml) // 2]).code == "malformed_xml"


def test_other_xml_documents_are_refused_by_root_profile_or_schema(standard_xml):
    ubl = b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>1</ID></Invoice>'
    assert refused(ubl).code == "wrong_root"
    unknown = standard_xml.replace(b"<ram:ID>urn:cen.eu:en16931:2017</ram:ID>", b"<ram:ID>urn:example:profile</ram:ID>")
    assert refused(unknown).code == "unknown_profile"
    misordered = standard_xml.replace(b"<ram:TypeCode>380</ram:TypeCode>", b"", 1).replace(
        b"</ram:IssueDateTime>", b"</ram:IssueDateTime><ram:TypeCode>380</ram:TypeCode>", 1
    )
    error = refused(misordered)
    assert error.code == "schema_invalid"
    assert "TypeCode" in error.message
    minimum = build_cii(samples.standard_invoice(), Profile.MINIMUM, language="en")
    assert refused(minimum).code == "profile_without_lines"


def test_unsupported_values_are_refused_with_the_reason(standard_xml):
    canary = standard_xml.replace(b"<ram:CategoryCode>S</ram:CategoryCode>", b"<ram:CategoryCode>L</ram:CategoryCode>")
    error = refused(canary)
    assert error.code == "unsupported_content"
    assert "'L'" in error.message


def test_pdf_without_xml_and_damaged_pdf():
    assert refused(pdf_with_attachments()).code == "pdf_without_xml"
    assert refused(pdf_with_attachments(notes=b"<notes/>")).code == "pdf_without_xml"
    assert refused(b"%PDF-1.7\n\x00\x01garbage").code in {"pdf_unreadable", "pdf_without_xml"}


def test_hostile_xml_inside_a_pdf_is_refused_like_a_bare_file():
    xxe = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + CII_OPEN + b"&x;</rsm:CrossIndustryInvoice>"
    assert refused(pdf_with_attachments(factur_x=xxe)).code == "doctype_forbidden"


def test_size_limits_and_empty_files():
    assert refused(b"").code == "empty"
    assert refused(b"<" + b" " * MAX_XML_BYTES).code == "too_large"


def test_refusal_is_a_validation_error_for_the_api():
    with pytest.raises(ValidationFailed) as caught:
        parse_einvoice(b"not an invoice")
    assert caught.value.status == 422
    assert caught.value.as_dict()["fields"] == {"file": [caught.value.message]}

"""Factur-X PDF: a PDF/A-3b that shows every French mention and carries a valid CII XML."""

from __future__ import annotations

import io
import re

import facturx
import pytest
from lxml import etree
from pypdf import PdfReader

from comptoir.accounting.einvoice.cii import Profile
from comptoir.accounting.einvoice.pdf import facturx_pdf, refuse_url, render_html
from comptoir.accounting.einvoice.tests import samples
from comptoir.accounting.einvoice.validate import validate_cii


def pdf_text(reader: PdfReader) -> str:
    """The text of every page, whitespace (including no-break spaces) collapsed."""
    text = " ".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u202f", " "))


def test_pdf_embeds_a_valid_en16931_xml_as_factur_x(standard_pdf):
    reader = PdfReader(io.BytesIO(standard_pdf))
    assert list(reader.attachments) == ["factur-x.xml"]
    filename, xml = facturx.get_facturx_xml_from_pdf(standard_pdf, check_xsd=False)
    assert filename == "factur-x.xml"
    assert validate_cii(xml) == []
    assert facturx.get_level(etree.fromstring(xml)) == "en16931"

    # PDF/A-3b envelope: output intent, XMP identification, Factur-X properties, AF relation.
    root = reader.trailer["/Root"]
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    assert root["/AF"][0].get_object()["/AFRelationship"] == "/Alternative"
    xmp = reader.xmp_metadata.stream.get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    # The Info dictionary agrees with the XMP packet (PDF/A).
    assert reader.metadata["/Producer"] == reader.xmp_metadata.pdf_producer
    assert "/Keywords" not in reader.metadata
    assert reader.metadata["/Title"] == "Invoice FA-2026-00042"


def test_pdf_shows_every_mandatory_mention(standard_pdf):
    text = pdf_text(PdfReader(io.BytesIO(standard_pdf)))
    expected = [
        "Invoice",
        "FA-2026-00042",
        "Issue date 09/15/2026",
        "Date of sale or service 09/12/2026",
        "Due date 10/15/2026",
        "Your order BC-7781",
        # Seller identification
        "Atelier Dupont SAS",
        "SAS with a share capital of 10,000.00 € · RCS Lyon 732829320",
        "SIREN 732829320",
        "SIRET 73282932000074",
        "VAT number FR44732829320",
        # Buyer, with its SIREN (2026) and VAT number; delivery address (2026)
        "Boulangerie Martin SARL",
        "SIREN 552100554",
        "VAT number FR40552100554",
        "DELIVER TO",
        "Zone artisanale, lot 4",
        # Category of operation and VAT on debits (2026)
        "Supply of goods and services",
        "Option for payment of VAT on debits.",
        # Lines: designation, quantity, unit price, discount, rate, amount
        "Pétrin inox 40 L",
        "333.33 5 % 20 % 949.99 €",
        "Allowance: Remise commerciale 20 % -10.00 €",
        # VAT per rate and totals
        "20 % 1,024.92 € 204.98 €",
        "10 % 162.50 € 16.25 €",
        "5.5 % 14.74 € 0.81 €",
        "Total VAT 222.04 €",
        "Total incl. VAT 1,424.20 €",
        # Payment
        "IBAN FR7630006000011234567890189",
        "No discount for early payment.",
        "Late payment penalties: 12.15 % per year",
        "recovery costs in case of late payment: 40.00 €",
    ]
    missing = [mention for mention in expected if mention not in text]
    assert missing == [], text


def test_credit_note_and_reverse_charge_pdfs_show_their_specific_mentions():
    credit = pdf_text(PdfReader(io.BytesIO(facturx_pdf(samples.credit_note(), "en"))))
    assert "Credit note" in credit
    assert "Refers to invoice FA-2026-00042 of 09/15/2026" in credit
    assert "Amount credited 23.98 €" in credit

    reverse_html = render_html(samples.reverse_charge_services(), "en")
    assert 'data-mention="vat-exemption"><strong>Autoliquidation</strong>' in reverse_html
    assert "DE123456789" in reverse_html


def test_french_rendering_uses_french_formats_and_language_tag():
    html = render_html(samples.standard_invoice(), "fr")
    assert '<html lang="fr">' in html
    assert "15/09/2026" in html
    assert re.search(r"1[\s\u00a0\u202f]424,20", html)


def test_minimum_profile_is_embedded_as_data():
    pdf = facturx_pdf(samples.intra_eu_goods(), "en", profile=Profile.MINIMUM)
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.trailer["/Root"]["/AF"][0].get_object()["/AFRelationship"] == "/Data"
    assert "<fx:ConformanceLevel>MINIMUM</fx:ConformanceLevel>" in reader.xmp_metadata.stream.get_data().decode()


def test_rendering_fetches_nothing():
    with pytest.raises(ValueError, match="external resource refused"):
        refuse_url("https://example.com/logo.png")

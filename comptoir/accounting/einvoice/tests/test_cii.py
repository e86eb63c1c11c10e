"""CII writer: every French case passes the Factur-X XSD and the EN 16931 schematron.

Schematron runs cost ~0.1 s each once the stylesheet is compiled (≈1-5 s per stylesheet,
cached per process), so this module keeps their number small: one per sample, one for
the French CTC rules, one per other profile and one for a broken file.
"""

from __future__ import annotations

from collections import Counter

import pytest
from lxml import etree

from comptoir.accounting.einvoice.cii import NSMAP, Profile, build_cii
from comptoir.accounting.einvoice.tests import samples
from comptoir.accounting.einvoice.validate import safe_parser, validate_cii


def xpath(xml: bytes, path: str) -> list[str]:
    root = etree.fromstring(xml, parser=safe_parser())
    return [str(value) for value in root.xpath(path, namespaces=NSMAP)]


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_each_sample_passes_xsd_and_en16931_schematron(name):
    xml = build_cii(samples.ALL[name](), Profile.EN16931, language="en")
    problems = validate_cii(xml)
    assert problems == [], "\n".join(str(p) for p in problems)


def test_standard_invoice_also_passes_the_french_ctc_rules():
    xml = build_cii(samples.standard_invoice(), language="fr")
    problems = validate_cii(xml, french_rules=True)
    assert problems == [], "\n".join(str(p) for p in problems)


@pytest.mark.parametrize("profile", [Profile.BASIC, Profile.MINIMUM], ids=["basic", "minimum"])
def test_basic_and_minimum_profiles_validate(profile):
    xml = build_cii(samples.standard_invoice(), profile, language="en")
    problems = validate_cii(xml)
    assert problems == [], "\n".join(str(p) for p in problems)
    assert xpath(xml, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()") == [profile.value]
    lines = xpath(xml, "//ram:IncludedSupplyChainTradeLineItem/ram:AssociatedDocumentLineDocument/ram:LineID/text()")
    assert lines == ([] if profile == Profile.MINIMUM else ["1", "2", "3", "4"])


def test_validator_reports_schematron_and_xsd_failures_with_their_rule():
    xml = build_cii(samples.standard_invoice(), language="en")
    broken = xml.replace(b'unitCode="HUR"', b'unitCode="FOO"').replace(
        b"<ram:CalculatedAmount>16.25<", b"<ram:CalculatedAmount>16.26<"
    )
    rules = {problem.rule for problem in validate_cii(broken)}
    assert "BR-CO-14" in rules  # VAT total ≠ Σ breakdown
    assert any(rule.startswith("FX-SCH-A-") for rule in rules)  # unit code not in UN/ECE rec 20

    misordered = xml.replace(b"<ram:TypeCode>380</ram:TypeCode>", b"", 1).replace(
        b"</ram:IssueDateTime>", b"</ram:IssueDateTime><ram:TypeCode>380</ram:TypeCode>", 1
    )
    problems = validate_cii(misordered)
    assert [p.source for p in problems] == ["xsd"]

    assert validate_cii(b"<not-closed")[0].source == "syntax"


def test_french_mentions_are_carried_in_the_xml():
    xml = build_cii(samples.standard_invoice(), language="en")
    assert Counter(xpath(xml, "//rsm:ExchangedDocument/ram:IncludedNote/ram:SubjectCode/text()")) == Counter(
        {"PMD": 1, "PMT": 1, "AAB": 1, "TXD": 1}
    )
    notes = " ".join(xpath(xml, "//rsm:ExchangedDocument/ram:IncludedNote/ram:Content/text()"))
    assert "12.15 % per year" in notes
    assert "40.00\u00a0€" in notes
    assert "No discount for early payment." in notes
    # Category of operation (BT-23), VAT on debits (BT-8 = 5), buyer SIREN (BT-47), delivery address.
    assert xpath(xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID/text()") == ["M1"]
    assert set(
        xpath(xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:DueDateTypeCode/text()")
    ) == {"5"}
    assert xpath(xml, "//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']/text()") == [
        "552100554"
    ]
    assert xpath(xml, "//ram:ShipToTradeParty/ram:PostalTradeAddress/ram:LineOne/text()") == ["Zone artisanale, lot 4"]
    seller_description = xpath(xml, "//ram:SellerTradeParty/ram:Description/text()")
    assert seller_description == ["SAS with a share capital of 10,000.00\u00a0€ · RCS Lyon 732829320"]
    # Line 1: 5 % discount written as a line allowance with its reason, base and percent.
    allowance = "//ram:IncludedSupplyChainTradeLineItem[1]//ram:SpecifiedTradeAllowanceCharge"
    assert xpath(xml, f"{allowance}/ram:ActualAmount/text()") == ["50.00"]
    assert xpath(xml, f"{allowance}/ram:BasisAmount/text()") == ["999.99"]
    assert xpath(xml, f"{allowance}/ram:Reason/text()") == ["Remise fidélité"]


def test_credit_note_cites_the_invoice_it_credits():
    xml = build_cii(samples.credit_note(), language="en")
    assert xpath(xml, "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["381"]
    assert xpath(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()") == ["FA-2026-00042"]
    assert xpath(xml, "//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString/text()") == [
        "20260915"
    ]


def test_reverse_charge_and_exemptions_carry_reason_and_both_vat_numbers():
    xml = build_cii(samples.reverse_charge_services(), language="en")
    tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax"
    assert xpath(xml, f"{tax}/ram:CategoryCode/text()") == ["AE"]
    assert xpath(xml, f"{tax}/ram:ExemptionReason/text()") == ["Autoliquidation"]
    assert xpath(xml, f"{tax}/ram:ExemptionReasonCode/text()") == ["VATEX-EU-AE"]
    assert xpath(xml, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()") == ["FR44732829320"]
    assert xpath(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()") == ["DE123456789"]

    intra = build_cii(samples.intra_eu_goods(), language="en")
    assert xpath(intra, f"{tax}/ram:ExemptionReason/text()") == ["Exonération de TVA, art. 262 ter I du CGI"]
    export = build_cii(samples.export_invoice(), language="en")
    assert xpath(export, f"{tax}/ram:CategoryCode/text()") == ["G"]
    exempt = build_cii(samples.exempt_invoice(), language="en")
    assert xpath(exempt, f"{tax}[ram:CategoryCode='E']/ram:ExemptionReasonCode/text()") == ["VATEX-EU-132-1I"]

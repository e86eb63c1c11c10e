"""FEC writer and checker (COMPLIANCE-FR §1): formats, roundtrip, one broken file per problem kind, memory."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from comptoir.accounting import fec
from comptoir.accounting.fec import FEC_COLUMNS, MESSAGES, FecReport, FecRow, check_fec, fec_filename, write_fec

D = Decimal
NAME = "123456782FEC20261231.txt"

# A small file in the spirit of §3.5's typical entries: opening balances first (validated after
# the year's first sales, which the order of validation allows for the opening block), a
# service sale on receipts, an intra-EU purchase with self-assessed VAT, a bill in dollars, a
# payment lettered with its invoice, the VAT on receipts made chargeable. Pipe-separated, LF.
EXAMPLE = """\
JournalCode|JournalLib|EcritureNum|EcritureDate|CompteNum|CompteLib|CompAuxNum|CompAuxLib|PieceRef|PieceDate|EcritureLib|Debit|Credit|EcritureLet|DateLet|ValidDate|Montantdevise|Idevise
AN|A-nouveaux|1|20260101|512000|Banque|||AN-2026|20260101|Reprise des soldes|15000,00|0,00|||20260115||
AN|A-nouveaux|1|20260101|101000|Capital|||AN-2026|20260101|Reprise des soldes|0,00|15000,00|||20260115||
VT|Ventes|1|20260105|411000|Clients|C0001|Atelier Martin|FA-2026-00001|20260105|Facture FA-2026-00001|1200,00|0,00|A|20260204|20260105||
VT|Ventes|1|20260105|706000|Prestations de services|||FA-2026-00001|20260105|Facture FA-2026-00001|0,00|1000,00|||20260105||
VT|Ventes|1|20260105|445740|TVA collectée en attente|||FA-2026-00001|20260105|Facture FA-2026-00001|0,00|200,00|||20260105||
AC|Achats|1|20260110|607000|Achats de marchandises|||F-778|20260108|Facture Holzwerk GmbH|500,00|0,00|||20260110||
AC|Achats|1|20260110|445662|TVA déductible autoliquidée|||F-778|20260108|Facture Holzwerk GmbH|100,00|0,00|||20260110||
AC|Achats|1|20260110|401000|Fournisseurs|F0007|Holzwerk GmbH|F-778|20260108|Facture Holzwerk GmbH|0,00|500,00|||20260110||
AC|Achats|1|20260110|445200|TVA due autoliquidée|||F-778|20260108|Facture Holzwerk GmbH|0,00|100,00|||20260110||
AC|Achats|2|20260120|622000|Honoraires|||INV-31|20260118|Facture Acme Inc.|460,00|0,00|||20260120||
AC|Achats|2|20260120|401000|Fournisseurs|F0009|Acme Inc.|INV-31|20260118|Facture Acme Inc.|0,00|460,00|||20260120|-540,00|USD
BQ|Banque|1|20260204|512000|Banque|||VIR-0042|20260204|Règlement FA-2026-00001|1200,00|0,00|||20260204||
BQ|Banque|1|20260204|411000|Clients|C0001|Atelier Martin|VIR-0042|20260204|Règlement FA-2026-00001|0,00|1200,00|A|20260204|20260204||
OD|Opérations diverses|1|20260204|445740|TVA collectée en attente|||VIR-0042|20260204|TVA exigible FA-2026-00001|200,00|0,00|||20260204||
OD|Opérations diverses|1|20260204|445710|TVA collectée|||VIR-0042|20260204|TVA exigible FA-2026-00001|0,00|200,00|||20260204||
"""  # noqa: E501


def check_text(text: str, *, encoding: str = "iso-8859-15", name: str | None = NAME, **kw: object) -> FecReport:
    return check_fec(io.BytesIO(text.encode(encoding)), filename=name, **kw)  # type: ignore[arg-type]


def example_table() -> list[list[str]]:
    return [line.split("|") for line in EXAMPLE.splitlines()]


def join(table: list[list[str]], sep: str = "|", eol: str = "\n") -> str:
    return "".join(sep.join(row) + eol for row in table)


def col(name: str) -> int:
    return FEC_COLUMNS.index(name)


# --- Writer ---------------------------------------------------------------------------


def _row(**kw: object) -> FecRow:
    values: dict[str, object] = {
        "journal_code": "VT",
        "journal_label": "Ventes",
        "entry_number": "1",
        "entry_date": dt.date(2026, 3, 5),
        "account_number": "411000",
        "account_label": "Clients",
        "piece_ref": "FA-2026-00001",
        "piece_date": dt.date(2026, 3, 4),
        "label": "Facture FA-2026-00001",
        "debit": D("1234.5"),
        "credit": D("0"),
        "validation_date": dt.date(2026, 3, 6),
    }
    values.update(kw)
    return FecRow(**values)  # type: ignore[arg-type]


def written(rows: list[FecRow], **kw: object) -> bytes:
    out = io.BytesIO()
    write_fec(rows, out, **kw)  # type: ignore[arg-type]
    return out.getvalue()


def test_columns_are_the_18_of_the_specification() -> None:
    assert len(FEC_COLUMNS) == 18
    assert FEC_COLUMNS[11:13] == ("Debit", "Credit")
    assert FEC_COLUMNS[16] == "Montantdevise"  # not MontantDevise (§1.5 error 1)


def test_filename() -> None:
    assert fec_filename("123456782", dt.date(2026, 12, 31)) == "123456782FEC20261231.txt"
    with pytest.raises(ValueError, match="9 digits"):
        fec_filename("12345678", dt.date(2026, 12, 31))


def test_writer_formats() -> None:
    data = written(
        [
            _row(aux_number="C0001", aux_label="Atelier Martin", lettering="AB", lettering_date=dt.date(2026, 4, 1)),
            _row(
                account_number="706000",
                account_label="Prestations\tde\r\nservices",
                debit=D("0"),
                credit=D("1234567.891"),
                currency_amount=D("-1500"),
                currency="USD",
                label="Facture – “été” ’26 ő",
            ),
        ]
    )
    header, first, second, end = data.split(b"\r\n")
    assert header == "\t".join(FEC_COLUMNS).encode()
    assert end == b""  # every record, the last included, ends with CRLF
    assert first.split(b"\t") == [
        *(b"VT", b"Ventes", b"1", b"20260305", b"411000", b"Clients", b"C0001", b"Atelier Martin"),
        *(b"FA-2026-00001", b"20260304", b"Facture FA-2026-00001", b"1234,50", b"0,00", b"AB", b"20260401"),
        *(b"20260306", b"", b""),
    ]
    fields = second.decode("iso-8859-15").split("\t")
    assert len(fields) == 18
    assert fields[col("CompteLib")] == "Prestations de services"  # tab, CR, LF never reach the file
    assert fields[col("Credit")] == "1234567,89"  # two decimals, half up, no thousands separator
    assert fields[col("Montantdevise")] == "-1500,00"
    assert fields[col("EcritureLib")] == 'Facture - "été" \'26 o'  # ISO-8859-15 keeps é, replaces what it lacks


def test_writer_pipe_utf8_lf_and_refusals() -> None:
    assert written([_row(label="a｜b")], separator="|").splitlines()[1].split(b"|")[col("EcritureLib")] == b"a b"
    data = written([_row(label="Ő € ’")], separator="|", encoding="utf-8", line_ending="\n")
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8").splitlines()[1].split("|")[col("EcritureLib")] == "Ő € ’"
    with pytest.raises(ValueError, match="tab or"):
        written([], separator=";")
    with pytest.raises(ValueError, match="byte-order mark"):
        written([], encoding="utf-8-sig")
    with pytest.raises(TypeError):
        written([_row(debit=1.5)])  # floats never reach money


def test_writer_returns_the_row_count_and_writes_a_header_alone() -> None:
    out = io.BytesIO()
    assert write_fec(iter([]), out) == 0
    assert out.getvalue() == "\t".join(FEC_COLUMNS).encode() + b"\r\n"
    assert write_fec((_row() for _ in range(2500)), io.BytesIO(), batch=1000) == 2500


def ledger_rows(entries: int, start: dt.date = dt.date(2026, 1, 1)) -> Iterator[FecRow]:
    """Opening balances, then sales (3 lines) and payments (2 lines), numbered per journal, sorted by validation."""
    zero, hundred, twenty, total = D("0.00"), D("100.00"), D("20.00"), D("120.00")
    yield FecRow("AN", "A-nouveaux", "1", start, "512000", "Banque", "AN", start, "A-nouveaux", D(1000), zero, start)
    yield FecRow("AN", "A-nouveaux", "1", start, "101000", "Capital", "AN", start, "A-nouveaux", zero, D(1000), start)
    for i in range(entries):
        day = start + dt.timedelta(days=i * 364 // entries)
        n = str(i // 2 + 1)
        ref = f"FA-2026-{i // 2 + 1:06d}"
        if i % 2 == 0:
            sale, label = ("VT", "Ventes", n, day), f"Facture {ref}"
            yield FecRow(*sale, "411000", "Clients", ref, day, label, total, zero, day, "C0001", "Atelier Martin")
            yield FecRow(*sale, "706000", "Prestations de services", ref, day, label, zero, hundred, day)
            yield FecRow(*sale, "445740", "TVA collectée en attente", ref, day, label, zero, twenty, day)
        else:
            bank, label = ("BQ", "Banque", n, day), f"Règlement {ref}"
            yield FecRow(*bank, "512000", "Banque", ref, day, label, total, zero, day)
            yield FecRow(*bank, "411000", "Clients", ref, day, label, zero, total, day, "C0001", "Atelier Martin")


def test_writer_then_checker_is_clean() -> None:
    report = check_fec(io.BytesIO(written(list(ledger_rows(200)))), filename=NAME)
    assert report.errors == [] and report.warnings == []
    assert (report.lines, report.entries) == (502, 201)
    assert report.total_debit == report.total_credit == D("1000") + 100 * D("240")
    assert (report.encoding, report.separator, report.line_ending) == ("iso-8859-15", "\t", "CRLF")


@settings(max_examples=50, deadline=None)
@given(
    texts=st.lists(
        st.text(min_size=1, max_size=30).filter(lambda s: any(c.isalnum() for c in s)), min_size=4, max_size=4
    ),
    cents=st.integers(min_value=1, max_value=10**12),
    separator=st.sampled_from(["\t", "|"]),
    encoding=st.sampled_from(["iso-8859-15", "utf-8"]),
    line_ending=st.sampled_from(["\r\n", "\n"]),
)
def test_any_balanced_entry_roundtrips_clean(
    texts: list[str], cents: int, separator: str, encoding: str, line_ending: str
) -> None:
    # Whatever the labels hold (separators, line breaks, characters the encoding lacks), the file stays well formed.
    journal_label, account_label, piece_ref, label = texts
    amount = Decimal(cents).scaleb(-2)
    base = {"journal_label": journal_label, "account_label": account_label, "piece_ref": piece_ref, "label": label}
    rows = [
        _row(journal_code="AN", **base, debit=amount, credit=D(0)),
        _row(journal_code="AN", **base, debit=D(0), credit=amount),
    ]
    data = written(rows, separator=separator, encoding=encoding, line_ending=line_ending)
    report = check_fec(io.BytesIO(data), filename=NAME)
    assert report.error_count == 0, report.as_text()
    assert report.total_debit == amount


# --- Checker: clean files -------------------------------------------------------------


def test_example_file_is_clean(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(EXAMPLE.encode("iso-8859-15"))
    report = check_fec(path, fiscal_year_start=dt.date(2026, 1, 1), fiscal_year_end=dt.date(2026, 12, 31))
    assert report.ok and report.counts == {}, report.as_text()
    assert (report.lines, report.entries, report.separator, report.line_ending) == (15, 6, "|", "LF")
    assert report.encoding == "iso-8859-15"
    assert report.filename == NAME


def test_example_is_clean_in_utf8_with_tabs_and_crlf() -> None:
    report = check_text(join(example_table(), "\t", "\r\n"), encoding="utf-8")
    assert report.counts == {}, report.as_text()
    assert (report.encoding, report.separator, report.line_ending) == ("utf-8", "\t", "CRLF")


def test_text_streams_and_montant_sens_variant() -> None:
    table = example_table()
    table[0][11:13] = ["Montant", "Sens"]
    for row in table[1:]:
        debit, credit = row[11], row[12]
        row[11:13] = [debit, "D"] if debit != "0,00" else [credit, "C"]
    report = check_fec(io.StringIO(join(table)), filename=NAME)
    assert report.counts == {}, report.as_text()
    assert report.total_debit == report.total_credit == D("18660")


def test_global_numbering_is_accepted_too() -> None:
    table = example_table()
    numbers = {"AN": "1", "VT": "2", "AC": None, "BQ": "5", "OD": "6"}
    for row in table[1:]:
        row[2] = numbers[row[0]] or ("3" if row[2] == "1" else "4")
    assert check_text(join(table)).counts == {}


def test_one_establishment_column_is_a_warning_only() -> None:
    table = example_table()
    for row in table:
        row.append("Etablissement" if row is table[0] else "Paris")
    report = check_text(join(table))
    assert report.ok and report.codes() == {"header.extra"}


# --- Checker: one broken file per problem kind ----------------------------------------

Mutation = Callable[[list[list[str]]], None]


def set_field(line: int, column: str, value: str) -> Mutation:
    """Set a field on a line (line 2 is the first data line, as in the report)."""

    def mutate(table: list[list[str]]) -> None:
        table[line - 1][col(column)] = value

    return mutate


def set_entry(journal: str, number: str, column: str, value: str) -> Mutation:
    def mutate(table: list[list[str]]) -> None:
        for row in table[1:]:
            if (row[0], row[2]) == (journal, number):
                row[col(column)] = value

    return mutate


def rename_column(position: int, name: str) -> Mutation:
    def mutate(table: list[list[str]]) -> None:
        table[0][position - 1] = name

    return mutate


def swap_header(a: int, b: int) -> Mutation:
    def mutate(table: list[list[str]]) -> None:
        table[0][a - 1], table[0][b - 1] = table[0][b - 1], table[0][a - 1]

    return mutate


def drop_column(table: list[list[str]]) -> None:
    for row in table:
        del row[-1]


def move_line(src: int, dst: int) -> Mutation:
    def mutate(table: list[list[str]]) -> None:
        table.insert(dst - 1, table.pop(src - 1))

    return mutate


def move_entry_to_end(journal: str, number: str) -> Mutation:
    def mutate(table: list[list[str]]) -> None:
        rows = [r for r in table[1:] if (r[0], r[2]) == (journal, number)]
        table[:] = [table[0]] + [r for r in table[1:] if r not in rows] + rows

    return mutate


def closing_entry(table: list[list[str]]) -> None:
    base = [
        "OD",
        "Opérations diverses",
        "2",
        "20261231",
        "706000",
        "Prestations de services",
        "",
        "",
        "CLO",
        "20261231",
        "Solde des comptes de produits",
        "1000,00",
        "0,00",
        "",
        "",
        "20261231",
        "",
        "",
    ]
    other = [*base]
    other[4:6], other[11:13] = ["120000", "Résultat de l'exercice (bénéfice)"], ["0,00", "1000,00"]
    table += [base, other]


# (code, mutation, line of the first issue or None for the file)
BROKEN: dict[str, tuple[str, Mutation, int | None]] = {
    # §1.5-1 header
    "header misspelt": ("header.case", rename_column(17, "MontantDevise"), 1),
    "header wrong name": ("header.name", rename_column(5, "Compte"), 1),
    "header order": ("header.order", swap_header(12, 13), 1),
    "header count": ("header.count", drop_column, 1),
    # §1.5-2 separators
    "separator in a label": ("line.columns", set_field(4, "EcritureLib", "Facture | acompte"), 4),
    "header separator": ("header.separator", lambda t: None, 1),  # made by SEPARATORS below
    # §1.5-3 dates
    "date format": ("field.date", set_field(3, "EcritureDate", "2026-01-01"), 3),
    "impossible date": ("field.date", set_field(5, "PieceDate", "20260230"), 5),
    "empty ValidDate": ("field.required", set_field(6, "ValidDate", ""), 6),
    # §1.5-4 amounts
    "decimal point": ("amount.decimal_point", set_field(4, "Debit", "1200.00"), 4),
    "thousands": ("amount.thousands", set_field(4, "Debit", "1 200,00"), 4),
    "scientific": ("amount.scientific", set_field(4, "Debit", "1,2E3"), 4),
    "not a number": ("amount.format", set_field(4, "Debit", "12O0,00"), 4),
    "three decimals": ("amount.decimals", set_field(12, "Montantdevise", "-540,005"), 12),
    # §1.5-5 balance, both sides, negatives
    "unbalanced": ("entry.unbalanced", set_field(5, "Credit", "999,99"), 4),
    "debit and credit": ("amount.both", set_field(3, "Debit", "1,00"), 3),
    "negative": ("amount.negative", set_field(7, "Debit", "-500,00"), 7),
    "zero line": ("amount.zero", set_field(8, "Debit", "0,00"), 8),
    # §1.5-6 numbering and order
    "numbering gap": ("numbering.gap", set_entry("AC", "2", "EcritureNum", "3"), 11),
    "number out of order": ("numbering.order", set_entry("AC", "2", "EcritureNum", "0"), 11),
    "entry split": ("entry.split", move_line(4, 14), 14),
    "not sorted by validation": ("order.valid_date", set_entry("BQ", "1", "ValidDate", "20260104"), 13),
    "different dates in an entry": ("entry.dates", set_field(5, "EcritureDate", "20260106"), 4),
    "number without digits": ("numbering.not_numeric", set_entry("OD", "1", "EcritureNum", "ODX"), 15),
    # §1.5-7 accounts
    "account not PCG": ("account.pcg", set_field(4, "CompteNum", "CL411"), 4),
    "class 8": ("account.off_balance", set_field(4, "CompteNum", "801000"), 4),
    # §1.5-8 opening, centralisation, closing
    "opening not first": ("opening.not_first", move_entry_to_end("AN", "1"), 15),
    "opening missing": ("opening.missing", lambda t: t.__delitem__(slice(1, 3)), None),
    "centralisation": ("entry.centralisation", set_entry("OD", "1", "EcritureLib", "Centralisation ventes"), 15),
    "closing entry": ("entry.closing", closing_entry, 17),
    # §1.5-9 half-filled pairs
    "aux without label": ("pair.aux", set_field(4, "CompAuxLib", ""), 4),
    "lettering without date": ("pair.lettering", set_field(4, "DateLet", ""), 4),
    "currency amount without code": ("pair.currency", set_field(12, "Idevise", ""), 12),
    "bad currency": ("field.currency", set_field(12, "Idevise", "usd"), 12),
    # §1.5-10 empty mandatory labels
    "empty JournalLib": ("field.required", set_field(3, "JournalLib", ""), 3),
    "empty CompteLib": ("field.required", set_field(4, "CompteLib", ""), 4),
    "empty EcritureLib": ("field.required", set_field(4, "EcritureLib", ""), 4),
    "empty PieceRef": ("field.required", set_field(4, "PieceRef", ""), 4),
    "empty Debit": ("field.required", set_field(4, "Debit", ""), 4),
    # Fiscal year and journals
    "date after closing": ("date.outside_year", set_entry("OD", "1", "EcritureDate", "20270102"), 15),
    "date long before closing": ("date.before_year", set_entry("OD", "1", "EcritureDate", "20251231"), 15),
    "two journal labels": ("journal.label", set_field(5, "JournalLib", "Journal des ventes"), 5),
    "Sens variant with a bad Sens": ("amount.sens", lambda t: None, 2),  # made below
}


@pytest.mark.parametrize(("code", "mutate", "line"), BROKEN.values(), ids=BROKEN.keys())
def test_each_problem_is_reported_with_its_line(code: str, mutate: Mutation, line: int | None) -> None:
    table = example_table()
    mutate(table)
    text = join(table)
    if code == "header.separator":
        text = join(table, sep=";")
    if code == "amount.sens":
        table[0][11:13] = ["Montant", "Sens"]
        table[1][11:13] = ["15000,00", "X"]
        text = join(table)
    report = check_text(text)
    assert code in report.codes(), report.as_text()
    issue = next(i for i in report.errors + report.warnings if i.code == code)
    assert issue.line == line
    assert issue.severity is MESSAGES[code][0]
    assert issue.message and "%(" not in issue.message
    assert (report.ok) == (report.error_count == 0)


def test_every_message_has_a_test_or_a_dedicated_one() -> None:
    dedicated = {
        "file.empty",
        "file.utf16",
        "file.line_endings",
        "encoding.bom",
        "encoding.invalid",
        "encoding.mixed",
        "filename.pattern",
        "filename.siren",
        "filename.date",
        "filename.closing_date",
        "header.mixed_separator",
        "header.extra",
        "header.unusable",
        "line.blank",
        "line.mixed_separator",
    }
    assert set(MESSAGES) == {code for code, _m, _l in BROKEN.values()} | dedicated


def test_file_name_problems() -> None:
    assert check_text(EXAMPLE, name="FEC2026.txt").codes() == {"filename.pattern"}
    assert check_text(EXAMPLE, name="123456789FEC20261231.txt").codes() == {"filename.siren"}
    assert check_text(EXAMPLE, name="123456782FEC20261331.txt").codes() == {"filename.date"}
    wrong_year_end = check_text(EXAMPLE, fiscal_year_end=dt.date(2025, 12, 31))
    assert "filename.closing_date" in wrong_year_end.codes()
    assert "date.outside_year" in wrong_year_end.codes()  # judged against the given year, not the name
    assert check_text(EXAMPLE, name=None).counts == {}  # a stream without a name: no name to check


def test_explicit_fiscal_year_start() -> None:
    report = check_text(EXAMPLE, fiscal_year_start=dt.date(2026, 1, 6))
    assert report.codes() == {"date.outside_year"}
    assert report.counts["date.outside_year"] == 5  # the opening lines and the 3 sale lines of 5 January


def test_encoding_problems() -> None:
    assert check_text("\ufeff" + EXAMPLE, encoding="utf-8").codes() == {"encoding.bom"}
    utf16 = check_fec(io.BytesIO(EXAMPLE.encode("utf-16")), filename=NAME)
    assert utf16.codes() == {"file.utf16"} and not utf16.ok
    extra = "OD|Opérations diverses|2|20260205|512000|Banque|||X|20260205|Frais payés|1,00|0,00|||20260205||\n"
    mixed = EXAMPLE.encode("utf-8") + extra.encode("iso-8859-15")
    report = check_fec(io.BytesIO(mixed), filename=NAME)
    assert "encoding.invalid" in report.codes()
    assert next(i for i in report.errors if i.code == "encoding.invalid").line == 17
    # ISO-8859-15 until line 13, where "Règlement" arrives UTF-8 encoded.
    latin = EXAMPLE.encode("iso-8859-15").replace("Règlement".encode("iso-8859-15"), "Règlement".encode())
    report = check_fec(io.BytesIO(latin), filename=NAME)
    assert report.encoding == "iso-8859-15"
    assert next(i for i in report.warnings if i.code == "encoding.mixed").line == 13


def test_layout_problems() -> None:
    assert check_text("").codes() == {"file.empty"}
    lines = EXAMPLE.splitlines()
    assert check_text("\r\n".join(lines[:8]) + "\n" + "\n".join(lines[8:]) + "\n").codes() == {"file.line_endings"}
    assert check_text("\r".join(lines) + "\r").counts == {}  # CR alone is a terminator too
    blank = check_text("\n".join([*lines[:5], "", *lines[5:]]) + "\n")
    assert blank.codes() == {"line.blank"}
    tab_line = "\t".join(lines[3].split("|"))
    mixed = check_text("\n".join([*lines[:3], tab_line, *lines[4:]]) + "\n")
    assert "line.mixed_separator" in mixed.codes()
    both = check_text(lines[0].replace("|Debit|", "\tDebit\t") + "\n" + "\n".join(lines[1:]))
    assert "header.mixed_separator" in both.codes()
    short = check_text("JournalCode|JournalLib|EcritureNum\nVT|Ventes|1\n")
    assert {"header.count", "header.unusable"} <= short.codes()
    assert short.lines == 0  # nothing read past an unusable header


def test_issues_are_capped_per_kind_but_all_counted() -> None:
    table = example_table()
    for row in table[1:]:
        row[col("PieceDate")] = "2026-01-01"
    report = check_text(join(table), max_issues_per_kind=3)
    assert report.counts["field.date"] == 15
    assert len([i for i in report.errors if i.code == "field.date"]) == 3
    assert report.error_count == 15
    with translation.override("en"):
        assert "[field.date] 12 more not listed." in report.as_text()


def test_numbering_gaps_are_capped_and_counted() -> None:
    rows = list(ledger_rows(40))
    rows = [r for r in rows if not (r.journal_code == "VT" and int(r.entry_number) % 2 == 0)]
    report = check_fec(io.BytesIO(written(rows)), filename=NAME, max_issues_per_kind=2)
    assert report.counts["numbering.gap"] == 9
    assert len(report.warnings) == 2
    assert report.ok  # a break in numbering is explained in the notice, not a fault


def test_report_text_and_messages_in_english_and_french() -> None:
    table = example_table()
    table[3][col("Debit")] = "1200.00"
    with translation.override("en"):
        text = check_text(join(table)).as_text()
    assert "line 4: Debit = “1200.00” uses a decimal point; use a comma (1234,50)." in text
    assert text.startswith("15 lines, 6 entries;")
    assert "1 error, 0 warnings." in text
    with translation.override("fr"):
        assert "1 erreur, 0 avertissement." in check_text(join(table)).as_text()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / NAME
    path.write_bytes(EXAMPLE.encode("iso-8859-15"))
    assert fec.main(["check", str(path)]) == 0
    path.write_bytes(EXAMPLE.replace("1200,00", "1200.00").encode("iso-8859-15"))
    with translation.override("en"):
        assert fec.main(["check", str(path), "--end", "20261231", "--max", "1"]) == 1
    out = capsys.readouterr().out
    assert "[amount.decimal_point]" in out and "more not listed" in out


# --- Constant memory ------------------------------------------------------------------


class Sink:
    """A binary stream that only counts what it is given."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def test_writer_streams_200000_rows_in_constant_memory() -> None:
    sink = Sink()
    rows = (r for r in ledger_rows(80_000))  # 200,002 rows, generated lazily
    tracemalloc.start()
    try:
        count = write_fec(rows, sink)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_002
    assert sink.size > 20_000_000
    assert peak < 2_000_000, peak  # a batch of 1,000 lines, not the file


def test_checker_streams_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / NAME
    with path.open("wb") as out:
        write_fec(ledger_rows(20_000), out)  # 50,002 lines

    tracemalloc.start()
    try:
        report = check_fec(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok and report.lines == 50_002, report.as_text()
    assert peak < 1_500_000, peak  # a 64 KiB read buffer, one entry, a few counters

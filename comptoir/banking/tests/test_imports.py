"""Statement import: each format, duplicates, overlapping statements, bad rows, hostile files."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from comptoir.banking import parsers
from comptoir.banking.imports import statement_import, statement_preview
from comptoir.banking.models import BankStatement, BankStatementLine, LineState
from comptoir.banking.parsers.base import parse_amount
from comptoir.banking.tests.kit import CSV_LAYOUT, OTHER_IBAN, make_account, read, setup_banking
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.models import AuditEntry, OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(personas):
    setup_banking(personas)
    return make_account(personas)


def _import(personas, name, account=None, role="finance", **extra):
    kwargs = {"bank_account_id": account.pk} if account is not None else {}
    return statement_import(actor=personas.actor(role), data=read(name), filename=name, **(kwargs | extra))


def test_camt053_v02(personas, account):
    result = _import(personas, "camt053_v02.xml", account)
    assert (result.source_format, result.imported, result.skipped) == ("camt053", 3, 0)
    statement = result.statements[0]
    assert statement.reference == "STMT-2026-03-001"
    assert (statement.date_from, statement.date_to) == (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert (statement.opening_balance, statement.closing_balance) == (Decimal("1000.00"), Decimal("1804.10"))
    lines = list(statement.lines.order_by("position"))
    assert [line.amount for line in lines] == [Decimal("1200.00"), Decimal("-45.90"), Decimal("-350.00")]
    first = lines[0]
    assert first.partner_name == "Boulangerie Martin" and first.partner_iban == "DE89370400440532013000"
    assert "FA-2026-00001" in first.reference and first.transaction_id == "20260305-0000123"
    assert first.state == LineState.OPEN and first.bank_account_id == account.pk
    assert lines[2].partner_name == "Papeterie Leroy"  # the creditor of a debit
    assert AuditEntry.objects.filter(action="bank_statement.import", object_id=str(statement.pk)).exists()
    assert OutboxEvent.objects.filter(name="banking.statement_imported").count() == 1


def test_camt053_v08_two_statements_in_one_file(personas, account):
    result = _import(personas, "camt053_v08.xml", account)
    assert [s.reference for s in result.statements] == ["STMT-2026-04-A", "STMT-2026-04-B"]
    assert result.imported == 3
    urssaf = BankStatementLine.objects.get(transaction_id="20260402-A1")
    assert (urssaf.amount, urssaf.partner_name, urssaf.booking_date) == (
        Decimal("-500.00"), "URSSAF Ile-de-France", dt.date(2026, 4, 2))  # fmt: skip
    assert result.statements[0].date_from == dt.date(2026, 4, 1)  # the day after the PRCD balance


def test_ofx_sgml_and_xml(personas, account):
    sgml = _import(personas, "ofx102_sgml.ofx", account)
    assert (sgml.source_format, sgml.imported) == ("ofx", 3)
    statement = sgml.statements[0]
    assert statement.opening_balance is None and statement.closing_balance == Decimal("2106.75")
    fuel = BankStatementLine.objects.get(transaction_id="OFX20260507001")
    assert fuel.amount == Decimal("-62.35") and "ÉNERGIES" in fuel.label  # cp1252, decimal comma
    xml = _import(personas, "ofx2_xml.ofx", account)
    assert xml.imported == 2
    credit = BankStatementLine.objects.get(transaction_id="2026052000042")
    assert credit.amount == Decimal("1500.00") and "FA-2026-00004 & FA-2026-00005" in credit.label
    assert BankStatementLine.objects.get(transaction_id="2026052500043").partner_name == "ORANGE SA"


def test_csv_cp1252_with_decimal_commas_and_debit_credit_columns(personas, account):
    result = _import(personas, "bank_fr_cp1252.csv", account, layout=CSV_LAYOUT)
    assert (result.source_format, result.imported) == ("csv", 5)
    amounts = list(BankStatementLine.objects.order_by("position").values_list("amount", flat=True))
    assert amounts == [Decimal("1234.56"), Decimal("-87.40"), Decimal("-4.50"), Decimal("-4.50"), Decimal("-8.00")]
    assert BankStatementLine.objects.filter(label="PRLV EDF ÉLECTRICITÉ", reference="EDF-202606").exists()
    # Identical rows (two coffees) are two lines; importing the same rows again skips them.
    again = read("bank_fr_cp1252.csv") + b"11/06/2026;VIR RECU;;;10,00\r\n"
    second = statement_import(actor=personas.actor("finance"), data=again, bank_account_id=account.pk,
                              layout=CSV_LAYOUT)  # fmt: skip
    assert (second.imported, second.skipped) == (1, 5)


def test_csv_with_saved_mapping(personas, account):
    from comptoir.banking.accounts import csv_mapping_save

    mapping = csv_mapping_save(actor=personas.actor("finance"), bank_account_id=account.pk, name="CA",
                               **CSV_LAYOUT)  # fmt: skip
    result = _import(personas, "bank_fr_cp1252.csv", account, mapping_id=mapping.pk)
    assert result.imported == 5
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "bank_fr_cp1252.csv", account)
    assert exc.value.code == "csv_layout_required"


def test_same_file_twice_is_refused(personas, account):
    _import(personas, "camt053_v02.xml", account)
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "camt053_v02.xml", account)
    assert exc.value.code == "already_imported" and "Crédit Agricole" in exc.value.fields["file"][0]
    assert BankStatement.objects.count() == 1 and BankStatementLine.objects.count() == 3


def test_same_statement_id_in_another_file_is_refused(personas, account):
    _import(personas, "camt053_v02.xml", account)
    other_bytes = read("camt053_v02.xml").replace(b"CAMT053-20260331-0001", b"CAMT053-20260331-0002")
    with pytest.raises(ValidationFailed) as exc:
        statement_import(actor=personas.actor("finance"), data=other_bytes, bank_account_id=account.pk)
    assert exc.value.code == "already_imported" and "STMT-2026-03-001" in exc.value.message


def test_overlapping_statements_skip_known_transactions(personas, account):
    _import(personas, "ofx102_sgml.ofx", account)
    # A later export covering the same days again plus one new transaction.
    overlap = (
        read("ofx102_sgml.ofx")
        .replace(
            b"</BANKTRANLIST>",
            b"<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20260514<TRNAMT>10,00<FITID>OFX20260514001<NAME>NEW</STMTTRN>\r\n"
            b"</BANKTRANLIST>",
        )
        .replace(b"2106,75", b"2116,75")
    )
    result = statement_import(actor=personas.actor("finance"), data=overlap, bank_account_id=account.pk)
    assert (result.imported, result.skipped) == (1, 3)
    assert result.statements[0].skipped_count == 3 and result.warnings
    assert BankStatementLine.objects.filter(bank_account=account).count() == 4


def test_bad_rows_refuse_the_whole_file_with_one_message_per_row(personas, account):
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "bank_fr_bad_rows.csv", account, layout=CSV_LAYOUT | {"skip_lines": 0})
    assert exc.value.code == "bad_rows"
    assert set(exc.value.fields) == {"rows.3", "rows.4", "rows.5"}
    assert "31/06/2026" in exc.value.fields["rows.3"][0]
    assert BankStatement.objects.count() == 0 and BankStatementLine.objects.count() == 0


def test_layout_that_does_not_fit_the_file(personas, account):
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "bank_fr_cp1252.csv", account, layout=CSV_LAYOUT | {"label_column": "Wording"})
    assert "label_column" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "bank_fr_cp1252.csv", account, layout=CSV_LAYOUT | {"encoding": "utf-8"})
    assert exc.value.code == "bad_encoding"


def test_unbalanced_statement_is_refused(personas, account):
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "camt053_unbalanced.xml", account)
    assert exc.value.code == "unbalanced" and "1904.10" in exc.value.message and "1804.10" in exc.value.message
    assert not BankStatement.objects.exists()


def test_statement_for_another_account_is_refused(personas, account):
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "camt053_wrong_iban.xml", account)
    assert exc.value.code == "wrong_account" and "FR14 2004 1010" in exc.value.message
    other = make_account(personas, name="Autre", iban="FR7630004000031234567890143")
    with pytest.raises(ValidationFailed):
        _import(personas, "ofx102_sgml.ofx", other)  # RIB 30006 00001 12345678901 is not this account
    assert not BankStatement.objects.exists()


def test_account_found_by_iban_when_not_chosen(personas, account):
    result = _import(personas, "camt053_v02.xml")
    assert result.statements[0].bank_account_id == account.pk
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "camt053_wrong_iban.xml")
    assert exc.value.code == "wrong_account" and "FR14 2004 1010 0505 0001 3M02 606" in exc.value.message
    with pytest.raises(ValidationFailed):
        _import(personas, "ofx2_xml.ofx")  # OFX names no IBAN: the account must be chosen


def test_currency_must_match(personas, account):
    usd = make_account(personas, name="USD", iban=OTHER_IBAN, currency="USD")
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "camt053_wrong_iban.xml", usd)
    assert exc.value.code == "wrong_currency" and "EUR" in exc.value.message and "USD" in exc.value.message


@pytest.mark.parametrize(
    ("name", "code"),
    [("xxe.xml", "doctype_forbidden"), ("billion_laughs.xml", "doctype_forbidden"),
     ("truncated.xml", "malformed_xml"), ("not_a_statement.png", "unknown_format")],
)  # fmt: skip
def test_hostile_files_are_refused(personas, account, name, code):
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, name, account)
    assert exc.value.code == code
    assert not BankStatement.objects.exists()


def test_empty_and_oversized_files(personas, account):
    with pytest.raises(ValidationFailed) as exc:
        statement_import(actor=personas.actor("finance"), data=b"", bank_account_id=account.pk)
    assert exc.value.code == "empty"
    with pytest.raises(ValidationFailed) as exc:
        statement_import(actor=personas.actor("finance"), data=b"x" * (10 * 1024 * 1024 + 1),
                         bank_account_id=account.pk)  # fmt: skip
    assert exc.value.code == "too_large"


def test_permissions(personas, account):
    with pytest.raises(PermissionDenied):
        _import(personas, "camt053_v02.xml", account, role="management")
    with pytest.raises(NotFound):
        statement_import(actor=personas.outsider_actor(), data=read("camt053_v02.xml"), bank_account_id=account.pk)
    assert not BankStatement.objects.exists()


def test_archived_account_refuses_imports(personas, account):
    from comptoir.banking.accounts import bank_account_set_active

    bank_account_set_active(actor=personas.actor("finance"), bank_account_id=account.pk, active=False)
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "camt053_v02.xml", account)
    assert exc.value.code == "account_archived" and "Crédit Agricole" in exc.value.message


def test_preview_reads_without_writing(personas, account):
    preview = statement_preview(actor=personas.actor("finance"), data=read("bank_fr_cp1252.csv"),
                                bank_account_id=account.pk, layout=CSV_LAYOUT)  # fmt: skip
    assert preview.columns == ["Date", "Libellé", "Référence", "Débit", "Crédit"]
    assert len(preview.statements[0].lines) == 5
    assert not BankStatement.objects.exists()


@pytest.mark.parametrize(
    ("raw", "separator", "expected"),
    [("1 234,56", ",", "1234.56"), ("1.234,56", ",", "1234.56"), ("-0,5", ",", "-0.50"), ("12,50-", ",", "-12.50"),
     ("1,234.56", ".", "1234.56"), ("+7", ".", "7.00"), ("\u00a01\u202f000,00 €", ",", "1000.00")],
)  # fmt: skip
def test_parse_amount(raw, separator, expected):
    assert parse_amount(raw, decimal_separator=separator) == Decimal(expected)


@pytest.mark.parametrize("raw", ["abc", "1,234", "12.345", "", "1e5", "NaN"])
def test_parse_amount_refuses(raw):
    with pytest.raises(ValueError):
        parse_amount(raw, decimal_separator="." if raw != "1,234" else ",")


def test_detect_format():
    assert parsers.detect_format(read("camt053_v08.xml")) == "camt053"
    assert parsers.detect_format(read("ofx2_xml.ofx")) == "ofx"
    assert parsers.detect_format(read("bank_fr_cp1252.csv")) == "csv"


@pytest.mark.parametrize("version", ["02", "03", "04", "05", "06", "07", "08"])
def test_every_camt053_version_is_read(version):
    data = read("camt053_v02.xml").replace(b"camt.053.001.02", f"camt.053.001.{version}".encode())
    (statement,) = parsers.parse(data, parsers.detect_format(data))
    assert statement.reference == "STMT-2026-03-001" and len(statement.lines) == 3


@pytest.mark.parametrize(("old", "new"), [(b"camt.053.001.02", b"camt.053.001.09"),
                                          (b"camt.053.001.02", b"camt.052.001.02")])  # fmt: skip
def test_other_iso20022_messages_are_refused(old, new):
    data = read("camt053_v02.xml").replace(old, new)
    with pytest.raises(ValidationFailed) as exc:
        parsers.parse(data, "camt053")
    assert exc.value.code == "unsupported_camt"


def test_ofx_declaring_entities_is_refused(personas, account):
    with pytest.raises(ValidationFailed) as exc:
        _import(personas, "ofx_doctype.ofx", account)
    assert exc.value.code == "doctype_forbidden"


def test_csv_signed_amount_utf8_decimal_point(personas, account):
    data = "Booking date,Text,Amount,Id\n2026-06-01,Card café,-12.30,T1\n2026-06-02,Refund,1250.00,T2\n".encode()
    layout = {"date_column": "1", "label_column": "Text", "amount_column": "3", "transaction_id_column": "Id",
              "delimiter": ",", "encoding": "utf-8", "decimal_separator": ".", "date_format": "%Y-%m-%d"}  # fmt: skip
    result = statement_import(actor=personas.actor("finance"), data=data, bank_account_id=account.pk, layout=layout)
    assert result.imported == 2
    lines = {line.transaction_id: line.amount for line in BankStatementLine.objects.all()}
    assert lines == {"T1": Decimal("-12.30"), "T2": Decimal("1250.00")}


def test_camt_batch_entry_is_one_line_with_the_booked_amount():
    batch = (b"<NtryDtls><TxDtls><RmtInf><Ustrd>A</Ustrd></RmtInf></TxDtls>"
             b"<TxDtls><RmtInf><Ustrd>B</Ustrd></RmtInf></TxDtls></NtryDtls><AddtlNtryInf>FRAIS TENUE")  # fmt: skip
    data = read("camt053_v02.xml").replace(b"<AddtlNtryInf>FRAIS TENUE", batch)
    (statement,) = parsers.parse(data, "camt053")
    fees = statement.lines[1]
    assert fees.amount == Decimal("-45.90") and fees.label.startswith("FRAIS TENUE") and "(2 " in fees.label

"""Helpers of the bank account and statement import tests."""

from __future__ import annotations

from pathlib import Path

from comptoir.banking.accounts import bank_account_create
from comptoir.banking.models import BankAccount
from comptoir.org.testing import Personas, enable_modules

FILES = Path(__file__).parent / "files"
IBAN = "FR7630006000011234567890189"
OTHER_IBAN = "FR1420041010050500013M02606"
CSV_LAYOUT = {
    "date_column": "Date", "label_column": "Libellé", "reference_column": "Référence", "debit_column": "Débit",
    "credit_column": "Crédit", "delimiter": ";", "encoding": "cp1252", "decimal_separator": ",",
    "date_format": "%d/%m/%Y", "skip_lines": 1,
}  # fmt: skip


def read(name: str) -> bytes:
    return (FILES / name).read_bytes()


def setup_banking(personas: Personas) -> None:
    enable_modules(personas, "contacts", "accounting", "banking")


def make_account(personas: Personas, **extra: object) -> BankAccount:
    data = {"name": "Crédit Agricole", "iban": IBAN, "bic": "AGRIFRPPXXX"} | extra
    return bank_account_create(actor=personas.actor("finance"), **data)

"""Bank accounts, statements and their lines (reconciliation rules: models_rules).

A ``BankAccount`` is tied to its bank journal (BQ…) and its 512 ledger account. Imported
files become ``BankStatement`` rows (one per statement of the file; the same file, or the
same statement id, twice for one account is refused) holding ``BankStatementLine`` rows
with signed amounts (positive = money in). A line's ``transaction_id`` (the bank's own id,
when the file gives one) is unique per account, so overlapping statements never duplicate
lines. Amounts are ``MoneyField`` (integer cents): sums are exact on both databases.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.models import Account, Journal, JournalEntry
from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField
from comptoir.org.models import Company, Site


def format_iban(iban: str) -> str:
    """An IBAN grouped by 4 characters for display: ``FR76 3000 6000 …``."""
    compact = (iban or "").replace(" ", "")
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


class BankAccount(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    # Stored compact and upper case (FR7630006000011234567890189); shown grouped by 4.
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    bank_name = models.CharField(_("bank"), max_length=100, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="+", verbose_name=_("journal"))
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("ledger account"))
    active = models.BooleanField(_("active"), default=True)
    # The establishment the account belongs to: payments and entries of its reconciliation
    # carry it, unless the invoice they settle has a site of its own.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("site"))  # fmt: skip

    class Meta:
        verbose_name = _("bank account")
        verbose_name_plural = _("bank accounts")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="banking_account_unique_name"),
            models.UniqueConstraint(
                fields=["company", "iban"], condition=~models.Q(iban=""), name="banking_account_unique_iban"
            ),
            models.UniqueConstraint(fields=["journal"], name="banking_account_unique_journal"),
        ]
        indexes = [models.Index(fields=["company", "active", "name"], name="banking_account_list")]

    def __str__(self) -> str:
        return self.name

    @property
    def iban_display(self) -> str:
        return format_iban(self.iban)


class CsvDecimal(models.TextChoices):
    COMMA = ",", _("Comma (1 234,56)")
    POINT = ".", _("Point (1,234.56)")


class CsvMapping(ComptoirModel):
    """A saved CSV layout for one bank account's exports (the bank's own columns)."""

    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.CASCADE, related_name="csv_mappings", verbose_name=_("bank account")
    )
    name = models.CharField(_("name"), max_length=100)
    delimiter = models.CharField(_("delimiter"), max_length=1, default=";")
    encoding = models.CharField(_("encoding"), max_length=20, default="cp1252")
    decimal_separator = models.CharField(
        _("decimal separator"), max_length=1, choices=CsvDecimal.choices, default=CsvDecimal.COMMA
    )
    date_format = models.CharField(_("date format"), max_length=20, default="%d/%m/%Y")
    # Lines to skip before the header row (bank banners, account summary).
    skip_lines = models.PositiveSmallIntegerField(_("lines to skip"), default=0)
    # Column names (header text) or 1-based positions; amount OR debit + credit.
    date_column = models.CharField(_("date column"), max_length=100)
    value_date_column = models.CharField(_("value date column"), max_length=100, blank=True)
    amount_column = models.CharField(_("amount column"), max_length=100, blank=True)
    debit_column = models.CharField(_("debit column"), max_length=100, blank=True)
    credit_column = models.CharField(_("credit column"), max_length=100, blank=True)
    label_column = models.CharField(_("label column"), max_length=100)
    reference_column = models.CharField(_("reference column"), max_length=100, blank=True)
    partner_column = models.CharField(_("counterparty column"), max_length=100, blank=True)
    transaction_id_column = models.CharField(_("transaction id column"), max_length=100, blank=True)
    # Debit column holds positive numbers to subtract (most French banks) or signed ones.
    debit_positive = models.BooleanField(_("debits are written as positive numbers"), default=True)

    class Meta:
        verbose_name = _("CSV mapping")
        verbose_name_plural = _("CSV mappings")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bank_account", "name"], name="banking_csvmapping_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class StatementFormat(models.TextChoices):
    CAMT053 = "camt053", _("CAMT.053 (ISO 20022)")
    OFX = "ofx", _("OFX")
    CSV = "csv", _("CSV")


class BankStatement(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.PROTECT, related_name="statements", verbose_name=_("bank account")
    )
    # The statement id given by the file (CAMT Stmt/Id, OFX has none), empty otherwise.
    reference = models.CharField(_("reference"), max_length=140, blank=True)
    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"))
    opening_balance = MoneyField(_("opening balance"), null=True, blank=True)
    closing_balance = MoneyField(_("closing balance"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    # SHA-256 of the imported bytes, plus the statement's index in a multi-statement file.
    file_sha256 = models.CharField(_("file SHA-256"), max_length=80)
    source_format = models.CharField(_("format"), max_length=10, choices=StatementFormat.choices)
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("imported by"),
    )  # fmt: skip
    line_count = models.PositiveIntegerField(_("lines imported"), default=0)
    skipped_count = models.PositiveIntegerField(_("lines skipped as duplicates"), default=0)
    # Non-blocking remarks made at import (list of strings).
    warnings = models.JSONField(_("warnings"), default=list, blank=True)

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        ordering = ["-date_to", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["bank_account", "file_sha256"], name="banking_statement_unique_file"),
            models.UniqueConstraint(
                fields=["bank_account", "reference"], condition=~models.Q(reference=""),
                name="banking_statement_unique_reference",
            ),
            models.CheckConstraint(
                condition=models.Q(date_to__gte=models.F("date_from")), name="banking_statement_period_order"
            ),
        ]  # fmt: skip
        indexes = [models.Index(fields=["bank_account", "date_to", "id"], name="banking_statement_list")]

    def __str__(self) -> str:
        return self.reference or f"{self.date_from} – {self.date_to}"


class LineState(models.TextChoices):
    OPEN = "open", _("To reconcile")
    RECONCILED = "reconciled", _("Reconciled")
    IGNORED = "ignored", _("Ignored")


class BankStatementLine(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="lines")
    # Denormalized from the statement: reconciliation lists filter on (account, state).
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField(_("position"), default=0)
    booking_date = models.DateField(_("booking date"))
    value_date = models.DateField(_("value date"), null=True, blank=True)
    # Signed: positive = money received, negative = money paid out.
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    label = models.CharField(_("label"), max_length=500)
    # Remittance information / end-to-end id / cheque number.
    reference = models.CharField(_("reference"), max_length=500, blank=True)
    partner_name = models.CharField(_("counterparty"), max_length=200, blank=True)
    partner_iban = models.CharField(_("counterparty IBAN"), max_length=34, blank=True)
    # The bank's transaction code (CAMT BkTxCd, OFX TRNTYPE), informative.
    bank_code = models.CharField(_("bank code"), max_length=40, blank=True)
    # The bank's unique id of the transaction, when the file gives one.
    transaction_id = models.CharField(_("transaction id"), max_length=140, blank=True)
    state = models.CharField(_("state"), max_length=12, choices=LineState.choices, default=LineState.OPEN)
    reconciled_at = models.DateTimeField(_("reconciled at"), null=True, blank=True)
    journal_entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("journal entry"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["booking_date", "statement_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bank_account", "transaction_id"], condition=~models.Q(transaction_id=""),
                name="banking_line_unique_transaction",
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["bank_account", "state", "booking_date", "id"], name="banking_line_state"),
            models.Index(fields=["statement", "position"], name="banking_line_statement"),
            models.Index(fields=["company", "state", "booking_date"], name="banking_line_company_state"),
        ]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.label} {self.amount}"


from comptoir.banking.models_rules import *  # noqa: E402, F403  (reconciliation rules)

"""The general ledger: chart of accounts, partner accounts, journals, fiscal years, entries.

Every row belongs to a company. Amounts are ``MoneyField`` (integer cents), so the trial
balance is an exact SQL sum on both databases. A posted entry is frozen: its content is
covered by a SHA-256 hash chained to the previous posted entry of the company
(docs/decisions/0008-ledger-hash-chain.md); services never change it, the models refuse
to save or delete it, and on PostgreSQL a trigger refuses UPDATE/DELETE too.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from comptoir.contacts.models import Organization
from comptoir.kernel.errors import Conflict
from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField
from comptoir.org.models import Company


class AccountType(models.TextChoices):
    RECEIVABLE = "receivable", _("Receivable")
    PAYABLE = "payable", _("Payable")
    BANK = "bank", _("Bank")
    CASH = "cash", _("Cash")
    INCOME = "income", _("Income")
    EXPENSE = "expense", _("Expense")
    TAX = "tax", _("Tax")
    EQUITY = "equity", _("Equity")
    OTHER = "other", _("Other")


ACCOUNT_CLASSES: dict[str, Any] = {
    "1": _("Equity and long-term financing"),
    "2": _("Fixed assets"),
    "3": _("Inventories"),
    "4": _("Third parties"),
    "5": _("Financial accounts"),
    "6": _("Expenses"),
    "7": _("Income"),
    "8": _("Special accounts"),
}


class Account(ComptoirModel):
    """A general-ledger account of the PCG: digits, the first one is its class."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(_("number"), max_length=20)
    name = models.CharField(_("name"), max_length=200)
    type = models.CharField(_("type"), max_length=20, choices=AccountType.choices, default=AccountType.OTHER)
    reconcilable = models.BooleanField(
        _("reconcilable"), default=False, help_text=_("Lines are matched (lettered) against each other.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["code", "id"]
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="accounting_account_unique_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def account_class(self) -> str:
        return self.code[:1]

    @property
    def class_label(self) -> Any:
        return ACCOUNT_CLASSES.get(self.account_class, "")


class PartnerKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    SUPPLIER = "supplier", _("Supplier")


class PartnerAccount(ComptoirModel):
    """An auxiliary (sub-ledger) account: one customer or supplier under its collective account."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=PartnerKind.choices)
    code = models.CharField(_("code"), max_length=20)
    label = models.CharField(_("label"), max_length=200)
    # The collective account the partner's lines are booked on (411 or 401 usually).
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("account"))

    class Meta:
        verbose_name = _("partner account")
        verbose_name_plural = _("partner accounts")
        ordering = ["code", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="accounting_partner_unique_code"),
            models.UniqueConstraint(fields=["organization", "kind"], name="accounting_partner_unique_org_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class JournalKind(models.TextChoices):
    SALE = "sale", _("Sales")
    PURCHASE = "purchase", _("Purchases")
    BANK = "bank", _("Bank")
    CASH = "cash", _("Cash")
    GENERAL = "general", _("Miscellaneous operations")
    OPENING = "opening", _("Opening balances")


class Journal(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(_("code"), max_length=10)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=JournalKind.choices)
    default_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("default account")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("journal")
        verbose_name_plural = _("journals")
        ordering = ["code", "id"]
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="accounting_journal_unique_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class FiscalYearState(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class FiscalYear(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=40)
    start_date = models.DateField(_("start"))
    end_date = models.DateField(_("end"))
    state = models.CharField(_("state"), max_length=10, choices=FiscalYearState.choices, default=FiscalYearState.OPEN)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("fiscal year")
        verbose_name_plural = _("fiscal years")
        ordering = ["start_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "start_date"], name="accounting_fiscal_year_unique_start"),
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")), name="accounting_fiscal_year_order"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AccountingSettings(ComptoirModel):
    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="+")
    # No entry, posted or draft, may be dated on or before this date. It only moves forward.
    lock_date = models.DateField(_("lock date"), null=True, blank=True)

    class Meta:
        verbose_name = _("accounting settings")

    def __str__(self) -> str:
        return f"Accounting settings ({self.company_id})"


class EntryState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    POSTED = "posted", _("Posted")


class FrozenWhenPosted(ComptoirModel):
    """Refuses ``save()`` and ``delete()`` of a row that was posted when it was loaded.

    Services post with a single UPDATE of draft rows; nothing in the application saves a
    posted row. This guard catches a bug early; the PostgreSQL trigger catches raw SQL.
    """

    class Meta:
        abstract = True

    _loaded_posted = False

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> Any:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._loaded_posted = instance.is_frozen()
        return instance

    def is_frozen(self) -> bool:
        raise NotImplementedError

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._loaded_posted:
            raise Conflict("entry_posted", _("A posted entry cannot be changed; reverse it instead."))
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if self._loaded_posted:
            raise Conflict("entry_posted", _("A posted entry cannot be deleted; reverse it instead."))
        return super().delete(*args, **kwargs)


class JournalEntry(FrozenWhenPosted):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="+", verbose_name=_("journal"))
    date = models.DateField(_("date"))
    ref = models.CharField(_("reference"), max_length=100, blank=True)
    label = models.CharField(_("label"), max_length=200)
    state = models.CharField(_("state"), max_length=10, choices=EntryState.choices, default=EntryState.DRAFT)
    # Sum of the debits (= sum of the credits once balanced), kept for lists.
    total = MoneyField(_("total"), default=0)
    # Display number per journal and fiscal year (VT-2026-00001), assigned at posting.
    number = models.CharField(_("number"), max_length=100, blank=True)
    fiscal_year = models.ForeignKey(FiscalYear, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Company-wide continuous posting order (1, 2, 3…): the order of the hash chain.
    chain_number = models.PositiveBigIntegerField(_("posting number"), null=True, blank=True)
    previous_hash = models.CharField(max_length=64, blank=True)
    lines_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip
    reversal_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals", verbose_name=_("reverses")
    )
    # The document the entry was generated from (an invoice, a payment…), if any.
    source_type = models.CharField(max_length=100, blank=True)
    source_id = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["-date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "chain_number"], name="accounting_entry_unique_chain",
                condition=models.Q(chain_number__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["company", "number"], name="accounting_entry_unique_number", condition=~models.Q(number=""),
            ),
            models.UniqueConstraint(
                fields=["reversal_of"], name="accounting_entry_reversed_once",
                condition=models.Q(reversal_of__isnull=False),
            ),
            models.CheckConstraint(
                condition=models.Q(state="draft", chain_number__isnull=True)
                | models.Q(state="posted", chain_number__isnull=False),
                name="accounting_entry_posted_has_chain",
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["company", "date", "id"], name="accounting_entry_company_date"),
            models.Index(fields=["company", "journal", "date"], name="accounting_entry_journal_date"),
            models.Index(fields=["company", "state", "date"], name="accounting_entry_state_date"),
            models.Index(fields=["source_type", "source_id"], name="accounting_entry_source"),
        ]

    def __str__(self) -> str:
        return self.number or str(_("Draft entry %(id)s") % {"id": self.pk})

    def is_frozen(self) -> bool:
        # Read from the loaded values only: a deferred column must not trigger a query here.
        return self.__dict__.get("state") == EntryState.POSTED

    @property
    def is_posted(self) -> bool:
        return self.state == EntryState.POSTED


class JournalLine(FrozenWhenPosted):
    entry = models.ForeignKey(JournalEntry, on_delete=models.CASCADE, related_name="lines")
    # Lines are read through the ledger index, which starts with the company: no index of its own.
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+", db_index=False)
    sequence = models.PositiveSmallIntegerField(default=0)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("account"))
    partner_account = models.ForeignKey(PartnerAccount, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+", verbose_name=_("partner account"))  # fmt: skip
    label = models.CharField(_("label"), max_length=200, blank=True)
    debit = MoneyField(_("debit"), default=0)
    credit = MoneyField(_("credit"), default=0)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    # Matching (lettrage) of receivable/payable lines, written by the payments module; the
    # only columns that may change on a posted line.
    matching_code = models.CharField(_("matching code"), max_length=10, blank=True)
    matched_at = models.DateField(_("matched on"), null=True, blank=True)
    # Copies of the entry's date, journal and state so the trial balance and the general
    # ledger read the lines alone, from one index (decision 0008).
    date = models.DateField()
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="+", db_index=False)
    is_posted = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        ordering = ["entry", "sequence", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(debit__gte=0), name="accounting_line_debit_positive"),
            models.CheckConstraint(condition=models.Q(credit__gte=0), name="accounting_line_credit_positive"),
            models.CheckConstraint(
                condition=models.Q(debit=0) | models.Q(credit=0), name="accounting_line_debit_or_credit"
            ),
        ]
        indexes = [
            # Trial balance and general ledger: posted lines of one account over a date range,
            # amounts included so PostgreSQL answers from the index alone.
            models.Index(
                fields=["company", "account", "date", "entry"], name="accounting_line_ledger",
                include=["debit", "credit"], condition=models.Q(is_posted=True),
            ),
            models.Index(
                fields=["company", "partner_account", "date"], name="accounting_line_partner",
                include=["debit", "credit"], condition=models.Q(is_posted=True, partner_account__isnull=False),
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.label} {self.debit}/{self.credit}"

    def is_frozen(self) -> bool:
        return self.__dict__.get("is_posted") is True

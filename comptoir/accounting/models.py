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
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from comptoir.accounting.vat import FiscalPosition, VatCategory
from comptoir.catalog.models import Product
from comptoir.contacts.models import Organization
from comptoir.kernel.errors import Conflict
from comptoir.kernel.models import ComptoirModel
from comptoir.kernel.money import MoneyField, QuantityField, ScaledIntegerField
from comptoir.org.models import Company, Site


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
    OPEN = "open", pgettext_lazy("fiscal year state", "Open")
    CLOSED = "closed", pgettext_lazy("fiscal year state", "Closed")


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
    POSTED = "posted", pgettext_lazy("entry state", "Posted")


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
    # The establishment the entry belongs to (analytic dimension of the reports); the lines
    # take it unless they name their own. Empty: the company as a whole.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("site"))  # fmt: skip

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
    # Multi-currency (currency.py): the line's amount in the document's foreign currency,
    # signed (debit positive), and its ISO 4217 code; empty for lines in the company currency.
    amount_currency = MoneyField(_("amount in currency"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True, default="")
    # Matching (lettrage) of receivable/payable lines, written by the payments module; the
    # only columns that may change on a posted line.
    matching_code = models.CharField(_("matching code"), max_length=10, blank=True)
    matched_at = models.DateField(_("matched on"), null=True, blank=True)
    # Copies of the entry's date, journal and state so the trial balance and the general
    # ledger read the lines alone, from one index (decision 0008).
    date = models.DateField()
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="+", db_index=False)
    is_posted = models.BooleanField(default=False)
    # Site of the line (reports filter on it); read through the reports' own indexes.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             db_index=False, verbose_name=_("site"))  # fmt: skip

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
            # Reports filtered by site (statements, VAT return, trial balance, ledger): one
            # site's posted lines by account and date, amounts included (index-only); the
            # entry too, for the VAT return's settlement exclusion and the ledger's order.
            models.Index(
                fields=["company", "site", "account", "date", "entry"], name="accounting_line_site",
                include=["debit", "credit"], condition=models.Q(is_posted=True, site__isnull=False),
            ),
            # Aged balance: the partner lines open today (no matching code or a partial,
            # lower-case one), with all the report reads; and the fully matched ones by
            # matching date (those matched after the report's date are still open on it).
            models.Index(
                fields=["company", "partner_account", "date"], name="accounting_line_open",
                include=["due_date", "site", "debit", "credit"],
                condition=models.Q(is_posted=True, partner_account__isnull=False)
                & models.Q(matching_code=Lower("matching_code")),
            ),
            models.Index(
                fields=["company", "matched_at"], name="accounting_line_settled",
                condition=models.Q(is_posted=True, partner_account__isnull=False)
                & ~models.Q(matching_code=Lower("matching_code")),
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.label} {self.debit}/{self.credit}"

    def is_frozen(self) -> bool:
        return self.__dict__.get("is_posted") is True


# --- Invoices, credit notes, vendor bills and refunds ---------------------------------
#
# An invoice is a draft until posted. Posting assigns its legal number (gapless, per kind,
# from kernel.sequences), books its journal entry and stores its Factur-X PDF: from then on
# the invoice's content never changes (only its payment state and residual, which the
# payments module moves). Corrections are credit notes that cite the invoice.


VAT_FISCAL_POSITIONS = [
    (FiscalPosition.FRANCE.value, _("France")),
    (FiscalPosition.EU_BUSINESS.value, _("EU business (with VAT number)")),
    (FiscalPosition.EU_CONSUMER.value, _("EU consumer")),
    (FiscalPosition.NON_EU.value, _("Outside the EU")),
    (FiscalPosition.FRANCE_REVERSE_CHARGE.value, _("France, reverse charge (sub-contracting)")),
]
VAT_CATEGORIES = [
    (VatCategory.STANDARD.value, _("Standard rate (20 %)")),
    (VatCategory.INTERMEDIATE.value, _("Intermediate rate (10 %)")),
    (VatCategory.REDUCED.value, _("Reduced rate (5.5 %)")),
    (VatCategory.SUPER_REDUCED.value, _("Super-reduced rate (2.1 %)")),
    (VatCategory.EXEMPT_CARE_EDUCATION.value, _("Exempt: care, education, training (CGI 261-4)")),
    (VatCategory.EXEMPT_FINANCE.value, _("Exempt: banking and finance (CGI 261 C 1°)")),
    (VatCategory.EXEMPT_INSURANCE.value, _("Exempt: insurance (CGI 261 C 2°)")),
    (VatCategory.OUT_OF_SCOPE.value, _("Out of scope of VAT")),
]


class PaymentTerm(ComptoirModel):
    """Payment conditions ("30 days", "45 days end of month", "30 % at order, 70 % at 30 days")."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    # Printed on the invoice as the payment terms (BT-20); the name when empty.
    note = models.CharField(_("text on the invoice"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("payment term")
        verbose_name_plural = _("payment terms")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="accounting_payment_term_unique_name")]

    def __str__(self) -> str:
        return self.name


class PaymentTermLineKind(models.TextChoices):
    PERCENT = "percent", _("Percentage")
    BALANCE = "balance", _("Balance")


class PaymentTermLine(ComptoirModel):
    """One installment: a percentage of the total (or the balance) due ``days`` after the
    issue date, then moved to the end of that month when ``end_of_month`` is set."""

    term = models.ForeignKey(PaymentTerm, on_delete=models.CASCADE, related_name="lines")
    sequence = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=PaymentTermLineKind.choices,
                            default=PaymentTermLineKind.BALANCE)  # fmt: skip
    percent = ScaledIntegerField(_("percentage"), places=4, default=0)
    days = models.PositiveSmallIntegerField(_("days"), default=0)
    end_of_month = models.BooleanField(_("end of month"), default=False)

    class Meta:
        verbose_name = _("payment term line")
        verbose_name_plural = _("payment term lines")
        ordering = ["term", "sequence", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percent__gte=0, percent__lte=100), name="accounting_term_line_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term_id}/{self.sequence}"


class PartnerProfile(ComptoirModel):
    """How the company invoices an organization (or is invoiced by it): VAT position,
    payment terms, language. One per company and organization, created on first use."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    fiscal_position = models.CharField(_("fiscal position"), max_length=30, choices=VAT_FISCAL_POSITIONS,
                                       default="france")  # fmt: skip
    payment_term = models.ForeignKey(
        PaymentTerm, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("customer payment term"),
    )  # fmt: skip
    supplier_payment_term = models.ForeignKey(
        PaymentTerm, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("supplier payment term"),
    )  # fmt: skip
    language = models.CharField(_("invoice language"), max_length=5, choices=settings.LANGUAGES, default="fr")
    invoice_email = models.EmailField(_("invoice email"), blank=True)
    # The supplier opted for VAT on debits (printed on its bills): its services' VAT is
    # deductible on receipt of the bill, not at payment.
    supplier_vat_on_debits = models.BooleanField(_("supplier pays VAT on debits"), default=False)

    class Meta:
        verbose_name = _("partner profile")
        verbose_name_plural = _("partner profiles")
        constraints = [
            models.UniqueConstraint(fields=["company", "organization"], name="accounting_partner_profile_unique"),
        ]

    def __str__(self) -> str:
        return f"Profile {self.organization_id}"


class InvoicingSettings(ComptoirModel):
    """The company's invoicing options and the mentions every invoice prints."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="+")
    # The company opted for VAT on debits for its services (printed on each invoice).
    vat_on_debits = models.BooleanField(_("VAT on debits"), default=False)
    # Franchise en base (CGI art. 293 B): no VAT charged, none deducted.
    vat_franchise = models.BooleanField(_("VAT franchise (art. 293 B)"), default=False)
    # Annual late-payment penalty rate in percent; empty prints the legal default.
    late_payment_rate = ScaledIntegerField(_("late payment rate (%)"), places=2, null=True, blank=True)
    early_payment_discount = models.CharField(_("early payment discount"), max_length=200, blank=True)
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    default_payment_term = models.ForeignKey(
        PaymentTerm, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("default payment term"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("invoicing settings")

    def __str__(self) -> str:
        return f"Invoicing settings ({self.company_id})"


class InvoiceKind(models.TextChoices):
    CUSTOMER_INVOICE = "customer_invoice", _("Customer invoice")
    CUSTOMER_CREDIT_NOTE = "customer_credit_note", _("Customer credit note")
    VENDOR_BILL = "vendor_bill", _("Vendor bill")
    VENDOR_REFUND = "vendor_refund", _("Vendor refund")


class InvoiceState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    POSTED = "posted", pgettext_lazy("invoice state", "Posted")
    PARTIALLY_PAID = "partially_paid", _("Partially paid")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", pgettext_lazy("invoice state", "Cancelled")


class OperationCategory(models.TextChoices):
    """The 2026 mention: goods only, services only, or both."""

    GOODS = "goods", _("Goods")
    SERVICES = "services", _("Services")
    MIXED = "mixed", _("Goods and services")


class LineOperation(models.TextChoices):
    GOODS = "goods", _("Goods")
    SERVICES = "services", _("Services")


class Invoice(ComptoirModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=25, choices=InvoiceKind.choices)
    state = models.CharField(_("state"), max_length=15, choices=InvoiceState.choices, default=InvoiceState.DRAFT)
    # The legal number, assigned at posting (empty on drafts). Vendor bills get an internal
    # number too; the supplier's own number is ``supplier_reference``.
    number = models.CharField(_("number"), max_length=40, blank=True)
    supplier_reference = models.CharField(_("supplier's number"), max_length=100, blank=True)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("partner"))  # fmt: skip
    partner_account = models.ForeignKey(PartnerAccount, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+", verbose_name=_("partner account"))  # fmt: skip
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    delivery_date = models.DateField(_("delivery date"), null=True, blank=True)
    # The last due date of the schedule (each installment is an InvoiceInstallment).
    due_date = models.DateField(_("due date"), null=True, blank=True)
    payment_term = models.ForeignKey(PaymentTerm, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("payment term"))  # fmt: skip
    payment_terms_text = models.CharField(_("payment terms"), max_length=300, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    operation_category = models.CharField(_("category of operation"), max_length=10,
                                          choices=OperationCategory.choices, blank=True)  # fmt: skip
    fiscal_position = models.CharField(_("fiscal position"), max_length=30, choices=VAT_FISCAL_POSITIONS,
                                       default="france")  # fmt: skip
    vat_on_debits = models.BooleanField(_("VAT on debits"), default=False)
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES, default="fr")
    purchase_order = models.CharField(_("buyer's order number"), max_length=100, blank=True)
    note = models.TextField(_("note"), blank=True)
    # Snapshot of the partner's identity, taken when the draft is saved and frozen at posting.
    partner_name = models.CharField(_("name"), max_length=200, blank=True)
    partner_siren = models.CharField(_("SIREN"), max_length=9, blank=True)
    partner_siret = models.CharField(_("SIRET"), max_length=14, blank=True)
    partner_vat_number = models.CharField(_("VAT number"), max_length=20, blank=True)
    # {"line1", "line2", "postal_code", "city", "country"}
    billing_address = models.JSONField(_("billing address"), default=dict, blank=True)
    delivery_address = models.JSONField(_("delivery address"), default=dict, blank=True)
    # A credit note (or refund) cites the invoice (or bill) it corrects.
    origin = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_notes",
                               verbose_name=_("corrected invoice"))  # fmt: skip
    journal_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+", verbose_name=_("journal entry"))  # fmt: skip
    untaxed_amount = MoneyField(_("total excluding VAT"), default=0)
    tax_amount = MoneyField(_("VAT"), default=0)
    total_amount = MoneyField(_("total including VAT"), default=0)
    # What is left to pay (moved by the payments module); the total at posting.
    residual_amount = MoneyField(_("amount due"), default=0)
    # Warnings of a received e-invoice (vendor bills captured from a file), as [{code, message}].
    import_warnings = models.JSONField(default=list, blank=True)
    # The document the invoice was made from (a sales order…), if any.
    source_type = models.CharField(max_length=100, blank=True)
    source_id = models.CharField(max_length=64, blank=True)
    # The establishment that issues or receives the invoice; its journal entry carries it.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("site"))  # fmt: skip
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")  # fmt: skip
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    sent_to = models.CharField(_("sent to"), max_length=254, blank=True)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "kind", "number"], name="accounting_invoice_unique_number",
                condition=~models.Q(number=""),
            ),
            models.CheckConstraint(
                condition=models.Q(state="draft") | models.Q(state="cancelled") | ~models.Q(number=""),
                name="accounting_invoice_posted_has_number",
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["company", "kind", "state", "issue_date"], name="accounting_invoice_list"),
            models.Index(fields=["company", "organization", "issue_date"], name="accounting_invoice_partner"),
            models.Index(fields=["company", "due_date"], name="accounting_invoice_due",
                         condition=models.Q(state__in=["posted", "partially_paid"])),
            models.Index(fields=["source_type", "source_id"], name="accounting_invoice_source"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.number or str(_("Draft %(id)s") % {"id": self.pk})

    @property
    def is_draft(self) -> bool:
        return self.state == InvoiceState.DRAFT

    @property
    def is_customer(self) -> bool:
        return self.kind in (InvoiceKind.CUSTOMER_INVOICE, InvoiceKind.CUSTOMER_CREDIT_NOTE)

    @property
    def is_refund(self) -> bool:
        return self.kind in (InvoiceKind.CUSTOMER_CREDIT_NOTE, InvoiceKind.VENDOR_REFUND)


class InvoiceLine(ComptoirModel):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    sequence = models.PositiveSmallIntegerField(default=0)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("product"))  # fmt: skip
    name = models.CharField(_("designation"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    operation = models.CharField(_("goods or services"), max_length=10, choices=LineOperation.choices,
                                 default=LineOperation.GOODS)  # fmt: skip
    quantity = QuantityField(_("quantity"), default=1)
    uom_code = models.CharField(_("unit"), max_length=3, default="C62")
    # Excluding VAT, up to 4 decimals (EN 16931 allows more than 2 on prices).
    unit_price = ScaledIntegerField(_("unit price"), places=4, default=0)
    discount_percent = ScaledIntegerField(_("discount (%)"), places=2, default=0)
    vat_category = models.CharField(_("VAT category"), max_length=20, choices=VAT_CATEGORIES, default="standard")
    # Decided from the category, the invoice's fiscal position and the operation (vat.decide).
    vat_code = models.CharField(_("VAT code"), max_length=2, blank=True)
    vat_rate = ScaledIntegerField(_("VAT rate (%)"), places=2, default=0)
    # Revenue or expense account; empty: the one VAT rules give (706/707, 604/607).
    account = models.ForeignKey(Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("account"))  # fmt: skip
    net_amount = MoneyField(_("net amount"), default=0)

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "sequence", "id"]

    def __str__(self) -> str:
        return self.name


class InvoiceTax(ComptoirModel):
    """One line of the VAT breakdown: a category and rate, its base and its tax (EN 16931 BG-23)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="taxes")
    vat_code = models.CharField(_("VAT code"), max_length=2)
    rate = ScaledIntegerField(_("rate (%)"), places=2, default=0)
    base = MoneyField(_("base"), default=0)
    amount = MoneyField(_("VAT"), default=0)
    exemption_reason = models.CharField(_("exemption reason"), max_length=300, blank=True)
    exemption_code = models.CharField(max_length=30, blank=True)
    # Self-assessed VAT on a purchase (reverse charge): booked on both 4452 and 445662.
    self_assessed = MoneyField(_("self-assessed VAT"), default=0)

    class Meta:
        verbose_name = _("invoice tax")
        verbose_name_plural = _("invoice taxes")
        ordering = ["invoice", "id"]

    def __str__(self) -> str:
        return f"{self.vat_code} {self.rate} %"


class InvoiceInstallment(ComptoirModel):
    """One due date of the invoice's schedule, from its payment term."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="installments")
    sequence = models.PositiveSmallIntegerField(default=0)
    due_date = models.DateField(_("due date"))
    amount = MoneyField(_("amount"), default=0)

    class Meta:
        verbose_name = _("installment")
        verbose_name_plural = _("installments")
        ordering = ["invoice", "sequence", "id"]

    def __str__(self) -> str:
        return f"{self.due_date} {self.amount}"


class InvoiceFileRole(models.TextChoices):
    ISSUED = "issued", _("Issued Factur-X")
    RECEIVED = "received", _("Received e-invoice")


class InvoiceFile(ComptoirModel):
    """The legal document as issued (our Factur-X PDF) or as received (the supplier's file),
    kept byte for byte with its SHA-256. Written once, never changed."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="files")
    role = models.CharField(max_length=10, choices=InvoiceFileRole.choices)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    data = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("invoice file")
        verbose_name_plural = _("invoice files")
        constraints = [models.UniqueConstraint(fields=["invoice", "role"], name="accounting_invoice_file_unique")]

    def __str__(self) -> str:
        return self.filename


from comptoir.accounting.models_credit import *  # noqa: E402, F403  (credit notes allocated to invoices)
from comptoir.accounting.models_currency import *  # noqa: E402, F403  (exchange rates)
from comptoir.accounting.models_dunning import *  # noqa: E402, F403  (dunning levels and notices)
from comptoir.accounting.models_payments import *  # noqa: E402, F403  (payments and matchings)

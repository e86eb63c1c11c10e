"""Banking forms: they parse input into types; the services decide what is valid."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.forms import set_site_choices, site_field
from comptoir.banking.models import CsvDecimal
from comptoir.banking.parsers.csv import DATE_FORMATS, ENCODINGS
from comptoir.org.forms import BootstrapForm


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class BankAccountForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("e.g. Crédit Agricole current account"))
    iban = forms.CharField(label=_("IBAN"), max_length=50, required=False, help_text=_("Spaces are allowed."))
    bic = forms.CharField(label=_("BIC"), max_length=20, required=False)
    bank_name = forms.CharField(label=_("Bank"), max_length=100, required=False)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="EUR")
    journal_id = forms.TypedChoiceField(label=_("Bank journal"), required=False, coerce=_optional_id,
                                        empty_value=None)  # fmt: skip
    account_id = forms.TypedChoiceField(label=_("Ledger account"), required=False, coerce=_optional_id,
                                        empty_value=None)  # fmt: skip
    site_id = site_field(help_text=_("Its payments and entries carry it, unless the invoice settled has its own."))

    def __init__(self, *args: Any, journals: list[tuple[int, str]], accounts: list[tuple[int, str]],
                 ledger_locked: bool = False, sites: list[tuple[int, str]] | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        set_site_choices(self, sites, _("None (the invoices' sites)"))
        automatic = _("Set up automatically")
        self.fields["journal_id"].choices = [("", automatic), *journals]  # type: ignore[attr-defined]
        self.fields["account_id"].choices = [("", automatic), *accounts]  # type: ignore[attr-defined]
        self.fields["journal_id"].help_text = _("Default: BQ if no other bank account uses it, else a new BQ2, BQ3…")
        self.fields["account_id"].help_text = _("Default: 512 if free, else a new 5121, 5122…")
        if ledger_locked:
            del self.fields["journal_id"]
            del self.fields["account_id"]

    def data_for_service(self, *, creating: bool) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if not creating:
            for name in ("journal_id", "account_id"):
                if data.get(name) is None:
                    data.pop(name, None)
        return data


class CsvLayoutForm(BootstrapForm):
    """The columns and format of a bank's CSV export (saved as a layout of the account)."""

    delimiter = forms.ChoiceField(label=_("Delimiter"), choices=[(";", ";"), (",", ","), ("\t", _("Tab")),
                                                                 ("|", "|")], required=False)  # fmt: skip
    encoding = forms.ChoiceField(label=_("Encoding"), choices=[(e, e) for e in ENCODINGS], initial="cp1252",
                                 required=False)  # fmt: skip
    decimal_separator = forms.ChoiceField(label=_("Decimal separator"), choices=CsvDecimal.choices, required=False)
    date_format = forms.ChoiceField(label=_("Date format"), choices=[(f, f) for f in DATE_FORMATS], required=False)
    skip_lines = forms.IntegerField(label=_("Lines before the header"), min_value=0, max_value=50, initial=0,
                                    required=False)  # fmt: skip
    date_column = forms.CharField(label=_("Date column"), max_length=100, required=False,
                                  help_text=_("Header text or position (1, 2…)."))  # fmt: skip
    value_date_column = forms.CharField(label=_("Value date column"), max_length=100, required=False)
    amount_column = forms.CharField(label=_("Amount column (signed)"), max_length=100, required=False)
    debit_column = forms.CharField(label=_("Debit column"), max_length=100, required=False)
    credit_column = forms.CharField(label=_("Credit column"), max_length=100, required=False)
    label_column = forms.CharField(label=_("Label column"), max_length=100, required=False)
    reference_column = forms.CharField(label=_("Reference column"), max_length=100, required=False)
    partner_column = forms.CharField(label=_("Counterparty column"), max_length=100, required=False)
    transaction_id_column = forms.CharField(label=_("Transaction id column"), max_length=100, required=False)
    debit_positive = forms.BooleanField(label=_("Debits are written as positive numbers"), required=False,
                                        initial=True)  # fmt: skip

    LAYOUT_FIELDS = (
        "delimiter", "encoding", "decimal_separator", "date_format", "skip_lines", "date_column",
        "value_date_column", "amount_column", "debit_column", "credit_column", "label_column", "reference_column",
        "partner_column", "transaction_id_column", "debit_positive",
    )  # fmt: skip

    def layout(self) -> dict[str, Any] | None:
        """The layout typed in, or None when no column is named (a saved layout is used)."""
        data = {name: self.cleaned_data.get(name) for name in self.LAYOUT_FIELDS}
        if not (data["date_column"] or data["label_column"] or data["amount_column"] or data["debit_column"]):
            return None
        data["skip_lines"] = data["skip_lines"] or 0
        data["delimiter"] = data["delimiter"] or ";"
        data["encoding"] = data["encoding"] or "cp1252"
        data["decimal_separator"] = data["decimal_separator"] or ","
        data["date_format"] = data["date_format"] or "%d/%m/%Y"
        return data


class CsvMappingForm(CsvLayoutForm):
    name = forms.CharField(label=_("Layout name"), max_length=100)

    field_order = ["name", *CsvLayoutForm.LAYOUT_FIELDS]


FORMAT_CHOICES = [("", _("Detect from the file")), ("camt053", "CAMT.053"), ("ofx", "OFX"), ("csv", "CSV")]


class StatementImportForm(CsvLayoutForm):
    bank_account = forms.TypedChoiceField(label=_("Bank account"), required=False, coerce=_optional_id,
                                          empty_value=None)  # fmt: skip
    file = forms.FileField(label=_("Statement file"), required=False,
                           help_text=_("CAMT.053 (XML), OFX or CSV, at most 10 MB."))  # fmt: skip
    source_format = forms.ChoiceField(label=_("Format"), choices=FORMAT_CHOICES, required=False)
    mapping = forms.TypedChoiceField(label=_("Saved CSV layout"), required=False, coerce=_optional_id,
                                     empty_value=None)  # fmt: skip
    save_as = forms.CharField(label=_("Save this CSV layout as"), max_length=100, required=False,
                              help_text=_("Optional: the layout typed below is saved for this account."))  # fmt: skip
    staged = forms.RegexField(regex=r"^[0-9a-f]{32}$", required=False, widget=forms.HiddenInput)

    field_order = ["bank_account", "file", "source_format", "mapping", "save_as"]

    def __init__(self, *args: Any, bank_accounts: list[tuple[int, str]], mappings: list[tuple[int, str]],
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["bank_account"].choices = [  # type: ignore[attr-defined]
            ("", _("Find it from the IBAN in the file")),
            *bank_accounts,
        ]
        self.fields["mapping"].choices = [("", "—"), *mappings]  # type: ignore[attr-defined]
        self.fields["file"].widget.attrs["accept"] = ".xml,.ofx,.qfx,.csv,.txt,application/xml,text/csv"

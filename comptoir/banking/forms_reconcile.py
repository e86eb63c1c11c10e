"""Forms of the reconciliation screen and of the rules page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from comptoir.banking.models_rules import VAT_RATES, RuleAction, RuleDirection
from comptoir.org.forms import BootstrapForm


class ManualForm(BootstrapForm):
    account_id = forms.TypedChoiceField(label=_("Account"), coerce=int)
    label = forms.CharField(label=_("Label"), max_length=200, required=False)
    vat_rate = forms.ChoiceField(label=_("VAT"), choices=VAT_RATES, required=False)

    def __init__(self, *args: Any, accounts: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account_id"].choices = accounts  # type: ignore[attr-defined]


class IgnoreForm(BootstrapForm):
    reason = forms.CharField(label=_("Reason"), max_length=200)


class UndoForm(BootstrapForm):
    date = forms.DateField(label=_("Reversal date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class RuleForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    sequence = forms.IntegerField(label=_("Priority"), min_value=0, max_value=32767, initial=10,
                                  help_text=_("Lower numbers are tried first."))  # fmt: skip
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    bank_account_id = forms.TypedChoiceField(label=_("Bank account"), coerce=int, required=False, empty_value=None)
    label_contains = forms.CharField(label=_("Label contains"), max_length=100, required=False)
    label_regex = forms.CharField(label=_("Label matches (regular expression)"), max_length=200, required=False)
    direction = forms.ChoiceField(label=_("Direction"), choices=RuleDirection.choices, initial=RuleDirection.ANY)
    amount_min = forms.CharField(label=_("Amount from"), max_length=20, required=False)
    amount_max = forms.CharField(label=_("Amount up to"), max_length=20, required=False)
    partner_iban = forms.CharField(label=_("Counterparty IBAN"), max_length=42, required=False)
    action = forms.ChoiceField(label=_("Action"), choices=RuleAction.choices, initial=RuleAction.POST)
    account_id = forms.TypedChoiceField(label=_("Post to account"), coerce=int, required=False, empty_value=None)
    vat_rate = forms.ChoiceField(label=_("VAT"), choices=VAT_RATES, required=False)
    entry_label = forms.CharField(label=_("Entry label"), max_length=200, required=False)
    organization_id = forms.TypedChoiceField(label=_("Partner"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, bank_accounts: list[tuple[Any, str]], accounts: list[tuple[Any, str]],
                 organizations: list[tuple[Any, str]], **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["bank_account_id"].choices = [("", _("All bank accounts")), *bank_accounts]  # type: ignore[attr-defined]
        self.fields["account_id"].choices = [("", "—"), *accounts]  # type: ignore[attr-defined]
        self.fields["organization_id"].choices = [("", "—"), *organizations]  # type: ignore[attr-defined]

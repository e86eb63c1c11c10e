"""CRM forms: they parse input into types; the services decide what is valid."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from comptoir.crm.models import StageKind
from comptoir.org.forms import BootstrapForm


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class OpportunityForm(BootstrapForm):
    title = forms.CharField(label=_("Title"), max_length=200)
    organization_id = forms.TypedChoiceField(
        label=_("Organization"), required=False, coerce=_optional_id, empty_value=None
    )
    amount = forms.DecimalField(label=_("Amount"), min_value=0, max_digits=17, decimal_places=2, required=False)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="EUR")
    probability = forms.IntegerField(label=_("Probability (%)"), min_value=0, max_value=100, required=False)
    expected_close_date = forms.DateField(
        label=_("Expected close date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    source = forms.CharField(label=_("Source"), max_length=100, required=False)
    owner_id = forms.TypedChoiceField(label=_("Owner"), coerce=_optional_id, empty_value=None)

    def __init__(
        self, *args: Any, organizations: list[tuple[int, str]], owners: list[tuple[int, str]], show_amounts: bool,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["organization_id"].choices = [("", "—"), *organizations]  # type: ignore[attr-defined]
        self.fields["owner_id"].choices = owners  # type: ignore[attr-defined]
        if not show_amounts:
            del self.fields["amount"]

    def data_for_service(self, *, creating: bool) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data.get("amount") is None:
            data.pop("amount", None) if not creating else data.update(amount=0)
        if data.get("probability") is None:
            data.pop("probability")
        return data


class MarkLostForm(BootstrapForm):
    lost_reason_id = forms.TypedChoiceField(label=_("Reason"), coerce=int)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, reasons: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lost_reason_id"].choices = reasons  # type: ignore[attr-defined]


class LeadForm(BootstrapForm):
    title = forms.CharField(label=_("Title"), max_length=200)
    organization_name = forms.CharField(label=_("Organization name"), max_length=200, required=False)
    contact_name = forms.CharField(label=_("Contact name"), max_length=200, required=False)
    email = forms.CharField(label=_("Email"), max_length=254, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    source = forms.CharField(label=_("Source"), max_length=100, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class DiscardForm(BootstrapForm):
    reason = forms.CharField(label=_("Reason"), max_length=200)


class StageForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    sequence = forms.IntegerField(label=_("Sequence"), min_value=0, max_value=100_000)
    probability = forms.IntegerField(label=_("Probability (%)"), min_value=0, max_value=100)
    kind = forms.ChoiceField(label=_("Kind"), choices=StageKind.choices)


class CrmSettingsForm(BootstrapForm):
    hide_amounts_from_marketing = forms.BooleanField(label=_("Hide amounts from marketing"), required=False)


class MoveForm(forms.Form):
    stage_id = forms.IntegerField(min_value=1, max_value=2**63 - 1)

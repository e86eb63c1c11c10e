"""Contacts forms: they only parse input into types; services decide what is valid."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from comptoir.contacts.models import Address, CompanySize, Consent, ContactPoint, LifecycleStage
from comptoir.contacts.tags import split_names
from comptoir.org.forms import BootstrapForm


def _choices(rows: Any, label: Any = str) -> list[tuple[str, str]]:
    return [("", "—"), *[(str(row.pk), label(row)) for row in rows]]


def _set_choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


class _PartyForm(BootstrapForm):
    lifecycle_stage = forms.ChoiceField(label=_("Lifecycle stage"), choices=LifecycleStage.choices)
    email = forms.CharField(label=_("Email"), max_length=254, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    owner_id = forms.ChoiceField(label=_("Owner"), required=False)
    team_id = forms.ChoiceField(label=_("Team"), required=False)
    tag_ids = forms.MultipleChoiceField(label=_("Tags"), required=False, widget=forms.CheckboxSelectMultiple)
    tag_names = forms.CharField(
        label=_("New tags"), max_length=500, required=False,
        help_text=_("Names separated by commas; tags the company does not have yet are created."),
    )  # fmt: skip
    do_not_contact = forms.BooleanField(label=_("Do not contact"), required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, owners: Any = (), teams: Any = (), tags: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "owner_id", _choices(owners, lambda u: u.full_name or u.email))
        _set_choices(self, "team_id", _choices(teams))
        _set_choices(self, "tag_ids", [(str(t.pk), t.name) for t in tags])

    def clean_tag_names(self) -> list[str]:
        return split_names(self.cleaned_data.get("tag_names") or "")


class OrganizationForm(_PartyForm):
    # Required, but checked by the service so every field error shows at once.
    legal_name = forms.CharField(label=_("Legal name"), max_length=200, required=False)
    trade_name = forms.CharField(label=_("Trade name"), max_length=200, required=False)
    siren = forms.CharField(label=_("SIREN"), max_length=20, required=False, help_text=_("9 digits"))
    siret = forms.CharField(label=_("SIRET"), max_length=20, required=False, help_text=_("14 digits"))
    vat_number = forms.CharField(label=_("Intra-EU VAT number"), max_length=30, required=False)
    naf_code = forms.CharField(label=_("NAF/APE code"), max_length=10, required=False, help_text=_("e.g. 62.01Z"))
    sector = forms.CharField(label=_("Sector"), max_length=100, required=False)
    size = forms.ChoiceField(label=_("Size"), choices=[("", "—"), *CompanySize.choices], required=False)
    website = forms.CharField(label=_("Website"), max_length=200, required=False)

    # The organization's own fields first, then what every party has.
    field_order = [
        "legal_name", "trade_name", "siren", "siret", "vat_number", "naf_code", "sector", "size", "website",
    ]  # fmt: skip


class PersonForm(_PartyForm):
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    job_title = forms.CharField(label=_("Job title"), max_length=100, required=False)
    mobile = forms.CharField(label=_("Mobile"), max_length=40, required=False)

    field_order = ["first_name", "last_name", "job_title", "email", "phone", "mobile"]


class PersonCreateForm(PersonForm):
    organization_id = forms.ChoiceField(label=_("Organization"), required=False)
    role = forms.CharField(label=_("Role at the organization"), max_length=100, required=False)

    def __init__(self, *args: Any, organizations: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "organization_id", _choices(organizations))
        self.order_fields(["first_name", "last_name", "job_title", "organization_id", "role"])


class AddressForm(BootstrapForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=Address.Kind.choices)
    label = forms.CharField(label=_("Label"), max_length=100, required=False)
    line1 = forms.CharField(label=_("Address"), max_length=200)
    line2 = forms.CharField(label=_("Address (continued)"), max_length=200, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20, required=False)
    city = forms.CharField(label=_("City"), max_length=100)
    country = forms.CharField(label=_("Country"), max_length=2, initial="FR", help_text=_("ISO code, e.g. FR"))
    siret = forms.CharField(label=_("SIRET"), max_length=20, required=False)
    is_default = forms.BooleanField(label=_("Default for its kind"), required=False)


class ConsentForm(BootstrapForm):
    channel = forms.ChoiceField(label=_("Channel"), choices=Consent.Channel.choices)
    granted = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[("1", _("Granted")), ("0", _("Withdrawn"))],
        coerce=lambda v: v == "1",
    )
    source = forms.CharField(
        label=_("Source"), max_length=200, help_text=_("Where the consent was given or withdrawn.")
    )


class AffiliationForm(BootstrapForm):
    organization_id = forms.ChoiceField(label=_("Organization"))
    role = forms.CharField(label=_("Role"), max_length=100, required=False)
    is_primary = forms.BooleanField(label=_("Primary"), required=False)

    def __init__(self, *args: Any, organizations: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "organization_id", _choices(organizations))


class SavedViewForm(BootstrapForm):
    name = forms.CharField(label=_("View name"), max_length=100)
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    shared = forms.BooleanField(label=_("Share with the company"), required=False)


class TagForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    color = forms.CharField(
        label=_("Colour"), max_length=7, initial="#6c757d", widget=forms.TextInput(attrs={"type": "color"})
    )


class ContactPointForm(BootstrapForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=ContactPoint.Kind.choices)
    # Checked by the service (email or phone, by kind) so every field error shows at once.
    value = forms.CharField(label=_("Email or phone"), max_length=254, required=False)
    label = forms.CharField(label=_("Label"), max_length=40, required=False, help_text=_("e.g. personal, assistant"))

"""Settings forms. They only parse input into types; the services decide what is valid.

``apply_errors`` maps a service's ``ValidationFailed.fields`` onto the form, so every
message is shown next to its field whichever layer found it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from comptoir.kernel.authz import ROLES
from comptoir.kernel.errors import ValidationFailed


class BootstrapForm(forms.Form):
    """Adds Bootstrap classes, and ``is-invalid`` on fields with errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, (forms.CheckboxInput, forms.CheckboxSelectMultiple)):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
                widget.attrs["aria-invalid"] = "true"

    def apply_errors(self, exc: ValidationFailed) -> None:
        """Show a service's field errors next to the matching fields (others at the top)."""
        for name, messages in (exc.fields or {"__all__": [exc.message]}).items():
            target = name if name in self.fields else None
            for message in messages:
                self.add_error(target, message if target else f"{name}: {message}" if name != "__all__" else message)
        self._mark_invalid()


class CompanyForm(BootstrapForm):
    name = forms.CharField(label=_("Trade name"), max_length=200)
    legal_name = forms.CharField(label=_("Legal name"), max_length=200)
    legal_form = forms.CharField(label=_("Legal form"), max_length=60, required=False, help_text=_("e.g. SAS, SARL"))
    siren = forms.CharField(label=_("SIREN"), max_length=20, required=False, help_text=_("9 digits"))
    vat_number = forms.CharField(label=_("Intra-EU VAT number"), max_length=30, required=False)
    share_capital = forms.CharField(label=_("Share capital"), max_length=40, required=False)
    rcs = forms.CharField(label=_("RCS registration"), max_length=80, required=False)
    address_line1 = forms.CharField(label=_("Address"), max_length=200, required=False)
    address_line2 = forms.CharField(label=_("Address (continued)"), max_length=200, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    country = forms.CharField(label=_("Country"), max_length=2, help_text=_("ISO code, e.g. FR"))
    currency = forms.CharField(label=_("Currency"), max_length=3, help_text=_("ISO code, e.g. EUR"))
    timezone = forms.CharField(label=_("Time zone"), max_length=64, help_text=_("e.g. Europe/Paris"))
    email = forms.CharField(label=_("Email"), max_length=254, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    website = forms.URLField(label=_("Website"), max_length=200, required=False, assume_scheme="https")


class SiteForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    siret = forms.CharField(label=_("SIRET"), max_length=20, help_text=_("14 digits, starting with the SIREN"))
    is_head_office = forms.BooleanField(label=_("Head office"), required=False)
    address_line1 = forms.CharField(label=_("Address"), max_length=200, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    country = forms.CharField(label=_("Country"), max_length=2, initial="FR")
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)


def _role_choices() -> list[tuple[str, Any]]:
    return list(ROLES.items())


class UserCreateForm(BootstrapForm):
    email = forms.CharField(label=_("Email"), max_length=254)
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    language = forms.ChoiceField(label=_("Language"), choices=lambda: list(settings.LANGUAGES), initial="fr")
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=_role_choices, widget=forms.CheckboxSelectMultiple)
    password = forms.CharField(
        label=_("Initial password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty for a person who already has a login in another company."),
    )


class UserRolesForm(BootstrapForm):
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=_role_choices, widget=forms.CheckboxSelectMultiple)


class ApiKeyForm(BootstrapForm):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What the key is for, e.g. “Accounting export”.")
    )
    scopes = forms.MultipleChoiceField(label=_("Scopes"), choices=(), widget=forms.CheckboxSelectMultiple)
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Optional. The key stops working at the end of this day."),
    )

    def __init__(self, *args: Any, scopes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["scopes"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(s, s) for s in scopes]


class ModuleToggleForm(forms.Form):
    module = forms.CharField(max_length=40)
    enabled = forms.TypedChoiceField(choices=[("1", "on"), ("0", "off")], coerce=lambda v: v == "1")

"""Forms of the sign-in pages: they only parse input; the org services decide."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))
    password = forms.CharField(label=_("Password"), max_length=4096, strip=False, widget=forms.PasswordInput)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class CodeForm(forms.Form):
    """A six-digit TOTP code, or a recovery code (``xxxxxxxx-xxxxxxxx``)."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].replace(" ", "").strip().lower()
        if not code:
            raise forms.ValidationError(_("This field is required."))
        return code


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    next = forms.CharField(required=False, max_length=2000)


class CompanySwitchForm(forms.Form):
    company_id = forms.IntegerField(label=_("Company"), min_value=1, max_value=2**63 - 1)
    next = forms.CharField(required=False, max_length=2000)


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)

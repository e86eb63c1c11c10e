"""Forms of the payment terms and partner profile pages: they parse input into text and ids;
``accounting.terms`` / ``accounting.invoices`` decide what is valid (errors per field,
``lines.2.days`` next to the installment it concerns)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.forms import DATE
from comptoir.accounting.models import VAT_FISCAL_POSITIONS, PaymentTermLineKind
from comptoir.org.forms import BootstrapForm

MAX_TERM_LINES = 12


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class PaymentTermForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    note = forms.CharField(label=_("Text on the invoice"), max_length=300, required=False,
                           help_text=_("Printed as the payment terms; the name when empty."))  # fmt: skip


class TermLineForm(BootstrapForm):
    """One installment; a row whose kind is empty is not used."""

    kind = forms.ChoiceField(label=_("Kind"), required=False,
                             choices=[("", "—"), *PaymentTermLineKind.choices])  # fmt: skip
    percent = forms.CharField(label=_("Percentage"), max_length=12, required=False,
                              widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 6}))  # fmt: skip
    days = forms.CharField(label=_("Days"), max_length=5, required=False,
                           widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 4}))  # fmt: skip
    end_of_month = forms.BooleanField(label=_("End of month"), required=False)

    def for_service(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if not data.get("kind"):
            return None
        line: dict[str, Any] = {"kind": data["kind"], "days": data.get("days") or "0",
                                "end_of_month": bool(data.get("end_of_month"))}  # fmt: skip
        if data["kind"] == PaymentTermLineKind.PERCENT:
            line["percent"] = data.get("percent") or ""
        return line


TermLineFormSet = forms.formset_factory(TermLineForm, extra=0, max_num=MAX_TERM_LINES,
                                        absolute_max=MAX_TERM_LINES)  # fmt: skip


def term_lines(data: Any, initial: list[dict[str, Any]] | None) -> Any:
    """The installments: the existing ones plus empty rows up to a few more (no JavaScript needed)."""
    formset = TermLineFormSet(data, initial=initial, prefix="lines")
    if data is None:
        formset.extra = max(0, min(MAX_TERM_LINES - len(initial or []), 2 if initial else 3))
    return formset


def lines_for_service(formset: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """The used rows, and for each the position of its form (to put the service's errors back)."""
    lines: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, form in enumerate(formset.forms):
        if not form.is_valid():
            continue
        line = form.for_service()
        if line is not None:
            lines.append(line)
            positions.append(index)
    return lines, positions


class PreviewForm(forms.Form):
    """The example invoice of the due-date preview."""

    issue_date = forms.DateField(label=_("Example invoice date"), widget=DATE)
    total = forms.DecimalField(label=_("Example total incl. VAT"), max_digits=13, decimal_places=2, min_value=0.01)


class PartnerProfileForm(BootstrapForm):
    fiscal_position = forms.ChoiceField(label=_("Fiscal position"), choices=VAT_FISCAL_POSITIONS,
                                        help_text=_("With the products' VAT categories, it decides the VAT "
                                                    "of the invoices and bills."))  # fmt: skip
    payment_term_id = forms.TypedChoiceField(label=_("Customer payment term"), required=False, coerce=_optional_id,
                                             empty_value=None,
                                             help_text=_("Empty: the company's default term."))  # fmt: skip
    supplier_payment_term_id = forms.TypedChoiceField(label=_("Supplier payment term"), required=False,
                                                      coerce=_optional_id, empty_value=None)  # fmt: skip
    language = forms.ChoiceField(label=_("Invoice language"), choices=settings.LANGUAGES)
    invoice_email = forms.CharField(
        label=_("Invoice email"), max_length=254, required=False,
        help_text=_("Where invoices are sent; the organization's email when empty."),
    )  # fmt: skip
    supplier_vat_on_debits = forms.BooleanField(
        label=_("Supplier pays VAT on debits"), required=False,
        help_text=_("Printed on its bills: the VAT of its services is deductible on receipt of the bill."),
    )  # fmt: skip

    def __init__(self, *args: Any, terms: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["payment_term_id"].choices = [("", "—"), *terms]  # type: ignore[attr-defined]
        self.fields["supplier_payment_term_id"].choices = [("", "—"), *terms]  # type: ignore[attr-defined]


# --- Autocomplete (invoice form) ------------------------------------------------------


class AutocompleteSelect(forms.Select):
    """A ``<select>`` holding only the current value and a few suggestions, with a search box
    above it: typing asks the server (htmx) for the matching rows and swaps the select in.

    The server applies the record rules (``views_terms.autocomplete_*``); the service checks
    the chosen id again, so the page needs no list of every customer or product.
    """

    template_name = "accounting/terms/widgets/autocomplete.html"

    def __init__(self, url_name: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.url_name = url_name

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        from django.urls import reverse

        context = super().get_context(name, value, attrs)
        context["widget"]["url"] = reverse(self.url_name)
        return context


class SearchChoiceField(forms.TypedChoiceField):
    """A choice among rows found by searching: any id is accepted here (the choices hold only
    the current value), the service says whether it exists and may be used."""

    def valid_value(self, value: Any) -> bool:
        text = str(value)
        return text.isdigit() and 0 < len(text) <= 18

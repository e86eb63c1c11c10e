"""Quote forms: they parse input into text and ids; ``sales.quotes`` decides what is valid.

Quantities, prices and discounts stay text so the page reports a bad number exactly as the
API does (``lines.2.quantity`` next to the quantity of the line it concerns).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.forms import DATE, set_site_choices, site_field
from comptoir.accounting.forms_terms import AutocompleteSelect, SearchChoiceField
from comptoir.accounting.models import VAT_CATEGORIES
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.forms import BootstrapForm
from comptoir.sales.models_quotes import QuoteLineKind

LINE_NAMES = ("kind", "product_id", "description", "quantity", "unit_price", "discount_percent", "vat_code",
              "optional", "selected")  # fmt: skip
HEADER_NAMES = ("organization_id", "contact_id", "opportunity_id", "owner_id", "title", "issue_date", "valid_until",
                "payment_term_id", "language", "currency", "discount_percent", "notes", "site_id")  # fmt: skip


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class QuoteForm(BootstrapForm):
    organization_id = SearchChoiceField(
        label=_("Customer"), coerce=int, widget=AutocompleteSelect("sales:quote_autocomplete_organizations")
    )
    contact_id = forms.TypedChoiceField(label=_("Contact"), required=False, coerce=_optional_id, empty_value=None,
                                        help_text=_("The customer's people (once the customer is saved)."))  # fmt: skip
    title = forms.CharField(label=_("Subject"), max_length=200, required=False)
    issue_date = forms.DateField(label=_("Date"), widget=DATE, required=False, help_text=_("Today when empty."))
    valid_until = forms.DateField(label=_("Valid until"), widget=DATE, required=False,
                                  help_text=_("30 days after the date when empty."))  # fmt: skip
    owner_id = forms.TypedChoiceField(label=_("Salesperson"), required=False, coerce=_optional_id, empty_value=None)
    payment_term_id = forms.TypedChoiceField(label=_("Payment term"), required=False, coerce=_optional_id,
                                             empty_value=None)  # fmt: skip
    language = forms.ChoiceField(label=_("Language"), required=False)
    currency = forms.CharField(label=_("Currency"), max_length=3, required=False, initial="EUR",
                               widget=forms.TextInput(attrs={"size": 3}))  # fmt: skip
    discount_percent = forms.CharField(label=_("Discount on the total (%)"), max_length=10, required=False,
                                       widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 4}))  # fmt: skip
    notes = forms.CharField(label=_("Notes"), required=False, max_length=10000,
                            widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip
    opportunity_id = forms.TypedChoiceField(label=_("Opportunity"), required=False, coerce=_optional_id,
                                            empty_value=None)  # fmt: skip
    site_id = site_field(help_text=_("The establishment that sells; the order and invoices take it."))

    def __init__(
        self, *args: Any, organizations: list[tuple[int, str]], terms: list[tuple[int, str]],
        owners: list[tuple[int, str]], opportunities: list[tuple[int, str]],
        contacts: list[tuple[int, str]] = (), sites: list[tuple[int, str]] | None = None,  # type: ignore[assignment]
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        set_site_choices(self, sites, _("The company as a whole"))
        self.fields["contact_id"].choices = [("", "—"), *contacts]  # type: ignore[attr-defined]
        self.fields["organization_id"].choices = [("", "—"), *organizations]  # type: ignore[attr-defined]
        self.fields["payment_term_id"].choices = [("", _("The customer's")), *terms]  # type: ignore[attr-defined]
        self.fields["owner_id"].choices = [("", "—"), *owners]  # type: ignore[attr-defined]
        self.fields["language"].choices = [("", _("The customer's")), *settings.LANGUAGES]  # type: ignore[attr-defined]
        self.fields["opportunity_id"].choices = [("", "—"), *opportunities]  # type: ignore[attr-defined]

    def for_service(self, *, creating: bool) -> dict[str, Any]:
        """The cleaned fields; empty "customer's" choices are left out so the service keeps its defaults."""
        data = {name: self.cleaned_data.get(name) for name in HEADER_NAMES if name in self.cleaned_data}
        for name in ("language", "currency", "issue_date", "valid_until"):
            if data.get(name) in (None, ""):
                data.pop(name, None)
        if creating and data.get("payment_term_id") is None:
            data.pop("payment_term_id", None)
        if creating and data.get("owner_id") is None:
            data.pop("owner_id", None)
        if data.get("discount_percent") is None:
            data["discount_percent"] = ""
        return data


class QuoteLineForm(BootstrapForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=QuoteLineKind.choices, required=False)
    product_id = SearchChoiceField(label=_("Product"), required=False, coerce=_optional_id, empty_value=None,
                                   widget=AutocompleteSelect("sales:quote_autocomplete_products"))  # fmt: skip
    description = forms.CharField(label=_("Description"), max_length=4000, required=False,
                                  widget=forms.Textarea(attrs={"rows": 1}),
                                  help_text=_("The product's name when empty."))  # fmt: skip
    quantity = forms.CharField(label=_("Quantity"), max_length=30, required=False,
                               widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 6}))  # fmt: skip
    unit_price = forms.CharField(label=_("Unit price excl. VAT"), max_length=30, required=False,
                                 widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 8}),
                                 help_text=_("From the customer's price list when empty."))  # fmt: skip
    discount_percent = forms.CharField(label=_("Discount %"), max_length=10, required=False,
                                       widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 4}))  # fmt: skip
    vat_code = forms.ChoiceField(label=_("VAT"), choices=[("", _("The product's")), *VAT_CATEGORIES], required=False)
    optional = forms.BooleanField(label=_("Optional"), required=False)
    selected = forms.BooleanField(label=_("Included"), required=False,
                                  help_text=_("An optional line counted in the totals."))  # fmt: skip

    def __init__(self, *args: Any, products: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product_id"].choices = [("", "—"), *products]  # type: ignore[attr-defined]

    def is_blank(self) -> bool:
        data = self.cleaned_data
        return not any(data.get(name) for name in ("product_id", "description", "quantity", "unit_price"))


LineFormSet = forms.formset_factory(QuoteLineForm, extra=0, min_num=0, max_num=500, absolute_max=500)


def line_formset(data: Any, *, initial: list[dict[str, Any]] | None, products: list[tuple[int, str]],
                 extra: int = 0) -> Any:  # fmt: skip
    """The lines of a quote; ``extra`` empty lines are added (the "Add a line" button works without JavaScript)."""
    if data is not None and extra:
        data = data.copy()
        data["lines-TOTAL_FORMS"] = str(int(data.get("lines-TOTAL_FORMS") or 0) + extra)
    formset = LineFormSet(data, initial=initial, prefix="lines", form_kwargs={"products": products})
    if data is None and extra:
        formset.extra = extra
    return formset


def lines_for_service(formset: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """The used rows as service input, and for each the position of its form (to put errors back)."""
    lines: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, form in enumerate(formset.forms):
        if not form.is_valid() or form.is_blank():
            continue
        line = {name: form.cleaned_data.get(name) for name in LINE_NAMES
                if form.cleaned_data.get(name) not in (None, "")}  # fmt: skip
        line["optional"] = bool(form.cleaned_data.get("optional"))
        line["selected"] = bool(form.cleaned_data.get("selected"))
        if line.get("kind", QuoteLineKind.PRODUCT) != QuoteLineKind.PRODUCT:
            line = {"kind": line["kind"], "description": line.get("description", "")}
        lines.append(line)
        positions.append(index)
    return lines, positions


def apply_quote_errors(form: QuoteForm, formset: Any, positions: list[int], exc: ValidationFailed) -> None:
    """Put ``lines.2.quantity`` next to the quantity of the form that line came from."""
    header: dict[str, list[str]] = {}
    if any(name.startswith("lines.") for name in exc.fields):
        header["__all__"] = [str(_("Some lines have errors: see below."))]
    for name, messages in (exc.fields or {"__all__": [exc.message]}).items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and int(parts[1]) < len(positions):
            line_form = formset.forms[positions[int(parts[1])]]
            field = {"uom_id": None}.get(parts[2], parts[2])
            for message in messages:
                line_form.add_error(field if field in line_form.fields else None, message)
        elif name == "lines" or name.startswith("lines."):
            header.setdefault("__all__", []).extend(messages)
        else:
            header.setdefault(name if name in form.fields else "__all__", []).extend(messages)
    if header:
        form.apply_errors(ValidationFailed(fields=header))


class AcceptForm(BootstrapForm):
    """The salesperson records the customer's yes (by phone, signed paper…)."""

    by_name = forms.CharField(label=_("Accepted by"), max_length=200, required=False,
                              help_text=_("Who said yes for the customer."))  # fmt: skip
    selected_line_ids = forms.TypedMultipleChoiceField(label=_("Optional lines taken"), required=False, coerce=int,
                                                       widget=forms.CheckboxSelectMultiple)  # fmt: skip

    def __init__(self, *args: Any, optional_lines: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["selected_line_ids"].choices = optional_lines  # type: ignore[attr-defined]
        if not optional_lines:
            del self.fields["selected_line_ids"]


class RefuseForm(BootstrapForm):
    reason = forms.CharField(label=_("Reason"), max_length=2000, required=False,
                             widget=forms.Textarea(attrs={"rows": 3}))  # fmt: skip

"""Invoice forms: they parse input into text and ids; ``accounting.invoices`` decides what is valid.

Quantities and prices stay text so the page reports a bad number exactly as the API does.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.forms import DATE, set_site_choices, site_field
from comptoir.accounting.forms_terms import AutocompleteSelect, SearchChoiceField
from comptoir.accounting.models import VAT_CATEGORIES, VAT_FISCAL_POSITIONS, LineOperation
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.forms import BootstrapForm

LINE_NAMES = ("product_id", "name", "operation", "quantity", "uom_code", "unit_price", "discount_percent",
              "vat_category")  # fmt: skip


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class InvoiceForm(BootstrapForm):
    organization_id = SearchChoiceField(label=_("Customer or supplier"), coerce=int,
                                        widget=AutocompleteSelect("accounting:autocomplete_organizations"))  # fmt: skip
    issue_date = forms.DateField(label=_("Issue date"), widget=DATE, required=False,
                                 help_text=_("Today when empty, at posting."))  # fmt: skip
    delivery_date = forms.DateField(label=_("Delivery date"), widget=DATE, required=False)
    payment_term_id = forms.TypedChoiceField(label=_("Payment term"), required=False, coerce=_optional_id,
                                             empty_value=None)  # fmt: skip
    due_date = forms.DateField(label=_("Due date"), widget=DATE, required=False,
                               help_text=_("Only without a payment term."))  # fmt: skip
    fiscal_position = forms.ChoiceField(label=_("Fiscal position"), required=False)
    language = forms.ChoiceField(label=_("Language"), required=False)
    currency = forms.CharField(label=_("Currency"), max_length=3, required=False, initial="EUR",
                               help_text=_("ISO 4217, e.g. USD: posted in EUR at the issue date's rate."))  # fmt: skip
    purchase_order = forms.CharField(label=_("Buyer's order number"), max_length=100, required=False)
    supplier_reference = forms.CharField(label=_("Supplier's invoice number"), max_length=100, required=False)
    site_id = site_field(help_text=_("The establishment that issues or receives it; its entry carries it."))
    note = forms.CharField(label=_("Note"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip

    def __init__(self, *args: Any, organizations: list[tuple[int, str]], terms: list[tuple[int, str]],
                 vendor: bool, sites: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        set_site_choices(self, sites, _("The company as a whole"))
        self.fields["organization_id"].choices = [("", "—"), *organizations]  # type: ignore[attr-defined]
        self.fields["payment_term_id"].choices = [("", "—"), *terms]  # type: ignore[attr-defined]
        self.fields["fiscal_position"].choices = [("", _("The partner's")), *VAT_FISCAL_POSITIONS]  # type: ignore[attr-defined]
        self.fields["language"].choices = [("", _("The partner's")), *settings.LANGUAGES]  # type: ignore[attr-defined]
        if vendor:
            del self.fields["purchase_order"]
            self.fields["supplier_reference"].required = True
        else:
            del self.fields["supplier_reference"]

    def for_service(self) -> dict[str, Any]:
        """The cleaned fields; "the partner's" choices are left out so the service keeps its defaults."""
        data = dict(self.cleaned_data)
        for name in ("fiscal_position", "language", "currency"):
            if not data.get(name):
                data.pop(name, None)
        return data


class InvoiceLineForm(BootstrapForm):
    product_id = SearchChoiceField(label=_("Product"), required=False, coerce=_optional_id, empty_value=None,
                                   widget=AutocompleteSelect("accounting:autocomplete_products"))  # fmt: skip
    name = forms.CharField(label=_("Designation"), max_length=200, required=False)
    operation = forms.ChoiceField(label=_("Goods or services"), choices=LineOperation.choices, required=False)
    quantity = forms.CharField(label=_("Quantity"), max_length=30, required=False,
                               widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 6}))  # fmt: skip
    uom_code = forms.CharField(label=_("Unit"), max_length=3, required=False,
                               widget=forms.TextInput(attrs={"size": 3}))  # fmt: skip
    unit_price = forms.CharField(label=_("Unit price excl. VAT"), max_length=30, required=False,
                                 widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 8}))  # fmt: skip
    discount_percent = forms.CharField(label=_("Discount %"), max_length=10, required=False,
                                       widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 4}))  # fmt: skip
    vat_category = forms.ChoiceField(label=_("VAT"), choices=[("", "—"), *VAT_CATEGORIES], required=False)

    def __init__(self, *args: Any, products: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product_id"].choices = [("", "—"), *products]  # type: ignore[attr-defined]

    def is_blank(self) -> bool:
        data = self.cleaned_data
        return not any(data.get(name) for name in ("product_id", "name", "quantity", "unit_price"))


LineFormSet = forms.formset_factory(InvoiceLineForm, extra=0, min_num=0, max_num=500, absolute_max=500)


def line_formset(data: Any, *, initial: list[dict[str, Any]] | None, products: list[tuple[int, str]],
                 extra: int = 0) -> Any:  # fmt: skip
    """The lines of an invoice; ``extra`` empty lines are added (the "Add a line" button, no JavaScript)."""
    if data is not None and extra:
        data = data.copy()
        data["lines-TOTAL_FORMS"] = str(int(data.get("lines-TOTAL_FORMS") or 0) + extra)
    formset = LineFormSet(data, initial=initial, prefix="lines", form_kwargs={"products": products})
    if data is None and extra:
        formset.extra = extra
    return formset


def lines_for_service(formset: Any) -> tuple[list[dict[str, Any]], list[int]]:
    lines: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, form in enumerate(formset.forms):
        if not form.is_valid() or form.is_blank():
            continue
        lines.append({name: form.cleaned_data.get(name) for name in LINE_NAMES
                      if form.cleaned_data.get(name) not in (None, "")})  # fmt: skip
        positions.append(index)
    return lines, positions


def apply_invoice_errors(form: InvoiceForm, formset: Any, positions: list[int], exc: ValidationFailed) -> None:
    """Put ``lines.2.quantity`` next to the quantity of the form that line came from."""
    header: dict[str, list[str]] = {}
    if any(name.startswith("lines.") for name in exc.fields):
        header["__all__"] = [str(_("Some lines have errors: see below."))]
    for name, messages in (exc.fields or {"__all__": [exc.message]}).items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and int(parts[1]) < len(positions):
            line_form = formset.forms[positions[int(parts[1])]]
            for message in messages:
                line_form.add_error(parts[2] if parts[2] in line_form.fields else None, message)
            line_form._mark_invalid()
        elif name == "lines" or name.startswith("lines."):
            header.setdefault("__all__", []).extend(messages)
        else:
            header.setdefault(name if name in form.fields else "__all__", []).extend(messages)
    if header:
        form.apply_errors(ValidationFailed(fields=header))


class SendForm(BootstrapForm):
    to = forms.CharField(label=_("To"), max_length=1000, help_text=_("Email addresses, separated by commas."))
    subject = forms.CharField(label=_("Subject"), max_length=200, required=False)
    message = forms.CharField(label=_("Message"), max_length=5000, required=False,
                              widget=forms.Textarea(attrs={"rows": 5}))  # fmt: skip


class UploadForm(BootstrapForm):
    file = forms.FileField(label=_("Factur-X PDF or CII XML file"))
    organization_id = SearchChoiceField(
        label=_("Supplier"), required=False, coerce=_optional_id, empty_value=None,
        widget=AutocompleteSelect("accounting:autocomplete_organizations"),
        help_text=_("Found from the file's SIREN or VAT number when empty."),
    )  # fmt: skip

    def __init__(self, *args: Any, organizations: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization_id"].choices = [("", "—"), *organizations]  # type: ignore[attr-defined]

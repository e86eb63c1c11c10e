"""Accounting forms: they parse input into types; the services decide what is valid.

Amounts stay text here so the service reports a bad amount exactly as the API does.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.models import AccountType, JournalKind
from comptoir.kernel.errors import ValidationFailed
from comptoir.org.forms import BootstrapForm
from comptoir.org.models import Site

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _optional_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def site_choices(company_id: int | None, keep: Any = ()) -> list[tuple[int, str]]:
    """The sites a form offers: the company's active ones, plus those already chosen (a site
    deactivated since stays shown on the document that has it)."""
    kept = {pk for pk in keep if pk}
    rows = Site.objects.filter(company_id=company_id).filter(models.Q(is_active=True) | models.Q(pk__in=kept))
    return [(pk, name) for pk, name in rows.order_by("name", "id").values_list("pk", "name")]


def site_field(**kwargs: Any) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(label=_("Site"), required=False, coerce=_optional_id, empty_value=None,
                                  **kwargs)  # fmt: skip


def set_site_choices(form: forms.Form, sites: list[tuple[int, str]] | None, empty: Any) -> None:
    """Fill the ``site_id`` choices, or drop the field when the form is not given any (None)."""
    if sites is None:
        del form.fields["site_id"]
    else:
        form.fields["site_id"].choices = [("", empty), *sites]  # type: ignore[attr-defined]


class AccountForm(BootstrapForm):
    code = forms.CharField(label=_("Number"), max_length=20, help_text=_("Digits, starting with the class, e.g. 6064."))
    name = forms.CharField(label=_("Name"), max_length=200)
    type = forms.ChoiceField(label=_("Type"), choices=AccountType.choices)
    reconcilable = forms.BooleanField(
        label=_("Reconcilable"),
        required=False,
        help_text=_("Customer and supplier lines are matched against payments."),
    )


class JournalForm(BootstrapForm):
    code = forms.CharField(label=_("Code"), max_length=10)
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), choices=JournalKind.choices)
    default_account_id = forms.TypedChoiceField(label=_("Default account"), required=False, coerce=_optional_id,
                                                empty_value=None)  # fmt: skip

    def __init__(self, *args: Any, accounts: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_account_id"].choices = [("", "—"), *accounts]  # type: ignore[attr-defined]


class FiscalYearForm(BootstrapForm):
    name = forms.CharField(label=_("Name"), max_length=40, required=False, help_text=_("e.g. 2027"))
    start_date = forms.DateField(label=_("Start"), widget=DATE)
    end_date = forms.DateField(label=_("End"), widget=DATE)


class LockDateForm(BootstrapForm):
    lock_date = forms.DateField(
        label=_("Lock date"), widget=DATE, help_text=_("No entry dated on or before this day may be written or posted.")
    )


class ReverseForm(BootstrapForm):
    date = forms.DateField(label=_("Reversal date"), widget=DATE)
    label = forms.CharField(label=_("Label"), max_length=200, required=False)


class EntryForm(BootstrapForm):
    journal_id = forms.TypedChoiceField(label=_("Journal"), coerce=int)
    date = forms.DateField(label=_("Date"), widget=DATE)
    ref = forms.CharField(label=_("Reference"), max_length=100, required=False,
                          help_text=_("Number of the supporting document; the entry number when empty."))  # fmt: skip
    label = forms.CharField(label=_("Label"), max_length=200)
    site_id = site_field(help_text=_("The establishment of the entry; each line may name another."))

    def __init__(self, *args: Any, journals: list[tuple[int, str]], sites: list[tuple[int, str]] | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["journal_id"].choices = journals  # type: ignore[attr-defined]
        set_site_choices(self, sites, _("The company as a whole"))


class LineForm(BootstrapForm):
    account_id = forms.TypedChoiceField(label=_("Account"), required=False, coerce=_optional_id, empty_value=None)
    partner_account_id = forms.TypedChoiceField(label=_("Customer / supplier"), required=False, coerce=_optional_id,
                                                empty_value=None)  # fmt: skip
    label = forms.CharField(label=_("Label"), max_length=200, required=False)
    debit = forms.CharField(label=_("Debit"), max_length=30, required=False,
                            widget=forms.TextInput(attrs={"inputmode": "decimal"}))  # fmt: skip
    credit = forms.CharField(label=_("Credit"), max_length=30, required=False,
                             widget=forms.TextInput(attrs={"inputmode": "decimal"}))  # fmt: skip
    due_date = forms.DateField(label=_("Due date"), required=False, widget=DATE)
    site_id = site_field()

    def __init__(self, *args: Any, accounts: list[tuple[int, str]], partners: list[tuple[int, str]],
                 sites: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["account_id"].choices = [("", "—"), *accounts]  # type: ignore[attr-defined]
        self.fields["partner_account_id"].choices = [("", "—"), *partners]  # type: ignore[attr-defined]
        set_site_choices(self, sites, _("The entry's"))

    def is_blank(self) -> bool:
        data = self.cleaned_data
        return not any(data.get(name) for name in ("account_id", "partner_account_id", "label", "debit", "credit"))


LineFormSet = forms.formset_factory(LineForm, extra=0, min_num=0, max_num=500, absolute_max=500)


def line_formset(data: Any, *, initial: list[dict[str, Any]] | None, accounts: list[tuple[int, str]],
                 partners: list[tuple[int, str]], extra: int = 0,
                 sites: list[tuple[int, str]] | None = None) -> Any:  # fmt: skip
    """The lines of an entry; ``extra`` empty lines are added (the "Add a line" button)."""
    if data is not None and extra:
        data = data.copy()
        data["lines-TOTAL_FORMS"] = str(int(data.get("lines-TOTAL_FORMS") or 0) + extra)
    formset = LineFormSet(data, initial=initial, prefix="lines",
                          form_kwargs={"accounts": accounts, "partners": partners, "sites": sites})  # fmt: skip
    if data is None and extra:
        formset.extra = extra
    return formset


def lines_for_service(formset: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """The non-blank lines, and for each the index of its form (to place the errors back)."""
    lines: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, form in enumerate(formset.forms):
        if not form.is_valid() or form.is_blank():
            continue
        lines.append({name: form.cleaned_data.get(name) for name in
                      ("account_id", "partner_account_id", "label", "debit", "credit", "due_date", "site_id")
                      if name in form.fields})  # fmt: skip
        positions.append(index)
    return lines, positions


def apply_entry_errors(form: EntryForm, formset: Any, positions: list[int], exc: ValidationFailed) -> None:
    """Put ``lines.2.debit`` next to the debit of the form that line came from."""
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
        elif name == "lines":
            header.setdefault("__all__", []).extend(messages)
        else:
            header.setdefault(name, []).extend(messages)
    if header:
        form.apply_errors(ValidationFailed(fields=header))

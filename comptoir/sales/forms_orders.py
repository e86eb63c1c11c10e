"""Forms of the order pages: invoicing, delivery, cancelling. Validation stays in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

MODE_CHOICES = [
    ("", _("The order's policy")),
    ("order", _("Ordered quantities not invoiced yet")),
    ("delivery", _("Delivered quantities not invoiced yet")),
    ("down_payment", _("A down payment")),
    ("milestone", _("The next milestone")),
]


class InvoiceOrderForm(forms.Form):
    mode = forms.ChoiceField(label=_("Invoice"), choices=MODE_CHOICES, required=False)
    percent = forms.CharField(label=_("Down payment (%)"), max_length=10, required=False)
    amount = forms.CharField(label=_("or amount excluding VAT"), max_length=20, required=False)
    post = forms.BooleanField(label=_("Post the invoice now"), required=False)


class CancelOrderForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class DeliveryForm(forms.Form):
    reference = forms.CharField(label=_("Delivery note"), max_length=100, required=False)
    date = forms.DateField(label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

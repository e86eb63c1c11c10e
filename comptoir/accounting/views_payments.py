"""Payment pages: register (from an invoice, or for several invoices of a partner), list,
detail with cancel and "use the credit", and the matching page of a partner account.

The register form carries a hidden idempotency key generated when the form is rendered: a
double submit, or the browser's "resend", records the payment once and shows it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.accounting import matching, payments, selectors
from comptoir.accounting.forms import DATE, set_site_choices, site_choices, site_field
from comptoir.accounting.models import Invoice, JournalKind
from comptoir.accounting.models_payments import PaymentDirection, PaymentMethod, PaymentState
from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.pagination import paginate
from comptoir.org.forms import BootstrapForm


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def payments_page(permission: str) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Logged in, accounting on for the company (404 otherwise), ``permission`` held (403)."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            actor = _actor(request)
            if not modules.is_enabled(actor.company_id, "accounting"):
                raise NotFound("module_disabled", _("This module is not enabled for your company."))
            require(actor, permission)
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


# --- Register -------------------------------------------------------------------------


class PaymentForm(BootstrapForm):
    date = forms.DateField(label=_("Date"), widget=DATE)
    journal_id = forms.TypedChoiceField(label=_("Journal"), coerce=int)
    method = forms.ChoiceField(label=_("Method"), choices=PaymentMethod.choices)
    amount = forms.CharField(label=_("Amount"), max_length=20)
    currency = forms.CharField(label=_("Currency"), max_length=3, required=False,
                               help_text=_("The invoices' currency; EUR when empty."))  # fmt: skip
    reference = forms.CharField(label=_("Reference"), max_length=140, required=False,
                                help_text=_("Bank statement line, cheque number…"))  # fmt: skip
    site_id = site_field(help_text=_("The site the invoices share when empty."))
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: Any, journals: list[tuple[int, str]], sites: list[tuple[int, str]] | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["journal_id"].choices = journals  # type: ignore[attr-defined]
        set_site_choices(self, sites, _("The invoices' site"))


def _journal_choices(actor: Any) -> list[tuple[int, str]]:
    rows = selectors.journals(actor, active=True).filter(kind__in=[JournalKind.BANK, JournalKind.CASH])
    return [(journal.pk, f"{journal.code} {journal.name}") for journal in rows]


def _direction_for(invoice: Invoice) -> str:
    for direction, kinds in payments.SETTLES.items():
        if invoice.kind in kinds:
            return direction
    return PaymentDirection.INBOUND


def _share(paid: str, residual: Decimal) -> str:
    try:
        amount = Decimal(paid.strip().replace(",", "."))
    except ArithmeticError:
        return paid  # the service reports the amount
    return str(min(amount, residual)) if amount.is_finite() and amount > 0 and residual > 0 else paid


@payments_page(payments.REGISTER)
@require_http_methods(["GET", "POST"])
def payment_register(request: HttpRequest) -> HttpResponse:
    """``?invoice=<id>``: pay one invoice (amount prefilled with what is due);
    ``?organization=<id>[&direction=outbound]``: one payment for several open invoices."""
    actor = _actor(request)
    source = request.POST if request.method == "POST" else request.GET
    invoice_id = _int(source.get("invoice"))
    single = None
    if invoice_id is not None:
        # A POST may replay a payment that already settled the invoice: the service decides.
        single = payments.invoice_for_payment(actor, invoice_id, open_only=request.method == "GET")
        organization_id = single.organization_id
        direction = _direction_for(single)
    else:
        organization_id = _int(source.get("organization")) or 0
        direction = source.get("direction") or PaymentDirection.INBOUND
        if direction not in PaymentDirection.values:
            direction = PaymentDirection.INBOUND
    organization = payments.organization_of(actor, organization_id)
    open_rows = [single] if single is not None else payments.open_invoices(actor, organization.pk, direction)
    journals = _journal_choices(actor)
    initial = {
        "date": timezone.localdate(), "method": PaymentMethod.TRANSFER, "idempotency_key": uuid.uuid4().hex,
        "journal_id": journals[0][0] if journals else None,
        "amount": str(single.residual_amount) if single is not None else "",
        "currency": single.currency if single is not None else "",  # multi-currency
    }  # fmt: skip
    form = PaymentForm(request.POST if request.method == "POST" else None, initial=initial, journals=journals,
                       sites=site_choices(actor.company_id))  # fmt: skip
    amounts = {inv.pk: request.POST.get(f"allocate-{inv.pk}", "").strip() for inv in open_rows}
    if request.method == "GET":
        amounts = {inv.pk: str(inv.residual_amount) if single is not None else "" for inv in open_rows}
    row_errors: dict[int, list[str]] = {}
    if request.method == "POST" and form.is_valid():
        # The key was generated when this form was rendered: seen already, the form was
        # submitted twice (double click, resend) — show what the first submit recorded.
        replayed = payments.payment_for_key(actor, form.cleaned_data["idempotency_key"])
        if replayed is not None:
            messages.info(request, _("This payment was already recorded."))
            return redirect("accounting:payment", replayed.pk)
        if single is not None:
            # One invoice: it takes what is paid, up to what it owes; the rest is a credit.
            amounts[single.pk] = _share(form.cleaned_data["amount"], Decimal(single.residual_amount))
        positions = [inv.pk for inv in open_rows if amounts[inv.pk]]
        allocations = [{"invoice_id": pk, "amount": amounts[pk]} for pk in positions]
        try:
            payment = payments.payment_register(
                actor=actor, organization_id=organization.pk, direction=direction, allocations=allocations,
                **form.cleaned_data,
            )  # fmt: skip
        except ValidationFailed as exc:
            for name, problems in exc.fields.items():
                parts = name.split(".")
                if parts[0] == "allocations" and len(parts) == 3 and parts[1].isdigit():
                    row_errors.setdefault(positions[int(parts[1])], []).extend(problems)
                elif name in form.fields:
                    form.add_error(name, problems)
                else:
                    form.add_error(None, problems)
        else:
            if payment.replayed:
                messages.info(request, _("This payment was already recorded."))
            else:
                messages.success(request, _("Payment recorded."))
            return redirect("accounting:payment", payment.pk)
    rows = [{"invoice": inv, "amount": amounts[inv.pk], "errors": row_errors.get(inv.pk, [])} for inv in open_rows]
    context = {
        "form": form, "organization": organization, "direction": direction, "single": single, "rows": rows,
        "credits": payments.partner_credits(actor, organization.pk),
        "total_due": sum((Decimal(inv.residual_amount) for inv in open_rows), Decimal(0)),
    }  # fmt: skip
    status = 422 if request.method == "POST" else 200
    return render(request, "accounting/payments/register.html", context, status=status)


# --- List and detail ------------------------------------------------------------------


@payments_page(payments.VIEW)
@require_GET
def payment_list(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    filters = payments.PaymentFilters(
        direction=request.GET.get("direction", ""), state=request.GET.get("state", ""),
        organization_id=_int(request.GET.get("organization")), q=request.GET.get("q", "")[:100],
    )  # fmt: skip
    rows = payments.payment_list(actor, filters).order_by("-date", "-id")
    page = paginate(rows, _int(request.GET.get("page")) or 1)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page, "filters": filters, "query": query.urlencode(), "directions": PaymentDirection.choices,
        "states": PaymentState.choices,
    }  # fmt: skip
    return render(request, "accounting/payments/list.html", context)


class CancelForm(BootstrapForm):
    date = forms.DateField(label=_("Reversal date"), widget=DATE)


class CreditForm(BootstrapForm):
    invoice_id = forms.TypedChoiceField(label=_("Invoice"), coerce=int)
    amount = forms.CharField(label=_("Amount"), max_length=20)

    def __init__(self, *args: Any, invoices: list[Invoice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["invoice_id"].choices = [  # type: ignore[attr-defined]
            (inv.pk, f"{inv.number} — {inv.residual_amount} {inv.currency}") for inv in invoices
        ]


def _detail(request: HttpRequest, payment_id: int, *, cancel_form: Any = None, credit_form: Any = None,
            status: int = 200) -> HttpResponse:  # fmt: skip
    actor = _actor(request)
    payment = payments.payment_get(actor, payment_id)
    can_register = actor.has_perm(payments.REGISTER)
    targets: list[Invoice] = []
    if can_register and payment.is_posted and payment.unallocated:
        targets = [
            inv for inv in payments.open_invoices(actor, payment.organization_id, payment.direction)
            if inv.partner_account_id == payment.partner_account_id
        ]  # fmt: skip
    context = {
        "payment": payment, "allocations": list(payment.allocations.all()), "can_register": can_register,
        "cancel_form": cancel_form or CancelForm(initial={"date": timezone.localdate()}),
        "credit_form": credit_form or CreditForm(invoices=targets, initial={"amount": payment.unallocated}),
        "credit_targets": targets, "can_view_ledger": actor.has_perm("accounting.view_ledger"),
    }  # fmt: skip
    return render(request, "accounting/payments/detail.html", context, status=status)


@payments_page(payments.VIEW)
@require_GET
def payment_detail(request: HttpRequest, payment_id: int) -> HttpResponse:
    return _detail(request, payment_id)


@payments_page(payments.REGISTER)
@require_POST
def payment_cancel(request: HttpRequest, payment_id: int) -> HttpResponse:
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            payments.payment_cancel(actor=_actor(request), payment_id=payment_id, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Payment cancelled by a reversal entry."))
            return redirect("accounting:payment", payment_id)
    return _detail(request, payment_id, cancel_form=form, status=422)


@payments_page(payments.REGISTER)
@require_POST
def payment_use_credit(request: HttpRequest, payment_id: int) -> HttpResponse:
    actor = _actor(request)
    payment = payments.payment_get(actor, payment_id)
    invoices = payments.open_invoices(actor, payment.organization_id, payment.direction)
    form = CreditForm(request.POST, invoices=invoices)
    if form.is_valid():
        try:
            payments.payment_allocate_credit(actor=actor, payment_id=payment_id, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Credit allocated."))
            return redirect("accounting:payment", payment_id)
    return _detail(request, payment_id, credit_form=form, status=422)


# --- Matching -------------------------------------------------------------------------


@payments_page("accounting.view_ledger")
@require_GET
def partner_matching(request: HttpRequest, partner_account_id: int) -> HttpResponse:
    actor = _actor(request)
    open_only = request.GET.get("all") != "1"
    partner, rows = matching.partner_lines(actor, partner_account_id, open_only=open_only)
    page = paginate(rows, _int(request.GET.get("page")) or 1, 200)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "partner": partner, "page": page, "open_only": open_only, "query": query.urlencode(),
        "can_match": actor.has_perm("accounting.match_lines"),
    }  # fmt: skip
    return render(request, "accounting/payments/matching.html", context)


@payments_page("accounting.match_lines")
@require_POST
def partner_match(request: HttpRequest, partner_account_id: int) -> HttpResponse:
    actor = _actor(request)
    line_ids = request.POST.getlist("line")
    try:
        if "unmatch" in request.POST:
            freed = matching.unmatch_lines(actor=actor, line_ids=line_ids)
            messages.success(request, _("%(n)s lines unmatched.") % {"n": len(freed)})
        else:
            found = matching.match_lines(actor=actor, line_ids=line_ids)
            if found.full:
                messages.success(request, _("Lines matched: %(code)s.") % {"code": found.line_code})
            else:
                messages.success(request, _("Lines partially matched: %(code)s.") % {"code": found.line_code})
    except ValidationFailed as exc:
        messages.error(request, " ".join(m for ms in exc.fields.values() for m in ms) or exc.message)
    return redirect("accounting:partner_matching", partner_account_id)


def payment_urls() -> list[Any]:
    """Mounted by ``accounting/urls.py`` (after its id converter is registered)."""
    return [
        path("payments/", payment_list, name="payments"),
        path("payments/new/", payment_register, name="payment_register"),
        path("payments/<accid:payment_id>/", payment_detail, name="payment"),
        path("payments/<accid:payment_id>/cancel/", payment_cancel, name="payment_cancel"),
        path("payments/<accid:payment_id>/use-credit/", payment_use_credit, name="payment_use_credit"),
        path("partners/<accid:partner_account_id>/matching/", partner_matching, name="partner_matching"),
        path("partners/<accid:partner_account_id>/matching/apply/", partner_match, name="partner_match"),
    ]

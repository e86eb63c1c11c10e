"""The salesperson's side of quote documents: download the PDF, send by email, copy the link.

Each view checks the module, the record rule (the quote selectors: a quote the actor may
not see is a 404) and the permission (sending and links need ``sales.manage_quotes``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from comptoir.kernel import modules
from comptoir.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from comptoir.org.forms import BootstrapForm
from comptoir.sales import acceptance, documents, sending
from comptoir.sales.models_quotes import Quote, QuoteVersion
from comptoir.sales.quote_pdf import filename, version_pdf


class SendForm(BootstrapForm):
    to = forms.CharField(label=gettext_lazy("To"), max_length=1000,
                         help_text=gettext_lazy("Email addresses, separated by commas."))  # fmt: skip
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200, required=False)
    message = forms.CharField(
        label=gettext_lazy("Message"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=gettext_lazy("The link to accept online is added below your message."),
    )


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def sales_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, sales on for the company (404 otherwise)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        actor = _actor(request)
        if not modules.is_enabled(actor.company_id, "sales"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _detail(quote: Quote) -> str:
    from comptoir.sales.reminders import quote_path

    return quote_path(quote.pk)


@sales_page
@require_GET
def quote_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The PDF of a version (``?version=N``; the current version by default)."""
    actor = _actor(request)
    quote, version = documents.quote_version_get(actor, pk, request.GET.get("version"))
    data = version_pdf(quote, version)
    accepted = quote.accepted_version == version.version and quote.acceptance_via == "online"
    response = HttpResponse(data, content_type="application/pdf")
    disposition = "inline" if request.GET.get("inline") else "attachment"
    name = filename(quote.number, version.version, accepted=accepted)
    response["Content-Disposition"] = f'{disposition}; filename="{name}"'
    return response


@sales_page
@require_http_methods(["GET", "POST"])
def quote_send(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    if not actor.has_perm(sending.MANAGE):
        raise PermissionDenied("permission_denied")
    quote = documents.quote_get(actor, pk)
    sender = getattr(actor.user, "full_name", "") or ""
    initial = {
        "to": ", ".join(sending.default_recipients(quote)),
        "subject": sending.default_subject(quote),
        "message": sending.default_message(quote, sender),
    }
    form = SendForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            version = sending.quote_send(actor=actor, quote_id=quote.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Quote sent (version %(version)s).") % {"version": version.version})
            return redirect(_detail(quote))
    return render(request, "sales/documents/send.html",
                  {"form": form, "quote": quote, "back": _detail(quote)},
                  status=422 if form.errors else 200)  # fmt: skip


@sales_page
@require_GET
def quote_link(request: HttpRequest, pk: int) -> HttpResponse:
    """The acceptance link of the current version, to copy into another channel."""
    actor = _actor(request)
    if not actor.has_perm(sending.MANAGE):
        raise PermissionDenied("permission_denied")
    quote = documents.quote_get(actor, pk)
    version = QuoteVersion.objects.filter(quote=quote, version=quote.version, sent_at__isnull=False).first()
    link = ""
    problem = ""
    if quote.state == "sent" and version is not None:
        link = documents.link_issue(actor=actor, quote_id=quote.pk)
    else:
        problem = _("Only a sent quote has a link to accept online: send it first.")
    return render(request, "sales/documents/link.html",
                  {"quote": quote, "link": link, "problem": problem, "back": _detail(quote),
                   "max_age_days": acceptance.max_age().days})  # fmt: skip

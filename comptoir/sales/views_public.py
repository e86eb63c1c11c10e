"""The customer's side: the quote behind a signed link, to accept or decline online.

No login, outside the application's shell (its own minimal layout), in the quote's
language. CSRF applies to the form (the page sets the cookie); every POST is counted by
``acceptance.rate_limited`` per client address. A link that is not ours, was altered, or
leads to a cancelled quote is a 404 page; a stale or expired one a 410 page — never a 500.
"""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods

from comptoir.accounting.einvoice.mentions import money
from comptoir.kernel.errors import DomainError, ValidationFailed
from comptoir.org.views_auth import client_ip
from comptoir.sales import acceptance
from comptoir.sales.acceptance import LinkInvalid, LinkState, PublicQuote
from comptoir.sales.quote_pdf import context as pdf_context
from comptoir.sales.quote_pdf import filename, language_of, version_pdf


def _language(public: PublicQuote | None, request: HttpRequest) -> str:
    if public is not None:
        return language_of(public.quote, public.version.snapshot if public.version else None)
    return translation.get_language() or "fr"


def _invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "sales/public/invalid.html", {}, status=404)


def _page(request: HttpRequest, token: str, public: PublicQuote, *, status: int | None = None,
          errors: dict[str, list[str]] | None = None, message: str = "") -> HttpResponse:  # fmt: skip
    language = _language(public, request)
    with translation.override(language):
        snapshot = (public.version.snapshot if public.version else None) or {}
        document = pdf_context(public.quote, snapshot, language=language)
        data = {
            "token": token,
            "public": public,
            "quote": public.quote,
            "doc": document,
            "state": public.state,
            "errors": errors or {},
            "message": message,
            "posted": request.POST if request.method == "POST" else {},
            "chosen": {int(v) for v in request.POST.getlist("options") if v.isdigit()}
            if request.method == "POST"
            else {row["id"] for row in document["rows"] if row.get("chosen")},
            "language": language,
            "accepted_total": money(Decimal(public.quote.total_amount), public.quote.currency)
            if public.state == LinkState.ACCEPTED
            else "",
        }
        response = render(request, "sales/public/quote.html", data, status=status or public.status)
    response["Content-Language"] = language
    response["Referrer-Policy"] = "same-origin"  # the token is in the URL: never sent to another site
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@ensure_csrf_cookie
@csrf_protect
@require_http_methods(["GET", "POST"])
def quote_public(request: HttpRequest, token: str) -> HttpResponse:
    try:
        public = acceptance.resolve(token)
    except LinkInvalid:
        return _invalid(request)
    if request.method == "GET":
        return _page(request, token, public)
    ip = client_ip(request)
    if acceptance.rate_limited(ip):
        language = _language(public, request)
        with translation.override(language):
            return render(request, "sales/public/throttled.html", {"language": language}, status=429)
    action = request.POST.get("action", "accept")
    try:
        # The customer reads the page in the quote's language: its error messages too.
        with translation.override(_language(public, request)):
            if action == "decline":
                acceptance.decline_online(token=token, reason=request.POST.get("reason", ""), ip=ip)
            else:
                if not request.POST.get("agree"):
                    raise ValidationFailed(fields={"agree": [_("Tick the box to confirm you accept this quote.")]})
                acceptance.accept_online(
                    token=token, name=request.POST.get("name", ""), ip=ip,
                    selected_line_ids=request.POST.getlist("options"),
                )  # fmt: skip
    except LinkInvalid:
        return _invalid(request)
    except ValidationFailed as exc:
        return _page(request, token, public, status=422, errors=exc.fields, message=exc.message)
    except DomainError as exc:
        # Stale, expired or already answered meanwhile: show the page as it now stands.
        try:
            current = acceptance.resolve(token)
        except LinkInvalid:
            return _invalid(request)
        return _page(request, token, current, status=409 if current.status == 200 else current.status,
                     message=exc.message)  # fmt: skip
    return HttpResponseRedirect(request.path)


@never_cache
@require_GET
def quote_public_pdf(request: HttpRequest, token: str) -> HttpResponse:
    try:
        public = acceptance.resolve(token)
    except LinkInvalid:
        return _invalid(request)
    if public.state in (LinkState.STALE, LinkState.EXPIRED) or public.version is None:
        return _page(request, token, public)
    data = version_pdf(public.quote, public.version)
    accepted = public.state == LinkState.ACCEPTED
    response = HttpResponse(data, content_type="application/pdf")
    name = filename(public.quote.number, public.version.version, accepted=accepted)
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response

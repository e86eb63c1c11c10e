"""Sign-in pages: password, TOTP second factor, 2FA enrolment, language and company switching.

Views parse the input, call the org services, and render. Throttling counts failures per
email and per IP for both the password and the code steps; a throttled attempt is refused
before any credential is checked.
"""

from __future__ import annotations

import time
from typing import Any, cast

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from comptoir.kernel.context import Channel
from comptoir.kernel.errors import ValidationFailed
from comptoir.org import services
from comptoir.org.forms_auth import CodeForm, CompanySwitchForm, LanguageForm, LoginForm
from comptoir.org.models import User
from comptoir.org.selectors import build_actor

PENDING_USER = "pending_user_id"
PENDING_AT = "pending_at"
PENDING_NEXT = "pending_next"
# The code step must follow the password step quickly; a stale half-login starts over.
PENDING_MAX_AGE_SECONDS = 300


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; behind our own proxy, the last hop it appended (not spoofable)."""
    if settings.SECURE_PROXY_SSL_HEADER is not None:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR") or None


def safe_next(request: HttpRequest, candidate: str | None, default: str = "web:home") -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(default)


def _throttled_message() -> str:
    minutes = max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
    return _("Too many failed attempts. Wait %(minutes)s minutes before trying again.") % {"minutes": minutes}


def _complete_login(request: HttpRequest, user: User, next_url: str | None) -> HttpResponse:
    services.login_succeeded(user.email)
    for key in (PENDING_USER, PENDING_AT, PENDING_NEXT):
        request.session.pop(key, None)
    login(request, user, backend="comptoir.org.auth.EmailBackend")
    actor = build_actor(user, None, Channel.UI)
    request.session["company_id"] = actor.company_id
    request.session["language"] = user.language
    services.login_record(actor=actor, ip=client_ip(request), second_factor=user.has_totp)
    return HttpResponseRedirect(safe_next(request, next_url))


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.user.is_authenticated and request.method == "GET":
        return HttpResponseRedirect(safe_next(request, next_url))
    form = LoginForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            email, ip = form.cleaned_data["email"], client_ip(request)
            if services.login_throttled(email, ip):
                form.add_error(None, _throttled_message())
                status = 429
            else:
                user = authenticate(request, email=email, password=form.cleaned_data["password"])
                if user is None:
                    services.login_failed(email, ip)
                    form.add_error(None, _("The email or the password is not correct."))
                    status = 422
                elif user.has_totp:
                    # Not logged in yet: the second factor decides.
                    request.session.cycle_key()
                    request.session[PENDING_USER] = user.pk
                    request.session[PENDING_AT] = int(time.time())
                    request.session[PENDING_NEXT] = next_url
                    return redirect("web:login_verify")
                else:
                    return _complete_login(request, user, next_url)
        else:
            status = 422
    return render(request, "org/auth/login.html", {"form": form, "next": next_url}, status=status)


def _pending_user(request: HttpRequest) -> User | None:
    user_id, started = request.session.get(PENDING_USER), request.session.get(PENDING_AT)
    if not user_id or not isinstance(started, int) or time.time() - started > PENDING_MAX_AGE_SECONDS:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def verify_view(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        for key in (PENDING_USER, PENDING_AT, PENDING_NEXT):
            request.session.pop(key, None)
        messages.info(request, _("Please sign in again."))
        return redirect("web:login")
    form = CodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            ip = client_ip(request)
            if services.login_throttled(user.email, ip):
                form.add_error(None, _throttled_message())
                status = 429
            elif services.totp_verify(user=user, code=form.cleaned_data["code"]):
                return _complete_login(request, user, request.session.get(PENDING_NEXT))
            else:
                services.login_failed(user.email, ip)
                form.add_error("code", _("This code is not valid, or it was already used."))
                status = 422
        else:
            status = 422
    return render(request, "org/auth/verify.html", {"form": form}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    language = request.session.get("language")
    logout(request)
    if language:
        # Signing out should not switch the interface back to the default language.
        request.session["language"] = language
    return redirect("web:login")


def _current_user(request: HttpRequest) -> User:
    """The logged-in user (the views using this are behind ``login_required``)."""
    return cast(User, request.user)


def _qr_svg(uri: str) -> str:
    return segno.make(uri, error="m").svg_inline(scale=4, border=2, title=_("QR code for your authenticator app"))


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def totp_enrol_view(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    user = _current_user(request)
    if user.has_totp:
        return render(request, "org/auth/totp_status.html", {"form": CodeForm()})
    if not user.totp_secret:
        services.totp_begin(user=user)
    form = CodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                codes = services.totp_confirm(actor=actor, code=form.cleaned_data["code"])
            except ValidationFailed as exc:
                for message in exc.fields.get("code", [exc.message]):
                    form.add_error("code", message)
                status = 422
            else:
                return render(request, "org/auth/totp_codes.html", {"codes": codes})
        else:
            status = 422
    context: dict[str, Any] = {
        "form": form,
        "secret": user.totp_secret,
        "qr_svg": _qr_svg(services.totp_uri(user)),
        "required": services.totp_required(user),
    }
    return render(request, "org/auth/totp_enrol.html", context, status=status)


@login_required
@require_POST
def totp_disable_view(request: HttpRequest) -> HttpResponse:
    """Turn one's own second factor off; a current code proves the phone is at hand."""
    user = _current_user(request)
    form = CodeForm(request.POST)
    if not user.has_totp:
        return redirect("web:totp")
    if form.is_valid():
        if services.login_throttled(user.email, client_ip(request)):
            form.add_error("code", _throttled_message())
        elif services.totp_verify(user=user, code=form.cleaned_data["code"]):
            services.totp_disable(actor=request.actor, user_id=user.pk)  # type: ignore[attr-defined]
            messages.success(request, _("Two-factor authentication is off."))
            return redirect("web:totp")
        else:
            services.login_failed(user.email, client_ip(request))
            form.add_error("code", _("This code is not valid, or it was already used."))
    return render(request, "org/auth/totp_status.html", {"form": form}, status=422)


def _form_failure(form: Any) -> ValidationFailed:
    return ValidationFailed(fields={name: [str(m) for m in errs] for name, errs in form.errors.items()})


@require_POST
def language_view(request: HttpRequest) -> HttpResponse:
    """Logged-in users keep their choice on their account; anonymous visitors in session + cookie."""
    form = LanguageForm(request.POST)
    if not form.is_valid():
        raise _form_failure(form)
    language = form.cleaned_data["language"]
    if request.user.is_authenticated:
        services.user_set_language(actor=request.actor, language=language)  # type: ignore[attr-defined]
    request.session["language"] = language
    response = HttpResponseRedirect(safe_next(request, form.cleaned_data["next"] or request.META.get("HTTP_REFERER")))
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


@login_required
@require_POST
def company_switch_view(request: HttpRequest) -> HttpResponse:
    form = CompanySwitchForm(request.POST)
    if not form.is_valid():
        raise _form_failure(form)
    company_id = form.cleaned_data["company_id"]
    services.user_switch_company(actor=request.actor, company_id=company_id)  # type: ignore[attr-defined]
    request.session["company_id"] = company_id
    # Pages of the previous company mean nothing in the new one: go home unless told otherwise.
    return HttpResponseRedirect(safe_next(request, form.cleaned_data["next"]))

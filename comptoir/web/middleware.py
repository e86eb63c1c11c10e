"""Request plumbing for the UI: the actor, the user's language, and DomainError mapping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation

from comptoir.kernel.context import Channel, channel
from comptoir.kernel.errors import DomainError


class UserLanguageMiddleware:
    """Use the logged-in user's language (stored on the user) before LocaleMiddleware runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = request.session.get("language") if hasattr(request, "session") else None
        if language:
            request.COOKIES.setdefault("django_language", language)
            translation.activate(language)
        return self.get_response(request)


class ActorMiddleware:
    """Attach ``request.actor`` (lazy) for logged-in users; mark the channel as UI."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.utils.functional import SimpleLazyObject

        def load() -> Any:
            from comptoir.org.selectors import build_actor

            if not request.user.is_authenticated:
                return None
            return build_actor(request.user, request.session.get("company_id"), Channel.UI)

        request.actor = SimpleLazyObject(load)  # type: ignore[attr-defined]
        if request.path.startswith("/api/"):
            return self.get_response(request)
        with channel(Channel.UI):
            return self.get_response(request)


class DomainErrorMiddleware:
    """The UI's single mapping of DomainError: an error page, or an htmx fragment."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DomainError):
            return None
        template = "web/error_fragment.html" if getattr(request, "htmx", False) else "web/error.html"
        response = render(request, template, {"error": exception}, status=exception.status)
        if getattr(request, "htmx", False):
            # Show the error in the page's error area, whatever element made the request.
            response["HX-Retarget"] = "#errors"
            response["HX-Reswap"] = "innerHTML"
        return response


class TwoFactorMiddleware:
    """Administrators must use a second factor: until they enrol, every UI page sends them there.

    Also gives a session without a stored language (e.g. opened by an admin tool) the
    user's own language.
    """

    EXEMPT_PREFIXES = ("/account/2fa/", "/logout/", "/language/", "/i18n/", "/jsi18n/", "/api/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        if "language" not in request.session and user.language:
            request.session["language"] = user.language
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language  # type: ignore[attr-defined]
        path = request.path
        if path.startswith(settings.STATIC_URL) or path.startswith(self.EXEMPT_PREFIXES) or user.has_totp:
            return self.get_response(request)
        from comptoir.org.services import totp_required

        if not totp_required(user):
            return self.get_response(request)
        from django.http import HttpResponseRedirect
        from django.urls import reverse
        from django.utils.http import urlencode

        target = f"{reverse('web:totp')}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request") == "true":  # runs before HtmxMiddleware
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return HttpResponseRedirect(target)

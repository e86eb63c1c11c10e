"""API plumbing shared by every app's ``api.py``: auth, errors, lists, module gating.

An app builds its endpoints on ``apikit.router()`` (or ``apikit.module_router(code)``),
reads the caller with ``apikit.actor(request)``, declares ``responses=apikit.responses(...)``
and, for lists, takes ``ListParams`` and returns ``apikit.paginate(...)``. Errors are mapped
once here (``install``): every non-2xx answer is ``{code, message, fields}``.

The kernel must not import the org app, so how a key or a session becomes an ``Actor`` is
plugged in by the project (``configure``, called from ``comptoir.config.api``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf
from pydantic import create_model, field_validator

from comptoir.kernel import authz, modules
from comptoir.kernel.context import Actor, Channel, channel
from comptoir.kernel.errors import DomainError, NotFound, PermissionDenied
from comptoir.kernel.pagination import paginate as paginate_queryset
from comptoir.kernel.pagination import parse_sort

logger = logging.getLogger("comptoir.api")

# Largest value a database id (bigint) can hold: larger ids in paths or filters are 422.
MAX_ID = 2**63 - 1
# Deep pages are refused rather than turned into huge OFFSETs.
MAX_PAGE = 1_000_000


# --- Error shape ----------------------------------------------------------------------


class ErrorOut(Schema):
    """Every error answer: a stable ``code``, a readable ``message``, per-field messages."""

    code: str
    message: str
    fields: dict[str, list[str]] = {}


ERROR_STATUSES = (401, 403, 404, 409, 422)


def responses(ok: Any = None, *, status: int = 200) -> dict[int, Any]:
    """Response map for an operation: its success schema plus the standard error answers."""
    result: dict[int, Any] = {code: ErrorOut for code in ERROR_STATUSES}
    result[status] = ok
    return result


def error_response(
    api: Any, request: HttpRequest, status: int, code: str, message: Any, fields: dict[str, list[str]] | None = None
) -> HttpResponse:
    return api.create_response(request, {"code": code, "message": str(message), "fields": fields or {}}, status=status)


def _field_name(loc: Iterable[Any]) -> str:
    """('query', 'page') → 'page'; ('body', 'payload', 'address', 0) → 'address.0'."""
    parts = list(loc)
    if parts and parts[0] == "body":
        # ninja puts the body under the endpoint's argument name: drop it.
        parts = parts[2:]
    elif parts:
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "__all__"


def validation_fields(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        fields.setdefault(_field_name(error.get("loc", ())), []).append(message)
    return fields


def install(api: Any) -> None:
    """Map errors once for ``api`` and run every operation in the API channel."""

    def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return error_response(api, request, exc.status, exc.code, exc.message, exc.fields)

    def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return error_response(
            api, request, 422, "validation_failed", _("The input is invalid."), validation_fields(exc.errors)
        )

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc, AuthenticationError):
            return error_response(
                api, request, 401, "unauthenticated", _("Authentication required: a valid API key or session.")
            )
        if isinstance(exc, Throttled):
            return error_response(api, request, 429, "throttled", _("Too many requests."))
        if exc.status_code == 400:
            # The only 400 ninja raises is an unparsable body: report it like any bad input.
            return error_response(
                api, request, 422, "invalid_body", _("The input is invalid."),
                {"body": [str(_("The request body is not valid JSON."))]},
            )  # fmt: skip
        return error_response(api, request, exc.status_code, "http_error", exc.message)

    def on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(api, request, 404, "not_found", _("Not found."))

    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        # A bug. Tests (and COMPTOIR_API_RAISE_ERRORS) let it raise with its traceback;
        # production logs it and still answers JSON in the documented shape.
        if getattr(settings, "COMPTOIR_API_RAISE_ERRORS", settings.TESTING):
            raise exc
        logger.exception("API error on %s %s", request.method, request.path, exc_info=exc)
        return error_response(api, request, 500, "server_error", _("Internal error; it has been logged."))

    api.add_exception_handler(DomainError, on_domain_error)
    api.add_exception_handler(NinjaValidationError, on_validation_error)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_404)
    api.add_exception_handler(Exception, on_unexpected)
    api.add_decorator(_in_api_channel, mode="view")


def _in_api_channel(run: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with channel(Channel.API):
            return run(request, *args, **kwargs)

    return wrapper


# --- Authentication -------------------------------------------------------------------

# Plugged in by the project: secret → (actor, scopes) or None; request → actor or None.
_key_actor: Callable[[str], tuple[Actor, list[str]] | None] | None = None
_session_actor: Callable[[HttpRequest], Actor | None] | None = None


def configure(
    *,
    key_actor: Callable[[str], tuple[Actor, list[str]] | None],
    session_actor: Callable[[HttpRequest], Actor | None],
) -> None:
    global _key_actor, _session_actor
    _key_actor = key_actor
    _session_actor = session_actor


def _gate(request: HttpRequest, actor: Actor, module: str | None) -> Actor:
    if module is not None and not modules.is_enabled(actor.company_id, module):
        raise NotFound("module_disabled", _("This module is not enabled for your company."))
    request.actor = actor  # type: ignore[attr-defined]
    return actor


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer cpt_…``. A bad key is a 401, never a fall back to the session."""

    def __init__(self, module: str | None = None) -> None:
        self.module = module
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Actor:
        assert _key_actor is not None, "apikit.configure() was not called"
        found = _key_actor(token.strip())
        if found is None:
            raise AuthenticationError()
        actor, scopes = found
        request.api_scopes = scopes  # type: ignore[attr-defined]
        return _gate(request, actor, self.module)


class SessionAuth(APIKeyCookie):
    """The browser session, so the UI can call the API; unsafe methods need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, module: str | None = None) -> None:
        self.module = module
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Actor | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        # Checked only for a logged-in session: a request without one is a 401, not a 403.
        if check_csrf(request) is not None:
            raise PermissionDenied("csrf_failed", _("CSRF check failed: send the X-CSRFToken header."))
        return self.authenticate(request, request.COOKIES.get(self.param_name))

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        assert _session_actor is not None, "apikit.configure() was not called"
        actor = _session_actor(request)
        if actor is None:
            return None
        request.api_scopes = None  # type: ignore[attr-defined]
        return _gate(request, actor, self.module)


def auth(module: str | None = None) -> list[Any]:
    return [ApiKeyAuth(module), SessionAuth(module)]


def router(**kwargs: Any) -> Router:
    """A router for an app that is always on (org, kernel)."""
    return Router(auth=auth(), **kwargs)


def module_router(code: str, **kwargs: Any) -> Router:
    """A router whose every operation answers 404 ``module_disabled`` while ``code`` is off."""
    kwargs.setdefault("tags", [code])
    return Router(auth=auth(code), **kwargs)


def actor(request: HttpRequest) -> Actor:
    """The authenticated caller (set by the auth classes above)."""
    return request.auth  # type: ignore[attr-defined,no-any-return]


def scopes(request: HttpRequest) -> list[str] | None:
    """The API key's scopes, or None for a browser session (no narrowing)."""
    return getattr(request, "api_scopes", None)


def require(actor: Actor, codename: str) -> None:
    """403 unless the actor holds ``codename`` (already narrowed by the key's scopes)."""
    authz.require(actor, codename)


# --- Inputs ---------------------------------------------------------------------------


class InputSchema(Schema):
    """Base of request schemas: unknown body fields are refused, NUL characters too."""

    model_config = {"extra": "forbid"}

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store NUL in text; refuse it here instead of failing later.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(str(_("Null characters are not allowed.")))
        return value


class ListParams(InputSchema):
    """Query parameters every list endpoint takes."""

    model_config = {"extra": "ignore"}

    page: int = Field(1, ge=1, le=MAX_PAGE, description="Page number, from 1.")
    page_size: int = Field(
        settings.COMPTOIR_PAGE_SIZE, ge=1, le=settings.COMPTOIR_PAGE_SIZE_MAX, description="Rows per page."
    )
    sort: str | None = Field(
        None, max_length=200, description="Comma-separated fields, '-' for descending, e.g. `name,-created_at`."
    )


_page_models: dict[type, type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """The list envelope ``{items, count, page, page_size, pages}`` for ``item`` rows."""
    if item not in _page_models:
        name = item.__name__.removesuffix("Out") + "Page"
        _page_models[item] = create_model(
            name,
            __base__=Schema,
            items=(list[item], ...),  # type: ignore[valid-type]
            count=(int, ...),
            page=(int, ...),
            page_size=(int, ...),
            pages=(int, ...),
        )
    return _page_models[item]


def _sorted(queryset: QuerySet, params: ListParams, sort: dict[str, str] | None, default_sort: str) -> QuerySet:
    if sort is None:
        return queryset
    order = parse_sort(params.sort, sort, default_sort)
    # The primary key last keeps pages stable when sort values tie.
    return queryset.order_by(*order, "-pk" if order and order[0].startswith("-") else "pk")


def paginate(
    queryset: QuerySet, params: ListParams, *, sort: dict[str, str] | None = None, default_sort: str = ""
) -> dict[str, Any]:
    """Sort (allow-listed public names → ORM fields; unknown → 422) and cut one page."""
    page = paginate_queryset(_sorted(queryset, params, sort, default_sort), params.page, params.page_size)
    return {
        "items": page.items,
        "count": page.count,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
    }


def paginate_rows(
    request: HttpRequest,
    rows: QuerySet,
    params: ListParams,
    *,
    item: type[Schema],
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    sort: dict[str, str] | None = None,
    default_sort: str = "",
) -> HttpResponse:
    """``paginate`` for a ``.values()`` queryset whose dicts already have ``item``'s fields.

    The page is written straight to JSON: no model instances and no pydantic pass over
    every row, which cost more than the queries on a busy list endpoint. ``convert`` turns
    a row into ``item``'s shape (e.g. split an aggregated column). The body is what
    ``paginate`` + the ``page_of(item)`` response would give, byte for byte (same envelope,
    same encoder); tests validate every such page against the schema to keep it so.
    """
    page = paginate_queryset(_sorted(rows, params, sort, default_sort), params.page, params.page_size)
    names = list(item.model_fields)
    source = map(convert, page.items) if convert else page.items
    items = [{name: row[name] for name in names} for row in source]
    data = {"items": items, "count": page.count, "page": page.page, "page_size": page.page_size, "pages": page.pages}
    if settings.TESTING:
        # The shortcut must not drift from the declared schema: the pydantic round trip is identity.
        validated = page_of(item).model_validate(data).model_dump()
        assert validated == data, f"{item.__name__} rows differ from their schema: {validated} != {data}"
    return _json_renderer.render_response(request, data)


class _JSONPage(JSONRenderer):
    def render_response(self, request: HttpRequest, data: Any) -> HttpResponse:
        # What NinjaAPI.create_response does for a 200, with ninja's own encoder.
        return HttpResponse(self.render(request, data, response_status=200),
                            content_type=f"{self.media_type}; charset={self.charset}")  # fmt: skip


_json_renderer = _JSONPage()

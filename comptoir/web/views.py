"""Shell pages. Views parse, call one service or selector, and render."""

from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from comptoir.kernel import notifications
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.forms_auth import SearchForm
from comptoir.web.selectors import SEARCH_MIN_LENGTH, global_search, home_summary


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html", {"summary": home_summary(request.actor)})  # type: ignore[attr-defined]


@login_required
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    if not form.is_valid():
        if request.htmx:  # type: ignore[attr-defined]
            raise ValidationFailed(fields={k: [str(m) for m in v] for k, v in form.errors.items()})
        return render(request, "web/search.html", {"form": form, "groups": [], "query": ""}, status=422)
    query = form.cleaned_data["q"].strip()
    context = {
        "form": form,
        "query": query,
        # The header's search box shows only this; other pages use "query" for their own filters.
        "global_query": query,
        "groups": global_search(request.actor, query),  # type: ignore[attr-defined]
        "min_length": SEARCH_MIN_LENGTH,
    }
    template = "web/search.html#results" if request.htmx else "web/search.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def notification_list(request: HttpRequest) -> HttpResponse:
    """The user's notifications; POST marks one (``id``) or all of them read."""
    actor = request.actor  # type: ignore[attr-defined]
    if request.method == "POST":
        raw = request.POST.get("id", "")
        if raw:
            if not raw.isdigit() or len(raw) > 18:
                raise NotFound("notification_not_found")
            notifications.mark_read(actor, [int(raw)])
        else:
            notifications.mark_read(actor)
        return redirect("web:notifications")
    rows = list(notifications.notification_list(actor)[:200])
    return render(request, "web/notifications.html", {"notifications": rows})


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers: the process answers. No session, no database."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: the database answers one ``SELECT 1``; 503 while it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return HttpResponse("database unavailable", content_type="text/plain", status=503)
    return HttpResponse("ok", content_type="text/plain")

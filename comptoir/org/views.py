"""Settings pages: company identity, sites, users and roles, API keys, modules.

Each view parses the request with a form, calls one org service or selector and renders.
Services decide validity and permissions; their ``ValidationFailed`` is shown next to the
form's fields, other ``DomainError``s go to the UI's error mapping (403/404/409).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.kernel.authz import ROLES, require
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.kernel.modules import enabled_codes
from comptoir.kernel.modules import registry as module_registry
from comptoir.org import selectors, services
from comptoir.org.forms import ApiKeyForm, CompanyForm, ModuleToggleForm, SiteForm, UserCreateForm, UserRolesForm
from comptoir.org.validators import format_siren, format_siret

COMPANY_FIELDS = list(CompanyForm.base_fields)
SITE_FIELDS = list(SiteForm.base_fields)


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


# (section, url name, label, permission needed to open it)
TABS = [
    ("company", "org:company", _("Company"), "org.view_company"),
    ("sites", "org:sites", _("Sites"), "org.view_site"),
    ("users", "org:users", _("Users and roles"), "org.view_user"),
    ("api_keys", "org:api_keys", _("API keys"), "org.manage_own_api_keys"),
    ("modules", "org:modules", _("Modules"), "org.manage_modules"),
    ("audit", "kernel:audit", _("Audit trail"), "kernel.view_audit"),
]


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """Render a settings page with the tabs the actor may open."""
    actor = _actor(request)
    tabs = [{"section": s, "url_name": u, "label": label} for s, u, label, perm in TABS if actor.has_perm(perm)]
    return render(request, template, {**context, "settings_tabs": tabs})


def _redirect(request: HttpRequest, url_name: str) -> HttpResponse:
    """A redirect that htmx follows as a full page load (confirm buttons post through htmx)."""
    if getattr(request, "htmx", False):
        from django.urls import reverse

        return HttpResponse(status=204, headers={"HX-Redirect": reverse(url_name)})
    return redirect(url_name)


# --- Company --------------------------------------------------------------------------


@login_required
@require_GET
def company(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "org.view_company")
    obj = selectors.company_get(actor)
    return _page(
        request,
        "org/settings/company.html",
        {
            "company": obj,
            "siren_display": format_siren(obj.siren),
            "can_edit": actor.has_perm("org.change_company"),
            "section": "company",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def company_edit(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "org.change_company")
    obj = selectors.company_get(actor)
    if request.method == "POST":
        form = CompanyForm(request.POST)
        if form.is_valid():
            try:
                services.company_update(actor=actor, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Company details saved."))
                return redirect("org:company")
    else:
        form = CompanyForm(initial={name: getattr(obj, name) for name in COMPANY_FIELDS})
    return _page(request, "org/settings/company_form.html", {"form": form, "company": obj, "section": "company"})


# --- Sites ----------------------------------------------------------------------------


@login_required
@require_GET
def sites(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "org.view_site")
    rows = [{"site": s, "siret_display": format_siret(s.siret)} for s in selectors.site_list(actor)]
    return _page(
        request,
        "org/settings/sites.html",
        {"rows": rows, "can_manage": actor.has_perm("org.manage_sites"), "section": "sites"},
    )


@login_required
@require_http_methods(["GET", "POST"])
def site_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "org.manage_sites")
    if request.method == "POST":
        form = SiteForm(request.POST)
        if form.is_valid():
            try:
                site = services.site_create(actor=actor, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Site “%(name)s” created.") % {"name": site.name})
                return redirect("org:sites")
    else:
        form = SiteForm()
    return _page(request, "org/settings/site_form.html", {"form": form, "site": None, "section": "sites"})


@login_required
@require_http_methods(["GET", "POST"])
def site_edit(request: HttpRequest, site_id: int) -> HttpResponse:
    actor = _actor(request)
    # A site of another company is a 404 before anything else; then the permission (403).
    site = selectors.site_get(actor, site_id)
    require(actor, "org.manage_sites")
    if request.method == "POST":
        form = SiteForm(request.POST)
        if form.is_valid():
            try:
                site = services.site_update(actor=actor, site_id=site.pk, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Site “%(name)s” saved.") % {"name": site.name})
                return redirect("org:sites")
    else:
        form = SiteForm(initial={name: getattr(site, name) for name in SITE_FIELDS})
    return _page(request, "org/settings/site_form.html", {"form": form, "site": site, "section": "sites"})


# --- Users and roles ------------------------------------------------------------------


@login_required
@require_GET
def users(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "org.view_user")
    role_labels = dict(ROLES)
    rows = [
        {"user": u, "roles": [role_labels.get(m.role, m.role) for m in u.company_memberships]}  # type: ignore[attr-defined]
        for u in selectors.user_list(actor)
    ]
    return _page(
        request,
        "org/settings/users.html",
        {
            "rows": rows,
            "can_manage": actor.has_perm("org.manage_users"),
            "roles": list(ROLES.values()),
            "role_codes": list(ROLES),
            "matrix": selectors.permission_matrix(),
            "section": "users",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def user_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "org.manage_users")
    if request.method == "POST":
        form = UserCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = services.user_create(
                    actor=actor,
                    email=data["email"],
                    full_name=data["full_name"],
                    roles=list(data["roles"]),
                    password=data["password"] or None,
                    language=data["language"],
                )
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("%(name)s was added to the company.") % {"name": user.full_name})
                return redirect("org:users")
    else:
        form = UserCreateForm()
    return _page(request, "org/settings/user_form.html", {"form": form, "section": "users"})


@login_required
@require_http_methods(["GET", "POST"])
def user_roles(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _actor(request)
    user = selectors.user_get(actor, user_id)
    require(actor, "org.manage_users")
    if request.method == "POST":
        form = UserRolesForm(request.POST)
        if form.is_valid():
            try:
                services.user_set_roles(actor=actor, user_id=user.pk, roles=list(form.cleaned_data["roles"]))
            except ValidationFailed as exc:
                form.apply_errors(exc)
            except Conflict as exc:
                form.add_error("roles", exc.message)
            else:
                messages.success(request, _("Roles of %(name)s saved.") % {"name": user.full_name})
                return redirect("org:users")
    else:
        current = [m.role for m in user.company_memberships]  # type: ignore[attr-defined]
        form = UserRolesForm(initial={"roles": current})
    return _page(request, "org/settings/user_roles.html", {"form": form, "member": user, "section": "users"})


@login_required
@require_POST
def user_remove(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _actor(request)
    user = selectors.user_get(actor, user_id)
    services.user_remove(actor=actor, user_id=user.pk)
    messages.success(request, _("%(name)s was removed from the company.") % {"name": user.full_name})
    return _redirect(request, "org:users")


@login_required
@require_POST
def user_totp_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _actor(request)
    user = selectors.user_get(actor, user_id)
    services.totp_disable(actor=actor, user_id=user.pk)
    messages.success(
        request,
        _("Two-factor authentication of %(name)s was reset; they enrol again at next login.")
        % {"name": user.full_name},
    )
    return _redirect(request, "org:users")


# --- API keys -------------------------------------------------------------------------


def _key_row(key: Any) -> dict[str, Any]:
    now = timezone.now()
    return {"key": key, "expired": key.expires_at is not None and key.expires_at <= now}


@login_required
@require_GET
def api_keys(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "org.manage_own_api_keys")
    return _page(
        request,
        "org/settings/api_keys.html",
        {
            "rows": [_key_row(k) for k in selectors.apikey_list(actor)],
            "sees_all": actor.has_perm("org.manage_api_keys"),
            "section": "api_keys",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def api_key_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "org.manage_own_api_keys")
    scopes = selectors.api_scopes()
    if request.method == "POST":
        form = ApiKeyForm(request.POST, scopes=scopes)
        if form.is_valid():
            expires_on: dt.date | None = form.cleaned_data["expires_on"]
            expires_at = None
            if expires_on is not None:
                # The key works through the chosen day, in the user's time zone.
                midnight = dt.datetime.combine(expires_on + dt.timedelta(days=1), dt.time.min)
                expires_at = timezone.make_aware(midnight, timezone.get_current_timezone())
            try:
                key, secret = services.apikey_create(
                    actor=actor, name=form.cleaned_data["name"], scopes=list(form.cleaned_data["scopes"]),
                    expires_at=expires_at,
                )  # fmt: skip
            except ValidationFailed as exc:
                fields = dict(exc.fields)
                if "expires_at" in fields:
                    fields["expires_on"] = fields.pop("expires_at")
                form.apply_errors(ValidationFailed(exc.code, exc.message, fields=fields))
            else:
                # Rendered, not redirected: the secret exists only in this response.
                return _page(
                    request, "org/settings/api_key_created.html", {"key": key, "secret": secret, "section": "api_keys"}
                )
    else:
        form = ApiKeyForm(scopes=scopes)
    return _page(request, "org/settings/api_key_form.html", {"form": form, "section": "api_keys"})


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    actor = _actor(request)
    key = services.apikey_revoke(actor=actor, key_id=key_id)
    if getattr(request, "htmx", False):
        key = selectors.apikey_get(actor, key.pk)
        return render(
            request,
            "org/settings/api_keys.html#key_row",
            {"row": _key_row(key), "sees_all": actor.has_perm("org.manage_api_keys")},
        )
    messages.success(request, _("API key “%(name)s” revoked.") % {"name": key.name})
    return redirect("org:api_keys")


# --- Modules --------------------------------------------------------------------------


def _module_rows(actor: Any) -> list[dict[str, Any]]:
    enabled = enabled_codes(actor.company_id)
    return [{"module": m, "enabled": m.code in enabled} for m in sorted(module_registry.all(), key=lambda m: m.code)]


@login_required
@require_http_methods(["GET", "POST"])
def modules(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "org.manage_modules")
    error = None
    target = None
    if request.method == "POST":
        form = ModuleToggleForm(request.POST)
        if not form.is_valid():
            raise ValidationFailed(fields={k: [str(m) for m in v] for k, v in form.errors.items()})
        target = form.cleaned_data["module"]
        try:
            services.module_set(actor=actor, module=target, enabled=form.cleaned_data["enabled"])
        except Conflict as exc:
            # Dependency errors are shown beside the module, not as an error page.
            error = exc.message
        if getattr(request, "htmx", False):
            row = next((r for r in _module_rows(actor) if r["module"].code == target), None)
            return render(request, "org/settings/modules.html#module_row", {"row": row, "error": error})
        if error:
            messages.error(request, error)
        else:
            messages.success(request, _("Modules saved."))
        return redirect("org:modules")
    return _page(request, "org/settings/modules.html", {"rows": _module_rows(actor), "section": "modules"})

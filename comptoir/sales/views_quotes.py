"""Quote pages: list (filters, scopes, search, CSV/XLSX export of the view), form with lines
(sections, text lines, optional lines, discounts; live totals through htmx, and a form that
works without JavaScript), detail (lines, totals, VAT breakdown, versions, actions).
Views parse, call one service or selector, render.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.accounting.forms import site_choices
from comptoir.accounting.models import PaymentTerm
from comptoir.accounting.services import default_site_id
from comptoir.catalog.models import Product
from comptoir.catalog.selectors import search_filter as product_search
from comptoir.contacts.models import Person
from comptoir.contacts.selectors import search_filter as organization_search
from comptoir.contacts.selectors import visible_organizations
from comptoir.crm import selectors as crm_selectors
from comptoir.crm.models import Opportunity
from comptoir.kernel import modules
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.exports import export_response
from comptoir.kernel.pagination import paginate
from comptoir.sales import quote_selectors as selectors
from comptoir.sales import quotes as services
from comptoir.sales.forms_quotes import (
    AcceptForm,
    QuoteForm,
    RefuseForm,
    apply_quote_errors,
    line_formset,
    lines_for_service,
)
from comptoir.sales.models_quotes import Quote, QuoteLineKind, QuoteState

AUTOCOMPLETE_LIMIT = 20


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def quotes_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, sales on for the company (404 otherwise), quotes visible (403)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        actor = _actor(request)
        if not modules.is_enabled(actor.company_id, "sales"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        selectors.require_view(actor)
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _require_manage(actor: Any) -> None:
    if not actor.has_perm(services.MANAGE):
        raise PermissionDenied("permission_denied")


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _plain(value: Any) -> str:
    """A decimal as typed (12.5, not 12.5000 nor 1.25E+1)."""
    return f"{Decimal(value).normalize():f}"


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    return query.urlencode()


FILTER_NAMES = ("state", "organization_id", "owner_id", "opportunity_id", "scope", "q", "date_from", "date_to")
SORT_CHOICES = [("-number", _("Newest first")), ("number", _("Oldest first")), ("valid_until", _("Expiring first")),
                ("-total", _("Largest amount")), ("customer", _("Customer"))]  # fmt: skip
SCOPE_CHOICES = [("", _("All I see")), ("mine", _("Mine")), ("team", _("My team"))]
EXPORT_COLUMNS: list[tuple[Any, Any]] = [
    (_("Number"), "number"), (_("Version"), "version"), (_("State"), lambda r: r.get_state_display()),
    (_("Customer"), lambda r: r.organization.legal_name), (_("Subject"), "title"), (_("Date"), "issue_date"),
    (_("Valid until"), "valid_until"),
    (_("Salesperson"), lambda r: (r.owner.full_name or r.owner.email) if r.owner_id else ""),
    (_("Total excl. VAT"), "untaxed_amount"), (_("VAT"), "tax_amount"), (_("Total incl. VAT"), "total_amount"),
    (_("Currency"), "currency"),
]  # fmt: skip


@quotes_page
@require_GET
def quotes(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    filters = {name: request.GET.get(name, "") for name in FILTER_NAMES}
    sort = request.GET.get("sort") or selectors.DEFAULT_SORT
    rows = selectors.quote_list(actor, filters, sort)
    fmt = request.GET.get("format")
    if fmt:
        return export_response(rows.iterator(chunk_size=2000), EXPORT_COLUMNS, "quotes", fmt)
    page = paginate(rows, _int(request.GET.get("page")) or 1)
    organization = None
    organization_id = _int(filters["organization_id"])
    if organization_id:
        organization = (visible_organizations(actor).filter(pk=organization_id)
                        .values_list("legal_name", flat=True).first())  # fmt: skip
    context = {
        "page": page, "filters": filters, "sort": sort, "query": _query_without_page(request),
        "states": QuoteState.choices, "sort_choices": SORT_CHOICES, "scopes": SCOPE_CHOICES,
        "owners": selectors.owner_choices(actor), "organization": organization,
        "can_manage": actor.has_perm(services.MANAGE),
    }  # fmt: skip
    return render(request, "sales/quotes/list.html", context)


# --- Form --------------------------------------------------------------------------------


def _posted_ids(data: Any, suffix: str) -> list[int]:
    if data is None:
        return []
    return [n for n in (_int(v) for k, v in data.items() if k.endswith(suffix)) if n]


def _choices(actor: Any, organization_ids: Any = (), product_ids: Any = (),
             opportunity_id: int | None = None) -> dict[str, list[tuple[int, str]]]:  # fmt: skip
    """The current values plus a few suggestions (the rest is searched on the server)."""
    wanted = {i for i in organization_ids if i}
    organizations = list(
        visible_organizations(actor).filter(merged_into__isnull=True, is_archived=False)
        .order_by("legal_name", "id").values_list("pk", "legal_name")[:AUTOCOMPLETE_LIMIT]
    )  # fmt: skip
    missing = wanted - {pk for pk, _name in organizations}
    if missing:
        organizations = list(visible_organizations(actor).filter(pk__in=missing)
                             .values_list("pk", "legal_name")) + organizations  # fmt: skip
    products_rows = list(
        Product.objects.filter(company_id=actor.company_id, is_archived=False)
        .order_by("reference", "id").values_list("pk", "reference", "name_fr")[:AUTOCOMPLETE_LIMIT]
    )  # fmt: skip
    missing_products = {i for i in product_ids if i} - {pk for pk, _r, _n in products_rows}
    if missing_products:
        products_rows = list(Product.objects.filter(company_id=actor.company_id, pk__in=missing_products)
                             .values_list("pk", "reference", "name_fr")) + products_rows  # fmt: skip
    opportunities: list[tuple[int, str]] = []
    if opportunity_id and actor.has_perm("crm.view_opportunity"):
        opportunities = list(Opportunity.objects.filter(company_id=actor.company_id, pk=opportunity_id)
                             .filter(crm_selectors.record_rule(actor)).values_list("pk", "title"))  # fmt: skip
    contacts: list[tuple[int, str]] = []
    customer = next((i for i in organization_ids if i), None)
    if customer:
        people = (
            Person.objects.filter(company_id=actor.company_id, affiliations__organization_id=customer,
                                  merged_into__isnull=True)
            .order_by("last_name", "first_name", "id").values_list("pk", "first_name", "last_name")[:100]
        )  # fmt: skip
        contacts = [(pk, f"{first} {last}".strip()) for pk, first, last in people]
    return {
        "contacts": contacts,
        "organizations": organizations,
        "products": [(pk, f"[{ref}] {name}") for pk, ref, name in products_rows],
        "terms": list(PaymentTerm.objects.filter(company_id=actor.company_id).order_by("name", "id")
                      .values_list("pk", "name")),
        "owners": selectors.owner_choices(actor),
        "opportunities": opportunities,
    }  # fmt: skip


def _line_initial(quote: Quote) -> list[dict[str, Any]]:
    return [
        {"kind": line.kind, "product_id": line.product_id, "description": line.description,
         "quantity": _plain(line.quantity) if line.kind == QuoteLineKind.PRODUCT else "",
         "unit_price": _plain(line.unit_price) if line.kind == QuoteLineKind.PRODUCT else "",
         "discount_percent": _plain(line.discount_percent) if line.discount_percent else "",
         "vat_code": line.vat_code if line.kind == QuoteLineKind.PRODUCT else "",
         "optional": line.optional, "selected": line.selected and line.optional}
        for line in quote.lines.order_by("position", "id")
    ]  # fmt: skip


def _quote_form_page(request: HttpRequest, quote: Quote | None) -> HttpResponse:
    actor = _actor(request)
    _require_manage(actor)
    if quote is not None and quote.state != QuoteState.DRAFT:
        messages.warning(request, _("Only a draft quote can be changed; revise it first."))
        return redirect("sales:quote", quote.pk)
    data = request.POST if request.method == "POST" else None
    initial: dict[str, Any] = {}
    lines_initial = None
    if quote is not None:
        names = ("organization_id", "contact_id", "opportunity_id", "owner_id", "title", "issue_date", "valid_until",
                 "payment_term_id", "language", "currency", "notes", "site_id")  # fmt: skip
        initial = {name: getattr(quote, name) for name in names}
        initial["discount_percent"] = _plain(quote.discount_percent) if quote.discount_percent else ""
        lines_initial = _line_initial(quote)
    else:
        initial["owner_id"] = actor.user_id
        initial["currency"] = "EUR"
        initial["site_id"] = default_site_id(actor.company_id)
        opportunity_id = _int(request.GET.get("opportunity"))
        if opportunity_id:
            initial["opportunity_id"] = opportunity_id
            organization_id = (Opportunity.objects.filter(company_id=actor.company_id, pk=opportunity_id)
                               .values_list("organization_id", flat=True).first())  # fmt: skip
            if organization_id:
                initial["organization_id"] = organization_id
        if _int(request.GET.get("organization_id")):
            initial["organization_id"] = _int(request.GET.get("organization_id"))
    extra = 1 if data is not None and "add_line" in data else (0 if lines_initial else 3 if data is None else 0)
    product_ids = [*(line["product_id"] for line in lines_initial or []), *_posted_ids(data, "-product_id")]
    opportunity = _int(data.get("opportunity_id")) if data is not None else initial.get("opportunity_id")
    choices = _choices(actor, [*_posted_ids(data, "organization_id"), initial.get("organization_id")], product_ids,
                       opportunity)  # fmt: skip
    form = QuoteForm(data, initial=initial, organizations=choices["organizations"], terms=choices["terms"],
                     owners=choices["owners"], opportunities=choices["opportunities"],
                     contacts=choices["contacts"],
                     sites=site_choices(actor.company_id, keep=[initial.get("site_id")]))  # fmt: skip
    formset = line_formset(data, initial=lines_initial, products=choices["products"], extra=extra)
    saving = request.method == "POST" and "add_line" not in request.POST
    if saving and form.is_valid() and formset.is_valid():
        lines, positions = lines_for_service(formset)
        fields = {**form.for_service(creating=quote is None), "lines": lines}
        try:
            if quote is None:
                saved = services.quote_create(actor=actor, **fields)
            else:
                saved = services.quote_update(actor=actor, quote_id=quote.pk, **fields)
        except ValidationFailed as exc:
            apply_quote_errors(form, formset, positions, exc)
        else:
            messages.success(request, _("Quote %(number)s saved.") % {"number": saved.number})
            return redirect("sales:quote", saved.pk)
    context = {"form": form, "formset": formset, "quote": quote, "totals": None}
    return render(request, "sales/quotes/form.html", context, status=422 if form.errors else 200)


@quotes_page
@require_http_methods(["GET", "POST"])
def quote_new(request: HttpRequest) -> HttpResponse:
    return _quote_form_page(request, None)


@quotes_page
@require_http_methods(["GET", "POST"])
def quote_edit(request: HttpRequest, quote_id: int) -> HttpResponse:
    quote = selectors.quote_get(_actor(request), quote_id)
    return _quote_form_page(request, quote)


@quotes_page
@require_POST
def quote_totals(request: HttpRequest) -> HttpResponse:
    """The live totals of the form (htmx): the same computation as saving, nothing written."""
    actor = _actor(request)
    _require_manage(actor)
    quote_id = _int(request.POST.get("quote_id"))

    # The choices are checked by the service: the form only parses the posted ids here.
    def posted(name: str) -> list[tuple[int, str]]:
        value = _int(request.POST.get(name))
        return [(value, "")] if value else []

    form = QuoteForm(request.POST, organizations=posted("organization_id"), terms=posted("payment_term_id"),
                     owners=posted("owner_id"), opportunities=posted("opportunity_id"),
                     contacts=posted("contact_id"))  # fmt: skip
    form.fields["organization_id"].required = False  # totals before the customer is chosen
    formset = line_formset(request.POST, initial=None, products=[])
    if not (form.is_valid() and formset.is_valid()):
        return render(request, "sales/quotes/_totals.html", {"preview": {"totals": None, "errors": {"form": [""]}}})
    lines, _positions = lines_for_service(formset)
    fields = {**form.for_service(creating=quote_id is None), "lines": lines}
    preview = services.quote_preview(actor=actor, quote_id=quote_id, **fields)
    return render(request, "sales/quotes/_totals.html", {"preview": preview})


# --- Detail and actions ------------------------------------------------------------------


@quotes_page
@require_GET
def quote(request: HttpRequest, quote_id: int) -> HttpResponse:
    actor = _actor(request)
    found = selectors.quote_detail(actor, quote_id)
    optional = [(line.pk, line.name) for line in found.line_rows if line.optional]  # type: ignore[attr-defined]
    context = {
        "quote": found, "can_manage": actor.has_perm(services.MANAGE),
        "actions": services.available_actions(actor, found) if actor.has_perm(services.MANAGE) else [],
        "breakdown": services.vat_breakdown(found),
        "accept_form": AcceptForm(optional_lines=optional,
                                  initial={"selected_line_ids": [pk for pk, _n in optional
                                                                 if any(line.pk == pk and line.selected
                                                                        for line in found.line_rows)]}),  # type: ignore[attr-defined]
        "refuse_form": RefuseForm(),
        "can_see_opportunity": actor.has_perm("crm.view_opportunity"),
    }  # fmt: skip
    return render(request, "sales/quotes/detail.html", context)


@quotes_page
@require_POST
def quote_action(request: HttpRequest, quote_id: int, action: str) -> HttpResponse:
    actor = _actor(request)
    _require_manage(actor)
    found = selectors.quote_get(actor, quote_id)
    try:
        if action == "send":
            services.quote_mark_sent(actor=actor, quote_id=found.pk)
            messages.success(request, _("Quote marked as sent: this version is frozen."))
        elif action == "revise":
            revised = services.quote_revise(actor=actor, quote_id=found.pk)
            messages.success(request, _("Version %(n)s started as a draft.") % {"n": revised.version})
            return redirect("sales:quote_edit", found.pk)
        elif action == "accept":
            optional = [(pk, "") for pk in found.lines.filter(optional=True).values_list("pk", flat=True)]
            form = AcceptForm(request.POST, optional_lines=optional)
            if not form.is_valid():
                raise ValidationFailed(fields={k: [str(m) for m in v] for k, v in form.errors.items()})
            services.quote_accept(
                actor=actor, quote_id=found.pk, version=found.version, by_name=form.cleaned_data.get("by_name") or "",
                via="salesperson", ip=None, selected_line_ids=form.cleaned_data.get("selected_line_ids") or [],
            )  # fmt: skip
            messages.success(request, _("Quote marked accepted."))
        elif action == "refuse":
            services.quote_refuse(actor=actor, quote_id=found.pk, reason=request.POST.get("reason", ""))
            messages.success(request, _("Quote marked refused."))
        elif action == "cancel":
            services.quote_cancel(actor=actor, quote_id=found.pk)
            messages.success(request, _("Quote cancelled."))
        else:
            raise NotFound("unknown_action")
    except ValidationFailed as exc:
        reasons = " ".join(m for ms in exc.fields.values() for m in ms) or str(exc.message)
        messages.error(request, _("Not done: %(reasons)s") % {"reasons": reasons})
    return redirect("sales:quote", found.pk)


# --- Autocomplete (htmx) -----------------------------------------------------------------


def _field_name(request: HttpRequest, default: str) -> str:
    name = request.GET.get("field") or default
    if name == default or (name.startswith("lines-") and name.endswith("-product_id")
                           and name[6:-11].isdigit() and len(name) < 40):  # fmt: skip
        return name
    return default


def _autocomplete(request: HttpRequest, name: str, options: list[tuple[int, str]], current: tuple[int, str] | None,
                  query: str) -> HttpResponse:  # fmt: skip
    if current is not None and all(pk != current[0] for pk, _label in options):
        options = [current, *options]
    context = {"name": name, "options": options, "selected": current[0] if current else None, "query": query,
               "limit_reached": len(options) >= AUTOCOMPLETE_LIMIT}  # fmt: skip
    return render(request, "accounting/terms/_autocomplete.html", context)


@quotes_page
@require_GET
def autocomplete_organizations(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    _require_manage(actor)
    name = _field_name(request, "organization_id")
    query = (request.GET.get(f"{name}_q") or "")[:100]
    rows = visible_organizations(actor).filter(merged_into__isnull=True, is_archived=False)
    rule = organization_search(query)
    if rule is not None:
        rows = rows.filter(rule)
    options = list(rows.order_by("legal_name", "id").values_list("pk", "legal_name")[:AUTOCOMPLETE_LIMIT])
    current_id = _int(request.GET.get(name))
    current = None
    if current_id:
        found = visible_organizations(actor).filter(pk=current_id).values_list("pk", "legal_name").first()
        current = (found[0], found[1]) if found else None
    return _autocomplete(request, name, options, current, query)


@quotes_page
@require_GET
def autocomplete_products(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    _require_manage(actor)
    name = _field_name(request, "product_id")
    query = (request.GET.get(f"{name}_q") or "")[:100]
    rows = Product.objects.filter(company_id=actor.company_id, is_archived=False)
    rule = product_search(query)
    if rule is not None:
        rows = rows.filter(rule)
    found_rows = rows.order_by("reference", "id").values_list("pk", "reference", "name_fr")[:AUTOCOMPLETE_LIMIT]
    options = [(pk, f"[{ref}] {label}") for pk, ref, label in found_rows]
    current_id = _int(request.GET.get(name))
    current = None
    if current_id:
        found = (Product.objects.filter(company_id=actor.company_id, pk=current_id)
                 .values_list("pk", "reference", "name_fr").first())  # fmt: skip
        current = (found[0], f"[{found[1]}] {found[2]}") if found else None
    return _autocomplete(request, name, options, current, query)

"""Payment terms pages (list, form with a due-date preview, archive), the partner profile
form (reached from the organization page's panel) and the invoice form's autocomplete for
partners and products (htmx, searched on the server, record rules applied).

Views parse, call one service or selector, render.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.accounting import invoices as invoice_services
from comptoir.accounting import terms as services
from comptoir.accounting.forms_terms import (
    PartnerProfileForm,
    PaymentTermForm,
    PreviewForm,
    lines_for_service,
    term_lines,
)
from comptoir.accounting.models import PartnerProfile, PaymentTerm
from comptoir.accounting.views_invoices import invoices_page
from comptoir.catalog.models import Product
from comptoir.catalog.selectors import search_filter as product_search
from comptoir.contacts.selectors import search_filter as organization_search
from comptoir.contacts.selectors import visible_organizations
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.pagination import paginate

AUTOCOMPLETE_LIMIT = 20
EXAMPLE_TOTAL = Decimal("1000.00")


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def _require_manage(actor: Any) -> None:
    if not actor.has_perm(services.MANAGE):
        raise PermissionDenied("permission_denied")


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _example(request: HttpRequest) -> tuple[PreviewForm, dt.date, Decimal]:
    """The example invoice of the preview (date and total), today and 1,000.00 by default."""
    params = request.GET if request.method == "GET" else request.POST
    form = PreviewForm({"issue_date": params.get("issue_date") or timezone.localdate(),
                        "total": params.get("total") or EXAMPLE_TOTAL})  # fmt: skip
    if form.is_valid():
        return form, form.cleaned_data["issue_date"], form.cleaned_data["total"]
    return form, timezone.localdate(), EXAMPLE_TOTAL


# --- Payment terms --------------------------------------------------------------------


@invoices_page
@require_GET
def terms(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    archived = request.GET.get("archived") == "1"
    page = paginate(services.term_list(actor, archived=archived), _int(request.GET.get("page")) or 1)
    example, day, total = _example(request)
    rows = [{"term": term, "schedule": services.term_preview(term, day, total)} for term in page.items]
    context = {"page": page, "rows": rows, "archived": archived, "example": example, "day": day, "total": total,
               "can_manage": actor.has_perm(services.MANAGE), "query": "archived=1" if archived else ""}  # fmt: skip
    return render(request, "accounting/terms/list.html", context)


def _initial_lines(term: PaymentTerm) -> list[dict[str, Any]]:
    return [{"kind": line.kind, "percent": f"{Decimal(line.percent).normalize():f}" if line.percent else "",
             "days": str(line.days), "end_of_month": line.end_of_month} for line in term.lines.all()]  # fmt: skip


def _apply_term_errors(form: PaymentTermForm, formset: Any, positions: list[int], exc: ValidationFailed) -> None:
    """Put ``lines.2.days`` next to the days of the row that line came from."""
    header: dict[str, list[str]] = {}
    for name, found in (exc.fields or {"__all__": [exc.message]}).items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and int(parts[1]) < len(positions):
            line_form = formset.forms[positions[int(parts[1])]]
            for message in found:
                line_form.add_error(parts[2] if parts[2] in line_form.fields else None, message)
            line_form._mark_invalid()
            header.setdefault("__all__", [str(_("Some installments have errors: see below."))])
        elif name in form.fields:
            header.setdefault(name, []).extend(found)
        else:
            header.setdefault("__all__", []).extend(found)
    if header:
        form.apply_errors(ValidationFailed(fields=header))


@invoices_page
@require_http_methods(["GET", "POST"])
def term_form(request: HttpRequest, term_id: int | None = None) -> HttpResponse:
    actor = _actor(request)
    _require_manage(actor)
    term = services.term_get(actor, term_id) if term_id else None
    data = request.POST if request.method == "POST" else None
    initial = {"name": term.name, "note": term.note} if term else {}
    form = PaymentTermForm(data, initial=initial)
    formset = term_lines(data, _initial_lines(term) if term else None)
    if data is not None and form.is_valid() and formset.is_valid():
        lines, positions = lines_for_service(formset)
        try:
            if term is None:
                saved = invoice_services.payment_term_create(actor=actor, lines=lines, **form.cleaned_data)
            else:
                saved = services.payment_term_update(actor=actor, term_id=term.pk, lines=lines, **form.cleaned_data)
        except ValidationFailed as exc:
            _apply_term_errors(form, formset, positions, exc)
        else:
            messages.success(request, _("Payment term “%(name)s” saved.") % {"name": saved.name})
            return redirect("accounting:terms")
    example, day, total = _example(request)
    schedule, preview_errors = services.preview(lines_for_service(formset)[0] if data is not None else
                                                (_initial_lines(term) if term else []), day, total)  # fmt: skip
    usage = services.term_usage(actor, term.pk) if term else 0
    context = {"form": form, "formset": formset, "term": term, "example": example, "schedule": schedule,
               "preview_errors": preview_errors, "usage": usage}  # fmt: skip
    return render(request, "accounting/terms/form.html", context, status=422 if form.errors else 200)


@invoices_page
@require_GET
def term_preview(request: HttpRequest) -> HttpResponse:
    """The due dates of the installments being typed, for the example invoice (htmx fragment)."""
    formset = term_lines(request.GET, None)
    formset.is_valid()
    lines, _positions = lines_for_service(formset)
    example, day, total = _example(request)
    schedule, errors = services.preview(lines, day, total)
    return render(request, "accounting/terms/_preview.html", {"schedule": schedule, "preview_errors": errors,
                                                               "example": example})  # fmt: skip


@invoices_page
@require_POST
def term_active(request: HttpRequest, term_id: int) -> HttpResponse:
    actor = _actor(request)
    active = request.POST.get("active") == "1"
    term = services.payment_term_set_active(actor=actor, term_id=term_id, active=active)
    if active:
        messages.success(request, _("Payment term “%(name)s” restored.") % {"name": term.name})
    else:
        messages.success(request, _("Payment term “%(name)s” archived: invoices issued with it keep it.")
                         % {"name": term.name})  # fmt: skip
    return redirect("accounting:terms")


# --- Partner profiles -----------------------------------------------------------------


@invoices_page
@require_http_methods(["GET", "POST"])
def partner_profile(request: HttpRequest, organization_id: int) -> HttpResponse:
    actor = _actor(request)
    organization = visible_organizations(actor).filter(pk=organization_id).first()
    if organization is None:
        raise NotFound("organization_not_found")
    can_manage = actor.has_perm(services.MANAGE)
    if request.method == "POST" and not can_manage:
        raise PermissionDenied("permission_denied")
    profile = (PartnerProfile.objects.filter(company_id=actor.company_id, organization_id=organization.pk).first()
               or PartnerProfile(company_id=actor.company_id, organization_id=organization.pk))  # fmt: skip
    names = ("fiscal_position", "payment_term_id", "supplier_payment_term_id", "language", "invoice_email",
             "supplier_vat_on_debits")  # fmt: skip
    initial = {name: getattr(profile, name) for name in names}
    choices = services.term_choices(actor, keep=(profile.payment_term_id, profile.supplier_payment_term_id))
    form = PartnerProfileForm(request.POST if request.method == "POST" else None, initial=initial, terms=choices)
    if request.method == "POST" and form.is_valid():
        try:
            invoice_services.partner_profile_update(actor=actor, organization_id=organization.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Invoicing profile saved."))
            return redirect("accounting:partner_profile", organization.pk)
    if not can_manage:
        for field in form.fields.values():
            field.disabled = True
    context = {"form": form, "organization": organization, "can_manage": can_manage}
    return render(request, "accounting/terms/profile.html", context, status=422 if form.errors else 200)


# --- Autocomplete (invoice form) ------------------------------------------------------


def _field_name(request: HttpRequest, default: str) -> str:
    """The form field the results are for: ``organization_id`` or a line's ``lines-N-product_id``."""
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


@invoices_page
@require_GET
def autocomplete_organizations(request: HttpRequest) -> HttpResponse:
    """A ``<select>`` of the first organizations matching the search (those the actor sees), for htmx to swap in."""
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


def _product_label(reference: str, product_name: str) -> str:
    return f"[{reference}] {product_name}"


@invoices_page
@require_GET
def autocomplete_products(request: HttpRequest) -> HttpResponse:
    """A ``<select>`` of the first active products matching the search, for htmx to swap in."""
    actor = _actor(request)
    _require_manage(actor)
    name = _field_name(request, "product_id")
    query = (request.GET.get(f"{name}_q") or "")[:100]
    rows = Product.objects.filter(company_id=actor.company_id, is_archived=False)
    rule = product_search(query)
    if rule is not None:
        rows = rows.filter(rule)
    found_rows = rows.order_by("reference", "id").values_list("pk", "reference", "name_fr")[:AUTOCOMPLETE_LIMIT]
    options = [(pk, _product_label(ref, label)) for pk, ref, label in found_rows]
    current_id = _int(request.GET.get(name))
    current = None
    if current_id:
        found = (Product.objects.filter(company_id=actor.company_id, pk=current_id)
                 .values_list("pk", "reference", "name_fr").first())  # fmt: skip
        current = (found[0], _product_label(found[1], found[2])) if found else None
    return _autocomplete(request, name, options, current, query)

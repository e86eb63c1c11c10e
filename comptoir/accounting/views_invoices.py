"""Invoice pages: list (filters, export), form with lines (no JavaScript needed), detail
(totals, VAT breakdown, schedule, journal entry), post, credit note, send, Factur-X
download, vendor bill upload. Views parse, call one service or selector, render.
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

from comptoir.accounting import invoice_selectors as selectors
from comptoir.accounting import invoices as services
from comptoir.accounting.forms import site_choices
from comptoir.accounting.invoice_forms import (
    InvoiceForm,
    SendForm,
    UploadForm,
    apply_invoice_errors,
    line_formset,
    lines_for_service,
)
from comptoir.accounting.models import Invoice, InvoiceKind, InvoiceState
from comptoir.accounting.services import default_site_id
from comptoir.accounting.terms import term_choices
from comptoir.catalog.models import Product
from comptoir.contacts.models import Organization
from comptoir.contacts.selectors import visible_organizations
from comptoir.kernel import modules
from comptoir.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from comptoir.kernel.exports import export_response
from comptoir.kernel.pagination import paginate

# The form lists a few suggestions; the rest is searched on the server (views_terms.autocomplete_*).
AUTOCOMPLETE_LIMIT = 20


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def invoices_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, accounting on for the company (404 otherwise), invoices visible (403)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        actor = _actor(request)
        if not modules.is_enabled(actor.company_id, "accounting"):
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


FILTER_NAMES = ("kind", "state", "organization_id", "date_from", "date_to", "overdue", "q")
SORT_CHOICES = [("-date", _("Newest first")), ("date", _("Oldest first")), ("-due", _("Due last")),
                ("due", _("Due first")), ("-total", _("Largest amount"))]  # fmt: skip
EXPORT_COLUMNS: list[tuple[Any, Any]] = [
    (_("Number"), "number"), (_("Kind"), lambda r: r.get_kind_display()), (_("State"), lambda r: r.get_state_display()),
    (_("Partner"), "partner_name"), (_("Supplier's number"), "supplier_reference"), (_("Issue date"), "issue_date"),
    (_("Due date"), "due_date"), (_("Total excl. VAT"), "untaxed_amount"), (_("VAT"), "tax_amount"),
    (_("Total incl. VAT"), "total_amount"), (_("Amount due"), "residual_amount"), (_("Currency"), "currency"),
]  # fmt: skip


@invoices_page
@require_GET
def invoices(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    filters = {name: request.GET.get(name, "") for name in FILTER_NAMES}
    sort = request.GET.get("sort") or "-date"
    rows = selectors.invoice_list(actor, filters, sort).only(*selectors.LIST_FIELDS)
    fmt = request.GET.get("format")
    if fmt:
        return export_response(rows.iterator(chunk_size=2000), EXPORT_COLUMNS, "invoices", fmt)
    page = paginate(rows, _int(request.GET.get("page")) or 1)
    organization = None
    if _int(filters["organization_id"]):
        organization = (
            Organization.objects.filter(company_id=actor.company_id, pk=_int(filters["organization_id"]))
            .values_list("legal_name", flat=True).first()
        )  # fmt: skip
    context = {
        "page": page, "filters": filters, "sort": sort, "query": _query_without_page(request),
        "kinds": InvoiceKind.choices if selectors.sees_all(actor) else InvoiceKind.choices[:2],
        "states": InvoiceState.choices, "sort_choices": SORT_CHOICES, "organization": organization,
        "can_manage": actor.has_perm(services.MANAGE), "today": None,
    }  # fmt: skip
    return render(request, "accounting/invoices/list.html", context)


def _choices(actor: Any, vendor: bool, organization_ids: Any = (), product_ids: Any = (),
             term_ids: Any = ()) -> dict[str, list[tuple[int, str]]]:  # fmt: skip
    """The choices the form shows: the current values (searched on the server beyond these,
    views_terms.autocomplete_*) plus the first few rows, never the whole table."""
    suggest = AUTOCOMPLETE_LIMIT
    wanted = {i for i in organization_ids if i}
    organizations = list(visible_organizations(actor).filter(merged_into__isnull=True, is_archived=False)
                         .order_by("legal_name", "id").values_list("pk", "legal_name")[:suggest])  # fmt: skip
    known = {pk for pk, _name in organizations}
    if wanted - known:
        organizations = list(Organization.objects.filter(company_id=actor.company_id, pk__in=wanted - known)
                             .values_list("pk", "legal_name")) + organizations  # fmt: skip
    terms = term_choices(actor, keep=term_ids)  # archived terms only when already chosen
    products_rows = list(Product.objects.filter(company_id=actor.company_id, is_archived=False)
                         .order_by("reference", "id").values_list("pk", "reference", "name_fr")[:suggest])  # fmt: skip
    wanted_products = {i for i in product_ids if i} - {pk for pk, _r, _n in products_rows}
    if wanted_products:
        products_rows = list(Product.objects.filter(company_id=actor.company_id, pk__in=wanted_products)
                             .values_list("pk", "reference", "name_fr")) + products_rows  # fmt: skip
    products = [(pk, f"[{ref}] {name}") for pk, ref, name in products_rows]
    return {"organizations": organizations, "terms": terms, "products": products}


def _posted_ids(data: Any, suffix: str) -> list[int]:
    """The ids a submitted form carries in its fields ending with ``suffix`` (to label them)."""
    if data is None:
        return []
    return [n for n in (_int(v) for k, v in data.items() if k.endswith(suffix)) if n]


def _invoice_form_page(request: HttpRequest, invoice: Invoice | None, kind: str) -> HttpResponse:
    actor = _actor(request)
    _require_manage(actor)
    if invoice is not None and invoice.state != InvoiceState.DRAFT:
        return redirect("accounting:invoice", invoice.pk)
    vendor = kind in services.VENDOR_KINDS
    data = request.POST if request.method == "POST" else None
    initial: dict[str, Any] = {}
    lines_initial = None
    if invoice is not None:
        names = ("organization_id", "issue_date", "delivery_date", "payment_term_id", "fiscal_position", "language",
                 "currency", "purchase_order", "supplier_reference", "note", "site_id")  # fmt: skip
        initial = {name: getattr(invoice, name) for name in names}
        if not invoice.payment_term_id:
            initial["due_date"] = invoice.due_date
        lines_initial = [
            {"product_id": line.product_id, "name": line.name, "operation": line.operation,
             "quantity": _plain(line.quantity), "uom_code": line.uom_code, "unit_price": _plain(line.unit_price),
             "discount_percent": _plain(line.discount_percent) if line.discount_percent else "",
             "vat_category": line.vat_category}
            for line in invoice.lines.order_by("sequence", "id")
        ]  # fmt: skip
    else:
        initial["site_id"] = default_site_id(actor.company_id)
    if invoice is None and request.GET.get("organization_id"):
        initial["organization_id"] = _int(request.GET.get("organization_id"))
    extra = 1 if data is not None and "add_line" in data else (0 if lines_initial else 3 if data is None else 0)
    product_ids = [*(line["product_id"] for line in lines_initial or []), *_posted_ids(data, "-product_id")]
    term_ids = [initial.get("payment_term_id"), *_posted_ids(data, "payment_term_id")]
    choices = _choices(actor, vendor, [initial.get("organization_id"), *_posted_ids(data, "organization_id")],
                       product_ids, term_ids)  # fmt: skip
    form = InvoiceForm(data, initial=initial, organizations=choices["organizations"], terms=choices["terms"],
                       vendor=vendor, sites=site_choices(actor.company_id, keep=[initial.get("site_id")]))  # fmt: skip
    formset = line_formset(data, initial=lines_initial, products=choices["products"], extra=extra)
    saving = request.method == "POST" and "add_line" not in request.POST
    if saving and form.is_valid() and formset.is_valid():
        lines, positions = lines_for_service(formset)
        fields = {**form.for_service(), "lines": lines}
        try:
            if invoice is None:
                saved = services.invoice_create(actor=actor, kind=kind, **fields)
            else:
                saved = services.invoice_update(actor=actor, invoice_id=invoice.pk, **fields)
        except ValidationFailed as exc:
            apply_invoice_errors(form, formset, positions, exc)
        else:
            if "post" in request.POST:
                return _post_and_redirect(request, saved.pk)
            messages.success(request, _("Draft saved."))
            return redirect("accounting:invoice", saved.pk)
    context = {"form": form, "formset": formset, "invoice": invoice, "kind": kind, "vendor": vendor,
               "kind_label": InvoiceKind(kind).label}  # fmt: skip
    return render(request, "accounting/invoices/form.html", context, status=422 if form.errors else 200)


@invoices_page
@require_http_methods(["GET", "POST"])
def invoice_create(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind") or InvoiceKind.CUSTOMER_INVOICE
    if kind not in (InvoiceKind.CUSTOMER_INVOICE, InvoiceKind.VENDOR_BILL):
        kind = InvoiceKind.CUSTOMER_INVOICE
    return _invoice_form_page(request, None, kind)


@invoices_page
@require_http_methods(["GET", "POST"])
def invoice_edit(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = selectors.invoice_get(_actor(request), invoice_id)
    return _invoice_form_page(request, invoice, invoice.kind)


@invoices_page
@require_GET
def invoice(request: HttpRequest, invoice_id: int) -> HttpResponse:
    actor = _actor(request)
    found = selectors.invoice_detail(actor, invoice_id)
    context = {
        "invoice": found, "can_manage": actor.has_perm(services.MANAGE),
        "can_see_ledger": actor.has_perm("accounting.view_ledger"),
        "has_pdf": any(f["role"] == "issued" for f in found.file_rows),  # type: ignore[attr-defined]
        "received": next((f for f in found.file_rows if f["role"] == "received"), None),  # type: ignore[attr-defined]
        "is_customer": found.kind in services.CUSTOMER_KINDS,
        "creditable": found.state in services.OPEN_STATES and not found.is_refund,
    }  # fmt: skip
    return render(request, "accounting/invoices/detail.html", context)


def _post_and_redirect(request: HttpRequest, invoice_id: int) -> HttpResponse:
    try:
        posted = services.invoice_post(actor=_actor(request), invoice_id=invoice_id)
    except ValidationFailed as exc:
        messages.error(request, _("Not posted: %(reasons)s") % {
            "reasons": " ".join(m for ms in exc.fields.values() for m in ms) or exc.message})  # fmt: skip
    else:
        messages.success(request, _("Posted as %(number)s.") % {"number": posted.number})
    return redirect("accounting:invoice", invoice_id)


@invoices_page
@require_POST
def invoice_post(request: HttpRequest, invoice_id: int) -> HttpResponse:
    return _post_and_redirect(request, invoice_id)


@invoices_page
@require_POST
def invoice_delete(request: HttpRequest, invoice_id: int) -> HttpResponse:
    services.invoice_delete(actor=_actor(request), invoice_id=invoice_id)
    messages.success(request, _("Draft deleted."))
    return redirect("accounting:invoices")


@invoices_page
@require_POST
def invoice_credit(request: HttpRequest, invoice_id: int) -> HttpResponse:
    credit = services.invoice_credit(actor=_actor(request), invoice_id=invoice_id)
    messages.success(request, _("Draft credit note created: adjust its lines, then post it."))
    return redirect("accounting:invoice_edit", credit.pk)


@invoices_page
@require_GET
def invoice_pdf(request: HttpRequest, invoice_id: int) -> HttpResponse:
    found = selectors.invoice_get(_actor(request), invoice_id)
    document = services.issued_pdf(found)
    response = HttpResponse(bytes(document.data), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response["X-Content-SHA256"] = document.sha256
    return response


@invoices_page
@require_GET
def invoice_received_file(request: HttpRequest, invoice_id: int) -> HttpResponse:
    found = selectors.invoice_get(_actor(request), invoice_id)
    document = found.files.filter(role="received").first()
    if document is None:
        raise NotFound("invoice_file_not_found")
    response = HttpResponse(bytes(document.data), content_type=document.content_type)
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    return response


@invoices_page
@require_http_methods(["GET", "POST"])
def invoice_send(request: HttpRequest, invoice_id: int) -> HttpResponse:
    actor = _actor(request)
    _require_manage(actor)
    found = selectors.invoice_get(actor, invoice_id)
    default_to = (
        services.partner_profile(found.company_id, found.organization_id).invoice_email
        or Organization.objects.filter(pk=found.organization_id).values_list("email", flat=True).first() or ""
    )  # fmt: skip
    form = SendForm(request.POST or None, initial={"to": default_to})
    if request.method == "POST" and form.is_valid():
        try:
            services.invoice_send(actor=actor, invoice_id=found.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Invoice sent."))
            return redirect("accounting:invoice", found.pk)
    return render(request, "accounting/invoices/send.html", {"form": form, "invoice": found},
                  status=422 if form.errors else 200)  # fmt: skip


@invoices_page
@require_http_methods(["GET", "POST"])
def vendor_bill_upload(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    _require_manage(actor)
    organizations = _choices(actor, True, _posted_ids(request.POST or None, "organization_id"))["organizations"]
    form = UploadForm(request.POST or None, request.FILES or None, organizations=organizations)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > 20 * 1024 * 1024:
            form.add_error("file", _("The file is larger than 20 MB."))
        else:
            try:
                bill = services.vendor_bill_import(actor=actor, data=upload.read(), filename=upload.name or "",
                                                   organization_id=form.cleaned_data["organization_id"])  # fmt: skip
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Draft bill created: check it, then post it."))
                return redirect("accounting:invoice", bill.pk)
    return render(request, "accounting/invoices/upload.html", {"form": form}, status=422 if form.errors else 200)


@invoices_page
@require_GET
def payment_terms(request: HttpRequest) -> HttpResponse:
    """The payment terms now live on their own pages (views_terms): the old address redirects."""
    return redirect("accounting:terms")


def invoice_urls() -> list[Any]:
    """The invoice pages, mounted by ``accounting.urls`` (its ``accid`` converter is registered first)."""
    from django.urls import path

    return [
        path("invoices/", invoices, name="invoices"),
        path("invoices/new/", invoice_create, name="invoice_create"),
        path("invoices/upload/", vendor_bill_upload, name="vendor_bill_upload"),
        path("invoices/payment-terms/", payment_terms, name="payment_terms"),
        path("invoices/<accid:invoice_id>/", invoice, name="invoice"),
        path("invoices/<accid:invoice_id>/edit/", invoice_edit, name="invoice_edit"),
        path("invoices/<accid:invoice_id>/post/", invoice_post, name="invoice_post"),
        path("invoices/<accid:invoice_id>/delete/", invoice_delete, name="invoice_delete"),
        path("invoices/<accid:invoice_id>/credit/", invoice_credit, name="invoice_credit"),
        path("invoices/<accid:invoice_id>/send/", invoice_send, name="invoice_send"),
        path("invoices/<accid:invoice_id>/pdf/", invoice_pdf, name="invoice_pdf"),
        path("invoices/<accid:invoice_id>/file/", invoice_received_file, name="invoice_received_file"),
    ]

"""Catalog pages: products (list, form, detail with the price simulator), categories, units,
price lists and their rules, customer groups.

Views parse with a form, call one service or selector and render. ``ValidationFailed`` is
shown next to the form's fields; other ``DomainError``s go to the UI's error mapping.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.catalog import pricing, selectors, services
from comptoir.catalog.customers import directory
from comptoir.catalog.forms import (
    CategoryForm,
    GroupForm,
    PriceListForm,
    ProductForm,
    RuleForm,
    SimulateForm,
    UomCategoryForm,
    UomForm,
)
from comptoir.catalog.models import Product, ProductKind
from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.exports import export_response
from comptoir.kernel.pagination import paginate, parse_sort


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def catalog_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, and the catalog switched on for the company (404 otherwise, as in the API)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not modules.is_enabled(_actor(request).company_id, "catalog"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


# --- Products -------------------------------------------------------------------------

SORT_CHOICES = [
    ("reference", _("Reference")),
    ("name", _("Name")),
    ("-sale_price", _("Highest price")),
    ("sale_price", _("Lowest price")),
    ("-updated_at", _("Recently changed")),
]


def _product_rows(request: HttpRequest) -> tuple[Any, dict[str, Any]]:
    actor = _actor(request)
    filters: dict[str, Any] = {
        "q": request.GET.get("q", "").strip()[:200],
        "category_id": _int(request.GET.get("category")),
        "kind": request.GET.get("kind", ""),
        "archived": request.GET.get("archived", "") or "active",
        "sort": request.GET.get("sort", "") or "reference",
    }
    rows = selectors.product_list(actor, filters)
    order = parse_sort(filters["sort"], selectors.PRODUCT_SORT, "reference")
    return rows.order_by(*order, "-pk" if order[0].startswith("-") else "pk"), filters


def _export_columns(show_costs: bool) -> list[tuple[Any, Any]]:
    columns: list[tuple[Any, Any]] = [
        (_("Reference"), "reference"), (_("Barcode"), "barcode"), (_("Name (French)"), "name_fr"),
        (_("Name (English)"), "name_en"), (_("Kind"), lambda p: p.get_kind_display()),
        (_("Category"), lambda p: p.category.full_name if p.category else ""),
        (_("Sale unit"), lambda p: p.sale_uom.symbol), (_("Sale price"), "sale_price"),
    ]  # fmt: skip
    if show_costs:
        columns += [(_("Purchase unit"), lambda p: p.purchase_uom.symbol), (_("Purchase price"), "purchase_price")]
    columns += [
        (_("Currency"), "currency"), (_("VAT category"), lambda p: p.get_vat_category_display()),
        (_("Archived"), "is_archived"),
    ]  # fmt: skip
    return columns


@catalog_page
@require_GET
def products(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    rows, filters = _product_rows(request)
    show_costs = selectors.can_see_costs(actor)
    if request.GET.get("format"):
        return export_response(rows.iterator(chunk_size=500), _export_columns(show_costs), "products",
                               request.GET["format"])  # fmt: skip
    page = paginate(rows, _int(request.GET.get("page")) or 1)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "filters": filters,
        "query": query.urlencode(),
        "kinds": ProductKind.choices,
        "categories": selectors.category_choices(actor),
        "sort_choices": SORT_CHOICES,
        "can_change": actor.has_perm("catalog.change_product"),
    }
    template = "catalog/products.html#results" if _htmx(request) else "catalog/products.html"
    return render(request, template, context)


def _product_form(request: HttpRequest, data: Any = None, files: Any = None, **kwargs: Any) -> ProductForm:
    actor = _actor(request)
    return ProductForm(
        data, files, categories=selectors.category_choices(actor), units=selectors.uom_choices(actor),
        show_costs=selectors.can_see_costs(actor), **kwargs,
    )  # fmt: skip


def _default_unit(request: HttpRequest) -> int | None:
    unit = next((u for u in selectors.uom_list(_actor(request), active_only=True) if u.code == "unit"), None)
    return unit.pk if unit else None


@catalog_page
@require_http_methods(["GET", "POST"])
def product_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "catalog.change_product")
    unit = _default_unit(request)
    initial = {"currency": "EUR", "kind": "goods", "vat_category": "standard", "sale_uom_id": unit,
               "purchase_uom_id": unit, "sale_price": "0.00"}  # fmt: skip
    form = _product_form(request, request.POST or None, request.FILES or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                product = services.product_create(
                    actor=actor, image=form.cleaned_data.get("image"), **form.data_for_service()
                )
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Product “%(name)s” created.") % {"name": product.name})
                return redirect("catalog:product", product.pk)
        status = 422
    return render(request, "catalog/product_form.html", {"form": form, "product": None}, status=status)


@catalog_page
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, product_id: int) -> HttpResponse:
    actor = _actor(request)
    product = selectors.product_get(actor, product_id)
    require(actor, "catalog.change_product")
    initial = {name: getattr(product, name) for name in services.PRODUCT_FIELDS}
    form = _product_form(request, request.POST or None, request.FILES or None, initial=initial,
                         has_image=bool(product.image))  # fmt: skip
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.product_update(
                    actor=actor, product_id=product.pk, image=form.cleaned_data.get("image"),
                    remove_image=bool(form.cleaned_data.get("remove_image")), **form.data_for_service(),
                )  # fmt: skip
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Product saved."))
                return redirect("catalog:product", product.pk)
        status = 422
    return render(request, "catalog/product_form.html", {"form": form, "product": product}, status=status)


@catalog_page
@require_GET
def barcode_check(request: HttpRequest) -> HttpResponse:
    """As the user types a barcode: is it a valid EAN-13 (check digit), is it already used?"""
    actor = _actor(request)
    require(actor, "catalog.view_product")
    barcode = request.GET.get("barcode", "").strip().replace(" ", "")[:32]
    problem = services.check_barcode(barcode) if barcode else None
    used_by = None
    if barcode and problem is None:
        same = selectors.product_list(actor, {"archived": "all"}).filter(barcode=barcode)
        used_by = same.exclude(pk=_int(request.GET.get("product")) or 0).first()
    return render(request, "catalog/_barcode_check.html", {"barcode": barcode, "problem": problem, "used_by": used_by})


def _simulate_form(request: HttpRequest, data: Any = None) -> SimulateForm:
    actor = _actor(request)
    customers = directory.labels(actor.company_id, selectors.priced_customer_ids(actor))
    return SimulateForm(
        data,
        customers=sorted(customers.items(), key=lambda item: item[1].casefold()),
        groups=[(g.pk, g.name) for g in selectors.customer_groups(actor)],
        units=selectors.uom_choices(actor),
        initial={"quantity": 1},
    )


def _detail(request: HttpRequest, product: Product, **extra: Any) -> HttpResponse:
    actor = _actor(request)
    can_price = actor.has_perm("catalog.view_pricing")
    rules = selectors.product_price_rules(actor, product) if can_price else []
    names = directory.labels(actor.company_id, [r.price_list.customer_id for r in rules if r.price_list.customer_id])
    for rule in rules:
        rule.customer_label = names.get(rule.price_list.customer_id or 0, "")  # type: ignore[attr-defined]
    context = {
        "product": product,
        "show_costs": selectors.can_see_costs(actor),
        "can_change": actor.has_perm("catalog.change_product"),
        "can_price": can_price,
        "rules": rules,
        "simulate_form": extra.pop("simulate_form", None) or (_simulate_form(request) if can_price else None),
        **extra,
    }
    return render(request, "catalog/product_detail.html", context, status=extra.get("status", 200))


@catalog_page
@require_GET
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    return _detail(request, selectors.product_get(_actor(request), product_id))


@catalog_page
@require_GET
def price_simulate(request: HttpRequest, product_id: int) -> HttpResponse:
    """The simulator: the explained price for a customer (or group), a quantity, a unit and a date."""
    actor = _actor(request)
    require(actor, "catalog.view_pricing")
    product = selectors.product_get(actor, product_id)
    form = _simulate_form(request, request.GET)
    quote = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            quote = pricing.price_for(
                actor, product=product, quantity=data["quantity"], uom=data["uom"], customer_id=data["customer_id"],
                customer_group_id=data["customer_group_id"], on_date=data["date"],
            )  # fmt: skip
        except ValidationFailed as exc:
            form.apply_errors(exc)
    status = 200 if quote is not None else 422
    if _htmx(request):
        return render(request, "catalog/_price_result.html", {"quote": quote, "form": form}, status=status)
    return _detail(request, product, simulate_form=form, quote=quote, status=status)


@catalog_page
@require_POST
def product_archive(request: HttpRequest, product_id: int) -> HttpResponse:
    archived = request.POST.get("archived", "1") != "0"
    product = services.product_archive(actor=_actor(request), product_id=product_id, archived=archived)
    messages.success(request, _("Product archived.") if archived else _("Product restored."))
    return redirect("catalog:product", product.pk)


@catalog_page
@require_GET
def product_image(request: HttpRequest, product_id: int) -> FileResponse:
    """The product's image, to those who may see the product (images are not public files)."""
    product = selectors.product_get(_actor(request), product_id)
    if not product.image:
        raise NotFound("image_not_found")
    response = FileResponse(product.image.open("rb"))
    # The stored extension comes from the checked format: the browser gets the right type.
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- Categories -----------------------------------------------------------------------


@catalog_page
@require_http_methods(["GET", "POST"])
def categories(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    rows = list(selectors.category_list(actor))
    choices = [(c.pk, c.full_name) for c in rows]
    form = CategoryForm(request.POST or None, categories=choices)
    status = 200
    if request.method == "POST":
        require(actor, "catalog.change_product")
        if form.is_valid():
            try:
                services.category_create(actor=actor, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Category added."))
                return redirect("catalog:categories")
        status = 422
    context = {"categories": rows, "form": form, "can_change": actor.has_perm("catalog.change_product")}
    return render(request, "catalog/categories.html", context, status=status)


@catalog_page
@require_http_methods(["GET", "POST"])
def category_edit(request: HttpRequest, category_id: int) -> HttpResponse:
    actor = _actor(request)
    category = selectors.category_get(actor, category_id)
    require(actor, "catalog.change_product")
    choices = [(c.pk, c.full_name) for c in selectors.category_list(actor) if category.pk not in c.ancestor_ids]
    initial = {"name": category.name, "parent_id": category.parent_id}
    form = CategoryForm(request.POST or None, categories=choices, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.category_update(actor=actor, category_id=category.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Category saved."))
            return redirect("catalog:categories")
    return render(request, "catalog/simple_form.html", {
        "form": form, "title": _("Edit the category"), "back": "catalog:categories", "section": "categories",
    })  # fmt: skip


@catalog_page
@require_POST
def category_delete(request: HttpRequest, category_id: int) -> HttpResponse:
    services.category_delete(actor=_actor(request), category_id=category_id)
    messages.success(request, _("Category deleted."))
    return redirect("catalog:categories")


# --- Units of measure -----------------------------------------------------------------


@catalog_page
@require_http_methods(["GET", "POST"])
def uoms(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    groups = selectors.uom_categories(actor)
    category_choices = [(c.pk, c.name) for c in groups]
    which = request.POST.get("form") if request.method == "POST" else None
    uom_form = UomForm(request.POST if which == "uom" else None, categories=category_choices,
                       initial={"factor": "1", "rounding_places": 0, "is_active": True})  # fmt: skip
    category_form = UomCategoryForm(request.POST if which == "category" else None)
    status = 200
    if which in ("uom", "category"):
        require(actor, "catalog.change_product")
        form: Any = uom_form if which == "uom" else category_form
        if form.is_valid():
            try:
                if which == "uom":
                    services.uom_create(actor=actor, **form.cleaned_data)
                else:
                    services.uom_category_create(actor=actor, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("catalog:uoms")
        status = 422
    context = {
        "groups": groups, "uom_form": uom_form, "category_form": category_form,
        "can_change": actor.has_perm("catalog.change_product"),
    }  # fmt: skip
    return render(request, "catalog/uoms.html", context, status=status)


@catalog_page
@require_http_methods(["GET", "POST"])
def uom_edit(request: HttpRequest, uom_id: int) -> HttpResponse:
    actor = _actor(request)
    uom = selectors.uom_get(actor, uom_id)
    require(actor, "catalog.change_product")
    initial = {
        "category_id": uom.category_id, "name_fr": uom.name_fr, "name_en": uom.name_en, "symbol": uom.symbol,
        "factor": services.format_factor(uom.factor), "rounding_places": uom.rounding_places,
        "unece_code": uom.unece_code, "is_active": uom.is_active,
    }  # fmt: skip
    category_choices = [(c.pk, c.name) for c in selectors.uom_categories(actor)]
    form = UomForm(request.POST or None, categories=category_choices, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.uom_update(actor=actor, uom_id=uom.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Unit saved."))
            return redirect("catalog:uoms")
    return render(request, "catalog/simple_form.html", {
        "form": form, "title": _("Edit the unit of measure"), "back": "catalog:uoms", "section": "uoms",
    })  # fmt: skip


# --- Price lists ----------------------------------------------------------------------


def _customer_choices(request: HttpRequest, current: int | None = None) -> list[tuple[int, str]]:
    actor = _actor(request)
    found = directory.search(actor, "", 500)
    if current is not None and current not in {pk for pk, _label in found}:
        found.append((current, directory.label(actor.company_id, current)))
    return found


def _price_list_form(request: HttpRequest, data: Any = None, **kwargs: Any) -> PriceListForm:
    actor = _actor(request)
    groups = [(g.pk, g.name) for g in selectors.customer_groups(actor)]
    current = (kwargs.get("initial") or {}).get("customer_id")
    return PriceListForm(data, groups=groups, customers=_customer_choices(request, current), **kwargs)


@catalog_page
@require_GET
def price_lists(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    rows = list(selectors.price_list_list(actor))
    return render(request, "catalog/price_lists.html", {
        "price_lists": rows, "can_manage": actor.has_perm("catalog.manage_pricing"),
        "customer_names": directory.labels(actor.company_id, [p.customer_id for p in rows if p.customer_id]),
    })  # fmt: skip


@catalog_page
@require_http_methods(["GET", "POST"])
def price_list_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "catalog.manage_pricing")
    form = _price_list_form(request, request.POST or None, initial={"currency": "EUR", "priority": 10,
                                                                     "is_active": True})  # fmt: skip
    if request.method == "POST" and form.is_valid():
        try:
            price_list = services.price_list_create(actor=actor, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Price list created: add its rules."))
            return redirect("catalog:price_list", price_list.pk)
    return render(request, "catalog/simple_form.html", {
        "form": form, "title": _("New price list"), "back": "catalog:price_lists", "section": "price_lists",
    })  # fmt: skip


@catalog_page
@require_http_methods(["GET", "POST"])
def price_list_edit(request: HttpRequest, price_list_id: int) -> HttpResponse:
    actor = _actor(request)
    price_list = selectors.price_list_get(actor, price_list_id)
    require(actor, "catalog.manage_pricing")
    initial = {name: getattr(price_list, name) for name in services.PRICE_LIST_FIELDS}
    form = _price_list_form(request, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.price_list_update(actor=actor, price_list_id=price_list.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Price list saved."))
            return redirect("catalog:price_list", price_list.pk)
    return render(request, "catalog/simple_form.html", {
        "form": form, "title": _("Edit the price list"), "back": "catalog:price_lists", "section": "price_lists",
    })  # fmt: skip


def _rule_form(request: HttpRequest, data: Any = None, **kwargs: Any) -> RuleForm:
    actor = _actor(request)
    products = [(p.pk, str(p)) for p in selectors.product_list(actor).order_by("reference")[:500]]
    return RuleForm(
        data, products=products, categories=selectors.category_choices(actor),
        price_lists=selectors.price_list_choices(actor), **kwargs,
    )  # fmt: skip


@catalog_page
@require_http_methods(["GET", "POST"])
def price_list_detail(request: HttpRequest, price_list_id: int) -> HttpResponse:
    """The list and its rules; its form adds a rule."""
    actor = _actor(request)
    price_list = selectors.price_list_get(actor, price_list_id)
    form = _rule_form(request, request.POST or None, initial={"target": "all", "method": "discount",
                                                              "min_quantity": 0})  # fmt: skip
    status = 200
    if request.method == "POST":
        require(actor, "catalog.manage_pricing")
        if form.is_valid():
            try:
                services.rule_create(actor=actor, price_list_id=price_list.pk, **form.data_for_service())
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Rule added."))
                return redirect("catalog:price_list", price_list.pk)
        status = 422
    return render(request, "catalog/price_list_detail.html", {
        "price_list": price_list, "rules": list(price_list.rules.all()), "form": form,
        "can_manage": actor.has_perm("catalog.manage_pricing"),
        "customer_name": directory.label(actor.company_id, price_list.customer_id),
    }, status=status)  # fmt: skip


@catalog_page
@require_POST
def price_list_delete(request: HttpRequest, price_list_id: int) -> HttpResponse:
    services.price_list_delete(actor=_actor(request), price_list_id=price_list_id)
    messages.success(request, _("Price list deleted."))
    return redirect("catalog:price_lists")


@catalog_page
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    actor = _actor(request)
    rule = selectors.rule_get(actor, rule_id)
    require(actor, "catalog.manage_pricing")
    initial = {name: getattr(rule, name) for name in services.RULE_FIELDS}
    form = _rule_form(request, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.rule_update(actor=actor, rule_id=rule.pk, **form.data_for_service())
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Rule saved."))
            return redirect("catalog:price_list", rule.price_list_id)
    return render(request, "catalog/simple_form.html", {
        "form": form, "title": _("Edit the rule"), "back": "catalog:price_lists", "section": "price_lists",
    })  # fmt: skip


@catalog_page
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = selectors.rule_get(_actor(request), rule_id)
    services.rule_delete(actor=_actor(request), rule_id=rule.pk)
    messages.success(request, _("Rule deleted."))
    return redirect("catalog:price_list", rule.price_list_id)


# --- Customer groups ------------------------------------------------------------------


@catalog_page
@require_http_methods(["GET", "POST"])
def customer_groups(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    form = GroupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        require(actor, "catalog.manage_pricing")
        if form.is_valid():
            try:
                group = services.customer_group_create(actor=actor, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Customer group created."))
                return redirect("catalog:customer_group", group.pk)
        status = 422
    return render(request, "catalog/customer_groups.html", {
        "groups": list(selectors.customer_groups(actor)), "form": form,
        "can_manage": actor.has_perm("catalog.manage_pricing"),
    }, status=status)  # fmt: skip


@catalog_page
@require_http_methods(["GET", "POST"])
def customer_group(request: HttpRequest, group_id: int) -> HttpResponse:
    """Members of the group; search organizations to add one (POST ``organization_id``)."""
    actor = _actor(request)
    group = selectors.customer_group_get(actor, group_id)
    if request.method == "POST":
        organization_id = _int(request.POST.get("organization_id"))
        services.customer_group_add(actor=actor, group_id=group.pk, organization_id=organization_id or 0)
        messages.success(request, _("Customer added to the group."))
        return redirect("catalog:customer_group", group.pk)
    q = request.GET.get("q", "").strip()[:200]
    members = list(group.members.all())
    member_ids = {m.organization_id for m in members}
    found = [(pk, label) for pk, label in directory.search(actor, q, 20) if pk not in member_ids] if q else []
    return render(request, "catalog/customer_group.html", {
        "group": group, "members": members, "q": q, "found": found,
        "names": directory.labels(actor.company_id, member_ids),
        "can_manage": actor.has_perm("catalog.manage_pricing"),
    })  # fmt: skip


@catalog_page
@require_POST
def customer_group_remove(request: HttpRequest, group_id: int) -> HttpResponse:
    services.customer_group_remove(
        actor=_actor(request), group_id=group_id, organization_id=_int(request.POST.get("organization_id")) or 0
    )
    messages.success(request, _("Customer taken out of the group."))
    return redirect("catalog:customer_group", group_id)

"""Placeholder while the pages are written."""

from django.http import Http404


def products(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def product_create(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def product_detail(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def product_edit(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def product_archive(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def product_image(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def price_simulate(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def barcode_check(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def categories(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def category_edit(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def category_delete(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def uoms(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def uom_edit(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def price_lists(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def price_list_create(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def price_list_detail(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def price_list_edit(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def price_list_delete(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def rule_edit(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def rule_delete(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def customer_groups(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def customer_group(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404


def customer_group_remove(request, **kwargs):  # type: ignore[no-untyped-def]
    raise Http404

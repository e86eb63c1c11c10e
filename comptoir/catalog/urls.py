"""Catalog pages, mounted at /catalog/."""

from django.urls import path, register_converter

from comptoir.catalog import views


class IdConverter:
    """A database id: at most 18 digits, so it always fits a bigint (longer → 404, never 500)."""

    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "catid")

app_name = "catalog"

urlpatterns = [
    path("", views.products, name="products"),
    path("products/new/", views.product_create, name="product_create"),
    path("products/<catid:product_id>/", views.product_detail, name="product"),
    path("products/<catid:product_id>/edit/", views.product_edit, name="product_edit"),
    path("products/<catid:product_id>/archive/", views.product_archive, name="product_archive"),
    path("products/<catid:product_id>/image/", views.product_image, name="product_image"),
    path("products/<catid:product_id>/simulate/", views.price_simulate, name="price_simulate"),
    path("barcode-check/", views.barcode_check, name="barcode_check"),
    path("categories/", views.categories, name="categories"),
    path("categories/<catid:category_id>/edit/", views.category_edit, name="category_edit"),
    path("categories/<catid:category_id>/delete/", views.category_delete, name="category_delete"),
    path("units/", views.uoms, name="uoms"),
    path("units/<catid:uom_id>/edit/", views.uom_edit, name="uom_edit"),
    path("price-lists/", views.price_lists, name="price_lists"),
    path("price-lists/new/", views.price_list_create, name="price_list_create"),
    path("price-lists/<catid:price_list_id>/", views.price_list_detail, name="price_list"),
    path("price-lists/<catid:price_list_id>/edit/", views.price_list_edit, name="price_list_edit"),
    path("price-lists/<catid:price_list_id>/delete/", views.price_list_delete, name="price_list_delete"),
    path("rules/<catid:rule_id>/edit/", views.rule_edit, name="rule_edit"),
    path("rules/<catid:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("customer-groups/", views.customer_groups, name="customer_groups"),
    path("customer-groups/<catid:group_id>/", views.customer_group, name="customer_group"),
    path("customer-groups/<catid:group_id>/remove/", views.customer_group_remove, name="customer_group_remove"),
]

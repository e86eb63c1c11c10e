"""Sales pages: orders."""

from django.urls import path

from comptoir.sales import views_orders as views

urlpatterns = [
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:order_id>/", views.order_detail, name="order"),
    path("orders/<int:order_id>/confirm/", views.order_confirm, name="order_confirm"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("orders/<int:order_id>/invoice/", views.order_invoice, name="order_invoice"),
    path("orders/<int:order_id>/deliver/", views.order_deliver, name="order_deliver"),
    path("orders/<int:order_id>/plan/", views.order_plan, name="order_plan"),
    path("quotes/<int:quote_id>/order/", views.order_from_quote, name="order_from_quote"),
]

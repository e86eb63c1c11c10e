"""Quote documents in the app: the PDF of a version, sending by email, the acceptance link."""

from django.urls import path

from comptoir.sales import views_documents

urlpatterns = [
    path("quotes/<int:pk>/pdf/", views_documents.quote_pdf, name="quote_pdf"),
    path("quotes/<int:pk>/send/", views_documents.quote_send, name="quote_send"),
    path("quotes/<int:pk>/link/", views_documents.quote_link, name="quote_link"),
]

from django.conf import settings
from django.conf.urls.static import static
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from comptoir.config.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("settings/", include("comptoir.org.urls")),
    path("audit/", include("comptoir.kernel.urls")),
    path("contacts/", include("comptoir.contacts.urls")),
    path("crm/", include("comptoir.crm.urls")),
    path("catalog/", include("comptoir.catalog.urls")),
    path("accounting/", include("comptoir.accounting.urls")),
    path("banking/", include("comptoir.banking.urls")),
    path("sales/", include("comptoir.sales.urls")),
    path("", include("comptoir.web.urls")),
]

if settings.DEBUG or settings.DEMO:
    urlpatterns += static(settings.STATIC_URL, document_root=settings.STATIC_ROOT)

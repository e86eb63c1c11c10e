"""Contacts pages, mounted at /contacts/. Each part of the app keeps its own URL list."""

from comptoir.contacts import urls_details, urls_duplicates, urls_import, urls_main, urls_timeline

app_name = "contacts"

urlpatterns = [
    *urls_main.urlpatterns,
    *urls_duplicates.urlpatterns,
    *urls_import.urlpatterns,
    *urls_details.urlpatterns,
    *urls_timeline.urlpatterns,
]

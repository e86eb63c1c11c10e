"""The REST API: one NinjaAPI at /api/v1, routers from each app (conventions: docs/api.md)."""

from __future__ import annotations

from collections.abc import Iterable

from ninja import NinjaAPI, Router

from comptoir.accounting.api import router as accounting_router
from comptoir.accounting.api_closing import router as accounting_closing_router
from comptoir.accounting.api_dunning import router as accounting_dunning_router
from comptoir.accounting.api_reports import router as accounting_reports_router
from comptoir.accounting.api_statements import router as accounting_statements_router
from comptoir.banking.api_reconcile import router as banking_reconcile_router
from comptoir.banking.api_statements import router as banking_statements_router
from comptoir.catalog.api import router as catalog_router
from comptoir.contacts.api import router as contacts_router
from comptoir.contacts.api_details import router as contacts_details_router
from comptoir.contacts.api_duplicates import router as contacts_duplicates_router
from comptoir.contacts.api_import import router as contacts_import_router
from comptoir.contacts.api_timeline import router as contacts_timeline_router
from comptoir.crm.api import router as crm_router
from comptoir.crm.api_activities import router as crm_activities_router
from comptoir.crm.api_followups import router as crm_followups_router
from comptoir.crm.api_notes import router as crm_notes_router
from comptoir.kernel import apikit
from comptoir.kernel.api import router as kernel_router
from comptoir.org.api import actor_from_key, actor_from_session
from comptoir.org.api import router as org_router
from comptoir.sales.api_documents import router as sales_documents_router
from comptoir.sales.api_kpis import router as sales_kpis_router
from comptoir.sales.api_orders import router as sales_orders_router
from comptoir.sales.api_quotes import router as sales_quotes_router

apikit.configure(key_actor=actor_from_key, session_actor=actor_from_session)


def build_api(extra_routers: Iterable[tuple[str, Router]] = ()) -> NinjaAPI:
    """A fresh API with every app's router; tests add their own module routers."""
    api = NinjaAPI(
        title="Comptoir API",
        version="1",
        urls_namespace="api-v1",
        description="CRM and ERP in one. Conventions: see docs/api.md.",
        auth=apikit.auth(),
    )
    apikit.install(api)
    api.add_router("", org_router)
    api.add_router("", kernel_router)
    # Fixed paths (/organizations/merge) before parametrised ones (/organizations/{id}).
    api.add_router("", contacts_duplicates_router)
    api.add_router("", contacts_timeline_router)
    api.add_router("", contacts_details_router)
    api.add_router("", contacts_router)
    api.add_router("", contacts_import_router)
    api.add_router("", crm_router)
    api.add_router("", crm_activities_router)
    api.add_router("", crm_followups_router)
    api.add_router("", crm_notes_router)
    api.add_router("/accounting", accounting_router)
    api.add_router("/accounting", accounting_reports_router)
    api.add_router("/accounting", accounting_statements_router)
    api.add_router("/accounting", accounting_closing_router)
    api.add_router("/accounting", accounting_dunning_router)
    api.add_router("/catalog", catalog_router)
    api.add_router("/banking", banking_statements_router)
    api.add_router("/banking", banking_reconcile_router)
    api.add_router("/sales", sales_quotes_router)
    api.add_router("/sales", sales_documents_router)
    api.add_router("/sales", sales_orders_router)
    api.add_router("/sales", sales_kpis_router)
    for prefix, router in extra_routers:
        api.add_router(prefix, router)
    return api


api = build_api()

"""The REST API: one NinjaAPI at /api/v1, routers from each app."""

from ninja import NinjaAPI

api = NinjaAPI(
    title="Comptoir API",
    version="1",
    urls_namespace="api-v1",
    description="CRM and ERP in one. Conventions: see docs/api.md.",
)

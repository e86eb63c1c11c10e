"""CRM API (pipelines, leads, opportunities): see docs/api.md for conventions."""

from comptoir.kernel import apikit

router = apikit.module_router("crm")

"""Accounting API (/api/v1/accounting/...): see docs/api.md for conventions."""

from __future__ import annotations

from comptoir.kernel import apikit

router = apikit.module_router("accounting")

"""Banking API: reconciliation proposals, matches and rules (conventions: docs/api.md)."""

from __future__ import annotations

from comptoir.kernel import apikit

router = apikit.module_router("banking")

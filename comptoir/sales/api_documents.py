"""Sales API: quote documents (PDF, sending, acceptance links) (conventions: docs/api.md)."""

from __future__ import annotations

from comptoir.kernel import apikit

router = apikit.module_router("sales")

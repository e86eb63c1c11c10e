"""Contacts API (organizations, people): see docs/api.md for conventions."""

from comptoir.kernel import apikit

router = apikit.module_router("contacts")

"""Contacts import API."""

from comptoir.kernel import apikit

router = apikit.module_router("contacts")

"""The contacts module: registered with the kernel so it can be switched on per company."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.modules import Module, NavEntry, registry


def search(actor: Any, query: str, limit: int) -> list[dict[str, Any]]:
    """Global search: the lists' own selector, so it sees exactly the rows the lists show."""
    from comptoir.contacts.selectors import search as contacts_search

    return contacts_search(actor, query, limit)


def register() -> None:
    registry.register(
        Module(
            code="contacts",
            label=_("Contacts"),
            description=_("Organizations and people, without duplicates."),
            nav=(
                NavEntry(
                    label=_("Organizations"), url_name="contacts:organizations", permission="contacts.view_contact"
                ),
                NavEntry(label=_("People"), url_name="contacts:people", permission="contacts.view_contact"),
                NavEntry(label=_("Tags"), url_name="contacts:tags", permission="contacts.view_contact"),
                NavEntry(label=_("Duplicates"), url_name="contacts:duplicates", permission="contacts.merge_contacts"),
                NavEntry(label=_("Import"), url_name="contacts:import_start", permission="contacts.import_contacts"),
            ),
            search=search,
        )
    )

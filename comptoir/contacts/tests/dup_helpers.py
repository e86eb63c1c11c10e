"""Rows for the duplicate and merge tests, written straight to the tables (search text included)."""

from __future__ import annotations

from typing import Any

from comptoir.contacts import services
from comptoir.contacts.models import Organization, Person
from comptoir.contacts.normalize import web_domain
from comptoir.org.models import Company


def org(company: Company, legal_name: str, **fields: Any) -> Organization:
    row = Organization(company=company, legal_name=legal_name, **fields)
    row.web_domain = web_domain(row.website)
    row.search_text = services.organization_search_text(row)
    row.save()
    return row


def person(company: Company, first_name: str, last_name: str, **fields: Any) -> Person:
    row = Person(company=company, first_name=first_name, last_name=last_name, **fields)
    row.search_text = services.person_search_text(row)
    row.save()
    return row

"""Display filters for contact data, so include-templates format values the way pages do."""

from __future__ import annotations

from django import template

from comptoir.contacts.forms import AddressForm, ContactPointForm
from comptoir.contacts.validators import format_phone, format_siret

register = template.Library()


@register.filter
def phone_display(e164: str) -> str:
    """E.164 → national format at home ("01 42 72 00 00"), international abroad."""
    return format_phone(e164 or "")


@register.filter
def siret_display(siret: str) -> str:
    return format_siret(siret or "")


@register.simple_tag
def new_address_form() -> AddressForm:
    """An empty address form, so the addresses include needs nothing from its page's view."""
    return AddressForm()


@register.simple_tag
def new_contact_point_form() -> ContactPointForm:
    return ContactPointForm()

"""Tags, addresses and contact points API: see docs/api.md for conventions.

Reads start from the rows the actor may see, writes go through the same services as the
pages, so record rules and checks are the same: an address or a contact point of a contact
the actor may not see is a 404, whatever the path. Scopes: ``contacts:read`` to read,
``contacts:write`` to change.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.contacts import details, services, tags
from comptoir.contacts.models import Address, ContactPoint, Tag
from comptoir.contacts.validators import format_phone
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses

router = apikit.module_router("contacts")

ObjectId = Path(..., ge=1, le=MAX_ID)


# --- Tags -----------------------------------------------------------------------------


class TagOut(Schema):
    id: int
    name: str
    color: str
    organization_count: int = Field(description="Organizations you may see that carry the tag.")
    person_count: int = Field(description="People you may see who carry the tag.")


class TagCreateIn(InputSchema):
    name: str = Field(..., max_length=200, description="Unique in the company, ignoring accents and case.")
    color: str = Field(tags.DEFAULT_COLOR, max_length=7, description="`#rrggbb`.")


class TagUpdateIn(InputSchema):
    """Only the fields sent are changed."""

    name: str = Field(None, max_length=200)  # type: ignore[assignment]
    color: str = Field(None, max_length=7)  # type: ignore[assignment]


class TagDeletedOut(Schema):
    id: int
    organizations: int = Field(description="Organizations that lost the tag.")
    people: int = Field(description="People who lost the tag.")


TAG_SORT = {"name": "name", "organization_count": "organization_count", "person_count": "person_count"}


@router.get("/tags", response=responses(page_of(TagOut)), summary="List tags")
def tag_list(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    """The company's tags with their usage. Sort: `name`, `organization_count`, `person_count`."""
    return apikit.paginate(tags.tag_list(apikit.actor(request)), params, sort=TAG_SORT, default_sort="name")


@router.post("/tags", response=responses(TagOut, status=201), summary="Create a tag")
def tag_create(request: HttpRequest, payload: TagCreateIn) -> Status:
    """Needs the `contacts:write` scope and the permission to change contacts."""
    actor = apikit.actor(request)
    tag = tags.tag_create(actor=actor, name=payload.name, color=payload.color)
    return Status(201, tags.tag_get(actor, tag.pk))


@router.get("/tags/{tag_id}", response=responses(TagOut), summary="Get a tag")
def tag_get(request: HttpRequest, tag_id: int = ObjectId) -> Tag:
    return tags.tag_get(apikit.actor(request), tag_id)


@router.patch("/tags/{tag_id}", response=responses(TagOut), summary="Rename or recolour a tag")
def tag_update(request: HttpRequest, payload: TagUpdateIn, tag_id: int = ObjectId) -> Tag:
    """Every contact carrying the tag follows. Needs the permission to manage tags."""
    actor = apikit.actor(request)
    tags.tag_update(actor=actor, tag_id=tag_id, **payload.model_dump(exclude_unset=True))
    return tags.tag_get(actor, tag_id)


@router.delete("/tags/{tag_id}", response=responses(TagDeletedOut), summary="Delete a tag")
def tag_delete(request: HttpRequest, tag_id: int = ObjectId) -> dict[str, int]:
    """The tag leaves every contact carrying it (the contacts stay). Needs the permission to manage tags."""
    lost = tags.tag_delete(actor=apikit.actor(request), tag_id=tag_id)
    return {"id": tag_id, **lost}


# --- Addresses ------------------------------------------------------------------------


class AddressOut(Schema):
    id: int
    organization_id: int
    kind: str = Field(description="`billing`, `delivery` or `site`.")
    label: str
    line1: str
    line2: str
    postal_code: str
    city: str
    country: str
    siret: str
    is_default: bool = Field(description="The organization's default address of its kind.")


class AddressIn(InputSchema):
    """Only the fields sent are set (PATCH); `line1` and `city` are required to create."""

    kind: str = Field(None, max_length=10, description="`billing` (default), `delivery` or `site`.")  # type: ignore[assignment]
    label: str = Field(None, max_length=100)  # type: ignore[assignment]
    line1: str = Field(None, max_length=200)  # type: ignore[assignment]
    line2: str = Field(None, max_length=200)  # type: ignore[assignment]
    postal_code: str = Field(None, max_length=20)  # type: ignore[assignment]
    city: str = Field(None, max_length=100)  # type: ignore[assignment]
    country: str = Field(None, max_length=10, description="ISO 3166-1 code, e.g. FR (default).")  # type: ignore[assignment]
    siret: str = Field(
        None, max_length=20, description="An establishment's SIRET: must start with the organization's SIREN."
    )  # type: ignore[assignment]
    is_default: bool = Field(None, description="Make it the default of its kind (the previous one no longer is).")  # type: ignore[assignment]


@router.get(
    "/organizations/{organization_id}/addresses", response=responses(list[AddressOut]), summary="List addresses"
)
def address_list(request: HttpRequest, organization_id: int = ObjectId) -> list[Address]:
    """An organization's addresses, by kind, the default first."""
    return details.organization_addresses(apikit.actor(request), organization_id)


@router.post(
    "/organizations/{organization_id}/addresses",
    response=responses(AddressOut, status=201),
    summary="Add an address",
)
def address_add(request: HttpRequest, payload: AddressIn, organization_id: int = ObjectId) -> Status:
    """Needs the `contacts:write` scope."""
    actor = apikit.actor(request)
    address = services.address_add(
        actor=actor, organization_id=organization_id, **payload.model_dump(exclude_unset=True)
    )
    return Status(201, address)


@router.get("/addresses/{address_id}", response=responses(AddressOut), summary="Get an address")
def address_get(request: HttpRequest, address_id: int = ObjectId) -> Address:
    return details.address_get(apikit.actor(request), address_id)


@router.patch("/addresses/{address_id}", response=responses(AddressOut), summary="Change an address")
def address_update(request: HttpRequest, payload: AddressIn, address_id: int = ObjectId) -> Address:
    """Send only the fields to change. Needs the `contacts:write` scope."""
    actor = apikit.actor(request)
    services.address_update(actor=actor, address_id=address_id, **payload.model_dump(exclude_unset=True))
    return details.address_get(actor, address_id)


@router.delete("/addresses/{address_id}", response=responses(None, status=204), summary="Remove an address")
def address_remove(request: HttpRequest, address_id: int = ObjectId) -> Status:
    """Needs the `contacts:write` scope."""
    services.address_remove(actor=apikit.actor(request), address_id=address_id)
    return Status(204, None)


# --- Contact points -------------------------------------------------------------------


class ContactPointOut(Schema):
    id: int
    person_id: int
    kind: str = Field(description="`email`, `phone` or `mobile`.")
    value: str = Field(description="Email in lower case, phone in E.164.")
    display: str = Field(description="As shown: phones in national format at home.")
    label: str

    @staticmethod
    def resolve_display(obj: ContactPoint) -> str:
        return obj.value if obj.kind == ContactPoint.Kind.EMAIL else format_phone(obj.value)


class ContactPointIn(InputSchema):
    kind: str = Field(..., max_length=10, description="`email`, `phone` or `mobile`.")
    value: str = Field(..., max_length=254, description="An email, or a phone in any format (stored in E.164).")
    label: str = Field("", max_length=40, description="e.g. personal, assistant")


class ContactPointUpdateIn(InputSchema):
    """Only the fields sent are changed."""

    kind: str = Field(None, max_length=10)  # type: ignore[assignment]
    value: str = Field(None, max_length=254)  # type: ignore[assignment]
    label: str = Field(None, max_length=40)  # type: ignore[assignment]


class PersonContactsOut(Schema):
    person_id: int
    email: str
    phone: str
    mobile: str
    contact_points: list[ContactPointOut]


@router.get(
    "/people/{person_id}/contact-points", response=responses(list[ContactPointOut]), summary="List contact points"
)
def contact_point_list(request: HttpRequest, person_id: int = ObjectId) -> list[ContactPoint]:
    """A person's emails and phones beyond the main `email`, `phone` and `mobile`."""
    return details.person_contact_points(apikit.actor(request), person_id)


@router.post(
    "/people/{person_id}/contact-points", response=responses(ContactPointOut, status=201), summary="Add a contact point"
)
def contact_point_add(request: HttpRequest, payload: ContactPointIn, person_id: int = ObjectId) -> Status:
    """Needs the `contacts:write` scope. A value the person already has is refused."""
    actor = apikit.actor(request)
    point = services.contact_point_add(actor=actor, person_id=person_id, **payload.model_dump())
    return Status(201, point)


@router.get("/contact-points/{contact_point_id}", response=responses(ContactPointOut), summary="Get a contact point")
def contact_point_get(request: HttpRequest, contact_point_id: int = ObjectId) -> ContactPoint:
    return details.contact_point_get(apikit.actor(request), contact_point_id)


@router.patch(
    "/contact-points/{contact_point_id}", response=responses(ContactPointOut), summary="Change a contact point"
)
def contact_point_update(
    request: HttpRequest, payload: ContactPointUpdateIn, contact_point_id: int = ObjectId
) -> ContactPoint:
    """Send only the fields to change. Needs the `contacts:write` scope."""
    actor = apikit.actor(request)
    data = payload.model_dump(exclude_unset=True)
    return details.contact_point_update(actor=actor, contact_point_id=contact_point_id, **data)


@router.delete(
    "/contact-points/{contact_point_id}", response=responses(None, status=204), summary="Remove a contact point"
)
def contact_point_remove(request: HttpRequest, contact_point_id: int = ObjectId) -> Status:
    """Needs the `contacts:write` scope."""
    services.contact_point_remove(actor=apikit.actor(request), contact_point_id=contact_point_id)
    return Status(204, None)


@router.post(
    "/contact-points/{contact_point_id}/primary",
    response=responses(PersonContactsOut),
    summary="Make a contact point the main one",
)
def contact_point_make_primary(request: HttpRequest, contact_point_id: int = ObjectId) -> dict[str, Any]:
    """It becomes the person's main email, phone or mobile (by its kind); the main value it
    replaces is kept as a contact point. Needs the `contacts:write` scope."""
    actor = apikit.actor(request)
    person = details.contact_point_make_primary(actor=actor, contact_point_id=contact_point_id)
    return {
        "person_id": person.pk,
        "email": person.email,
        "phone": person.phone,
        "mobile": person.mobile,
        "contact_points": details.person_contact_points(actor, person.pk),
    }

"""Contacts API (organizations, people): see docs/api.md for conventions.

Lists and single rows come from the same selectors as the pages (record rules included);
writes go through the same services. Scopes: ``contacts:read`` to read, ``contacts:write``
to change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.contacts import selectors, services
from comptoir.contacts.models import LifecycleStage, Organization, Person
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses

router = apikit.module_router("contacts")

ObjectId = Path(..., ge=1, le=MAX_ID)


# --- Schemas --------------------------------------------------------------------------


class TagOut(Schema):
    id: int
    name: str


class PartyOut(Schema):
    id: int
    lifecycle_stage: str
    email: str
    phone: str
    owner_id: int | None
    team_id: int | None
    do_not_contact: bool
    is_archived: bool
    external_id: str
    notes: str
    tags: list[TagOut]
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_tags(obj: Organization | Person) -> list[dict[str, Any]]:
        return [{"id": t.pk, "name": t.name} for t in obj.tags.all()]


class OrganizationOut(PartyOut):
    legal_name: str
    trade_name: str
    siren: str
    siret: str
    vat_number: str
    naf_code: str
    sector: str
    size: str
    website: str


class AffiliationOut(Schema):
    organization_id: int
    organization_name: str
    role: str
    is_primary: bool


class PersonOut(PartyOut):
    first_name: str
    last_name: str
    job_title: str
    mobile: str
    organizations: list[AffiliationOut]

    @staticmethod
    def resolve_organizations(obj: Person) -> list[dict[str, Any]]:
        return [
            {
                "organization_id": a.organization_id,
                "organization_name": a.organization.legal_name,
                "role": a.role,
                "is_primary": a.is_primary,
            }
            for a in obj.affiliations.all()
        ]


Stage = LifecycleStage


class PartyIn(InputSchema):
    lifecycle_stage: Stage = Field(None)  # type: ignore[assignment]
    email: str = Field(None, max_length=254)  # type: ignore[assignment]
    phone: str = Field(None, max_length=40, description="Any format; stored in E.164.")  # type: ignore[assignment]
    owner_id: int | None = Field(None, ge=1, le=MAX_ID)
    team_id: int | None = Field(None, ge=1, le=MAX_ID)
    tag_ids: list[int] = Field(None, description="Replaces the tags.")  # type: ignore[assignment,arg-type]
    tag_names: list[str] = Field(
        None,  # type: ignore[arg-type]
        max_length=50,
        description="Adds tags by name (accents and case ignored), creating missing ones.",
    )
    do_not_contact: bool = Field(None)  # type: ignore[assignment]
    external_id: str = Field(None, max_length=100)  # type: ignore[assignment]
    notes: str = Field(None, max_length=10_000)  # type: ignore[assignment]


class OrganizationIn(PartyIn):
    """Only the fields sent are set (PATCH); ``legal_name`` is required to create."""

    legal_name: str = Field(None, max_length=200)  # type: ignore[assignment]
    trade_name: str = Field(None, max_length=200)  # type: ignore[assignment]
    siren: str = Field(None, max_length=20)  # type: ignore[assignment]
    siret: str = Field(None, max_length=20, description="Its first 9 digits give the SIREN when none is set.")  # type: ignore[assignment]
    vat_number: str = Field(None, max_length=30)  # type: ignore[assignment]
    naf_code: str = Field(None, max_length=10, description="e.g. 62.01Z")  # type: ignore[assignment]
    sector: str = Field(None, max_length=100)  # type: ignore[assignment]
    size: str = Field(None, max_length=20)  # type: ignore[assignment]
    website: str = Field(None, max_length=200)  # type: ignore[assignment]


class PersonIn(PartyIn):
    """Only the fields sent are set (PATCH); ``last_name`` is required to create."""

    first_name: str = Field(None, max_length=100)  # type: ignore[assignment]
    last_name: str = Field(None, max_length=100)  # type: ignore[assignment]
    job_title: str = Field(None, max_length=100)  # type: ignore[assignment]
    mobile: str = Field(None, max_length=40)  # type: ignore[assignment]


class PersonCreateIn(PersonIn):
    organization_id: int | None = Field(None, ge=1, le=MAX_ID, description="Primary organization.")
    role: str = Field("", max_length=100, description="Role at that organization.")


class ArchiveIn(InputSchema):
    archived: bool = True


class _Filters(ListParams):
    q: str | None = Field(None, max_length=200, description="Accent- and case-insensitive search.")
    lifecycle_stage: Stage | None = None
    owner: str | None = Field(None, max_length=20, description="A user id, or `none`.")
    team: int | None = Field(None, ge=1, le=MAX_ID)
    tag: int | None = Field(None, ge=1, le=MAX_ID)
    do_not_contact: bool | None = None
    archived: bool | None = Field(None, description="Archived rows instead of current ones.")


class OrganizationFilters(_Filters):
    city: str | None = Field(None, max_length=100)
    country: str | None = Field(None, max_length=2)


class PersonFilters(_Filters):
    organization: int | None = Field(None, ge=1, le=MAX_ID)


def _filter_dict(params: ListParams, names: tuple[str, ...]) -> dict[str, Any]:
    values = {name: getattr(params, name, None) for name in names}
    return {k: (v.value if isinstance(v, LifecycleStage) else v) for k, v in values.items() if v not in (None, "")}


def _given(payload: InputSchema) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=True)
    if data.get("tag_ids", ()) is None:
        data.pop("tag_ids")  # null means "leave the tags alone"
    if data.get("tag_names", ()) is None:
        data.pop("tag_names")
    if isinstance(data.get("lifecycle_stage"), LifecycleStage):
        data["lifecycle_stage"] = data["lifecycle_stage"].value
    return data


# --- Organizations --------------------------------------------------------------------


@router.get("/organizations", response=responses(page_of(OrganizationOut)), summary="List organizations")
def organization_list(request: HttpRequest, params: Query[OrganizationFilters]) -> dict[str, Any]:
    """Organizations you may see. Sort: `name`, `siren`, `lifecycle_stage`, `owner`, `created_at`, `updated_at`."""
    actor = apikit.actor(request)
    rows = selectors.organization_list(actor, filters=_filter_dict(params, selectors.ORGANIZATION_FILTERS))
    return apikit.paginate(rows, params, sort=selectors.ORGANIZATION_SORT, default_sort="name")


@router.get("/organizations/{organization_id}", response=responses(OrganizationOut), summary="Get an organization")
def organization_get(request: HttpRequest, organization_id: int = ObjectId) -> Organization:
    return selectors.organization_detail(apikit.actor(request), organization_id)


@router.post("/organizations", response=responses(OrganizationOut, status=201), summary="Create an organization")
def organization_create(request: HttpRequest, payload: OrganizationIn) -> Status:
    """Needs the `contacts:write` scope. You become the owner unless `owner_id` is given."""
    actor = apikit.actor(request)
    org = services.organization_create(actor=actor, **_given(payload))
    return Status(201, selectors.organization_detail(actor, org.pk))


@router.patch("/organizations/{organization_id}", response=responses(OrganizationOut), summary="Change an organization")
def organization_update(request: HttpRequest, payload: OrganizationIn, organization_id: int = ObjectId) -> Organization:
    """Send only the fields to change. Needs the `contacts:write` scope."""
    actor = apikit.actor(request)
    services.organization_update(actor=actor, organization_id=organization_id, **_given(payload))
    return selectors.organization_detail(actor, organization_id)


@router.post(
    "/organizations/{organization_id}/archive", response=responses(OrganizationOut), summary="Archive an organization"
)
def organization_archive(request: HttpRequest, payload: ArchiveIn, organization_id: int = ObjectId) -> Organization:
    """`{"archived": false}` restores it. Needs the `contacts:write` scope."""
    actor = apikit.actor(request)
    services.organization_archive(actor=actor, organization_id=organization_id, archived=payload.archived)
    return selectors.organization_detail(actor, organization_id)


# --- People ---------------------------------------------------------------------------


@router.get("/people", response=responses(page_of(PersonOut)), summary="List people")
def person_list(request: HttpRequest, params: Query[PersonFilters]) -> dict[str, Any]:
    """People you may see.

    Sort: `name`, `first_name`, `email`, `lifecycle_stage`, `owner`, `created_at`, `updated_at`.
    """
    actor = apikit.actor(request)
    rows = selectors.person_list(actor, filters=_filter_dict(params, selectors.PERSON_FILTERS))
    return apikit.paginate(rows, params, sort=selectors.PERSON_SORT, default_sort="name")


@router.get("/people/{person_id}", response=responses(PersonOut), summary="Get a person")
def person_get(request: HttpRequest, person_id: int = ObjectId) -> Person:
    return selectors.person_detail(apikit.actor(request), person_id)


@router.post("/people", response=responses(PersonOut, status=201), summary="Create a person")
def person_create(request: HttpRequest, payload: PersonCreateIn) -> Status:
    """Needs the `contacts:write` scope. `organization_id` links the person to their primary organization."""
    actor = apikit.actor(request)
    person = services.person_create(actor=actor, **_given(payload))
    return Status(201, selectors.person_detail(actor, person.pk))


@router.patch("/people/{person_id}", response=responses(PersonOut), summary="Change a person")
def person_update(request: HttpRequest, payload: PersonIn, person_id: int = ObjectId) -> Person:
    """Send only the fields to change. Needs the `contacts:write` scope."""
    actor = apikit.actor(request)
    services.person_update(actor=actor, person_id=person_id, **_given(payload))
    return selectors.person_detail(actor, person_id)


@router.post("/people/{person_id}/archive", response=responses(PersonOut), summary="Archive a person")
def person_archive(request: HttpRequest, payload: ArchiveIn, person_id: int = ObjectId) -> Person:
    """`{"archived": false}` restores them. Needs the `contacts:write` scope."""
    actor = apikit.actor(request)
    services.person_archive(actor=actor, person_id=person_id, archived=payload.archived)
    return selectors.person_detail(actor, person_id)

"""REST endpoints of the org app: who am I, companies, sites, users.

Also how an API key or a browser session becomes an ``Actor`` for the API (wired into
``kernel.apikit`` by ``comptoir.config.api``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Schema
from ninja.responses import Status

from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.authz import ROLES
from comptoir.kernel.context import Actor, Channel
from comptoir.org import selectors, services
from comptoir.org.models import Company, Membership, Site, User

router = apikit.router(tags=["org"])


# --- Authentication hooks -------------------------------------------------------------


def actor_from_key(secret: str) -> tuple[Actor, list[str]] | None:
    """The actor an API key acts as, with its scopes; None when the key is not usable."""
    key = services.apikey_authenticate(secret)
    if key is None:
        return None
    actor = selectors.build_actor(
        key.user,
        key.company_id,
        Channel.API,
        scopes=key.scopes,
        pairs=key.membership_pairs,  # type: ignore[attr-defined]
    )
    if actor.company_id != key.company_id:
        # The owner left the key's company: the key no longer acts anywhere.
        return None
    return actor, list(key.scopes)


def actor_from_session(request: HttpRequest) -> Actor | None:
    user = request.user
    if not user.is_authenticated or not user.is_active:
        return None
    return selectors.build_actor(user, request.session.get("company_id"), Channel.API)


# --- Schemas --------------------------------------------------------------------------


class CompanyOut(Schema):
    id: int
    name: str
    legal_name: str
    legal_form: str
    siren: str
    vat_number: str
    share_capital: str
    rcs: str
    address_line1: str
    address_line2: str
    postal_code: str
    city: str
    country: str
    currency: str
    timezone: str
    email: str
    phone: str
    website: str


class SiteOut(Schema):
    id: int
    name: str
    siret: str
    is_head_office: bool
    address_line1: str
    postal_code: str
    city: str
    country: str
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class UserOut(Schema):
    id: int
    email: str
    full_name: str
    language: str
    is_active: bool
    date_joined: dt.datetime
    roles: list[str] = Field(description="Roles in the caller's current company.")

    @staticmethod
    def resolve_roles(obj: User | dict[str, Any]) -> list[str]:
        if isinstance(obj, dict):  # a row of the list endpoint, roles already split
            return list(obj["roles"])
        return [m.role for m in obj.company_memberships]  # type: ignore[attr-defined]


class MeUserOut(Schema):
    id: int
    email: str
    full_name: str
    language: str


class MeOut(Schema):
    user: MeUserOut
    company: CompanyOut | None
    roles: list[str]
    permissions: list[str]
    scopes: list[str] | None = Field(description="The API key's scopes; null for a browser session.")


class SiteCreateIn(InputSchema):
    name: str = Field(..., max_length=200)
    siret: str = Field(..., max_length=20, description="14 digits, starting with the company's SIREN.")
    is_head_office: bool = False
    address_line1: str = Field("", max_length=200)
    postal_code: str = Field("", max_length=20)
    city: str = Field("", max_length=100)
    country: str = Field("FR", max_length=2)
    is_active: bool = True


class SiteUpdateIn(InputSchema):
    """Only the fields sent are changed; null is not a value for any of them."""

    name: str = Field(None, max_length=200)  # type: ignore[assignment]
    siret: str = Field(None, max_length=20)  # type: ignore[assignment]
    is_head_office: bool = Field(None)  # type: ignore[assignment]
    address_line1: str = Field(None, max_length=200)  # type: ignore[assignment]
    postal_code: str = Field(None, max_length=20)  # type: ignore[assignment]
    city: str = Field(None, max_length=100)  # type: ignore[assignment]
    country: str = Field(None, max_length=2)  # type: ignore[assignment]
    is_active: bool = Field(None)  # type: ignore[assignment]


class SiteFilters(ListParams):
    q: str | None = Field(None, max_length=200, description="Search name, SIRET and city.")
    is_active: bool | None = None
    is_head_office: bool | None = None


RoleName = Literal[tuple(ROLES)]  # type: ignore[valid-type]


class UserFilters(ListParams):
    q: str | None = Field(None, max_length=200, description="Search name and email.")
    role: RoleName | None = Field(None, description="Only users holding this role.")  # type: ignore[valid-type]


ObjectId = Path(..., ge=1, le=MAX_ID)


# --- Endpoints ------------------------------------------------------------------------


@router.get("/me", response=responses(MeOut), summary="Who am I")
def me(request: HttpRequest) -> dict[str, Any]:
    """The caller, the company they act for, their roles, permissions and the key's scopes."""
    actor = apikit.actor(request)
    company = selectors.company_get(actor) if actor.company_id else None
    return {
        "user": actor.user,
        "company": company,
        "roles": sorted(actor.roles),
        "permissions": sorted(actor.permissions),
        "scopes": apikit.scopes(request),
    }


@router.get("/companies", response=responses(page_of(CompanyOut)), summary="List my companies")
def company_list(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    """Companies the caller belongs to. Sort: `name`, `siren`, `created_at`."""
    actor = apikit.actor(request)
    apikit.require(actor, "org.view_company")
    return apikit.paginate(
        selectors.company_list(actor), params,
        sort={"name": "name", "siren": "siren", "created_at": "created_at"}, default_sort="name",
    )  # fmt: skip


@router.get("/companies/{company_id}", response=responses(CompanyOut), summary="Get a company")
def company_get(request: HttpRequest, company_id: int = ObjectId) -> Company:
    actor = apikit.actor(request)
    apikit.require(actor, "org.view_company")
    return selectors.company_get(actor, company_id)


SITE_SORT = {
    "name": "name",
    "siret": "siret",
    "city": "city",
    "is_head_office": "is_head_office",
    "created_at": "created_at",
}


@router.get("/sites", response=responses(page_of(SiteOut)), summary="List sites")
def site_list(request: HttpRequest, params: Query[SiteFilters]) -> dict[str, Any]:
    """Sites of the current company. Sort: `name`, `siret`, `city`, `is_head_office`, `created_at`."""
    actor = apikit.actor(request)
    apikit.require(actor, "org.view_site")
    sites = selectors.site_list(actor)
    if params.q:
        sites = sites.filter(Q(name__icontains=params.q) | Q(siret__icontains=params.q) | Q(city__icontains=params.q))
    if params.is_active is not None:
        sites = sites.filter(is_active=params.is_active)
    if params.is_head_office is not None:
        sites = sites.filter(is_head_office=params.is_head_office)
    return apikit.paginate(sites, params, sort=SITE_SORT, default_sort="-is_head_office,name")


@router.get("/sites/{site_id}", response=responses(SiteOut), summary="Get a site")
def site_get(request: HttpRequest, site_id: int = ObjectId) -> Site:
    actor = apikit.actor(request)
    apikit.require(actor, "org.view_site")
    return selectors.site_get(actor, site_id)


@router.post("/sites", response=responses(SiteOut, status=201), summary="Create a site")
def site_create(request: HttpRequest, payload: SiteCreateIn) -> Status:
    """Needs the `org:write` scope and the permission to manage sites."""
    site = services.site_create(actor=apikit.actor(request), **payload.model_dump())
    return Status(201, site)


@router.patch("/sites/{site_id}", response=responses(SiteOut), summary="Change a site")
def site_update(request: HttpRequest, payload: SiteUpdateIn, site_id: int = ObjectId) -> Site:
    """Send only the fields to change. Needs the `org:write` scope and the permission to manage sites."""
    return services.site_update(actor=apikit.actor(request), site_id=site_id, **payload.model_dump(exclude_unset=True))


USER_SORT = {"full_name": "full_name", "email": "email", "date_joined": "date_joined"}


def _user_row(row: dict[str, Any]) -> dict[str, Any]:
    row["roles"] = selectors.user_roles(row["roles"])
    return row


@router.get("/users", response=responses(page_of(UserOut)), summary="List users")
def user_list(request: HttpRequest, params: Query[UserFilters]) -> HttpResponse:
    """People holding a role in the current company, with those roles. Sort: `full_name`, `email`, `date_joined`."""
    actor = apikit.actor(request)
    apikit.require(actor, "org.view_user")
    # Rows, not models: the busiest list of the API is one query serialized straight to JSON.
    users = selectors.user_rows(actor)
    if params.q:
        users = users.filter(Q(full_name__icontains=params.q) | Q(email__icontains=params.q))
    if params.role:
        holders = Membership.objects.filter(company_id=actor.company_id, role=params.role).values("user_id")
        users = users.filter(pk__in=holders)
    return apikit.paginate_rows(
        request, users, params, item=UserOut, convert=_user_row, sort=USER_SORT, default_sort="full_name"
    )


@router.get("/users/{user_id}", response=responses(UserOut), summary="Get a user")
def user_get(request: HttpRequest, user_id: int = ObjectId) -> User:
    actor = apikit.actor(request)
    apikit.require(actor, "org.view_user")
    return selectors.user_get(actor, user_id)

"""Contacts pages: lists (search, filters, sort, pages, saved views, export), details, forms.

Each view parses the request, calls one selector or service, and renders. The list and its
export read the same selector with the same parameters, so a download is exactly the view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.contacts import selectors, services, views_timeline
from comptoir.contacts.forms import (
    AddressForm,
    AffiliationForm,
    ConsentForm,
    OrganizationForm,
    PersonCreateForm,
    PersonForm,
    SavedViewForm,
)
from comptoir.contacts.models import CompanySize, Consent, LifecycleStage, Organization, Person
from comptoir.contacts.timeline import ORGANIZATION, PERSON, Subject
from comptoir.contacts.validators import format_phone, format_siren, format_siret
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.exports import Column, export_response
from comptoir.kernel.pagination import paginate


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def _names(rows: Any) -> str:
    return ", ".join(t.name for t in rows.all())


# --- Lists ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListSpec:
    key: str  # SavedView.list_key
    name: str
    title: Any
    create_url_name: str
    url_name: str
    export_url_name: str
    template: str
    filters: tuple[str, ...]
    sort: dict[str, str]
    columns: list[tuple[Any, str]]  # (header, sort key or "")
    export_columns: list[Column]
    filename: str


ORGANIZATIONS = ListSpec(
    key="contacts.organizations",
    name="organizations",
    title=_("Organizations"),
    create_url_name="contacts:organization_create",
    url_name="contacts:organizations",
    export_url_name="contacts:organizations_export",
    template="contacts/list.html",
    filters=selectors.ORGANIZATION_FILTERS,
    sort=selectors.ORGANIZATION_SORT,
    columns=[
        (_("Name"), "name"), (_("SIREN"), "siren"), (_("Phone"), ""), (_("Lifecycle stage"), "lifecycle_stage"),
        (_("Owner"), "owner"), (_("Tags"), ""),
    ],
    export_columns=[
        (_("Id"), "pk"), (_("Legal name"), "legal_name"), (_("Trade name"), "trade_name"), (_("SIREN"), "siren"),
        (_("SIRET"), "siret"), (_("VAT number"), "vat_number"), (_("NAF/APE code"), "naf_code"),
        (_("Email"), "email"), (_("Phone"), "phone"), (_("Website"), "website"),
        (_("Lifecycle stage"), "lifecycle_stage"), (_("Owner"), lambda o: o.owner.full_name if o.owner else ""),
        (_("Team"), lambda o: o.team.name if o.team else ""), (_("Do not contact"), "do_not_contact"),
        (_("Tags"), lambda o: _names(o.tags)),
    ],
    filename="organizations",
)  # fmt: skip

PEOPLE = ListSpec(
    key="contacts.people",
    name="people",
    title=_("People"),
    create_url_name="contacts:person_create",
    url_name="contacts:people",
    export_url_name="contacts:people_export",
    template="contacts/list.html",
    filters=selectors.PERSON_FILTERS,
    sort=selectors.PERSON_SORT,
    columns=[
        (_("Name"), "name"), (_("Organization"), ""), (_("Email"), "email"), (_("Phone"), ""),
        (_("Lifecycle stage"), "lifecycle_stage"), (_("Owner"), "owner"), (_("Tags"), ""),
    ],
    export_columns=[
        (_("Id"), "pk"), (_("First name"), "first_name"), (_("Last name"), "last_name"),
        (_("Job title"), "job_title"), (_("Email"), "email"), (_("Phone"), "phone"), (_("Mobile"), "mobile"),
        (_("Organizations"), lambda p: ", ".join(a.organization.legal_name for a in p.affiliations.all())),
        (_("Lifecycle stage"), "lifecycle_stage"), (_("Owner"), lambda p: p.owner.full_name if p.owner else ""),
        (_("Team"), lambda p: p.team.name if p.team else ""), (_("Do not contact"), "do_not_contact"),
        (_("Tags"), lambda p: _names(p.tags)),
    ],
    filename="people",
)  # fmt: skip


def _filters(request: HttpRequest, spec: ListSpec) -> dict[str, str]:
    return {name: request.GET.get(name, "").strip() for name in spec.filters if request.GET.get(name, "").strip()}


def _rows(actor: Any, spec: ListSpec, filters: dict[str, str], sort: str | None) -> Any:
    if spec is ORGANIZATIONS:
        return selectors.organization_list(actor, filters=filters, sort=sort)
    return selectors.person_list(actor, filters=filters, sort=sort)


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise ValidationFailed("invalid_pagination", fields={"page": [str(_("Must be 1 or more."))]})
    return int(raw)


def _list(request: HttpRequest, spec: ListSpec) -> HttpResponse:
    actor = _actor(request)
    require(actor, "contacts.view_contact")
    filters = _filters(request, spec)
    sort = request.GET.get("sort", "").strip() or None
    errors: dict[str, list[str]] = {}
    page = None
    try:
        page = paginate(_rows(actor, spec, filters, sort), _page_number(request))
    except ValidationFailed as exc:
        errors = exc.fields
    state = {**filters, **({"sort": sort} if sort else {})}
    current = sort or "name"
    headers = []
    for label, key in spec.columns:
        if not key:
            headers.append({"label": label})
            continue
        active = current.lstrip("-") == key
        descending = active and current.startswith("-")
        next_sort = key if active and descending else (f"-{key}" if active else key)
        headers.append({
            "label": label, "active": active, "descending": descending,
            "url": "?" + urlencode({**filters, "sort": next_sort}),
        })  # fmt: skip
    context = {
        "spec": spec,
        "page": page,
        "rows": [_display(obj) for obj in (page.items if page else [])],
        "filters": filters,
        "errors": errors,
        "sort": sort or "",
        "headers": headers,
        "state_query": urlencode(state),
        "page_query": urlencode(state) + ("&" if state else ""),
        "saved_views": list(selectors.saved_views(actor, spec.key)),
        "save_form": SavedViewForm(initial={"query": urlencode(state)}),
        "can_change": actor.has_perm("contacts.change_contact"),
        "can_export": actor.has_perm("contacts.export_contacts"),
        "stages": LifecycleStage.choices,
        "owners": selectors.owner_choices(actor),
        "teams": selectors.team_choices(actor),
        "tags": selectors.tag_list(actor),
    }
    if getattr(request, "htmx", False) and request.headers.get("HX-Target") == "list-results":
        return render(request, f"{spec.template}#results", context, status=422 if errors else 200)
    return render(request, spec.template, context, status=422 if errors else 200)


def _display(obj: Organization | Person) -> dict[str, Any]:
    row: dict[str, Any] = {"obj": obj, "phone": format_phone(obj.phone)}
    if isinstance(obj, Organization):
        row["siren"] = format_siren(obj.siren)
    return row


def _export(request: HttpRequest, spec: ListSpec) -> HttpResponseBase:
    actor = _actor(request)
    require(actor, "contacts.export_contacts")
    rows = _rows(actor, spec, _filters(request, spec), request.GET.get("sort", "").strip() or None)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    columns: list[Column] = [(str(label), getter) for label, getter in spec.export_columns]
    # Prefetches need chunks: iterate the queryset in pages of 2,000 rows.
    return export_response(
        rows.iterator(chunk_size=2000), columns, f"{spec.filename}-{stamp}", request.GET.get("format", "csv")
    )


@login_required
@require_GET
def organizations(request: HttpRequest) -> HttpResponse:
    return _list(request, ORGANIZATIONS)


@login_required
@require_GET
def people(request: HttpRequest) -> HttpResponse:
    return _list(request, PEOPLE)


@login_required
@require_GET
def organizations_export(request: HttpRequest) -> HttpResponseBase:
    return _export(request, ORGANIZATIONS)


@login_required
@require_GET
def people_export(request: HttpRequest) -> HttpResponseBase:
    return _export(request, PEOPLE)


@login_required
@require_POST
def saved_view_save(request: HttpRequest, list_name: str) -> HttpResponse:
    spec = {"organizations": ORGANIZATIONS, "people": PEOPLE}.get(list_name)
    if spec is None:
        raise NotFound()
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        raise ValidationFailed(fields={k: [str(m) for m in v] for k, v in form.errors.items()})
    # Keep only the list's own parameters: a saved view cannot smuggle anything else.
    query = QueryDict(form.cleaned_data["query"])
    kept = {k: query.get(k, "") for k in (*spec.filters, "sort") if query.get(k, "")}
    view = services.saved_view_save(
        actor=_actor(request), list_key=spec.key, name=form.cleaned_data["name"], query=urlencode(kept),
        shared=form.cleaned_data["shared"],
    )  # fmt: skip
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(reverse(spec.url_name) + (f"?{view.query}" if view.query else ""))


@login_required
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    services.saved_view_delete(actor=_actor(request), view_id=view_id)
    messages.success(request, _("View deleted."))
    target = request.POST.get("list", "")
    return redirect("contacts:people" if target == "people" else "contacts:organizations")


# --- Organizations --------------------------------------------------------------------


def _choices(actor: Any) -> dict[str, Any]:
    return {
        "owners": selectors.owner_choices(actor),
        "teams": selectors.team_choices(actor),
        "tags": selectors.tag_list(actor),
    }


def _service_data(form: Any) -> dict[str, Any]:
    data = dict(form.cleaned_data)
    data["owner_id"] = data.get("owner_id") or None
    data["team_id"] = data.get("team_id") or None
    return data


ORG_FORM_FIELDS = list(OrganizationForm.base_fields)


@login_required
@require_GET
def organization_detail(request: HttpRequest, organization_id: int) -> HttpResponse:
    actor = _actor(request)
    org = selectors.organization_detail(actor, organization_id)
    return render(
        request,
        "contacts/organization_detail.html",
        {
            "org": org,
            "siren": format_siren(org.siren),
            "siret": format_siret(org.siret),
            "phone": format_phone(org.phone),
            "addresses": [{"address": a, "siret": format_siret(a.siret)} for a in org.addresses.all()],
            "address_form": AddressForm(),
            "can_change": actor.has_perm("contacts.change_contact"),
            "size_label": dict(CompanySize.choices).get(org.size, ""),
            **views_timeline.detail_context(request, actor, Subject(ORGANIZATION, org.pk)),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def organization_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "contacts.change_contact")
    if request.method == "POST":
        form = OrganizationForm(request.POST, **_choices(actor))
        if form.is_valid():
            try:
                org = services.organization_create(actor=actor, **_service_data(form))
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Organization “%(name)s” created.") % {"name": org})
                return redirect("contacts:organization_detail", org.pk)
    else:
        form = OrganizationForm(initial={"owner_id": actor.user_id}, **_choices(actor))
    return render(request, "contacts/organization_form.html", {"form": form, "org": None})


@login_required
@require_http_methods(["GET", "POST"])
def organization_edit(request: HttpRequest, organization_id: int) -> HttpResponse:
    actor = _actor(request)
    org = selectors.organization_get(actor, organization_id)
    require(actor, "contacts.change_contact")
    if request.method == "POST":
        form = OrganizationForm(request.POST, **_choices(actor))
        if form.is_valid():
            try:
                org = services.organization_update(actor=actor, organization_id=org.pk, **_service_data(form))
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Organization “%(name)s” saved.") % {"name": org})
                return redirect("contacts:organization_detail", org.pk)
    else:
        initial = {name: getattr(org, name, "") for name in ORG_FORM_FIELDS if hasattr(org, name)}
        initial["tag_ids"] = [str(pk) for pk in org.tags.values_list("pk", flat=True)]
        form = OrganizationForm(initial=initial, **_choices(actor))
    return render(request, "contacts/organization_form.html", {"form": form, "org": org})


@login_required
@require_POST
def organization_archive(request: HttpRequest, organization_id: int) -> HttpResponse:
    archived = request.POST.get("archived", "1") != "0"
    org = services.organization_archive(actor=_actor(request), organization_id=organization_id, archived=archived)
    if archived:
        messages.success(request, _("Organization “%(name)s” archived.") % {"name": org})
    else:
        messages.success(request, _("Organization “%(name)s” restored.") % {"name": org})
    return redirect("contacts:organization_detail", org.pk)


@login_required
@require_POST
def address_add(request: HttpRequest, organization_id: int) -> HttpResponse:
    actor = _actor(request)
    org = selectors.organization_get(actor, organization_id)
    form = AddressForm(request.POST)
    if form.is_valid():
        try:
            services.address_add(actor=actor, organization_id=org.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Address added."))
            return redirect("contacts:organization_detail", org.pk)
    return render(request, "contacts/address_form.html", {"form": form, "org": org}, status=422)


@login_required
@require_POST
def address_remove(request: HttpRequest, address_id: int) -> HttpResponse:
    actor = _actor(request)
    org = services.address_remove(actor=actor, address_id=address_id)
    messages.success(request, _("Address removed."))
    return redirect("contacts:organization_detail", org.pk)


# --- People ---------------------------------------------------------------------------

PERSON_FORM_FIELDS = list(PersonForm.base_fields)


@login_required
@require_GET
def person_detail(request: HttpRequest, person_id: int) -> HttpResponse:
    actor = _actor(request)
    person = selectors.person_detail(actor, person_id)
    can_change = actor.has_perm("contacts.change_contact")
    channels = dict(Consent.Channel.choices)
    current = selectors.current_consents(person)
    return render(
        request,
        "contacts/person_detail.html",
        {
            "person": person,
            "phone": format_phone(person.phone),
            "mobile": format_phone(person.mobile),
            "consents": [{"channel": label, "consent": current.get(code)} for code, label in channels.items()],
            "consent_history": person.consents.all(),
            "consent_form": ConsentForm(),
            "affiliation_form": AffiliationForm(organizations=selectors.organization_list(actor)[:500])
            if can_change
            else None,
            "can_change": can_change,
            **views_timeline.detail_context(request, actor, Subject(PERSON, person.pk)),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def person_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "contacts.change_contact")
    organizations = selectors.organization_list(actor)[:500]
    if request.method == "POST":
        form = PersonCreateForm(request.POST, organizations=organizations, **_choices(actor))
        if form.is_valid():
            try:
                person = services.person_create(actor=actor, **_service_data(form))
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("%(name)s was added.") % {"name": person})
                return redirect("contacts:person_detail", person.pk)
    else:
        initial = {"owner_id": actor.user_id, "organization_id": request.GET.get("organization", "")}
        form = PersonCreateForm(initial=initial, organizations=organizations, **_choices(actor))
    return render(request, "contacts/person_form.html", {"form": form, "person": None})


@login_required
@require_http_methods(["GET", "POST"])
def person_edit(request: HttpRequest, person_id: int) -> HttpResponse:
    actor = _actor(request)
    person = selectors.person_get(actor, person_id)
    require(actor, "contacts.change_contact")
    if request.method == "POST":
        form = PersonForm(request.POST, **_choices(actor))
        if form.is_valid():
            try:
                person = services.person_update(actor=actor, person_id=person.pk, **_service_data(form))
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("%(name)s was saved.") % {"name": person})
                return redirect("contacts:person_detail", person.pk)
    else:
        initial = {name: getattr(person, name, "") for name in PERSON_FORM_FIELDS if hasattr(person, name)}
        initial["tag_ids"] = [str(pk) for pk in person.tags.values_list("pk", flat=True)]
        form = PersonForm(initial=initial, **_choices(actor))
    return render(request, "contacts/person_form.html", {"form": form, "person": person})


@login_required
@require_POST
def person_archive(request: HttpRequest, person_id: int) -> HttpResponse:
    archived = request.POST.get("archived", "1") != "0"
    person = services.person_archive(actor=_actor(request), person_id=person_id, archived=archived)
    if archived:
        messages.success(request, _("%(name)s was archived.") % {"name": person})
    else:
        messages.success(request, _("%(name)s was restored.") % {"name": person})
    return redirect("contacts:person_detail", person.pk)


def _form_error(form: Any) -> ValidationFailed:
    return ValidationFailed(fields={k: [str(m) for m in v] for k, v in form.errors.items()})


@login_required
@require_POST
def consent_record(request: HttpRequest, person_id: int) -> HttpResponse:
    form = ConsentForm(request.POST)
    if not form.is_valid():
        raise _form_error(form)
    services.consent_record(actor=_actor(request), person_id=person_id, **form.cleaned_data)
    messages.success(request, _("Consent recorded."))
    return redirect("contacts:person_detail", person_id)


@login_required
@require_POST
def affiliation_set(request: HttpRequest, person_id: int) -> HttpResponse:
    actor = _actor(request)
    form = AffiliationForm(request.POST, organizations=selectors.organization_list(actor)[:500])
    if not form.is_valid():
        raise _form_error(form)
    data = form.cleaned_data
    services.affiliation_set(
        actor=actor, person_id=person_id, organization_id=int(data["organization_id"]), role=data["role"],
        is_primary=data["is_primary"],
    )  # fmt: skip
    messages.success(request, _("Organization linked."))
    return redirect("contacts:person_detail", person_id)


@login_required
@require_POST
def affiliation_remove(request: HttpRequest, person_id: int, organization_id: int) -> HttpResponse:
    services.affiliation_remove(actor=_actor(request), person_id=person_id, organization_id=organization_id)
    messages.success(request, _("Organization unlinked."))
    return redirect("contacts:person_detail", person_id)

"""Pages for tags (list, create, rename, delete), address edits and a person's contact points.

Each view parses the request, calls one selector or service (``tags``, ``details``,
``services``) and renders; services decide permissions, record rules and validity, and a
refused field comes back next to its field with nothing written.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.contacts import details, selectors, services, tags
from comptoir.contacts.forms import AddressForm, ContactPointForm, TagForm
from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed


def _actor(request: HttpRequest) -> Any:
    actor = request.actor  # type: ignore[attr-defined]
    if not modules.is_enabled(actor.company_id, "contacts"):
        raise NotFound("module_disabled", _("This module is not enabled for your company."))
    return actor


# --- Tags -----------------------------------------------------------------------------


def _tag_page(request: HttpRequest, actor: Any, form: TagForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "contacts/tags/list.html",
        {
            "tags": tags.tag_list(actor),
            "form": form,
            "can_create": actor.has_perm(tags.CHANGE),
            "can_manage": actor.has_perm(tags.MANAGE),
        },
        status=status,
    )


@login_required
@require_GET
def tag_list(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    return _tag_page(request, actor, TagForm())


@login_required
@require_POST
def tag_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, tags.CHANGE)
    form = TagForm(request.POST)
    if form.is_valid():
        try:
            tag = tags.tag_create(actor=actor, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Tag “%(name)s” created.") % {"name": tag.name})
            return redirect("contacts:tags")
    return _tag_page(request, actor, form, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def tag_edit(request: HttpRequest, tag_id: int) -> HttpResponse:
    actor = _actor(request)
    tag = tags.tag_get(actor, tag_id)
    require(actor, tags.MANAGE)
    if request.method == "POST":
        form = TagForm(request.POST)
        if form.is_valid():
            try:
                tag = tags.tag_update(actor=actor, tag_id=tag.pk, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Tag “%(name)s” saved.") % {"name": tag.name})
                return redirect("contacts:tags")
    else:
        form = TagForm(initial={"name": tag.name, "color": tag.color})
    status = 422 if form.errors else 200
    return render(request, "contacts/tags/edit.html", {"tag": tag, "form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def tag_delete(request: HttpRequest, tag_id: int) -> HttpResponse:
    """GET: what deleting would do (how many contacts lose the tag); POST: delete."""
    actor = _actor(request)
    tag = tags.tag_get(actor, tag_id)
    require(actor, tags.MANAGE)
    if request.method == "POST":
        lost = tags.tag_delete(actor=actor, tag_id=tag.pk)
        messages.success(
            request,
            _("Tag “%(name)s” deleted: %(orgs)s organizations and %(people)s people no longer carry it.")
            % {"name": tag.name, "orgs": lost["organizations"], "people": lost["people"]},
        )
        return redirect("contacts:tags")
    return render(request, "contacts/tags/delete.html", {"tag": tag, "usage": tags.tag_usage(actor, tag.pk)})


# --- Addresses ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def address_edit(request: HttpRequest, address_id: int) -> HttpResponse:
    actor = _actor(request)
    address = details.address_get(actor, address_id)
    require(actor, services.CHANGE)
    org = address.organization
    if request.method == "POST":
        form = AddressForm(request.POST)
        if form.is_valid():
            try:
                services.address_update(actor=actor, address_id=address.pk, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Address saved."))
                return redirect("contacts:organization_detail", org.pk)
    else:
        form = AddressForm(initial={name: getattr(address, name) for name in AddressForm.base_fields})
    status = 422 if form.errors else 200
    return render(request, "contacts/address_edit.html", {"form": form, "org": org, "address": address}, status=status)


@login_required
@require_POST
def address_make_default(request: HttpRequest, address_id: int) -> HttpResponse:
    """The address becomes its organization's default for its kind (the previous one no longer is)."""
    address = services.address_update(actor=_actor(request), address_id=address_id, is_default=True)
    messages.success(request, _("Default address changed."))
    return redirect("contacts:organization_detail", address.organization_id)


# --- Contact points -------------------------------------------------------------------


@login_required
@require_POST
def contact_point_add(request: HttpRequest, person_id: int) -> HttpResponse:
    actor = _actor(request)
    form = ContactPointForm(request.POST)
    if form.is_valid():
        try:
            services.contact_point_add(actor=actor, person_id=person_id, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Contact detail added."))
            return redirect("contacts:person_detail", person_id)
    person = selectors.person_get(actor, person_id)
    return render(
        request, "contacts/contact_point_form.html", {"form": form, "person": person, "point": None}, status=422
    )


@login_required
@require_http_methods(["GET", "POST"])
def contact_point_edit(request: HttpRequest, contact_point_id: int) -> HttpResponse:
    actor = _actor(request)
    point = details.contact_point_get(actor, contact_point_id)
    require(actor, services.CHANGE)
    if request.method == "POST":
        form = ContactPointForm(request.POST)
        if form.is_valid():
            try:
                details.contact_point_update(actor=actor, contact_point_id=point.pk, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Contact detail saved."))
                return redirect("contacts:person_detail", point.person_id)
    else:
        form = ContactPointForm(initial={"kind": point.kind, "value": point.value, "label": point.label})
    status = 422 if form.errors else 200
    context = {"form": form, "person": point.person, "point": point}
    return render(request, "contacts/contact_point_form.html", context, status=status)


@login_required
@require_POST
def contact_point_remove(request: HttpRequest, contact_point_id: int) -> HttpResponse:
    actor = _actor(request)
    point = details.contact_point_get(actor, contact_point_id)
    services.contact_point_remove(actor=actor, contact_point_id=point.pk)
    messages.success(request, _("Contact detail removed."))
    return redirect("contacts:person_detail", point.person_id)


@login_required
@require_POST
def contact_point_make_primary(request: HttpRequest, contact_point_id: int) -> HttpResponse:
    person = details.contact_point_make_primary(actor=_actor(request), contact_point_id=contact_point_id)
    messages.success(request, _("Main contact details of %(name)s changed.") % {"name": person})
    return redirect("contacts:person_detail", person.pk)

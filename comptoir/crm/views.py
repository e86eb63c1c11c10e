"""CRM pages: kanban board, opportunity list and detail, leads, pipeline settings.

Views parse with a form, call one service or selector and render. ``ValidationFailed`` is
shown next to the form's fields; other ``DomainError``s go to the UI's error mapping.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.crm import selectors, services, states
from comptoir.crm.forms import (
    CrmSettingsForm,
    DiscardForm,
    LeadForm,
    MarkLostForm,
    MoveForm,
    OpportunityForm,
    StageForm,
)
from comptoir.crm.models import LeadStatus, Opportunity, OpportunityStatus
from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.exports import export_response
from comptoir.kernel.pagination import paginate, parse_sort


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def crm_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, and the CRM switched on for the company (404 otherwise, as in the API)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not modules.is_enabled(_actor(request).company_id, "crm"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _page_number(request: HttpRequest) -> int:
    return _int(request.GET.get("page")) or 1


# --- Kanban ---------------------------------------------------------------------------


def _scope(request: HttpRequest, source: Any = None) -> str:
    """The scope asked for ("mine", "team", "all"), or the actor's widest one when absent or not allowed."""
    actor = _actor(request)
    asked = (source if source is not None else request.GET).get("scope", "")
    return asked if asked in selectors.scope_choices(actor) else selectors.default_scope(actor)


def _scope_options(request: HttpRequest) -> list[tuple[str, Any]]:
    labels = {selectors.MINE: _("Mine"), selectors.TEAM: _("My team"), selectors.ALL: _("All")}
    return [(code, labels[code]) for code in selectors.scope_choices(_actor(request))]


def _board_context(request: HttpRequest, pipeline_id: int | None, scope: str) -> dict[str, Any]:
    actor = _actor(request)
    pipeline = selectors.pipeline_get(actor, pipeline_id)
    return {
        "board": selectors.kanban(actor, pipeline, scope=scope),
        "pipelines": list(selectors.pipeline_list(actor)),
        "can_change": actor.has_perm("crm.change_opportunity"),
        "scopes": _scope_options(request),
    }


@crm_page
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    services.pipeline_ensure_default(actor=_actor(request))  # the first use of the CRM creates it
    context = _board_context(request, _int(request.GET.get("pipeline")), _scope(request))
    return render(request, "crm/board.html", context)


@crm_page
@require_GET
def board_cards(request: HttpRequest, stage_id: int) -> HttpResponse:
    """ "Load more" of a column: its next cards, and the button for the ones after them."""
    actor = _actor(request)
    pipeline = selectors.pipeline_get(actor, _int(request.GET.get("pipeline")))
    if not any(s.pk == stage_id and s.kind == "open" for s in pipeline.stages.all()):
        raise NotFound("stage_not_found")
    offset = min(_int(request.GET.get("offset")) or 0, 10**6)
    scope = _scope(request)
    per_column = selectors.kanban_cards_per_column()
    cards = selectors.kanban_cards(actor, pipeline, stage_id, offset=offset, scope=scope, limit=per_column + 1)
    context = {
        "cards": cards[:per_column],
        "next_offset": offset + per_column if len(cards) > per_column else None,
        "stage_id": stage_id,
        "pipeline": pipeline,
        "scope": scope,
        "show_amounts": selectors.can_see_amounts(actor),
        "can_change": actor.has_perm("crm.change_opportunity"),
    }
    return render(request, "crm/_board_cards.html", context)


@crm_page
@require_POST
def move(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    """Drop of a card on a column: move, then answer the refreshed board."""
    form = MoveForm(request.POST)
    if not form.is_valid():
        raise ValidationFailed(fields={k: [str(m) for m in v] for k, v in form.errors.items()})
    opp = services.opportunity_move_stage(
        actor=_actor(request), opportunity_id=opportunity_id, stage_id=form.cleaned_data["stage_id"]
    )
    if not getattr(request, "htmx", False):
        # The detail page's plain form (keyboard users): back to the opportunity.
        messages.success(request, _("Opportunity moved to “%(stage)s”.") % {"stage": opp.stage.name})
        return redirect("crm:opportunity", opp.pk)
    return render(
        request, "crm/board.html#board", _board_context(request, opp.pipeline_id, _scope(request, request.POST))
    )


# --- Opportunity list -----------------------------------------------------------------

SORTS = {
    "title": "title",
    "stage": "stage__sequence",
    "probability": "probability",
    "expected_close_date": "expected_close_date",
    "created_at": "created_at",
    "stage_changed_at": "stage_changed_at",
}

SORT_CHOICES = [
    ("-created_at", _("Newest first")),
    ("title", _("Title")),
    ("-amount", _("Largest amount")),
    ("expected_close_date", _("Expected close date")),
    ("-probability", _("Most likely")),
    ("stage_changed_at", _("Longest in stage")),
]


def _filtered(request: HttpRequest, show_amounts: bool) -> tuple[QuerySet[Opportunity], dict[str, Any]]:
    actor = _actor(request)
    scope = _scope(request)
    rows = selectors.opportunity_list(actor, scope)
    filters: dict[str, Any] = {
        "scope": scope,
        "q": request.GET.get("q", "").strip()[:200],
        "status": request.GET.get("status", ""),
        "stage": _int(request.GET.get("stage")),
        "owner": _int(request.GET.get("owner")),
        "sort": request.GET.get("sort", "") or "-created_at",
    }
    if filters["q"]:
        rows = selectors.opportunity_search(rows, filters["q"])
    if filters["status"] in OpportunityStatus.values:
        rows = rows.filter(status=filters["status"])
    if filters["stage"]:
        rows = rows.filter(stage_id=filters["stage"])
    if filters["owner"]:
        rows = rows.filter(owner_id=filters["owner"])
    sorts = {**SORTS, "amount": "amount"} if show_amounts else SORTS
    order = parse_sort(filters["sort"], sorts, "-created_at")
    # As on the board: undated rows last whatever the direction, ties by id in the same direction.
    keys = [
        (F(key.lstrip("-")).desc(nulls_last=True) if key.startswith("-") else F(key).asc(nulls_last=True))
        if key.lstrip("-") == "expected_close_date" else key
        for key in order
    ]  # fmt: skip
    return rows.order_by(*keys, "-pk" if order[0].startswith("-") else "pk"), filters


def _export_columns(show_amounts: bool) -> list[tuple[Any, Any]]:
    columns: list[tuple[Any, Any]] = [
        (_("Title"), "title"),
        (_("Organization"), lambda o: str(o.organization) if o.organization else ""),
        (_("Stage"), lambda o: o.stage.name),
        (_("Status"), lambda o: o.get_status_display()),
    ]
    if show_amounts:
        columns += [(_("Amount"), "amount"), (_("Currency"), "currency")]
    columns += [
        (_("Probability (%)"), "probability"),
        (_("Expected close date"), "expected_close_date"),
        (_("Owner"), lambda o: (o.owner.full_name or o.owner.email) if o.owner else ""),
        (_("Created at"), "created_at"),
    ]
    return columns


@crm_page
@require_GET
def opportunities(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    show_amounts = selectors.can_see_amounts(actor)
    rows, filters = _filtered(request, show_amounts)
    if request.GET.get("format"):
        return export_response(
            rows.iterator(chunk_size=500), _export_columns(show_amounts), "opportunities", request.GET["format"]
        )
    page = paginate(rows, _page_number(request))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "filters": filters,
        "query": query.urlencode(),
        "show_amounts": show_amounts,
        "statuses": OpportunityStatus.choices,
        "owners": selectors.owner_choices(actor),
        "scopes": _scope_options(request),
        "sort_choices": [(v, label) for v, label in SORT_CHOICES if show_amounts or "amount" not in v],
        "can_change": actor.has_perm("crm.change_opportunity"),
    }
    template = "crm/opportunities.html#results" if getattr(request, "htmx", False) else "crm/opportunities.html"
    return render(request, template, context)


# --- Opportunity detail and actions ---------------------------------------------------


def _form(request: HttpRequest, data: Any = None, initial: dict[str, Any] | None = None) -> OpportunityForm:
    actor = _actor(request)
    return OpportunityForm(
        data,
        initial=initial,
        organizations=selectors.organization_choices(actor),
        owners=selectors.owner_choices(actor),
        show_amounts=selectors.can_see_amounts(actor),
    )


@crm_page
@require_http_methods(["GET", "POST"])
def opportunity_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "crm.change_opportunity")
    form = _form(request, request.POST or None, initial={"owner_id": actor.user_id, "currency": "EUR"})
    if request.method == "POST" and form.is_valid():
        try:
            opp = services.opportunity_create(actor=actor, **form.data_for_service(creating=True))
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Opportunity “%(title)s” created.") % {"title": opp.title})
            return redirect("crm:opportunity", opp.pk)
    return render(request, "crm/opportunity_form.html", {"form": form, "opportunity": None})


@crm_page
@require_http_methods(["GET", "POST"])
def opportunity_edit(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    actor = _actor(request)
    opp = selectors.opportunity_get(actor, opportunity_id)
    require(actor, "crm.change_opportunity")
    initial = {name: getattr(opp, name) for name in services.OPPORTUNITY_FIELDS}
    form = _form(request, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.opportunity_update(actor=actor, opportunity_id=opp.pk, **form.data_for_service(creating=False))
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Opportunity saved."))
            return redirect("crm:opportunity", opp.pk)
    return render(request, "crm/opportunity_form.html", {"form": form, "opportunity": opp})


def _detail(request: HttpRequest, opp: Opportunity, lost_form: MarkLostForm | None = None, status: int = 200) -> Any:
    from comptoir.crm.views_activities import activities_panel  # both build on this module
    from comptoir.crm.views_notes import notes_panel

    actor = _actor(request)
    reasons = [(r.pk, r.name) for r in selectors.lost_reasons(actor)]
    return render(
        request,
        "crm/opportunity_detail.html",
        {
            "opp": opp,
            "show_amounts": selectors.can_see_amounts(actor),
            "actions": [t.action for t in states.OPPORTUNITY.actions_from(opp.status, actor)],
            "lost_form": lost_form or MarkLostForm(reasons=reasons),
            "can_change": actor.has_perm("crm.change_opportunity") and opp.status == OpportunityStatus.OPEN,
            "stages": list(opp.pipeline.stages.all()),
            "notes_panel": notes_panel(request, actor, "opportunity_id", opp.pk),
            "activities_panel": activities_panel(request, actor, opportunity_id=opp.pk),
        },
        status=status,
    )


@crm_page
@require_GET
def opportunity(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    return _detail(request, selectors.opportunity_get(_actor(request), opportunity_id))


@crm_page
@require_POST
def opportunity_action(request: HttpRequest, opportunity_id: int, action: str) -> HttpResponse:
    actor = _actor(request)
    opp = selectors.opportunity_get(actor, opportunity_id)
    if action == "mark_won":
        services.opportunity_mark_won(actor=actor, opportunity_id=opp.pk)
        messages.success(request, _("Opportunity marked won."))
    elif action == "reopen":
        services.opportunity_reopen(actor=actor, opportunity_id=opp.pk)
        messages.success(request, _("Opportunity reopened."))
    elif action == "mark_lost":
        reasons = [(r.pk, r.name) for r in selectors.lost_reasons(actor)]
        form = MarkLostForm(request.POST, reasons=reasons)
        try:
            if not form.is_valid():
                raise ValidationFailed(fields={})
            services.opportunity_mark_lost(actor=actor, opportunity_id=opp.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            if exc.fields:
                form.apply_errors(exc)
            return _detail(request, opp, lost_form=form, status=422)
        messages.success(request, _("Opportunity marked lost."))
    else:
        raise NotFound()
    return redirect("crm:opportunity", opp.pk)


# --- Leads ----------------------------------------------------------------------------


@crm_page
@require_GET
def leads(request: HttpRequest) -> HttpResponseBase:
    actor = _actor(request)
    rows = selectors.lead_list(actor)
    q = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    if q:
        rows = selectors.lead_search(rows, q)
    if status in LeadStatus.values:
        rows = rows.filter(status=status)
    order = parse_sort(request.GET.get("sort") or "-created_at", {"title": "title", "created_at": "created_at"}, "")
    rows = rows.order_by(*order, "-pk")
    if request.GET.get("format"):
        columns: list[tuple[Any, Any]] = [
            (_("Title"), "title"), (_("Organization"), "organization_name"), (_("Contact"), "contact_name"),
            (_("Email"), "email"), (_("Source"), "source"), (_("Status"), lambda lead: lead.get_status_display()),
            (_("Created at"), "created_at"),
        ]  # fmt: skip
        return export_response(rows.iterator(chunk_size=500), columns, "leads", request.GET["format"])
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "crm/leads.html",
        {
            "page": paginate(rows, _page_number(request)),
            "filters": {"q": q, "status": status, "sort": request.GET.get("sort", "")},
            "query": query.urlencode(),
            "statuses": LeadStatus.choices,
            "can_change": actor.has_perm("crm.change_opportunity"),
            "discard_form": DiscardForm(),
        },
    )


@crm_page
@require_http_methods(["GET", "POST"])
def lead_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "crm.change_opportunity")
    form = LeadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.lead_create(actor=actor, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Lead created."))
            return redirect("crm:leads")
    return render(request, "crm/lead_form.html", {"form": form})


@crm_page
@require_POST
def lead_qualify(request: HttpRequest, lead_id: int) -> HttpResponse:
    opp = services.lead_qualify(actor=_actor(request), lead_id=lead_id)
    messages.success(request, _("Lead qualified: opportunity “%(title)s” created.") % {"title": opp.title})
    return redirect("crm:opportunity", opp.pk)


@crm_page
@require_POST
def lead_discard(request: HttpRequest, lead_id: int) -> HttpResponse:
    form = DiscardForm(request.POST)
    reason = form.data.get("reason", "")
    services.lead_discard(actor=_actor(request), lead_id=lead_id, reason=str(reason)[:1000])
    messages.success(request, _("Lead discarded."))
    return redirect("crm:leads")


# --- Pipeline settings ----------------------------------------------------------------


def _settings_page(request: HttpRequest, form: StageForm | None = None, status: int = 200, **extra: Any) -> Any:
    actor = _actor(request)
    pipeline = selectors.pipeline_get(actor, _int(request.GET.get("pipeline")))
    return render(
        request,
        "crm/pipeline_settings.html",
        {
            "pipeline": pipeline,
            "stage_form": form or StageForm(initial={"kind": "open", "probability": 0, "sequence": 100}),
            "settings_form": CrmSettingsForm(
                initial={"hide_amounts_from_marketing": selectors.crm_settings(actor).hide_amounts_from_marketing}
            ),
            **extra,
        },
        status=status,
    )


@crm_page
@require_http_methods(["GET", "POST"])
def pipeline_settings(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "crm.manage_pipelines")
    services.pipeline_ensure_default(actor=actor)
    if request.method == "POST":
        pipeline = selectors.pipeline_get(actor, _int(request.GET.get("pipeline")))
        form = StageForm(request.POST)
        if form.is_valid():
            try:
                services.stage_create(actor=actor, pipeline_id=pipeline.pk, **form.cleaned_data)
            except ValidationFailed as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, _("Stage added."))
                return redirect(reverse("crm:pipeline_settings") + f"?pipeline={pipeline.pk}")
        return _settings_page(request, form, status=422)
    return _settings_page(request)


@crm_page
@require_http_methods(["GET", "POST"])
def stage_edit(request: HttpRequest, stage_id: int) -> HttpResponse:
    actor = _actor(request)
    require(actor, "crm.manage_pipelines")
    stage = next((s for p in selectors.pipeline_list(actor) for s in p.stages.all() if s.pk == stage_id), None)
    if stage is None:
        raise NotFound("stage_not_found")
    form = StageForm(request.POST or None, initial={n: getattr(stage, n) for n in StageForm.base_fields})
    if request.method == "POST" and form.is_valid():
        try:
            services.stage_update(actor=actor, stage_id=stage.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Stage saved."))
            return redirect(reverse("crm:pipeline_settings") + f"?pipeline={stage.pipeline_id}")
    return render(request, "crm/stage_form.html", {"form": form, "stage": stage})


@crm_page
@require_POST
def stage_delete(request: HttpRequest, stage_id: int) -> HttpResponse:
    services.stage_delete(actor=_actor(request), stage_id=stage_id)
    messages.success(request, _("Stage deleted."))
    return redirect("crm:pipeline_settings")


@crm_page
@require_POST
def settings_save(request: HttpRequest) -> HttpResponse:
    form = CrmSettingsForm(request.POST)
    form.is_valid()  # a checkbox: always valid
    services.crm_settings_update(
        actor=_actor(request), hide_amounts_from_marketing=form.cleaned_data["hide_amounts_from_marketing"]
    )
    messages.success(request, _("CRM settings saved."))
    return redirect("crm:pipeline_settings")

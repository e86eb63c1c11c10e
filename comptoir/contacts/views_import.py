"""Import pages (upload → mapping → dry-run report → commit → progress → result) and GDPR pages.

Each view parses the request, calls one service or selector of ``contacts.imports`` or
``contacts.gdpr`` and renders; the services decide validity and permissions.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.contacts import gdpr, imports
from comptoir.kernel.authz import require
from comptoir.kernel.errors import Conflict, ValidationFailed
from comptoir.kernel.models import ImportJob


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=list(imports.KINDS.items()))
    file = forms.FileField(
        label=_("File"), help_text=_("CSV (separated by ; or ,) or XLSX; the first line holds the column names.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"


@login_required
@require_http_methods(["GET", "POST"])
def import_start(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    require(actor, "contacts.import_contacts")
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > imports.MAX_BYTES:
            form.add_error("file", _("The file is too large (at most %(mb)d MB).") % {"mb": imports.MAX_BYTES >> 20})
        else:
            try:
                job = imports.import_job_create(
                    actor=actor, kind=form.cleaned_data["kind"], filename=upload.name, content=upload.read()
                )
            except ValidationFailed as exc:
                for name, errors in exc.fields.items():
                    for error in errors:
                        form.add_error(name if name in form.fields else None, error)
            else:
                return redirect("contacts:import_mapping", job.pk)
    jobs = imports.import_job_list(actor)
    return render(request, "contacts/import/start.html", {"form": form, "jobs": jobs, "kinds": imports.KINDS})


@login_required
@require_http_methods(["GET", "POST"])
def import_mapping(request: HttpRequest, job_id: int) -> HttpResponse:
    actor = _actor(request)
    job = imports.import_job_get(actor, job_id)
    problems: list[str] = []
    if request.method == "POST":
        table = imports.job_table(job)
        mapping = {h: request.POST.get(f"col_{i}", "") for i, h in enumerate(table.headers) if h}
        mapping = {h: name for h, name in mapping.items() if name}
        try:
            if request.POST.get("action") == "save_preset":
                preset = imports.import_preset_save(
                    actor=actor, kind=job.kind, name=request.POST.get("preset_name", ""), mapping=mapping
                )
                messages.success(request, _("Preset “%(name)s” saved.") % {"name": preset.name})
                return redirect(f"{reverse('contacts:import_mapping', args=[job.pk])}?preset={preset.pk}")
            imports.import_job_set_mapping(actor=actor, job_id=job.pk, mapping=mapping)
            imports.import_job_validate(actor=actor, job_id=job.pk)
            return redirect("contacts:import_detail", job.pk)
        except ValidationFailed as exc:
            problems = [m for messages_ in exc.fields.values() for m in messages_]
            job.mapping = mapping
    mapping = job.mapping
    preset_id = request.GET.get("preset", "")
    if preset_id.isdigit():
        mapping = imports.import_preset_get(actor, int(preset_id)).mapping
    data = imports.preview(job)
    first = data["rows"][:3]
    columns = [
        {"index": i, "header": h, "field": mapping.get(h, ""), "samples": [r[i] for r in first if i < len(r)]}
        for i, h in enumerate(data["headers"])
    ]
    fields = imports.FIELDS[job.kind]
    return render(
        request,
        "contacts/import/mapping.html",
        {
            "job": job,
            "columns": columns,
            "fields": fields,
            "preview_fields": [f for f in fields if f.name in mapping.values()],
            "field_choices": [(f.name, f.label) for f in fields],
            "preview": [_mapped_row(mapping, data["headers"], r, fields) for r in data["rows"]],
            "presets": imports.import_presets(actor, job.kind),
            "problems": problems,
            "preset_id": preset_id,
        },
    )


def _mapped_row(mapping: dict[str, str], headers: list[str], row: list[str], fields: Any) -> list[str]:
    """The row's values in the order of the fields shown (templates cannot look keys up)."""
    values = {mapping[h]: (row[i] if i < len(row) else "") for i, h in enumerate(headers) if h in mapping}
    return [values[f.name] for f in fields if f.name in values]


@login_required
@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    actor = _actor(request)
    job = imports.import_job_get(actor, job_id)
    return render(request, "contacts/import/detail.html", _report(job))


def _report(job: ImportJob) -> dict[str, Any]:
    running = job.status in (ImportJob.Status.VALIDATING, ImportJob.Status.IMPORTING)
    processed = imports.live_progress(job)
    percent = int(100 * processed / job.total_rows) if job.total_rows else 0
    return {
        "job": job,
        "running": running,
        "processed": processed,
        "percent": min(percent, 100),
        "can_commit": job.status == ImportJob.Status.VALIDATED and not job.errors,
        "kind_label": imports.KINDS.get(job.kind, job.kind),
    }


@login_required
@require_GET
def import_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress fragment the detail page polls; a finished job reloads the page."""
    actor = _actor(request)
    job = imports.import_job_get(actor, job_id)
    context = _report(job)
    response = render(request, "contacts/import/_progress.html", context)
    if not context["running"] and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def import_commit(request: HttpRequest, job_id: int) -> HttpResponse:
    actor = _actor(request)
    try:
        imports.import_job_commit(actor=actor, job_id=job_id)
    except Conflict as exc:
        messages.error(request, exc.message)
    return redirect("contacts:import_detail", job_id)


# --- GDPR -----------------------------------------------------------------------------


@login_required
@require_GET
def person_personal_data(request: HttpRequest, person_id: int) -> HttpResponse:
    """Everything held about the person, as a JSON download."""
    data = gdpr.person_export(_actor(request), person_id)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2, default=str), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="personal-data-{person_id}.json"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def person_erase(request: HttpRequest, person_id: int) -> HttpResponse:
    actor = _actor(request)
    person = gdpr.person_for_erasure(actor, person_id)
    refusal = gdpr.retention_reasons(person)
    if request.method == "POST":
        try:
            gdpr.person_erase(actor=actor, person_id=person_id)
        except Conflict as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The person's personal data was erased."))
            return redirect("contacts:people")
    return render(request, "contacts/gdpr/erase.html", {"person": person, "refusal": refusal})

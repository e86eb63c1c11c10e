"""Year-end closing page: the checklist, the year's result and the opening entry, then close."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from comptoir.accounting import closing, views_currency
from comptoir.accounting.views import _actor, accounting_page
from comptoir.kernel.errors import Conflict


@accounting_page
@require_http_methods(["GET", "POST"])
def year_end(request: HttpRequest, fiscal_year_id: int) -> HttpResponse:
    actor = _actor(request)
    status = 200
    if request.method == "POST":
        try:
            closing.year_end_close(actor=actor, fiscal_year_id=fiscal_year_id)
        except Conflict as exc:
            messages.error(request, exc.message)
            status = 409
        else:
            messages.success(request, _("Fiscal year closed; its balances are carried forward."))
            return redirect("accounting:year_end", fiscal_year_id=fiscal_year_id)
    preview = closing.closing_preview(actor, fiscal_year_id)
    context = {
        "preview": preview,
        "opening_entry": closing.opening_entry_of(actor.company_id, fiscal_year_id),
        "can_close": actor.has_perm("accounting.lock_periods") and preview.can_close,
        **views_currency.revaluation_context(actor, preview.year),  # multi-currency
    }
    return render(request, "accounting/closing/year_end.html", context, status=status)

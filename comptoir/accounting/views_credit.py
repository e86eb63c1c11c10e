"""Credit note allocation page: settle open invoices of the same partner with a posted
credit note (or supplier refund), without money. The form carries a hidden idempotency key
generated when it is rendered: submitted twice, it allocates once."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from comptoir.accounting import credit_allocation
from comptoir.accounting import invoice_selectors as selectors
from comptoir.accounting.views_invoices import invoices_page
from comptoir.kernel.errors import PermissionDenied, ValidationFailed


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


@invoices_page
@require_http_methods(["GET", "POST"])
def credit_allocate(request: HttpRequest, invoice_id: int) -> HttpResponse:
    actor = _actor(request)
    if not actor.has_perm(credit_allocation.REGISTER):
        raise PermissionDenied("permission_denied")
    credit = selectors.invoice_get(actor, invoice_id)
    if credit.kind not in credit_allocation.SETTLES:
        return redirect("accounting:invoice", credit.pk)
    targets = credit_allocation.allocatable_invoices(actor, credit)
    errors: dict[str, list[str]] = {}
    row_errors: dict[int, list[str]] = {}
    amounts: dict[int, str] = {}
    key = uuid.uuid4().hex
    date = str(timezone.localdate())
    if request.method == "POST":
        key = request.POST.get("idempotency_key", "")[:100]
        date = request.POST.get("date", "")
        # Every amount the form carries (a resubmitted form still names invoices paid since).
        sent: list[tuple[int, str]] = []
        for name in request.POST:
            raw = str(request.POST.get(name, "")).strip()
            target_id = _int(name.removeprefix("allocate-")) if name.startswith("allocate-") else None
            if target_id and raw and len(sent) <= credit_allocation.MAX_ALLOCATIONS:
                amounts[target_id] = raw
                sent.append((target_id, raw))
        try:
            result = credit_allocation.credit_allocate(
                actor=actor, credit_note_id=credit.pk, date=date, idempotency_key=key,
                allocations=[{"invoice_id": target_id, "amount": raw} for target_id, raw in sent],
            )  # fmt: skip
        except ValidationFailed as exc:
            for name, found in exc.fields.items():
                parts = name.split(".")
                if parts[0] == "allocations" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(sent):
                    row_errors.setdefault(sent[int(parts[1])][0], []).extend(found)
                else:
                    errors.setdefault(name, []).extend(found)
            if not errors and not row_errors:
                errors["allocations"] = [str(exc.message)]
        else:
            total = sum((Decimal(row.amount) for row in result.allocations), Decimal(0))
            messages.success(request, _("%(amount)s of the credit note settled %(count)s invoice(s).")
                             % {"amount": total, "count": len(result.allocations)})  # fmt: skip
            return redirect("accounting:invoice", credit.pk)
    else:
        left = Decimal(credit.residual_amount)
        for target in targets:  # a proposal: the oldest due first, as far as the credit goes
            part = min(left, Decimal(target.residual_amount))
            amounts[target.pk] = str(part) if part > 0 else ""
            left -= max(part, Decimal(0))
    rows = [{"invoice": target, "amount": amounts.get(target.pk, ""), "errors": row_errors.get(target.pk, [])}
            for target in targets]  # fmt: skip
    context = {"credit": credit, "rows": rows, "errors": errors, "key": key, "date": date,
               "open": credit.state in credit_allocation.OPEN_STATES}  # fmt: skip
    status = 422 if errors or row_errors else 200
    return render(request, "accounting/terms/credit_allocate.html", context, status=status)

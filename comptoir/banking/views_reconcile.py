"""The reconciliation screen and the rules pages.

The screen lists statement lines (open ones first) a page at a time, each with its scored
proposals and their reasons; every action (accept, split, manual, ignore, undo) is a plain
form that htmx posts and answers with the line's fragment re-rendered in place (without
htmx: a redirect back to the list). Keyboard: ``j``/``k`` move between lines, ``a`` (or
Enter on a line) accepts its best proposal, ``s``/``m``/``i`` open split, manual, ignore
(``static/banking/reconcile.js``).

A page costs a constant number of queries: the lines, the proposals of all of them at once
(``reconcile.propose``), their active matches, the accounts for the manual form.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptoir.accounting.models import Account, AccountType, PartnerAccount
from comptoir.banking import reconcile, rules
from comptoir.banking.forms_reconcile import IgnoreForm, ManualForm, RuleForm, UndoForm
from comptoir.banking.models import BankStatementLine, LineState
from comptoir.banking.models_rules import VAT_RATES, RuleAction
from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.pagination import paginate

PAGE_SIZE = 20
MANUAL_TYPES = (AccountType.EXPENSE, AccountType.INCOME, AccountType.OTHER, AccountType.TAX, AccountType.EQUITY,
                AccountType.CASH)  # fmt: skip


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def banking_page(permission: str) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            actor = _actor(request)
            if not modules.is_enabled(actor.company_id, "banking"):
                raise NotFound("module_disabled", _("This module is not enabled for your company."))
            require(actor, permission)
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _manual_accounts(actor: Any) -> list[tuple[int, str]]:
    rows = Account.objects.filter(company_id=actor.company_id, is_active=True, type__in=MANUAL_TYPES)
    return [(pk, f"{code} {name}") for pk, code, name in rows.order_by("code").values_list("pk", "code", "name")]


def _rows(actor: Any, lines: list[BankStatementLine]) -> list[dict[str, Any]]:
    proposals = reconcile.proposals_for(actor, lines)
    matches = reconcile.active_matches(actor, [line.pk for line in lines if line.state != LineState.OPEN])
    rows = []
    for line in lines:
        found = proposals.get(line.pk, [])
        candidates: dict[int, Any] = {}
        for proposal in found:
            for item, _amount in proposal.items:
                candidates.setdefault(item.id, item)
        rows.append({
            "line": line, "proposals": [{"p": p, "reasons": [reconcile.reason_text(r) for r in p.reasons]}
                                        for p in found],
            "match": matches.get(line.pk), "candidates": list(candidates.values()),
            "match_reasons": [reconcile.reason_text(r) for r in matches[line.pk].reasons] if line.pk in matches else [],
        })  # fmt: skip
    return rows


def _context(actor: Any) -> dict[str, Any]:
    return {
        "can_manage": actor.has_perm(reconcile.MANAGE), "accounts": _manual_accounts(actor),
        "vat_rates": VAT_RATES, "can_view_payments": actor.has_perm("accounting.view_payments"),
    }  # fmt: skip


@banking_page(reconcile.VIEW)
@require_GET
def reconcile_screen(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    state = request.GET.get("state", LineState.OPEN)
    if state not in (*LineState.values, "all"):
        state = LineState.OPEN
    bank_account_id = _int(request.GET.get("account"))
    q = request.GET.get("q", "")[:100]
    lines = reconcile.statement_lines(actor, state="" if state == "all" else state, bank_account_id=bank_account_id,
                                      q=q)  # fmt: skip
    page = paginate(lines, _int(request.GET.get("page")) or 1, PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    context = _context(actor) | {
        "page": page, "rows": _rows(actor, page.items), "state": state, "states": LineState.choices, "q": q,
        "bank_accounts": list(reconcile.bank_accounts(actor)), "bank_account_id": bank_account_id,
        "query": query.urlencode(),
    }  # fmt: skip
    return render(request, "banking/reconcile/screen.html", context)


def _line_response(request: HttpRequest, line_id: int, *, errors: dict[str, list[str]] | None = None,
                   status: int = 200) -> HttpResponse:  # fmt: skip
    actor = _actor(request)
    line = reconcile.statement_line_get(actor, line_id)
    context = _context(actor) | {"row": _rows(actor, [line])[0], "errors": errors or {}}
    return render(request, "banking/reconcile/_line.html", context, status=status)


@banking_page(reconcile.VIEW)
@require_GET
def reconcile_line(request: HttpRequest, line_id: int) -> HttpResponse:
    return _line_response(request, line_id)


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//") else reverse("banking:reconcile"))


def _refuse(request: HttpRequest, line_id: int, errors: dict[str, list[str]]) -> HttpResponse:
    """The line's fragment with the problems next to the forms (htmx), or a message."""
    if request.htmx:  # type: ignore[attr-defined]
        return _line_response(request, line_id, errors=errors)
    messages.error(request, " ".join(m for ms in errors.values() for m in ms))
    return _back(request)


def _act(request: HttpRequest, line_id: int, action: Callable[[], Any], done: str) -> HttpResponse:
    """Run a service; answer the line's fragment (htmx) or go back to the screen."""
    try:
        action()
    except ValidationFailed as exc:
        errors = {name: [str(m) for m in problems] for name, problems in (exc.fields or {}).items()}
        return _refuse(request, line_id, errors or {"__all__": [str(exc.message)]})
    else:
        if request.htmx:  # type: ignore[attr-defined]
            return _line_response(request, line_id)
        messages.success(request, done)
    return _back(request)


@banking_page(reconcile.MANAGE)
@require_POST
def reconcile_accept(request: HttpRequest, line_id: int) -> HttpResponse:
    actor = _actor(request)
    proposal = request.POST.get("proposal", "")
    return _act(request, line_id, lambda: reconcile.accept(actor=actor, line_id=line_id, proposal=proposal),
                _("Statement line reconciled."))  # fmt: skip


@banking_page(reconcile.MANAGE)
@require_POST
def reconcile_split(request: HttpRequest, line_id: int) -> HttpResponse:
    """Amounts per invoice: ``amount-<invoice id>`` fields (empty: not in the split)."""
    actor = _actor(request)
    allocations: list[dict[str, Any]] = []
    for name in request.POST:
        value = request.POST.get(name, "").strip()
        if name.startswith("amount-") and value:
            invoice_id = _int(name[7:])
            if invoice_id is not None:
                allocations.append({"invoice_id": invoice_id, "amount": value})
    remainder = request.POST.get("remainder", "credit")

    def split() -> Any:
        return reconcile.reconcile_invoices(actor=actor, line_id=line_id, allocations=allocations, remainder=remainder)

    return _act(request, line_id, split, _("Statement line split over the invoices."))


@banking_page(reconcile.MANAGE)
@require_POST
def reconcile_manual(request: HttpRequest, line_id: int) -> HttpResponse:
    actor = _actor(request)
    form = ManualForm(request.POST, accounts=_manual_accounts(actor))
    if not form.is_valid():
        return _refuse(request, line_id, {name: [str(m) for m in problems] for name, problems in form.errors.items()})
    data = form.cleaned_data
    return _act(request, line_id, lambda: reconcile.reconcile_manual(actor=actor, line_id=line_id, **data),
                _("Statement line posted."))  # fmt: skip


@banking_page(reconcile.MANAGE)
@require_POST
def reconcile_ignore(request: HttpRequest, line_id: int) -> HttpResponse:
    actor = _actor(request)
    form = IgnoreForm(request.POST)
    reason = form.data.get("reason", "")
    return _act(request, line_id, lambda: reconcile.ignore(actor=actor, line_id=line_id, reason=reason),
                _("Statement line ignored."))  # fmt: skip


@banking_page(reconcile.MANAGE)
@require_POST
def reconcile_undo(request: HttpRequest, line_id: int) -> HttpResponse:
    actor = _actor(request)
    form = UndoForm(request.POST)
    day = form.cleaned_data.get("date") if form.is_valid() else None
    return _act(request, line_id, lambda: reconcile.undo(actor=actor, line_id=line_id, date=day),
                _("Reconciliation undone."))  # fmt: skip


@banking_page(reconcile.MANAGE)
@require_POST
def reconcile_apply_rules(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    done = reconcile.apply_rules(actor=actor, bank_account_id=_int(request.POST.get("account")))
    messages.success(request, _("%(n)s lines reconciled by the rules.") % {"n": done})
    return redirect(reverse("banking:reconcile"))


# --- Rules ------------------------------------------------------------------------------


def _rule_form(actor: Any, data: Any = None, initial: dict[str, Any] | None = None) -> RuleForm:
    partners = (
        PartnerAccount.objects.filter(company_id=actor.company_id)
        .order_by("organization__legal_name", "organization_id")
        .values_list("organization_id", "organization__legal_name")
        .distinct()[:1000]
    )
    return RuleForm(
        data, initial=initial,
        bank_accounts=[(a.pk, a.name) for a in reconcile.bank_accounts(actor)],
        accounts=_manual_accounts(actor), organizations=list(dict.fromkeys(partners)),
    )  # fmt: skip


@banking_page(reconcile.VIEW)
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    context = {"rules": list(rules.rule_list(actor)), "can_manage": actor.has_perm(rules.MANAGE)}
    return render(request, "banking/reconcile/rules.html", context)


@banking_page(rules.MANAGE)
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    actor = _actor(request)
    rule = rules.rule_get(actor, rule_id) if rule_id else None
    initial: dict[str, Any] = {"sequence": 10, "is_active": True, "direction": "any", "action": RuleAction.POST}
    if rule is not None:
        initial = {name: getattr(rule, name) for name in rules.FIELDS}
        for name in ("amount_min", "amount_max"):
            initial[name] = "" if initial[name] is None else str(Decimal(initial[name]))
    form = _rule_form(actor, request.POST if request.method == "POST" else None, initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            if rule is None:
                rules.rule_create(actor=actor, **data)
            else:
                rules.rule_update(actor=actor, rule_id=rule.pk, **data)
        except ValidationFailed as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, _("Rule saved."))
            return redirect("banking:rules")
    status = 422 if request.method == "POST" else 200
    return render(request, "banking/reconcile/rule_form.html", {"form": form, "rule": rule}, status=status)


@banking_page(rules.MANAGE)
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rules.rule_delete(actor=_actor(request), rule_id=rule_id)
    messages.success(request, _("Rule deleted."))
    return redirect("banking:rules")

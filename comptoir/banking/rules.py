"""Reconciliation rules: create, change, delete, list (``banking.manage_rules`` to write).

A rule's conditions must all hold (label contains, label regex, direction, amount range on
the absolute amount, counterparty IBAN; at least one of label, regex, IBAN or amount). Its
action posts the line to an account (optionally with deductible/collected VAT) — applied by
``reconcile.apply_rules`` and shown as a proposal — or names the partner the proposals look
at. Applying is in ``reconcile``; this module only keeps the rules.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from comptoir.accounting import services as ledger
from comptoir.accounting.models import Account, AccountType
from comptoir.banking.models import BankAccount
from comptoir.banking.models_rules import VAT_RATES, ReconciliationRule, RuleAction, RuleDirection
from comptoir.banking.reconcile import normalize_iban
from comptoir.contacts.models import Organization
from comptoir.kernel import audit
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed

VIEW = "banking.view_bank"
MANAGE = "banking.manage_rules"
FIELDS = ("name", "sequence", "is_active", "bank_account_id", "label_contains", "label_regex", "direction",
          "amount_min", "amount_max", "partner_iban", "action", "account_id", "vat_rate", "entry_label",
          "organization_id")  # fmt: skip
AUDITED = [name for name in FIELDS]


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


def rule_list(actor: Actor) -> QuerySet[ReconciliationRule]:
    require(actor, VIEW)
    return (
        ReconciliationRule.objects.filter(company_id=actor.company_id)
        .select_related("account", "organization", "bank_account")
        .order_by("sequence", "id")
    )


def rule_get(actor: Actor, rule_id: int) -> ReconciliationRule:
    found = rule_list(actor).filter(pk=rule_id).first()
    if found is None:
        raise NotFound("rule_not_found")
    return found


def _optional_amount(errors: dict[str, list[str]], name: str, value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    return ledger._parse_amount(errors, name, value)


def _clean(actor: Actor, data: dict[str, Any], rule: ReconciliationRule | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    ledger._unknown(errors, data, FIELDS)
    merged = {name: getattr(rule, name) for name in FIELDS} if rule is not None else {}
    merged |= data
    cleaned: dict[str, Any] = {
        "name": ledger._required_text(errors, "name", merged.get("name"), 100, True),
        "label_contains": ledger._required_text(errors, "label_contains", merged.get("label_contains"), 100, False),
        "label_regex": ledger._required_text(errors, "label_regex", merged.get("label_regex"), 200, False),
        "entry_label": ledger._required_text(errors, "entry_label", merged.get("entry_label"), 200, False),
        "partner_iban": normalize_iban(
            ledger._required_text(errors, "partner_iban", merged.get("partner_iban"), 42, False)
        ),
        "is_active": bool(merged.get("is_active", True)),
    }
    sequence = merged.get("sequence", 10)
    try:
        cleaned["sequence"] = int(sequence if sequence not in (None, "") else 10)
        if not 0 <= cleaned["sequence"] <= 32767:
            raise ValueError
    except (TypeError, ValueError):
        _add(errors, "sequence", _("Enter a whole number between 0 and 32767."))
    if cleaned["label_regex"]:
        try:
            re.compile(cleaned["label_regex"])
        except re.error as exc:
            _add(errors, "label_regex", _("Invalid regular expression: %(error)s") % {"error": exc})
    if cleaned["partner_iban"] and not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}", cleaned["partner_iban"]):
        _add(errors, "partner_iban", _("Enter a valid IBAN."))
    direction = merged.get("direction") or RuleDirection.ANY
    if direction not in RuleDirection.values:
        _add(errors, "direction", _("Choose among: %(values)s.") % {"values": ", ".join(RuleDirection.values)})
    cleaned["direction"] = direction
    cleaned["amount_min"] = _optional_amount(errors, "amount_min", merged.get("amount_min"))
    cleaned["amount_max"] = _optional_amount(errors, "amount_max", merged.get("amount_max"))
    if (cleaned["amount_min"] is not None and cleaned["amount_max"] is not None
            and cleaned["amount_max"] < cleaned["amount_min"]):  # fmt: skip
        _add(errors, "amount_max", _("The upper bound must not be below the lower bound."))
    if not (cleaned["label_contains"] or cleaned["label_regex"] or cleaned["partner_iban"]
            or cleaned["amount_min"] is not None or cleaned["amount_max"] is not None):  # fmt: skip
        _add(errors, "label_contains", _("Give at least one condition: label, expression, IBAN or amount."))
    bank_account_id = ledger._parse_id(errors, "bank_account_id", merged.get("bank_account_id"), False)
    if bank_account_id and not BankAccount.objects.filter(company_id=actor.company_id, pk=bank_account_id).exists():
        _add(errors, "bank_account_id", _("Unknown bank account."))
    cleaned["bank_account_id"] = bank_account_id
    action = merged.get("action") or RuleAction.POST
    if action not in RuleAction.values:
        _add(errors, "action", _("Choose among: %(values)s.") % {"values": ", ".join(RuleAction.values)})
    cleaned["action"] = action
    vat_rate = merged.get("vat_rate") or ""
    if vat_rate not in dict(VAT_RATES):
        _add(errors, "vat_rate", _("Choose among: %(values)s.") % {"values": "20, 10, 5.5, 2.1"})
    cleaned["vat_rate"] = vat_rate
    account_id = ledger._parse_id(errors, "account_id", merged.get("account_id"), action == RuleAction.POST)
    organization_id = ledger._parse_id(errors, "organization_id", merged.get("organization_id"),
                                       action == RuleAction.PARTNER)  # fmt: skip
    if action == RuleAction.POST and account_id:
        account = Account.objects.filter(company_id=actor.company_id, pk=account_id, is_active=True).first()
        if account is None:
            _add(errors, "account_id", _("Unknown or inactive account."))
        elif account.type in (AccountType.RECEIVABLE, AccountType.PAYABLE, AccountType.BANK):
            _add(errors, "account_id", _("Choose an expense, income or other account, not a customer, supplier or "
                                         "bank account."))  # fmt: skip
    if action == RuleAction.PARTNER and organization_id:
        if not Organization.objects.filter(company_id=actor.company_id, pk=organization_id).exists():
            _add(errors, "organization_id", _("Unknown organization."))
    cleaned["account_id"] = account_id if action == RuleAction.POST else None
    cleaned["organization_id"] = organization_id if action == RuleAction.PARTNER else None
    if action == RuleAction.PARTNER:
        cleaned["vat_rate"] = ""
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


@transaction.atomic
def rule_create(*, actor: Actor, **data: Any) -> ReconciliationRule:
    require(actor, MANAGE)
    cleaned = _clean(actor, data, None)
    rule = ReconciliationRule.objects.create(company_id=actor.company_id, created_by_id=actor.user_id, **cleaned)
    audit.record(actor, "reconciliation_rule.create", rule, changes={k: [None, v] for k, v in cleaned.items()})
    return rule


def _locked(actor: Actor, rule_id: int) -> ReconciliationRule:
    found = ReconciliationRule.objects.select_for_update().filter(company_id=actor.company_id, pk=rule_id).first()
    if found is None:
        raise NotFound("rule_not_found")
    return found


@transaction.atomic
def rule_update(*, actor: Actor, rule_id: int, **data: Any) -> ReconciliationRule:
    require(actor, MANAGE)
    rule = _locked(actor, rule_id)
    before = audit.snapshot(rule, AUDITED)
    cleaned = _clean(actor, data, rule)
    for name, value in cleaned.items():
        setattr(rule, name, value)
    rule.save()
    audit.record(actor, "reconciliation_rule.update", rule, changes=audit.diff(before, audit.snapshot(rule, AUDITED)))
    return rule


@transaction.atomic
def rule_delete(*, actor: Actor, rule_id: int) -> None:
    """Delete a rule; the lines it reconciled keep their entries (their match forgets the rule)."""
    require(actor, MANAGE)
    rule = _locked(actor, rule_id)
    audit.record(actor, "reconciliation_rule.delete", rule, changes={"name": [rule.name, None]})
    rule.delete()

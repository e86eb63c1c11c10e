"""When two organizations are merged, their accounting follows the survivor — without ever
moving a posted line (docs/decisions/0011-merging-partners-with-ledger-history.md).

Registered in ``AccountingConfig.ready`` with the contacts merge registry, so the work runs
in the merge's own transaction (a refusal rolls the whole merge back):

* **Partner accounts** (411/401 sub-ledger accounts, one per organization and kind). Posted
  journal lines point at a partner account, never at the organization, and stay where they
  are. If only the other organization has an account of a kind, that account (code, label,
  lines, matchings, payments) now belongs to the survivor. If both have one:

  - both with posted lines: the merge is **refused** — two sub-ledgers with history cannot
    become one without rewriting posted entries (immutable, hash-chained) or booking a
    transfer the user must decide and sign; the message says so;
  - otherwise the account with posted lines (or the survivor's, when neither has any) is
    kept; the other one, which has no posted line, takes nothing with it: its draft lines and
    draft invoices move to the kept account and the empty account is deleted.

* **Invoices, payments, dunning notices** follow the survivor (``organization``). A posted
  invoice keeps its snapshot (name, SIREN, VAT number, addresses printed on it) and its
  number: only the link to the contact moves, as its partner account did. A draft takes the
  survivor's details when it is posted.
* **Partner profile** (fiscal position, terms, language): one per organization; the
  survivor's wins when both have one (as for the merged fields), else the other's moves.
"""

from __future__ import annotations

from django.db.models import ProtectedError
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.models import Invoice, InvoiceState, JournalLine, PartnerAccount, PartnerProfile
from comptoir.accounting.models_dunning import DunningNotice
from comptoir.accounting.models_payments import Payment
from comptoir.contacts.merge import merge_registry
from comptoir.kernel import audit
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.errors import Conflict, ValidationFailed

REFUSED = "partner_accounts_with_history"


def _has_posted_lines(account: PartnerAccount) -> bool:
    return JournalLine.objects.filter(partner_account=account, is_posted=True).exists()


def merge_partner_accounts(survivor_id: int, other_id: int) -> None:
    """Before ``PartnerAccount.organization`` is re-pointed: leave at most one account per kind."""
    accounts = list(
        PartnerAccount.objects.select_for_update().filter(organization_id__in=[survivor_id, other_id]).order_by("pk")
    )
    by_kind: dict[str, dict[int, PartnerAccount]] = {}
    for account in accounts:
        by_kind.setdefault(account.kind, {})[account.organization_id] = account
    for _kind, pair in sorted(by_kind.items()):
        if len(pair) < 2:
            continue  # the other's account, if any, simply moves to the survivor
        mine, theirs = pair[survivor_id], pair[other_id]
        mine_posted, theirs_posted = _has_posted_lines(mine), _has_posted_lines(theirs)
        if mine_posted and theirs_posted:
            message = _(
                "Both organizations have posted entries on their own %(kind)s account (%(survivor)s and %(other)s). "
                "Posted entries never move to another account, so these two organizations cannot be merged: keep "
                "both, and book any transfer between the two accounts with a journal entry."
            ) % {"kind": mine.get_kind_display(), "survivor": mine.code, "other": theirs.code}
            raise ValidationFailed(REFUSED, message, fields={"other": [str(message)]})
        keep, drop = (theirs, mine) if theirs_posted else (mine, theirs)
        # ``drop`` has no posted line: what points at it is draft (lines of draft entries, drafts).
        lines = JournalLine.objects.filter(partner_account=drop, is_posted=False).update(partner_account=keep)
        drafts = Invoice.objects.filter(partner_account=drop, state=InvoiceState.DRAFT).update(partner_account=keep)
        try:
            drop.delete()
        except ProtectedError as exc:
            raise Conflict(REFUSED, _("The account %(code)s is still in use; it cannot be merged.")
                           % {"code": drop.code}) from exc  # fmt: skip
        audit.record(
            Actor.system(drop.company_id, Channel.SYSTEM), "accounting.partner_account_merged", keep,
            changes={"dropped": [drop.code, None], "kept": keep.code, "draft_lines": lines, "draft_invoices": drafts},
        )  # fmt: skip


def one_profile(survivor_id: int, other_id: int) -> None:
    """Before ``PartnerProfile.organization`` is re-pointed: the survivor's profile wins."""
    if PartnerProfile.objects.filter(organization_id=survivor_id).exists():
        PartnerProfile.objects.filter(organization_id=other_id).delete()


def register() -> None:
    # Partner accounts first: a refusal comes before anything else moves.
    merge_registry.register(PartnerAccount, "organization", before=merge_partner_accounts)
    merge_registry.register(PartnerProfile, "organization", before=one_profile)
    merge_registry.register(Invoice, "organization")
    merge_registry.register(Payment, "organization")
    merge_registry.register(DunningNotice, "organization")

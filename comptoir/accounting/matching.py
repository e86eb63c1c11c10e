"""Matching (lettrage) of the posted lines of one partner account.

A matching groups lines of a customer's or a supplier's account that settle each other (an
invoice and its payments). Each matching takes the next letter code of the partner account
(AA, AB, … AZ, BA, … ZZ, AAA…) under a lock of that account's row, and keeps it for good:
codes have no gaps, undone matchings keep their row. Lines carry the code in upper case when
the group sums to zero (full matching) and in lower case while it does not (partial).

Matching lines that already belong to a partial matching extends that matching (the oldest
code wins, the others are flagged merged): paying an invoice in three times gives one code,
lower case until the last payment, then upper case.

``match_lines``/``unmatch_lines`` are the services behind the matching page and the API;
the payments module calls ``match_group``/``undo`` inside its own transaction.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.accounting.models import JournalLine, PartnerAccount
from comptoir.accounting.models_payments import Matching
from comptoir.kernel import audit
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.kernel.statements import Select, Update

MAX_LINES = 500


def code_for(index: int) -> str:
    """0 → AA, 1 → AB, … 675 → ZZ, 676 → AAA: two letters first, then longer codes."""
    length, span = 2, 26**2
    while index >= span:
        index -= span
        length += 1
        span = 26**length
    letters = []
    for _position in range(length):
        index, rest = divmod(index, 26)
        letters.append(string.ascii_uppercase[rest])
    return "".join(reversed(letters))


# The partner account's row, locked: every payment of the partner takes it.
_PARTNER_LOCKED = Select(
    PartnerAccount,
    ("id", "created_at", "updated_at", "company_id", "organization_id", "kind", "code", "label", "account_id"),
    "{company_id} = %s AND {id} = %s",
    lock=True,
)


def lock_partner(company_id: int, partner_account_id: int) -> PartnerAccount:
    """Serialise the matchings of one partner account (codes are issued in order)."""
    found: PartnerAccount | None = _PARTNER_LOCKED.instance(company_id, partner_account_id)
    if found is None:
        raise NotFound("partner_account_not_found")
    return found


def _matchings_of(company_id: int, partner_account_id: int, codes: Iterable[str]) -> list[Matching]:
    upper = {code.upper() for code in codes if code}
    if not upper:
        return []
    return list(
        Matching.objects.filter(company_id=company_id, partner_account_id=partner_account_id, code__in=upper,
                                undone=False).order_by("index")
    )  # fmt: skip


def _lines_of(company_id: int, partner_account_id: int, matchings: Sequence[Matching]) -> QuerySet[JournalLine]:
    return JournalLine.objects.filter(
        company_id=company_id, partner_account_id=partner_account_id,
        matching_code__in=[m.line_code for m in matchings],
    )  # fmt: skip


def insert_new(obj: models.Model) -> None:
    """INSERT a new row of a model without save() logic (Matching, Payment, PaymentAllocation)
    with one plain statement (``audit.insert_row``): the values ``save()`` would write, through
    each field's ``pre_save`` (defaults, ``auto_now`` stamps)."""
    audit.insert_instance(obj)


def match_group(
    actor: Actor,
    *,
    company_id: int,
    partner_account_id: int,
    line_ids: Iterable[int],
    day: dt.date | None = None,
    known: Mapping[int, dict[str, Any]] | None = None,
) -> Matching | None:
    """Match the lines together with every line already matched with any of them.

    No permission check (callers check theirs); the caller holds the partner lock. Returns
    None when the group has lines on one side only (nothing settles anything yet).

    ``known``: the caller's rows of these lines (``matching_code``, ``date``, ``debit``,
    ``credit`` by id), read under the partner lock or just written, all on this partner
    account. When they cover every line and none is matched yet, they are the group: no
    need to read the lines again.
    """
    ids = set(line_ids)
    if known is not None and ids <= set(known) and not any(known[pk]["matching_code"] for pk in ids):
        existing: list[Matching] = []
        group = [known[pk] for pk in ids]
    else:
        lines = list(JournalLine.objects.filter(company_id=company_id, partner_account_id=partner_account_id,
                                                pk__in=ids).values("pk", "matching_code"))  # fmt: skip
        existing = _matchings_of(company_id, partner_account_id, (line["matching_code"] for line in lines))
        if existing:
            ids |= set(_lines_of(company_id, partner_account_id, existing).values_list("pk", flat=True))
        group = list(JournalLine.objects.filter(pk__in=ids).values("pk", "date", "debit", "credit"))
    debit = sum((row["debit"] for row in group), Decimal(0))
    credit = sum((row["credit"] for row in group), Decimal(0))
    if not debit or not credit:
        return None
    day = day or max(row["date"] for row in group)
    now = timezone.now()
    keep = existing[0] if existing else None
    for merged in existing[1:]:
        merged.undone, merged.undone_at, merged.merged_into = True, now, keep
        merged.save(update_fields=["undone", "undone_at", "merged_into", "updated_at"])
    if keep is None:
        keep = Matching(company_id=company_id, partner_account_id=partner_account_id, date=day, full=debit == credit,
                        created_by_id=actor.user_id)  # fmt: skip
        keep.index = next_index(partner_account_id)
        keep.code = code_for(keep.index)
        insert_new(keep)
    else:
        keep.full = debit == credit
        keep.date = day
        keep.save(update_fields=["full", "date", "updated_at"])
    _lines_matched(len(ids)).run([keep.line_code, day], *ids)
    audit.record(actor, "matching.match", keep, company_id=company_id, changes={
        "code": [None, keep.line_code], "lines": [None, sorted(ids)], "full": [None, keep.full],
        "merged": [None, [m.line_code for m in existing[1:]]],
    })  # fmt: skip
    return keep


# ``UPDATE lines SET matching_code, matched_at WHERE id IN (…)`` by number of lines (the list is in the SQL).
_LINES_MATCHED: dict[int, Update] = {}


def _lines_matched(count: int) -> Update:
    update = _LINES_MATCHED.get(count)
    if update is None:
        update = _LINES_MATCHED[count] = Update(
            JournalLine, ("matching_code", "matched_at"), "{id} IN (" + ", ".join(["%s"] * count) + ")"
        )
    return update


def next_index(partner_account_id: int) -> int:
    """The index of the partner account's next matching; the caller holds the partner lock.

    Indexes run from 0 without gaps (rows are never deleted), so this is the number of
    matchings, read as the largest index + 1: one step down the (partner account, index)
    unique index instead of counting rows that grow with every payment. Under the lock, and
    in a statement started after it was granted, it sees every matching committed before.
    """
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:  # plain SQL: the ORM's aggregate costs more to build than to run
        cursor.execute(
            f"SELECT MAX({quote('index')}) FROM {quote(Matching._meta.db_table)} "  # noqa: S608 (our names)
            f"WHERE {quote('partner_account_id')} = %s",
            [partner_account_id],
        )
        last = cursor.fetchone()[0]
    return 0 if last is None else int(last) + 1


def undo(actor: Actor, *, company_id: int, partner_account_id: int, matchings: Sequence[Matching]) -> list[int]:
    """Unmatch whole matchings (the caller holds the partner lock); returns the freed line ids."""
    if not matchings:
        return []
    lines = _lines_of(company_id, partner_account_id, matchings)
    freed = list(lines.values_list("pk", flat=True))
    lines.update(matching_code="", matched_at=None)
    now = timezone.now()
    for matching in matchings:
        matching.undone, matching.undone_at = True, now
        matching.save(update_fields=["undone", "undone_at", "updated_at"])
        audit.record(actor, "matching.unmatch", matching, company_id=company_id,
                     changes={"code": [matching.line_code, None]})  # fmt: skip
    return freed


def matchings_of_lines(company_id: int, partner_account_id: int, line_ids: Iterable[int]) -> list[Matching]:
    codes = JournalLine.objects.filter(company_id=company_id, partner_account_id=partner_account_id,
                                       pk__in=list(line_ids)).exclude(matching_code="")  # fmt: skip
    return _matchings_of(company_id, partner_account_id, codes.values_list("matching_code", flat=True))


# --- Services -------------------------------------------------------------------------


def _clean_ids(raw: Any) -> list[int]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ValidationFailed(fields={"line_ids": [str(_("Choose the lines to match."))]})
    if len(raw) > MAX_LINES:
        raise ValidationFailed(fields={"line_ids": [str(_("At most %(n)s lines at once.") % {"n": MAX_LINES})]})
    ids = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
            raise ValidationFailed(fields={"line_ids": [str(_("Choose valid lines."))]})
        number = int(value)
        if not 0 < number < 2**63:
            raise ValidationFailed(fields={"line_ids": [str(_("Choose valid lines."))]})
        ids.append(number)
    return sorted(set(ids))


def _partner_lines(actor: Actor, ids: list[int]) -> tuple[int, list[JournalLine]]:
    """The lines, all posted, on one partner account and a reconcilable account."""
    assert actor.company_id is not None
    lines = list(
        JournalLine.objects.filter(company_id=actor.company_id, pk__in=ids).select_related("account").order_by("pk")
    )
    if len(lines) != len(ids):
        raise ValidationFailed(fields={"line_ids": [str(_("Some lines do not exist."))]})
    partners = {line.partner_account_id for line in lines}
    if None in partners or len(partners) != 1:
        raise ValidationFailed(fields={"line_ids": [str(_("Choose lines of one customer or supplier account."))]})
    if any(not line.is_posted for line in lines):
        raise ValidationFailed(fields={"line_ids": [str(_("Only posted lines are matched."))]})
    if any(not line.account.reconcilable for line in lines):
        raise ValidationFailed(fields={"line_ids": [str(_("These lines are on an account that is not matched."))]})
    partner_id = partners.pop()
    assert partner_id is not None
    return partner_id, lines


@transaction.atomic
def match_lines(*, actor: Actor, line_ids: Any) -> Matching:
    """Match lines of one partner account: full when they sum to zero, partial otherwise.

    Lines already partially matched bring their matching along; fully matched lines are
    refused (unmatch them first)."""
    require(actor, "accounting.match_lines")
    assert actor.company_id is not None
    ids = _clean_ids(line_ids)
    partner_id, _lines = _partner_lines(actor, ids)
    lock_partner(actor.company_id, partner_id)
    # Read again under the lock: a concurrent matching may have changed the codes.
    lines = list(JournalLine.objects.filter(pk__in=ids).values("matching_code", "debit", "credit"))
    if any(line["matching_code"] and line["matching_code"].isupper() for line in lines):
        raise ValidationFailed(
            fields={"line_ids": [str(_("Some lines are already fully matched: unmatch them first."))]}
        )
    matching = match_group(actor, company_id=actor.company_id, partner_account_id=partner_id, line_ids=ids)
    if matching is None:
        raise ValidationFailed(fields={"line_ids": [str(_("Choose at least one debit and one credit."))]})
    return matching


@transaction.atomic
def unmatch_lines(*, actor: Actor, line_ids: Any) -> list[int]:
    """Undo the matchings of these lines (all their lines are unmatched); returns those lines."""
    require(actor, "accounting.match_lines")
    assert actor.company_id is not None
    ids = _clean_ids(line_ids)
    partner_id, _lines = _partner_lines(actor, ids)
    lock_partner(actor.company_id, partner_id)
    matchings = matchings_of_lines(actor.company_id, partner_id, ids)
    if not matchings:
        raise ValidationFailed(fields={"line_ids": [str(_("These lines are not matched."))]})
    return undo(actor, company_id=actor.company_id, partner_account_id=partner_id, matchings=matchings)


# --- Reads ----------------------------------------------------------------------------

MATCHING_LINE_FIELDS = (
    "id", "entry_id", "date", "label", "debit", "credit", "due_date", "matching_code", "matched_at",
    "entry__number", "entry__label", "journal__code", "account__code",
)  # fmt: skip


def partner_lines(actor: Actor, partner_account_id: int, *, open_only: bool = False) -> tuple[PartnerAccount, Any]:
    """A partner account and its posted lines on matched accounts (``.values()`` rows)."""
    require(actor, "accounting.view_ledger")
    partner = PartnerAccount.objects.filter(company_id=actor.company_id, pk=partner_account_id).first()
    if partner is None:
        raise NotFound("partner_account_not_found")
    rows = JournalLine.objects.filter(company_id=actor.company_id, partner_account_id=partner_account_id,
                                      is_posted=True, account__reconcilable=True)  # fmt: skip
    if open_only:
        # Unmatched or partially matched (lower-case code): what is still due.
        rows = rows.filter(Q(matching_code="") | Q(matching_code__regex=r"^[a-z]+$"))
    return partner, rows.values(*MATCHING_LINE_FIELDS).order_by("date", "entry_id", "id")

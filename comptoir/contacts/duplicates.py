"""Duplicate detection: exact keys (SIREN, SIRET, email, phone, web domain) plus name similarity.

The as-you-type check (``find_duplicates``) and the background scan (``scan``) score pairs
with the same rules. Exact keys are searched through indexed columns (and, for people,
their extra emails and phones); names are compared with rapidfuzz only inside small blocks
(shared name prefix or suffix; for people also a shared name word with the same initial of
another one), never the whole base against itself.

Scores combine independent signals as a "noisy OR": each signal is the probability that two
rows are the same entity, and the score is 100 × (1 − Π(1 − p)). Same SIRET/SIREN/email
alone is ≥ 95; a name, however similar, alone stays ≤ 85, and ≤ 60 for a person whose
first or last name is missing or only an initial (many people share "J. Martin"); two
different SIRENs cap the score (two legal entities, whatever their names). Reasons are stored as codes and turned
into text when shown, so they follow the reader's language.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from comptoir.contacts import selectors
from comptoir.contacts.models import ContactPoint, DuplicateCandidate, DuplicateScan, Organization, Person
from comptoir.contacts.normalize import digits, fold, web_domain
from comptoir.kernel import audit
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor, Channel
from comptoir.kernel.errors import Conflict, NotFound, ValidationFailed

ORG = DuplicateCandidate.Kind.ORGANIZATION
PERSON = DuplicateCandidate.Kind.PERSON
KINDS = (ORG, PERSON)

# A pair is worth showing (as you type) or keeping (scan) from this score on.
THRESHOLD = 50

# Probability that two rows sharing this key are the same entity.
KEY_WEIGHTS = {"siret": 0.98, "siren": 0.97, "email": 0.95, "phone": 0.85, "domain": 0.6}
# Two different SIRENs: different legal entities, however alike their names.
CONFLICT_CAP = 40
# A person's name with a missing part or a first name reduced to an initial.
INCOMPLETE_NAME_WEIGHT = 0.6

# Shared by many unrelated organizations: an email at these domains says nothing.
FREE_MAIL_DOMAINS = frozenset(
    "gmail.com googlemail.com yahoo.fr yahoo.com hotmail.fr hotmail.com outlook.fr outlook.com live.fr live.com "
    "msn.com orange.fr wanadoo.fr free.fr sfr.fr neuf.fr laposte.net icloud.com me.com gmx.fr gmx.com "
    "protonmail.com proton.me aol.com bbox.fr numericable.fr".split()
)
# Words that do not tell organizations apart: legal forms, articles.
NAME_NOISE = frozenset(
    "sas sasu sarl eurl sa sci snc scop sca scs selarl sel gie ets etablissements societe ste cie compagnie "
    "et de la le les du des l d au aux en and the of".split()
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")

# Blocking limits: an exact key shared by more rows than this (a switchboard number, a
# group's SIREN) is not a duplicate signal; name blocks larger than this are compared with
# their sorted neighbours only.
MAX_KEY_GROUP = 25
MAX_NAME_BLOCK = 40
NEIGHBOURS = 6
# People sharing a name word: each compared with this many next ones in the order of the rest of the name.
WORD_NEIGHBOURS = 3


# --- Normalization --------------------------------------------------------------------


def name_key(text: str | None) -> str:
    """Folded name without punctuation, legal forms and articles: "Boulangerie Dupont SARL" → "boulangerie dupont"."""
    tokens = _NON_ALNUM.sub(" ", fold(text)).split()
    kept = [t for t in tokens if t not in NAME_NOISE]
    return " ".join(kept or tokens)


def phone_key(value: str | None) -> str:
    """The national significant number: "+33 1 42 72 00 00", "01 42 72 00 00" → "142720000"."""
    number = digits(value)
    return number[-9:] if len(number) >= 9 else ""


def phone_variants(value: str | None) -> set[str]:
    """How a phone may be stored (E.164 from the services, or as typed): for an indexed lookup."""
    number = digits(value)
    if len(number) < 9:
        return set()
    found = {number, "+" + number}
    if number.startswith("0") and len(number) == 10:
        found.add("+33" + number[1:])
    if number.startswith("00"):
        found.add("+" + number[2:])
    return found


def email_key(value: str | None) -> str:
    return (value or "").strip().lower()


def business_domain(value: str | None) -> str:
    """The domain of a website or of an email, unless it is a free mailbox provider."""
    domain = web_domain(value)
    return "" if not domain or domain in FREE_MAIL_DOMAINS or "." not in domain else domain


# --- Profiles and scoring -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """What comparing needs of a row or of a form being typed."""

    names: tuple[str, ...]
    siren: str = ""
    siret: str = ""
    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    # People only: the name's parts, compared one with the other (initials, a part missing).
    first: str = ""
    last: str = ""


def _nonempty(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v for v in values if v)


def _names(*texts: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for k in (name_key(t) for t in texts) if k))


def org_profile(data: Mapping[str, Any]) -> Profile:
    """Profile of an organization from a row (``values()``) or form data."""
    siret = digits(data.get("siret"))
    siren = digits(data.get("siren")) or siret[:9]
    emails = _nonempty([email_key(data.get("email"))])
    return Profile(
        names=tuple(
            dict.fromkeys(k for k in (name_key(data.get("legal_name")), name_key(data.get("trade_name"))) if k)
        ),
        siren=siren if len(siren) == 9 else "",
        siret=siret if len(siret) == 14 else "",
        emails=emails,
        phones=_nonempty([phone_key(data.get("phone"))]),
        domains=_nonempty(
            [business_domain(data.get("web_domain") or data.get("website")), *(business_domain(e) for e in emails)]
        ),
    )


def person_profile(data: Mapping[str, Any]) -> Profile:
    """Profile of a person; ``extra_emails``/``extra_phones`` are their contact points, if known."""
    first, last = name_key(data.get("first_name")), name_key(data.get("last_name"))
    full = f"{first} {last}".strip()
    return Profile(
        names=(full,) if full else (),
        emails=_nonempty([email_key(data.get("email")), *(email_key(e) for e in data.get("extra_emails", ()))]),
        phones=_nonempty(
            [phone_key(data.get(key)) for key in ("phone", "mobile")]
            + [phone_key(value) for value in data.get("extra_phones", ())]
        ),
        first=first,
        last=last,
    )


def profile(kind: str, data: Mapping[str, Any]) -> Profile:
    return org_profile(data) if kind == ORG else person_profile(data)


def _similarity(xs: Iterable[str], ys: Iterable[str], floor: float = 0) -> float:
    """Best similarity of any two names; below ``floor`` counts as 0 (rapidfuzz then gives up early)."""
    best = 0.0
    for x in xs:
        for y in ys:
            best = max(best, fuzz.ratio(x, y, score_cutoff=floor), fuzz.token_sort_ratio(x, y, score_cutoff=floor))
    return best


def name_similarity(a: Profile, b: Profile) -> int:
    """Best similarity (0–100) between any name of ``a`` and any name of ``b``; word order ignored."""
    return round(_similarity(a.names, b.names))


def _initials(first: str) -> str:
    return "".join(word[0] for word in first.split())


def person_name_match(first_a: str, last_a: str, first_b: str, last_b: str, full_similarity: float) -> tuple[int, str]:
    """Similarity of two people's names and, when a name is incomplete, why it counts less.

    ``full_similarity`` compares the whole names (word order ignored). A first name given as
    initials ("J.", "J-P") is compared by its initials, the last names as usual; a missing
    part leaves the whole-name comparison. Returns (similarity, "" | "initial" | "partial_name").
    """
    if not (first_a and last_a and first_b and last_b):
        return round(full_similarity), "partial_name"
    short_a, short_b = (all(len(word) == 1 for word in first.split()) for first in (first_a, first_b))
    if not (short_a or short_b):
        return round(full_similarity), ""
    initials_a, initials_b = _initials(first_a), _initials(first_b)
    if not (initials_a.startswith(initials_b) or initials_b.startswith(initials_a)):
        return round(full_similarity), "initial"
    # "J. Martin" and "Jean Martin": as similar as their last names.
    return round(max(full_similarity, fuzz.ratio(last_a, last_b))), "initial"


def name_weight(similarity: float) -> float:
    """A name alone is weaker evidence than any identifier: at most 0.85, and only close names count."""
    if similarity >= 97:
        return 0.85
    if similarity >= 88:
        return 0.45 + (similarity - 88) / 9 * 0.4
    if similarity >= 75:
        return 0.1 + (similarity - 75) / 13 * 0.35
    return 0.0


def shared_keys(a: Profile, b: Profile) -> list[str]:
    keys = []
    if a.siret and a.siret == b.siret:
        keys.append("siret")
    if a.siren and a.siren == b.siren:
        keys.append("siren")
    if a.emails & b.emails:
        keys.append("email")
    if a.phones & b.phones:
        keys.append("phone")
    if a.domains & b.domains:
        keys.append("domain")
    return keys


def combine(
    keys: Iterable[str], similarity: int, *, conflict: bool = False, name_note: str = ""
) -> tuple[int, list[dict[str, Any]]]:
    """Score 0–100 and reason codes from the shared keys and the name similarity.

    ``name_note`` ("initial", "partial_name") says the name is incomplete: it weighs less.
    """
    keys = list(keys)
    miss = 1.0
    for key in keys:
        miss *= 1 - KEY_WEIGHTS[key]
    weight = name_weight(similarity)
    if name_note:
        weight = min(weight, INCOMPLETE_NAME_WEIGHT)
    miss *= 1 - weight
    score = round(100 * (1 - miss))
    reasons: list[dict[str, Any]] = [{"code": key} for key in keys]
    if similarity >= 75:
        reasons.append({"code": "name", "similarity": similarity})
        if name_note and name_weight(similarity) > INCOMPLETE_NAME_WEIGHT:
            reasons.append({"code": name_note})  # it lowered the score: say why
    if conflict:
        score = min(score, CONFLICT_CAP)
        reasons.append({"code": "different_siren"})
    return score, reasons


def compare(a: Profile, b: Profile) -> tuple[int, list[dict[str, Any]]]:
    conflict = bool(a.siren and b.siren and a.siren != b.siren)
    similarity, note = name_similarity(a, b), ""
    if a.names and b.names and (a.first or a.last) and (b.first or b.last):
        similarity, note = person_name_match(a.first, a.last, b.first, b.last, similarity)
    return combine(shared_keys(a, b), similarity, conflict=conflict, name_note=note)


def reason_text(reason: Mapping[str, Any]) -> str:
    code = reason.get("code")
    if code == "name":
        return _("name %(similarity)s%% similar") % {"similarity": reason.get("similarity", 0)}
    texts = {
        "siret": _("same SIRET"),
        "siren": _("same SIREN"),
        "email": _("same email"),
        "phone": _("same phone number"),
        "domain": _("same web domain"),
        "different_siren": _("different SIREN"),
        "initial": _("first name given as an initial"),
        "partial_name": _("first or last name missing"),
    }
    return texts.get(str(code), str(code))


def reasons_text(reasons: Iterable[Mapping[str, Any]]) -> list[str]:
    return [reason_text(r) for r in reasons]


# --- Visibility -----------------------------------------------------------------------


def model_of(kind: str) -> type[Organization] | type[Person]:
    return Organization if kind == ORG else Person


def visible(actor: Actor, kind: str, *, include_merged: bool = False) -> QuerySet:
    """Rows of ``kind`` the actor may see, merged rows excluded unless asked for."""
    rows = selectors.visible_organizations(actor) if kind == ORG else selectors.visible_people(actor)
    return rows if include_merged else rows.filter(merged_into__isnull=True)


ORG_FIELDS = ("id", "legal_name", "trade_name", "siren", "siret", "email", "phone", "web_domain")
PERSON_FIELDS = ("id", "first_name", "last_name", "email", "phone", "mobile")


def fields_of(kind: str) -> tuple[str, ...]:
    return ORG_FIELDS if kind == ORG else PERSON_FIELDS


def label_of(kind: str, row: Mapping[str, Any]) -> str:
    if kind == ORG:
        return str(row.get("trade_name") or row.get("legal_name") or "")
    return f"{row.get('first_name') or ''} {row.get('last_name') or ''}".strip()


# --- As you type ----------------------------------------------------------------------

# Rows fetched for one check at most: blocking keeps it far below on real data.
CHECK_BLOCK_LIMIT = 300


def _name_prefixes(names: Iterable[str]) -> list[str]:
    """Short prefixes of the longest words: found in ``search_text`` despite a typo further on."""
    words = sorted({w for n in names for w in n.split() if len(w) >= 3}, key=len, reverse=True)
    return [w[:4] for w in words[:2]]


def find_duplicates(
    actor: Actor,
    kind: str,
    data: Mapping[str, Any],
    *,
    exclude_id: int | None = None,
    limit: int = 5,
    threshold: int = THRESHOLD,
) -> list[dict[str, Any]]:
    """Probable existing duplicates of ``data`` among the rows the actor sees, best first.

    Returns ``[{id, label, score, reasons: [text], reason_codes: [...]}]``.
    """
    wanted = profile(kind, data)
    block = Q()
    if kind == ORG:
        if wanted.siren:
            block |= Q(siren=wanted.siren)
        if wanted.siret:
            block |= Q(siret=wanted.siret)
        if wanted.domains:
            block |= Q(web_domain__in=wanted.domains)
    if wanted.emails:
        block |= Q(email__in=wanted.emails)
    phone_values: set[str] = set()
    for key in ("phone", "mobile"):
        phone_values |= phone_variants(data.get(key))
    if phone_values:
        block |= Q(phone__in=phone_values)
        if kind == PERSON:
            block |= Q(mobile__in=phone_values)
    if kind == PERSON and (wanted.emails or phone_values):
        # Someone's extra email or phone (a contact point) is theirs too.
        block |= Q(pk__in=ContactPoint.objects.filter(value__in=wanted.emails | phone_values).values("person_id"))
    for prefix in _name_prefixes(wanted.names):
        block |= Q(search_text__contains=prefix)
    if not block:
        return []
    rows = visible(actor, kind).filter(block)
    if exclude_id is not None:
        rows = rows.exclude(pk=exclude_id)
    found = []
    candidates = list(rows.order_by("-id").values(*fields_of(kind))[:CHECK_BLOCK_LIMIT])
    if kind == PERSON and candidates:
        _add_contact_points(candidates)
    for row in candidates:
        score, reasons = compare(wanted, profile(kind, row))
        if score >= threshold:
            found.append(
                {
                    "id": row["id"],
                    "label": label_of(kind, row),
                    "score": score,
                    "reasons": reasons_text(reasons),
                    "reason_codes": reasons,
                }
            )
    found.sort(key=lambda item: (-item["score"], item["id"]))
    return found[:limit]


def _add_contact_points(rows: list[dict[str, Any]]) -> None:
    """Give each person row its extra emails and phones (one query), as ``person_profile`` reads them."""
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row["extra_emails"], row["extra_phones"] = [], []
    points = ContactPoint.objects.filter(person_id__in=by_id).order_by().values_list("person_id", "kind", "value")
    for person_id, kind, value in points:
        by_id[person_id]["extra_emails" if kind == ContactPoint.Kind.EMAIL else "extra_phones"].append(value)


# --- Background scan ------------------------------------------------------------------


@dataclass
class ScanResult:
    checked: int = 0
    pairs: dict[tuple[int, int], tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)


def _exact_key_pairs(base: QuerySet, column: str, key: str) -> Iterator[tuple[int, int, str]]:
    """Pairs sharing ``column``, grouped in SQL: only repeated values come back."""
    # Emails compare without case (a row written before normalization, an import).
    value = Lower(column) if key == "email" else F(column)
    keyed = base.exclude(**{column: ""}).annotate(dup_key=value)
    repeated = (
        keyed.values("dup_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1, n__lte=MAX_KEY_GROUP)
        .order_by()
        .values_list("dup_key", flat=True)
    )
    values = list(repeated.iterator(chunk_size=2000))
    for start in range(0, len(values), 500):
        groups: dict[str, list[int]] = defaultdict(list)
        chunk = values[start : start + 500]
        for pk, found in keyed.filter(dup_key__in=chunk).order_by().values_list("id", "dup_key"):
            groups[found].append(pk)
        for ids in groups.values():
            ids.sort()
            for i, left in enumerate(ids):
                for right in ids[i + 1 :]:
                    yield left, right, key


def _contact_point_pairs(base: QuerySet) -> Iterator[tuple[int, int, str]]:
    """People sharing an email or a phone through their extra contact points.

    Contact points are few (most people have none): they are read whole, then the main
    columns are searched for their values only.
    """
    owners: dict[tuple[str, str], set[int]] = defaultdict(set)
    points = ContactPoint.objects.filter(person__in=base.values("id")).order_by()
    for person_id, kind, value in points.values_list("person_id", "kind", "value").iterator(chunk_size=5000):
        if kind == ContactPoint.Kind.EMAIL:
            owners[("email", email_key(value))].add(person_id)
        elif value:
            owners[("phone", value)].add(person_id)
    emails = [value for key, value in owners if key == "email"]
    phones = [value for key, value in owners if key == "phone"]
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        keyed = base.annotate(dup_key=Lower("email")).filter(dup_key__in=chunk).order_by()
        for pk, value in keyed.values_list("id", "dup_key"):
            owners[("email", value)].add(pk)
    for start in range(0, len(phones), 500):
        chunk = phones[start : start + 500]
        for pk, *numbers in (
            base.filter(Q(phone__in=chunk) | Q(mobile__in=chunk)).order_by().values_list("id", "phone", "mobile")
        ):
            for number in numbers:
                if ("phone", number) in owners:
                    owners[("phone", number)].add(pk)
    for (key, _value), people in owners.items():
        if 1 < len(people) <= MAX_KEY_GROUP:
            ids = sorted(people)
            for i, left in enumerate(ids):
                for right in ids[i + 1 :]:
                    yield left, right, key


def _name_blocks(names: dict[int, tuple[str, ...]]) -> Iterator[list[int]]:
    """Blocks of ids whose compact names share their first or last six characters."""
    blocks: dict[str, list[int]] = defaultdict(list)
    for pk, row_names in names.items():
        for name in row_names:
            compact = "".join(sorted(name.split()))
            if len(compact) < 3:
                continue
            blocks["p" + compact[:6]].append(pk)
            blocks["s" + compact[-6:]].append(pk)
    for ids in blocks.values():
        if len(ids) > 1:
            yield sorted(set(ids))


def _word_blocks(names: dict[int, tuple[str, ...]]) -> Iterator[list[int]]:
    """People: ids of names sharing their first or last word and the other's initial, in name order.

    "Lary Slape" meets "Lara Slape" and "J. Slape" (block "slape l"), and "Slape Lary" too,
    although their compact names differ within their first and last six characters (a typo in
    a short name). Only neighbours in the order of their sorted words are compared: the block
    of "martin j" may hold hundreds of people.

    Most blocks hold one row: to keep memory low, blocks are keyed by the hash of their text
    (a rare collision only merges two blocks), a lone row is kept as its id, not a list, and
    half of the blocks are built at a time.
    """
    for half in (0, 1):
        blocks: dict[int, int | list[int]] = {}
        for pk, row_names in names.items():
            for name in row_names:
                words = name.split()
                if len(words) == 1:
                    keys = [words[0]]
                else:
                    first, last = words[0], words[-1]
                    keys = [f"{word} {other[0]}" for word, other in ((first, last), (last, first)) if len(word) > 1]
                for key in keys:
                    hashed = hash(key)
                    if hashed % 2 != half:
                        continue
                    found = blocks.setdefault(hashed, pk)
                    if isinstance(found, list):
                        found.append(pk)
                    elif found != pk:
                        blocks[hashed] = [found, pk]
        for ids in blocks.values():
            if isinstance(ids, list):
                yield sorted(ids, key=lambda pk: sorted(names[pk][0].split()))
        del blocks


def scan(company_id: int, kind: str, *, threshold: int = THRESHOLD) -> ScanResult:
    """Find probable duplicate pairs of one kind in a company (no write)."""
    model = model_of(kind)
    base = model.objects.filter(company_id=company_id, merged_into__isnull=True)
    result = ScanResult()
    # One compact profile per row (names and SIREN), streamed: memory grows with the base
    # by ~100 bytes a row, never with the number of pairs compared.
    names: dict[int, tuple[str, ...]] = {}
    sirens: dict[int, str] = {}
    # People: where the first name ends in the full name (0: no first name).
    first_len: dict[int, int] = {}
    fetch = ("id", "legal_name", "trade_name", "siren") if kind == ORG else ("id", "first_name", "last_name")
    for row in base.order_by().values(*fetch).iterator(chunk_size=5000):
        result.checked += 1
        if kind == ORG:
            names[row["id"]] = _names(row["legal_name"], row["trade_name"])
            if row["siren"]:
                sirens[row["id"]] = row["siren"]
        else:
            first, last = name_key(row["first_name"]), name_key(row["last_name"])
            full = f"{first} {last}".strip()
            names[row["id"]] = (full,) if full else ()
            first_len[row["id"]] = len(first)

    exact: dict[tuple[int, int], set[str]] = defaultdict(set)
    columns = (
        [("siren", "siren"), ("siret", "siret"), ("email", "email"), ("phone", "phone"), ("web_domain", "domain")]
        if kind == ORG
        else [("email", "email"), ("phone", "phone"), ("mobile", "phone")]
    )
    for column, key in columns:
        for left, right, found_key in _exact_key_pairs(base, column, key):
            exact[(left, right)].add(found_key)
    if kind == PERSON:
        for left, right, found_key in _contact_point_pairs(base):
            exact[(left, right)].add(found_key)

    result.pairs = match(kind, names, exact, sirens=sirens, first_len=first_len, threshold=threshold)
    return result


Pairs = dict[tuple[int, int], tuple[int, list[dict[str, Any]]]]


def match(
    kind: str,
    names: dict[int, tuple[str, ...]],
    exact: Mapping[tuple[int, int], set[str]],
    *,
    sirens: Mapping[int, str],
    first_len: Mapping[int, int],
    threshold: int = THRESHOLD,
) -> Pairs:
    """The scan's comparisons, on the rows' compact profiles: pairs scoring ``threshold`` or more.

    ``names``: the name keys of each row; ``exact``: the pairs sharing exact keys;
    ``first_len``: people only, where the first name ends in their full name (0: none).
    """
    pairs: Pairs = {}
    # People whose first name is only initials: their names compare part by part even when far apart.
    initials = {
        pk for pk, cut in first_len.items() if cut and all(len(word) == 1 for word in names[pk][0][:cut].split())
    }

    def parts(pk: int) -> tuple[str, str]:
        full, cut = names[pk][0] if names[pk] else "", first_len[pk]
        return (full, "") if cut >= len(full) else (full[:cut], full[cut:].lstrip())

    def score_pair(left: int, right: int) -> None:
        a, b = names.get(left, ()), names.get(right, ())
        keys = exact.get((left, right), set())
        # Below 75 a name says nothing; without a shared key, below 85 it cannot reach the threshold.
        similarity: float = _similarity(a, b, floor=75 if keys else 85)
        note = ""
        if kind == PERSON and a and b and (similarity or left in initials or right in initials):
            similarity, note = person_name_match(*parts(left), *parts(right), similarity)
        if not keys and similarity < 85:
            return  # a name this far apart cannot reach the threshold alone
        siren_a, siren_b = sirens.get(left, ""), sirens.get(right, "")
        ordered = [k for k in KEY_WEIGHTS if k in keys]
        conflict = bool(siren_a and siren_b and siren_a != siren_b)
        score, reasons = combine(ordered, round(similarity), conflict=conflict, name_note=note)
        if score >= threshold:
            pairs[(left, right)] = (score, reasons)

    def neighbours(ordered_ids: list[int], window: int) -> None:
        for i, one in enumerate(ordered_ids):
            for other in ordered_ids[i + 1 : i + 1 + window]:
                pair = (min(one, other), max(one, other))
                if pair not in pairs:
                    score_pair(*pair)

    for left, right in list(exact):
        score_pair(left, right)
    for ids in _name_blocks(names):
        if len(ids) <= MAX_NAME_BLOCK:
            for i, left in enumerate(ids):
                for right in ids[i + 1 :]:
                    if (left, right) not in pairs:
                        score_pair(left, right)
        else:
            # A crowded block: compare each name with its neighbours in name order only.
            neighbours(sorted(ids, key=lambda pk: names[pk][0] if names[pk] else ""), NEIGHBOURS)
    if kind == PERSON:
        for ids in _word_blocks(names):
            neighbours(ids, WORD_NEIGHBOURS)
    return pairs


def store(company_id: int, kind: str, result: ScanResult) -> dict[str, int]:
    """Upsert the pairs found: rerunning updates scores, never adds a second row for a pair.

    Dismissed and merged pairs keep their status; open pairs the scan no longer finds
    (the data was fixed) are removed.
    """
    now = timezone.now()
    rows = [
        DuplicateCandidate(
            company_id=company_id,
            kind=kind,
            left_id=left,
            right_id=right,
            score=score,
            reasons=reasons,
            status=DuplicateCandidate.Status.OPEN,
            detected_at=now,
            seen_at=now,
        )
        for (left, right), (score, reasons) in result.pairs.items()
    ]
    with transaction.atomic():
        for start in range(0, len(rows), 1000):
            DuplicateCandidate.objects.bulk_create(
                rows[start : start + 1000],
                update_conflicts=True,
                unique_fields=["company", "kind", "left_id", "right_id"],
                update_fields=["score", "reasons", "seen_at"],
            )
        stale, _deleted = DuplicateCandidate.objects.filter(
            company_id=company_id, kind=kind, status=DuplicateCandidate.Status.OPEN, seen_at__lt=now
        ).delete()
    return {"pairs": len(rows), "removed": stale}


def candidate_rows(actor: Actor, kind: str, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The visible rows among ``ids``, by id, with what a pair is shown with."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {row["id"]: row for row in visible(actor, kind).filter(pk__in=wanted).values(*fields_of(kind))}


def pairs_visible_to(actor: Actor, queryset: QuerySet[DuplicateCandidate]) -> QuerySet[DuplicateCandidate]:
    """Pairs whose two rows the actor may see (the record rules of both kinds apply)."""
    if actor.company_id is None:
        return queryset.none()
    org_ids = visible(actor, ORG).values("id")
    person_ids = visible(actor, PERSON).values("id")
    return queryset.filter(company_id=actor.company_id).filter(
        Q(kind=ORG, left_id__in=org_ids, right_id__in=org_ids)
        | Q(kind=PERSON, left_id__in=person_ids, right_id__in=person_ids)
    )


# --- Services and selectors of the duplicates list ------------------------------------

MANAGE = "contacts.merge_contacts"
STALE_SCAN = dt.timedelta(hours=1)


def duplicate_list(actor: Actor, *, kind: str | None = None, status: str = "open") -> QuerySet[DuplicateCandidate]:
    """Pairs the actor may work on (both rows visible), best score first."""
    require(actor, MANAGE)
    errors: dict[str, list[str]] = {}
    if kind not in (None, "", *KINDS):
        errors["kind"] = [_("Unknown kind.")]
    if status not in DuplicateCandidate.Status.values:
        errors["status"] = [_("Unknown status.")]
    if errors:
        raise ValidationFailed(fields=errors)
    rows = pairs_visible_to(actor, DuplicateCandidate.objects.filter(status=status))
    if kind:
        rows = rows.filter(kind=kind)
    return rows.order_by("-score", "id")


def with_rows(actor: Actor, pairs: Iterable[DuplicateCandidate]) -> list[dict[str, Any]]:
    """Each pair with its two rows (label and fields), in two queries whatever the page size."""
    pairs = list(pairs)
    ids: dict[str, set[int]] = {ORG: set(), PERSON: set()}
    for pair in pairs:
        ids[pair.kind] |= {pair.left_id, pair.right_id}
    rows = {kind: candidate_rows(actor, kind, kind_ids) for kind, kind_ids in ids.items()}
    result = []
    for pair in pairs:
        left, right = rows[pair.kind].get(pair.left_id), rows[pair.kind].get(pair.right_id)
        if left is None or right is None:
            continue
        result.append(
            {
                "pair": pair,
                "left": {**left, "label": label_of(pair.kind, left)},
                "right": {**right, "label": label_of(pair.kind, right)},
                "reasons": reasons_text(pair.reasons),
            }
        )
    return result


def duplicate_get(actor: Actor, candidate_id: int) -> DuplicateCandidate:
    require(actor, MANAGE)
    pair = pairs_visible_to(actor, DuplicateCandidate.objects.filter(pk=candidate_id)).first()
    if pair is None:
        raise NotFound()
    return pair


def duplicate_dismiss(*, actor: Actor, candidate_id: int) -> DuplicateCandidate:
    """Mark a pair as "not a duplicate": later scans keep it dismissed."""
    require(actor, MANAGE)
    with transaction.atomic():
        pair = pairs_visible_to(actor, DuplicateCandidate.objects.select_for_update().filter(pk=candidate_id)).first()
        if pair is None:
            raise NotFound()
        if pair.status != DuplicateCandidate.Status.OPEN:
            raise Conflict("not_open", _("This pair has already been dismissed or merged."))
        pair.status = DuplicateCandidate.Status.DISMISSED
        pair.decided_at = timezone.now()
        pair.decided_by_id = actor.user_id
        pair.save(update_fields=["status", "decided_at", "decided_by"])
        audit.record(
            actor,
            "contacts.duplicate_dismissed",
            pair,
            changes={"kind": pair.kind, "left_id": pair.left_id, "right_id": pair.right_id, "score": pair.score},
        )
    return pair


def last_scan(actor: Actor) -> DuplicateScan | None:
    return DuplicateScan.objects.filter(company_id=actor.company_id).order_by("-requested_at", "-id").first()


def duplicate_scan_request(*, actor: Actor, enqueue: bool = True) -> DuplicateScan:
    """Queue a scan of the whole company; a worker runs ``duplicate_scan_run`` (the caller does without ``enqueue``)."""
    require(actor, MANAGE)
    from comptoir.contacts.tasks import scan_duplicates

    with transaction.atomic():
        pending = DuplicateScan.objects.filter(
            company_id=actor.company_id, status__in=[DuplicateScan.Status.QUEUED, DuplicateScan.Status.RUNNING]
        )
        # A scan pending for longer than this was lost (worker killed): it no longer blocks.
        pending.filter(requested_at__lt=timezone.now() - STALE_SCAN).update(
            status=DuplicateScan.Status.FAILED, error="abandoned"
        )
        running = pending.first()
        if running is not None:
            raise Conflict("scan_pending", _("A scan is already queued or running."))
        scan_row = DuplicateScan.objects.create(
            company_id=actor.company_id, requested_by_id=actor.user_id, requested_at=timezone.now()
        )
        audit.record(actor, "contacts.duplicate_scan_requested", scan_row)
        if enqueue:
            transaction.on_commit(lambda: scan_duplicates.enqueue(scan_row.pk))
    return scan_row


def duplicate_scan_run(*, scan_id: int) -> DuplicateScan:
    """Run a queued scan: both kinds, pairs stored idempotently, counts kept on the scan row."""
    scan_row = DuplicateScan.objects.get(pk=scan_id)
    if scan_row.status == DuplicateScan.Status.DONE:
        return scan_row  # a retried task does not scan twice
    DuplicateScan.objects.filter(pk=scan_id).update(status=DuplicateScan.Status.RUNNING, started_at=timezone.now())
    try:
        found: dict[str, dict[str, int]] = {}
        checked: dict[str, int] = {}
        for kind in KINDS:
            result = scan(scan_row.company_id, kind)
            checked[kind] = result.checked
            found[kind] = store(scan_row.company_id, kind, result)
    except Exception as exc:
        DuplicateScan.objects.filter(pk=scan_id).update(
            status=DuplicateScan.Status.FAILED, finished_at=timezone.now(), error=str(exc)[:2000]
        )
        raise
    actor = Actor.system(scan_row.company_id, Channel.TASK)
    with transaction.atomic():
        DuplicateScan.objects.filter(pk=scan_id).update(
            status=DuplicateScan.Status.DONE,
            finished_at=timezone.now(),
            organizations_checked=checked[ORG],
            people_checked=checked[PERSON],
            pairs_found=found[ORG]["pairs"] + found[PERSON]["pairs"],
        )
        scan_row.refresh_from_db()
        audit.record(actor, "contacts.duplicate_scan_done", scan_row, changes={"checked": checked, "found": found})
    return scan_row

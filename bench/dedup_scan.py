"""Duplicate scan: time, peak memory, precision and recall on a generated base.

    .venv/bin/python bench/dedup_scan.py                          # 100,000 organizations, SQLite
    .venv/bin/python bench/dedup_scan.py --db postgres --orgs 100000 --people 50000
    .venv/bin/python bench/dedup_scan.py --orgs 20000 --dup-rate 0.1

Generates organizations and people with known injected duplicates (typos, accents, case,
legal form added or dropped, words swapped, missing identifiers; some sharing only a SIREN,
an email or a phone), then runs the scan of ``comptoir.contacts.duplicates`` (no write) and
prints rows/s, the Python peak memory during the scan (tracemalloc), the process's peak RSS,
and precision/recall against the injected pairs. Each engine runs in a child process on a
throwaway database (temporary SQLite file; ``comptoir_bench_dedup_<pid>`` on ``BENCH_PG_URL``,
default ``postgres://postgres@127.0.0.1:5432/postgres``), created and dropped by the script.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import tracemalloc

from _harness import peak_rss_mib, run_child, setup_django

WORDS = (
    "boulangerie boucherie garage atelier cabinet pharmacie transports menuiserie plomberie imprimerie "
    "librairie fromagerie brasserie electricite couverture maconnerie jardins informatique conseil optique "
    "carrosserie charpente peinture nettoyage traiteur fleurs bijouterie chaussures textile logistique"
).split()
SURNAMES = (
    "Dupont Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel Lefèvre "
    "Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupuis Lambert Fontaine Rousseau Vincent Muller "
    "Lefebvre Faure André Mercier Blanc Guérin Boyer Garnier Chevalier François Legrand Gauthier Garcia "
    "Perrin Robin Clément Morin Nicolas Henry Roussel Mathieu Gautier Masson Marchand Duval Denis Dumont "
    "Marie Lemaire Noël Meyer Dufour Meunier Brun Blanchard Giraud Joly Rivière Lucas Brunet Gaillard Barbier"
).split()
FIRST = (
    "Jean Marie Pierre Michel Anne Jacques Nathalie Isabelle Philippe Sylvie Catherine Nicolas Hélène Céline "
    "Julien Camille Léa Hugo Chloé Louis Emma Gabriel Inès Arthur Jade Raphaël Manon Lucas Zoé Théo"
).split()
FORMS = ["SARL", "SAS", "SA", "EURL", ""]
ACCENTS = str.maketrans("eaiouc", "éàîôûç")


# --- generation -------------------------------------------------------------------------


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 4:
        return text + "e"
    i = rng.randrange(1, len(text) - 1)
    kind = rng.choice(["swap", "drop", "replace", "double"])
    if kind == "swap":
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == "drop":
        return text[:i] + text[i + 1 :]
    if kind == "double":
        return text[:i] + text[i] + text[i:]
    return text[:i] + rng.choice("aeiourstn") + text[i + 1 :]


def _variant_name(rng: random.Random, name: str) -> str:
    """The same organization typed differently."""
    words = name.split()
    change = rng.choice(["typo", "case", "accents", "form", "swap", "typo_case"])
    if change == "typo":
        j = rng.randrange(len(words))
        words[j] = _typo(rng, words[j])
    elif change == "case":
        return name.upper() if rng.random() < 0.5 else name.lower()
    elif change == "accents":
        return name.translate(ACCENTS) if rng.random() < 0.5 else name.replace("é", "e").replace("è", "e")
    elif change == "form":
        if words[-1] in FORMS:
            words = words[:-1]
        else:
            words.append(rng.choice(FORMS[:-1]))
    elif change == "swap" and len(words) >= 2:
        words[0], words[1] = words[1], words[0]
    else:
        j = rng.randrange(len(words))
        words[j] = _typo(rng, words[j]).upper()
    return " ".join(words)


SYLLABLES = "ka ro mi lu ne va to ri sa be lo da fe gu pi mo ta ve zu ni ch or an el ar".split()


def _brand(rng: random.Random) -> str:
    """A made-up word, so that generated names differ the way real ones do."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 5))).title()


def _siren(rng: random.Random) -> str:
    return f"{rng.randrange(10**8, 10**9)}"


def _phone(rng: random.Random) -> str:
    return f"+33{rng.choice('1234579')}{rng.randrange(10**7, 10**8)}"


def _pairs_of_groups(dup_of: dict[int, int], ids: list[int]) -> list[list[int]]:
    """Every pair within a group: two copies of the same original are duplicates of each other too."""
    groups: dict[int, list[int]] = {}
    for dup, original in dup_of.items():
        groups.setdefault(original, [original]).append(dup)
    pairs = []
    for members in groups.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pairs.append(sorted([ids[a], ids[b]]))
    return pairs


def seed(orgs: int, people: int, dup_rate: float, seed_value: int) -> dict[str, list[list[int]]]:
    """Create the rows; returns the injected pairs (by id) per kind."""
    from comptoir.contacts import services
    from comptoir.contacts.models import Organization, Person
    from comptoir.contacts.normalize import web_domain
    from comptoir.org.testing import make_company

    rng = random.Random(seed_value)
    company = make_company()
    truth: dict[str, list[list[int]]] = {"organization": [], "person": []}

    originals = int(orgs / (1 + dup_rate))
    rows: list[Organization] = []
    dup_of: dict[int, int] = {}  # index of the duplicate → index of its original
    for i in range(orgs):
        if i < originals:
            name = f"{rng.choice(WORDS).title()} {_brand(rng)} {rng.choice(SURNAMES)} {rng.choice(FORMS)}".strip()
            slug = name.split()[1].lower() + str(i)  # unique: no shared domain by chance
            row = Organization(
                company=company, legal_name=name,
                siren=_siren(rng) if rng.random() < 0.7 else "",
                email=f"contact@{slug}.fr" if rng.random() < 0.5 else "",
                phone=_phone(rng) if rng.random() < 0.6 else "",
                website=f"https://www.{slug}.fr" if rng.random() < 0.4 else "",
            )  # fmt: skip
        else:
            j = rng.randrange(originals)
            dup_of[i] = j
            src = rows[j]
            keep = rng.random()
            # A duplicate keeps some identifiers and loses others (missing fields).
            row = Organization(
                company=company,
                legal_name=_variant_name(rng, src.legal_name) if keep > 0.1 else f"{rng.choice(WORDS).title()} X{i}",
                siren=src.siren if rng.random() < 0.5 else "",
                email=src.email if rng.random() < 0.4 else "",
                phone=src.phone if rng.random() < 0.4 else "",
                website=src.website if rng.random() < 0.3 else "",
            )
        row.web_domain = web_domain(row.website)
        row.search_text = services.organization_search_text(row)
        rows.append(row)
    for start in range(0, len(rows), 5000):
        Organization.objects.bulk_create(rows[start : start + 5000])
    ids = list(Organization.objects.filter(company=company).order_by("id").values_list("id", flat=True))
    truth["organization"] = _pairs_of_groups(dup_of, ids)

    originals = int(people / (1 + dup_rate))
    people_rows: list[Person] = []
    pdup_of: dict[int, int] = {}
    for i in range(people):
        if i < originals:
            # Homonyms exist (and are flagged: same name, nothing else to tell them apart), but
            # are rarer than the random pick of a short name list would make them.
            first, last = rng.choice(FIRST), f"{rng.choice(SURNAMES)} {_brand(rng)}"
            row_p = Person(
                company=company, first_name=first, last_name=last,
                email=f"{first.lower()}.{last.split()[0].lower()}{i}@example{i % 97}.fr" if rng.random() < 0.6 else "",
                mobile=_phone(rng) if rng.random() < 0.5 else "",
            )  # fmt: skip
        else:
            j = rng.randrange(originals)
            pdup_of[i] = j
            src_p = people_rows[j]
            change = rng.random()
            row_p = Person(
                company=company,
                first_name=src_p.first_name.upper() if change < 0.3 else src_p.first_name.replace("é", "e"),
                last_name=_typo(rng, src_p.last_name) if change > 0.5 else src_p.last_name.lower(),
                email=src_p.email if rng.random() < 0.5 else "",
                mobile=src_p.mobile if rng.random() < 0.4 else "",
            )
        row_p.search_text = services.person_search_text(row_p)
        people_rows.append(row_p)
    for start in range(0, len(people_rows), 5000):
        Person.objects.bulk_create(people_rows[start : start + 5000])
    pids = list(Person.objects.filter(company=company).order_by("id").values_list("id", flat=True))
    truth["person"] = _pairs_of_groups(pdup_of, pids)
    return {"company_id": [[company.pk]], **truth}


def child(args: argparse.Namespace) -> None:
    setup_django()
    from comptoir.contacts import duplicates

    t0 = time.perf_counter()
    truth = seed(args.orgs, args.people, args.dup_rate, args.seed)
    seeded = time.perf_counter() - t0
    company_id = truth.pop("company_id")[0][0]
    results = {"engine": args.child, "seed_s": round(seeded, 1)}
    for kind in duplicates.KINDS:
        expected = {tuple(pair) for pair in truth[kind]}
        tracemalloc.start()
        start = time.perf_counter()
        found = duplicates.scan(company_id, kind)
        elapsed = time.perf_counter() - start
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # The same scan without tracemalloc (it slows allocation-heavy code down).
        start = time.perf_counter()
        duplicates.scan(company_id, kind)
        plain = time.perf_counter() - start
        predicted = set(found.pairs)
        hits = len(predicted & expected)
        results[kind] = {
            "rows": found.checked,
            "seconds": round(plain, 2),
            "seconds_traced": round(elapsed, 2),
            "rows_per_s": round(found.checked / plain) if plain else None,
            "python_peak_mib": round(peak / 2**20, 1),
            "pairs_found": len(predicted),
            "pairs_injected": len(expected),
            "precision": round(hits / len(predicted), 3) if predicted else None,
            "recall": round(hits / len(expected), 3) if expected else None,
        }
    results["max_rss_mib"] = round(peak_rss_mib(), 1)
    print(json.dumps(results))


def run_engine(engine: str, args: argparse.Namespace) -> dict[str, object]:
    command = ["--child", engine, "--orgs", str(args.orgs), "--people", str(args.people)]
    command += ["--dup-rate", str(args.dup_rate), "--seed", str(args.seed)]
    return run_child(__file__, engine, "dedup", command)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "all"], default="sqlite")
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--dup-rate", type=float, default=0.05, help="share of rows that duplicate another")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    engines = ["sqlite", "postgres"] if args.db == "all" else [args.db]
    for engine in engines:
        result = run_engine(engine, args)
        print(f"== {engine}: seeded in {result['seed_s']} s, peak RSS {result['max_rss_mib']} MiB")
        for kind in ("organization", "person"):
            r = result[kind]
            assert isinstance(r, dict)
            print(
                f"  {kind}: {r['rows']} rows scanned in {r['seconds']} s ({r['rows_per_s']} rows/s), "
                f"Python peak {r['python_peak_mib']} MiB; {r['pairs_found']} pairs found, "
                f"{r['pairs_injected']} injected: precision {r['precision']}, recall {r['recall']}"
            )


if __name__ == "__main__":
    main()

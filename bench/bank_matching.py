"""Bank reconciliation proposals at volume on PostgreSQL: 10,000 statement lines against
50,000 open items, with known answers.

    .venv/bin/python bench/bank_matching.py                  # seed comptoir_bench_bank, measure
    .venv/bin/python bench/bank_matching.py --reuse          # measure again on what was seeded
    .venv/bin/python bench/bank_matching.py --items 5000 --lines 1000   # a quicker look

Seeding (database ``comptoir_bench_bank``, kept after the run): one company, 5,000 partners
(4,000 customers, 1,000 suppliers, names made of words like "Boulangerie Martin SARL"),
50,000 open items (80 % customer invoices ``FA-2026-nnnnn``, 20 % vendor bills with the
supplier's own number), a third of the amounts round (``450.00``: many items share them),
IBANs known for 30 % of the partners. Then 10,000 statement lines, each with its answer:

* ``number``: the amount due and the invoice number in the label, written many ways
  (``FA-2026-00012``, ``FA 2026 12``, ``fa202600012``, ``Facture FA-2026-00012 merci``);
* ``name``: the amount and the counterparty's name as banks write it (upper case, legal form
  dropped, a typo, cut at 20 characters);
* ``iban``: the amount and a known IBAN; ``amount``: the amount alone;
* ``group``: 2–3 invoices of one partner in one transfer (numbers listed, or only the name);
* ``noise``: card payments, fees, transfers with no invoice (the right answer is none).

Measured: ``reconcile.propose`` for all 10,000 lines in pages of 20 (what the screen does:
the context — rules and the partners' names — loaded per page) and in batches of 500
(``load_context`` once), with the query count; then top-1 precision (right answers among
the lines that got a proposal) and recall (right answers among the lines that have one),
overall, per kind, and for proposals scored 80 or more.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from _harness import load_average, pg_admin, run_child, setup_django

DBNAME = "comptoir_bench_bank"
DAY = dt.date(2026, 6, 15)
WORDS = (
    "Boulangerie Pâtisserie Garage Atelier Cabinet Pharmacie Librairie Menuiserie Plomberie Imprimerie "
    "Transports Hôtel Restaurant Fromagerie Cave Jardinerie Quincaillerie Opticien Studio Agence"
).split()
NAMES = (
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefebvre Michel "
    "Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefèvre Mercier Dupont Lambert Bonnet "
    "François Martinez Legrand Garnier Faure Rousseau Blanc Guerin Muller Henry Roussel Nicolas Perrin "
    "Morin Mathieu Clément Gauthier Dumont Lopez Fontaine Chevalier Robin"
).split()
CITIES = (
    "Lyon Paris Nantes Lille Rennes Brest Dijon Nîmes Metz Tours Caen Pau Arles Albi Agen Sète Vichy Annecy "
    "Bayonne Quimper"
).split()
FORMS = ("SARL", "SAS", "SA", "EURL", "", "")


def _iban(rng: random.Random) -> str:
    return "FR76" + "".join(rng.choice("0123456789") for _ in range(23))


def _number_variant(rng: random.Random, number: str) -> str:
    prefix, year, n = number.split("-")
    return rng.choice([
        number, f"{prefix} {year} {int(n)}", f"{prefix.lower()}{year}{n}", f"Facture {number} merci",
        f"REF {prefix}/{year}/{n}", f"{prefix}-{year}-{int(n)}",
    ])  # fmt: skip


def _name_variant(rng: random.Random, name: str) -> str:
    from comptoir.contacts.duplicates import name_key

    key = name_key(name).upper()
    choice = rng.random()
    if choice < 0.3:
        return name.upper()
    if choice < 0.55:
        return key
    if choice < 0.8 and len(key) > 6:
        i = rng.randrange(1, len(key) - 1)
        return key[:i] + key[i + 1 :]  # a letter dropped
    return key[:20]


def seed(items: int, lines: int, partners: int, rng: random.Random) -> dict[str, Any]:
    from comptoir.accounting import services
    from comptoir.accounting.models import Account, Invoice, Journal
    from comptoir.banking.models import BankAccount, BankStatement, BankStatementLine
    from comptoir.banking.models_rules import PartnerBankAccount
    from comptoir.contacts.models import Organization
    from comptoir.kernel.context import Actor
    from comptoir.kernel.models import ModuleActivation
    from comptoir.org.testing import make_company

    company = make_company(name="Banque Bench", siren="842157638")
    ModuleActivation.objects.bulk_create(
        [ModuleActivation(company_id=company.pk, module=code) for code in ("contacts", "accounting", "banking")]
    )
    services.setup_company_accounting(actor=Actor.system(company.pk), company_id=company.pk)
    names: set[str] = set()
    while len(names) < partners:
        names.add(" ".join(x for x in (rng.choice(WORDS), rng.choice(NAMES), rng.choice(CITIES), rng.choice(FORMS))
                           if x))  # fmt: skip
    orgs = Organization.objects.bulk_create(
        [Organization(company=company, legal_name=name) for name in sorted(names)], batch_size=2000
    )
    customers, suppliers = orgs[: partners * 4 // 5], orgs[partners * 4 // 5 :]
    ibans = {org.pk: _iban(rng) for org in orgs}
    known = [org for org in orgs if rng.random() < 0.3]
    PartnerBankAccount.objects.bulk_create(
        [PartnerBankAccount(company=company, organization=org, iban=ibans[org.pk]) for org in known], batch_size=2000
    )
    known_ids = {org.pk for org in known}
    rows = []
    counters = {"customer_invoice": 0, "vendor_bill": 0}
    for _ in range(items):
        kind = "customer_invoice" if rng.random() < 0.8 else "vendor_bill"
        org = rng.choice(customers if kind == "customer_invoice" else suppliers)
        counters[kind] += 1
        number = f"{'FA' if kind == 'customer_invoice' else 'FF'}-2026-{counters[kind]:05d}"
        if rng.random() < 0.33:
            total = Decimal(rng.randrange(5, 200) * 10)
        else:
            total = Decimal(rng.randrange(1_000, 500_000)).scaleb(-2)
        rows.append(Invoice(
            company=company, kind=kind, state="posted", number=number, organization=org, partner_name=org.legal_name,
            issue_date=DAY - dt.timedelta(days=rng.randrange(10, 120)),
            due_date=DAY - dt.timedelta(days=rng.randrange(0, 60)),
            total_amount=total, residual_amount=total, untaxed_amount=total,
            supplier_reference=f"F{rng.randrange(10**6, 10**7)}" if kind == "vendor_bill" else "",
        ))  # fmt: skip
    invoices = Invoice.objects.bulk_create(rows, batch_size=2000)
    journal = Journal.objects.get(company=company, code="BQ")
    ledger_account = Account.objects.get(company=company, code="512")
    account = BankAccount.objects.create(company=company, name="Compte courant", iban="FR7630006000011234567890189",
                                         journal=journal, account=ledger_account)  # fmt: skip
    statement = BankStatement.objects.create(company=company, bank_account=account, reference="BENCH",
                                             date_from=DAY, date_to=DAY, file_sha256="0" * 64,
                                             source_format="camt053")  # fmt: skip
    by_org: dict[int, list[Any]] = defaultdict(list)
    for invoice in invoices:
        by_org[invoice.organization_id].append(invoice)
    pool = invoices[:]
    rng.shuffle(pool)
    used: set[int] = set()
    answers: list[tuple[str, list[int]]] = []
    line_rows = []
    org_names = {org.pk: org.legal_name for org in orgs}

    def take() -> Any:
        while True:
            invoice = pool.pop()
            if invoice.pk not in used:
                used.add(invoice.pk)
                return invoice

    def line(amount: Decimal, label: str, reference: str = "", partner: str = "", iban: str = "") -> None:
        line_rows.append(BankStatementLine(
            company=company, statement=statement, bank_account=account, position=len(line_rows) + 1,
            booking_date=DAY, amount=amount, label=label[:500], reference=reference[:500], partner_name=partner[:200],
            partner_iban=iban,
        ))  # fmt: skip

    kinds = ["number"] * 30 + ["name"] * 20 + ["iban"] * 15 + ["group"] * 10 + ["amount"] * 10 + ["noise"] * 15
    for _ in range(lines):
        kind = rng.choice(kinds)
        if kind == "noise":
            amount = -Decimal(rng.randrange(100, 20_000)).scaleb(-2)
            label = rng.choice(["CB CARREFOUR", "CB SNCF", "FRAIS TENUE COMPTE", "PRLV EDF", "RETRAIT DAB",
                                "VIR INTERNE EPARGNE", "CB AMAZON"])  # fmt: skip
            line(amount if rng.random() < 0.8 else -amount, f"{label} {rng.randrange(1000, 9999)}")
            answers.append((kind, []))
            continue
        if kind == "group":
            first = take()
            siblings = [i for i in by_org[first.organization_id] if i.pk not in used and i.kind == first.kind]
            group = [first, *siblings[: rng.choice((1, 2))]]
            for invoice in group[1:]:
                used.add(invoice.pk)
            if len(group) < 2:
                kind = "number"
            else:
                total = sum((Decimal(i.total_amount) for i in group), Decimal(0))
                sign = 1 if first.kind == "customer_invoice" else -1
                if rng.random() < 0.5:
                    label = "VIR " + " ".join(i.number for i in group)
                    line(sign * total, label, partner=_name_variant(rng, org_names[first.organization_id]))
                else:
                    line(sign * total, "VIREMENT SEPA", partner=_name_variant(rng, org_names[first.organization_id]),
                         iban=ibans[first.organization_id] if first.organization_id in known_ids else "")  # fmt: skip
                answers.append((kind, sorted(i.pk for i in group)))
                continue
        invoice = take()
        sign = 1 if invoice.kind == "customer_invoice" else -1
        amount = sign * Decimal(invoice.total_amount)
        name = org_names[invoice.organization_id]
        if kind == "number":
            written = _number_variant(rng, invoice.number) if invoice.kind == "customer_invoice" else (
                invoice.supplier_reference)  # fmt: skip
            line(amount, f"VIR SEPA {written}", partner=_name_variant(rng, name) if rng.random() < 0.5 else "")
        elif kind == "name":
            line(amount, "VIREMENT RECU" if sign > 0 else "VIREMENT EMIS", partner=_name_variant(rng, name))
        elif kind == "iban":
            if invoice.organization_id not in known_ids:
                PartnerBankAccount.objects.create(company=company, organization_id=invoice.organization_id,
                                                  iban=ibans[invoice.organization_id])  # fmt: skip
                known_ids.add(invoice.organization_id)
            line(amount, "VIREMENT", iban=ibans[invoice.organization_id])
        else:
            line(amount, "VIREMENT")
        answers.append((kind, [invoice.pk]))
    created = BankStatementLine.objects.bulk_create(line_rows, batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {
        "company_id": company.pk, "items": len(invoices), "lines": len(created), "partners": len(orgs),
        "answers": {str(row.pk): [kind, ids] for row, (kind, ids) in zip(created, answers, strict=True)},
    }  # fmt: skip


def measure(company_id: int, answers: dict[str, list[Any]], runs: int) -> dict[str, Any]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from comptoir.banking import reconcile
    from comptoir.banking.models import BankStatementLine

    lines = [reconcile.line_data(line) for line in BankStatementLine.objects.filter(company_id=company_id)
             .order_by("booking_date", "id")]  # fmt: skip
    result: dict[str, Any] = {"lines": len(lines)}
    # Pages of 20, context loaded per page (the screen).
    page_times = []
    found: dict[int, list[reconcile.Proposal]] = {}
    started = time.perf_counter()
    for start in range(0, len(lines), 20):
        t0 = time.perf_counter()
        found |= reconcile.propose(company_id, lines[start : start + 20])
        page_times.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    with CaptureQueriesContext(connection) as queries:
        reconcile.propose(company_id, lines[:20])
    median_ms = round(statistics.median(page_times) * 1000, 1)
    result["pages_of_20"] = {"total_s": round(total, 2), "page_median_ms": median_ms,
                             "page_p95_ms": round(sorted(page_times)[int(len(page_times) * 0.95)] * 1000, 1),
                             "queries_per_page": len(queries)}  # fmt: skip
    # Batches of 500, context once.
    times = []
    for _ in range(runs):
        reset_queries()
        t0 = time.perf_counter()
        context = reconcile.load_context(company_id)
        for start in range(0, len(lines), 500):
            reconcile.propose(company_id, lines[start : start + 500], context=context)
        times.append(time.perf_counter() - t0)
    result["batches_of_500"] = {"median_s": round(statistics.median(times), 2), "best_s": round(min(times), 2),
                                "lines_per_s": round(len(lines) / min(times))}  # fmt: skip
    # Accuracy of the top proposal.
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        kind, expected = answers[str(line.id)]
        proposals = found.get(line.id, [])
        top = proposals[0] if proposals else None
        stats = per_kind[kind]
        stats["lines"] += 1
        if expected:
            stats["with_answer"] += 1
        if top is not None:
            stats["proposed"] += 1
            right = bool(expected) and sorted(top.invoice_ids) == expected
            stats["right"] += right
            if top.score >= 80:
                stats["confident"] += 1
                stats["confident_right"] += right
            if expected and any(sorted(p.invoice_ids) == expected for p in proposals):
                stats["in_top3"] += 1
    overall: Counter[str] = Counter()
    for stats in per_kind.values():
        overall.update(stats)

    def rates(stats: Counter[str]) -> dict[str, Any]:
        return {
            "lines": stats["lines"], "proposed": stats["proposed"],
            "precision_top1": round(stats["right"] / stats["proposed"], 3) if stats["proposed"] else None,
            "recall_top1": round(stats["right"] / stats["with_answer"], 3) if stats["with_answer"] else None,
            "recall_top3": round(stats["in_top3"] / stats["with_answer"], 3) if stats["with_answer"] else None,
            "confident": stats["confident"],
            "precision_score80": (round(stats["confident_right"] / stats["confident"], 3)
                                  if stats["confident"] else None),
        }  # fmt: skip

    result["accuracy"] = {"overall": rates(overall)} | {kind: rates(stats) for kind, stats in sorted(per_kind.items())}
    return result


def child(args: argparse.Namespace) -> None:
    setup_django()
    from django.db import connection

    from comptoir.org.models import Company

    rng = random.Random(args.seed)
    load_before = load_average()
    existing = Company.objects.filter(name="Banque Bench").first()
    if existing is None:
        t0 = time.perf_counter()
        seeded = seed(args.items, args.lines, args.partners, rng)
        seeded["seed_s"] = round(time.perf_counter() - t0, 1)
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS bench_answers (data jsonb)")
            cursor.execute("DELETE FROM bench_answers")
            cursor.execute("INSERT INTO bench_answers VALUES (%s)", [json.dumps(seeded["answers"])])
        answers = seeded.pop("answers")
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT data FROM bench_answers")
            raw = cursor.fetchone()[0]
        answers = raw if isinstance(raw, dict) else json.loads(raw)
        seeded = {"company_id": existing.pk, "reused": True}
    print(f"seeded: {seeded}", file=sys.stderr)
    result = measure(seeded["company_id"], answers, args.runs)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    print(json.dumps({"seeded": seeded, "server": server, "load_before": load_before, "load_after": load_average()}
                     | result))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--partners", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reuse", action="store_true", help="measure on the database seeded last time")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not args.reuse:
        pg_admin(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)")
    command = ["--child", "--items", str(args.items), "--lines", str(args.lines), "--partners", str(args.partners),
               "--runs", str(args.runs), "--seed", str(args.seed)]  # fmt: skip
    out = run_child(__file__, "postgres", "bank", command, stream_stderr=True, keep=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

"""CRM at volume: list pages, search, APIs and the kanban on a large company.

    uv run python bench/crm_volume.py --database postgres              # 100k orgs, 200k people, ...
    uv run python bench/crm_volume.py --database sqlite --scale 0.1     # a tenth of it
    uv run python bench/crm_volume.py --database postgres --keep        # keep the seeded database
    uv run python bench/crm_volume.py --database postgres --keep --runs 10 --only kanban

Seeds, in a throwaway database (``comptoir_bench_crmvol_<pid>``; with ``--keep``
``comptoir_bench_crmvol``, seeded once and reused by the next ``--keep`` run), one company
with 20 salespeople in 4 teams, 100,000 organizations, 200,000 people with their
affiliations, 50,000 opportunities (2,000 open in the default pipeline, the others won or
lost) and 500,000 activities, every count multiplied by ``--scale``. Rows are written with
COPY on PostgreSQL (executemany on SQLite), with the ``search_text`` the services would
write (``contacts.services.*_search_text``, ``normalize.search_text``).

Then, in the same process, Django's test client logged in as a salesperson (record rules:
own and team's rows) and as a manager (sees everything) requests every page ``--runs``
times and prints the median and p95 server time and the number of SQL queries per page
(counted on one extra request through an execute wrapper; the timed requests run
without it). Production settings (DEBUG off). The machine's load average is printed
before and after: numbers taken above ~1.5 are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from _harness import load_average, run_child, setup_django

SIZES = {"organizations": 100_000, "people": 200_000, "opportunities": 50_000, "open_in_pipeline": 2_000,
         "activities": 500_000}  # fmt: skip
TEAMS = 4
PER_TEAM = 5
SEED = 11

WORDS = (
    "Boulangerie Boucherie Garage Atelier Cabinet Pharmacie Transports Menuiserie Plomberie Imprimerie Librairie "
    "Fromagerie Brasserie Électricité Couverture Maçonnerie Jardins Informatique Conseil Optique Carrosserie "
    "Charpente Peinture Nettoyage Traiteur Fleurs Bijouterie Chaussures Textile Logistique Hôtellerie Crèche"
).split()
SURNAMES = (
    "Dupont Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel Lefèvre Leroy "
    "Roux David Bertrand Morel Fournier Girard Bonnet Dupuis Lambert Fontaine Rousseau Vincent Muller Lefebvre "
    "Faure André Mercier Blanc Guérin Boyer Garnier Chevalier François Legrand Gauthier Garcia Perrin Robin "
    "Clément Morin Nicolas Henry Roussel Mathieu Gautier Masson Marchand Duval Denis Dumont Noël Meyer Dufour"
).split()
FIRST = (
    "Jean Marie Pierre Michel Anne Jacques Nathalie Isabelle Philippe Sylvie Catherine Nicolas Hélène Céline "
    "Julien Camille Léa Hugo Chloé Louis Emma Gabriel Inès Arthur Jade Raphaël Manon Lucas Zoé Théo Noémie"
).split()
SYLLABLES = "ka ro mi lu ne va to ri sa be lo da fe gu pi mo ta ve zu ni or an el ar".split()
FORMS = ["SARL", "SAS", "SA", "EURL", "SCI", ""]
JOBS = ["Gérant", "Acheteur", "Directrice achats", "Comptable", "Responsable technique", "Assistante", ""]
PRODUCTS = ["Maintenance", "Licence", "Formation", "Audit", "Installation", "Contrat cadre", "Renouvellement"]
STAGES = ["prospect", "lead", "customer", "customer", "former_customer", "supplier", "partner"]


# --- seeding (child) ------------------------------------------------------------------------


def _brand(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).title()


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10 ** (n - 1), 10**n))


class Writer:
    """Rows of one table, straight to the database: COPY on PostgreSQL, executemany on SQLite.

    ``columns`` are the attnames given per row; every other column of the table gets its
    field's default. Only columns the table really has are written (models may be ahead of
    the migrations being applied).
    """

    def __init__(self, model: Any, columns: Sequence[str], now: dt.datetime) -> None:
        from django.db import connection

        self.connection = connection
        self.table = model._meta.db_table
        with connection.cursor() as cursor:
            existing = {c.name for c in connection.introspection.get_table_description(cursor, self.table)}
        fields = [f for f in model._meta.concrete_fields if not f.primary_key and f.column in existing]
        by_attname = {f.attname: f for f in fields}
        self.varying = list(columns)
        constant: dict[str, Any] = {}
        for f in fields:
            if f.attname in columns:
                continue
            if f.attname in ("created_at", "updated_at"):
                value: Any = now
            else:
                value = f.get_default()
            constant[f.column] = f.get_db_prep_save(value, connection)
        self.columns = [by_attname[name].column for name in columns] + list(constant)
        self.constant = tuple(constant.values())
        self.sqlite = connection.vendor == "sqlite"
        # SQLite stores dates and datetimes as text: adapt them as Django would.
        self.adapters: list[Callable[[Any], Any] | None] = []
        for name in columns:
            internal = by_attname[name].get_internal_type()
            if self.sqlite and internal == "DateTimeField":
                self.adapters.append(connection.ops.adapt_datetimefield_value)
            elif self.sqlite and internal == "DateField":
                self.adapters.append(connection.ops.adapt_datefield_value)
            else:
                self.adapters.append(None)

    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        count = 0
        if self.sqlite:
            placeholders = ", ".join(["%s"] * len(self.columns))
            sql = f'INSERT INTO "{self.table}" ({", ".join(self.columns)}) VALUES ({placeholders})'
            batch: list[tuple[Any, ...]] = []
            with self.connection.cursor() as cursor:
                for row in rows:
                    batch.append(self._row(row))
                    if len(batch) == 5000:
                        cursor.executemany(sql, batch)
                        count += len(batch)
                        batch = []
                if batch:
                    cursor.executemany(sql, batch)
                    count += len(batch)
            return count
        self.connection.ensure_connection()
        raw = self.connection.connection
        with raw.cursor() as cursor, cursor.copy(f'COPY "{self.table}" ({", ".join(self.columns)}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(self._row(row))
                count += 1
        return count

    def _row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if self.sqlite:
            row = [v if a is None or v is None else a(v) for v, a in zip(row, self.adapters, strict=True)]
        return (*row, *self.constant)


def _ids(model: Any, company_id: int) -> list[int]:
    return list(model.objects.filter(company_id=company_id).order_by("pk").values_list("pk", flat=True))


def seed(scale: float) -> dict[str, Any]:
    """One company, its users and teams, and the rows; returns what the measurements need."""
    from django.db import connection, transaction
    from django.utils import timezone

    from comptoir.contacts import services as contact_services
    from comptoir.contacts.models import Affiliation, Organization, Person
    from comptoir.contacts.normalize import search_text, web_domain
    from comptoir.crm import services as crm_services
    from comptoir.crm.models import Activity, LostReason, Opportunity, Stage, StageKind
    from comptoir.org.models import Membership, Team, User
    from comptoir.org.selectors import build_actor
    from comptoir.org.services import module_set
    from comptoir.org.testing import make_company, make_user

    rng = random.Random(SEED)
    sizes = {k: max(1, int(v * scale)) for k, v in SIZES.items()}
    now = timezone.now().replace(microsecond=0)
    timings: dict[str, float] = {}

    def step(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 1)
        print(f"  seeded {name} in {timings[name]} s", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    company = make_company(name="Volume SAS")
    admin = make_user(company, "admin", email="admin@volume.test")
    admin_actor = build_actor(admin, company.pk, "cli")
    for code in ("contacts", "crm"):
        module_set(actor=admin_actor, module=code, enabled=True)
    manager = make_user(company, "management", email="manager@volume.test")
    sales: list[Any] = []
    team_of: dict[int, int] = {}
    for t in range(TEAMS):
        team = Team.objects.create(company=company, name=f"Équipe {t + 1}")
        members = []
        for m in range(PER_TEAM):
            user = User.objects.create_user(
                email=f"sales{t}{m}@volume.test", password=None, full_name=f"{rng.choice(FIRST)} {SURNAMES[t * 5 + m]}",
                default_company=company,
            )  # fmt: skip
            Membership.objects.create(user=user, company=company, role="sales")
            members.append(user)
            team_of[user.pk] = team.pk
        team.members.set(members)
        sales.extend(members)
    # The manager manages team 1 ("My team") and sees every row (view_all).
    Team.objects.filter(company=company, name="Équipe 1").update(manager=manager)
    manager_actor = build_actor(manager, company.pk, "cli")
    pipeline = crm_services.pipeline_ensure_default(actor=manager_actor)
    step("company, users, teams", t0)

    owners = [u.pk for u in sales]

    def owner_team() -> tuple[int | None, int | None]:
        if rng.random() < 0.05:
            return None, None  # unassigned: only those who see everything see them
        owner = rng.choice(owners)
        return owner, team_of[owner]

    def created() -> dt.datetime:
        return now - dt.timedelta(seconds=rng.randrange(3 * 365 * 86400))

    # Organizations ------------------------------------------------------------------------
    t0 = time.perf_counter()
    org_cols = ["company_id", "owner_id", "team_id", "lifecycle_stage", "email", "phone", "search_text", "legal_name",
                "trade_name", "siren", "siret", "website", "web_domain", "created_at", "updated_at"]  # fmt: skip
    probe = Organization(company_id=company.pk)

    def orgs() -> Iterable[tuple[Any, ...]]:
        for i in range(sizes["organizations"]):
            brand = _brand(rng)
            legal_name = f"{rng.choice(WORDS)} {brand} {rng.choice(SURNAMES)} {rng.choice(FORMS)}".strip()
            siren = _digits(rng, 9) if rng.random() < 0.8 else ""
            slug = f"{brand.lower()}{i}"
            probe.legal_name, probe.trade_name = legal_name, brand if rng.random() < 0.2 else ""
            probe.siren, probe.siret = siren, (siren + _digits(rng, 5)) if siren and rng.random() < 0.5 else ""
            probe.email = f"contact@{slug}.fr" if rng.random() < 0.6 else ""
            probe.phone = f"+33{rng.choice('1234579')}{_digits(rng, 8)}" if rng.random() < 0.7 else ""
            probe.website = f"https://www.{slug}.fr" if rng.random() < 0.4 else ""
            probe.web_domain = web_domain(probe.website)
            owner, team = owner_team()
            at = created()
            yield (company.pk, owner, team, rng.choice(STAGES), probe.email, probe.phone,
                   contact_services.organization_search_text(probe), legal_name, probe.trade_name, probe.siren,
                   probe.siret, probe.website, probe.web_domain, at, at)  # fmt: skip

    with transaction.atomic():
        Writer(Organization, org_cols, now).write(orgs())
    org_ids = _ids(Organization, company.pk)
    step("organizations", t0)

    # People and affiliations ----------------------------------------------------------------
    t0 = time.perf_counter()
    person_cols = ["company_id", "owner_id", "team_id", "lifecycle_stage", "email", "phone", "search_text",
                   "first_name", "last_name", "job_title", "mobile", "created_at", "updated_at"]  # fmt: skip
    person_probe = Person(company_id=company.pk)

    def people() -> Iterable[tuple[Any, ...]]:
        for i in range(sizes["people"]):
            first, last = rng.choice(FIRST), rng.choice(SURNAMES)
            if rng.random() < 0.5:
                last = f"{last}-{_brand(rng)}"
            p = person_probe
            p.first_name, p.last_name, p.job_title = first, last, rng.choice(JOBS)
            p.email = (
                f"{search_text(first)}.{search_text(last)}{i}@example{i % 500}.fr".replace(" ", "")
                if rng.random() < 0.8
                else ""
            )
            p.phone = f"+33{rng.choice('1234579')}{_digits(rng, 8)}" if rng.random() < 0.5 else ""
            p.mobile = f"+336{_digits(rng, 8)}" if rng.random() < 0.6 else ""
            owner, team = owner_team()
            at = created()
            yield (company.pk, owner, team, rng.choice(STAGES), p.email, p.phone,
                   contact_services.person_search_text(p), first, last, p.job_title, p.mobile, at, at)  # fmt: skip

    with transaction.atomic():
        Writer(Person, person_cols, now).write(people())
    person_ids = _ids(Person, company.pk)

    def affiliations() -> Iterable[tuple[Any, ...]]:
        for pid in person_ids:
            first_org = rng.choice(org_ids)
            yield (pid, first_org, rng.choice(JOBS), True)
            if rng.random() < 0.1:
                other = rng.choice(org_ids)
                if other != first_org:
                    yield (pid, other, "", False)

    with transaction.atomic():
        Writer(Affiliation, ["person_id", "organization_id", "role", "is_primary"], now).write(affiliations())
    step("people and affiliations", t0)

    # Opportunities ----------------------------------------------------------------------------
    t0 = time.perf_counter()
    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("sequence"))
    open_stages = [s for s in stages if s.kind == StageKind.OPEN]
    won = next(s for s in stages if s.kind == StageKind.WON)
    lost = next(s for s in stages if s.kind == StageKind.LOST)
    reasons = list(LostReason.objects.filter(company=company).values_list("pk", flat=True))
    opp_cols = ["company_id", "owner_id", "team_id", "source", "search_text", "pipeline_id", "stage_id", "title",
                "organization_id", "amount", "probability", "expected_close_date", "status", "closed_at",
                "lost_reason_id", "stage_changed_at", "created_at", "updated_at"]  # fmt: skip
    today = now.date()

    def opportunities() -> Iterable[tuple[Any, ...]]:
        for i in range(sizes["opportunities"]):
            org = rng.choice(org_ids)
            title = f"{rng.choice(PRODUCTS)} {rng.choice(WORDS).lower()} n° {i}"
            source = rng.choice(["Salon", "Site web", "Recommandation", "Appel entrant", ""])
            owner, team = owner_team()
            at = created()
            if i < sizes["open_in_pipeline"]:
                stage, status, closed, reason = rng.choice(open_stages), "open", None, None
                close_date = today + dt.timedelta(days=rng.randrange(-30, 180))
            else:
                is_won = rng.random() < 0.4
                stage, status = (won, "won") if is_won else (lost, "lost")
                closed = at + dt.timedelta(days=rng.randrange(1, 120))
                reason = None if is_won else rng.choice(reasons)
                close_date = closed.date()
            yield (company.pk, owner, team, source, search_text(title, source), pipeline.pk, stage.pk, title, org,
                   rng.randrange(50_000, 5_000_000), stage.probability, close_date, status, closed, reason,
                   at + dt.timedelta(days=rng.randrange(0, 30)), at, at)  # fmt: skip

    with transaction.atomic():
        Writer(Opportunity, opp_cols, now).write(opportunities())
    opp_ids = _ids(Opportunity, company.pk)
    step("opportunities", t0)

    # Activities -------------------------------------------------------------------------------
    t0 = time.perf_counter()
    act_cols = ["company_id", "kind", "subject", "due_at", "assignee_id", "owner_id", "team_id", "done_at",
                "organization_id", "person_id", "opportunity_id", "created_at", "updated_at"]  # fmt: skip
    kinds = ["call", "meeting", "email", "task"]
    horizon = 2 * 365 * 86400

    def activities() -> Iterable[tuple[Any, ...]]:
        for _i in range(sizes["activities"]):
            assignee = rng.choice(owners)
            # Mostly in the past (done), a few weeks ahead; what is overdue is recent and rare.
            due = now - dt.timedelta(seconds=rng.randrange(-60 * 86400, horizon))
            age = (now - due).days
            done = None
            if due < now and (age > 14 or rng.random() < 0.9):
                done = due + dt.timedelta(hours=rng.randrange(0, 48))
            kind = rng.choice(kinds)
            link = rng.random()
            org = rng.choice(org_ids) if link < 0.7 else None
            person = rng.choice(person_ids) if 0.3 < link < 0.9 else None
            opp = rng.choice(opp_ids) if link > 0.8 else None
            yield (company.pk, kind, f"{kind.title()} {rng.choice(SURNAMES)}", due, assignee, assignee,
                   team_of[assignee], done, org, person, opp, due - dt.timedelta(days=3), due)  # fmt: skip

    with transaction.atomic():
        Writer(Activity, act_cols, now).write(activities())
    step("activities", t0)

    t0 = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    step("vacuum analyze", t0)
    return {"sizes": sizes, "seconds": timings}


# --- measuring (child) ----------------------------------------------------------------------


def _probes(company_id: int, salesperson: Any) -> dict[str, str]:
    """Search terms that hit rows the salesperson may see (so both personas find something)."""
    from comptoir.contacts.models import Organization, Person

    org = (
        Organization.objects.filter(company_id=company_id, owner=salesperson)
        .exclude(siren="")
        .exclude(phone="")
        .exclude(email="")
        .order_by("pk")
        .first()
    )
    person = Person.objects.filter(company_id=company_id, owner=salesperson).exclude(email="").order_by("pk").first()
    assert org is not None and person is not None
    accented = next(name for name in SURNAMES if name != name.encode("ascii", "ignore").decode())
    national = "0" + org.phone[3:]
    return {
        "name": f"{person.first_name} {accented}",  # accents as typed: folded by the search
        "email": person.email,
        "phone": " ".join(national[i : i + 2] for i in range(0, 10, 2)),
        "siren": f"{org.siren[:3]} {org.siren[3:6]} {org.siren[6:]}",
        "org_name": org.legal_name.split()[1],
    }


def _cases(probes: dict[str, str], owner_id: int, deep_page: int) -> list[tuple[str, str]]:
    from urllib.parse import urlencode

    def q(path: str, **params: Any) -> str:
        return f"{path}?{urlencode(params)}" if params else path

    orgs, people = "/contacts/organizations/", "/contacts/people/"
    return [
        ("organizations: page 1 (by name)", orgs),
        (f"organizations: page {deep_page}", q(orgs, page=deep_page)),
        ("organizations: sorted by name desc", q(orgs, sort="-name")),
        ("organizations: filtered (customers)", q(orgs, lifecycle_stage="customer")),
        ("organizations: filtered (owner)", q(orgs, owner=owner_id)),
        ("organizations: search name", q(orgs, q=probes["org_name"])),
        ("organizations: search SIREN", q(orgs, q=probes["siren"])),
        ("organizations: search phone", q(orgs, q=probes["phone"])),
        ("people: page 1 (by name)", people),
        (f"people: page {deep_page}", q(people, page=deep_page)),
        ("people: search name with accents", q(people, q=probes["name"])),
        ("people: search email", q(people, q=probes["email"])),
        ("global search: name", q("/search/", q=probes["name"])),
        ("global search: email", q("/search/", q=probes["email"])),
        ("global search: phone", q("/search/", q=probes["phone"])),
        ("global search: SIREN", q("/search/", q=probes["siren"])),
        ("opportunities: list", "/crm/opportunities/"),
        ("opportunities: open, by close date", q("/crm/opportunities/", status="open", sort="expected_close_date")),
        ("my day", "/crm/my-day/"),
        ("kanban (2,000 open)", "/crm/"),
        ("API organizations", "/api/v1/organizations"),
        ("API people", "/api/v1/people"),
        ("API opportunities", "/api/v1/opportunities"),
        ("API activities (to do)", q("/api/v1/activities", done="false")),
        ("API activities (all)", "/api/v1/activities"),
    ]


def measure(runs: int, only: str | None) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client

    from comptoir.org.models import Company, User

    company = Company.objects.get(name="Volume SAS")
    manager = User.objects.get(email="manager@volume.test")
    salesperson = User.objects.get(email="sales00@volume.test")
    probes = _probes(company.pk, salesperson)
    results: list[dict[str, Any]] = []
    for persona, user in (("salesperson", salesperson), ("manager", manager)):
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        for label, url in _cases(probes, salesperson.pk, deep_page=200):
            if only and only not in label:
                continue
            for _ in range(2):  # warm up: imports, caches, the plan cache of PostgreSQL
                response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{persona} GET {url} answered {response.status_code}: {response.content[:500]!r}")
            queries: list[str] = []

            def count(execute: Any, sql: str, params: Any, many: bool, context: Any, seen: list[str] = queries) -> Any:
                seen.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                client.get(url)
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            results.append({
                "persona": persona, "page": label, "url": url, "queries": len(queries),
                "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
                "bytes": len(response.content),
            })  # fmt: skip
            print(f"  {persona:11} {label:42} {results[-1]['median_ms']:>7} ms", file=sys.stderr, flush=True)
    return results


def child(args: argparse.Namespace) -> None:
    setup_django()
    from django.db import connection

    from comptoir.org.models import Company

    seeded: dict[str, Any] = {"reused": True}
    if not Company.objects.filter(name="Volume SAS").exists():
        print(f"seeding at scale {args.scale}…", file=sys.stderr, flush=True)
        started = time.perf_counter()
        seeded = seed(args.scale)
        seeded["total_s"] = round(time.perf_counter() - started, 1)
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    server = ""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = f"PostgreSQL {cursor.fetchone()[0]}"
    else:
        import sqlite3

        server = f"SQLite {sqlite3.sqlite_version}"
    load_before = load_average()
    results = measure(args.runs, args.only)
    print(json.dumps({"seeded": seeded, "server": server, "load_before": load_before, "load_after": load_average(),
                      "results": results}))  # fmt: skip


# --- parent -------------------------------------------------------------------------------


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{os.cpu_count()} CPUs ({cpu}){mem}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--scale", type=float, default=None, help="multiplies every row count (default 1; SQLite 0.1)")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per page and persona")
    parser.add_argument("--only", help="measure only the pages whose label contains this text")
    parser.add_argument("--keep", action="store_true", help="PostgreSQL: keep the seeded database and reuse it")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale is None:
        args.scale = 1.0 if args.database == "postgres" else 0.1
    if args.child:
        child(args)
        return
    print(f"machine: {_machine()}; load average (1 min) before: {load_average():.2f}")
    command = ["--child", "--database", args.database, "--scale", str(args.scale), "--runs", str(args.runs)]
    if args.only:
        command += ["--only", args.only]
    # The test client asks for "testserver"; production settings allow no host by default.
    env = {"ALLOWED_HOSTS": "testserver"}
    out = run_child(__file__, args.database, "crmvol", command, env, stream_stderr=True, keep=args.keep)
    seeded = out["seeded"]
    if "sizes" in seeded:
        print(f"seeded {seeded['sizes']} in {seeded['total_s']} s: {seeded['seconds']}")
    print(f"{out['server']}; load average during the measurements: {out['load_before']:.2f} → {out['load_after']:.2f}")
    print(f"{'persona':11} {'page':44} {'median ms':>9} {'p95 ms':>8} {'queries':>7}")
    for r in out["results"]:
        print(f"{r['persona']:11} {r['page']:44} {r['median_ms']:>9} {r['p95_ms']:>8} {r['queries']:>7}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"machine": _machine(), **out}, handle, indent=1)


if __name__ == "__main__":
    main()

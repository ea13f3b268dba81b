"""``python -m bench --jobdating F``: the job-dating planning at a network's scale (issue 19):
F × (320 companies, 500 offers, 1,700 seeking candidates), in one run, side by side:

- the data of the planning page's first page of pairs (``Pairing`` read, then each offer's best
  pairs), and of one company's pairs;
- the reference it avoids: every offer × candidate pair ranked (``Pairing.pairs``; at F = 1
  only: at F = 10, 85 million pairs fit neither in time nor in memory);
- the automatic plan (``plan_event``: pairs chosen, then placed in the companies' slots);
- the whole planning page in AppTest, signed in as an admin (bench/render.py).

The store is written through the import files of data-contract.md (the validated path), from
a seeded generator: seven sites in four departments, thirty programmes, each offer on one of
its programme's sites (one in twenty without a site, one in twenty without a programme),
candidates aged 14 to 25 who consent (a parent too under 15), a tenth of them with a
withdrawn second enrollment, postal codes of the four departments and a few from elsewhere.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

COMPANIES, OFFERS, SEEKERS = 320, 500, 1_700
EVENT = "JD-RESEAU"
SITES = (
    ("MAX", "54"),
    ("NAN", "54"),
    ("YUT", "57"),
    ("MET", "57"),
    ("BAR", "55"),
    ("VER", "55"),
    ("EPI", "88"),
)
PROGRAMS = [f"P{number:02d}" for number in range(1, 31)]


def _csv(header: str, rows: list[str]) -> bytes:
    return (header + "\n" + "\n".join(rows) + "\n").encode("utf-8")


def files(factor: int, seed: int = 19) -> dict[str, bytes]:
    """The network's import files, in the order they are imported."""
    rng = random.Random(seed)
    sites_of = {program: rng.sample([code for code, _ in SITES], rng.randint(2, 3)) for program in PROGRAMS}
    sirets = [f"{number:014d}" for number in range(10_000_000_001, 10_000_000_001 + COMPANIES * factor)]
    offers = []
    for number in range(OFFERS * factor):
        program = rng.choice(PROGRAMS)
        site = rng.choice(sites_of[program])
        draw = rng.random()
        program, site = ("", site) if draw < 0.05 else (program, "") if draw < 0.10 else (program, site)
        published = f"2020-0{rng.randint(1, 5)}-01"
        offers.append(f"O{number:06d},{rng.choice(sirets)},{program},{site},{rng.randint(1, 3)},{published}")
    candidates, enrollments = [], []
    postal = [f"{department}{rng.randint(0, 999):03d}" for _, department in SITES] + ["67000", "97110", ""]
    for number in range(SEEKERS * factor):
        ref = f"J{number:06d}"
        born = f"{rng.randint(1995, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        parent = "oui" if born >= "2005-05-18" else ""
        candidates.append(
            f"{ref},Prénom{number},Nom{number},{born},{rng.choice(postal)},oui,{parent},2020-03-01 10:00"
        )
        program = rng.choice(PROGRAMS)
        places = [(program, rng.choice(sites_of[program]))]
        enrollments.append(
            f"{ref},{program},{places[0][1]},2020-03-02 09:00,{rng.choice(['enrolled', 'pre_registered'])}"
        )
        if rng.random() < 0.1:
            other = rng.choice(PROGRAMS)
            if (other, sites_of[other][0]) not in places:
                enrollments.append(f"{ref},{other},{sites_of[other][0]},2020-03-02 09:00,withdrawn")
    return {
        "sites": _csv(
            "code,name,department", [f"{code},Site {code},{department}" for code, department in SITES]
        ),
        "programs": _csv(
            "code,name,level,site_code,seats",
            [
                f"{program},Formation {program},BTS,{site},20"
                for program in PROGRAMS
                for site in sites_of[program]
            ],
        ),
        "events": _csv(
            "code,name,kind,starts_on,ends_on",
            [f"{EVENT},Job dating du réseau,job_dating,2020-05-18,2020-05-19"],
        ),
        "companies": _csv("siret,name", [f"{siret},Entreprise {siret[-5:]}" for siret in sirets]),
        "offers": _csv("ref,siret,program_code,site_code,positions,published_on", offers),
        "candidates": _csv(
            "ref,first_name,last_name,birth_date,postal_code,presentation_consent,parent_presentation_consent,created_at",
            candidates,
        ),
        "enrollments": _csv("candidate_ref,program_code,site_code,enrolled_at,status", enrollments),
    }


def build(path: Path, factor: int) -> None:
    """A migrated store at ``path`` holding the network (the import path, all or nothing)."""
    from services.imports.importer import import_bytes
    from services.store import database

    engine = database.get_engine(f"sqlite:///{path}")
    database.migrate(engine)
    start = time.perf_counter()
    for kind, data in files(factor).items():
        result = import_bytes(data, source=f"{kind}.csv", engine=engine)
        if not result.accepted:
            raise SystemExit(f"{kind}.csv refusé : {result.describe_problems()[:3]}")
    print(f"réseau ×{factor} importé en {time.perf_counter() - start:.1f} s")


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _timed(function):  # noqa: ANN001, ANN202
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def measure(factor: int) -> None:
    """Print the figures of the job-dating planning at this scale (module docstring)."""
    from services.jobdating import meeting_plan, plan_preview
    from services.jobdating.pairing import Pairing

    read, pairing = _timed(lambda: Pairing(EVENT))
    best, pool = _timed(lambda: pairing.best(plan_preview.PAGE_SIZE))
    print(
        f"paires : {_n(pairing.n_offers)} offres ouvertes × {_n(pairing.n_people)} candidats présentables = "
        f"{_n(pairing.total)} paires ; lecture {read:.2f} s, meilleures de chaque offre (première page) "
        f"{best:.2f} s ({_n(len(pool))} lignes)"
    )
    siret = pool["siret"].iloc[0]
    one, (_, total) = _timed(lambda: plan_preview.pairs_shown(EVENT, 1, siret))
    print(f"toutes les paires d'une entreprise (première page, {_n(total)} paires) : {one:.2f} s")
    if factor == 1:
        whole, pairs = _timed(pairing.pairs)
        print(f"référence : toute la liste classée ({_n(len(pairs))} paires) {whole:.2f} s")
    planning, plan = _timed(lambda: meeting_plan.plan_event(EVENT))
    print(
        f"planning automatique : {len(plan.meetings)} rencontres, {len(plan.shortfalls)} manque(s), "
        f"{planning:.2f} s"
    )

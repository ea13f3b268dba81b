"""A hand-made job dating shared by the pairing, planning and command-line tests.

JD runs on Monday 11 and Tuesday 12 May 2020. Offers: O1 (company S1, BTS-MS at MAX, dept 54,
2 positions) and O2 (S2, CAP-RI at YUT, dept 57, 1 position) are open; O3 is published after
the first day, O4 the year before, O5's only position went to CZ (contract signed): none of
them is open. Candidates, on 11 May 2020:
  CA adult, own consent, BTS-MS at MAX, postal code 54000            → eligible
  CB 15 that very day, own consent only, CAP-RI at YUT, 57100;
     a planned meeting with O1 on 11 May at 9:00 (Paris)             → eligible
  CC 14 (15 the next day), own consent only                          → not eligible
  CD 14, own and parent's consent, CAP-RI at YUT, 54500;
     a cancelled meeting with O2 (does not count)                    → eligible
  CE birth date unknown, own consent only                            → not eligible
  CF birth date unknown, both consents, BTS-MS at YUT, 97110 (971)   → eligible
  CG adult, no consent                                               → not eligible
  CH adult, consent, enrollment withdrawn: not seeking
  CZ contract signed: not seeking
"""

from __future__ import annotations

import random

from sqlalchemy.engine import Engine

from services.access.consent import set_presentation_consent
from tests.conftest import load

S1 = "11111111100011"
S2 = "22222222200022"


def load_job_dating(engine: Engine) -> None:
    """Import the job dating above and record the consents."""
    load("sites", "code,name,city,department\nMAX,Maxéville,Maxéville,54\nYUT,Yutz,Yutz,57\n", engine)
    load(
        "programs",
        "code,name,level,site_code,seats\nBTS-MS,BTS MS,BTS,MAX,10\nBTS-MS,BTS MS,BTS,YUT,10\n"
        "CAP-RI,CAP RI,CAP,YUT,10\n",
        engine,
    )
    load(
        "events",
        "code,name,kind,starts_on,ends_on\nJD,Job dating,job_dating,2020-05-11,2020-05-12\n"
        "POV,Portes ouvertes,virtual,2020-04-14,2020-04-17\n",
        engine,
    )
    load("companies", f"siret,name\n{S1},Forges\n{S2},Usinage\n", engine)
    load(
        "candidates",
        "ref,first_name,birth_date,postal_code,created_at\n"
        "CA,Alice,2000-01-01,54000,2020-04-01 10:00\n"
        "CB,Bruno,2005-05-11,57100,2020-04-01 10:00\n"
        "CC,Chloé,2005-05-12,57000,2020-04-01 10:00\n"
        "CD,David,2006-01-01,54500,2020-04-01 10:00\n"
        "CE,Emma,,54000,2020-04-01 10:00\n"
        "CF,Fanny,,97110,2020-04-01 10:00\n"
        "CG,Gaël,2000-01-01,54000,2020-04-01 10:00\n"
        "CH,Hugo,2000-01-01,54000,2020-04-01 10:00\n"
        "CZ,Zoé,2000-01-01,54000,2020-04-01 10:00\n",
        engine,
    )
    load(
        "enrollments",
        "candidate_ref,program_code,site_code,enrolled_at,status\n"
        "CA,BTS-MS,MAX,2020-04-02 09:00,enrolled\n"
        "CB,CAP-RI,YUT,2020-04-02 09:00,pre_registered\n"
        "CC,CAP-RI,YUT,2020-04-02 09:00,enrolled\n"
        "CD,CAP-RI,YUT,2020-04-02 09:00,enrolled\n"
        "CE,BTS-MS,MAX,2020-04-02 09:00,enrolled\n"
        "CF,BTS-MS,YUT,2020-04-02 09:00,enrolled\n"
        "CG,BTS-MS,MAX,2020-04-02 09:00,enrolled\n"
        "CH,BTS-MS,MAX,2020-04-02 09:00,withdrawn\n"
        "CZ,BTS-MS,YUT,2020-04-02 09:00,enrolled\n",
        engine,
    )
    load(
        "offers",
        "ref,siret,program_code,site_code,positions,published_on\n"
        f"O1,{S1},BTS-MS,MAX,2,2020-04-01\n"
        f"O2,{S2},CAP-RI,YUT,1,2020-05-11\n"
        f"O3,{S2},BTS-MS,YUT,1,2020-05-12\n"
        f"O4,{S1},BTS-MS,MAX,1,2019-12-31\n"
        f"O5,{S2},BTS-MS,YUT,1,2020-02-01\n",
        engine,
    )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,duration_min,status,outcome,contract_signed_on\n"
        "M1,JD,CZ,O5,2020-05-11 14:00,20,held,contract_signed,2020-05-11\n"
        "M2,JD,CB,O1,2020-05-11 09:00,20,planned,none,\n"
        "M3,JD,CD,O2,2020-05-11 09:00,20,cancelled,none,\n",
        engine,
    )
    consents = {
        "CA": (True, False),
        "CB": (True, False),
        "CC": (True, False),
        "CD": (True, True),
        "CE": (True, False),
        "CF": (True, True),
        "CG": (False, False),
        "CH": (True, False),
        "CZ": (True, False),
    }
    for ref, (consent, parent) in consents.items():
        set_presentation_consent(ref=ref, consent=consent, parent_consent=parent, actor="test", engine=engine)


def load_random_job_dating(engine: Engine, seed: int) -> dict[str, list[dict]]:
    """A random job dating JD (11–12 May 2020) of every variant the contract allows for pairing:
    offers without programme or site, a site without department, candidates without postal code
    or with two enrollments (one withdrawn), meetings planned or cancelled on the event's offers.
    Every candidate is an adult who consents and has an active enrollment: all are suggested.
    Returns the rows loaded, for an oracle written from docs/jobdating.md."""
    rng = random.Random(seed)
    sites = [
        {"code": code, "department": department}
        for code, department in (("SA", "54"), ("SB", "57"), ("SC", "54"), ("SD", ""))
    ]
    programs = ["PA", "PB", "PC"]
    companies = [str(digit) * 9 + "000" + str(digit) * 2 for digit in range(1, rng.randint(2, 6))]
    people = [
        {
            "ref": f"C{number:02d}",
            "postal_code": rng.choice(["54000", "57100", "88000", "97110", ""]),
            # (programme, site) → status; a withdrawn one at the same place is not added
            "enrollments": {
                (rng.choice(programs), rng.choice(sites)["code"]): rng.choice(["enrolled", "pre_registered"])
            },
        }
        for number in range(rng.randint(3, 14))
    ]
    for person in people:
        if rng.random() < 0.3:
            person["enrollments"].setdefault((rng.choice(programs), rng.choice(sites)["code"]), "withdrawn")
    offers = [
        {
            "ref": f"O{number:02d}",
            "siret": rng.choice(companies),
            "program_code": rng.choice([*programs, ""]),
            "site_code": rng.choice([*(site["code"] for site in sites), ""]),
            "positions": rng.randint(1, 3),
        }
        for number in range(rng.randint(2, 9))
    ]
    meetings = [
        {
            "candidate_ref": rng.choice(people)["ref"],
            "offer_ref": rng.choice(offers)["ref"],
            "status": rng.choice(["planned", "planned", "cancelled"]),
        }
        for _ in range(rng.randint(0, 8))
    ]
    load(
        "sites",
        "code,name,department\n" + "".join(f"{s['code']},{s['code']},{s['department']}\n" for s in sites),
        engine,
    )
    load(
        "programs",
        "code,name,level,site_code,seats\n"
        + "".join(f"{p},{p},BTS,{s['code']},10\n" for p in programs for s in sites),
        engine,
    )
    load(
        "events", "code,name,kind,starts_on,ends_on\nJD,Job dating,job_dating,2020-05-11,2020-05-12\n", engine
    )
    load(
        "companies", "siret,name\n" + "".join(f"{siret},Entreprise {siret}\n" for siret in companies), engine
    )
    load(
        "candidates",
        "ref,birth_date,postal_code,presentation_consent,created_at\n"
        + "".join(f"{p['ref']},2000-01-01,{p['postal_code']},oui,2020-04-01 10:00\n" for p in people),
        engine,
    )
    load(
        "enrollments",
        "candidate_ref,program_code,site_code,enrolled_at,status\n"
        + "".join(
            f"{p['ref']},{program},{site},2020-04-02 09:00,{status}\n"
            for p in people
            for (program, site), status in p["enrollments"].items()
        ),
        engine,
    )
    load(
        "offers",
        "ref,siret,program_code,site_code,positions,published_on\n"
        + "".join(
            f"{o['ref']},{o['siret']},{o['program_code']},{o['site_code']},{o['positions']},2020-03-01\n"
            for o in offers
        ),
        engine,
    )
    if meetings:
        load(
            "meetings",
            "ref,event_code,candidate_ref,offer_ref,starts_at,duration_min,status\n"
            + "".join(
                f"M{n},JD,{m['candidate_ref']},{m['offer_ref']},2020-05-11 {8 + n:02d}:00,20,{m['status']}\n"
                for n, m in enumerate(meetings)
            ),
            engine,
        )
    return {"sites": sites, "people": people, "offers": offers, "meetings": meetings}

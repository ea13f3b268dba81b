"""Consent to be presented to companies, and the suggested pairs of a job dating, by hand
(the data and the reasoning: tests/pairing_data.py)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from services.access.consent import UnknownCandidates, may_be_presented, set_presentation_consent
from services.jobdating import meeting_builder, plan_preview
from services.jobdating.meeting_builder import choose_pairs
from services.jobdating.pairing import (
    Pairing,
    PairingError,
    department_of,
    job_dating_event,
    seeking_with_consent,
    suggested_pairs,
)
from services.store import database
from services.store.models import AuditEvent, Candidate, Enrollment
from tests.conftest import load
from tests.pairing_data import S1, S2, load_job_dating, load_random_job_dating

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL

DAY = date(2020, 5, 11)


@pytest.mark.parametrize(
    ("consent", "parent", "born", "expected"),
    [
        (True, False, date(2000, 1, 1), True),  # adult, own consent
        (False, True, date(2000, 1, 1), False),  # no own consent: a parent's is not enough
        (True, False, date(2005, 5, 11), True),  # 15 on the very day
        (True, False, date(2005, 5, 12), False),  # 14, 15 the next day: a parent's needed
        (True, True, date(2005, 5, 12), True),
        (True, False, None, False),  # unknown birth date: may be under 15
        (True, True, None, True),
    ],
)
def test_consent_rules(consent, parent, born, expected):
    assert may_be_presented(consent=consent, parent_consent=parent, birth_date=born, day=DAY) is expected


def test_departments_from_postal_codes():
    assert [department_of(code) for code in ("54000", "08000", "97110", "98800", " 57100", "5", None)] == [
        "54",
        "08",
        "971",
        "988",
        "57",
        None,
        None,
    ]


def test_eligible_candidates_follow_the_consent_rules(engine):
    load_job_dating(engine)
    frame = seeking_with_consent(job_dating_event("JD", engine), engine).set_index("candidate_ref")
    # CH (withdrawn) and CZ (contract signed) are not seeking; see tests/pairing_data.py.
    assert list(frame.index) == ["CA", "CB", "CC", "CD", "CE", "CF", "CG"]
    assert frame["eligible"].to_dict() == {
        "CA": True,
        "CB": True,
        "CC": False,
        "CD": True,
        "CE": False,
        "CF": True,
        "CG": False,
    }
    assert frame.loc["CB", "age"] == 15 and frame.loc["CC", "age"] == 14
    assert frame.loc["CF", "department"] == "971"


def test_seekers_of_every_stored_form(engine):
    """``seeking_with_consent`` works age, department and eligibility out once per distinct value,
    and ``consents`` names everyone at once: each form a stored candidate may take, by hand, on
    JD's first day (11 May 2020). Stored as an older import or another client may have left them."""
    load_job_dating(engine)
    people = [
        # ref, first name, last name, birth date, postal code, own consent, parent's consent
        ("D1", "Anaïs", None, None, "08000", True, True),
        ("D2", None, "Roy", None, " 57100", True, False),
        ("D3", "", "", date(2005, 5, 11), "98800", True, False),
        ("D4", "Zoé", "Bas", date(2005, 5, 12), "97", True, False),
        ("D5", "Léo", "Nuñez", date(2005, 5, 12), "5", False, True),
        ("D6", "Max", "Ode", date(1990, 12, 31), None, True, False),
        ("D7", "Max", "Ode", date(1990, 12, 31), "", False, False),
    ]
    with engine.begin() as connection:
        connection.execute(
            sa.insert(Candidate.__table__),
            [
                {
                    "ref": ref,
                    "first_name": first,
                    "last_name": last,
                    "birth_date": born,
                    "postal_code": code,
                    "presentation_consent": own,
                    "parent_presentation_consent": parent,
                    "created_at": datetime(2020, 4, 1, 8, tzinfo=UTC),
                }
                for ref, first, last, born, code, own, parent in people
            ],
        )
        connection.execute(
            sa.insert(Enrollment.__table__),
            [
                {
                    "candidate_ref": ref,
                    "program_code": "BTS-MS",
                    "site_code": "MAX",
                    "enrolled_at": datetime(2020, 4, 2, 7, tzinfo=UTC),
                    "status": "enrolled",
                }
                for ref, *_ in people
            ],
        )
    event = job_dating_event("JD", engine)
    frame = seeking_with_consent(event, engine, with_names=True).set_index("candidate_ref")
    got = frame.loc[[ref for ref, *_ in people]]
    # Ages: 30 - 1 for D6/D7 (31 December not reached by 11 May), 15 for D3 (born 11 May 2005),
    # 14 for D4/D5 (15 the next day), none without a birth date.
    assert [None if pd.isna(age) else int(age) for age in got["age"]] == [None, None, 15, 14, 14, 29, 29]
    # Departments: two first digits, three overseas (97x, 98x), around spaces; "97" has no third
    # digit; "5", empty and missing give none.
    assert [None if pd.isna(code) else code for code in got["department"]] == [
        "08",
        "57",
        "988",
        "97",
        None,
        None,
        None,
    ]
    # Own consent always; a parent's under 15 or without a birth date (D2: own only, no birth
    # date; D4: 14, own only; D5: the parent's only; D7: none).
    assert got["eligible"].tolist() == [True, False, True, False, False, True, False]
    assert got["presentation_consent"].tolist() == [own for *_, own, _ in people]
    assert got["parent_consent"].tolist() == [parent for *_, parent in people]
    # Names as « first last », a missing or empty part left out; by name then ref.
    listed = plan_preview.consents("JD", engine).set_index("candidate_ref").loc[[r for r, *_ in people]]
    assert listed["candidate"].tolist() == ["Anaïs", "Roy", "", "Zoé Bas", "Léo Nuñez", "Max Ode", "Max Ode"]
    order = plan_preview.consents("JD", engine)["candidate_ref"].tolist()
    assert [ref for ref in order if ref.startswith("D")] == ["D3", "D1", "D5", "D6", "D7", "D2", "D4"]
    # The same names one at a time (the page's other lists).
    assert listed["candidate"].tolist() == [
        plan_preview.full_name(first, last) for _, first, last, *_ in people
    ]


def test_setting_consent_is_audited_and_changes_the_data_version(engine):
    load_job_dating(engine)
    before = database.data_version(engine)
    set_presentation_consent(ref="CC", consent=True, parent_consent=True, actor="conseil@x.fr", engine=engine)
    assert database.data_version(engine) == before + 1
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(Candidate.presentation_consent, Candidate.parent_presentation_consent).where(
                Candidate.ref == "CC"
            )
        ).one()
        audit = connection.execute(
            sa.select(AuditEvent.actor, AuditEvent.action, AuditEvent.target, AuditEvent.detail)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).one()
    assert tuple(row) == (True, True)
    assert tuple(audit) == (
        "conseil@x.fr",
        "candidate.presentation_consent",
        "CC",
        "consent=1 parent=1 cancelled=0 via=dashboard",  # no meeting of CC's was cancelled
    )
    with pytest.raises(UnknownCandidates):
        set_presentation_consent(ref="NOBODY", consent=True, parent_consent=False, actor="x", engine=engine)


def test_importing_candidates_again_keeps_their_presentation_consent(engine):
    """The consents are not in the contract: an upsert of candidates.csv writes only its columns."""
    load_job_dating(engine)
    # CA's phone and postal code change, CC is unchanged but given again, CY is new.
    load(
        "candidates",
        "ref,first_name,phone,birth_date,postal_code,marketing_consent,created_at\n"
        "CA,Alice,0600000000,2000-01-01,57000,oui,2020-04-01 10:00\n"
        "CD,David,,2006-01-01,54500,,2020-04-01 10:00\n"
        "CY,Yann,,2000-01-01,54000,,2020-04-01 10:00\n",
        engine,
    )
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                Candidate.ref,
                Candidate.postal_code,
                Candidate.presentation_consent,
                Candidate.parent_presentation_consent,
            ).where(Candidate.ref.in_(["CA", "CD", "CY"]))
        ).all()
    assert sorted(tuple(row) for row in rows) == [
        ("CA", "57000", True, False),
        ("CD", "54500", True, True),
        ("CY", "54000", False, False),
    ]


def test_pairs_ranked_with_their_reasons(engine):
    """Open offers O1 (BTS-MS, MAX, 54, 2 open) and O2 (CAP-RI, YUT, 57, 1 open) × eligible CA, CB,
    CD, CF; (O1, CB) is left out (CB already meets O1). Keys (programme, site, department, open,
    meetings): O1-CA (1,1,1,2,0); O2-CB (1,1,1,1,1); O2-CD (1,1,0,1,0: 54 ≠ 57); O1-CF (1,0,0,2,0);
    O2-CF (0,1,0,1,0: CF is at YUT); O1-CD (0,0,1,2,0: 54500); O2-CA (0,0,0,1,0)."""
    load_job_dating(engine)
    pairs = suggested_pairs("JD", engine)
    assert list(zip(pairs["offer_ref"], pairs["candidate_ref"], strict=True)) == [
        ("O1", "CA"),
        ("O2", "CB"),
        ("O2", "CD"),
        ("O1", "CF"),
        ("O2", "CF"),
        ("O1", "CD"),
        ("O2", "CA"),
    ]
    assert list(pairs["rank"]) == [1, 2, 3, 4, 5, 6, 7]
    assert list(pairs["siret"]) == [S1, S2, S2, S1, S2, S1, S2]
    assert list(pairs["reasons"]) == [
        "même formation, même site, même département (54), 2 postes encore ouverts, aucune rencontre prévue",
        "même formation, même site, même département (57), 1 poste encore ouvert, 1 rencontre déjà prévue",
        "même formation, même site, 1 poste encore ouvert, aucune rencontre prévue",
        "même formation, 2 postes encore ouverts, aucune rencontre prévue",
        "même site, 1 poste encore ouvert, aucune rencontre prévue",
        "même département (54), 2 postes encore ouverts, aucune rencontre prévue",
        "1 poste encore ouvert, aucune rencontre prévue",
    ]


def test_the_reasons_are_written_in_the_page_s_language(engine):
    """The English page reads them in English: the same two first pairs as above, O1-CA
    (1,1,1,2 open,0 meetings) and O2-CB (1,1,1,1 open,1 meeting)."""
    load_job_dating(engine)
    pairs = Pairing("JD", engine, language="en").pairs()
    assert list(pairs["reasons"][:2]) == [
        "same programme, same site, same department (54), 2 positions still open, no meeting planned",
        "same programme, same site, same department (57), 1 position still open, 1 meeting already planned",
    ]


def test_more_open_positions_rank_first_then_fewer_meetings(engine):
    """Two more BTS-MS offers at MAX for CA: O6 with 3 positions ranks above O1 (2), O7 (2) after
    O1 by ref (same keys otherwise)."""
    load_job_dating(engine)
    load(
        "offers",
        f"ref,siret,program_code,site_code,positions,published_on\nO6,{S2},BTS-MS,MAX,3,2020-05-01\n"
        f"O7,{S2},BTS-MS,MAX,2,2020-05-01\n",
        engine,
    )
    pairs = suggested_pairs("JD", engine)
    ca = pairs[pairs["candidate_ref"] == "CA"]
    assert list(ca["offer_ref"])[:3] == ["O6", "O1", "O7"]


def test_only_job_datings_are_paired(engine):
    load_job_dating(engine)
    with pytest.raises(PairingError, match="inconnue : NOPE"):
        suggested_pairs("NOPE", engine)
    with pytest.raises(PairingError, match="pas un job dating"):
        suggested_pairs("POV", engine)


# ---------------------------------------------------------------- each offer's best, at random


def oracle_pairs(data: dict) -> list[tuple]:
    """Every pair of ``load_random_job_dating``'s data, ranked straight from docs/jobdating.md:
    same programme, same site, same department, more positions open, fewer meetings of the
    candidate in the event, then offer ref and candidate ref; pairs with a meeting left out."""
    department = {site["code"]: site["department"] for site in data["sites"]}
    live = [m for m in data["meetings"] if m["status"] != "cancelled"]
    taken = {(m["offer_ref"], m["candidate_ref"]) for m in live}
    rows = []
    for offer in data["offers"]:
        for person in data["people"]:
            if (offer["ref"], person["ref"]) in taken:
                continue
            active = [place for place, status in person["enrollments"].items() if status != "withdrawn"]
            same_program = any(program == offer["program_code"] for program, _ in active)
            same_site = any(site == offer["site_code"] for _, site in active)
            code = person["postal_code"]
            person_department = (code[:3] if code.startswith(("97", "98")) else code[:2]) or None
            same_department = bool(department.get(offer["site_code"])) and (
                department.get(offer["site_code"]) == person_department
            )
            meetings = sum(m["candidate_ref"] == person["ref"] for m in live)
            rows.append(
                (
                    (not same_program, not same_site, not same_department),
                    -offer["positions"],
                    meetings,
                    offer["ref"],
                    person["ref"],
                    offer["siret"],
                )
            )
    return sorted(rows)


@pytest.mark.parametrize("seed", range(12))
def test_each_offers_best_pairs_in_the_order_of_the_whole_list(engine, seed):
    """``Pairing.pairs`` is the oracle's list; ``Pairing.best(k)`` holds each offer's k first
    pairs of it, in its order, and so starts with the oracle's k best; ``rows`` keeps its start."""
    data = load_random_job_dating(engine, seed)
    expected = [row[3:5] for row in oracle_pairs(data)]
    pairing = Pairing("JD", engine)
    whole = pairing.pairs()
    assert list(zip(whole["offer_ref"], whole["candidate_ref"], strict=True)) == expected
    assert pairing.total == len(expected)
    # The page reads the seekers once for its consents and its pairs: the same pairs.
    shared = Pairing("JD", engine, seekers=plan_preview.seekers("JD", engine)).pairs()
    assert shared.astype(object).equals(whole.astype(object))
    for k in (1, 2, 3, 5, 100):
        best = pairing.best(k)
        got = list(zip(best["offer_ref"], best["candidate_ref"], strict=True))
        kept = [pair for pair in expected if [p for p in expected if p[0] == pair[0]].index(pair) < k]
        assert got == kept
        assert got[:k] == expected[:k]
        assert list(best["rank"]) == list(range(1, len(got) + 1))
        for rows in (1, 3, k):  # a page's end: only the first rows, picked without a whole sort
            first = pairing.best(k, rows=rows)
            assert list(zip(first["offer_ref"], first["candidate_ref"], strict=True)) == kept[:rows]
            assert list(first["reasons"]) == list(best["reasons"][:rows])


@pytest.mark.parametrize("seed", range(12))
def test_swaps_read_each_companys_rows_once(engine, seed, monkeypatch):
    """``choose_pairs``'s swaps read each company's rows from where they last stopped: the same
    choice as reading them from the start each time, for capacities and limits drawn at random
    so that companies run short and swap."""
    data = load_random_job_dating(engine, seed)
    rng = random.Random(seed)
    pairs = Pairing("JD", engine).pairs()
    swap = meeting_builder._swap

    def from_the_start(*arguments):
        return swap(*arguments[:-1], {})

    sirets = sorted({offer["siret"] for offer in data["offers"]})
    for _ in range(10):
        choice = {
            "capacity": {siret: rng.randint(0, 6) for siret in sirets},
            "open_positions": {siret: rng.randint(1, 4) for siret in sirets},
            "existing_meetings": {person["ref"]: rng.randint(0, 2) for person in data["people"]},
            "max_per_candidate": rng.randint(1, 3),
        }
        once = choose_pairs(pairs, **choice)
        with monkeypatch.context() as patched:
            patched.setattr(meeting_builder, "_swap", from_the_start)
            assert choose_pairs(pairs, **choice) == once

"""Suggested pairs of a job dating: which seeking candidate to present to which offer, and why
(issue 9, docs/jobdating.md); and the candidates' consent to be presented to companies."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access.consent import may_be_presented
from services.access.privacy import age_on
from services.jobdating.seekers import SEEKING_STATUSES, seeking_candidates
from services.store.database import binary_order, get_engine
from services.store.models import Candidate, Enrollment, Event, Meeting, MeetingChange, Offer, Site
from services.store.scope import Scope

CANDIDATES = Candidate.__table__
ENROLLMENTS = Enrollment.__table__
EVENTS = Event.__table__
MEETINGS = Meeting.__table__
MEETING_CHANGES = MeetingChange.__table__
OFFERS = Offer.__table__
SITES = Site.__table__
PAIR_COLUMNS = [
    "rank",
    "offer_ref",
    "siret",
    "program_code",
    "site_code",
    "candidate_ref",
    "same_program",
    "same_site",
    "same_department",
    "department",
    "open_positions",
    "candidate_meetings",
    "reasons",
]


class PairingError(ValueError):
    """An event that cannot be paired: unknown, or not a job dating (message in French)."""


def job_dating_event(event_code: str, engine: Engine | None = None) -> dict:
    """The event's code, name, kind and days; ``PairingError`` unless it is a job dating."""
    with (engine or get_engine()).connect() as connection:
        row = connection.execute(sa.select(EVENTS).where(EVENTS.c.code == event_code)).mappings().first()
    if row is None:
        raise PairingError(f"opération inconnue : {event_code}")
    if row["kind"] != "job_dating":
        raise PairingError(f"l'opération {event_code} n'est pas un job dating ({row['kind']})")
    return dict(row)


# ---------------------------------------------------------------- consent


def seeking_with_consent(event: dict, engine: Engine | None = None) -> pd.DataFrame:
    """The seeking candidates (metrics.md) with their consents, age on the event's first day,
    department and whether they may be presented; ordered by ref."""
    seeking = seeking_candidates(Scope(event["starts_on"], event["ends_on"])).subquery()
    query = (
        sa.select(
            CANDIDATES.c.ref,
            CANDIDATES.c.birth_date,
            CANDIDATES.c.postal_code,
            CANDIDATES.c.presentation_consent,
            CANDIDATES.c.parent_presentation_consent,
        )
        .where(CANDIDATES.c.ref.in_(sa.select(seeking.c.candidate_ref)))
        .order_by(binary_order(CANDIDATES.c.ref))
    )
    with (engine or get_engine()).connect() as connection:
        # Plain tuples: pandas asks each SQLAlchemy row for attributes it lacks, each miss an
        # exception (2 s for the 21,000 seekers of scale M).
        rows = list(map(tuple, connection.execute(query)))
    frame = pd.DataFrame(
        rows,
        columns=["candidate_ref", "birth_date", "postal_code", "presentation_consent", "parent_consent"],
    )
    day = event["starts_on"]
    frame["age"] = pd.array([age_on(born, day) for born in frame["birth_date"]], dtype="Int64")
    frame["department"] = [department_of(code) for code in frame["postal_code"]]
    frame["eligible"] = [
        may_be_presented(consent=consent, parent_consent=parent, birth_date=born, day=day)
        for consent, parent, born in zip(
            frame["presentation_consent"], frame["parent_consent"], frame["birth_date"], strict=True
        )
    ]
    return frame.drop(columns=["birth_date", "postal_code"])


def department_of(postal_code: str | None) -> str | None:
    """A French postal code's department: its first two digits, three overseas (97x, 98x)."""
    if postal_code is None or pd.isna(postal_code):
        return None
    code = str(postal_code).strip()
    if len(code) < 2:
        return None
    return code[:3] if code.startswith(("97", "98")) and len(code) >= 3 else code[:2]


# ---------------------------------------------------------------- pairs


def open_offers(event: dict, engine: Engine | None = None) -> pd.DataFrame:
    """Offers published in the event's year up to its first day with positions still open
    (positions minus contracts signed on them), with their site's department; by ref."""
    signed = (
        sa.select(sa.func.count())
        .where(MEETINGS.c.offer_ref == OFFERS.c.ref, MEETINGS.c.outcome == "contract_signed")
        .scalar_subquery()
    )
    open_positions = (OFFERS.c.positions - signed).label("open_positions")
    query = (
        sa.select(
            OFFERS.c.ref,
            OFFERS.c.siret,
            OFFERS.c.program_code,
            OFFERS.c.site_code,
            SITES.c.department,
            open_positions,
        )
        .select_from(OFFERS.outerjoin(SITES, SITES.c.code == OFFERS.c.site_code))
        .where(
            OFFERS.c.published_on >= date(event["starts_on"].year, 1, 1),
            OFFERS.c.published_on <= event["starts_on"],
            open_positions > 0,
        )
        .order_by(binary_order(OFFERS.c.ref))
    )
    with (engine or get_engine()).connect() as connection:
        rows = list(map(tuple, connection.execute(query)))  # plain tuples, as above
    frame = pd.DataFrame(
        rows, columns=["offer_ref", "siret", "program_code", "site_code", "department", "open_positions"]
    )
    frame["department"] = [None if pd.isna(value) else str(value).strip() for value in frame["department"]]
    return frame


def suggested_pairs(event_code: str, engine: Engine | None = None) -> pd.DataFrame:
    """Every offer × eligible seeking candidate pair of a job dating, best first, with reasons.

    Order: same programme, same site, same department, more positions still open, fewer
    meetings of the candidate in the event, then offer and candidate refs. A pair whose
    candidate already has a non-cancelled meeting on that offer in the event is left out.
    """
    engine = engine or get_engine()
    event = job_dating_event(event_code, engine)
    offers = open_offers(event, engine).reset_index(drop=True)
    people = seeking_with_consent(event, engine)
    people = people[people["eligible"]].reset_index(drop=True)
    with engine.connect() as connection:
        enrolled = list(
            map(
                tuple,
                connection.execute(
                    sa.select(
                        ENROLLMENTS.c.candidate_ref, ENROLLMENTS.c.program_code, ENROLLMENTS.c.site_code
                    ).where(ENROLLMENTS.c.status.in_(SEEKING_STATUSES))
                ),
            )
        )
        met = list(
            map(
                tuple,
                connection.execute(
                    sa.select(MEETINGS.c.candidate_ref, MEETINGS.c.offer_ref).where(
                        MEETINGS.c.event_code == event_code, MEETINGS.c.status != "cancelled"
                    )
                ),
            )
        )
    if offers.empty or people.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    n_offers, n_people = len(offers), len(people)
    person_at = pd.Series(np.arange(n_people), index=people["candidate_ref"])
    offer_at = pd.Series(np.arange(n_offers), index=offers["offer_ref"])
    enrolled = pd.DataFrame(enrolled, columns=["candidate_ref", "program_code", "site_code"])
    enrolled = enrolled[enrolled["candidate_ref"].isin(person_at.index)]
    met = pd.DataFrame(met, columns=["candidate_ref", "offer_ref"])
    meetings_of = (
        met["candidate_ref"].value_counts().reindex(people["candidate_ref"], fill_value=0).to_numpy()
    )
    met = met[met["candidate_ref"].isin(person_at.index) & met["offer_ref"].isin(offer_at.index)]

    # Every pair as two index arrays; matches are membership tests of integer keys (no loop).
    o = np.repeat(np.arange(n_offers), n_people)
    c = np.tile(np.arange(n_people), n_offers)
    same_program = _shared(offers["program_code"], enrolled, "program_code", person_at, o, c)
    same_site = _shared(offers["site_code"], enrolled, "site_code", person_at, o, c)
    departments = pd.concat([offers["department"], people["department"]]).astype(object)
    department_codes, department_names = pd.factorize(departments, use_na_sentinel=True)
    offer_department, person_department = department_codes[:n_offers], department_codes[n_offers:]
    same_department = (offer_department[o] == person_department[c]) & (offer_department[o] >= 0)
    taken = np.isin(
        o * n_people + c,
        offer_at[met["offer_ref"]].to_numpy() * n_people + person_at[met["candidate_ref"]].to_numpy(),
    )
    keep = ~taken
    o, c = o[keep], c[keep]
    same_program, same_site, same_department = same_program[keep], same_site[keep], same_department[keep]
    if not len(o):  # every pair has its meeting already
        return pd.DataFrame(columns=PAIR_COLUMNS)
    open_positions = offers["open_positions"].to_numpy(dtype=np.int64)[o]
    meetings = meetings_of[c]
    # Refs come in code-point order (binary_order), so the indices break ties by ref.
    order = np.lexsort((c, o, meetings, -open_positions, ~same_department, ~same_site, ~same_program))
    o, c = o[order], c[order]
    same_program, same_site, same_department = same_program[order], same_site[order], same_department[order]
    open_positions, meetings = open_positions[order], meetings[order]
    # Text columns as categories taken by position: building 500 000 strings costs most of a second.
    pairs = pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            "offer_ref": _taken(offers["offer_ref"], o),
            "siret": _taken(offers["siret"], o),
            "program_code": _taken(offers["program_code"], o),
            "site_code": _taken(offers["site_code"], o),
            "candidate_ref": _taken(people["candidate_ref"], c),
            "same_program": same_program,
            "same_site": same_site,
            "same_department": same_department,
            "department": _taken(people["department"], c),
            "open_positions": open_positions,
            "candidate_meetings": meetings,
        }
    )
    # The reasons depend on few distinct combinations: each is written once, then taken by code.
    shown_department = np.where(same_department, person_department[c], -1)
    # One integer per combination (mixed radix), factorized by hashing: no sort of 500 000 rows.
    radices = (len(department_names) + 1, int(open_positions.max()) + 1, int(meetings.max()) + 1)
    key = (same_program.astype(np.int64) * 2 + same_site) * 2 + same_department
    for values, radix in zip((shown_department + 1, open_positions, meetings), radices, strict=True):
        key = key * radix + values
    codes, distinct = pd.factorize(key)
    combos = [_unmix(int(value), *radices) for value in distinct]
    texts = [
        _reason_text(bool(p), bool(s), bool(d), department_names[k] if k >= 0 else "", int(n), int(m))
        for p, s, d, k, n, m in combos
    ]
    text_codes, distinct_texts = pd.factorize(np.array(texts, dtype=object))
    pairs["reasons"] = pd.Categorical.from_codes(text_codes[codes], categories=distinct_texts)
    return pairs


def _unmix(key: int, departments: int, positions: int, meetings: int) -> tuple[int, ...]:
    """The combination of a mixed-radix key: programme, site, department, its code + 1, open, meetings."""
    key, meeting_count = divmod(key, meetings)
    key, open_count = divmod(key, positions)
    key, department = divmod(key, departments)
    key, same_department = divmod(key, 2)
    same_program, same_site = divmod(key, 2)
    return same_program, same_site, same_department, department - 1, open_count, meeting_count


def _taken(values: pd.Series, at: np.ndarray) -> pd.Categorical:
    """``values`` at positions ``at``, as a categorical column (missing values stay missing)."""
    categories = pd.Categorical(values.astype(object))
    return pd.Categorical.from_codes(categories.codes[at], categories=categories.categories)


def _shared(
    offer_values: pd.Series,
    enrolled: pd.DataFrame,
    column: str,
    person_at: pd.Series,
    o: np.ndarray,
    c: np.ndarray,
) -> np.ndarray:
    """For each pair, whether one of the candidate's active enrollments has the offer's value."""
    codes, uniques = pd.factorize(pd.concat([offer_values, enrolled[column]]).astype(object))
    width = len(uniques) + 1
    offer_codes = codes[: len(offer_values)]
    enrolled_codes = codes[len(offer_values) :]
    known = enrolled_codes >= 0
    keys = person_at[enrolled["candidate_ref"]].to_numpy()[known] * width + enrolled_codes[known]
    return (offer_codes[o] >= 0) & np.isin(c * width + offer_codes[o], keys)


def _reason_text(
    same_program: bool,
    same_site: bool,
    same_department: bool,
    department: str,
    open_positions: int,
    meetings: int,
) -> str:
    parts = []
    if same_program:
        parts.append("même formation")
    if same_site:
        parts.append("même site")
    if same_department:
        parts.append(f"même département ({department})")
    if open_positions == 1:
        parts.append("1 poste encore ouvert")
    else:
        parts.append(f"{open_positions} postes encore ouverts")
    if meetings == 0:
        parts.append("aucune rencontre prévue")
    elif meetings == 1:
        parts.append("1 rencontre déjà prévue")
    else:
        parts.append(f"{meetings} rencontres déjà prévues")
    return ", ".join(parts)

"""Suggested pairs of a job dating: which seeking candidate to present to which offer, and why
(issue 9, docs/jobdating.md); and the candidates' consent to be presented to companies."""

from __future__ import annotations

import math
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


def seeking_with_consent(
    event: dict, engine: Engine | None = None, *, with_names: bool = False
) -> pd.DataFrame:
    """The seeking candidates (metrics.md) with their consents, age on the event's first day,
    department and whether they may be presented (and their first and last names if
    ``with_names``); ordered by ref."""
    seeking = seeking_candidates(Scope(event["starts_on"], event["ends_on"])).subquery()
    names = [CANDIDATES.c.first_name, CANDIDATES.c.last_name] if with_names else []
    query = (
        sa.select(
            CANDIDATES.c.ref,
            CANDIDATES.c.birth_date,
            CANDIDATES.c.postal_code,
            CANDIDATES.c.presentation_consent,
            CANDIDATES.c.parent_presentation_consent,
            *names,
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
        columns=[
            "candidate_ref",
            "birth_date",
            "postal_code",
            "presentation_consent",
            "parent_consent",
            *(column.name for column in names),
        ],
    )
    day = event["starts_on"]
    # Each distinct value once (tens of thousands of candidates, a few thousand birth dates).
    births = frame["birth_date"].astype(object).where(frame["birth_date"].notna(), None)
    ages = {born: age_on(born, day) for born in set(births)}
    frame["age"] = pd.array(births.map(ages), dtype="Int64")
    postal_codes = frame["postal_code"].astype(object)
    frame["department"] = postal_codes.map({code: department_of(code) for code in set(postal_codes)})
    answers = list(
        zip(
            frame["presentation_consent"].astype(bool),
            frame["parent_consent"].astype(bool),
            births,
            strict=True,
        )
    )
    eligible = {
        answer: may_be_presented(consent=answer[0], parent_consent=answer[1], birth_date=answer[2], day=day)
        for answer in set(answers)
    }
    frame["eligible"] = [eligible[answer] for answer in answers]
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


#: Rows of the ``(offers, candidates)`` score matrix computed at once by ``Pairing.best``.
_CHUNK_CELLS = 4_000_000


class Pairing:
    """A job dating's open offers and the seeking candidates who may be presented, read once,
    and the pairs they make: all of them (``pairs``) or each offer's best (``best``).

    ``siret`` keeps that company's offers only; ``seekers``, the event's
    ``seeking_with_consent`` already read (in its order, by ref). ``PairingError`` for an
    unknown event or one that is no job dating.
    """

    def __init__(
        self,
        event_code: str,
        engine: Engine | None = None,
        *,
        siret: str | None = None,
        seekers: pd.DataFrame | None = None,
    ) -> None:
        engine = engine or get_engine()
        event = job_dating_event(event_code, engine)
        offers = open_offers(event, engine)
        people = seeking_with_consent(event, engine) if seekers is None else seekers
        people = people[people["eligible"]]
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
        # Python strings (object): pandas' Arrow strings test membership forty times slower.
        met = pd.DataFrame(met, columns=["candidate_ref", "offer_ref"], dtype=object)
        # A candidate's meetings in the event count all of them, whatever is kept below.
        meetings_of = met["candidate_ref"].value_counts()
        if siret is not None:
            offers = offers[offers["siret"] == siret]
        self.offers = offers.reset_index(drop=True)
        self.people = people.reset_index(drop=True)
        self.n_offers, self.n_people = len(self.offers), len(self.people)
        self.person_at = pd.Series(
            np.arange(self.n_people), index=self.people["candidate_ref"].astype(object)
        )
        self.offer_at = pd.Series(np.arange(self.n_offers), index=self.offers["offer_ref"].astype(object))
        enrolled = pd.DataFrame(
            enrolled, columns=["candidate_ref", "program_code", "site_code"], dtype=object
        )
        self.enrolled = enrolled[enrolled["candidate_ref"].isin(self.person_at.index)]
        self.meetings = meetings_of.reindex(self.people["candidate_ref"], fill_value=0).to_numpy()
        met = met[
            met["candidate_ref"].isin(self.person_at.index) & met["offer_ref"].isin(self.offer_at.index)
        ]
        #: The pairs left out (a meeting already), as ``offer × n_people + candidate``, each once.
        self.taken = np.unique(
            self.offer_at[met["offer_ref"]].to_numpy() * self.n_people
            + self.person_at[met["candidate_ref"]].to_numpy()
        )
        departments = pd.concat([self.offers["department"], self.people["department"]]).astype(object)
        codes, self.department_names = pd.factorize(departments, use_na_sentinel=True)
        self.offer_department, self.person_department = codes[: self.n_offers], codes[self.n_offers :]

    @property
    def total(self) -> int:
        """How many pairs the whole list has."""
        return self.n_offers * self.n_people - len(self.taken)

    def pairs(self) -> pd.DataFrame:
        """Every pair, best first, with its reasons (``PAIR_COLUMNS``; ``rank`` from 1)."""
        return self.best(self.n_people)

    def best(self, per_offer: int, rows: int | None = None) -> pd.DataFrame:
        """Each offer's ``per_offer`` best pairs, in the order of the whole list, with their
        reasons (``PAIR_COLUMNS``; ``rank``: the place in this list); only its first ``rows``
        if given (a page of the whole list: ``best(end, rows=end)``).

        Its first ``per_offer`` rows are those of the whole list: each offer's share of them is
        among its ``per_offer`` best. Offers that draw the same candidates (same programme, site
        and department) are scored together, ``(offers, candidates)`` in chunks: no list of
        every pair is built.
        """
        return self._frame(*self._best_indices(per_offer), rows=rows)

    def _best_indices(self, per_offer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Offer and candidate positions of each offer's ``per_offer`` best pairs with their tier
        (0 best … 7: not the same programme 4, not the same site 2, not the same department 1)."""
        n = self.n_people
        if not self.n_offers or not n:
            empty = np.empty(0, np.int64)
            return empty, empty, empty
        taken_offer = self.taken // n
        # Within an offer the order is the tier, then the candidate's meetings and ref: a score
        # of tier × n + the candidate's place by meetings then ref.
        place = np.empty(n, np.int64)
        place[np.lexsort((np.arange(n), self.meetings))] = np.arange(n)
        # Offers of the same programme, site and department draw the same candidates.
        groups, group_keys = pd.factorize(
            pd.MultiIndex.from_arrays(
                [
                    self.offers["program_code"].astype(object),
                    self.offers["site_code"].astype(object),
                    self.offer_department,
                ]
            )
        )
        enrolled_people = self.person_at[self.enrolled["candidate_ref"]].to_numpy()
        people_of = {  # a programme's (a site's) candidates: an active enrollment there
            column: dict(list(pd.Series(enrolled_people).groupby(self.enrolled[column].to_numpy())))
            for column in ("program_code", "site_code")
        }
        taken_of = dict(list(pd.Series(self.taken).groupby(taken_offer)))
        offers_of = dict(list(pd.Series(np.arange(self.n_offers)).groupby(groups)))
        found_o, found_c, found_tier = [], [], []
        rows = max(1, _CHUNK_CELLS // n)
        for first in range(0, len(group_keys), rows):
            chunk = group_keys[first : first + rows]
            department = np.array([key[2] for key in chunk])
            tier = 7 - ((self.person_department[None, :] == department[:, None]) & (department[:, None] >= 0))
            for row, (program, site, _) in enumerate(chunk):
                for weight, column, value in ((4, "program_code", program), (2, "site_code", site)):
                    if value in people_of[column]:
                        tier[row, people_of[column][value].to_numpy()] -= weight
            score = tier * n + place[None, :]
            for row in range(len(chunk)):
                members = offers_of[first + row].to_numpy()
                most_taken = max(len(taken_of[o]) if o in taken_of else 0 for o in members)
                depth = min(n, per_offer + most_taken)
                best = np.argpartition(score[row], depth - 1)[:depth] if depth < n else np.arange(n)
                best = best[np.argsort(score[row][best], kind="stable")]
                for offer in members:
                    keep = best
                    if offer in taken_of:
                        keep = best[~np.isin(offer * n + best, taken_of[offer].to_numpy())]
                    keep = keep[:per_offer]
                    found_o.append(np.full(len(keep), offer, np.int64))
                    found_c.append(keep)
                    found_tier.append(tier[row][keep])
        return np.concatenate(found_o), np.concatenate(found_c), np.concatenate(found_tier)

    def _frame(self, o: np.ndarray, c: np.ndarray, tier: np.ndarray, rows: int | None = None) -> pd.DataFrame:
        """The pairs ``(o[i], c[i])`` of tiers ``tier[i]`` as rows, best first, with their
        reasons; the first ``rows`` only if given."""
        if not len(o):
            return pd.DataFrame(columns=PAIR_COLUMNS)
        offers, people = self.offers, self.people
        open_positions = offers["open_positions"].to_numpy(dtype=np.int64)[o]
        meetings = self.meetings[c]
        if rows is not None and rows < len(o):
            # The first rows picked without sorting them all (a deep page of a network: 10
            # million pairs), by the order below packed in one integer when it fits.
            radices = [
                8,
                int(np.ptp(open_positions)) + 1,
                int(meetings.max()) + 1,
                self.n_offers,
                self.n_people,
            ]
            if math.prod(radices) < 2**62:
                key = tier.astype(np.int64)
                for values, radix in zip(
                    (open_positions.max() - open_positions, meetings, o, c), radices[1:], strict=True
                ):
                    key = key * radix + values
                first = np.argpartition(key, rows - 1)[:rows]
                o, c, tier, open_positions, meetings = (
                    o[first],
                    c[first],
                    tier[first],
                    open_positions[first],
                    meetings[first],
                )
        same_program, same_site, same_department = tier < 4, tier % 4 < 2, tier % 2 == 0
        person_department = self.person_department
        # Refs come in code-point order (binary_order), so the indices break ties by ref.
        order = np.lexsort((c, o, meetings, -open_positions, tier))[:rows]
        o, c = o[order], c[order]
        same_program, same_site, same_department = (
            same_program[order],
            same_site[order],
            same_department[order],
        )
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
        department_names = self.department_names
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


def suggested_pairs(event_code: str, engine: Engine | None = None) -> pd.DataFrame:
    """Every offer × eligible seeking candidate pair of a job dating, best first, with reasons.

    Order: same programme, same site, same department, more positions still open, fewer
    meetings of the candidate in the event, then offer and candidate refs. A pair whose
    candidate already has a non-cancelled meeting on that offer in the event is left out.
    A network has millions: ``Pairing(...).best`` gives each offer's best only.
    """
    return Pairing(event_code, engine).pairs()


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

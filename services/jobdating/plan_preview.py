"""The advisors' job-dating planning page, without Streamlit: the suggested pairs as shown, a
schedule built from the pairs an advisor chose, and that preview's meetings moved or removed with
the builder's own clash checks before ``meeting_plan.save_plan`` writes them (issue 9)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ
from services.i18n import DEFAULT_LANGUAGE, format_datetime, reading_order
from services.jobdating.meeting_builder import (
    Busy,
    Pair,
    PlanInfeasible,
    PlannedMeeting,
    Problem,
    free_slots,
    plan_meetings,
)
from services.jobdating.meeting_plan import company_windows, stored_busy
from services.jobdating.pairing import Pairing, job_dating_event, open_offers, seeking_with_consent
from services.store.database import get_engine
from services.store.models import Candidate, Company, Offer

CANDIDATES = Candidate.__table__
COMPANIES = Company.__table__
OFFERS = Offer.__table__
#: The page lists the suggested pairs this many at a time.
PAGE_SIZE = 100
#: The pairs of all companies are paged this far (a network has millions: choose a company).
MAX_PAGES = 10
PAIR_COLUMNS = [
    "rank",
    "company",
    "offer_ref",
    "program_code",
    "site_code",
    "candidate",
    "candidate_ref",
    "reasons",
    "siret",
]
PREVIEW_COLUMNS = [
    "starts_at",
    "ends_at",
    "company",
    "offer_ref",
    "program_code",
    "candidate",
    "candidate_ref",
    "siret",
]


def job_dating_events(events: pd.DataFrame) -> pd.DataFrame:
    """The job-dating events of ``events.list_events`` (latest first), indexed by code."""
    return events[events["kind"] == "job_dating"].set_index("code")


def full_name(first: object, last: object) -> str:
    """« First Last », leaving out a missing part."""
    return " ".join(part for part in (first, last) if isinstance(part, str) and part)


def full_names(first: pd.Series, last: pd.Series) -> pd.Series:
    """``full_name`` of each row of two text columns (text or missing), at once: a network's
    216,000 seekers one at a time took 0.6 s."""
    first, last = (part.astype("str").fillna("") for part in (first, last))
    return (first + " " + last).where((first != "") & (last != ""), first + last)


def names(
    sirets: Sequence[str], candidate_refs: Sequence[str], engine: Engine | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Company names by siret and candidates' « first last » names by ref."""
    with (engine or get_engine()).connect() as connection:
        companies = dict(
            connection.execute(
                sa.select(COMPANIES.c.siret, COMPANIES.c.name).where(COMPANIES.c.siret.in_(set(sirets)))
            ).all()
        )
        people = {
            ref: full_name(first, last)
            for ref, first, last in connection.execute(
                sa.select(CANDIDATES.c.ref, CANDIDATES.c.first_name, CANDIDATES.c.last_name).where(
                    CANDIDATES.c.ref.in_(set(candidate_refs))
                )
            )
        }
    return companies, people


def pairs_shown(
    event_code: str,
    page: int = 1,
    siret: str | None = None,
    engine: Engine | None = None,
    seekers: pd.DataFrame | None = None,
    language: str = DEFAULT_LANGUAGE,
) -> tuple[pd.DataFrame, int]:
    """Page ``page`` (from 1, ``PAGE_SIZE`` rows) of the suggested pairs, best first, of every
    company or of one (``siret``), with company and candidate names (``PAIR_COLUMNS``; ``rank``
    is the place in that list), and how many pairs the list has in all. Only each offer's best
    pairs down to that page are built (``Pairing.best``); ``seekers`` as ``seekers`` gives them,
    if already read; the reasons in ``language``. ``PairingError`` for an event that is no job dating."""
    pairing = Pairing(event_code, engine, siret=siret, seekers=seekers, language=language)
    end = page * PAGE_SIZE
    best = pairing.best(end, rows=end).iloc[end - PAGE_SIZE : end]
    best = best.astype({column: object for column in PAIR_COLUMNS if column in best.columns} | {"rank": int})
    companies, people = names(best["siret"].tolist(), best["candidate_ref"].tolist(), engine)
    shown = best.assign(
        company=best["siret"].map(companies).fillna(best["siret"]),
        candidate=best["candidate_ref"].map(people).fillna(""),
    )
    return shown.reindex(columns=PAIR_COLUMNS).reset_index(drop=True), pairing.total


def page_count(total: int, siret: str | None) -> int:
    """How many pages of pairs may be shown: all of a company's, the first ``MAX_PAGES`` of all."""
    pages = max(1, -(-total // PAGE_SIZE))
    return pages if siret is not None else min(pages, MAX_PAGES)


def offering_companies(event_code: str, engine: Engine | None = None) -> dict[str, str]:
    """The companies with an offer open for the job dating: siret → name, by name."""
    sirets = open_offers(job_dating_event(event_code, engine), engine)["siret"].unique().tolist()
    companies, _ = names(sirets, [], engine)
    named = ((siret, companies.get(siret, siret)) for siret in sirets)
    return dict(sorted(named, key=lambda item: (reading_order(item[1]), item[0])))


def chosen_pairs(shown: pd.DataFrame, rows: Sequence[int]) -> list[Pair]:
    """The pairs of the rows an advisor selected in ``pairs_shown``'s table (positions)."""
    picked = shown.iloc[sorted(set(rows))]
    return [
        Pair(str(offer), str(siret), str(candidate))
        for offer, siret, candidate in zip(
            picked["offer_ref"], picked["siret"], picked["candidate_ref"], strict=True
        )
    ]


def _stored(event: dict, engine: Engine | None) -> tuple[list[Busy], list[Busy], Counter[str]]:
    """Who is busy when and each candidate's meetings in the event (``meeting_plan.stored_busy``)."""
    with (engine or get_engine()).connect() as connection:
        return stored_busy(connection, event)


def build_plan(
    event_code: str, pairs: Sequence[Pair], *, max_per_candidate: int, engine: Engine | None = None
) -> list[PlannedMeeting]:
    """A time for every chosen pair in the companies' windows, around the meetings already stored
    (``meeting_builder.plan_meetings``); ``PlanInfeasible`` with every reason, never half a plan."""
    event = job_dating_event(event_code, engine)
    if not pairs:
        raise PlanInfeasible([Problem("opération", event_code, "aucune paire choisie")])
    windows = company_windows(event, {pair.siret for pair in pairs}, engine)
    busy_candidates, busy_companies, existing = _stored(event, engine)
    return plan_meetings(
        pairs=pairs,
        windows=windows,
        busy_candidates=busy_candidates,
        busy_companies=busy_companies,
        existing_meetings=existing,
        max_per_candidate=max_per_candidate,
    )


def _overlaps(start: datetime, end: datetime, others: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in others)


def move_options(
    event_code: str, plan: Sequence[PlannedMeeting], index: int, engine: Engine | None = None
) -> list[tuple[datetime, datetime]]:
    """Where the plan's meeting ``index`` may move: its company's free slots (its windows, less
    its stored meetings and the plan's others) where its candidate is free too, its own excepted."""
    meeting = plan[index]
    event = job_dating_event(event_code, engine)
    others = [other for at, other in enumerate(plan) if at != index]
    busy_candidates, busy_companies, _ = _stored(event, engine)
    busy_companies += [Busy(other.siret, other.starts_at, other.ends_at) for other in others]
    company_free = free_slots(company_windows(event, [meeting.siret], engine), busy_companies)
    candidate_busy = [
        (busy.starts_at, busy.ends_at) for busy in busy_candidates if busy.who == meeting.candidate_ref
    ] + [(other.starts_at, other.ends_at) for other in others if other.candidate_ref == meeting.candidate_ref]
    return [
        (start, end)
        for start, end in company_free.get(meeting.siret, [])
        if start != meeting.starts_at and not _overlaps(start, end, candidate_busy)
    ]


def move_meeting(
    event_code: str,
    plan: Sequence[PlannedMeeting],
    index: int,
    starts_at: datetime,
    engine: Engine | None = None,
) -> list[PlannedMeeting]:
    """The plan with meeting ``index`` moved to the free slot starting at ``starts_at``;
    ``PlanInfeasible`` when that slot is not free for both the company and the candidate."""
    meeting = plan[index]
    slot = next(
        (slot for slot in move_options(event_code, plan, index, engine) if slot[0] == starts_at), None
    )
    if slot is None:
        when = format_datetime(starts_at.astimezone(LOCAL_TZ))
        raise PlanInfeasible(
            [
                Problem(
                    "paire",
                    f"{meeting.offer_ref}/{meeting.candidate_ref}",
                    f"le créneau du {when} n'est pas libre pour l'entreprise et le candidat",
                )
            ]
        )
    moved = replace(meeting, starts_at=slot[0], duration_min=int((slot[1] - slot[0]).total_seconds() // 60))
    changed = [*plan[:index], moved, *plan[index + 1 :]]
    return sorted(changed, key=lambda item: (item.starts_at, item.siret, item.candidate_ref))


def remove_meeting(plan: Sequence[PlannedMeeting], index: int) -> list[PlannedMeeting]:
    """The plan without its meeting ``index``."""
    return [meeting for at, meeting in enumerate(plan) if at != index]


def preview_frame(plan: Sequence[PlannedMeeting], engine: Engine | None = None) -> pd.DataFrame:
    """The plan as a table (``PREVIEW_COLUMNS``, Paris time), in the plan's order, with names."""
    companies, people = names(
        [meeting.siret for meeting in plan], [meeting.candidate_ref for meeting in plan], engine
    )
    with (engine or get_engine()).connect() as connection:
        programmes = dict(
            connection.execute(
                sa.select(OFFERS.c.ref, OFFERS.c.program_code).where(
                    OFFERS.c.ref.in_({meeting.offer_ref for meeting in plan})
                )
            ).all()
        )
    rows = [
        {
            "starts_at": pd.Timestamp(meeting.starts_at).tz_convert(LOCAL_TZ),
            "ends_at": pd.Timestamp(meeting.ends_at).tz_convert(LOCAL_TZ),
            "company": companies.get(meeting.siret, meeting.siret),
            "offer_ref": meeting.offer_ref,
            "program_code": programmes.get(meeting.offer_ref),
            "candidate": people.get(meeting.candidate_ref, meeting.candidate_ref),
            "candidate_ref": meeting.candidate_ref,
            "siret": meeting.siret,
        }
        for meeting in plan
    ]
    return pd.DataFrame(rows, columns=PREVIEW_COLUMNS)


def timeline_rows(preview: pd.DataFrame, by: str) -> pd.DataFrame:
    """The preview as ``charts.timeline_figure`` draws a schedule: one row per company
    (``by="company"``) or per candidate, the other side in the hover, every meeting « planned »."""
    other = "candidate" if by == "company" else "company"
    label = preview[by] if by == "company" else preview["candidate"] + " (" + preview["candidate_ref"] + ")"
    return pd.DataFrame(
        {
            "ref": preview.index.astype(str),
            "status": "booked",
            "starts_at": preview["starts_at"],
            "ends_at": preview["ends_at"],
            "advisor_label": label,
            "advisor_email": None,
            "candidate": preview[other],
            "program_code": preview["program_code"].fillna(""),
        }
    )


def sent_schedule(schedule: pd.DataFrame) -> pd.DataFrame:
    """A company's or candidate's schedule (``meetings.company_schedule`` / ``candidate_schedule``)
    as a spreadsheet holds it: Paris time without offset (Excel has no time zones)."""
    return schedule.assign(
        starts_at=schedule["starts_at"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None),
        ends_at=schedule["ends_at"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None),
    )


#: The saved meetings as the planning page lists them (the video link shown to the advisor).
MEETING_LIST_COLUMNS = [
    "starts_at",
    "company",
    "candidate",
    "status",
    "outcome",
    "contract_signed_on",
    "meeting_url",
    "program",
    "ref",
]


def meeting_list(
    saved: pd.DataFrame, status_names: dict[str, str], outcome_names: dict[str, str]
) -> pd.DataFrame:
    """An event's meetings (``meetings.event_meetings``) as listed: Paris time, the candidate's
    full name, status and outcome in words (``MEETING_LIST_COLUMNS``)."""
    candidate = saved["first_name"].fillna("") + " " + saved["last_name"].fillna("")
    return saved.assign(
        starts_at=saved["starts_at"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None),
        candidate=candidate.str.strip(),
        status=saved["status"].map(status_names),
        outcome=saved["outcome"].map(outcome_names),
        program=saved["program"].fillna(saved["program_code"]),
        # A date (written in the reader's language by the page, a date in Excel), None without.
        contract_signed_on=[
            None if day is None or pd.isna(day) else pd.Timestamp(day).date()
            for day in saved["contract_signed_on"]
        ],
        meeting_url=saved["meeting_url"].fillna(""),
    )[MEETING_LIST_COLUMNS]


def contract_date(value: object) -> date | None:
    """A stored contract date as a date input takes it (none when missing)."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def companies_met(saved: pd.DataFrame) -> dict[str, str]:
    """The companies of an event's meetings: siret → name, by name."""
    pairs = saved[["siret", "company"]].drop_duplicates()
    named = zip(pairs["siret"], pairs["company"], strict=True)
    return dict(sorted(named, key=lambda item: (reading_order(item[1]), item[0])))


def candidates_met(saved: pd.DataFrame) -> dict[str, str]:
    """The candidates of an event's meetings: ref → « first last (ref) », by name."""
    people = saved[["candidate_ref", "first_name", "last_name"]].drop_duplicates("candidate_ref")
    labels = (
        people["first_name"].fillna("")
        + " "
        + people["last_name"].fillna("")
        + " ("
        + people["candidate_ref"]
        + ")"
    ).str.strip()
    return dict(
        sorted(zip(people["candidate_ref"], labels, strict=True), key=lambda item: reading_order(item[1]))
    )


#: The consent section lists this many candidates at most (a network has 200,000): a search
#: narrows them down.
CANDIDATES_LISTED = 200


def matching(people: pd.DataFrame, search: str) -> list[str]:
    """The refs of ``people`` (``consents``, indexed by ref, in its order) whose name or ref
    holds ``search``, accents and case aside; all of them for an empty search."""
    wanted = reading_order(search.strip())[0]
    if not wanted:
        return people.index.tolist()
    return [
        ref
        for ref, name in zip(people.index, people["candidate"], strict=True)
        if wanted in reading_order(f"{name} {ref}")[0]
    ]


def seekers(event_code: str, engine: Engine | None = None) -> pd.DataFrame:
    """The job dating's seeking candidates with their consents and names, by ref
    (``pairing.seeking_with_consent``): read once for the page's consents and its pairs."""
    return seeking_with_consent(job_dating_event(event_code, engine), engine, with_names=True)


def consents(
    event_code: str, engine: Engine | None = None, people: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The job dating's seeking candidates with their name, age on its first day, consents and
    whether they may be presented, by name; ``people`` as ``seekers`` gives them, if already read."""
    people = seekers(event_code, engine) if people is None else people
    named = people.assign(candidate=full_names(people["first_name"], people["last_name"]))
    ordered = named.sort_values(["candidate", "candidate_ref"]).reset_index(drop=True)
    # Refs as Python strings (object): the page's index, looked up one ref at a time.
    return ordered[
        ["candidate_ref", "candidate", "age", "presentation_consent", "parent_consent", "eligible"]
    ].astype({"candidate_ref": object})

"""The schedule of a job dating in the store (issue 9, docs/jobdating.md): the companies' time
windows, ``plan_event`` reading the builder's inputs (``meeting_builder``) from the store, and
``save_plan`` writing a plan, all or nothing.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access.consent import may_be_presented
from services.config import LOCAL_TZ
from services.i18n import format_date, format_datetime
from services.jobdating.meeting_builder import (
    DEFAULT_MAX_PER_CANDIDATE,
    DEFAULT_MEETING_MIN,
    Busy,
    PlanInfeasible,
    PlannedMeeting,
    Problem,
    Window,
    choose_pairs,
    free_slots,
    overlapping,
    overlaps,
    plan_meetings,
)
from services.jobdating.meetings import MEETING_WRITES
from services.jobdating.pairing import Pairing, job_dating_event
from services.store import audit
from services.store.database import bump_data_version, get_engine, retry_write, take_turn
from services.store.models import Candidate, CompanyWindow, Meeting, Offer
from services.store.values import local_midnight

CANDIDATES = Candidate.__table__
MEETINGS = Meeting.__table__
OFFERS = Offer.__table__
WINDOWS = CompanyWindow.__table__
#: The automatic plan draws on each offer's best pairs: this many per free slot of the company
#: that has the most (512 for two days of default windows).
PAIRS_PER_SLOT = 16
#: Why a chosen pair is not in the automatic plan.
UNPLACED = "aucun créneau libre de l'entreprise où le candidat est libre, rencontre non planifiée"
#: A company's hours on each weekday of the event when it has no window of its own (Paris time).
DEFAULT_HOURS = ((time(9), time(12)), (time(14), time(17)))


@dataclass
class EventPlan:
    """A job dating's plan before it is saved, with what it could not give."""

    event: dict
    meetings: list[PlannedMeeting]
    shares: dict[str, int] = field(default_factory=dict)
    shortfalls: list[Problem] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        """A short French summary: meetings per company (against its share), per day, shortfalls."""
        per_company = Counter(meeting.siret for meeting in self.meetings)
        per_day = Counter(meeting.starts_at.astimezone(LOCAL_TZ).date() for meeting in self.meetings)
        lines = [f"{self.event['code']} : {len(self.meetings)} rencontre(s) planifiée(s)", "par entreprise :"]
        lines += [
            f"  {siret} : {per_company[siret]} (part {self.shares.get(siret, per_company[siret])})"
            for siret in sorted(set(per_company) | {siret for siret, share in self.shares.items() if share})
        ]
        left_out = sum(1 for siret, share in self.shares.items() if not share and not per_company[siret])
        if left_out:
            lines.append(
                f"  {left_out} autre(s) entreprise(s) : part nulle, trop peu de rencontres pour toutes"
            )
        lines.append("par jour :")
        lines += [f"  {format_date(day)} : {count}" for day, count in sorted(per_day.items())]
        if self.shortfalls:
            lines.append("non placé :")
            lines += [f"  {problem}" for problem in self.shortfalls]
        return lines


def default_windows(event: dict, siret: str) -> list[Window]:
    """9:00–12:00 and 14:00–17:00 (Paris) on each weekday of the event (every day if it has none)."""
    days = [
        event["starts_on"] + timedelta(days=n)
        for n in range((event["ends_on"] - event["starts_on"]).days + 1)
    ]
    weekdays = [day for day in days if day.weekday() < 5] or days
    return [
        Window(
            siret,
            datetime.combine(day, start, tzinfo=LOCAL_TZ),
            datetime.combine(day, end, tzinfo=LOCAL_TZ),
            DEFAULT_MEETING_MIN,
        )
        for day in weekdays
        for start, end in DEFAULT_HOURS
    ]


def company_windows(event: dict, sirets: Iterable[str], engine: Engine | None = None) -> list[Window]:
    """The companies' windows for the event: their own, or the default ones when they have none."""
    sirets = sorted(set(sirets))
    with (engine or get_engine()).connect() as connection:
        rows = connection.execute(
            sa.select(WINDOWS.c.siret, WINDOWS.c.starts_at, WINDOWS.c.ends_at, WINDOWS.c.meeting_min)
            .where(WINDOWS.c.event_code == event["code"], WINDOWS.c.siret.in_(sirets))
            .order_by(WINDOWS.c.siret, WINDOWS.c.starts_at)
        ).all()
    stored = [Window(*row) for row in rows]
    with_own = {window.siret for window in stored}
    return stored + [
        window for siret in sirets if siret not in with_own for window in default_windows(event, siret)
    ]


def set_company_windows(
    *,
    event_code: str,
    siret: str,
    windows: Sequence[tuple[datetime, datetime]],
    meeting_min: int = DEFAULT_MEETING_MIN,
    actor: str,
    engine: Engine | None = None,
) -> None:
    """Replace a company's windows for a job dating (none: back to the default ones)."""
    event = job_dating_event(event_code, engine)
    if meeting_min <= 0:
        raise ValueError("la durée d'une rencontre doit être positive")
    for start, end in windows:
        if end <= start:
            raise ValueError("une plage horaire doit finir après son début")
        local_days = {start.astimezone(LOCAL_TZ).date(), end.astimezone(LOCAL_TZ).date()}
        if min(local_days) < event["starts_on"] or max(local_days) > event["ends_on"]:
            raise ValueError("une plage horaire doit être dans les jours de l'opération")

    if overlapping([Window(siret, start, end) for start, end in windows]):
        raise ValueError("deux plages horaires se chevauchent")

    def work(connection: sa.Connection) -> None:
        connection.execute(
            WINDOWS.delete().where(WINDOWS.c.event_code == event_code, WINDOWS.c.siret == siret)
        )
        if windows:
            connection.execute(
                WINDOWS.insert(),
                [
                    {
                        "event_code": event_code,
                        "siret": siret,
                        "starts_at": start,
                        "ends_at": end,
                        "meeting_min": meeting_min,
                    }
                    for start, end in windows
                ],
            )
        audit.record(
            "company.windows",
            actor=actor,
            target=siret,
            detail=f"event={event_code} windows={len(windows)}",
            connection=connection,
        )
        bump_data_version(connection)

    retry_write(work, engine)


def stored_busy(connection: sa.Connection, event: dict) -> tuple[list[Busy], list[Busy], Counter[str]]:
    """Who is busy when, from the stored meetings that are not cancelled: those of the event, and
    those of any other job dating on the event's days (a candidate or a company cannot be in two
    meetings at once, whatever the event); and each candidate's number of meetings in this event
    (the limit is per event)."""
    first_day = local_midnight(event["starts_on"]) - timedelta(days=1)  # a meeting may run over midnight
    after_last_day = local_midnight(event["ends_on"] + timedelta(days=1))
    rows = connection.execute(
        sa.select(
            MEETINGS.c.candidate_ref,
            OFFERS.c.siret,
            MEETINGS.c.starts_at,
            MEETINGS.c.duration_min,
            MEETINGS.c.event_code,
        )
        .select_from(MEETINGS.join(OFFERS, OFFERS.c.ref == MEETINGS.c.offer_ref))
        .where(
            MEETINGS.c.status != "cancelled",
            sa.or_(
                MEETINGS.c.event_code == event["code"],
                sa.and_(MEETINGS.c.starts_at >= first_day, MEETINGS.c.starts_at < after_last_day),
            ),
        )
    ).all()
    candidates, companies = [], []
    for candidate, siret, start, minutes, _ in rows:
        end = start + timedelta(minutes=minutes)
        candidates.append(Busy(candidate, start, end))
        companies.append(Busy(siret, start, end))
    return candidates, companies, Counter(row[0] for row in rows if row[4] == event["code"])


def plan_event(
    event_code: str, *, max_per_candidate: int = DEFAULT_MAX_PER_CANDIDATE, engine: Engine | None = None
) -> EventPlan:
    """A plan for the job dating from each offer's best suggested pairs (``choose_pairs`` over
    ``Pairing.best``, ``PAIRS_PER_SLOT``), placed by ``plan_meetings``: a chosen pair that finds
    no slot is left out and listed in the shortfalls. ``PairingError`` for an unknown event or
    another kind, ``PlanInfeasible``."""
    engine = engine or get_engine()
    event = job_dating_event(event_code, engine)
    pairing = Pairing(event_code, engine)
    open_positions = pairing.offers.groupby("siret")["open_positions"].sum().astype(int).to_dict()
    windows = company_windows(event, open_positions, engine)
    with engine.connect() as connection:
        busy_candidates, busy_companies, existing = stored_busy(connection, event)
    capacity = {siret: len(items) for siret, items in free_slots(windows, busy_companies).items()}
    # Each offer's best pairs only: a network has millions, and a company meets a few dozen.
    pairs, share, shortfalls = choose_pairs(
        pairing.best(PAIRS_PER_SLOT * max(capacity.values(), default=0)),
        capacity=capacity,
        open_positions=open_positions,
        existing_meetings=existing,
        max_per_candidate=max_per_candidate,
    )
    if not pairs:
        raise PlanInfeasible(
            [
                Problem(
                    "opération",
                    event_code,
                    "aucune paire à planifier (offres ouvertes, candidats consentants)",
                )
            ]
        )
    meetings = plan_meetings(
        pairs=pairs,
        windows=windows,
        busy_candidates=busy_candidates,
        busy_companies=busy_companies,
        existing_meetings=existing,
        max_per_candidate=max_per_candidate,
        leave_out_unplaced=True,
    )
    placed = {(meeting.offer_ref, meeting.candidate_ref) for meeting in meetings}
    shortfalls += [
        Problem("paire", f"{pair.offer_ref}/{pair.candidate_ref}", UNPLACED)
        for pair in pairs
        if (pair.offer_ref, pair.candidate_ref) not in placed
    ]
    return EventPlan(event, meetings, share, shortfalls)


def save_plan(
    event_code: str,
    meetings: Sequence[PlannedMeeting],
    *,
    actor: str,
    max_per_candidate: int = DEFAULT_MAX_PER_CANDIDATE,
    engine: Engine | None = None,
) -> list[str]:
    """Write the meetings (``planned``, outcome ``none``) in one transaction, all or nothing;
    their refs. Checked again against the meetings stored meanwhile: ``PlanInfeasible``."""
    event = job_dating_event(event_code, engine)

    def work(connection: sa.Connection) -> list[str]:
        take_turn(connection, MEETING_WRITES)  # two plans saved at once must not both pass the checks
        busy_candidates, busy_companies, existing = stored_busy(connection, event)
        problems = _who_problems(connection, event, meetings)
        problems += _clashes(meetings, busy_candidates, busy_companies, existing, max_per_candidate)
        if problems:
            raise PlanInfeasible(problems)
        refs = [f"{event_code}-{secrets.token_hex(5)}" for _ in meetings]
        if meetings:
            connection.execute(
                MEETINGS.insert(),
                [
                    {
                        "ref": ref,
                        "event_code": event_code,
                        "candidate_ref": meeting.candidate_ref,
                        "offer_ref": meeting.offer_ref,
                        "starts_at": meeting.starts_at,
                        "duration_min": meeting.duration_min,
                        "status": "planned",
                        "outcome": "none",
                    }
                    for ref, meeting in zip(refs, meetings, strict=True)
                ],
            )
        audit.record(
            "meeting.plan",
            actor=actor,
            target=event_code,
            detail=f"meetings={len(meetings)}",
            connection=connection,
        )
        bump_data_version(connection)
        return refs

    return retry_write(work, engine)


def _who_problems(
    connection: sa.Connection, event: dict, meetings: Sequence[PlannedMeeting]
) -> list[Problem]:
    """Meetings whose offer is unknown or not the company's, or whose candidate is unknown or
    may not be presented to companies (consent read now, in the writer's transaction)."""
    offers = dict(
        connection.execute(
            sa.select(OFFERS.c.ref, OFFERS.c.siret).where(OFFERS.c.ref.in_({m.offer_ref for m in meetings}))
        ).all()
    )
    people = {
        ref: (consent, parent, born)
        for ref, consent, parent, born in connection.execute(
            sa.select(
                CANDIDATES.c.ref,
                CANDIDATES.c.presentation_consent,
                CANDIDATES.c.parent_presentation_consent,
                CANDIDATES.c.birth_date,
            ).where(CANDIDATES.c.ref.in_({m.candidate_ref for m in meetings}))
        )
    }
    problems = []
    for meeting in meetings:
        if offers.get(meeting.offer_ref) != meeting.siret:
            why = (
                "offre inconnue"
                if meeting.offer_ref not in offers
                else "l'offre n'est pas de cette entreprise"
            )
            problems.append(Problem("paire", f"{meeting.offer_ref}/{meeting.candidate_ref}", why))
    for ref in sorted({meeting.candidate_ref for meeting in meetings}):
        if ref not in people:
            problems.append(Problem("candidat", ref, "candidat inconnu"))
            continue
        consent, parent, born = people[ref]
        if not may_be_presented(
            consent=consent, parent_consent=parent, birth_date=born, day=event["starts_on"]
        ):
            problems.append(
                Problem(
                    "candidat",
                    ref,
                    "n'a pas accepté d'être présenté aux entreprises (ou pas de consentement d'un parent : "
                    "moins de 15 ans ou date de naissance inconnue)",
                )
            )
    return problems


def _clashes(
    meetings: Sequence[PlannedMeeting],
    busy_candidates: Sequence[Busy],
    busy_companies: Sequence[Busy],
    existing: Mapping[str, int],
    max_per_candidate: int,
) -> list[Problem]:
    """Every clash of the meetings with each other and with the stored ones; every candidate
    over the limit."""
    problems = []
    taken: dict[tuple[str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for item in busy_candidates:
        taken[("candidat", item.who)].append((item.starts_at, item.ends_at))
    for item in busy_companies:
        taken[("entreprise", item.who)].append((item.starts_at, item.ends_at))
    for meeting in sorted(meetings, key=lambda meeting: meeting.starts_at):
        span = (meeting.starts_at, meeting.ends_at)
        for subject, key in (("candidat", meeting.candidate_ref), ("entreprise", meeting.siret)):
            if overlaps(*span, taken[(subject, key)]):
                when = format_datetime(meeting.starts_at.astimezone(LOCAL_TZ))
                problems.append(Problem(subject, key, f"déjà en rencontre le {when}"))
            taken[(subject, key)].append(span)
    counts = Counter(meeting.candidate_ref for meeting in meetings)
    for candidate, count in sorted(counts.items()):
        if existing.get(candidate, 0) + count > max_per_candidate:
            problems.append(
                Problem("candidat", candidate, f"plus de {max_per_candidate} rencontres dans l'opération")
            )
    return problems

"""The advisors' schedules: interviews of a day or week, conflicts, free slots, load, outcomes.

Every write is validated, checked against the version the advisor read (two advisors saving
the same booking: the second is refused), recorded in the history, and bumps the data version
so that every cached figure is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import analytics, audit
from services.config import LOCAL_TZ
from services.database import bump_data_version, get_engine, retry_write
from services.models import Advisor, Booking, BookingChange, BookingNote, Candidate, Program, Touchpoint
from services.privacy import age_on
from services.scope import Scope

BOOKINGS = Booking.__table__
ADVISORS = Advisor.__table__
CANDIDATES = Candidate.__table__
PROGRAMS = Program.__table__
TOUCHPOINTS = Touchpoint.__table__
CHANGES = BookingChange.__table__
NOTES = BookingNote.__table__

SLOT = timedelta(minutes=45)
#: Opening hours of the centre for interviews, Monday to Friday (local time).
OPENING_HOURS = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 15)))
OPEN_WEEKDAYS = range(0, 5)
#: Which status an outcome may move to from each status. Reopening a cancelled interview
#: (back to booked) comes before marking it attended.
TRANSITIONS = {
    "booked": {"attended", "no_show", "cancelled"},
    "attended": {"no_show", "booked"},
    "no_show": {"attended", "booked"},
    "cancelled": {"booked"},
}
#: Outcomes that only make sense once the interview has started.
OUTCOMES_AFTER_START = {"attended", "no_show"}
MAX_NOTE_LENGTH = 1000


class ScheduleError(ValueError):
    """A change that the rules refuse (the message says why, in French)."""


class ConflictError(ScheduleError):
    """Someone else changed the booking since it was read: nothing was written."""


def interviews(
    first_day: date,
    last_day: date,
    sites: tuple[str, ...] = (),
    programs: tuple[str, ...] = (),
    engine: Engine | None = None,
    *,
    advisors: tuple[str | None, ...] | None = None,
) -> pd.DataFrame:
    """Interviews starting on these local days at these sites and for these programmes (all when
    none), in time order; only those of ``advisors`` when given (``None`` among them: the
    interviews without an advisor).

    One row per booking with the advisor, the candidate (name, birth date), programme, people,
    status, video links (the host link is its advisor's only: access.interviews_for hides it),
    version, and for the candidate: earlier bookings and channel of origin.
    """
    scope = Scope(first_day, last_day, sites=sites, programs=programs)
    # Read like the other heavy reads (analytics.read_frame): in DuckDB for a SQLite file, where
    # at 200,000 candidates (9,000 interviews a day) the whole day takes 0.06 s against 0.2 s in
    # SQLite itself. On PostgreSQL the scalar subqueries below run only for the period's
    # bookings (found by the starts_at index), each as one index seek: the candidate's first
    # touchpoint is the first entry of uq_touchpoints_key (candidate_ref, occurred_at, channel,
    # …), the earlier bookings come from ix_bookings_candidate_booked_at; joins on grouped
    # subqueries or window functions over the day's candidates were measured slower there
    # (they read every touchpoint of those candidates, then sort).
    first_touch = (
        sa.select(TOUCHPOINTS.c.channel)
        .where(TOUCHPOINTS.c.candidate_ref == BOOKINGS.c.candidate_ref)
        .order_by(TOUCHPOINTS.c.occurred_at, TOUCHPOINTS.c.channel)
        .limit(1)
        .scalar_subquery()
    )
    earlier = BOOKINGS.alias("earlier")
    earlier_count = (
        sa.select(sa.func.count())
        .where(
            earlier.c.candidate_ref == BOOKINGS.c.candidate_ref, earlier.c.starts_at < BOOKINGS.c.starts_at
        )
        .scalar_subquery()
    )
    program_name = (
        sa.select(PROGRAMS.c.name)
        .where(PROGRAMS.c.code == BOOKINGS.c.program_code, PROGRAMS.c.site_code == BOOKINGS.c.site_code)
        .scalar_subquery()
    )
    query = (
        sa.select(
            BOOKINGS.c.ref,
            BOOKINGS.c.starts_at,
            BOOKINGS.c.duration_min,
            BOOKINGS.c.site_code,
            BOOKINGS.c.advisor_email,
            ADVISORS.c.name.label("advisor"),
            BOOKINGS.c.candidate_ref,
            CANDIDATES.c.first_name,
            CANDIDATES.c.last_name,
            CANDIDATES.c.birth_date,
            CANDIDATES.c.email,
            CANDIDATES.c.phone,
            BOOKINGS.c.program_code,
            program_name.label("program"),
            BOOKINGS.c.attendees,
            BOOKINGS.c.status,
            BOOKINGS.c.meeting_url,
            BOOKINGS.c.host_room_url,
            BOOKINGS.c.version,
            earlier_count.label("earlier_bookings"),
            first_touch.label("origin_channel"),
        )
        .join(CANDIDATES, CANDIDATES.c.ref == BOOKINGS.c.candidate_ref)
        .outerjoin(ADVISORS, ADVISORS.c.email == BOOKINGS.c.advisor_email)
        .where(
            scope.within(BOOKINGS.c.starts_at),
            *scope.offering_filters(BOOKINGS.c.site_code, BOOKINGS.c.program_code),
        )
        .order_by(BOOKINGS.c.starts_at, BOOKINGS.c.advisor_email, BOOKINGS.c.ref)
    )
    if advisors is not None:
        # A page of advisors: the per-interview lookups above then run for its interviews only.
        query = query.where(_of_advisors(BOOKINGS.c.advisor_email, advisors))
    frame = analytics.read_frame(query, engine, instants=["starts_at"])
    columns = [
        "ref",
        "starts_at",
        "ends_at",
        "duration_min",
        "site_code",
        "advisor_email",
        "advisor",
        "advisor_label",
        "candidate_ref",
        "candidate",
        "age",
        "minor",
        "email",
        "phone",
        "program_code",
        "program",
        "attendees",
        "status",
        "meeting_url",
        "host_room_url",
        "version",
        "earlier_bookings",
        "origin_channel",
        "overlap",
    ]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = _with_local_times(frame)
    frame["candidate"] = (frame["first_name"].fillna("") + " " + frame["last_name"].fillna("")).str.strip()
    frame["age"] = [
        age_on(born, day) for born, day in zip(frame["birth_date"], frame["starts_at"].dt.date, strict=True)
    ]
    frame["age"] = frame["age"].astype("Int64")
    # Unknown birth date: unknown, not "adult".
    frame["minor"] = (frame["age"] < 18).astype(object).where(frame["age"].notna(), None)
    frame["advisor_label"] = advisor_labels(frame)
    frame["overlap"] = frame["ref"].isin(overlapping(frame))
    return frame[columns]


def _of_advisors(column: sa.ColumnElement, advisors: tuple[str | None, ...]) -> sa.ColumnElement[bool]:
    """``column`` is one of these e-mails, or empty if ``None`` is among them."""
    emails = [email for email in advisors if email is not None]
    condition = column.in_(emails) if emails else sa.false()
    return sa.or_(condition, column.is_(None)) if None in advisors else condition


def advisor_labels(schedule: pd.DataFrame) -> pd.Series:
    """One label per advisor: ``name · site``, with the e-mail added where two would read the same."""
    label = schedule["advisor"].fillna("—") + " · " + schedule["site_code"]
    emails_per_label = schedule.groupby(label)["advisor_email"].transform("nunique")
    return label.where(emails_per_label <= 1, label + " (" + schedule["advisor_email"].fillna("") + ")")


def overlapping(schedule: pd.DataFrame) -> set[str]:
    """Refs of non-cancelled interviews that overlap another one of the same advisor.

    Intervals are half-open: an interview ending at 10:45 and one starting at 10:45 touch, they
    do not overlap.
    """
    live = schedule[(schedule["status"] != "cancelled") & schedule["advisor_email"].notna()]
    # One pass over the rows sorted by advisor then start (not one small frame per advisor: a
    # day at scale has thousands of advisors). The interview reaching furthest so far overlaps
    # any later one that starts before it ends.
    live = live.sort_values(["advisor_email", "starts_at"], kind="stable")
    # Instants as UTC nanoseconds: plain integers compare much faster than timestamps.
    starts, ends = (
        live[name].to_numpy("datetime64[ns]").view("int64").tolist() for name in ("starts_at", "ends_at")
    )
    found: set[str] = set()
    advisor, latest_end, latest_ref = None, None, None
    emails, refs = live["advisor_email"].tolist(), live["ref"].tolist()
    for email, ref, start, end in zip(emails, refs, starts, ends, strict=True):
        if email != advisor:
            advisor, latest_end, latest_ref = email, None, None
        if latest_end is not None and start < latest_end:
            found.update({ref, latest_ref})
        if latest_end is None or end > latest_end:
            latest_end, latest_ref = end, ref
    return found


def opening_intervals(day: date) -> list[tuple[datetime, datetime]]:
    """The centre's opening intervals on a local day (aware datetimes), none at the weekend."""
    if day.weekday() not in OPEN_WEEKDAYS:
        return []
    return [
        (datetime.combine(day, start, LOCAL_TZ), datetime.combine(day, end, LOCAL_TZ))
        for start, end in OPENING_HOURS
    ]


def free_slots(day: date, busy: list[tuple[datetime, datetime]]) -> list[datetime]:
    """Starts of the 45-minute slots of a day's opening hours that touch no busy interval.

    Slots follow each other from the opening time; times are local wall times, so a day when
    the clocks change keeps its 09:00, 09:45… slots.
    """
    slots = []
    for opening, closing in opening_intervals(day):
        start = opening
        while start + SLOT <= closing:
            end = start + SLOT
            if not any(start < busy_end and busy_start < end for busy_start, busy_end in busy):
                slots.append(start)
            start = end
    return slots


def busy_times(
    first_day: date,
    last_day: date,
    sites: tuple[str, ...] = (),
    engine: Engine | None = None,
    *,
    advisors: tuple[str | None, ...] | None = None,
) -> pd.DataFrame:
    """The interviews of these local days at these sites (of these advisors when given) with only
    what free slots need: advisor_email, site_code, status, starts_at, ends_at (no candidate,
    none of ``interviews``' per-interview lookups)."""
    scope = Scope(first_day, last_day, sites=sites)
    query = sa.select(
        BOOKINGS.c.advisor_email,
        BOOKINGS.c.site_code,
        BOOKINGS.c.status,
        BOOKINGS.c.starts_at,
        BOOKINGS.c.duration_min,
    ).where(
        scope.within(BOOKINGS.c.starts_at),
        *scope.offering_filters(BOOKINGS.c.site_code, BOOKINGS.c.program_code),
    )
    if advisors is not None:
        query = query.where(_of_advisors(BOOKINGS.c.advisor_email, advisors))
    return _with_local_times(analytics.read_frame(query, engine, instants=["starts_at"]))


def _with_local_times(frame: pd.DataFrame) -> pd.DataFrame:
    """starts_at in local time and ends_at (starts_at + duration_min) added."""
    frame["starts_at"] = pd.to_datetime(frame["starts_at"], utc=True).dt.tz_convert(LOCAL_TZ)
    frame["ends_at"] = frame["starts_at"] + pd.to_timedelta(frame["duration_min"], unit="min")
    return frame


def busy_by_advisor(schedule: pd.DataFrame) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each advisor's busy intervals (interviews not cancelled), gathered in one pass rather than
    one filter of the whole schedule per advisor."""
    live = schedule[schedule["status"] != "cancelled"]
    if live.empty:  # its columns may carry no datetime type
        return {}
    starts = np.asarray(live["starts_at"].dt.to_pydatetime(), dtype=object)
    ends = np.asarray(live["ends_at"].dt.to_pydatetime(), dtype=object)
    return {
        email: list(zip(starts[rows], ends[rows], strict=True))
        for email, rows in live.groupby("advisor_email").indices.items()
    }


def free_slots_by_advisor(day: date, schedule: pd.DataFrame, advisors: pd.DataFrame) -> pd.DataFrame:
    """For each advisor (email, name, site_code), the free slots of the day."""
    rows = []
    busy_of = busy_by_advisor(schedule)
    for advisor in advisors.itertuples():
        slots = free_slots(day, busy_of.get(advisor.email, []))
        rows.append(
            {
                "advisor_email": advisor.email,
                "advisor": advisor.name,
                "site_code": advisor.site_code,
                "free_slots": len(slots),
                "first_free": [s.strftime("%H:%M") for s in slots],
            }
        )
    return pd.DataFrame(rows, columns=["advisor_email", "advisor", "site_code", "free_slots", "first_free"])


def free_slots_of(day: date, advisors: pd.DataFrame, engine: Engine | None = None) -> pd.DataFrame:
    """``free_slots_by_advisor`` of these advisors (email, name, site_code), busy with every
    interview of theirs that day: at any site and for any programme, whatever the page's filters
    (an advisor in an interview for another programme is not free)."""
    busy = busy_times(day, day, engine=engine, advisors=tuple(advisors["email"]))
    return free_slots_by_advisor(day, busy, advisors)


# ---------------------------------------------------------------- pages of advisors

#: Advisors on one page of the schedule. A timeline of more rows cannot be read (a network has
#: thousands of advisors), and the page builds its figure, list and tables for these only.
ADVISORS_PER_PAGE = 25


@dataclass(frozen=True)
class AdvisorPage:
    """One page of the schedule's advisors: who is on it, where it lies among all, what it holds.

    Positions count from 1 (``first`` and ``last`` are 0 without any advisor). ``advisors`` are
    e-mails in page order, ``None`` standing for the interviews without an advisor (first page
    only); ``bounds`` the first and last advisor (label) of every page;
    ``overlaps_elsewhere`` the advisors of other pages with overlapping interviews and their page.
    """

    number: int
    pages: int
    size: int
    first: int
    last: int
    total: int
    busy: int
    advisors: tuple[str | None, ...]
    bounds: tuple[tuple[str, str], ...]
    interviews: int
    interview_total: int
    overlaps_elsewhere: tuple[tuple[str, int], ...]

    @property
    def whole(self) -> bool:
        """Whether this page shows every interview of the selection."""
        return self.interviews == self.interview_total

    def span(self, number: int) -> tuple[int, int]:
        """The positions of the first and last advisors of page ``number``."""
        return min((number - 1) * self.size + 1, self.total), min(number * self.size, self.total)


def interview_times(
    first_day: date,
    last_day: date,
    sites: tuple[str, ...] = (),
    programs: tuple[str, ...] = (),
    engine: Engine | None = None,
) -> pd.DataFrame:
    """The interviews ``interviews`` returns for the same arguments, with only what paging them
    by advisor and finding overlaps need: ref, advisor_email, advisor (name), site_code, status,
    starts_at, ends_at. No candidate data and none of the per-interview lookups: the page reads
    these for the whole selection (93,000 interviews a day at the largest scale measured) and
    the full rows for one page of advisors only."""
    scope = Scope(first_day, last_day, sites=sites, programs=programs)
    query = (
        sa.select(
            BOOKINGS.c.ref,
            BOOKINGS.c.advisor_email,
            ADVISORS.c.name.label("advisor"),
            BOOKINGS.c.site_code,
            BOOKINGS.c.status,
            BOOKINGS.c.starts_at,
            BOOKINGS.c.duration_min,
        )
        # No join to the candidates as ``interviews`` has: the store's foreign keys guarantee
        # every booking its candidate, so both count the same interviews.
        .outerjoin(ADVISORS, ADVISORS.c.email == BOOKINGS.c.advisor_email)
        .where(
            scope.within(BOOKINGS.c.starts_at),
            *scope.offering_filters(BOOKINGS.c.site_code, BOOKINGS.c.program_code),
        )
    )
    return _with_local_times(analytics.read_frame(query, engine, instants=["starts_at"]))


def advisor_page(
    times: pd.DataFrame,
    advisors: pd.DataFrame,
    number: int = 1,
    first_advisor: str | None = None,
    size: int = ADVISORS_PER_PAGE,
) -> AdvisorPage:
    """Page ``number`` (brought within the pages there are) of the advisors of a selection.

    ``times`` are the selection's interviews (``interview_times``), ``advisors`` the advisors of
    its sites (email, name, site_code). Every advisor has a place, with interviews or not (the
    free slots of those without are the most useful), in this order: ``first_advisor``, the
    advisors with interviews, then those without, each group by label (``name · site``), so that
    the interviews fill the first pages. The interviews without an advisor come on the first
    page, after ``first_advisor``, over its ``size``.
    """
    # Membership through Python sets: pandas' isin on text converts every value it is given one
    # by one (a second for a day of the largest network measured).
    known = set(advisors["email"])
    booked = times["advisor_email"].tolist()
    busy = {email for email in booked if isinstance(email, str)}
    people = pd.concat(
        [
            advisors.rename(columns={"email": "advisor_email", "name": "advisor"})[
                ["advisor_email", "advisor", "site_code"]
            ],
            # Interviews of an advisor who is not one of these sites' (an import may say so).
            times.loc[
                [email in busy and email not in known for email in booked],
                ["advisor_email", "advisor", "site_code"],
            ],
        ],
        ignore_index=True,
    ).drop_duplicates("advisor_email")
    people["label"] = advisor_labels(people)
    people["group"] = [
        0 if email == first_advisor else 1 if email in busy else 2 for email in people["advisor_email"]
    ]
    people = people.sort_values(["group", "label", "advisor_email"], kind="stable")
    emails: list[str] = people["advisor_email"].tolist()
    labels: list[str] = people["label"].tolist()

    count = len(emails)
    pages = max(1, -(-count // size))
    number = min(max(int(number), 1), pages)
    start = (number - 1) * size
    shown: tuple[str | None, ...] = tuple(emails[start : start + size])
    members = set(shown)
    on_page = pd.Series([email in members for email in booked], index=times.index, dtype=bool)
    unassigned = times["advisor_email"].isna()
    if number == 1 and unassigned.any():
        # On the first page, after the chosen advisor, over the page's size: they need someone.
        at = int((people["group"] == 0).any())
        shown = (*shown[:at], None, *shown[at:])
        on_page |= unassigned
    # Overlaps are an advisor's own, found over the whole selection: those of other pages are
    # named with their page, so that nobody misses one for not paging through every advisor.
    position = {email: index for index, email in enumerate(emails)}
    overlaps = overlapping(times)
    overlapping_advisors = {
        email for email, ref in zip(booked, times["ref"].tolist(), strict=True) if ref in overlaps
    }
    elsewhere = sorted(
        (position[email] // size + 1, labels[position[email]])
        for email in overlapping_advisors
        if position[email] // size + 1 != number
    )
    return AdvisorPage(
        number=number,
        pages=pages,
        size=size,
        first=min(start + 1, count),
        last=min(start + size, count),
        total=count,
        busy=len(busy),
        advisors=shown,
        bounds=tuple((labels[i], labels[min(i + size, count) - 1]) for i in range(0, count, size)),
        interviews=int(on_page.sum()),
        interview_total=len(times),
        overlaps_elsewhere=tuple((label, page) for page, label in elsewhere),
    )


def view_detail(first_day: date, last_day: date, page: AdvisorPage) -> str:
    """What the audit log says was seen: the period, and which advisors (their e-mails, staff
    identifiers: a position in the page order would not say who, the order changing with the
    chosen advisor and the data) when the page does not show all its interviews
    (``2020-04-15..2020-04-15 conseillers a@cfai.fr, b@cfai.fr``)."""
    period = f"{first_day}..{last_day}"
    if page.whole:
        return period
    return f"{period} conseillers " + ", ".join(email or "(sans conseiller)" for email in page.advisors)


def advisors_of(sites: tuple[str, ...] = (), engine: Engine | None = None) -> pd.DataFrame:
    """Advisors (email, name, site_code) of these sites (all when none), by name."""
    query = sa.select(ADVISORS.c.email, ADVISORS.c.name, ADVISORS.c.site_code).order_by(ADVISORS.c.name)
    if sites:
        query = query.where(ADVISORS.c.site_code.in_(sites))
    with (engine or get_engine()).connect() as connection:
        return pd.DataFrame(connection.execute(query).all(), columns=["email", "name", "site_code"])


def advisor_load(
    scope: Scope, engine: Engine | None = None, *, advisors: tuple[str | None, ...] | None = None
) -> pd.DataFrame:
    """Per advisor (of these advisors when given), the non-cancelled interviews of the scope and
    their hours."""
    query = (
        sa.select(
            BOOKINGS.c.advisor_email,
            ADVISORS.c.name,
            ADVISORS.c.site_code,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(BOOKINGS.c.duration_min), 0),
        )
        .join(ADVISORS, ADVISORS.c.email == BOOKINGS.c.advisor_email)
        .where(
            scope.within(BOOKINGS.c.starts_at),
            BOOKINGS.c.status != "cancelled",
            *scope.offering_filters(BOOKINGS.c.site_code, BOOKINGS.c.program_code),
        )
        .group_by(BOOKINGS.c.advisor_email, ADVISORS.c.name, ADVISORS.c.site_code)
        .order_by(ADVISORS.c.site_code, ADVISORS.c.name)
    )
    if advisors is not None:
        query = query.where(_of_advisors(BOOKINGS.c.advisor_email, advisors))
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(
            connection.execute(query).all(),
            columns=["advisor_email", "advisor", "site_code", "interviews", "minutes"],
        )
    frame["hours"] = frame["minutes"] / 60
    return frame.drop(columns="minutes")


# ---------------------------------------------------------------- writes


@dataclass(frozen=True)
class Outcome:
    """What an advisor records after an interview."""

    status: str
    attendees: int | None = None
    note: str = ""


def check_outcome(current_status: str, starts_at: datetime, outcome: Outcome, now: datetime) -> None:
    """Raise ``ScheduleError`` when the rules refuse this outcome."""
    if outcome.status != current_status and outcome.status not in TRANSITIONS.get(current_status, set()):
        if current_status == "cancelled":
            raise ScheduleError("un entretien annulé doit d'abord être rouvert (statut « réservé »)")
        raise ScheduleError(f"passage de « {current_status} » à « {outcome.status} » non permis")
    if outcome.status in OUTCOMES_AFTER_START and starts_at > now:
        raise ScheduleError("l'entretien n'a pas encore commencé : il ne peut être noté venu ou absent")
    if outcome.attendees is not None and outcome.attendees < 1:
        raise ScheduleError("il faut au moins une personne présente")
    if len(outcome.note) > MAX_NOTE_LENGTH:
        raise ScheduleError(f"note trop longue (au plus {MAX_NOTE_LENGTH} caractères)")


def record_outcome(
    booking_ref: str,
    *,
    outcome: Outcome,
    author: str,
    read_version: int,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> int:
    """Save an interview's outcome; returns the booking's new version."""
    now = now or datetime.now(UTC)
    # Retried when a long import holds the store: the whole save runs again, version check included.
    return retry_write(
        lambda connection: apply_outcome(
            connection, booking_ref, outcome=outcome, author=author, read_version=read_version, now=now
        ),
        engine,
    )


def apply_outcome(
    connection: sa.Connection,
    booking_ref: str,
    *,
    outcome: Outcome,
    author: str,
    read_version: int,
    now: datetime,
) -> int:
    """``record_outcome`` inside the caller's write transaction (validation, version check,
    history, note, audit, data version), for a caller that writes more in the same transaction."""
    current = _read(connection, booking_ref, read_version)
    check_outcome(current["status"], current["starts_at"], outcome, now)
    changes = {"status": outcome.status}
    if outcome.attendees is not None:
        changes["attendees"] = outcome.attendees
    version = _write(connection, current, changes, author, now)
    audit.record(
        "booking.outcome",
        actor=author,
        target=booking_ref,
        detail=f"status={outcome.status}",
        connection=connection,
    )
    if outcome.note.strip():
        connection.execute(
            NOTES.insert().values(
                booking_ref=booking_ref, written_at=now, written_by=author, text=outcome.note.strip()
            )
        )
    bump_data_version(connection)
    return version


def reassign(
    booking_ref: str,
    *,
    advisor_email: str,
    author: str,
    read_version: int,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> int:
    """Give an interview to another advisor of the same site who is free then; returns the new version."""
    now = now or datetime.now(UTC)
    return retry_write(
        lambda connection: _reassign(connection, booking_ref, advisor_email, author, read_version, now),
        engine,
    )


def _reassign(
    connection: sa.Connection,
    booking_ref: str,
    advisor_email: str,
    author: str,
    read_version: int,
    now: datetime,
) -> int:
    """``reassign`` inside a write transaction (run again as a whole if SQLite was busy)."""
    current = _read(connection, booking_ref, read_version)
    site = connection.execute(
        sa.select(ADVISORS.c.site_code).where(ADVISORS.c.email == advisor_email)
    ).scalar()
    if site is None:
        raise ScheduleError("conseiller inconnu")
    if site != current["site_code"]:
        raise ScheduleError("le conseiller doit être du même site que l'entretien")
    start = current["starts_at"]
    end = start + timedelta(minutes=current["duration_min"])
    others = connection.execute(
        sa.select(BOOKINGS.c.starts_at, BOOKINGS.c.duration_min).where(
            BOOKINGS.c.advisor_email == advisor_email,
            BOOKINGS.c.status != "cancelled",
            BOOKINGS.c.ref != booking_ref,
            BOOKINGS.c.starts_at < end,
            BOOKINGS.c.starts_at > start - timedelta(hours=12),
        )
    ).all()
    if any(other + timedelta(minutes=minutes) > start for other, minutes in others):
        raise ScheduleError("ce conseiller a déjà un entretien à ce moment-là")
    version = _write(connection, current, {"advisor_email": advisor_email}, author, now)
    audit.record("booking.reassign", actor=author, target=booking_ref, connection=connection)
    bump_data_version(connection)
    return version


def _read(connection: sa.Connection, booking_ref: str, read_version: int) -> dict:
    return read_versioned(
        connection,
        BOOKINGS,
        booking_ref,
        read_version,
        unknown=f"rendez-vous inconnu : {booking_ref}",
        changed="ce rendez-vous vient d'être modifié par quelqu'un d'autre",
    )


def _write(connection: sa.Connection, current: dict, changes: dict, author: str, now: datetime) -> int:
    return write_versioned(
        connection,
        BOOKINGS,
        CHANGES,
        current,
        changes,
        author=author,
        now=now,
        changed="ce rendez-vous vient d'être modifié par quelqu'un d'autre",
    )


def read_versioned(
    connection: sa.Connection, table: sa.Table, ref: str, read_version: int, *, unknown: str, changed: str
) -> dict:
    """The row of ``table`` (a table with ``ref`` and ``version``: bookings, meetings) if it is
    still at the version the user read; ``ScheduleError(unknown)`` without it, ``ConflictError``
    (``changed`` and what to do) after someone else's change."""
    current = connection.execute(sa.select(table).where(table.c.ref == ref)).mappings().first()
    if current is None:
        raise ScheduleError(unknown)
    if current["version"] != read_version:
        raise ConflictError(f"{changed} : rechargez la page, vérifiez, puis enregistrez à nouveau")
    return dict(current)


def write_versioned(
    connection: sa.Connection,
    table: sa.Table,
    changes_table: sa.Table,
    current: dict,
    changes: dict,
    *,
    author: str,
    now: datetime,
    changed: str,
) -> int:
    """Update the row ``current`` (read by ``read_versioned``) if it is still at its version, and
    log each changed field in ``changes_table`` (its first column after the id names the row:
    ``booking_ref``, ``meeting_ref``); returns the new version."""
    updated = {name: value for name, value in changes.items() if current[name] != value}
    new_version = current["version"] + 1
    result = connection.execute(
        table.update()
        .where(table.c.ref == current["ref"], table.c.version == current["version"])
        .values(**updated, version=new_version)
    )
    if result.rowcount != 1:
        raise ConflictError(f"{changed} : rechargez la page")
    if updated:
        key = _owner_column(changes_table).name
        connection.execute(
            changes_table.insert(),
            [
                {
                    key: current["ref"],
                    "changed_at": now,
                    "changed_by": author,
                    "field": name,
                    "old_value": None if current[name] is None else str(current[name]),
                    "new_value": None if value is None else str(value),
                }
                for name, value in updated.items()
            ],
        )
    return new_version


def _owner_column(changes_table: sa.Table) -> sa.Column:
    """The column of a history table that names its row (``booking_ref``, ``meeting_ref``)."""
    return next(column for column in changes_table.columns if column.name.endswith("_ref"))


def changes_of(connection: sa.Connection, changes_table: sa.Table, ref: str) -> list[sa.Row]:
    """The logged changes of one row (``write_versioned``): at, by, field, old, new, in the
    order they were written."""
    table = changes_table.c
    return connection.execute(
        sa.select(table.changed_at, table.changed_by, table.field, table.old_value, table.new_value)
        .where(_owner_column(changes_table) == ref)
        .order_by(table.id)
    ).all()


def history(booking_ref: str, engine: Engine | None = None) -> pd.DataFrame:
    """The changes and notes of a booking, latest first (at, by, what, old, new)."""
    with (engine or get_engine()).connect() as connection:
        changes = changes_of(connection, CHANGES, booking_ref)
        notes = connection.execute(
            sa.select(
                NOTES.c.written_at, NOTES.c.written_by, sa.literal("note"), sa.null(), NOTES.c.text
            ).where(NOTES.c.booking_ref == booking_ref)
        ).all()
    frame = pd.DataFrame([*changes, *notes], columns=["at", "by", "what", "old", "new"])
    if frame.empty:
        return frame
    frame["at"] = pd.to_datetime(frame["at"], utc=True).dt.tz_convert(LOCAL_TZ)
    return frame.sort_values("at", ascending=False, kind="stable").reset_index(drop=True)


def day_list(schedule: pd.DataFrame, first_advisor: str | None = None) -> pd.DataFrame:
    """The interviews as the list shows and exports them, the given advisor's first."""
    ordered = schedule.assign(_mine=schedule["advisor_email"] != first_advisor).sort_values(
        ["_mine", "starts_at", "advisor"], kind="stable"
    )
    return pd.DataFrame(
        {
            "ref": ordered["ref"],
            # A date and a time of day: real dates and times in Excel, written in the reader's
            # language on the page (services.i18n.format_table).
            "day": ordered["starts_at"].dt.date,
            "time": ordered["starts_at"].dt.time,
            "advisor": ordered["advisor"],
            "candidate": ordered["candidate"],
            "age": ordered["age"],
            "minor": ordered["minor"],
            "email": ordered["email"],
            "phone": ordered["phone"],
            "program": ordered["program"].fillna(ordered["program_code"]),
            "people": ordered["attendees"],
            "status": ordered["status"],
            "link": ordered["meeting_url"],
            "earlier_bookings": ordered["earlier_bookings"],
            "origin_channel": ordered["origin_channel"],
        }
    ).reset_index(drop=True)


def listing_table(
    schedule: pd.DataFrame,
    *,
    first_advisor: str | None,
    status_names: dict[str, str],
    minor_label: str,
    with_day: bool,
) -> pd.DataFrame:
    """The list as the page shows and exports it: ``day_list`` with its statuses named, "minor"
    spelt out ("?" when the birth date is unknown), ages as text, without the ref, and without
    the day unless ``with_day`` (a week)."""
    listing = day_list(schedule, first_advisor=first_advisor)
    shown = listing.assign(
        status=listing["status"].map(status_names),
        minor=[
            m if isinstance(m, str) else "?" if pd.isna(m) else minor_label if m else ""
            for m in listing["minor"]
        ],
        # Ages another advisor's candidates do not show read "—": the column is text for all.
        age=[a if isinstance(a, str) else "" if pd.isna(a) else str(int(a)) for a in listing["age"]],
    ).drop(columns="ref")
    return shown if with_day else shown.drop(columns="day")

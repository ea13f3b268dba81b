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

from services import audit
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
) -> pd.DataFrame:
    """Interviews starting on these local days at these sites and for these programmes (all when
    none), in time order.

    One row per booking with the advisor, the candidate (name, birth date), programme, people,
    status, video links (the host link is its advisor's only: access.interviews_for hides it),
    version, and for the candidate: earlier bookings and channel of origin.
    """
    scope = Scope(first_day, last_day, sites=sites, programs=programs)
    # The scalar subqueries below run only for the period's bookings (found by the starts_at
    # index), each as one index seek: the candidate's first touchpoint is the first entry of
    # uq_touchpoints_key (candidate_ref, occurred_at, channel, …), the earlier bookings come
    # from ix_bookings_candidate_booked_at. At 200,000 candidates (9,000 interviews a day) the
    # whole query takes about 0.13 s on SQLite; joins on grouped subqueries or window functions
    # over the day's candidates were measured slower on SQLite and PostgreSQL alike (they read
    # every touchpoint of those candidates, then sort).
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
    with (engine or get_engine()).connect() as connection:
        result = connection.execute(query)
        # Plain tuples: pandas builds a frame from mappings or SQLAlchemy rows far more slowly.
        frame = pd.DataFrame(list(map(tuple, result)), columns=list(result.keys()))
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
        age_on(born, start.date())
        for born, start in zip(frame["birth_date"], frame["starts_at"], strict=True)
    ]
    frame["age"] = frame["age"].astype("Int64")
    # Unknown birth date: unknown, not "adult".
    frame["minor"] = [None if pd.isna(age) else bool(age < 18) for age in frame["age"]]
    frame["advisor_label"] = advisor_labels(frame)
    frame["overlap"] = frame["ref"].isin(overlapping(frame))
    return frame[columns]


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
    first_day: date, last_day: date, sites: tuple[str, ...] = (), engine: Engine | None = None
) -> pd.DataFrame:
    """The interviews of these local days at these sites with only what free slots need:
    advisor_email, site_code, status, starts_at, ends_at (no candidate, none of ``interviews``'
    per-interview lookups)."""
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
    with (engine or get_engine()).connect() as connection:
        result = connection.execute(query)
        frame = pd.DataFrame(list(map(tuple, result)), columns=list(result.keys()))
    return _with_local_times(frame)


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


def advisors_of(sites: tuple[str, ...] = (), engine: Engine | None = None) -> pd.DataFrame:
    """Advisors (email, name, site_code) of these sites (all when none), by name."""
    query = sa.select(ADVISORS.c.email, ADVISORS.c.name, ADVISORS.c.site_code).order_by(ADVISORS.c.name)
    if sites:
        query = query.where(ADVISORS.c.site_code.in_(sites))
    with (engine or get_engine()).connect() as connection:
        return pd.DataFrame(connection.execute(query).all(), columns=["email", "name", "site_code"])


def advisor_load(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """Per advisor, the non-cancelled interviews of the scope and their hours."""
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
    current = connection.execute(sa.select(BOOKINGS).where(BOOKINGS.c.ref == booking_ref)).mappings().first()
    if current is None:
        raise ScheduleError(f"rendez-vous inconnu : {booking_ref}")
    if current["version"] != read_version:
        raise ConflictError(
            "ce rendez-vous vient d'être modifié par quelqu'un d'autre : rechargez la page, "
            "vérifiez, puis enregistrez à nouveau"
        )
    return dict(current)


def _write(connection: sa.Connection, current: dict, changes: dict, author: str, now: datetime) -> int:
    """Update the booking if it is still at the version read, and log each changed field."""
    changed = {name: value for name, value in changes.items() if current[name] != value}
    new_version = current["version"] + 1
    result = connection.execute(
        BOOKINGS.update()
        .where(BOOKINGS.c.ref == current["ref"], BOOKINGS.c.version == current["version"])
        .values(**changed, version=new_version)
    )
    if result.rowcount != 1:
        raise ConflictError("ce rendez-vous vient d'être modifié par quelqu'un d'autre : rechargez la page")
    if changed:
        connection.execute(
            CHANGES.insert(),
            [
                {
                    "booking_ref": current["ref"],
                    "changed_at": now,
                    "changed_by": author,
                    "field": name,
                    "old_value": None if current[name] is None else str(current[name]),
                    "new_value": str(value),
                }
                for name, value in changed.items()
            ],
        )
    return new_version


def history(booking_ref: str, engine: Engine | None = None) -> pd.DataFrame:
    """The changes and notes of a booking, latest first (at, by, what, old, new)."""
    with (engine or get_engine()).connect() as connection:
        changes = connection.execute(
            sa.select(
                CHANGES.c.changed_at,
                CHANGES.c.changed_by,
                CHANGES.c.field,
                CHANGES.c.old_value,
                CHANGES.c.new_value,
            ).where(CHANGES.c.booking_ref == booking_ref)
        ).all()
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
            "day": ordered["starts_at"].dt.strftime("%d/%m/%Y"),
            "time": ordered["starts_at"].dt.strftime("%H:%M"),
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

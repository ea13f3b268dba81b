"""The advisors' availability: the centre's opening hours in 45-minute slots, the times each
advisor is busy, the slots still free (for a day, per advisor) and each advisor's load.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ
from services.store import analytics
from services.store.database import get_engine
from services.store.models import Advisor, Booking
from services.store.scope import Scope

BOOKINGS = Booking.__table__
ADVISORS = Advisor.__table__

SLOT = timedelta(minutes=45)
#: Opening hours of the centre for interviews, Monday to Friday (local time).
OPENING_HOURS = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 15)))
OPEN_WEEKDAYS = range(0, 5)


def of_advisors(column: sa.ColumnElement, advisors: tuple[str | None, ...]) -> sa.ColumnElement[bool]:
    """``column`` is one of these e-mails, or empty if ``None`` is among them."""
    emails = [email for email in advisors if email is not None]
    condition = column.in_(emails) if emails else sa.false()
    return sa.or_(condition, column.is_(None)) if None in advisors else condition


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
        query = query.where(of_advisors(BOOKINGS.c.advisor_email, advisors))
    return with_local_times(analytics.read_frame(query, engine, instants=["starts_at"]))


def with_local_times(frame: pd.DataFrame) -> pd.DataFrame:
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
        query = query.where(of_advisors(BOOKINGS.c.advisor_email, advisors))
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(
            connection.execute(query).all(),
            columns=["advisor_email", "advisor", "site_code", "interviews", "minutes"],
        )
    frame["hours"] = frame["minutes"] / 60
    return frame.drop(columns="minutes")

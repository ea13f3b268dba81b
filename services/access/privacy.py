"""Personal data: the tables that hold a candidate's rows and how they are counted, cleared or
masked (the import history), and minors' consent to marketing: ages, and a parent's consent
under 15.

The retention purge is in ``retention``, the rights of access and erasure in ``rights``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.store.contract import MASK
from services.store.database import get_engine
from services.store.models import (
    AttendanceSuggestion,
    Booking,
    BookingChange,
    BookingNote,
    Candidate,
    Enrollment,
    ImportRun,
    MailSend,
    Meeting,
    MeetingChange,
    MeetingSuggestion,
    RoomAttempt,
    Touchpoint,
)
from services.store.values import local_date

CANDIDATES = Candidate.__table__
TOUCHPOINTS = Touchpoint.__table__
BOOKINGS = Booking.__table__
ENROLLMENTS = Enrollment.__table__
MEETINGS = Meeting.__table__
CHANGES = BookingChange.__table__
MEETING_CHANGES = MeetingChange.__table__
NOTES = BookingNote.__table__
IMPORT_RUNS = ImportRun.__table__
ROOM_ATTEMPTS = RoomAttempt.__table__
SUGGESTIONS = AttendanceSuggestion.__table__
MEETING_SUGGESTIONS = MeetingSuggestion.__table__
MAIL_SENDS = MailSend.__table__
#: Every table whose rows belong to a candidate (by ``candidate_ref``); a test checks none is missing.
CANDIDATE_TABLES = (TOUCHPOINTS, BOOKINGS, ENROLLMENTS, MEETINGS)
#: Tables whose rows belong to one of the candidate's bookings (by ``booking_ref``): history,
#: notes, the video room asked for it and what its call said about who joined.
BOOKING_TABLES = (CHANGES, NOTES, ROOM_ATTEMPTS, SUGGESTIONS)
#: Tables whose rows belong to one of the candidate's job-dating meetings (by ``meeting_ref``):
#: history, and what its call said about who joined.
MEETING_TABLES = (MEETING_CHANGES, MEETING_SUGGESTIONS)
#: Tables whose rows about a candidate (by ``candidate_ref``) no figure counts: deleted by the
#: purge and the erasure. The send log of the job datings' mail holds the person's addresses.
CANDIDATE_TRAIL_TABLES = (MAIL_SENDS,)
#: The tables whose rows the purge deletes (the others of a purged candidate are anonymised).
TRAIL_TABLE_NAMES = frozenset(
    table.name for table in BOOKING_TABLES + MEETING_TABLES + CANDIDATE_TRAIL_TABLES
)
#: What makes a contact with a candidate, and when: the latest one starts the retention period.
CONTACTS = (
    (TOUCHPOINTS, "occurred_at"),
    (BOOKINGS, "starts_at"),
    (MEETINGS, "starts_at"),
    # A pre-registration or a withdrawal is a contact too.
    (ENROLLMENTS, "enrolled_at"),
)
#: Columns the purge empties on the rows it keeps: personal data, or what leads back to the person
#: (a video room's link, a page address that may carry a tracking token).
CLEARED = {
    "touchpoints": ("landing_page",),
    "bookings": ("meeting_url", "room_meeting_id", "host_room_url"),
    "meetings": ("meeting_url",),
}
#: Tables whose rows have their own ref from the booking site: replaced too, as it leads back.
RENUMBERED = {"bookings", "meetings"}
#: The most candidates a search returns by default.
SEARCH_LIMIT = 20
#: Under this age, a minor's consent to marketing counts only with a parent's (loi Informatique et
#: Libertés, art. 45: the "digital majority" is 15 in France).
CONSENT_AGE = 15


class UnknownCandidate(LookupError):
    """No candidate has this ref (the message says so, in French)."""


def age_on(born: date | None, day: date) -> int | None:
    """Age in whole years on ``day`` (None when the birth date is unknown)."""
    if born is None or pd.isna(born):
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def effective_marketing_consent(
    *, marketing_consent: bool, parent_consent: bool, birth_date: date | None, today: date
) -> bool:
    """Whether a candidate's consent to marketing counts: under 15, only with a parent's as well.

    An unknown birth date is not known to be under 15: the candidate's own consent counts.
    """
    if not marketing_consent:
        return False
    age = age_on(birth_date, today)
    return age is None or age >= CONSENT_AGE or parent_consent


def consenting_candidates(today: date | None = None, engine: Engine | None = None) -> int:
    """How many candidates may receive marketing on ``today`` (default: today, local date)."""
    today = today or local_date(datetime.now(UTC))
    query = sa.select(CANDIDATES.c.parent_consent, CANDIDATES.c.birth_date).where(
        CANDIDATES.c.marketing_consent.is_(True)
    )
    with (engine or get_engine()).connect() as connection:
        rows = connection.execute(query).all()
    return sum(
        effective_marketing_consent(
            marketing_consent=True, parent_consent=parent, birth_date=born, today=today
        )
        for parent, born in rows
    )


def row_counts(connection: sa.Connection, owners: sa.Select) -> dict[str, int]:
    """Rows per table that belong to the candidates whose refs ``owners`` selects."""
    return dict(connection.execute(row_counts_query(owners)).one()._mapping)


def row_counts_query(owners: sa.Select) -> sa.Select:
    """One row: per table, the rows that belong to the candidates whose refs ``owners`` selects;
    ``owners`` computed once (a common table expression), not once per table (11 times: the
    purge preview took 41 s at scale M)."""
    refs = owners.cte("owners")
    of_owners = sa.select(refs.c.ref)
    bookings = sa.select(BOOKINGS.c.ref).where(BOOKINGS.c.candidate_ref.in_(of_owners))
    meetings = sa.select(MEETINGS.c.ref).where(MEETINGS.c.candidate_ref.in_(of_owners))
    conditions = (
        {"candidates": (CANDIDATES, CANDIDATES.c.ref.in_(of_owners))}
        | {table.name: (table, table.c.candidate_ref.in_(of_owners)) for table in CANDIDATE_TABLES}
        | {table.name: (table, table.c.booking_ref.in_(bookings)) for table in BOOKING_TABLES}
        | {table.name: (table, table.c.meeting_ref.in_(meetings)) for table in MEETING_TABLES}
        | {table.name: (table, table.c.candidate_ref.in_(of_owners)) for table in CANDIDATE_TRAIL_TABLES}
    )
    return sa.select(
        *(
            sa.select(sa.func.count()).select_from(table).where(condition).scalar_subquery().label(name)
            for name, (table, condition) in conditions.items()
        )
    )


def delete_booking_trails(connection: sa.Connection, owners: sa.Select) -> None:
    """Delete the history and notes of the bookings, the history of the job-dating meetings,
    and the mail sent (``CANDIDATE_TRAIL_TABLES``), of these candidates."""
    bookings = sa.select(BOOKINGS.c.ref).where(BOOKINGS.c.candidate_ref.in_(owners))
    for table in BOOKING_TABLES:
        connection.execute(table.delete().where(table.c.booking_ref.in_(bookings)))
    meetings = sa.select(MEETINGS.c.ref).where(MEETINGS.c.candidate_ref.in_(owners))
    for table in MEETING_TABLES:
        connection.execute(table.delete().where(table.c.meeting_ref.in_(meetings)))
    for table in CANDIDATE_TRAIL_TABLES:
        connection.execute(table.delete().where(table.c.candidate_ref.in_(owners)))


def mentions(value: str, refs: set[str]) -> bool:
    # A problem's value is one cell, or a key's cells joined by ", ".
    return any(part.strip() in refs for part in str(value).split(","))


def rejected_runs(connection: sa.Connection) -> list[sa.Row]:
    """Import runs that recorded problems (their values may name a candidate)."""
    return connection.execute(
        sa.select(IMPORT_RUNS).where(IMPORT_RUNS.c.problems != "[]").order_by(IMPORT_RUNS.c.id)
    ).all()


def mask_import_mentions(connection: sa.Connection, refs: set[str]) -> None:
    """Mask, in the import history, the problem values that name one of these candidates."""
    for run in rejected_runs(connection):
        problems = json.loads(run.problems)
        if any(mentions(problem["value"], refs) for problem in problems):
            for problem in problems:
                if mentions(problem["value"], refs):
                    problem["value"] = MASK
            connection.execute(
                IMPORT_RUNS.update()
                .where(IMPORT_RUNS.c.id == run.id)
                .values(problems=json.dumps(problems, ensure_ascii=False))
            )

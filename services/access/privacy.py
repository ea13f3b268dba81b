"""Personal data over time: the retention purge, a candidate's rights of access and erasure, and
minors' consent to marketing (GDPR, as the CNIL applies it to prospects).

The purge keeps every figure of past events: it does not delete a purged candidate's rows, it
moves them to an anonymous candidate (a random ``anon-…`` ref that nothing links back to) and
empties what could identify the person. Erasure, on request, deletes every row of the person.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import config
from services.config import LOCAL_TZ
from services.store import analytics, audit
from services.store.contract import MASK
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import (
    ANONYMOUS_REF_PREFIX,
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


# ---------------------------------------------------------------- ages and consent


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


# ---------------------------------------------------------------- retention purge


@dataclass(frozen=True)
class PurgeSummary:
    """What the purge anonymises or deletes (or did): candidates, and rows per table."""

    #: Candidates whose latest contact is before this instant are purged.
    cutoff: datetime
    candidates: int
    #: Rows per table name: ``candidates`` and ``CANDIDATE_TABLES`` anonymised, the rest deleted.
    rows: dict[str, int]

    def as_frame(self) -> pd.DataFrame:
        """One row per table: table, action (``anonymised`` or ``deleted``), rows."""
        return pd.DataFrame(
            [
                (table, "deleted" if table in TRAIL_TABLE_NAMES else "anonymised", count)
                for table, count in self.rows.items()
            ],
            columns=["table", "action", "rows"],
        )


def retention_cutoff(now: datetime | None = None) -> datetime:
    """``now`` minus ``RETENTION_MONTHS`` calendar months, on the centre's calendar."""
    local_now = pd.Timestamp((now or datetime.now(UTC)).astimezone(LOCAL_TZ))
    return (local_now - pd.DateOffset(months=config.retention_months())).to_pydatetime()


def _purgeable(cutoff: datetime) -> sa.Select:
    """Refs of candidates never enrolled, without any contact since ``cutoff``, not yet anonymised.

    Each exclusion is one uncorrelated ``NOT IN`` (the contacts since the cutoff, found by the
    index on their instant, gathered once), not a probe per candidate: at scale M (200,000
    candidates) 5.5 s → 0.3 s. Every ``candidate_ref`` is NOT NULL (a NULL would make NOT IN
    exclude everyone), checked by tests/test_privacy.py."""
    ref = CANDIDATES.c.ref
    enrolled = sa.select(ENROLLMENTS.c.candidate_ref).where(ENROLLMENTS.c.status == "enrolled")
    return sa.select(ref).where(
        ~ref.startswith(ANONYMOUS_REF_PREFIX, autoescape=True),
        CANDIDATES.c.created_at < cutoff,
        ref.not_in(enrolled),
        *(
            ref.not_in(sa.select(table.c.candidate_ref).where(table.c[column] >= cutoff))
            for table, column in CONTACTS
        ),
    )


def _row_counts(connection: sa.Connection, owners: sa.Select) -> dict[str, int]:
    """Rows per table that belong to the candidates whose refs ``owners`` selects."""
    return dict(connection.execute(_row_counts_query(owners)).one()._mapping)


def _row_counts_query(owners: sa.Select) -> sa.Select:
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


def _delete_booking_trails(connection: sa.Connection, owners: sa.Select) -> None:
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


def purge_preview(now: datetime | None = None, engine: Engine | None = None) -> PurgeSummary:
    """What ``purge`` would anonymise or delete now; writes nothing."""
    cutoff = retention_cutoff(now)
    # A heavy read like the pages' (analytics.read_frame: in DuckDB for a SQLite file): at scale M
    # it counts the rows of 180,000 candidates in 11 tables. The purge counts again, in the store,
    # under its write lock.
    counts = analytics.read_frame(_row_counts_query(_purgeable(cutoff)), engine).iloc[0]
    rows = {name: int(count) for name, count in counts.items()}
    return PurgeSummary(cutoff, rows["candidates"], rows)


def purge(*, actor: str, now: datetime | None = None, engine: Engine | None = None) -> PurgeSummary:
    """Anonymise the candidates never enrolled and without contact for ``RETENTION_MONTHS``.

    In one transaction: their bookings' history and notes are deleted; each of them becomes an
    anonymous candidate whose touchpoints, bookings, enrollments and meetings keep what the
    figures count (times, statuses, channels, sites…) and lose what leads back to the person.
    No birth date is kept in any form: no figure of past events uses ages.
    """
    cutoff = retention_cutoff(now)
    owners = _purgeable(cutoff)
    with write_transaction(engine) as connection:
        rows = _row_counts(connection, owners)
        people = connection.execute(
            sa.select(CANDIDATES.c.ref, CANDIDATES.c.created_at).where(CANDIDATES.c.ref.in_(owners))
        ).all()
        # Random, and kept nowhere next to the old ref: the anonymous ref cannot be traced back.
        anonymous = {ref: ANONYMOUS_REF_PREFIX + secrets.token_hex(8) for ref, _ in people}
        moves = {table: _moves(connection, table, owners, anonymous) for table in CANDIDATE_TABLES}
        _delete_booking_trails(connection, owners)
        if people:
            # Only the creation time stays: consent is the person's, gone with them.
            connection.execute(
                CANDIDATES.insert(), [{"ref": anonymous[ref], "created_at": at} for ref, at in people]
            )
            for table, updates in moves.items():
                if updates:
                    statement = table.update().where(table.c.id == sa.bindparam("_id"))
                    connection.execute(statement, updates)
            connection.execute(
                CANDIDATES.delete().where(CANDIDATES.c.ref == sa.bindparam("_ref")),
                [{"_ref": ref} for ref in anonymous],
            )
            _mask_import_mentions(connection, set(anonymous))
            bump_data_version(connection)
        audit.record("purge", actor=actor, detail=f"candidates={len(people)}", connection=connection)
    analytics.refresh_copies(engine)
    return PurgeSummary(cutoff, len(people), rows)


def _moves(
    connection: sa.Connection, table: sa.Table, owners: sa.Select, anonymous: dict[str, str]
) -> list[dict]:
    """The updates that hand a table's rows of these candidates to their anonymous candidates."""
    renumbered = table.name in RENUMBERED
    order = [table.c.candidate_ref, table.c.ref if renumbered else table.c.id]
    rows = connection.execute(
        sa.select(table.c.id, table.c.candidate_ref).where(table.c.candidate_ref.in_(owners)).order_by(*order)
    ).all()
    cleared = dict.fromkeys(CLEARED.get(table.name, ()))
    updates, numbers = [], dict.fromkeys(anonymous, 0)
    for row_id, ref in rows:
        update = {"_id": row_id, "candidate_ref": anonymous[ref], **cleared}
        if renumbered:
            # Numbered in the old refs' order, which breaks ties between a candidate's bookings
            # (attribution): the figures cannot move.
            numbers[ref] += 1
            update["ref"] = f"{anonymous[ref]}-{numbers[ref]:04d}"
        updates.append(update)
    return updates


# ---------------------------------------------------------------- import history


def _mentions(value: str, refs: set[str]) -> bool:
    # A problem's value is one cell, or a key's cells joined by ", ".
    return any(part.strip() in refs for part in str(value).split(","))


def _rejected_runs(connection: sa.Connection) -> list[sa.Row]:
    """Import runs that recorded problems (their values may name a candidate)."""
    return connection.execute(
        sa.select(IMPORT_RUNS).where(IMPORT_RUNS.c.problems != "[]").order_by(IMPORT_RUNS.c.id)
    ).all()


def _mask_import_mentions(connection: sa.Connection, refs: set[str]) -> None:
    """Mask, in the import history, the problem values that name one of these candidates."""
    for run in _rejected_runs(connection):
        problems = json.loads(run.problems)
        if any(_mentions(problem["value"], refs) for problem in problems):
            for problem in problems:
                if _mentions(problem["value"], refs):
                    problem["value"] = MASK
            connection.execute(
                IMPORT_RUNS.update()
                .where(IMPORT_RUNS.c.id == run.id)
                .values(problems=json.dumps(problems, ensure_ascii=False))
            )


# ---------------------------------------------------------------- rights of access and erasure


def _owner(connection: sa.Connection, ref: str) -> sa.Select:
    """The select of this one candidate's ref; ``UnknownCandidate`` when there is none."""
    owner = sa.select(CANDIDATES.c.ref).where(CANDIDATES.c.ref == ref)
    if connection.execute(owner).first() is None:
        raise UnknownCandidate(f"candidat inconnu : {ref}")
    return owner


def find_candidates(query: str, limit: int = SEARCH_LIMIT, engine: Engine | None = None) -> pd.DataFrame:
    """Candidates (ref, first_name, last_name, email) whose ref, names or e-mail contain every
    word of ``query`` (any case); the exact ref first, then by name; anonymised ones never."""
    searched = (CANDIDATES.c.ref, CANDIDATES.c.first_name, CANDIDATES.c.last_name, CANDIDATES.c.email)
    words = query.lower().split()
    exact = sa.case((CANDIDATES.c.ref == query.strip(), 0), else_=1)
    select = (
        sa.select(*searched)
        .where(
            ~CANDIDATES.c.ref.startswith(ANONYMOUS_REF_PREFIX, autoescape=True),
            *(
                sa.or_(*(sa.func.lower(c).contains(word, autoescape=True) for c in searched))
                for word in words
            ),
        )
        .order_by(exact, CANDIDATES.c.last_name, CANDIDATES.c.first_name, CANDIDATES.c.ref)
        .limit(limit)
    )
    columns = ["ref", "first_name", "last_name", "email"]
    if not words:
        return pd.DataFrame(columns=columns)
    with (engine or get_engine()).connect() as connection:
        return pd.DataFrame(connection.execute(select).all(), columns=columns)


def _plain(value: object) -> object:
    """A stored value as JSON shows it: instants in local ISO time, dates ISO, decimals as text."""
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _records(connection: sa.Connection, query: sa.Select) -> list[dict]:
    return [
        {name: _plain(value) for name, value in row.items() if name != "id"}
        for row in connection.execute(query).mappings()
    ]


def candidate_footprint(ref: str, engine: Engine | None = None) -> dict[str, int]:
    """Rows stored about one candidate, per table (what erasure deletes)."""
    with (engine or get_engine()).connect() as connection:
        return _row_counts(connection, _owner(connection, ref))


def export_candidate(ref: str, *, actor: str, engine: Engine | None = None) -> dict:
    """Everything stored about one candidate (right of access), as plain JSON values."""
    engine = engine or get_engine()
    with engine.connect() as connection:
        _owner(connection, ref)
        # The advisor's host link is not the person's data but a key to the room: never given out.
        shown = [column for column in BOOKINGS.columns if column.name != "host_room_url"]
        bookings = _records(
            connection,
            sa.select(*shown).where(BOOKINGS.c.candidate_ref == ref).order_by(BOOKINGS.c.starts_at),
        )
        for booking in bookings:
            for name, table, at in (
                ("history", CHANGES, "changed_at"),
                ("notes", NOTES, "written_at"),
                ("call_attendance", SUGGESTIONS, "fetched_at"),
            ):
                booking[name] = _records(
                    connection,
                    sa.select(table).where(table.c.booking_ref == booking["ref"]).order_by(table.c[at]),
                )
        meetings = _records(
            connection,
            sa.select(MEETINGS).where(MEETINGS.c.candidate_ref == ref).order_by(MEETINGS.c.starts_at),
        )
        for meeting in meetings:
            for name, table, at in (
                ("history", MEETING_CHANGES, "changed_at"),
                ("call_attendance", MEETING_SUGGESTIONS, "fetched_at"),
            ):
                meeting[name] = _records(
                    connection,
                    sa.select(table).where(table.c.meeting_ref == meeting["ref"]).order_by(table.c[at]),
                )
        export = {
            "ref": ref,
            "exported_at": _plain(datetime.now(UTC)),
            "candidate": _records(connection, sa.select(CANDIDATES).where(CANDIDATES.c.ref == ref))[0],
            "touchpoints": _records(
                connection,
                sa.select(TOUCHPOINTS)
                .where(TOUCHPOINTS.c.candidate_ref == ref)
                .order_by(TOUCHPOINTS.c.occurred_at),
            ),
            "bookings": bookings,
            "enrollments": _records(
                connection,
                sa.select(ENROLLMENTS)
                .where(ENROLLMENTS.c.candidate_ref == ref)
                .order_by(ENROLLMENTS.c.enrolled_at),
            ),
            "meetings": meetings,
            "mail_sent": _records(
                connection,
                sa.select(MAIL_SENDS).where(MAIL_SENDS.c.candidate_ref == ref).order_by(MAIL_SENDS.c.sent_at),
            ),
            "import_history": [
                {"at": _plain(run.started_at), "source": run.source, "kind": run.kind} | problem
                for run in _rejected_runs(connection)
                for problem in json.loads(run.problems)
                if _mentions(problem["value"], {ref})
            ],
        }
    audit.record("candidate.export", actor=actor, target=ref, engine=engine)
    return export


def candidate_json(ref: str, *, actor: str, engine: Engine | None = None) -> str:
    """``export_candidate`` as indented JSON text (what the command line prints)."""
    return json.dumps(export_candidate(ref, actor=actor, engine=engine), ensure_ascii=False, indent=2)


def erase_candidate(ref: str, *, actor: str, engine: Engine | None = None) -> dict[str, int]:
    """Delete every row about one candidate (right to erasure); returns the rows deleted per table.

    The audit log keeps that the ref was erased, by whom and when, and nothing else about them.
    """
    with write_transaction(engine) as connection:
        owner = _owner(connection, ref)
        rows = _row_counts(connection, owner)
        _delete_booking_trails(connection, owner)
        for table in CANDIDATE_TABLES:
            connection.execute(table.delete().where(table.c.candidate_ref == ref))
        connection.execute(CANDIDATES.delete().where(CANDIDATES.c.ref == ref))
        _mask_import_mentions(connection, {ref})
        bump_data_version(connection)
        detail = " ".join(f"{table}={count}" for table, count in rows.items())
        audit.record("candidate.erase", actor=actor, target=ref, detail=detail, connection=connection)
    analytics.refresh_copies(engine)  # no erased row left in the DuckDB worker's copies
    return rows

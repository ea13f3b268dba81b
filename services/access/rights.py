"""A candidate's rights: finding the person, access (everything stored on them, as JSON) and
erasure on request (every row of the person deleted; the audit log keeps only the ref).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access.privacy import (
    BOOKINGS,
    CANDIDATE_TABLES,
    CANDIDATES,
    CHANGES,
    ENROLLMENTS,
    MAIL_SENDS,
    MEETING_CHANGES,
    MEETING_SUGGESTIONS,
    MEETINGS,
    NOTES,
    SEARCH_LIMIT,
    SUGGESTIONS,
    TOUCHPOINTS,
    UnknownCandidate,
    delete_booking_trails,
    mask_import_mentions,
    mentions,
    rejected_runs,
    row_counts,
)
from services.config import LOCAL_TZ
from services.store import analytics, audit
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import (
    ANONYMOUS_REF_PREFIX,
)


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
        return row_counts(connection, _owner(connection, ref))


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
                for run in rejected_runs(connection)
                for problem in json.loads(run.problems)
                if mentions(problem["value"], {ref})
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
        rows = row_counts(connection, owner)
        delete_booking_trails(connection, owner)
        for table in CANDIDATE_TABLES:
            connection.execute(table.delete().where(table.c.candidate_ref == ref))
        connection.execute(CANDIDATES.delete().where(CANDIDATES.c.ref == ref))
        mask_import_mentions(connection, {ref})
        bump_data_version(connection)
        detail = " ".join(f"{table}={count}" for table, count in rows.items())
        audit.record("candidate.erase", actor=actor, target=ref, detail=detail, connection=connection)
    analytics.refresh_copies(engine)  # no erased row left in the DuckDB worker's copies
    return rows

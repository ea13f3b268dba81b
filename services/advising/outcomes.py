"""What advisors change on an interview: its outcome (attended, no-show, cancelled…) and notes,
its advisor (reassigned), and the history of those changes.

Every write is validated, checked against the version the advisor read (two advisors saving
the same booking: the second is refused), recorded in the history, and bumps the data version
so that every cached figure is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ
from services.store import audit
from services.store.database import bump_data_version, get_engine, retry_write
from services.store.models import Advisor, Booking, BookingChange, BookingNote
from services.store.versioned import ChangeRefused, changes_of, read_versioned, write_versioned

BOOKINGS = Booking.__table__
ADVISORS = Advisor.__table__
CHANGES = BookingChange.__table__
NOTES = BookingNote.__table__
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


@dataclass(frozen=True)
class Outcome:
    """What an advisor records after an interview."""

    status: str
    attendees: int | None = None
    note: str = ""


def check_outcome(current_status: str, starts_at: datetime, outcome: Outcome, now: datetime) -> None:
    """Raise ``ChangeRefused`` when the rules refuse this outcome."""
    if outcome.status != current_status and outcome.status not in TRANSITIONS.get(current_status, set()):
        if current_status == "cancelled":
            raise ChangeRefused("un entretien annulé doit d'abord être rouvert (statut « réservé »)")
        raise ChangeRefused(f"passage de « {current_status} » à « {outcome.status} » non permis")
    if outcome.status in OUTCOMES_AFTER_START and starts_at > now:
        raise ChangeRefused("l'entretien n'a pas encore commencé : il ne peut être noté venu ou absent")
    if outcome.attendees is not None and outcome.attendees < 1:
        raise ChangeRefused("il faut au moins une personne présente")
    if len(outcome.note) > MAX_NOTE_LENGTH:
        raise ChangeRefused(f"note trop longue (au plus {MAX_NOTE_LENGTH} caractères)")


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
        raise ChangeRefused("conseiller inconnu")
    if site != current["site_code"]:
        raise ChangeRefused("le conseiller doit être du même site que l'entretien")
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
        raise ChangeRefused("ce conseiller a déjà un entretien à ce moment-là")
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

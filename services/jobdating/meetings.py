"""A job-dating event's meetings: who meets which company when, their outcomes with their
history, and each company's and each candidate's schedule as they are sent out.

Outcomes follow the rules of the interviews (``services.advising.schedule``): a save that read an older
version of the meeting is refused (``ConflictError``), every changed field is kept in
``meeting_changes`` with who and when, and the rules below refuse what cannot be true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access.consent import CHANGED
from services.config import LOCAL_TZ
from services.store import analytics, audit
from services.store.database import bump_data_version, get_engine, retry_write, take_turn
from services.store.models import (
    MEETING_OUTCOMES,
    MEETING_STATUSES,
    Candidate,
    Company,
    Meeting,
    MeetingChange,
    Offer,
    Program,
)
from services.store.room_links import company_link
from services.store.values import local_date
from services.store.versioned import ChangeRefused, changes_of, read_versioned, write_versioned

MEETINGS = Meeting.__table__
CHANGES = MeetingChange.__table__
OFFERS = Offer.__table__
COMPANIES = Company.__table__
CANDIDATES = Candidate.__table__
PROGRAMS = Program.__table__
#: The statuses a meeting may go to from each status (a correction included; a cancelled
#: meeting is first planned again).
TRANSITIONS = {
    "planned": {"held", "no_show", "cancelled"},
    "held": {"no_show", "planned"},
    "no_show": {"held", "planned"},
    "cancelled": {"planned"},
}
#: Statuses that say what happened: only once the meeting has started.
AFTER_START = {"held", "no_show"}
#: The writers of job-dating meetings that check for clashes before they write take turns on it.
MEETING_WRITES = "job-dating meetings"


@dataclass(frozen=True)
class MeetingOutcome:
    """What an advisor records after a meeting."""

    status: str
    outcome: str = "none"
    contract_signed_on: date | None = None


def event_meetings(event_code: str, engine: Engine | None = None) -> pd.DataFrame:
    """The meetings of a job-dating event in time order, with the candidate (ref, first and last
    name), the offer, its company and its programme (code and name, at the offer's site)."""
    program_name = (
        sa.select(PROGRAMS.c.name)
        .where(PROGRAMS.c.code == OFFERS.c.program_code, PROGRAMS.c.site_code == OFFERS.c.site_code)
        .scalar_subquery()
    )
    query = (
        sa.select(
            MEETINGS.c.ref,
            MEETINGS.c.starts_at,
            MEETINGS.c.duration_min,
            MEETINGS.c.status,
            MEETINGS.c.outcome,
            MEETINGS.c.contract_signed_on,
            MEETINGS.c.meeting_url,
            MEETINGS.c.version,
            MEETINGS.c.candidate_ref,
            CANDIDATES.c.first_name,
            CANDIDATES.c.last_name,
            MEETINGS.c.offer_ref,
            OFFERS.c.siret,
            COMPANIES.c.name.label("company"),
            OFFERS.c.program_code,
            program_name.label("program"),
            OFFERS.c.site_code,
        )
        .join(CANDIDATES, CANDIDATES.c.ref == MEETINGS.c.candidate_ref)
        .join(OFFERS, OFFERS.c.ref == MEETINGS.c.offer_ref)
        .join(COMPANIES, COMPANIES.c.siret == OFFERS.c.siret)
        .where(MEETINGS.c.event_code == event_code)
        .order_by(MEETINGS.c.starts_at, COMPANIES.c.name, MEETINGS.c.ref)
    )
    frame = analytics.read_frame(query, engine, instants=["starts_at"])
    frame["starts_at"] = frame["starts_at"].dt.tz_convert(LOCAL_TZ)
    frame["ends_at"] = frame["starts_at"] + pd.to_timedelta(frame["duration_min"], unit="min")
    return frame


def check_meeting_outcome(current: dict, outcome: MeetingOutcome, now: datetime) -> None:
    """Raise ``ChangeRefused`` (a French message saying why) when the rules refuse this outcome
    for the meeting ``current`` (its stored row)."""
    if outcome.status not in MEETING_STATUSES:
        raise ChangeRefused(f"statut de rencontre inconnu : « {outcome.status} »")
    if outcome.outcome not in MEETING_OUTCOMES:
        raise ChangeRefused(f"résultat de rencontre inconnu : « {outcome.outcome} »")
    status = current["status"]
    if outcome.status != status and outcome.status not in TRANSITIONS[status]:
        if status == "cancelled":
            raise ChangeRefused("une rencontre annulée doit d'abord être replanifiée (statut « prévue »)")
        raise ChangeRefused(f"passage de « {status} » à « {outcome.status} » non permis")
    if outcome.status in AFTER_START and current["starts_at"] > now:
        raise ChangeRefused("la rencontre n'a pas encore commencé : elle ne peut être notée tenue ou manquée")
    if outcome.outcome != "none" and outcome.status != "held":
        raise ChangeRefused("un intérêt ou un contrat ne s'enregistre que pour une rencontre tenue")
    if outcome.outcome == "contract_signed":
        signed = outcome.contract_signed_on
        if signed is None:
            raise ChangeRefused("la date de signature du contrat est obligatoire")
        if signed < local_date(current["starts_at"]):
            raise ChangeRefused("le contrat ne peut être signé avant la rencontre")
        if signed > local_date(now):
            raise ChangeRefused("la date de signature ne peut être dans le futur")
    elif outcome.contract_signed_on is not None:
        raise ChangeRefused("une date de signature va avec le résultat « contrat signé » seulement")


def record_meeting_outcome(
    meeting_ref: str,
    *,
    outcome: MeetingOutcome,
    author: str,
    read_version: int,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> int:
    """Save a meeting's status and outcome (with its contract date); returns its new version.
    Retried as a whole when SQLite is busy, version check included."""
    now = now or datetime.now(UTC)

    def save(connection: sa.Connection) -> int:
        return apply_meeting_outcome(
            connection, meeting_ref, outcome=outcome, author=author, read_version=read_version, now=now
        )

    return retry_write(save, engine)


def apply_meeting_outcome(
    connection: sa.Connection,
    meeting_ref: str,
    *,
    outcome: MeetingOutcome,
    author: str,
    read_version: int,
    now: datetime,
) -> int:
    """In the caller's transaction: check the rules and the version, save the outcome with its
    history and audit (what ``record_meeting_outcome`` and a confirmed call both do)."""
    unknown = f"rencontre inconnue : {meeting_ref}"
    current = read_versioned(
        connection, MEETINGS, meeting_ref, read_version, unknown=unknown, changed=CHANGED
    )
    check_meeting_outcome(current, outcome, now)
    if current["status"] == "cancelled" and outcome.status != "cancelled":
        take_turn(connection, MEETING_WRITES)
        _check_still_free(connection, current)
    changes = {
        "status": outcome.status,
        "outcome": outcome.outcome,
        "contract_signed_on": outcome.contract_signed_on,
    }
    version = write_versioned(
        connection, MEETINGS, CHANGES, current, changes, author=author, now=now, changed=CHANGED
    )
    audit.record(
        "meeting.outcome",
        actor=author,
        target=meeting_ref,
        detail=f"status={outcome.status} outcome={outcome.outcome}",
        connection=connection,
    )
    bump_data_version(connection)
    return version


def _check_still_free(connection: sa.Connection, meeting: dict) -> None:
    """Refuse to plan again a cancelled meeting whose time the candidate or the company has given
    to another meeting since (of any job dating): its slot may have been planned anew."""
    start = meeting["starts_at"]
    end = start + timedelta(minutes=meeting["duration_min"])
    siret = sa.select(OFFERS.c.siret).where(OFFERS.c.ref == meeting["offer_ref"]).scalar_subquery()
    others = connection.execute(
        sa.select(MEETINGS.c.candidate_ref, MEETINGS.c.starts_at, MEETINGS.c.duration_min)
        .join(OFFERS, OFFERS.c.ref == MEETINGS.c.offer_ref)
        .where(
            MEETINGS.c.ref != meeting["ref"],
            MEETINGS.c.status != "cancelled",
            sa.or_(MEETINGS.c.candidate_ref == meeting["candidate_ref"], OFFERS.c.siret == siret),
            MEETINGS.c.starts_at < end,
            MEETINGS.c.starts_at > start - timedelta(hours=12),
        )
    ).all()
    for candidate_ref, other_start, minutes in others:
        if other_start + timedelta(minutes=minutes) > start:
            who = "le candidat" if candidate_ref == meeting["candidate_ref"] else "l'entreprise"
            raise ChangeRefused(
                f"{who} a déjà une autre rencontre à ce moment-là : la rencontre ne peut être replanifiée"
            )


def meeting_history(meeting_ref: str, engine: Engine | None = None) -> pd.DataFrame:
    """The changes of a meeting, latest first (at, by, field, old, new)."""
    with (engine or get_engine()).connect() as connection:
        rows = changes_of(connection, CHANGES, meeting_ref)
    frame = pd.DataFrame(rows, columns=["at", "by", "field", "old", "new"])
    # Latest first; changes written together (one save) in the order they were written.
    return frame.iloc[::-1].sort_values("at", ascending=False, kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- schedules sent out

#: A company's schedule: its candidates' first names and programme only (no last name, no
#: contact, no age), with the meeting's ref, time and video link.
COMPANY_COLUMNS = ["ref", "starts_at", "ends_at", "first_name", "program", "meeting_url"]
#: A candidate's schedule: the companies met, the offer's programme, the time and the link.
CANDIDATE_COLUMNS = ["ref", "starts_at", "ends_at", "company", "program", "meeting_url"]


def company_schedule(meetings: pd.DataFrame, siret: str) -> pd.DataFrame:
    """A company's meetings of the event (not cancelled), as sent to it (``COMPANY_COLUMNS``); a
    meeting's own Whereby room comes with the company's ``externalId``, so that the call tells
    the company from the candidate (``sync attendance``)."""
    mine = meetings[(meetings["siret"] == siret) & (meetings["status"] != "cancelled")]
    mine = mine[COMPANY_COLUMNS].reset_index(drop=True)
    mine["meeting_url"] = [
        company_link(url, ref) for url, ref in zip(mine["meeting_url"], mine["ref"], strict=True)
    ]
    return mine


def candidate_schedule(meetings: pd.DataFrame, candidate_ref: str) -> pd.DataFrame:
    """A candidate's meetings of the event (not cancelled), as sent to them (``CANDIDATE_COLUMNS``)."""
    mine = meetings[(meetings["candidate_ref"] == candidate_ref) & (meetings["status"] != "cancelled")]
    return mine[CANDIDATE_COLUMNS].reset_index(drop=True)

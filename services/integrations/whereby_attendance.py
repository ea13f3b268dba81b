"""Attendance of the interviews and the job-dating meetings, suggested from their calls.

Once an interview's room has closed (its end + 15 minutes), its sessions and their participants
(``GET /v1/insights/room-sessions`` and ``GET /v1/insights/participants``) give a suggestion:
``attended`` (a visitor joined; ``family`` when more than one did), ``no_show`` (no visitor joined)
or ``advisor_absent`` (no host joined). It waits for the advisor: confirming records the outcome
through the schedule's rules (validation, version check, history, audit), dismissing sets it aside.
Nothing is written to a booking before. A job-dating meeting's call gives ``held``, ``no_show`` or
``company_absent`` the same way, confirmed or dismissed on the planning page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.advising.outcomes import Outcome, apply_outcome
from services.i18n import translate
from services.integrations import api
from services.integrations.whereby import (
    SERVICE,
    claims_under,
    listing_pages,
    refuse_plan_limits,
    room_end,
    room_name,
    whereby_client,
)
from services.integrations.whereby_meeting_rooms import OWN_ROOM_CLAIM
from services.jobdating import meetings
from services.store import audit
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import (
    AttendanceSuggestion,
    Booking,
    MeetingSuggestion,
)
from services.store.models import Meeting as JobDatingMeeting
from services.store.room_links import (
    company_external_id,
    external_id,
)
from services.store.values import local_date, local_midnight
from services.store.versioned import ChangeRefused, ConflictError

BOOKINGS = Booking.__table__
MEETING_SUGGESTIONS = MeetingSuggestion.__table__
SUGGESTIONS = AttendanceSuggestion.__table__
MEETINGS = JobDatingMeeting.__table__
#: Participants' ``roleName`` (Whereby's ``RoleName``: whereby/sdk, packages/media/src/utils/types.ts:
#: none, visitor, granted_visitor, viewer, granted_viewer, host, recorder, streamer, captioner,
#: assistant; ``owner`` and ``member`` are the account's own people). Hosts: the host link's.
HOST_ROLES = frozenset({"host", "owner", "member"})
#: People who came through the room link: let in at once (``visitor``), let in after knocking or
#: queueing before the host joined (``granted_visitor``, ``granted_viewer``), or watching without
#: camera nor microphone (``viewer``): all were in the call.
VISITOR_ROLES = frozenset({"visitor", "granted_visitor", "viewer", "granted_viewer"})
#: Not a person of the call: no role yet, or Whereby's recording, streaming, captioning and
#: assistant bots.
IGNORED_ROLES = frozenset({"none", "recorder", "streamer", "captioner", "assistant"})
#: Without ``since``, attendance is read for the interviews of the last 30 days.
ATTENDANCE_LOOKBACK = timedelta(days=30)
SUGGESTIONS_KINDS = ("attended", "no_show", "advisor_absent")
#: The status a suggestion confirms (None: it records a note, the status stays).
SUGGESTED_STATUS = {"attended": "attended", "no_show": "no_show", "advisor_absent": None}


class SuggestionConflict(ChangeRefused):
    """The call contradicts the outcome already recorded: nothing is applied."""


@dataclass(frozen=True)
class CallReading:
    """Who joined an interview's room, from Whereby's insights."""

    sessions: int
    #: Distinct visitors (by display name, else participant id: a reconnection counts once).
    visitors: int
    host_joined: bool


def suggest(reading: CallReading) -> tuple[str, bool]:
    """The suggestion of a call, and whether the family was there (more than one visitor)."""
    family = reading.visitors > 1
    if not reading.host_joined:
        return "advisor_absent", family
    if reading.visitors == 0:
        return "no_show", False
    return "attended", family


def _participants(client: api.ApiClient, name: str) -> tuple[int, list[tuple[str, str, dict]]]:
    """The sessions of a room, and each person who joined it: (``host`` or ``visitor``, who, the
    participant as listed); Whereby's bots are left out, an unknown role fails the reading."""
    sessions = list(listing_pages(client, "/v1/insights/room-sessions", {"roomName": name}))
    people = []
    for session in sessions:
        session_id = session.get("roomSessionId")
        if not isinstance(session_id, str) or not session_id:
            raise api.ApiError(f"{SERVICE} : session de salle sans roomSessionId")
        participants = listing_pages(client, "/v1/insights/participants", {"roomSessionId": session_id})
        for number, participant in enumerate(participants):
            role = str(participant.get("roleName") or "none").lower()
            if role in IGNORED_ROLES:
                continue
            if role not in HOST_ROLES | VISITOR_ROLES:
                # A role Whereby added since: better no suggestion than a wrong one.
                raise api.ApiError(f"{SERVICE} : rôle de participant inconnu « {role[:40]} »")
            kind = "host" if role in HOST_ROLES else "visitor"
            people.append((kind, _identity(participant, f"{session_id}:{number}"), participant))
    return len(sessions), people


def read_call(client: api.ApiClient, name: str) -> CallReading:
    """Every session of a room and its participants: who joined, as host or as visitor."""
    sessions, people = _participants(client, name)
    visitors = {who for kind, who, _ in people if kind == "visitor"}
    return CallReading(sessions, len(visitors), any(kind == "host" for kind, _, _ in people))


def _identity(participant: dict, fallback: str) -> str:
    # Held in memory only, never stored: it tells a reconnection from a second device.
    name = str(participant.get("displayName") or "").strip().casefold()
    if name:
        return f"name:{name}"
    return f"id:{participant.get('participantId') or fallback}"


@dataclass
class AttendanceSummary:
    """What an attendance sync stored (or, in a dry run, would store): (ref, suggestion)."""

    dry_run: bool = False
    suggested: list[tuple[str, str]] = field(default_factory=list)
    #: Pending suggestions that later insights changed.
    updated: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: The same for job-dating meetings: (meeting ref, suggestion).
    meetings_suggested: list[tuple[str, str]] = field(default_factory=list)
    meetings_updated: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary in French, one line per kind (what the command line prints)."""
        verb = "à proposer" if self.dry_run else "proposées"

        def listed(label: str, items: list[tuple[str, str]]) -> str:
            return f"{label} : {len(items)}" + (
                f" ({', '.join(f'{ref} {kind}' for ref, kind in items)})" if items else ""
            )

        lines = [
            listed(f"suggestions {verb}", self.suggested),
            listed("suggestions mises à jour", self.updated),
            listed(f"rencontres job dating : suggestions {verb}", self.meetings_suggested),
            listed("rencontres job dating : suggestions mises à jour", self.meetings_updated),
            f"inchangées : {self.unchanged}",
        ]
        lines += [f"échec : {ref} : {why}" for ref, why in self.failed]
        lines.append("aperçu : rien n'a été enregistré" if self.dry_run else "présences à jour")
        return lines


def _ended_interviews(first_day: date, now: datetime, engine: Engine, *, closed: bool = True) -> list[dict]:
    """Interviews from ``first_day`` whose room has closed (or, not ``closed``, that have begun),
    that hold a room, are not cancelled, and whose suggestion (if any) is still waiting for the
    advisor."""
    query = (
        sa.select(
            BOOKINGS.c.ref,
            BOOKINGS.c.starts_at,
            BOOKINGS.c.duration_min,
            BOOKINGS.c.meeting_url,
            BOOKINGS.c.host_room_url,
            SUGGESTIONS.c.suggestion,
            SUGGESTIONS.c.visitors,
            SUGGESTIONS.c.host_joined,
            SUGGESTIONS.c.family,
            SUGGESTIONS.c.decided_at,
            SUGGESTIONS.c.id.label("suggestion_id"),
        )
        .outerjoin(SUGGESTIONS, SUGGESTIONS.c.booking_ref == BOOKINGS.c.ref)
        .where(
            BOOKINGS.c.room_meeting_id.is_not(None),
            BOOKINGS.c.status != "cancelled",
            BOOKINGS.c.starts_at >= local_midnight(first_day),
            BOOKINGS.c.starts_at < now,
            SUGGESTIONS.c.decided_at.is_(None),
        )
        .order_by(BOOKINGS.c.starts_at, BOOKINGS.c.ref)
    )
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    return [row for row in rows if not closed or room_end(row["starts_at"], row["duration_min"]) <= now]


def _store_suggestion(kind: _Suggestions, engine: Engine, row: dict, values: dict, now: datetime) -> bool:
    """Insert or refresh a pending suggestion; never one an advisor already decided."""
    table = kind.table
    with write_transaction(engine) as connection:
        if row["suggestion_id"] is None:
            try:
                with connection.begin_nested():
                    fields = {kind.key: row["ref"], "fetched_at": now, **values}
                    connection.execute(table.insert().values(fields))
            except sa.exc.IntegrityError:
                return False
        else:
            updated = connection.execute(
                table.update()
                .where(table.c.id == row["suggestion_id"], table.c.decided_at.is_(None))
                .values(fetched_at=now, **values)
            )
            if updated.rowcount != 1:
                return False
        bump_data_version(connection)
    return True


def sync_attendance(
    *,
    actor: str,
    since: date | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    client: api.ApiClient | None = None,
    engine: Engine | None = None,
    room: str | None = None,
) -> AttendanceSummary:
    """Read who joined the rooms of the interviews that ended (since ``since``, default the last
    30 days) and store a suggestion for each; the advisor confirms or dismisses it.

    With ``room`` (a room name, ``/prefix…``: Whereby's webhook said its call ended), only the
    interview or meeting of that room, as soon as it has begun: a later sync refreshes the
    suggestion while it waits for the advisor, and finds it unchanged when the call said it all.

    ``actor`` is who ran the sync (suggestions are data, not decisions: nothing is audited).
    """
    now = now or datetime.now(UTC)
    engine = engine or get_engine()
    client = client or whereby_client()
    refuse_plan_limits(client)
    summary = AttendanceSummary(dry_run=dry_run)
    first_day = since or local_date(now - ATTENDANCE_LOOKBACK)
    closed = room is None

    def wanted(row: dict, *links: str) -> bool:
        return room is None or room in {room_name(row[link]) for link in links}

    meeting_rows = [
        row for row in _ended_meetings(first_day, now, engine, closed=closed) if wanted(row, "meeting_url")
    ]
    rows = [
        row
        for row in _ended_interviews(first_day, now, engine, closed=closed)
        if wanted(row, "meeting_url", "host_room_url")
    ]
    for done, row in enumerate(rows, start=1):
        try:
            room = room_name(row["meeting_url"]) or room_name(row["host_room_url"])
            if room is None:
                raise api.ApiError("salle sans adresse : rien à lire")
            reading = read_call(client, room)
        except api.ApiAuthError:
            raise
        except api.ApiError as error:
            summary.failed.append((row["ref"], str(error)))
        else:
            kind, family = suggest(reading)
            values = {
                "suggestion": kind,
                "visitors": reading.visitors,
                "host_joined": reading.host_joined,
                "family": family,
            }
            if row["suggestion_id"] is not None and all(row[key] == value for key, value in values.items()):
                summary.unchanged += 1
            elif dry_run or _store_suggestion(_INTERVIEWS, engine, row, values, now):
                (summary.suggested if row["suggestion_id"] is None else summary.updated).append(
                    (row["ref"], kind)
                )
        if progress is not None:
            progress(done, len(rows) + len(meeting_rows))
    for done, row in enumerate(meeting_rows, start=len(rows) + 1):
        try:
            _read_meeting(client, row, summary, dry_run=dry_run, now=now, engine=engine)
        except api.ApiAuthError:
            raise
        except api.ApiError as error:
            summary.failed.append((row["ref"], str(error)))
        if progress is not None:
            progress(done, len(rows) + len(meeting_rows))
    return summary


#: A meeting's suggestion → the status it confirms (None: the status stays, the company was absent).
MEETING_SUGGESTED_STATUS = {"held": "held", "no_show": "no_show", "company_absent": None}


def suggest_meeting(candidate_joined: bool, company_joined: bool) -> str:
    """What a meeting's call suggests: ``held`` (both joined), ``no_show`` (the company waited
    alone) or ``company_absent`` (no one joined with the company's link)."""
    if not company_joined:
        return "company_absent"
    return "held" if candidate_joined else "no_show"


def _ended_meetings(first_day: date, now: datetime, engine: Engine, *, closed: bool = True) -> list[dict]:
    """Meetings from ``first_day`` in a room of their own, not cancelled, whose end plus 15
    minutes has passed, and whose suggestion (if any) still waits for an advisor. (Meetings of a
    company day's shared room, made before, are not read: who came for which cannot be told.)"""
    query = (
        sa.select(
            MEETINGS.c.ref,
            MEETINGS.c.starts_at,
            MEETINGS.c.duration_min,
            MEETINGS.c.meeting_url,
            MEETING_SUGGESTIONS.c.suggestion,
            MEETING_SUGGESTIONS.c.candidate_joined,
            MEETING_SUGGESTIONS.c.company_joined,
            MEETING_SUGGESTIONS.c.id.label("suggestion_id"),
        )
        .outerjoin(MEETING_SUGGESTIONS, MEETING_SUGGESTIONS.c.meeting_ref == MEETINGS.c.ref)
        .where(
            MEETINGS.c.status != "cancelled",
            MEETINGS.c.meeting_url.is_not(None),
            MEETINGS.c.starts_at >= local_midnight(first_day),
            MEETINGS.c.starts_at < now,
            MEETING_SUGGESTIONS.c.decided_at.is_(None),
        )
        .order_by(MEETINGS.c.starts_at, MEETINGS.c.ref)
    )
    own = {
        key.removeprefix(f"{OWN_ROOM_CLAIM}:"): claim
        for key, claim in claims_under(engine, OWN_ROOM_CLAIM).items()
    }
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    ended = []
    for row in rows:
        claim = own.get(row["ref"])
        state = json.loads(claim["cursor"]) if claim else {}
        if state.get("state") != "created" or room_name(state.get("room_url")) != room_name(
            row["meeting_url"]
        ):
            continue
        if not closed or room_end(row["starts_at"], row["duration_min"]) <= now:
            ended.append(row)
    return ended


def _read_meeting(
    client: api.ApiClient,
    row: dict,
    summary: AttendanceSummary,
    *,
    dry_run: bool,
    now: datetime,
    engine: Engine,
) -> None:
    """Read who joined a meeting's room (each side by its link's ``externalId``) and store it."""
    ref = row["ref"]
    _, people = _participants(client, room_name(row["meeting_url"]))
    candidate_ids = {external_id(ref), ref}
    company_ids = {company_external_id(ref)}
    seen = {str(participant.get("externalId") or "") for _, _, participant in people}
    values = {
        "suggestion": suggest_meeting(bool(seen & candidate_ids), bool(seen & company_ids)),
        "candidate_joined": bool(seen & candidate_ids),
        "company_joined": bool(seen & company_ids),
    }
    kind = values["suggestion"]
    if row["suggestion_id"] is not None and all(row[key] == value for key, value in values.items()):
        summary.unchanged += 1
        return
    if not dry_run and not _store_suggestion(_MEETINGS, engine, row, values, now):
        return
    (summary.meetings_suggested if row["suggestion_id"] is None else summary.meetings_updated).append(
        (ref, kind)
    )


def meeting_conflicts(status: str, suggestion: str) -> bool:
    """Whether a meeting's suggestion contradicts the status already recorded (``planned``: none)."""
    wanted = MEETING_SUGGESTED_STATUS[suggestion]
    return status != "planned" and wanted is not None and status != wanted


def pending_meeting_suggestions(refs: Iterable[str], engine: Engine | None = None) -> pd.DataFrame:
    """The suggestions of these meetings still waiting for an advisor, in time order, with the
    meeting's status and version and whether the call contradicts a recorded status."""
    columns = ["ref", "suggestion", "candidate_joined", "company_joined", "fetched_at", "status", "version"]
    refs = list(refs)
    if not refs:
        return pd.DataFrame(columns=[*columns, "conflict"])
    query = (
        sa.select(
            MEETING_SUGGESTIONS.c.meeting_ref.label("ref"),
            MEETING_SUGGESTIONS.c.suggestion,
            MEETING_SUGGESTIONS.c.candidate_joined,
            MEETING_SUGGESTIONS.c.company_joined,
            MEETING_SUGGESTIONS.c.fetched_at,
            MEETINGS.c.status,
            MEETINGS.c.version,
        )
        .join(MEETINGS, MEETINGS.c.ref == MEETING_SUGGESTIONS.c.meeting_ref)
        .where(MEETING_SUGGESTIONS.c.meeting_ref.in_(refs), MEETING_SUGGESTIONS.c.decided_at.is_(None))
        .order_by(MEETINGS.c.starts_at, MEETINGS.c.ref)
    )
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=columns)
    frame["conflict"] = [
        meeting_conflicts(status, kind)
        for status, kind in zip(frame["status"], frame["suggestion"], strict=True)
    ]
    return frame


def confirm_meeting_suggestion(
    meeting_ref: str,
    *,
    actor: str,
    read_version: int,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> int:
    """Record the status a meeting's call suggests through the meetings' own rules (validation,
    version check, history, audit) and mark the suggestion confirmed, in one transaction; returns
    the meeting's version. ``company_absent`` records nothing on the meeting (the advisor decides
    what it becomes). Refused when the call contradicts a status already recorded."""
    now = now or datetime.now(UTC)
    with write_transaction(engine) as connection:
        suggestion, meeting = _pending(_MEETINGS, connection, meeting_ref, read_version)
        status = MEETING_SUGGESTED_STATUS[suggestion["suggestion"]]
        version = meeting.version
        if status is not None and status != meeting.status:
            version = meetings.apply_meeting_outcome(
                connection,
                meeting_ref,
                outcome=meetings.MeetingOutcome(status),
                author=actor,
                read_version=read_version,
                now=now,
            )
        _decide(_MEETINGS, connection, meeting_ref, suggestion, actor=actor, now=now)
    return version


def dismiss_meeting_suggestion(
    meeting_ref: str, *, actor: str, now: datetime | None = None, engine: Engine | None = None
) -> None:
    """Set a meeting's call suggestion aside: the meeting stays as it is."""
    _dismiss(_MEETINGS, meeting_ref, actor=actor, now=now, engine=engine)


def _pending(kind: _Suggestions, connection: sa.Connection, ref: str, read_version: int) -> tuple:
    """The suggestion waiting for an advisor about ``ref`` and the item's status and version, or
    the error that says why it cannot be confirmed (gone, changed since read, contradicted)."""
    table = kind.table
    suggestion = (
        connection.execute(sa.select(table).where(table.c[kind.key] == ref, table.c.decided_at.is_(None)))
        .mappings()
        .first()
    )
    if suggestion is None:
        raise ChangeRefused("cette suggestion a déjà été traitée, ou n'existe pas")
    item = connection.execute(
        sa.select(kind.items.c.status, kind.items.c.version).where(kind.items.c.ref == ref)
    ).one()
    if item.version != read_version:
        raise ConflictError(
            f"{kind.item} vient d'être modifié{kind.feminine} par quelqu'un d'autre : rechargez la "
            "page, vérifiez, puis confirmez à nouveau"
        )
    if kind.conflicts(item.status, suggestion["suggestion"]):
        raise SuggestionConflict(
            f"déjà noté « {item.status} » : l'appel dit autre chose, rien n'est changé "
            "(corrigez le statut vous-même si besoin, puis ignorez la suggestion)"
        )
    return suggestion, item


def _decide(
    kind: _Suggestions, connection: sa.Connection, ref: str, suggestion: dict, *, actor: str, now: datetime
) -> None:
    # The suggestion confirmed, in the transaction that recorded what it said.
    connection.execute(
        kind.table.update()
        .where(kind.table.c.id == suggestion["id"])
        .values(decided_at=now, decided_by=actor, decision="confirmed")
    )
    detail = f"suggestion={suggestion['suggestion']}"
    audit.record("attendance.confirm", actor=actor, target=ref, detail=detail, connection=connection)
    bump_data_version(connection)


def _dismiss(
    kind: _Suggestions, ref: str, *, actor: str, now: datetime | None, engine: Engine | None
) -> None:
    now = now or datetime.now(UTC)
    table = kind.table
    with write_transaction(engine) as connection:
        dismissed = connection.execute(
            table.update()
            .where(table.c[kind.key] == ref, table.c.decided_at.is_(None))
            .values(decided_at=now, decided_by=actor, decision="dismissed")
        )
        if dismissed.rowcount != 1:
            raise ChangeRefused("cette suggestion a déjà été traitée, ou n'existe pas")
        audit.record("attendance.dismiss", actor=actor, target=ref, connection=connection)
        bump_data_version(connection)


def conflicts(status: str, suggestion: str) -> bool:
    """Whether a suggestion contradicts the outcome already recorded (``booked``: nothing yet)."""
    return status != "booked" and status != SUGGESTED_STATUS[suggestion]


def pending_suggestions(refs: Iterable[str], engine: Engine | None = None) -> pd.DataFrame:
    """The suggestions of these bookings still waiting for the advisor, in time order, with the
    booking's status, people and version and whether the call contradicts a recorded outcome."""
    columns = [
        "ref",
        "suggestion",
        "visitors",
        "host_joined",
        "family",
        "fetched_at",
        "status",
        "attendees",
        "version",
        "conflict",
    ]
    refs = list(refs)
    if not refs:
        return pd.DataFrame(columns=columns)
    query = (
        sa.select(
            SUGGESTIONS.c.booking_ref.label("ref"),
            SUGGESTIONS.c.suggestion,
            SUGGESTIONS.c.visitors,
            SUGGESTIONS.c.host_joined,
            SUGGESTIONS.c.family,
            SUGGESTIONS.c.fetched_at,
            BOOKINGS.c.status,
            BOOKINGS.c.attendees,
            BOOKINGS.c.version,
        )
        .join(BOOKINGS, BOOKINGS.c.ref == SUGGESTIONS.c.booking_ref)
        .where(SUGGESTIONS.c.booking_ref.in_(refs), SUGGESTIONS.c.decided_at.is_(None))
        .order_by(BOOKINGS.c.starts_at, BOOKINGS.c.ref)
    )
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=columns[:-1])
    frame["conflict"] = [
        conflicts(status, kind) for status, kind in zip(frame["status"], frame["suggestion"], strict=True)
    ]
    return frame[columns]


def suggestion_text(suggestion: str, visitors: int, family: bool, language: str = "fr") -> str:
    """What the call says, as the schedule page shows it."""
    if suggestion == "attended":
        key = "attended_family" if family else "attended"
    elif suggestion == "no_show":
        key = "no_show"
    else:
        key = "advisor_absent" if visitors else "nobody"
    return translate(f"schedule.suggestion.{key}", language, visitors=visitors)


def _outcome(suggestion: dict, status: str) -> Outcome:
    """The outcome a confirmed suggestion records; what is already recorded is never changed."""
    if suggestion["suggestion"] == "advisor_absent":
        visitors = suggestion["visitors"]
        return Outcome(
            status,
            None,
            f"D'après l'appel, le conseiller n'a pas rejoint la salle ({visitors} visiteur(s) présent(s)).",
        )
    # The call counts devices: it gives the people present only when it saw a family and
    # nothing was recorded yet.
    people = suggestion["visitors"] if suggestion["family"] and status == "booked" else None
    return Outcome(SUGGESTED_STATUS[suggestion["suggestion"]], people)


def confirm_suggestion(
    booking_ref: str,
    *,
    actor: str,
    read_version: int,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> int:
    """Record the outcome a call suggests, as the advisor's own save (validation, version check,
    history, audit), and mark the suggestion confirmed, in one transaction; returns the booking's
    new version. Refused when the call contradicts an outcome already recorded."""
    now = now or datetime.now(UTC)
    with write_transaction(engine) as connection:
        suggestion, booking = _pending(_INTERVIEWS, connection, booking_ref, read_version)
        version = apply_outcome(
            connection,
            booking_ref,
            outcome=_outcome(dict(suggestion), booking.status),
            author=actor,
            read_version=read_version,
            now=now,
        )
        _decide(_INTERVIEWS, connection, booking_ref, suggestion, actor=actor, now=now)
    return version


def dismiss_suggestion(
    booking_ref: str, *, actor: str, now: datetime | None = None, engine: Engine | None = None
) -> None:
    """Set a call's suggestion aside: the booking stays as it is."""
    _dismiss(_INTERVIEWS, booking_ref, actor=actor, now=now, engine=engine)


@dataclass(frozen=True)
class _Suggestions:
    """What the calls suggest about one kind of item (interviews, job-dating meetings), waiting
    for an advisor: where it is kept, about what, and what contradicts a recorded status."""

    table: sa.Table
    key: str
    items: sa.Table
    item: str
    feminine: str
    conflicts: Callable[[str, str], bool]


_INTERVIEWS = _Suggestions(SUGGESTIONS, "booking_ref", BOOKINGS, "ce rendez-vous", "", conflicts)
_MEETINGS = _Suggestions(
    MEETING_SUGGESTIONS, "meeting_ref", MEETINGS, "cette rencontre", "e", meeting_conflicts
)

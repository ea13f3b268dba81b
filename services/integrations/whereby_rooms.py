"""Video rooms for the interviews (Whereby REST API).

An upcoming interview (booked, not started) without any video link gets a transient Whereby room:
``POST /v1/meetings`` with the interview's end + 15 minutes as ``endDate`` (UTC), its site code as
room-name prefix, ``group`` mode when the attendees and the advisor are more than 4 (else
``normal``) and the host link. The candidate's link (``roomUrl``) becomes the booking's
``meeting_url``, the advisor's (``hostRoomUrl``) its ``host_room_url`` (shown to that advisor only,
never exported); both carry ``externalId=<booking ref>`` so that Whereby's insights name the
booking.

Never two rooms for one booking, even when an answer is lost after the server acted: the
attempt is committed (``room_attempts``, state ``pending``) before the call; when the answer
does not come back (timeout, 502/504, an unreadable answer) the attempt stays pending, and the
next run lists the account's rooms (``GET /v1/meetings``) and adopts the one that matches it
(same ``endDate``, same prefix, linked to no other booking) before it would ever ask again.
A cancelled interview's room is deleted (``DELETE /v1/meetings/{id}``; 404 means already gone)
and its links cleared; an interview moved to another time gets a new room.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.integrations import api
from services.integrations.whereby import (
    Meeting,
    Rooms,
    compare_and_set,
    delete_room,
    end_date_text,
    linked_rooms,
    listed,
    meeting_body,
    read_meeting,
    refuse_plan_limits,
    room_end,
    room_mode,
    room_name_prefix,
    same_instant,
    whereby_client,
)
from services.integrations.whereby_meeting_rooms import MeetingRoomSummary, sync_meeting_rooms
from services.store import audit
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import (
    Booking,
    BookingChange,
    RoomAttempt,
)
from services.store.room_links import (
    external_id,
    link_external_id,
    with_external_id,
)
from services.store.versioned import ConflictError, write_versioned

BOOKINGS = Booking.__table__
BOOKING_CHANGES = BookingChange.__table__
ATTEMPTS = RoomAttempt.__table__


@dataclass
class RoomSummary:
    """What a rooms sync did (or, in a dry run, would do), booking refs per outcome."""

    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    #: Rooms found again by listing after an answer was lost: linked, not created twice.
    adopted: list[str] = field(default_factory=list)
    #: Rooms of cancelled interviews, deleted.
    deleted: list[str] = field(default_factory=list)
    #: Interviews moved to another time: old room deleted (the new one is in ``created``).
    replaced: list[str] = field(default_factory=list)
    #: Interviews grown past 4 people: their ``normal`` room deleted (the group one in ``created``).
    resized: list[str] = field(default_factory=list)
    #: Links whose ``externalId`` Whereby refuses, rewritten with the one it takes.
    relinked: list[str] = field(default_factory=list)
    #: Asked, but the answer was lost: the next run checks the listing before asking again.
    uncertain: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: The job-dating meetings' rooms of the same run (None: not looked at).
    meeting_rooms: MeetingRoomSummary | None = None

    @property
    def changed(self) -> int:
        """How many bookings' rooms changed (or would)."""
        return len(self.created) + len(self.adopted) + len(self.deleted)

    @property
    def has_failures(self) -> bool:
        """Whether a booking or a company's day failed (the command then exits with 1)."""
        return bool(self.failed or (self.meeting_rooms and self.meeting_rooms.failed))

    def lines(self) -> list[str]:
        """The summary in French, one line per kind (what the command line prints)."""
        verb = "à créer" if self.dry_run else "créées"
        lines = [
            listed(f"salles {verb}", self.created),
            listed("salles retrouvées (réponse perdue, pas de doublon)", self.adopted),
            listed("salles supprimées (entretiens annulés)", self.deleted),
            listed("salles remplacées (entretiens déplacés)", self.replaced),
            listed("salles agrandies (plus de 4 personnes)", self.resized),
            listed("liens corrigés (externalId refusé par Whereby)", self.relinked),
        ]
        lines += [f"incertain : {ref} : {why} (vérifié au prochain passage)" for ref, why in self.uncertain]
        lines += [f"échec : {ref} : {why}" for ref, why in self.failed]
        if self.meeting_rooms is not None:
            lines += self.meeting_rooms.lines()
        lines.append(
            "aperçu : rien n'a été créé, supprimé ni enregistré" if self.dry_run else "salles à jour"
        )
        return lines


def _room_plan(now: datetime, engine: Engine) -> list[dict]:
    """The bookings a rooms sync looks at, with their attempt: cancelled ones holding a room or
    a pending attempt, and upcoming booked ones holding a room or no link at all."""
    query = (
        sa.select(
            BOOKINGS.c.ref,
            BOOKINGS.c.site_code,
            BOOKINGS.c.starts_at,
            BOOKINGS.c.duration_min,
            BOOKINGS.c.attendees,
            BOOKINGS.c.status,
            BOOKINGS.c.room_meeting_id,
            BOOKINGS.c.meeting_url,
            BOOKINGS.c.host_room_url,
            BOOKINGS.c.version,
            ATTEMPTS.c.state,
            ATTEMPTS.c.end_date,
            ATTEMPTS.c.room_name_prefix,
            ATTEMPTS.c.room_mode,
            ATTEMPTS.c.attempted_at,
        )
        .outerjoin(ATTEMPTS, ATTEMPTS.c.booking_ref == BOOKINGS.c.ref)
        .where(
            sa.or_(
                sa.and_(
                    BOOKINGS.c.status == "cancelled",
                    sa.or_(BOOKINGS.c.room_meeting_id.is_not(None), ATTEMPTS.c.state == "pending"),
                ),
                sa.and_(
                    BOOKINGS.c.status == "booked",
                    BOOKINGS.c.starts_at > now,
                    sa.or_(BOOKINGS.c.room_meeting_id.is_not(None), BOOKINGS.c.meeting_url.is_(None)),
                ),
            )
        )
        .order_by(BOOKINGS.c.starts_at, BOOKINGS.c.ref)
    )
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def _claim(engine: Engine, row: dict, end_date: str, prefix: str, mode: str, now: datetime) -> bool:
    """Record, committed before the call, that a room is being asked for this booking.

    Compare-and-set on the attempt as this run read it: two runs at once never both ask.
    """
    values = {
        "attempted_at": now,
        "end_date": end_date,
        "room_name_prefix": prefix,
        "room_mode": mode,
        "state": "pending",
    }
    read = None if row["state"] is None else {"state": row["state"], "attempted_at": row["attempted_at"]}
    return compare_and_set(engine, ATTEMPTS, {"booking_ref": row["ref"]}, read, values)


def _store_room(engine: Engine, ref: str, meeting: Meeting, *, actor: str, action: str) -> bool:
    """Give the booking its room (if it still has none and no other booking holds the room)."""
    with write_transaction(engine) as connection:
        holder = connection.execute(
            sa.select(BOOKINGS.c.ref).where(BOOKINGS.c.room_meeting_id == meeting.meeting_id)
        ).first()
        if holder is not None:
            return False
        updated = connection.execute(
            BOOKINGS.update()
            .where(BOOKINGS.c.ref == ref, BOOKINGS.c.room_meeting_id.is_(None))
            .values(
                room_meeting_id=meeting.meeting_id,
                **_links(ref, meeting.room_url, meeting.host_room_url),
            )
        )
        if updated.rowcount != 1:
            return False
        connection.execute(ATTEMPTS.update().where(ATTEMPTS.c.booking_ref == ref).values(state="created"))
        audit.record(
            action, actor=actor, target=ref, detail=f"meeting={meeting.meeting_id}", connection=connection
        )
        bump_data_version(connection)
    return True


def _links(ref: str, room_url: str, host_room_url: str | None) -> dict:
    """A booking's two links to its room, with the ``externalId`` Whereby takes for its ref."""
    external = external_id(ref)
    host = with_external_id(host_room_url, external) if host_room_url else None
    return {"meeting_url": with_external_id(room_url, external), "host_room_url": host}


def _clear_room(
    engine: Engine,
    ref: str,
    meeting_id: str | None,
    *,
    actor: str,
    versioned: dict | None = None,
    now: datetime | None = None,
) -> None:
    """Forget a deleted room (``meeting_id``, None when there was none): the booking's links and
    meeting id if it held it; its attempt is done. ``versioned`` (the booking as read) makes the
    link's removal a versioned change with its history (the host link never enters the history)."""
    with write_transaction(engine) as connection:
        if meeting_id is not None:
            if versioned is not None:
                write_versioned(
                    connection,
                    BOOKINGS,
                    BOOKING_CHANGES,
                    versioned,
                    {"meeting_url": None},
                    author=actor,
                    now=now,
                    changed=f"rendez-vous {ref} modifié entre-temps",
                )
            connection.execute(
                BOOKINGS.update()
                .where(BOOKINGS.c.ref == ref, BOOKINGS.c.room_meeting_id == meeting_id)
                .values(room_meeting_id=None, meeting_url=None, host_room_url=None)
            )
            audit.record(
                "room.delete", actor=actor, target=ref, detail=f"meeting={meeting_id}", connection=connection
            )
        connection.execute(ATTEMPTS.update().where(ATTEMPTS.c.booking_ref == ref).values(state="deleted"))
        bump_data_version(connection)


def _relink(engine: Engine, row: dict, summary: RoomSummary, *, actor: str, dry_run: bool) -> None:
    """Rewrite a booking's links whose ``externalId`` is not the one Whereby takes for its ref (a
    link made before the rule, with a ref such as ``RDV-2027/001``): same room, a link that works."""
    ref = row["ref"]
    if not row["meeting_url"] or link_external_id(row["meeting_url"]) == external_id(ref):
        return
    if not dry_run:
        with write_transaction(engine) as connection:
            updated = connection.execute(
                BOOKINGS.update()
                .where(BOOKINGS.c.ref == ref, BOOKINGS.c.room_meeting_id == row["room_meeting_id"])
                .values(**_links(ref, row["meeting_url"], row["host_room_url"]))
            )
            if updated.rowcount != 1:
                return
            audit.record(
                "room.relink",
                actor=actor,
                target=ref,
                detail=f"meeting={row['room_meeting_id']}",
                connection=connection,
            )
            bump_data_version(connection)
    summary.relinked.append(ref)


def sync_rooms(
    *,
    actor: str,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    client: api.ApiClient | None = None,
    engine: Engine | None = None,
) -> RoomSummary:
    """Give upcoming interviews a Whereby room, delete cancelled ones' rooms, then give upcoming
    job-dating meetings their company's room of the day (``sync_meeting_rooms``), and report.

    ``progress(done, total)`` is called after each booking. A refused key (``ApiAuthError``)
    stops the run; any other failure is the booking's (or company's) own, reported, and the run
    goes on.
    """
    now = now or datetime.now(UTC)
    engine = engine or get_engine()
    client = client or whereby_client()
    refuse_plan_limits(client)
    summary = RoomSummary(dry_run=dry_run)
    rooms = Rooms(client)
    plan = _room_plan(now, engine)
    for done, row in enumerate(plan, start=1):
        try:
            _sync_room(
                row, summary, rooms, client=client, actor=actor, dry_run=dry_run, now=now, engine=engine
            )
        except api.ApiAuthError:
            raise
        except api.ApiUncertain as error:
            summary.uncertain.append((row["ref"], str(error)))
        except (api.ApiError, ConflictError) as error:
            summary.failed.append((row["ref"], str(error)))
        if progress is not None:
            progress(done, len(plan))
    summary.meeting_rooms = sync_meeting_rooms(
        actor=actor, dry_run=dry_run, now=now, client=client, engine=engine, rooms=rooms
    )
    return summary


def _sync_room(
    row: dict,
    summary: RoomSummary,
    rooms: Rooms,
    *,
    client: api.ApiClient,
    actor: str,
    dry_run: bool,
    now: datetime,
    engine: Engine,
) -> None:
    """Bring one booking's room in line with the booking (a failure raises ``ApiError``)."""
    ref = row["ref"]
    end_date = end_date_text(room_end(row["starts_at"], row["duration_min"]))
    prefix = room_name_prefix(row["site_code"])
    if row["status"] == "cancelled":
        meeting_id = row["room_meeting_id"]
        if meeting_id is None:
            # Asked for, answer lost, then cancelled: a room may exist that nobody holds.
            found = rooms.find(row["end_date"], row["room_name_prefix"], linked_rooms(engine))
            meeting_id = found.meeting_id if found else None
        if not dry_run:
            if meeting_id is not None:
                delete_room(client, meeting_id)
            _clear_room(engine, ref, meeting_id, actor=actor)
        if meeting_id is not None:
            summary.deleted.append(ref)
        return
    mode = room_mode(row["attendees"])
    if row["room_meeting_id"] is not None:
        moved = row["end_date"] is not None and not same_instant(row["end_date"], end_date)
        # A room asked before its mode was kept is taken as ``normal``; a group room still fits fewer.
        outgrown = mode == "group" and (row["room_mode"] or "normal") != "group"
        if not moved and not outgrown:
            _relink(engine, row, summary, actor=actor, dry_run=dry_run)
            return  # its room is still the right one
        # Moved to another time (the old room would close too early, or linger) or grown past 4
        # people: the old room is deleted first (never two live rooms for one booking), then a
        # new one is asked for; a grown interview's link changes by a versioned update.
        if not dry_run:
            delete_room(client, row["room_meeting_id"])
            _clear_room(
                engine,
                ref,
                row["room_meeting_id"],
                actor=actor,
                versioned=None if moved else row,
                now=now,
            )
        (summary.replaced if moved else summary.resized).append(ref)
        row = {**row, "room_meeting_id": None, "state": "deleted"}
    if row["state"] == "pending":
        found = rooms.find(row["end_date"], row["room_name_prefix"], linked_rooms(engine))
        if found is not None and row["end_date"] == end_date and row["room_name_prefix"] == prefix:
            if not dry_run and not _store_room(engine, ref, found, actor=actor, action="room.adopt"):
                raise api.ApiError(
                    f"salle {found.meeting_id} retrouvée, mais la réservation a changé entre-temps"
                )
            summary.adopted.append(ref)
            return
        if found is not None and not dry_run:
            # The interview moved while the answer was lost: that room is for the old time.
            delete_room(client, found.meeting_id)
    if dry_run:
        summary.created.append(ref)
        return
    if not _claim(engine, row, end_date, prefix, mode, now):
        raise api.ApiError("une autre synchronisation demande déjà cette salle")
    body = meeting_body(
        starts_at=row["starts_at"],
        duration_min=row["duration_min"],
        site_code=row["site_code"],
        attendees=row["attendees"],
    )
    # Whatever goes wrong from here, the attempt stays pending: the next run lists the rooms
    # (and adopts the one the server may have made) before it asks again.
    answer = client.request("POST", "/v1/meetings", json=body)
    try:
        meeting = read_meeting(answer)
    except api.ApiError as error:
        raise api.ApiUncertain(f"{error} (salle peut-être créée : retrouvée au prochain passage)") from None
    if not _store_room(engine, ref, meeting, actor=actor, action="room.create"):
        raise api.ApiError(f"salle {meeting.meeting_id} créée, mais la réservation a changé entre-temps")
    summary.created.append(ref)

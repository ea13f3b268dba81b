"""Video rooms for the job-dating meetings (Whereby REST API).

One room per company and (Paris) day of the event, not one per meeting: a company sees its
candidates in turn, 20 minutes each, from the same screen, and each candidate joins at their time;
one link per company day is also what a company can keep open all day. The room closes at the end of
that day (``endDate`` = next Paris midnight, so a meeting planned later that day fits), its prefix
is ``jd<SIRET><YYYYMMDD>`` (a lost answer's room is found by it), and each upcoming planned meeting
of the day without a link gets the room's link with ``externalId=<meeting ref>``, by a versioned
update (``write_versioned``: the meeting's version grows and its history notes the link, so an
outcome save that read the older version conflicts instead of being lost). Cancelled, past and
already linked meetings are left alone. The claim is a ``sync_cursors`` row named
``whereby.meeting_room:EVENT:SIRET:DAY`` (JSON: state, end, prefix, then meeting id and link), taken
by the same compare-and-set as the bookings' attempts and committed before the call; a claim under 5
minutes old is another run's call in flight and is left to it. A company day's meetings are written
in one transaction, after the room exists.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.integrations import api
from services.integrations.whereby import (
    CLAIMS,
    Meeting,
    Rooms,
    claims_under,
    compare_and_set,
    delete_room,
    end_date_text,
    linked_rooms,
    listed,
    read_meeting,
    refuse_plan_limits,
    room_name,
    room_name_prefix,
    whereby_client,
)
from services.store import audit
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import Meeting as JobDatingMeeting
from services.store.models import (
    MeetingChange,
    Offer,
)
from services.store.room_links import (
    external_id,
    with_external_id,
)
from services.store.values import local_date, local_midnight
from services.store.versioned import ChangeRefused, read_versioned, write_versioned

MEETINGS = JobDatingMeeting.__table__
MEETING_CHANGES = MeetingChange.__table__
OFFERS = Offer.__table__
MEETING_ROOM_CLAIM = "whereby.meeting_room"
OWN_ROOM_CLAIM = "whereby.meeting_own_room"
#: A company day's claim younger than this may be another run's call still under way: not taken over.
CLAIM_IN_FLIGHT = timedelta(minutes=5)


@dataclass
class MeetingRoomSummary:
    """What the job-dating part of a rooms sync did (or would do), meeting refs per outcome."""

    dry_run: bool = False
    #: Meetings whose own room was created, or found again after a lost answer.
    created: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    #: Meetings taken out of their company's shared room of the day (made before) into their own.
    moved_out: list[str] = field(default_factory=list)
    #: Meetings whose link was written.
    linked: list[str] = field(default_factory=list)
    uncertain: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One summary line for the meetings, then one per meeting that went wrong."""
        created = "à créer" if self.dry_run else "créée(s)"
        written = "à écrire" if self.dry_run else "écrit(s)"
        line = (
            f"rencontres job dating : {len(self.created)} salle(s) de rencontre {created}, "
            f"{len(self.adopted)} retrouvée(s), {len(self.linked)} lien(s) {written}"
        )
        lines = [line + (f" ({', '.join(self.linked)})" if self.linked else "")]
        if self.moved_out:
            lines.append(listed("rencontres sorties d'une salle partagée d'entreprise", self.moved_out))
        lines += [f"incertain : {who} : {why} (vérifié au prochain passage)" for who, why in self.uncertain]
        lines += [f"échec : {who} : {why}" for who, why in self.failed]
        return lines


def meeting_room_end(starts_at: datetime) -> str:
    """A meeting's room closes at the end of its day in Paris: moved within the day, it still fits."""
    return end_date_text(local_midnight(local_date(starts_at) + timedelta(days=1)))


def meeting_room_prefix(siret: str, starts_at: datetime, ref: str) -> str:
    """``jd``, the SIRET, the day and 8 hex digits of the ref: a lost answer's room is found by it."""
    digest = hashlib.sha256(ref.encode()).hexdigest()[:8]
    return room_name_prefix(f"jd{siret}{local_date(starts_at):%Y%m%d}{digest}")


def _own_claim_key(ref: str) -> str:
    return f"{OWN_ROOM_CLAIM}:{ref}"


def _shared_room_paths(engine: Engine) -> set[str]:
    """The room names of the company days' shared rooms made before one room per meeting."""
    paths = set()
    for claim in claims_under(engine, MEETING_ROOM_CLAIM).values():
        path = room_name(json.loads(claim["cursor"]).get("room_url"))
        if path:
            paths.add(path)
    return paths


def _meeting_room_plan(now: datetime, engine: Engine) -> list[dict]:
    """Upcoming planned meetings without a link, holding their own room, or still in a company
    day's shared room (in time order)."""
    query = (
        sa.select(
            MEETINGS.c.ref,
            MEETINGS.c.starts_at,
            MEETINGS.c.meeting_url,
            MEETINGS.c.version,
            OFFERS.c.siret,
        )
        .join(OFFERS, OFFERS.c.ref == MEETINGS.c.offer_ref)
        .where(MEETINGS.c.status == "planned", MEETINGS.c.starts_at > now)
        .order_by(MEETINGS.c.starts_at, MEETINGS.c.ref)
    )
    shared = _shared_room_paths(engine)
    own = claims_under(engine, OWN_ROOM_CLAIM)
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    plan = []
    for row in rows:
        row["claim"] = own.get(_own_claim_key(row["ref"]))
        row["shared"] = room_name(row["meeting_url"]) in shared if row["meeting_url"] else False
        if row["meeting_url"] is None or row["claim"] is not None or row["shared"]:
            plan.append(row)
    return plan


def _held_rooms(engine: Engine) -> set[str]:
    """Whereby meetings a booking, a meeting or a company day holds."""
    held = set()
    for name in (MEETING_ROOM_CLAIM, OWN_ROOM_CLAIM):
        held |= {
            json.loads(claim["cursor"]).get("meeting_id") for claim in claims_under(engine, name).values()
        }
    return linked_rooms(engine) | {meeting_id for meeting_id in held if meeting_id}


def _store_meeting_room(
    engine: Engine, row: dict, meeting: Meeting, state: dict, *, actor: str, action: str | None, now: datetime
) -> None:
    """In one transaction: the meeting's claim becomes ``created`` with its room, and the meeting
    gets the room's link by a versioned update (a concurrent outcome save conflicts instead of
    being lost; its history notes the link)."""
    created = {**state, "state": "created", "meeting_id": meeting.meeting_id, "room_url": meeting.room_url}
    with write_transaction(engine) as connection:
        current = read_versioned(
            connection,
            MEETINGS,
            row["ref"],
            row["version"],
            unknown=f"rencontre inconnue : {row['ref']}",
            changed=f"rencontre {row['ref']} modifiée entre-temps",
        )
        write_versioned(
            connection,
            MEETINGS,
            MEETING_CHANGES,
            current,
            {"meeting_url": with_external_id(meeting.room_url, external_id(row["ref"]))},
            author=actor,
            now=now,
            changed=f"rencontre {row['ref']} modifiée entre-temps",
        )
        connection.execute(
            CLAIMS.update()
            .where(CLAIMS.c.name == _own_claim_key(row["ref"]))
            .values(cursor=json.dumps(created), synced_at=now)
        )
        if action is not None:
            audit.record(
                action,
                actor=actor,
                target=row["ref"],
                detail=f"meeting={meeting.meeting_id}",
                connection=connection,
            )
        bump_data_version(connection)


def sync_meeting_rooms(
    *,
    actor: str,
    dry_run: bool = False,
    now: datetime | None = None,
    client: api.ApiClient | None = None,
    engine: Engine | None = None,
    rooms: Rooms | None = None,
) -> MeetingRoomSummary:
    """Give each upcoming planned job-dating meeting a Whereby room of its own (never two), and
    take the meetings still in a company day's shared room (made before) out of it.

    A refused key (401) stops the run; any other failure is the meeting's own (nothing written to
    it), reported, and the others go on.
    """
    now = now or datetime.now(UTC)
    engine = engine or get_engine()
    client = client or whereby_client()
    refuse_plan_limits(client)
    rooms = rooms or Rooms(client)
    summary = MeetingRoomSummary(dry_run=dry_run)
    for row in _meeting_room_plan(now, engine):
        try:
            _sync_meeting_room(
                row, summary, rooms, client=client, actor=actor, dry_run=dry_run, now=now, engine=engine
            )
        except api.ApiAuthError:
            raise
        except api.ApiUncertain as error:
            summary.uncertain.append((row["ref"], str(error)))
        except (api.ApiError, ChangeRefused) as error:
            summary.failed.append((row["ref"], str(error)))
    return summary


def _sync_meeting_room(
    row: dict,
    summary: MeetingRoomSummary,
    rooms: Rooms,
    *,
    client: api.ApiClient,
    actor: str,
    dry_run: bool,
    now: datetime,
    engine: Engine,
) -> None:
    """One meeting: keep its room, adopt the one a lost answer made, or ask for one."""
    ref, claim = row["ref"], row["claim"]
    end_date = meeting_room_end(row["starts_at"])
    prefix = meeting_room_prefix(row["siret"], row["starts_at"], ref)
    target = {"state": "pending", "end_date": end_date, "room_name_prefix": prefix}
    state = json.loads(claim["cursor"]) if claim else {}
    if state.get("state") == "created":
        if state.get("end_date") == end_date:
            if row["meeting_url"] is None:
                # Its link was lost (cleared by hand): the room is still its own.
                room = Meeting(state["meeting_id"], state["room_url"], None, end_date, prefix)
                if not dry_run:
                    _store_meeting_room(engine, row, room, state, actor=actor, action=None, now=now)
                summary.linked.append(ref)
            return
        # Moved to another day: its room would close too early (or linger), a new one.
        if not dry_run:
            delete_room(client, state["meeting_id"])
    if state.get("state") == "pending":
        if now - _utc(claim["synced_at"]) < CLAIM_IN_FLIGHT:
            # Another run may be waiting for Whereby's answer right now: listing could miss the
            # room it is making, and asking again would make a second one.
            raise api.ApiError(
                "une autre synchronisation demande cette salle en ce moment (réessayez plus tard)"
            )
        found = rooms.find(state["end_date"], state["room_name_prefix"], _held_rooms(engine))
        if found is not None and state["end_date"] == end_date and state["room_name_prefix"] == prefix:
            if not dry_run:
                _store_meeting_room(engine, row, found, state, actor=actor, action="room.adopt", now=now)
            summary.adopted.append(ref)
            summary.linked.append(ref)
            if row["shared"]:
                summary.moved_out.append(ref)
            return
        if found is not None and not dry_run:
            delete_room(client, found.meeting_id)  # made for the meeting's former day
    if dry_run:
        summary.created.append(ref)
        summary.linked.append(ref)
        if row["shared"]:
            summary.moved_out.append(ref)
        return
    read = None if claim is None else {"cursor": claim["cursor"], "synced_at": claim["synced_at"]}
    pending = {"cursor": json.dumps(target), "synced_at": now}
    if not compare_and_set(engine, CLAIMS, {"name": _own_claim_key(ref)}, read, pending):
        raise api.ApiError("une autre synchronisation demande déjà cette salle")
    # One person a side and a parent: ``normal`` (4 at most) fits.
    body = {"endDate": end_date, "roomNamePrefix": prefix, "roomMode": "normal"}
    # From here the claim stays pending whatever happens: the next run looks for the room first.
    answer = client.request("POST", "/v1/meetings", json=body)
    try:
        meeting = read_meeting(answer)
    except api.ApiError as error:
        raise api.ApiUncertain(f"{error} (salle peut-être créée : retrouvée au prochain passage)") from None
    _store_meeting_room(engine, row, meeting, target, actor=actor, action="room.create", now=now)
    summary.created.append(ref)
    summary.linked.append(ref)
    if row["shared"]:
        summary.moved_out.append(ref)


def _utc(moment: datetime) -> datetime:
    # SQLite gives back naive UTC instants, PostgreSQL aware ones.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

"""Video rooms for the interviews (Whereby REST API) and attendance suggested from the calls.

Rooms. An upcoming interview (booked, not started) without any video link gets a transient
Whereby room: ``POST /v1/meetings`` with the interview's end + 15 minutes as ``endDate`` (UTC),
its site code as room-name prefix, ``group`` mode when the attendees and the advisor are more
than 4 (else ``normal``) and the host link. The candidate's link (``roomUrl``) becomes the
booking's ``meeting_url``, the advisor's (``hostRoomUrl``) its ``host_room_url`` (shown to that
advisor only, never exported); both carry ``externalId=<booking ref>`` so that Whereby's
insights name the booking.

Never two rooms for one booking, even when an answer is lost after the server acted: the
attempt is committed (``room_attempts``, state ``pending``) before the call; when the answer
does not come back (timeout, 502/504, an unreadable answer) the attempt stays pending, and the
next run lists the account's rooms (``GET /v1/meetings``) and adopts the one that matches it
(same ``endDate``, same prefix, linked to no other booking) before it would ever ask again.
A cancelled interview's room is deleted (``DELETE /v1/meetings/{id}``; 404 means already gone)
and its links cleared; an interview moved to another time gets a new room.

Job-dating meetings. One room per company and (Paris) day of the event, not one per meeting: a
company sees its candidates in turn, 20 minutes each, from the same screen, and each candidate
joins at their time; one link per company day is also what a company can keep open all day. The
room closes at the end of that day (``endDate`` = next Paris midnight, so a meeting planned later
that day fits), its prefix is ``jd<SIRET><YYYYMMDD>`` (a lost answer's room is found by it), and
each upcoming planned meeting of the day without a link gets the room's link with
``externalId=<meeting ref>``, by a versioned update (``write_versioned``: the meeting's version
grows and its history notes the link, so an outcome save that read the older version conflicts
instead of being lost). Cancelled, past and already linked meetings are left alone. The claim
is a ``sync_cursors`` row named ``whereby.meeting_room:EVENT:SIRET:DAY`` (JSON: state, end,
prefix, then meeting id and link), taken by the same compare-and-set as the bookings' attempts
and committed before the call; a claim under 5 minutes old is another run's call in flight and
is left to it. A company day's meetings are written in one transaction, after the room exists.

Attendance. Once an interview's room has closed (its end + 15 minutes), its sessions and their
participants (``GET /v1/insights/room-sessions`` and ``GET /v1/insights/participants``) give a
suggestion: ``attended`` (a visitor joined; ``family`` when more than one did), ``no_show`` (no
visitor joined) or ``advisor_absent`` (no host joined). It waits for the advisor: confirming
records the outcome through the schedule's rules (validation, version check, history, audit),
dismissing sets it aside. Nothing is written to a booking before.

Every write is a short transaction that bumps the data version. The API key never appears in
an output: the shared client (``services.integrations.api``) keeps it in the authorisation header only.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlsplit

import pandas as pd
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import config
from services.advising.schedule import Outcome, apply_outcome
from services.i18n import translate
from services.integrations import api
from services.jobdating import meetings
from services.store import audit
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import (
    AttendanceSuggestion,
    Booking,
    BookingChange,
    MeetingChange,
    MeetingSuggestion,
    Offer,
    RoomAttempt,
    SyncCursor,
)
from services.store.models import Meeting as JobDatingMeeting
from services.store.room_links import (
    company_external_id,
    external_id,
    link_external_id,
    with_external_id,
)
from services.store.values import local_date, local_midnight, read_https_url
from services.store.versioned import ChangeRefused, ConflictError, read_versioned, write_versioned

BOOKINGS = Booking.__table__
BOOKING_CHANGES = BookingChange.__table__
MEETING_SUGGESTIONS = MeetingSuggestion.__table__
ATTEMPTS = RoomAttempt.__table__
SUGGESTIONS = AttendanceSuggestion.__table__
MEETINGS = JobDatingMeeting.__table__
MEETING_CHANGES = MeetingChange.__table__
OFFERS = Offer.__table__
#: Room claims of job-dating meetings live in ``sync_cursors``: ``whereby.meeting_own_room:REF``
#: (one room per meeting); ``whereby.meeting_room:EVENT:SIRET:DAY`` are the company days' shared
#: rooms made before, whose upcoming meetings are moved to rooms of their own.
CLAIMS = SyncCursor.__table__
MEETING_ROOM_CLAIM = "whereby.meeting_room"
OWN_ROOM_CLAIM = "whereby.meeting_own_room"
#: A company day's claim younger than this may be another run's call still under way: not taken over.
CLAIM_IN_FLIGHT = timedelta(minutes=5)

SERVICE = "Whereby"
#: A room stays open this long after the interview's planned end.
ROOM_GRACE = timedelta(minutes=15)
#: Whereby's ``normal`` rooms hold up to 4 people; beyond, a ``group`` room.
NORMAL_ROOM_PEOPLE = 4
#: The most results Whereby gives per page (meetings and insights alike).
PAGE_SIZE = 100
#: A listing that has not ended after this many pages is refused (a server going round in circles).
MAX_PAGES = 500
#: Whereby's longest room-name prefix.
PREFIX_LENGTH = 39
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


class PlanRefused(api.ApiError):
    """Whereby refused the request for what the account's plan allows (403): not the key (Whereby
    answers 401 for a missing or wrong key), so the run goes on with the others."""


# ---------------------------------------------------------------- the client and the room's terms


def whereby_client(*, sleep: Callable[[float], None] = time.sleep) -> api.ApiClient:
    """The Whereby client of the settings (``WHEREBY_API_URL``, ``WHEREBY_API_KEY``)."""
    return api.ApiClient(
        SERVICE,
        config.integration_setting("WHEREBY_API_URL"),
        config.integration_setting("WHEREBY_API_KEY"),
        sleep=sleep,
    )


def _refuse_plan_limits(client: api.ApiClient) -> None:
    """Make the client raise ``PlanRefused`` on a 403, with Whereby's reason.

    Whereby's reference (OpenAPI ``ForbiddenError``) answers 403 for "not allowed to perform action,
    check if Recording or Streaming are available in your plan", and 401 for a missing or invalid
    key; the shared client takes any 403 for a refused key and stops everything. A response hook
    of the client's session (documented by requests) raises before the client reads the answer.
    """
    if _plan_hook in client.session.hooks.setdefault("response", []):
        return
    client.session.hooks["response"].append(_plan_hook)


def _plan_hook(response: requests.Response, *args: object, **kwargs: object) -> requests.Response:
    if response.status_code != 403:
        return response
    path = urlsplit(response.request.url or "").path
    raise PlanRefused(
        f"{SERVICE} {response.request.method} {path} : HTTP 403, refusé par Whereby "
        f"(ce que permet l'offre du compte, pas la clé) : {_vendor_reason(response)}",
        status=403,
    )


def _vendor_reason(response: requests.Response) -> str:
    # Whereby's error bodies are {"error": "..."}; the request (which holds the key) is never shown.
    try:
        body = response.json()
    except ValueError:
        return response.reason or "sans motif"
    error = body.get("error") if isinstance(body, dict) else None
    return str(error)[:200] if error else (response.reason or "sans motif")


def room_end(starts_at: datetime, duration_min: int) -> datetime:
    """When an interview's room closes: its planned end plus 15 minutes."""
    return starts_at + timedelta(minutes=duration_min) + ROOM_GRACE


def end_date_text(moment: datetime) -> str:
    """An instant as the ``endDate`` sent to Whereby: ISO 8601, UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def room_name_prefix(site_code: str) -> str:
    """A site code as Whereby takes a room-name prefix: lower-case letters and digits only."""
    ascii_code = unicodedata.normalize("NFKD", site_code).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_code.lower())[:PREFIX_LENGTH]


def room_mode(attendees: int | None) -> str:
    """``group`` when the attendees plus the advisor are more than 4, else ``normal``."""
    return "group" if (attendees or 1) + 1 > NORMAL_ROOM_PEOPLE else "normal"


def meeting_body(*, starts_at: datetime, duration_min: int, site_code: str, attendees: int | None) -> dict:
    """The body of ``POST /v1/meetings`` for one interview."""
    return {
        "endDate": end_date_text(room_end(starts_at, duration_min)),
        "roomNamePrefix": room_name_prefix(site_code),
        "roomMode": room_mode(attendees),
        "fields": ["hostRoomUrl"],
    }


def room_name(url: str | None) -> str | None:
    """The room name of a room link (its path, ``/prefix…``), as the insights take it."""
    if not url:
        return None
    path = urlsplit(url).path
    return path if path.strip("/") else None


# ---------------------------------------------------------------- reading Whereby's answers


@dataclass(frozen=True)
class Meeting:
    """A Whereby room as this module keeps it."""

    meeting_id: str
    room_url: str
    host_room_url: str | None
    end_date: str | None
    room_name: str


def _meeting(answer: object) -> Meeting:
    """A meeting of Whereby's answer; ``ApiError`` when it lacks what the booking needs."""
    if not isinstance(answer, dict):
        raise api.ApiError(f"{SERVICE} : réponse inattendue (un objet « meeting » était attendu)")
    meeting_id = answer.get("meetingId")
    if not isinstance(meeting_id, str | int) or isinstance(meeting_id, bool) or str(meeting_id) == "":
        raise api.ApiError(f"{SERVICE} : réponse sans meetingId")
    try:
        room_url = read_https_url(str(answer.get("roomUrl") or ""))
        host = answer.get("hostRoomUrl")
        host_room_url = read_https_url(str(host)) if host else None
    except ValueError:
        raise api.ApiError(f"{SERVICE} : lien de salle absent ou qui n'est pas en https") from None
    name = answer.get("roomName")
    name = name if isinstance(name, str) and name else (room_name(room_url) or "")
    end = answer.get("endDate")
    return Meeting(str(meeting_id), room_url, host_room_url, end if isinstance(end, str) else None, name)


def _pages(client: api.ApiClient, path: str, params: dict) -> Iterator[dict]:
    """Every result of a paginated listing (``results`` and ``cursor``, ``null`` at the end)."""
    cursor, seen = None, set()
    for _ in range(MAX_PAGES):
        answer = client.get(path, {**params, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})})
        if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
            raise api.ApiError(f"{SERVICE} GET {path} : réponse inattendue (pas de liste « results »)")
        for result in answer["results"]:
            if isinstance(result, dict):
                yield result
        cursor = answer.get("cursor")
        if not cursor:
            return
        if not isinstance(cursor, str) or cursor in seen:
            raise api.ApiError(f"{SERVICE} GET {path} : pagination incohérente (curseur répété)")
        seen.add(cursor)
    raise api.ApiError(f"{SERVICE} GET {path} : plus de {MAX_PAGES} pages, listing abandonné")


def _same_instant(text: object, other: str) -> bool:
    """Whether two ISO 8601 instants are the same (Whereby may add milliseconds)."""
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) == datetime.fromisoformat(
            other.replace("Z", "+00:00")
        )
    except ValueError:
        return False


class _Rooms:
    """The account's rooms, listed at most once per run, when an attempt needs reconciling."""

    def __init__(self, client: api.ApiClient) -> None:
        self.client = client
        self._meetings: list[Meeting] | None = None
        #: Rooms this run has already given to a booking.
        self.taken: set[str] = set()

    def find(self, end_date: str, prefix: str, linked: set[str]) -> Meeting | None:
        """A listed room with this end and prefix that no booking holds yet (then taken)."""
        if self._meetings is None:
            listed = _pages(self.client, "/v1/meetings", {"fields": "hostRoomUrl"})
            self._meetings = [_meeting(item) for item in listed]
        for meeting in self._meetings:
            if meeting.meeting_id in self.taken or meeting.meeting_id in linked:
                continue
            if _same_instant(meeting.end_date, end_date) and meeting.room_name.lstrip("/").startswith(prefix):
                self.taken.add(meeting.meeting_id)
                return meeting
        return None


# ---------------------------------------------------------------- rooms


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
            _listed(f"salles {verb}", self.created),
            _listed("salles retrouvées (réponse perdue, pas de doublon)", self.adopted),
            _listed("salles supprimées (entretiens annulés)", self.deleted),
            _listed("salles remplacées (entretiens déplacés)", self.replaced),
            _listed("salles agrandies (plus de 4 personnes)", self.resized),
            _listed("liens corrigés (externalId refusé par Whereby)", self.relinked),
        ]
        lines += [f"incertain : {ref} : {why} (vérifié au prochain passage)" for ref, why in self.uncertain]
        lines += [f"échec : {ref} : {why}" for ref, why in self.failed]
        if self.meeting_rooms is not None:
            lines += self.meeting_rooms.lines()
        lines.append(
            "aperçu : rien n'a été créé, supprimé ni enregistré" if self.dry_run else "salles à jour"
        )
        return lines


def _listed(label: str, refs: list[str]) -> str:
    return f"{label} : {len(refs)}" + (f" ({', '.join(refs)})" if refs else "")


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


def _linked(engine: Engine) -> set[str]:
    """Whereby meetings some booking holds."""
    with engine.connect() as connection:
        return set(
            connection.execute(
                sa.select(BOOKINGS.c.room_meeting_id).where(BOOKINGS.c.room_meeting_id.is_not(None))
            ).scalars()
        )


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
    return _take(engine, ATTEMPTS, {"booking_ref": row["ref"]}, read, values)


def _take(engine: Engine, table: sa.Table, key: dict, read: dict | None, values: dict) -> bool:
    """Compare-and-set, committed: insert the row ``key`` when this run read none (its unique key
    lets one run only win), else update it only if it still holds what this run ``read``."""
    with write_transaction(engine) as connection:
        if read is None:
            try:
                with connection.begin_nested():
                    connection.execute(table.insert().values(**key, **values))
            except sa.exc.IntegrityError:
                return False
            return True
        claimed = connection.execute(
            table.update()
            .where(*(table.c[name] == value for name, value in {**key, **read}.items()))
            .values(**values)
        )
        return claimed.rowcount == 1


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


def _delete_meeting(client: api.ApiClient, meeting_id: str) -> None:
    """Delete a Whereby room; one already gone (404) is fine."""
    try:
        client.request("DELETE", f"/v1/meetings/{quote(meeting_id, safe='')}")
    except api.ApiAuthError:
        raise
    except api.ApiError as error:
        if error.status != 404:
            raise


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
    _refuse_plan_limits(client)
    summary = RoomSummary(dry_run=dry_run)
    rooms = _Rooms(client)
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
    rooms: _Rooms,
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
            found = rooms.find(row["end_date"], row["room_name_prefix"], _linked(engine))
            meeting_id = found.meeting_id if found else None
        if not dry_run:
            if meeting_id is not None:
                _delete_meeting(client, meeting_id)
            _clear_room(engine, ref, meeting_id, actor=actor)
        if meeting_id is not None:
            summary.deleted.append(ref)
        return
    mode = room_mode(row["attendees"])
    if row["room_meeting_id"] is not None:
        moved = row["end_date"] is not None and not _same_instant(row["end_date"], end_date)
        # A room asked before its mode was kept is taken as ``normal``; a group room still fits fewer.
        outgrown = mode == "group" and (row["room_mode"] or "normal") != "group"
        if not moved and not outgrown:
            _relink(engine, row, summary, actor=actor, dry_run=dry_run)
            return  # its room is still the right one
        # Moved to another time (the old room would close too early, or linger) or grown past 4
        # people: the old room is deleted first (never two live rooms for one booking), then a
        # new one is asked for; a grown interview's link changes by a versioned update.
        if not dry_run:
            _delete_meeting(client, row["room_meeting_id"])
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
        found = rooms.find(row["end_date"], row["room_name_prefix"], _linked(engine))
        if found is not None and row["end_date"] == end_date and row["room_name_prefix"] == prefix:
            if not dry_run and not _store_room(engine, ref, found, actor=actor, action="room.adopt"):
                raise api.ApiError(
                    f"salle {found.meeting_id} retrouvée, mais la réservation a changé entre-temps"
                )
            summary.adopted.append(ref)
            return
        if found is not None and not dry_run:
            # The interview moved while the answer was lost: that room is for the old time.
            _delete_meeting(client, found.meeting_id)
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
        meeting = _meeting(answer)
    except api.ApiError as error:
        raise api.ApiUncertain(f"{error} (salle peut-être créée : retrouvée au prochain passage)") from None
    if not _store_room(engine, ref, meeting, actor=actor, action="room.create"):
        raise api.ApiError(f"salle {meeting.meeting_id} créée, mais la réservation a changé entre-temps")
    summary.created.append(ref)


# ---------------------------------------------------------------- job-dating meetings' rooms


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
            lines.append(_listed("rencontres sorties d'une salle partagée d'entreprise", self.moved_out))
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


def _claims(engine: Engine, name: str) -> dict[str, dict]:
    """The claims under ``name``: key → the row as read (``cursor`` JSON, ``synced_at``)."""
    query = sa.select(CLAIMS.c.name, CLAIMS.c.cursor, CLAIMS.c.synced_at).where(
        CLAIMS.c.name.startswith(f"{name}:")
    )
    with engine.connect() as connection:
        return {row.name: dict(row._mapping) for row in connection.execute(query)}


def _shared_room_paths(engine: Engine) -> set[str]:
    """The room names of the company days' shared rooms made before one room per meeting."""
    paths = set()
    for claim in _claims(engine, MEETING_ROOM_CLAIM).values():
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
    own = _claims(engine, OWN_ROOM_CLAIM)
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
        held |= {json.loads(claim["cursor"]).get("meeting_id") for claim in _claims(engine, name).values()}
    return _linked(engine) | {meeting_id for meeting_id in held if meeting_id}


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
    rooms: _Rooms | None = None,
) -> MeetingRoomSummary:
    """Give each upcoming planned job-dating meeting a Whereby room of its own (never two), and
    take the meetings still in a company day's shared room (made before) out of it.

    A refused key (401) stops the run; any other failure is the meeting's own (nothing written to
    it), reported, and the others go on.
    """
    now = now or datetime.now(UTC)
    engine = engine or get_engine()
    client = client or whereby_client()
    _refuse_plan_limits(client)
    rooms = rooms or _Rooms(client)
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
    rooms: _Rooms,
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
            _delete_meeting(client, state["meeting_id"])
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
            _delete_meeting(client, found.meeting_id)  # made for the meeting's former day
    if dry_run:
        summary.created.append(ref)
        summary.linked.append(ref)
        if row["shared"]:
            summary.moved_out.append(ref)
        return
    read = None if claim is None else {"cursor": claim["cursor"], "synced_at": claim["synced_at"]}
    pending = {"cursor": json.dumps(target), "synced_at": now}
    if not _take(engine, CLAIMS, {"name": _own_claim_key(ref)}, read, pending):
        raise api.ApiError("une autre synchronisation demande déjà cette salle")
    # One person a side and a parent: ``normal`` (4 at most) fits.
    body = {"endDate": end_date, "roomNamePrefix": prefix, "roomMode": "normal"}
    # From here the claim stays pending whatever happens: the next run looks for the room first.
    answer = client.request("POST", "/v1/meetings", json=body)
    try:
        meeting = _meeting(answer)
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


# ---------------------------------------------------------------- attendance


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
    sessions = list(_pages(client, "/v1/insights/room-sessions", {"roomName": name}))
    people = []
    for session in sessions:
        session_id = session.get("roomSessionId")
        if not isinstance(session_id, str) or not session_id:
            raise api.ApiError(f"{SERVICE} : session de salle sans roomSessionId")
        participants = _pages(client, "/v1/insights/participants", {"roomSessionId": session_id})
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
    _refuse_plan_limits(client)
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


# ---------------------------------------------------------------- attendance of job-dating meetings

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
        for key, claim in _claims(engine, OWN_ROOM_CLAIM).items()
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


# ---------------------------------------------------------------- suggestions of interviews


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

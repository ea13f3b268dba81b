"""Whereby's REST API as Rencontres uses it: the client (the key in the header only, the plan's
refusals told apart), the terms of a room (end, name prefix, mode), reading its answers and
its paged listings, and the claims a run commits before a call so that a lost answer never
makes two rooms.

The rooms of the interviews are in ``whereby_rooms``, those of the job-dating meetings in
``whereby_meeting_rooms``, attendance read from the calls in ``whereby_attendance``.

Every write is a short transaction that bumps the data version. The API key never appears in
an output: the shared client (``services.integrations.api``) keeps it in the authorisation header only.

"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import config
from services.integrations import api
from services.store.database import write_transaction
from services.store.models import (
    Booking,
    SyncCursor,
)
from services.store.values import read_https_url

BOOKINGS = Booking.__table__
#: Room claims of job-dating meetings live in ``sync_cursors``: ``whereby.meeting_own_room:REF``
#: (one room per meeting); ``whereby.meeting_room:EVENT:SIRET:DAY`` are the company days' shared
#: rooms made before, whose upcoming meetings are moved to rooms of their own.
CLAIMS = SyncCursor.__table__
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


class PlanRefused(api.ApiError):
    """Whereby refused the request for what the account's plan allows (403): not the key (Whereby
    answers 401 for a missing or wrong key), so the run goes on with the others."""


def whereby_client(*, sleep: Callable[[float], None] = time.sleep) -> api.ApiClient:
    """The Whereby client of the settings (``WHEREBY_API_URL``, ``WHEREBY_API_KEY``)."""
    return api.ApiClient(
        SERVICE,
        config.integration_setting("WHEREBY_API_URL"),
        config.integration_setting("WHEREBY_API_KEY"),
        sleep=sleep,
    )


def refuse_plan_limits(client: api.ApiClient) -> None:
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


@dataclass(frozen=True)
class Meeting:
    """A Whereby room as this module keeps it."""

    meeting_id: str
    room_url: str
    host_room_url: str | None
    end_date: str | None
    room_name: str


def read_meeting(answer: object) -> Meeting:
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


def listing_pages(client: api.ApiClient, path: str, params: dict) -> Iterator[dict]:
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


def same_instant(text: object, other: str) -> bool:
    """Whether two ISO 8601 instants are the same (Whereby may add milliseconds)."""
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) == datetime.fromisoformat(
            other.replace("Z", "+00:00")
        )
    except ValueError:
        return False


class Rooms:
    """The account's rooms, listed at most once per run, when an attempt needs reconciling."""

    def __init__(self, client: api.ApiClient) -> None:
        self.client = client
        self._meetings: list[Meeting] | None = None
        #: Rooms this run has already given to a booking.
        self.taken: set[str] = set()

    def find(self, end_date: str, prefix: str, linked: set[str]) -> Meeting | None:
        """A listed room with this end and prefix that no booking holds yet (then taken)."""
        if self._meetings is None:
            listed = listing_pages(self.client, "/v1/meetings", {"fields": "hostRoomUrl"})
            self._meetings = [read_meeting(item) for item in listed]
        for meeting in self._meetings:
            if meeting.meeting_id in self.taken or meeting.meeting_id in linked:
                continue
            if same_instant(meeting.end_date, end_date) and meeting.room_name.lstrip("/").startswith(prefix):
                self.taken.add(meeting.meeting_id)
                return meeting
        return None


def listed(label: str, refs: list[str]) -> str:
    return f"{label} : {len(refs)}" + (f" ({', '.join(refs)})" if refs else "")


def linked_rooms(engine: Engine) -> set[str]:
    """Whereby meetings some booking holds."""
    with engine.connect() as connection:
        return set(
            connection.execute(
                sa.select(BOOKINGS.c.room_meeting_id).where(BOOKINGS.c.room_meeting_id.is_not(None))
            ).scalars()
        )


def compare_and_set(engine: Engine, table: sa.Table, key: dict, read: dict | None, values: dict) -> bool:
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


def delete_room(client: api.ApiClient, meeting_id: str) -> None:
    """Delete a Whereby room; one already gone (404) is fine."""
    try:
        client.request("DELETE", f"/v1/meetings/{quote(meeting_id, safe='')}")
    except api.ApiAuthError:
        raise
    except api.ApiError as error:
        if error.status != 404:
            raise


def claims_under(engine: Engine, name: str) -> dict[str, dict]:
    """The claims under ``name``: key → the row as read (``cursor`` JSON, ``synced_at``)."""
    query = sa.select(CLAIMS.c.name, CLAIMS.c.cursor, CLAIMS.c.synced_at).where(
        CLAIMS.c.name.startswith(f"{name}:")
    )
    with engine.connect() as connection:
        return {row.name: dict(row._mapping) for row in connection.execute(query)}

"""Whereby rooms and attendance against a fake Whereby on loopback (pytest-httpserver, threaded).

The fake speaks the REST API as Whereby's reference describes it: ``POST /v1/meetings`` (answer
201 with ``meetingId``, ``roomName``, ``roomUrl``, ``startDate``, ``endDate`` and, when asked in
``fields``, ``hostRoomUrl``), ``GET /v1/meetings`` (``results`` and ``cursor``, ``null`` on the
last page), ``DELETE /v1/meetings/{meetingId}`` (204), ``GET /v1/insights/room-sessions?roomName=``
and ``GET /v1/insights/participants?roomSessionId=`` (each ``results`` and ``cursor``). Its pages
hold 2 results whatever ``limit`` asks, so that every listing here spans several pages.

Sources (read in Whereby's published reference, repository whereby/docs,
``.gitbook/assets/_api-reference-docs-openapi.json``, and its SDK, whereby/sdk):

- errors: 401 ``UnauthorizedError`` "Access token is missing or invalid"; 403 ``ForbiddenError``
  "Not allowed to perform action. Check if Recording or Streaming are available in your plan"
  (no body schema: Whereby's error bodies are ``{"error": "..."}`` as its ``ThrottleError``);
- ``roleName`` of a participant: the SDK's ``RoleName`` (packages/media/src/utils/types.ts):
  none, visitor, granted_visitor, viewer, granted_viewer, host, recorder, streamer, captioner,
  assistant; participants carry the ``externalId`` of the link they joined with;
- a link's ``externalId`` outside ``A-Za-z0-9-_`` or longer than 36 characters is refused when
  someone joins with it (``join``): the SDK's room-join error ``invalid_parameters``.

The centre of these tests (times are Paris time, summer time, UTC+2):

- B1: Maxéville (MAX), Anne, 14 April 2020 10:00, 45 min, 1 person, booked;
- B2: Yutz (YUT), Yves, 14 April 14:00, 45 min, 4 people, booked;
- B3: MAX, Anne, 15 April 09:00, 45 min, 3 people, booked;
- B4: MAX, Paul, 9 April 10:00 (before "now", 10 April 10:00): no room;
- B5: MAX, Paul, 16 April 10:00, cancelled: no room;
- B6: MAX, Paul, 16 April 11:00, booked, with a link given by the booking file: left alone.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from werkzeug import Request, Response

from services.__main__ import main
from services.access import roles
from services.advising import outcomes, schedule
from services.documents import exports
from services.integrations import api, whereby, whereby_attendance, whereby_rooms
from services.store import database, room_links
from services.store.models import (
    AttendanceSuggestion,
    AuditEvent,
    Booking,
    BookingChange,
    BookingNote,
    RoomAttempt,
)
from services.store.versioned import ChangeRefused, ConflictError
from tests.conftest import app_as, load

KEY = "whereby-test-cle-qui-ne-doit-jamais-apparaitre"
#: "Now" for the rooms: 10 April 2020, 10:00 in Paris.
BEFORE = datetime(2020, 4, 10, 8, 0, tzinfo=UTC)
#: "Now" for the attendance: 15 April 2020, 12:00 in Paris (B1, B2 and B3 are over).
AFTER = datetime(2020, 4, 15, 10, 0, tzinfo=UTC)
PAGE = "pages/advisors/schedule.py"
ANNE, YVES, PAUL = "anne@cfai.fr", "yves@cfai.fr", "paul@cfai.fr"

BOOKINGS = Booking.__table__
ATTEMPTS = RoomAttempt.__table__
SUGGESTIONS = AttendanceSuggestion.__table__


# ---------------------------------------------------------------- the fake Whereby


def _json(body: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class FakeWhereby:
    """Rooms and insights of one Whereby account; ``script`` holds answers given before the real
    one to the next ``POST /v1/meetings`` (a callable acts then answers, e.g. a lost answer)."""

    PAGE = 2

    def __init__(self, server: HTTPServer) -> None:
        self.lock = threading.Lock()
        self.meetings: list[dict] = []
        #: Rooms made so far (meeting ids are never reused).
        self.made = 0
        self.posts: list[dict] = []
        self.deletes: list[str] = []
        self.script: list[object] = []
        #: Room name → its sessions; session id → its participants (insights).
        self.sessions: dict[str, list[dict]] = {}
        self.participants: dict[str, list[dict]] = {}
        self.insight_failures: list[Response] = []
        server.expect_request("/v1/meetings", method="POST").respond_with_handler(self.create)
        server.expect_request("/v1/meetings", method="GET").respond_with_handler(self.list_meetings)
        server.expect_request(re.compile(r"^/v1/meetings/[^/]+$"), method="DELETE").respond_with_handler(
            self.delete
        )
        server.expect_request("/v1/insights/room-sessions").respond_with_handler(self.room_sessions)
        server.expect_request("/v1/insights/participants").respond_with_handler(self.session_participants)

    def authorised(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {KEY}"

    def make_meeting(self, body: dict) -> dict:
        with self.lock:
            self.made += 1
            number = self.made
            name = f"/{body.get('roomNamePrefix', '')}{number:08d}-5c4e-4f3a-9d2b-00000000000{number % 10}"
            meeting = {
                "meetingId": f"m{number}",
                "roomName": name,
                "roomUrl": f"https://centre.whereby.com{name}",
                "startDate": "2020-04-10T08:00:00.000Z",
                # As Whereby answers: UTC, with milliseconds.
                "endDate": body["endDate"].replace("Z", ".000Z"),
                "hostRoomUrl": f"https://centre.whereby.com{name}?roomKey=hote-{number}",
            }
            self.meetings.append(meeting)
        return meeting

    def create(self, request: Request) -> Response:
        if not self.authorised(request):
            return _json({"error": "Access token is missing or invalid"}, 401)
        body = request.get_json()
        self.posts.append(body)
        if self.script:
            step = self.script.pop(0)
            return step if isinstance(step, Response) else step(self, body)
        return _json(self.make_meeting(body), 201)

    def list_meetings(self, request: Request) -> Response:
        if not self.authorised(request):
            return _json({"error": "Access token is missing or invalid"}, 401)
        start = int(request.args.get("cursor") or 0)
        page = self.meetings[start : start + self.PAGE]
        rest = start + self.PAGE < len(self.meetings)
        listed = [
            {
                k: v
                for k, v in m.items()
                if k != "hostRoomUrl" or "hostRoomUrl" in request.args.get("fields", "")
            }
            for m in page
        ]
        return _json({"results": listed, "cursor": str(start + self.PAGE) if rest else None})

    def delete(self, request: Request) -> Response:
        meeting_id = request.path.rsplit("/", 1)[1]
        self.deletes.append(meeting_id)
        # « The endpoint is idempotent, meaning it will return the same response even if the
        # meeting has already been deleted » (the reference's DELETE /meetings/{meetingId}): 204.
        self.meetings = [m for m in self.meetings if m["meetingId"] != meeting_id]
        return Response(status=204)

    def paged(self, items: list[dict], request: Request) -> Response:
        start = int(request.args.get("cursor") or 0)
        rest = start + self.PAGE < len(items)
        return _json(
            {"results": items[start : start + self.PAGE], "cursor": str(start + self.PAGE) if rest else None}
        )

    def room_sessions(self, request: Request) -> Response:
        if self.insight_failures:
            return self.insight_failures.pop(0)
        return self.paged(self.sessions.get(request.args["roomName"], []), request)

    def session_participants(self, request: Request) -> Response:
        return self.paged(self.participants.get(request.args["roomSessionId"], []), request)

    @staticmethod
    def join(link: str) -> Response:
        """Someone opens a room link: Whereby refuses an ``externalId`` it does not take."""
        external = parse_qs(urlsplit(link).query).get("externalId", [""])[0]
        if external and not re.fullmatch(r"[A-Za-z0-9_-]{1,36}", external):
            return _json({"error": "invalid_parameters"}, 400)
        return _json({"roomName": urlsplit(link).path}, 200)

    def call(self, meeting_url: str, *sessions: list[tuple]) -> None:
        """Sessions of a room, each a list of (role, display name[, the link they joined with]);
        everyone joins with ``meeting_url`` unless told otherwise, and must be let in."""
        name = whereby.room_name(meeting_url)
        self.sessions[name] = []
        for number, people in enumerate(sessions, start=1):
            session_id = f"{name.strip('/')}-s{number}"
            self.sessions[name].append({"roomSessionId": session_id, "roomName": name})
            self.participants[session_id] = []
            for n, (role, who, *link) in enumerate(people):
                link = link[0] if link else meeting_url
                assert self.join(link).status_code == 200, f"Whereby refuses {link}"
                self.participants[session_id].append(
                    {
                        "participantId": f"{session_id}-p{n}",
                        "roleName": role,
                        "displayName": who,
                        "externalId": parse_qs(urlsplit(link).query).get("externalId", [None])[0],
                    }
                )


def lost_answer(fake: FakeWhereby, body: dict) -> Response:
    """The server makes the room, but its answer comes after the client gave up (0.5 s)."""
    fake.make_meeting(body)
    time.sleep(1.0)
    return _json({"meetingId": "trop-tard"}, 201)


def made_then_garbled(fake: FakeWhereby, body: dict) -> Response:
    """The server makes the room and answers something that is not JSON."""
    fake.make_meeting(body)
    return Response("<html>Bad gateway page</html>", status=201, content_type="text/html")


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    # Threaded: a slow answer (a lost one) does not hold up the requests after it.
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def fake(server: HTTPServer) -> FakeWhereby:
    return FakeWhereby(server)


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(server: HTTPServer, waits: list[float]) -> api.ApiClient:
    # Answers within 0.5 s, or the call is lost; waits are recorded, not slept.
    return api.ApiClient("Whereby", server.url_for(""), KEY, timeout=(1.0, 0.5), sleep=waits.append)


@pytest.fixture
def centre(engine: Engine) -> Engine:
    load("sites", "code,name\nMAX,Maxéville\nYUT,Yutz\n")
    load("programs", "code,site_code,name,level\nBTS-MS,MAX,BTS MS,BTS\nBTS-MS,YUT,BTS MS,BTS\n")
    load(
        "advisors",
        f"email,name,site_code\n{ANNE},Anne Conseil,MAX\n{YVES},Yves Conseil,YUT\n{PAUL},Paul Conseil,MAX\n",
    )
    load("events", "code,name,kind,starts_on,ends_on\nPOV,Portes ouvertes,virtual,2020-04-14,2020-04-17\n")
    load(
        "candidates",
        "ref,first_name,last_name,email,created_at\n"
        + "".join(f"C{n},Prénom{n},Nom{n},c{n}@exemple.fr,2020-03-01 10:00\n" for n in range(1, 8)),
    )
    load(
        "bookings",
        "ref,candidate_ref,event_code,site_code,program_code,advisor_email,starts_at,duration_min,"
        "status,booked_at,attendees,meeting_url\n"
        f"B1,C1,POV,MAX,BTS-MS,{ANNE},2020-04-14 10:00,45,booked,2020-04-01 09:00,1,\n"
        f"B2,C2,POV,YUT,BTS-MS,{YVES},2020-04-14 14:00,45,booked,2020-04-01 09:00,4,\n"
        f"B3,C3,POV,MAX,BTS-MS,{ANNE},2020-04-15 09:00,45,booked,2020-04-01 09:00,3,\n"
        f"B4,C4,,MAX,BTS-MS,{PAUL},2020-04-09 10:00,45,booked,2020-04-01 09:00,1,\n"
        f"B5,C5,POV,MAX,BTS-MS,{PAUL},2020-04-16 10:00,45,cancelled,2020-04-01 09:00,1,\n"
        f"B6,C6,POV,MAX,BTS-MS,{PAUL},2020-04-16 11:00,45,booked,2020-04-01 09:00,1,https://visio.cfai.fr/b6\n",
    )
    return engine


def rooms(engine: Engine) -> dict[str, tuple]:
    """Booking ref → (room_meeting_id, meeting_url, host_room_url), for the bookings with one."""
    query = sa.select(
        BOOKINGS.c.ref, BOOKINGS.c.room_meeting_id, BOOKINGS.c.meeting_url, BOOKINGS.c.host_room_url
    )
    with engine.connect() as connection:
        return {ref: tuple(rest) for ref, *rest in connection.execute(query) if rest[0] is not None}


def attempts(engine: Engine) -> dict[str, tuple]:
    query = sa.select(
        ATTEMPTS.c.booking_ref, ATTEMPTS.c.state, ATTEMPTS.c.end_date, ATTEMPTS.c.room_name_prefix
    )
    with engine.connect() as connection:
        return {ref: tuple(rest) for ref, *rest in connection.execute(query)}


def audited(engine: Engine, prefix: str) -> list[tuple]:
    events = AuditEvent.__table__
    query = sa.select(events.c.action, events.c.target, events.c.detail).where(
        events.c.action.startswith(prefix)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query.order_by(events.c.id))]


def booking(engine: Engine, ref: str) -> tuple:
    query = sa.select(BOOKINGS.c.status, BOOKINGS.c.attendees, BOOKINGS.c.version).where(
        BOOKINGS.c.ref == ref
    )
    with engine.connect() as connection:
        return tuple(connection.execute(query).one())


def sync_rooms(client: api.ApiClient, **kwargs) -> whereby_rooms.RoomSummary:
    return whereby_rooms.sync_rooms(actor="cli:test", now=BEFORE, client=client, **kwargs)


# ---------------------------------------------------------------- rooms


def test_room_helpers_worked_by_hand():
    # 14 April 2020 10:00 in Paris is 08:00 UTC; + 45 min + 15 min = 09:00 UTC.
    start = datetime(2020, 4, 14, 8, 0, tzinfo=UTC)
    assert whereby.end_date_text(whereby.room_end(start, 45)) == "2020-04-14T09:00:00Z"
    assert whereby.room_name_prefix("MAX") == "max"
    assert whereby.room_name_prefix("Épinal-2 ") == "epinal2"  # letters and digits, lower-case
    # 1, 2, 3 attendees + the advisor are at most 4 people: normal; 4 + 1 = 5: group.
    assert [whereby.room_mode(n) for n in (1, 2, 3, 4, 7)] == ["normal"] * 3 + ["group"] * 2
    assert (
        room_links.with_external_id("https://c.whereby.com/r?roomKey=k", "B1")
        == "https://c.whereby.com/r?roomKey=k&externalId=B1"
    )


def test_upcoming_bookings_get_one_room_each_with_the_interview_end_site_and_size(centre, fake, client):
    before = database.data_version(centre)
    summary = sync_rooms(client)
    # B1: 10:00 + 45 min + 15 min = 11:00 in Paris = 09:00 UTC, MAX, 1 + advisor = 2 people: normal.
    # B2: 14:00 → 15:00 in Paris = 13:00 UTC, YUT, 4 + advisor = 5 people: group.
    # B3: 15 April 09:00 → 10:00 in Paris = 08:00 UTC, MAX, 3 + advisor = 4 people: normal.
    # B4 has started, B5 is cancelled, B6 has its own link: no room for them.
    assert fake.posts == [
        {
            "endDate": "2020-04-14T09:00:00Z",
            "roomNamePrefix": "max",
            "roomMode": "normal",
            "fields": ["hostRoomUrl"],
        },
        {
            "endDate": "2020-04-14T13:00:00Z",
            "roomNamePrefix": "yut",
            "roomMode": "group",
            "fields": ["hostRoomUrl"],
        },
        {
            "endDate": "2020-04-15T08:00:00Z",
            "roomNamePrefix": "max",
            "roomMode": "normal",
            "fields": ["hostRoomUrl"],
        },
    ]
    assert summary.created == ["B1", "B2", "B3"] and not (summary.failed or summary.uncertain)
    m1 = fake.meetings[0]
    assert rooms(centre)["B1"] == (
        "m1",
        f"{m1['roomUrl']}?externalId=B1",
        f"{m1['roomUrl']}?roomKey=hote-1&externalId=B1",
    )
    assert set(rooms(centre)) == {"B1", "B2", "B3"}
    assert attempts(centre)["B2"] == ("created", "2020-04-14T13:00:00Z", "yut")
    assert audited(centre, "room.") == [
        ("room.create", "B1", "meeting=m1"),
        ("room.create", "B2", "meeting=m2"),
        ("room.create", "B3", "meeting=m3"),
    ]
    assert database.data_version(centre) == before + 3  # one short transaction per room
    assert booking(centre, "B1") == ("booked", 1, 0)  # the advisor's version is untouched
    # A second run finds nothing to do: no call that writes, no write.
    again = sync_rooms(client)
    assert (again.created, again.adopted, again.deleted, len(fake.posts)) == ([], [], [], 3)
    assert database.data_version(centre) == before + 3


def test_a_dry_run_says_what_it_would_do_and_does_nothing(centre, fake, client):
    summary = sync_rooms(client, dry_run=True)
    assert summary.created == ["B1", "B2", "B3"] and summary.dry_run
    assert fake.posts == [] and rooms(centre) == {} and attempts(centre) == {}
    assert summary.lines()[0] == "salles à créer : 3 (B1, B2, B3)"
    assert summary.lines()[-1] == "aperçu : rien n'a été créé, supprimé ni enregistré"


def test_a_lost_answer_never_makes_a_second_room(centre, fake, client):
    # Paul has an interview at B1's time at the same site: its room (made earlier) has the same
    # end and prefix as B1's would; it is listed first and must not be taken for B1's.
    load("candidates", "ref,created_at\nC7,2020-03-01 10:00\n")
    load(
        "bookings",
        "ref,candidate_ref,site_code,advisor_email,starts_at,status,booked_at\n"
        f"B7,C7,MAX,{PAUL},2020-04-14 10:00,booked,2020-04-01 09:00\n",
    )
    fake.script = [lost_answer]
    first = sync_rooms(client)
    # B1 first (10:00, ref order), its answer lost; then B7, B2, B3 as usual.
    assert [ref for ref, _ in first.uncertain] == ["B1"] and "pas de réponse" in first.uncertain[0][1]
    assert first.created == ["B7", "B2", "B3"]
    assert attempts(centre)["B1"] == ("pending", "2020-04-14T09:00:00Z", "max")
    assert "B1" not in rooms(centre)
    time.sleep(0.6)  # the slow handler has finished: the server holds 4 rooms, B1's is m1
    assert [m["meetingId"] for m in fake.meetings] == ["m1", "m2", "m3", "m4"]
    assert rooms(centre)["B7"][0] == "m2"  # same end 09:00Z and prefix "max" as m1

    second = sync_rooms(client)
    # The pending attempt is reconciled by listing (2 per page: 2 pages); m1 matches (end
    # 09:00Z, prefix max) and no booking holds it; m2 matches too but is B7's.
    assert second.adopted == ["B1"] and second.created == []
    assert rooms(centre)["B1"][0] == "m1"
    assert rooms(centre)["B1"][2].endswith("?roomKey=hote-1&externalId=B1")
    assert attempts(centre)["B1"][0] == "created"
    assert sum(post["endDate"] == "2020-04-14T09:00:00Z" for post in fake.posts) == 2  # B1 once, B7 once
    assert len(fake.posts) == 4 and len(fake.meetings) == 4
    assert ("room.adopt", "B1", "meeting=m1") in audited(centre, "room.")


def test_an_interview_cancelled_while_its_answer_was_lost_leaves_no_room_behind(centre, fake, client):
    fake.script = [lost_answer]
    sync_rooms(client)
    time.sleep(0.6)
    outcomes.record_outcome(
        "B1", outcome=outcomes.Outcome("cancelled"), author=ANNE, read_version=0, now=BEFORE
    )
    summary = sync_rooms(client)
    # The listing holds m1 (B1's end and prefix, held by nobody): deleted, not adopted.
    assert summary.deleted == ["B1"] and summary.adopted == [] and fake.deletes == ["m1"]
    assert attempts(centre)["B1"][0] == "deleted" and "B1" not in rooms(centre)
    assert ("room.delete", "B1", "meeting=m1") in audited(centre, "room.")


def test_an_answer_that_is_not_json_is_reconciled_too(centre, fake, client):
    fake.script = [made_then_garbled]
    first = sync_rooms(client)
    assert first.failed == [("B1", "Whereby POST /v1/meetings : réponse qui n'est pas du JSON valide")]
    assert attempts(centre)["B1"][0] == "pending" and "B1" not in rooms(centre)
    second = sync_rooms(client)
    assert second.adopted == ["B1"] and len(fake.posts) == 3 and len(fake.meetings) == 3


def test_a_429_waits_what_retry_after_asks(centre, fake, client, waits):
    # Whereby throttles the first POST: the server did nothing, the client waits 3 s and asks again.
    fake.script = [_json({"error": "Rate limit active", "data": {"msLeft": 3000}}, 429, {"Retry-After": "3"})]
    summary = sync_rooms(client)
    assert waits == [3.0]
    assert summary.created == ["B1", "B2", "B3"] and len(fake.posts) == 4 and len(fake.meetings) == 3


def test_a_429_that_only_gives_the_reset_date_waits_until_it(centre, fake, client, waits):
    # Whereby's reference (« Rate limiting »): « You may read the Retry-After (seconds) or
    # X-RateLimit-Reset (date) response headers in order to know when you can restart your
    # requests », with X-RateLimit-Limit (the organisation's points) and X-RateLimit-Remaining.
    # A 429 that gives only the date must wait until it, not back off half a second and spend
    # the attempts while the budget (per minute) is still spent.
    reset = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    headers = {"X-RateLimit-Reset": reset, "X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0"}
    fake.script = [_json({"error": "Rate limit active"}, 429, headers)]
    summary = sync_rooms(client)
    assert len(waits) == 1 and 28 <= waits[0] <= 30
    assert summary.created == ["B1", "B2", "B3"] and len(fake.meetings) == 3


def test_a_429_that_only_says_it_in_its_body_waits_the_milliseconds_left(centre, fake, client, waits):
    # Whereby's reference documents the 429's body (``ThrottleError``): {"error": ..., "data":
    # {"msLeft": ...}}, « Milliseconds left until rate limit is finished. Wait this long until
    # trying again. » A 429 whose headers say nothing (a proxy that drops them) must wait those
    # 38.689 s. Before, the client backed off at random under a second and spent its five
    # attempts in a few seconds while the organisation's budget (per minute) was still spent.
    body = {"error": "Rate limit active for throttle key: organization:1", "data": {"msLeft": 38689}}
    fake.script = [_json(body, 429)]
    summary = sync_rooms(client)
    assert waits == [38.689]
    assert summary.created == ["B1", "B2", "B3"] and len(fake.meetings) == 3


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        # A 500 is not retried (the server may be broken, not busy): B1 fails this run.
        (500, "failed", "HTTP 500 (boom)"),
        # A 502 on a POST may hide a room made behind the gateway: uncertain, never repeated blindly.
        (502, "uncertain", "HTTP 502 (boom)"),
    ],
)
def test_a_server_error_then_success_on_the_next_run(centre, fake, client, waits, status, kind, message):
    fake.script = [_json({"error": "boom"}, status)]
    first = sync_rooms(client)
    assert getattr(first, kind) == [("B1", f"Whereby POST /v1/meetings : {message}")]
    assert first.created == ["B2", "B3"] and waits == []
    second = sync_rooms(client)
    # The attempt was pending: the listing holds no room for B1 (the server made none), so it asks.
    assert second.created == ["B1"] and second.adopted == []
    assert len(fake.posts) == 4 and len(fake.meetings) == 3


def test_a_refused_key_stops_the_run_with_a_clear_message(centre, server, fake, waits):
    wrong = api.ApiClient(
        "Whereby", server.url_for(""), "mauvaise-cle", timeout=(1.0, 0.5), sleep=waits.append
    )
    with pytest.raises(api.ApiAuthError, match="HTTP 401, clé d'API refusée") as refused:
        sync_rooms(wrong)
    assert "mauvaise-cle" not in str(refused.value)
    assert len(fake.posts) == 0 and fake.meetings == [] and waits == []  # a 401 is never retried


def test_the_command_line_never_prints_the_key(centre, server, fake, capsys, monkeypatch):
    # The command line runs on the real clock: an interview in 2099 is upcoming.
    load("candidates", "ref,created_at\nC9,2020-03-01 10:00\n")
    load(
        "bookings",
        "ref,candidate_ref,site_code,advisor_email,starts_at,status,booked_at\n"
        f"B9,C9,YUT,{YVES},2099-04-14 10:00,booked,2020-04-01 09:00\n",
    )
    monkeypatch.setenv("WHEREBY_API_URL", server.url_for(""))
    monkeypatch.setenv("WHEREBY_API_KEY", "mauvaise-cle")
    assert main(["sync", "rooms"]) == 1
    printed = capsys.readouterr()
    assert printed.err.startswith("erreur : Whereby POST /v1/meetings : HTTP 401, clé d'API refusée")
    assert "mauvaise-cle" not in printed.out + printed.err
    monkeypatch.setenv("WHEREBY_API_KEY", KEY)
    assert main(["sync", "rooms", "--dry-run"]) == 0
    printed = capsys.readouterr()
    assert "salles à créer : 1 (B9)" in printed.out and KEY not in printed.out + printed.err
    assert main(["sync", "rooms"]) == 0
    assert "salles créées : 1 (B9)" in capsys.readouterr().out and set(rooms(centre)) == {"B9"}
    assert main(["sync", "rooms", "--since", "2020-04-01"]) == 2  # --since means nothing for rooms
    assert "--since" in capsys.readouterr().err
    # No interview with a room has ended yet: nothing to read.
    assert main(["sync", "attendance", "--since", "2020-04-01", "--dry-run"]) == 0
    assert "suggestions à proposer : 0" in capsys.readouterr().out


def test_a_cancelled_interview_loses_its_room(centre, fake, client):
    sync_rooms(client)
    outcomes.record_outcome(
        "B2", outcome=outcomes.Outcome("cancelled"), author=YVES, read_version=0, now=BEFORE
    )
    # B3's room is already gone at Whereby (deleted by hand): Whereby answers 204 all the same
    # (a 404, which older answers gave, is taken as « already gone » too: whereby.delete_room).
    fake.meetings = [m for m in fake.meetings if m["meetingId"] != "m3"]
    outcomes.record_outcome(
        "B3", outcome=outcomes.Outcome("cancelled"), author=ANNE, read_version=0, now=BEFORE
    )
    summary = sync_rooms(client)
    assert summary.deleted == ["B2", "B3"] and not summary.failed
    assert fake.deletes == ["m2", "m3"]
    assert set(rooms(centre)) == {"B1"}  # B2's and B3's links and meeting ids are cleared
    assert attempts(centre)["B2"][0] == attempts(centre)["B3"][0] == "deleted"
    assert audited(centre, "room.delete") == [
        ("room.delete", "B2", "meeting=m2"),
        ("room.delete", "B3", "meeting=m3"),
    ]
    # Reopened, B2 gets a new room (its old attempt is reused, not a second row).
    outcomes.record_outcome("B2", outcome=outcomes.Outcome("booked"), author=YVES, read_version=1, now=BEFORE)
    assert sync_rooms(client).created == ["B2"] and rooms(centre)["B2"][0] == "m4"


def test_a_moved_interview_gets_a_room_for_its_new_time(centre, fake, client):
    sync_rooms(client)
    with database.write_transaction(centre) as connection:
        connection.execute(
            BOOKINGS.update()
            .where(BOOKINGS.c.ref == "B1")
            .values(starts_at=datetime(2020, 4, 14, 12, 0, tzinfo=UTC))
        )
    summary = sync_rooms(client)
    # 14:00 in Paris + 1 h = 15:00 = 13:00 UTC: m1 (09:00Z) is deleted, m4 made for 13:00Z.
    assert summary.replaced == ["B1"] and summary.created == ["B1"]
    assert fake.deletes == ["m1"] and fake.posts[-1]["endDate"] == "2020-04-14T13:00:00Z"
    assert rooms(centre)["B1"][0] == "m4"


# ---------------------------------------------------------------- attendance


@pytest.fixture
def calls(centre: Engine, fake: FakeWhereby, client: api.ApiClient) -> FakeWhereby:
    """The rooms made, then what their calls were (roles as Whereby names them)."""
    load("candidates", "ref,created_at\nC7,2020-03-01 10:00\nC8,2020-03-01 10:00\n")
    load(
        "bookings",
        "ref,candidate_ref,event_code,site_code,advisor_email,starts_at,status,booked_at\n"
        f"B7,C7,POV,MAX,{PAUL},2020-04-14 11:00,booked,2020-04-01 09:00\n"
        f"B8,C8,POV,MAX,{PAUL},2020-04-14 15:00,booked,2020-04-01 09:00\n",
    )
    sync_rooms(client)
    url = {ref: row[1] for ref, row in rooms(centre).items()}
    # B1: Anne, then Léa; Léa's connection drops and she comes back in a second session, and her
    # mother joins from her own phone: 2 distinct visitors → attended, with the family.
    fake.call(
        url["B1"], [("host", "Anne"), ("visitor", "Léa")], [("visitor", "Léa "), ("visitor", "Maman de Léa")]
    )
    # B2: only Yves → no-show.
    fake.call(url["B2"], [("host", "Yves")])
    # B3: Anne and one visitor → attended, no family (its room closed at 08:00 UTC: read).
    fake.call(url["B3"], [("host", "Anne"), ("visitor", "Zoé")])
    # B7: the candidate waited alone → advisor absent (1 visitor).
    fake.call(url["B7"], [("visitor", "Sami")])
    # B8: nobody ever joined (no session) → advisor absent, 0 visitors.
    return fake


def suggestions(engine: Engine) -> dict[str, tuple]:
    query = sa.select(
        SUGGESTIONS.c.booking_ref,
        SUGGESTIONS.c.suggestion,
        SUGGESTIONS.c.visitors,
        SUGGESTIONS.c.host_joined,
        SUGGESTIONS.c.family,
        SUGGESTIONS.c.decision,
    )
    with engine.connect() as connection:
        return {ref: tuple(rest) for ref, *rest in connection.execute(query)}


def sync_attendance(client: api.ApiClient, **kwargs) -> whereby_attendance.AttendanceSummary:
    return whereby_attendance.sync_attendance(
        actor="cli:test", now=AFTER, since=date(2020, 4, 1), client=client, **kwargs
    )


def test_attendance_suggestions_for_each_case(calls, centre, client):
    before = {ref: booking(centre, ref) for ref in ("B1", "B2", "B3", "B7", "B8")}
    summary = sync_attendance(client)
    assert summary.suggested == [
        ("B1", "attended"),
        ("B7", "advisor_absent"),
        ("B2", "no_show"),
        ("B8", "advisor_absent"),
        ("B3", "attended"),
    ]
    assert suggestions(centre) == {
        "B1": ("attended", 2, True, True, None),
        "B7": ("advisor_absent", 1, False, False, None),
        "B2": ("no_show", 0, True, False, None),
        "B8": ("advisor_absent", 0, False, False, None),
        "B3": ("attended", 1, True, False, None),
    }
    # Nothing is written to a booking: the suggestions wait for the advisor.
    assert {ref: booking(centre, ref) for ref in before} == before
    # Read again: the same calls, nothing changes (no write, same data version).
    version = database.data_version(centre)
    again = sync_attendance(client)
    assert (again.suggested, again.updated, again.unchanged) == ([], [], 5)
    assert database.data_version(centre) == version


def test_attendance_waits_for_the_room_to_close_and_retries_a_busy_server(calls, centre, client, waits):
    # 15 April 07:59 UTC: B3's room (09:00 + 45 min + 15 min = 10:00 in Paris, 08:00 UTC) is still
    # open, so B3 is not read yet.
    early = datetime(2020, 4, 15, 7, 59, tzinfo=UTC)
    calls.insight_failures = [_json({"error": "busy"}, 502)]
    summary = whereby_attendance.sync_attendance(
        actor="cli:test", now=early, since=date(2020, 4, 1), client=client
    )
    assert "B3" not in dict(summary.suggested) and len(summary.suggested) == 4
    assert len(waits) == 1 and 0 <= waits[0] <= whereby.api.BACKOFF_SECONDS  # a GET is retried


def test_a_later_reading_updates_a_pending_suggestion(calls, centre, client):
    sync_attendance(client)
    # Whereby's insights caught up: Paul did join B8's room after all, with the candidate.
    calls.call(rooms(centre)["B8"][1], [("visitor", "Nina"), ("host", "Paul")])
    summary = sync_attendance(client)
    assert summary.updated == [("B8", "attended")] and summary.unchanged == 4
    assert suggestions(centre)["B8"] == ("attended", 1, True, False, None)


def test_confirming_records_the_outcome_with_history_and_audit(calls, centre, client):
    sync_attendance(client)
    version = whereby_attendance.confirm_suggestion("B1", actor=ANNE, read_version=0, now=AFTER)
    # B1 was announced for 1 person; the call saw 2 visitors: attended, 2 people.
    assert booking(centre, "B1") == ("attended", 2, 1) and version == 1
    assert suggestions(centre)["B1"][-1] == "confirmed"
    changes = BookingChange.__table__
    with centre.connect() as connection:
        history = connection.execute(
            sa.select(changes.c.field, changes.c.old_value, changes.c.new_value, changes.c.changed_by)
            .where(changes.c.booking_ref == "B1")
            .order_by(changes.c.field)
        ).all()
    assert [tuple(row) for row in history] == [
        ("attendees", "1", "2", ANNE),
        ("status", "booked", "attended", ANNE),
    ]
    assert audited(centre, "booking.outcome") == [("booking.outcome", "B1", "status=attended")]
    assert audited(centre, "attendance.") == [("attendance.confirm", "B1", "suggestion=attended")]
    # Already decided: a second click changes nothing.
    with pytest.raises(ChangeRefused, match="déjà été traitée"):
        whereby_attendance.confirm_suggestion("B1", actor=ANNE, read_version=1, now=AFTER)
    # B3 (3 people announced, 1 visitor seen): attended, the 3 people are kept.
    whereby_attendance.confirm_suggestion("B3", actor=ANNE, read_version=0, now=AFTER)
    assert booking(centre, "B3") == ("attended", 3, 1)
    # B7 (advisor absent): the status stays, a note says what the call showed.
    whereby_attendance.confirm_suggestion("B7", actor=PAUL, read_version=0, now=AFTER)
    assert booking(centre, "B7") == ("booked", 1, 1)
    notes = BookingNote.__table__
    with centre.connect() as connection:
        note = connection.execute(sa.select(notes.c.text).where(notes.c.booking_ref == "B7")).scalar_one()
    assert note == "D'après l'appel, le conseiller n'a pas rejoint la salle (1 visiteur(s) présent(s))."


def test_a_stale_page_cannot_confirm(calls, centre, client):
    sync_attendance(client)
    outcomes.record_outcome(
        "B2", outcome=outcomes.Outcome("booked", 2), author=YVES, read_version=0, now=AFTER
    )
    with pytest.raises(ConflictError):
        whereby_attendance.confirm_suggestion("B2", actor=YVES, read_version=0, now=AFTER)
    assert booking(centre, "B2") == ("booked", 2, 1) and suggestions(centre)["B2"][-1] is None


def test_a_suggestion_that_contradicts_a_recorded_outcome_is_never_applied(calls, centre, client):
    sync_attendance(client)
    # Yves recorded B2 as attended; the call says nobody came (no-show): a conflict.
    outcomes.record_outcome(
        "B2", outcome=outcomes.Outcome("attended", 4), author=YVES, read_version=0, now=AFTER
    )
    # Anne recorded B3 as attended too, which the call agrees with: no conflict.
    outcomes.record_outcome(
        "B3", outcome=outcomes.Outcome("attended", 3), author=ANNE, read_version=0, now=AFTER
    )
    pending = whereby_attendance.pending_suggestions(["B2", "B3"]).set_index("ref")
    assert pending["conflict"].to_dict() == {"B2": True, "B3": False}
    with pytest.raises(whereby_attendance.SuggestionConflict, match="déjà noté « attended »"):
        whereby_attendance.confirm_suggestion("B2", actor=YVES, read_version=1, now=AFTER)
    assert booking(centre, "B2") == ("attended", 4, 1)
    whereby_attendance.dismiss_suggestion("B2", actor=YVES, now=AFTER)
    assert suggestions(centre)["B2"][-1] == "dismissed" and booking(centre, "B2") == ("attended", 4, 1)
    assert audited(centre, "attendance.") == [("attendance.dismiss", "B2", None)]
    assert list(whereby_attendance.pending_suggestions(["B2"])["ref"]) == []
    # A decided suggestion is never read again or changed.
    assert sync_attendance(client).unchanged == 4


def test_suggestion_texts():
    assert (
        whereby_attendance.suggestion_text("attended", 2, True)
        == "L'appel indique : venu, avec sa famille (2 visiteurs)"
    )
    assert whereby_attendance.suggestion_text("attended", 1, False) == "L'appel indique : venu (un visiteur)"
    assert (
        whereby_attendance.suggestion_text("no_show", 0, False, "en")
        == "The call says: no-show (no visitor joined the room)"
    )
    assert (
        whereby_attendance.suggestion_text("advisor_absent", 0, False)
        == "L'appel indique : personne n'a rejoint la salle"
    )


# ---------------------------------------------------------------- the schedule page and secrecy


def test_an_advisor_confirms_their_suggestion_on_the_schedule_page(calls, centre, client):
    sync_attendance(client)
    app = app_as("advisor", ANNE, page=PAGE, event="POV")
    # Anne's interviews of 14 April: B1 only; its suggestion is shown, Yves's and Paul's are not.
    shown = [m.value for m in app.markdown if "L'appel indique" in m.value]
    said = "L'appel indique : venu, avec sa famille (2 visiteurs)"
    assert shown == [f"**14 avr. 2020 10:00 · Prénom1 Nom1 · Anne Conseil** — {said}"]
    # Her host link to B1's room, for her only.
    (link,) = [
        button for button in app.get("link_button") if button.proto.label == "Ouvrir la salle en animateur"
    ]
    assert link.proto.url == rooms(centre)["B1"][2]
    app.button(key="schedule_confirm_B1").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert booking(centre, "B1") == ("attended", 2, 1)
    assert suggestions(centre)["B1"][-1] == "confirmed"
    assert not [m.value for m in app.markdown if "L'appel indique" in m.value]  # decided: gone
    assert [s.value for s in app.success] == ["Confirmé : le déroulement est enregistré."]


def test_a_conflicting_suggestion_shows_as_such_on_the_page(calls, centre, client):
    sync_attendance(client)
    outcomes.record_outcome("B1", outcome=outcomes.Outcome("no_show"), author=ANNE, read_version=0, now=AFTER)
    app = app_as("advisor", ANNE, page=PAGE, event="POV")
    assert any("Déjà noté « Absent »" in w.value for w in app.warning), [w.value for w in app.warning]
    assert not [b for b in app.button if b.key == "schedule_confirm_B1"]
    app.button(key="schedule_dismiss_B1").click().run()
    assert suggestions(centre)["B1"][-1] == "dismissed" and booking(centre, "B1")[0] == "no_show"


@pytest.mark.parametrize(("role", "advisor"), [("director", None), ("admin", None), ("advisor", YVES)])
def test_the_host_link_is_never_shown_to_anyone_else(centre, fake, client, role, advisor):
    from tests.test_access import rendered

    sync_rooms(client)
    # B1's host link, Anne's (B1 is her interview of 14 April, the page's first day).
    host_link = rooms(centre)["B1"][2].encode()
    assert host_link in rendered(app_as("advisor", ANNE, page=PAGE, event="POV"))  # the check can fail
    shown = rendered(app_as(role, advisor, page=PAGE, event="POV"))
    assert len(shown) > 10_000 and host_link not in shown and b"roomKey=hote-1" not in shown
    # The candidate's link of B1 stays where it was shown before (admin and director see it).
    assert (rooms(centre)["B1"][1].encode() in shown) == (role != "advisor")


def test_the_host_link_is_never_exported(centre, fake, client):
    sync_rooms(client)
    host = rooms(centre)["B1"][2]
    table = exports.table_frame("bookings")
    assert "host_room_url" not in table.columns and "room_meeting_id" in table.columns
    assert host not in exports.to_csv(table).decode("utf-8-sig")
    # The schedule's own exports (its list and the calendar) hold the candidate's link only.
    as_anne = roles.interviews_for(
        schedule.interviews(date(2020, 4, 14), date(2020, 4, 14)), roles.Viewer("advisor", ANNE)
    )
    assert host in set(as_anne["host_room_url"])
    assert host not in exports.to_csv(schedule.day_list(as_anne)).decode("utf-8-sig")

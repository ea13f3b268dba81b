"""Cal.com's and Whereby's webhooks over real HTTP: the app (``streamlit run``) on loopback, the
deliveries signed as each vendor signs them (Cal.com: packages/features/webhooks/lib/sendPayload.ts,
``X-Cal-Signature-256`` = HMAC-SHA256 hex of the body; Whereby: « Validating events » of its
documentation, ``Whereby-Signature: t=<seconds>,v1=<HMAC-SHA256 hex of "t.body">``), the
vendors' APIs answered by the fakes of tests/test_calcom.py and tests/test_whereby.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from werkzeug import Request, Response

from services.config import LOCAL_TZ
from services.integrations import calcom, webhooks, whereby, whereby_attendance
from services.store.database import get_engine
from services.store.models import AttendanceSuggestion, Booking, ImportRun
from tests.browser import app_server
from tests.conftest import load
from tests.test_calcom import KEY as CALCOM_KEY
from tests.test_calcom import FakeCalcom, _json, booking, centre  # noqa: F401 (fixture)
from tests.test_whereby import KEY as WHEREBY_KEY
from tests.test_whereby import FakeWhereby

CALCOM_SECRET = "secret-du-webhook-cal-com"
WHEREBY_SECRET = "secret-du-webhook-whereby"


def deliveries() -> list[tuple[str, str]]:
    """The deliveries the app noted: (vendor, event type), oldest first."""
    table = webhooks.DELIVERIES
    with get_engine().connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(sa.select(table.c.vendor, table.c.event).order_by(table.c.id))
        ]


def eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    """Whether ``check()`` comes true within ``seconds`` (a delivery is applied behind its answer)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


# ---------------------------------------------------------------- Cal.com


class FakeCalcomBooking:
    """``GET /v2/bookings/{uid}`` of Cal.com API v2 (2024-08-13) over the fake's bookings:
    ``{"status": "success", "data": booking}`` (GetBookingOutput_2024_08_13 of
    apps/api/v2/.../bookings/2024-08-13/outputs/get-booking.output.ts), 404 for an unknown uid."""

    def __init__(self, fake: FakeCalcom) -> None:
        self.fake, self.asked = fake, []

    def __call__(self, request: Request) -> Response:
        uid = request.path.rsplit("/", 1)[-1]
        self.asked.append(uid)
        if request.headers.get("Authorization") != f"Bearer {CALCOM_KEY}":
            return _json(
                {"status": "error", "error": {"code": "UNAUTHORIZED", "message": "Invalid key"}}, 401
            )
        found = next((item for item in self.fake.bookings if item["uid"] == uid), None)
        if found is None:
            return _json({"status": "error", "error": {"code": "NotFoundException", "message": uid}}, 404)
        return _json({"status": "success", "data": found})


@pytest.fixture
def calcom_site(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeCalcom:
    fake = FakeCalcom()
    single = FakeCalcomBooking(fake)
    httpserver.expect_request("/v2/bookings", method="GET").respond_with_handler(fake)
    httpserver.expect_request(re.compile(r"^/v2/bookings/[^/]+$"), method="GET").respond_with_handler(single)
    monkeypatch.setenv("CALCOM_API_URL", httpserver.url_for("/"))
    monkeypatch.setenv("CALCOM_API_KEY", CALCOM_KEY)
    fake.single = single
    return fake


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app on loopback with both webhooks' secrets (what it must apply: the fixtures before)."""
    monkeypatch.setenv("CALCOM_WEBHOOK_SECRET", CALCOM_SECRET)
    monkeypatch.setenv("WHEREBY_WEBHOOK_SECRET", WHEREBY_SECRET)
    with app_server(tmp_path / "app.log", {"DEMO_DATA": "0"}) as port:
        yield f"http://127.0.0.1:{port}"


def cal_delivery(trigger: str, payload: dict, *, created: datetime | None = None) -> bytes:
    """A Cal.com delivery's body as sendPayload.ts writes it."""
    created = created or datetime.now(UTC)
    return json.dumps(
        {"triggerEvent": trigger, "createdAt": created.isoformat().replace("+00:00", "Z"), "payload": payload}
    ).encode()


def send_cal(app: str, body: bytes, signature: str | None = "sign") -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = hmac.new(CALCOM_SECRET.encode(), body, hashlib.sha256).hexdigest()
    if signature is not None:
        headers["X-Cal-Signature-256"] = signature
    return requests.post(f"{app}{webhooks.CALCOM_PATH}", data=body, headers=headers, timeout=30)


def stored(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(Booking.ref, Booking.status)).all())


def webhook_runs(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).where(ImportRun.imported_by == webhooks.ACTOR["calcom"])
        ).scalar_one()


def test_cal_com_deliveries_apply_the_booking_once_whatever_their_order(centre, calcom_site, app):  # noqa: F811
    # The booking as the site holds it now: created, then cancelled by the candidate.
    calcom_site.bookings.append(booking("w1", status="cancelled", updated="2020-04-09T08:00:00.000Z"))
    # The cancellation arrives first (deliveries can come out of order), then the creation.
    cancelled = cal_delivery("BOOKING_CANCELLED", {"uid": "w1", "status": "CANCELLED"})
    answer = send_cal(app, cancelled)
    assert answer.status_code == 202
    assert eventually(lambda: stored(centre).get("w1") == "cancelled")
    created = cal_delivery("BOOKING_CREATED", {"uid": "w1", "status": "ACCEPTED"})
    assert send_cal(app, created).status_code == 202
    # Both read the booking as it is now: still cancelled, written once (one run inserted it).
    assert eventually(lambda: calcom_site.single.asked == ["w1", "w1"])
    time.sleep(0.5)
    assert stored(centre)["w1"] == "cancelled"
    with centre.connect() as connection:
        runs = connection.execute(
            sa.select(ImportRun.inserted, ImportRun.updated).where(
                ImportRun.imported_by == webhooks.ACTOR["calcom"], ImportRun.kind == "bookings"
            )
        ).all()
    assert [tuple(run) for run in runs] == [(1, 0), (0, 0)]
    # The same delivery sent again: acknowledged, not applied again.
    again = send_cal(app, created)
    assert (again.status_code, again.json()["reçu"]) == (200, "déjà reçu : rien de plus n'est fait")
    # The polling sync, the fallback, finds what the webhooks applied unchanged.
    summary = calcom.sync_bookings(actor="cli:test", client=calcom.calcom_client(sleep=lambda s: None))
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 0, 1)
    # A reschedule names the new booking and the one it replaces: both are read.
    calcom_site.bookings.append(
        booking("w2", start="2020-04-15T08:00:00.000Z", end="2020-04-15T08:45:00.000Z")
    )
    moved = cal_delivery("BOOKING_RESCHEDULED", {"uid": "w2", "rescheduleUid": "w1"})
    assert send_cal(app, moved).status_code == 202
    assert eventually(lambda: stored(centre).get("w2") == "booked")
    assert calcom_site.single.asked[-2:] == ["w2", "w1"]
    assert deliveries() == [
        ("calcom", "BOOKING_CANCELLED"),
        ("calcom", "BOOKING_CREATED"),
        ("calcom", "BOOKING_RESCHEDULED"),
    ]


def test_cal_com_deliveries_unsigned_badly_signed_replayed_or_oversized_are_refused(centre, calcom_site, app):  # noqa: F811
    calcom_site.bookings.append(booking("w3"))
    body = cal_delivery("BOOKING_CREATED", {"uid": "w3"})
    assert send_cal(app, body, signature=None).status_code == 401
    assert send_cal(app, body, signature="0" * 64).status_code == 401
    # Signed with another secret, or a signed body changed on the way.
    other = hmac.new(b"un-autre-secret", body, hashlib.sha256).hexdigest()
    assert send_cal(app, body, signature=other).status_code == 401
    tampered = body.replace(b"w3", b"w4")
    signature = hmac.new(CALCOM_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert send_cal(app, tampered, signature=signature).status_code == 401
    # A genuine delivery of an hour ago, sent again today: refused as replayed.
    old = cal_delivery("BOOKING_CREATED", {"uid": "w3"}, created=datetime.now(UTC) - timedelta(hours=1))
    assert send_cal(app, old).status_code == 401
    # 300 KB: refused before it is read whole; not JSON: refused once verified.
    big = cal_delivery("BOOKING_CREATED", {"uid": "w3", "notes": "x" * 300_000})
    assert send_cal(app, big).status_code == 413
    # The same without a length announced (chunked): refused as soon as it passes the bound.
    chunks = (big[start : start + 65_536] for start in range(0, len(big), 65_536))
    streamed = requests.post(f"{app}{webhooks.CALCOM_PATH}", data=chunks, timeout=30)
    assert streamed.status_code == 413
    assert send_cal(app, b"not json").status_code == 400
    # None of them was applied nor noted; the app's pages still need a sign-in.
    time.sleep(0.5)
    assert calcom_site.single.asked == [] and "w3" not in stored(centre)
    assert deliveries() == []
    assert requests.get(f"{app}/", allow_redirects=False, timeout=30).status_code == 303
    # Only a delivery (POST) passes without a sign-in: a GET there is sent to the sign-in page.
    answer = requests.get(f"{app}{webhooks.CALCOM_PATH}", allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/connexion")


def test_a_meeting_ended_delivery_sent_by_cal_com_s_scheduler_is_applied(centre, calcom_site, app):  # noqa: F811
    # MEETING_ENDED is not sent when something happens but scheduled at booking time:
    # packages/features/webhooks/lib/scheduleTrigger.ts stores the body
    # JSON.stringify({ triggerEvent, ...booking }) — no envelope, no send time, the booking's
    # own fields at the top (its createdAt is when it was booked) — and
    # handleWebhookScheduledTriggers.ts posts it, signed, once the meeting's end has passed
    # (its cron drops jobs more than a day late). Before, its createdAt (days old) made every
    # such delivery « trop ancien » (401): the trigger the docs ask to tick never worked.
    calcom_site.bookings.append(booking("e1", status="accepted"))
    now = datetime.now(UTC)
    iso = lambda moment: moment.isoformat().replace("+00:00", "Z")  # noqa: E731
    scheduled = {
        "triggerEvent": "MEETING_ENDED",
        "id": 4711,
        "uid": "e1",
        "title": "Entretien portes ouvertes",
        "startTime": iso(now - timedelta(minutes=50)),
        "endTime": iso(now - timedelta(minutes=5)),
        "createdAt": iso(now - timedelta(days=6)),
        "status": "ACCEPTED",
    }
    body = json.dumps(scheduled).encode()
    assert send_cal(app, body).status_code == 202
    assert eventually(lambda: calcom_site.single.asked == ["e1"])
    assert eventually(lambda: stored(centre).get("e1") == "booked")
    # The same body again is the same delivery; one of a meeting that ended a week ago, replayed
    # now, is refused.
    assert send_cal(app, body).json()["reçu"] == "déjà reçu : rien de plus n'est fait"
    old = dict(
        scheduled, endTime=iso(now - timedelta(days=7)), startTime=iso(now - timedelta(days=7, hours=1))
    )
    assert send_cal(app, json.dumps(old).encode()).status_code == 401


def test_a_booking_named_by_a_delivery_that_cannot_be_read_does_not_hold_back_the_others(centre, calcom_site):  # noqa: F811
    # A reschedule names the new booking (uid) and the one it replaces (rescheduleUid). Cal.com
    # answers 404 for the old one (GET /v2/bookings/{uid} of a booking this key no longer sees,
    # NotFoundException in bookings.service.ts ``getBooking``). Before, that error threw away the
    # new booking already read: nothing was stored until the next polling sync.
    calcom_site.bookings.append(
        booking("n2", start="2020-04-15T08:00:00.000Z", end="2020-04-15T08:45:00.000Z")
    )
    summary = calcom.sync_booking_uids(
        ["n2", "gone"], actor=webhooks.ACTOR["calcom"], client=calcom.calcom_client(sleep=lambda s: None)
    )
    assert stored(centre).get("n2") == "booked" and summary.inserted == 1
    assert summary.error == "Cal.com GET /v2/bookings/gone : HTTP 404 (gone)"


def test_cal_com_confirmation_deliveries_are_applied_and_a_ping_is_acknowledged(centre, calcom_site, app):  # noqa: F811
    # An event type that needs the advisor's confirmation: Cal.com sends BOOKING_REQUESTED when
    # the candidate books (status PENDING), BOOKING_REJECTED when the advisor declines
    # (packages/features/webhooks/lib/factory/versioned/v2021-10-20/BookingPayloadBuilder.ts:
    # both carry the booking's uid like BOOKING_CREATED). A pending booking is « booked » here,
    # a rejected one « cancelled » (calcom_bookings.STATUSES). Before, both were acknowledged
    # and ignored: the candidate stayed out, then the declined interview stayed booked (with
    # its video room) until the next polling sync.
    calcom_site.bookings.append(booking("p1", status="pending"))
    assert (
        send_cal(app, cal_delivery("BOOKING_REQUESTED", {"uid": "p1", "status": "PENDING"})).status_code
        == 202
    )
    assert eventually(lambda: stored(centre).get("p1") == "booked")
    calcom_site.bookings[-1] |= {"status": "rejected", "updatedAt": "2020-04-09T08:00:00.000Z"}
    assert (
        send_cal(app, cal_delivery("BOOKING_REJECTED", {"uid": "p1", "status": "REJECTED"})).status_code
        == 202
    )
    assert eventually(lambda: stored(centre).get("p1") == "cancelled")
    # The « Ping test » of Cal.com's webhook form (testTrigger.handler.ts: sendPayload with the
    # form's secret, trigger PING, an ISO createdAt, a payload without uid): acknowledged.
    ping = cal_delivery("PING", {"type": "Test", "title": "Test trigger event", "description": ""})
    answer = send_cal(app, ping)
    assert (answer.status_code, answer.json()["reçu"]) == (200, "PING : rien à appliquer")
    assert calcom_site.single.asked == ["p1", "p1"]


# ---------------------------------------------------------------- Whereby


@pytest.fixture
def whereby_rooms(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeWhereby, str]]:
    """An interview that began 50 minutes ago in its Whereby room, at the fake Whereby."""
    server = HTTPServer(threaded=True)
    server.start()
    fake = FakeWhereby(server)
    monkeypatch.setenv("WHEREBY_API_URL", server.url_for(""))
    monkeypatch.setenv("WHEREBY_API_KEY", WHEREBY_KEY)
    began = (datetime.now(UTC) - timedelta(minutes=50)).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    load("sites", "code,name\nMAX,Maxéville\n")
    load("advisors", "email,name,site_code\nanne@cfai.fr,Anne Conseil,MAX\n")
    load(
        "candidates",
        "ref,first_name,last_name,email,created_at\nC1,Léa,Martin,lea@exemple.fr,2020-03-01 10:00\n",
    )
    load(
        "bookings",
        "ref,candidate_ref,site_code,advisor_email,starts_at,duration_min,status,booked_at\n"
        f"B1,C1,MAX,anne@cfai.fr,{began},45,booked,2020-04-01 09:00\n",
    )
    room = fake.make_meeting({"roomNamePrefix": "max-", "endDate": "2030-01-01T00:00:00Z"})
    with engine.begin() as connection:
        connection.execute(
            sa.update(Booking)
            .where(Booking.ref == "B1")
            .values(meeting_url=room["roomUrl"], host_room_url=room["hostRoomUrl"], room_meeting_id="m1")
        )
    yield fake, room["roomUrl"]
    server.clear()
    server.stop()


def whereby_delivery(kind: str, room: str, event_id: str, **data: object) -> bytes:
    """A Whereby delivery's body as its documentation shows one."""
    return json.dumps(
        {
            "id": event_id,
            "apiVersion": "1.0",
            "createdAt": datetime.now(UTC).isoformat(),
            "type": kind,
            "data": {"meetingId": "m1", "roomName": whereby.room_name(room), **data},
        }
    ).encode()


def send_whereby(app: str, body: bytes, *, stamp: int | None = None, secret: str = WHEREBY_SECRET):
    stamp = int(time.time()) if stamp is None else stamp
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "Whereby-Signature": f"t={stamp},v1={signature}"}
    return requests.post(f"{app}{webhooks.WHEREBY_PATH}", data=body, headers=headers, timeout=30)


def suggestion(engine: Engine) -> tuple | None:
    table = AttendanceSuggestion.__table__
    with engine.connect() as connection:
        return connection.execute(
            sa.select(table.c.suggestion, table.c.visitors, table.c.host_joined).where(
                table.c.booking_ref == "B1"
            )
        ).first()


def test_whereby_deliveries_suggest_the_attendance_when_the_call_ends(whereby_rooms, app, engine):
    fake, url = whereby_rooms
    fake.call(url, [("host", "Anne"), ("granted_viewer", "Léa")])
    # Someone joins: acknowledged, nothing to apply yet (the call goes on).
    joined = whereby_delivery("room.client.joined", url, "e1", roleName="host", numClients=1)
    assert send_whereby(app, joined).status_code == 200
    # Bad signature, another secret, a delivery signed 10 minutes ago: refused.
    ended = whereby_delivery("room.session.ended", url, "e2")
    assert send_whereby(app, ended, secret="un-autre-secret").status_code == 401
    assert send_whereby(app, ended, stamp=int(time.time()) - 600).status_code == 401
    unsigned = requests.post(f"{app}{webhooks.WHEREBY_PATH}", data=ended, timeout=30)
    assert unsigned.status_code == 401
    assert suggestion(engine) is None
    # The session ended: its attendance is read from Whereby's insights, as the sync reads it:
    # Anne as host, Léa queued before the host joined (granted_viewer) → attended, one visitor.
    assert send_whereby(app, ended).status_code == 202
    assert eventually(lambda: suggestion(engine) is not None)
    assert tuple(suggestion(engine)) == ("attended", 1, True)
    # Whereby may send an event twice: applied once.
    assert send_whereby(app, ended).status_code == 200
    # The last one leaves (numClients 0) after the end: read again, nothing new.
    left = whereby_delivery("room.client.left", url, "e3", roleName="visitor", numClients=0)
    assert send_whereby(app, left).status_code == 202
    time.sleep(1)
    assert tuple(suggestion(engine)) == ("attended", 1, True)
    assert deliveries() == [
        ("whereby", "room.client.joined"),
        ("whereby", "room.session.ended"),
        ("whereby", "room.client.left"),
    ]
    # The polling sync, the fallback, finds the same suggestion: nothing to change. Its room
    # closes 15 minutes after the interview's end: read an hour from now.
    summary = whereby_attendance.sync_attendance(actor="cli:test", now=datetime.now(UTC) + timedelta(hours=1))
    assert (summary.suggested, summary.updated, summary.unchanged) == ([], [], 1)


def test_a_webhook_without_its_secret_set_takes_nothing(engine, monkeypatch):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    monkeypatch.delenv("CALCOM_WEBHOOK_SECRET", raising=False)
    client = TestClient(Starlette(routes=webhooks.routes()))
    body = cal_delivery("BOOKING_CREATED", {"uid": "w1"})
    # Signed with an empty secret (what Cal.com sends when none is set: "no-secret-provided").
    for signature in (hmac.new(b"", body, hashlib.sha256).hexdigest(), "no-secret-provided"):
        answer = client.post(webhooks.CALCOM_PATH, content=body, headers={"X-Cal-Signature-256": signature})
        assert answer.status_code == 404
    assert deliveries() == []

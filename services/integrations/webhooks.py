"""Cal.com's and Whereby's webhooks: the booking site and the video rooms tell the app at once
what changed, during the open days, instead of waiting for the next sync.

Each delivery is checked before anything is read from it: its size, its signature (Cal.com:
``X-Cal-Signature-256``, the HMAC-SHA256 of the body with the webhook's secret; Whereby:
``Whereby-Signature: t=…,v1=…``, the HMAC-SHA256 of ``t.body``), its age (Whereby's signed time,
Cal.com's signed ``createdAt``, or for a meeting's end the meeting's ``endTime``: an old delivery
sent again is refused) and whether it was already
received (``webhook_deliveries``: a delivery sent twice is applied once). It is answered at once
and applied behind, by the same code as the polling syncs, which stay as the fallback:

- Cal.com (a booking created, requested, rejected, rescheduled, cancelled, a meeting ended, a
  no-show noted): the bookings it names are
  read from Cal.com's API and stored as the bookings sync stores a page (``calcom``): a booking
  the sync reads later is found unchanged, never written twice; events out of order do not
  matter, the API gives the booking as it is now.
- Whereby (a session ended, the last person left the room): the attendance of the interview or
  meeting of that room is read from Whereby's insights and suggested as ``sync attendance`` does
  (``whereby``); a participant joining, a session starting are acknowledged and change nothing.

No personal data is kept from a delivery: its vendor, id (Whereby's event id, the SHA-256 of a
Cal.com body) and event type. Registering them: docs/configuration.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services import config
from services.integrations import whereby_attendance
from services.store.database import write_transaction
from services.store.models import WebhookDelivery

CALCOM_PATH = "/webhooks/calcom"
WHEREBY_PATH = "/webhooks/whereby"
PATHS = (CALCOM_PATH, WHEREBY_PATH)
#: A delivery is a few kilobytes: anything larger is refused before it is read whole.
MAX_BODY_BYTES = 256 * 1024
#: How old a signed delivery may be (Whereby's own example allows one minute; clocks drift).
MAX_AGE = timedelta(minutes=5)
#: The Cal.com events that change a booking (WebhookTriggerEvents of its Prisma schema: a booking
#: that needs confirmation is REQUESTED, then created or REJECTED); the others (PING, payments,
#: recordings, forms…) are acknowledged and ignored.
CALCOM_BOOKING_EVENTS = frozenset(
    {
        "BOOKING_CREATED",
        "BOOKING_REQUESTED",
        "BOOKING_REJECTED",
        "BOOKING_RESCHEDULED",
        "BOOKING_CANCELLED",
        "MEETING_ENDED",
        "BOOKING_NO_SHOW_UPDATED",
    }
)
#: Cal.com's scheduled events and the booking time they are due at (see ``_calcom_job``).
SCHEDULED_EVENTS = {"MEETING_ENDED": "endTime", "MEETING_STARTED": "startTime"}
#: How late Cal.com may post a scheduled event (it drops those a day overdue).
SCHEDULED_LATENESS = timedelta(days=1)
#: Who applies a delivery, in the import history and the audit log.
ACTOR = {"calcom": "webhook:cal.com", "whereby": "webhook:whereby"}
DELIVERIES = WebhookDelivery.__table__

log = logging.getLogger(__name__)
#: One worker applies the deliveries in turn, after they were answered.
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhooks")


class Refused(Exception):
    """A delivery refused: the HTTP status and why (in French, nothing of the body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def verify_calcom(body: bytes, signature: str | None, secret: str) -> None:
    """Refuse a Cal.com delivery whose ``X-Cal-Signature-256`` is not the HMAC-SHA256 (hex) of its
    body with the secret (packages/features/webhooks/lib/sendPayload.ts of Cal.com)."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    given = (signature or "").strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, given):
        raise Refused(401, "signature Cal.com absente ou fausse")


def verify_whereby(body: bytes, header: str | None, secret: str, now: float) -> None:
    """Refuse a Whereby delivery whose ``Whereby-Signature`` (``t=<seconds>,v1=<hex>``) is not the
    HMAC-SHA256 of ``<t>.<body>`` with the secret, or whose time is more than ``MAX_AGE`` away
    (Whereby's documentation, « Validating events »)."""
    parts = dict(part.strip().partition("=")[::2] for part in (header or "").split(","))
    stamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not (stamp.isascii() and stamp.isdigit()) or not signature:
        raise Refused(401, "signature Whereby absente ou illisible")
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
        raise Refused(401, "signature Whereby fausse")
    if abs(now - int(stamp)) > MAX_AGE.total_seconds():
        raise Refused(401, "envoi Whereby trop ancien (rejoué ?)")


def _event(body: bytes) -> dict:
    try:
        event = json.loads(body)
    except ValueError:
        raise Refused(400, "corps illisible (JSON attendu)") from None
    if not isinstance(event, dict):
        raise Refused(400, "corps inattendu (objet JSON attendu)")
    return event


def _instant(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _calcom_job(event: dict, now: datetime) -> tuple[str, list[str]]:
    """(event type, the booking uids to read) of a verified Cal.com delivery.

    A delivery is sent as its event happens, ``createdAt`` its signed time; but a meeting's start
    or end is scheduled when it is booked (scheduleTrigger.ts stores ``{triggerEvent,
    ...booking}``, without envelope, or the envelope with the booking in ``payload``) and posted
    once that time has passed, up to a day late (handleWebhookScheduledTriggers.ts): its time is
    the meeting's ``startTime`` or ``endTime``, not a send time.
    """
    kind = str(event.get("triggerEvent") or "")[:64]
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else None
    scheduled = SCHEDULED_EVENTS.get(kind)
    if scheduled is not None:
        payload = event if payload is None else payload
        due = _instant(payload.get(scheduled))
        if due is None:
            raise Refused(400, f"envoi Cal.com {kind} sans « {scheduled} » lisible")
        if not due - MAX_AGE <= now <= due + SCHEDULED_LATENESS + MAX_AGE:
            raise Refused(401, "envoi Cal.com trop ancien (rejoué ?)")
    else:
        sent = _instant(event.get("createdAt"))
        if sent is None:
            raise Refused(400, "envoi Cal.com sans « createdAt » lisible")
        if abs(now - sent) > MAX_AGE:
            raise Refused(401, "envoi Cal.com trop ancien (rejoué ?)")
    payload = payload or {}
    uids = []
    if kind in CALCOM_BOOKING_EVENTS:
        # A reschedule names the new booking (uid) and the one it replaces (rescheduleUid).
        for name in ("uid", "bookingUid", "rescheduleUid"):
            value = payload.get(name)
            if isinstance(value, str) and re.fullmatch(r"[\w.:-]{1,200}", value):
                uids.append(value)
    return kind, uids


def _whereby_job(event: dict) -> tuple[str, str, str | None]:
    """(delivery id, event type, the room whose attendance to read) of a verified Whereby delivery."""
    delivery, kind = str(event.get("id") or "")[:128], str(event.get("type") or "")[:64]
    if not delivery:
        raise Refused(400, "envoi Whereby sans « id »")
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    room = data.get("roomName")
    ended = kind == "room.session.ended" or (kind == "room.client.left" and data.get("numClients") == 0)
    if not ended or not isinstance(room, str) or not re.fullmatch(r"/?[\w-]{1,200}", room):
        return delivery, kind, None
    return delivery, kind, room if room.startswith("/") else f"/{room}"


def _first_time(vendor: str, delivery: str, kind: str) -> bool:
    """Note the delivery; False when it was already received (sent again, or replayed)."""
    try:
        with write_transaction() as connection:
            connection.execute(
                DELIVERIES.insert().values(
                    vendor=vendor, delivery_id=delivery, event=kind, received_at=datetime.now(UTC)
                )
            )
    except sa.exc.IntegrityError:
        return False
    return True


def _apply_calcom(uids: list[str]) -> None:
    from services.integrations import calcom

    summary = calcom.sync_booking_uids(uids, actor=ACTOR["calcom"])
    if summary.error:
        log.warning("webhook Cal.com : %s (la synchronisation suivante s'en chargera)", summary.error)


def _apply_whereby(room: str) -> None:
    from services.integrations import api

    try:
        whereby_attendance.sync_attendance(actor=ACTOR["whereby"], room=room)
    except api.ApiError as error:
        log.warning("webhook Whereby : %s (la synchronisation suivante s'en chargera)", error)


def _applying(job, *args: object) -> None:
    # Applied behind the answer; a failure is logged and left to the polling sync.
    def run() -> None:
        try:
            job(*args)
        except Exception:  # the worker must go on with the next delivery
            log.exception("webhook : échec de l'application (la synchronisation suivante s'en chargera)")

    _worker.submit(run)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, refused (413) as soon as it says or proves to be larger than ``limit``
    bytes: what anyone may send is never read whole (a webhook, the sign-in form)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"corps trop grand (au plus {limit // 1024} Ko)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"corps trop grand (au plus {limit // 1024} Ko)")
    return bytes(body)


def _secret(vendor: str) -> str:
    secret = config.integration_setting(f"{vendor.upper()}_WEBHOOK_SECRET")
    if not secret:
        raise Refused(404, "webhook non configuré")
    return secret


async def receive(request: Request) -> Response:
    """The route of both vendors' webhooks: verified, noted once, answered, applied behind."""
    vendor = "calcom" if request.url.path == CALCOM_PATH else "whereby"
    try:
        secret = _secret(vendor)
        body = await read_body(request)
        if vendor == "calcom":
            verify_calcom(body, request.headers.get("x-cal-signature-256"), secret)
            # Cal.com gives a delivery no id: the same body sent again is the same delivery.
            delivery = hashlib.sha256(body).hexdigest()
            kind, uids = _calcom_job(_event(body), datetime.now(UTC))
            job, arguments = (_apply_calcom, (uids,)) if uids else (None, ())
        else:
            verify_whereby(body, request.headers.get("whereby-signature"), secret, time.time())
            delivery, kind, room = _whereby_job(_event(body))
            job, arguments = (_apply_whereby, (room,)) if room else (None, ())
    except Refused as refusal:
        return JSONResponse({"refusé": str(refusal)}, status_code=refusal.status)
    if not _first_time(vendor, delivery, kind):
        return JSONResponse({"reçu": "déjà reçu : rien de plus n'est fait"}, status_code=200)
    if job is None:
        return JSONResponse({"reçu": f"{kind or 'événement'} : rien à appliquer"}, status_code=200)
    _applying(job, *arguments)
    return JSONResponse({"reçu": f"{kind} : appliqué dans l'instant"}, status_code=202)


def routes() -> list[Route]:
    """The webhooks' routes (no sign-in: each delivery is checked by its signature)."""
    return [Route(path, receive, methods=["POST"]) for path in PATHS]

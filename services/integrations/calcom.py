"""The booking site's sync: Cal.com bookings (API v2) into the store, through the importer.

``GET {CALCOM_API_URL}/v2/bookings`` (``cal-api-version: 2024-08-13``) is read in ascending
``updatedAt`` order, ``take``/``skip`` pages, from where the last successful sync ended
(``sync_cursors``, name ``calcom.bookings``). Each booking becomes contract rows — a
candidate when its e-mail is new, a touchpoint when it carries UTM tags, the booking — that go
through the importer's validation and upsert, exactly like files. One page is one transaction
that also moves the cursor: a sync that dies half way keeps the pages it finished and resumes
after them. Inside a page, a bad booking is reported (uid and reason) and left out with its
candidate and touchpoint; the others land.

What the site says never silently replaces what the dashboard knows (docs/configuration.md,
« Synchronisation Cal.com ») :

- an outcome (``attended``, ``no_show``) stays: the site only books and cancels;
- a status, a number of attendees or an advisor changed on the schedule page stays;
- a video room made by the rooms sync, or a link the site no longer gives, stays.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ, integration_setting
from services.imports.importer import record_result, upsert_rows
from services.imports.problems import ImportResult, Problem, RawRow
from services.integrations.api import ApiClient, ApiError
from services.store import audit, values
from services.store.contract import SPECS
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import (
    Advisor,
    Booking,
    BookingChange,
    Candidate,
    Event,
    EventTypeMapping,
    Program,
    Site,
    SyncCursor,
)

SERVICE = "Cal.com"
API_VERSION = "2024-08-13"
BOOKINGS_PATH = "/v2/bookings"
CURSOR_NAME = "calcom.bookings"
#: Bookings asked per page (Cal.com allows 1 to 250; 100 is its default).
PAGE_SIZE = 100
#: The next sync asks for what changed since the cursor minus this, so that a booking updated
#: in the same instant as the last one stored is not lost whether the API's ``afterUpdatedAt``
#: is strict or not; what is read twice comes back unchanged.
OVERLAP = timedelta(seconds=1)
#: Passes over the list in one sync before giving up on a consistent one (``sync_bookings``).
MAX_PASSES = 5
#: Prefix of the refs of candidates the sync creates (the rest is a hash of the e-mail).
CANDIDATE_PREFIX = "cal-"
#: Cal.com booking statuses and the contract's.
STATUSES = {
    "accepted": "booked",
    "pending": "booked",
    "awaiting_host": "booked",
    "cancelled": "cancelled",
    "rejected": "cancelled",
}
#: Outcomes an advisor records after the interview: the site never replaces them.
OUTCOMES = ("attended", "no_show")
#: Between a seated booking's uid and a seat's ``seatUid`` in the ref of that seat's booking.
SEAT_SEPARATOR = "."
#: Why a booking without any attendee is refused, and what to change.
HIDDEN_ATTENDEES = (
    "aucun participant visible : réservation à places dont Cal.com masque les participants à cette "
    "clé d'API ; donnez une clé d'un propriétaire ou administrateur de l'équipe du type d'événement "
    "(ou activez « afficher les participants » sur ce type d'événement), puis relancez avec --since"
)
#: Hidden booking questions read as a touchpoint (``bookingFieldsResponses``).
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "landing_page")

_CANDIDATE_HEADER = ("ref", "first_name", "last_name", "email", "created_at")
_TOUCHPOINT_HEADER = ("candidate_ref", "occurred_at", *UTM_FIELDS)
_BOOKING_HEADER = (
    "ref",
    "candidate_ref",
    "event_code",
    "site_code",
    "program_code",
    "advisor_email",
    "starts_at",
    "duration_min",
    "status",
    "booked_at",
    "attendees",
    "meeting_url",
)
#: Booking fields the schedule page changes (``booking_changes.field``).
_DASHBOARD_FIELDS = ("status", "attendees", "advisor_email")

MAPPINGS = EventTypeMapping.__table__
CURSORS = SyncCursor.__table__
BOOKINGS = Booking.__table__


class MappingError(ValueError):
    """An event type mapping the store refuses (unknown site, programme or event…)."""


@dataclass(frozen=True)
class SyncProblem:
    """A booking left out (or taken with a warning): its uid and why."""

    uid: str
    reason: str

    def describe(self) -> str:
        """``uid : reason``, as the command line prints it."""
        return f"{self.uid} : {self.reason}"


@dataclass
class SyncSummary:
    """What a bookings sync did (or, for a dry run, would do)."""

    dry_run: bool = False
    pages: int = 0
    #: Bookings read from the site.
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    candidates_inserted: int = 0
    touchpoints_inserted: int = 0
    #: Bookings left out, with the reason; nothing of them was written.
    problems: list[SyncProblem] = field(default_factory=list)
    #: Bookings written with something to check (unknown host, link not https, kept outcome…).
    warnings: list[SyncProblem] = field(default_factory=list)
    #: Event types without a mapping met during the sync.
    unknown_event_types: list[int] = field(default_factory=list)
    #: Where the next sync starts (ISO 8601 UTC), after this one.
    cursor: str | None = None
    #: Why the sync stopped before its end (the pages before stay stored), if it did.
    error: str | None = None
    #: Passes over the list (``sync_bookings``); more than one when it took several pages.
    passes: int = 0
    #: True when bookings kept changing during every pass: the cursor stayed where it was.
    unsettled: bool = False
    #: The pauses the site asked for (its rate limit), as told while waiting, and their total.
    waits: list[str] = field(default_factory=list)
    waited: float = 0.0

    def report_lines(self) -> list[str]:
        """What was read and changed, one line each (``python -m services sync bookings``)."""
        lines = [
            f"Cal.com : {self.pages} page(s) lue(s), {self.read} rendez-vous",
            f"rendez-vous : {self.inserted} ajouté(s), {self.updated} mis à jour, "
            f"{self.unchanged} inchangé(s), {len(self.problems)} refusé(s) ; "
            f"{self.candidates_inserted} candidat(s) et {self.touchpoints_inserted} visite(s) ajouté(s)",
        ]
        if self.waits:
            lines.append(
                f"limite de débit du site : {len(self.waits)} pause(s), {math.ceil(self.waited)} s d'attente"
            )
        if self.dry_run:
            lines.append("aperçu : rien n'a été écrit")
        elif self.cursor:
            lines.append(f"prochaine synchronisation à partir de {self.cursor}")
        return lines

    def problem_lines(self) -> list[str]:
        """Each refused booking, each warning (``uid : raison``), unknown event types, the error."""
        lines = [f"refusé : {problem.describe()}" for problem in self.problems]
        lines += [f"attention : {warning.describe()}" for warning in self.warnings]
        if self.unknown_event_types:
            listed = ", ".join(str(number) for number in self.unknown_event_types)
            lines.append(
                f"types d'événement sans correspondance : {listed} (ajoutez-les, puis relancez avec --since)"
            )
        if self.unsettled:
            lines.append(
                "attention : des rendez-vous changeaient encore pendant chacune des "
                f"{self.passes} lectures ; tout ce qui a été lu est enregistré, mais le curseur "
                "n'avance pas : la prochaine synchronisation relira depuis le même point"
            )
        if self.error:
            lines.append(f"arrêt : {self.error}")
        return lines


# ---------------------------------------------------------------- event type mappings


def list_event_type_mappings(engine: Engine | None = None) -> pd.DataFrame:
    """Every mapping: event type id, label, site, programme, event."""
    columns = ["event_type_id", "label", "site_code", "program_code", "event_code"]
    query = sa.select(*(MAPPINGS.c[name] for name in columns)).order_by(MAPPINGS.c.event_type_id)
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(connection.execute(query).all(), columns=columns)
    text = columns[1:]
    frame[text] = frame[text].astype(object).where(frame[text].notna(), None)
    return frame


def save_event_type_mapping(
    *,
    event_type_id: int,
    site_code: str,
    actor: str,
    program_code: str | None = None,
    event_code: str | None = None,
    label: str | None = None,
    engine: Engine | None = None,
) -> None:
    """Create or change the site, programme and event of a Cal.com event type's bookings."""
    if isinstance(event_type_id, bool) or not isinstance(event_type_id, int) or event_type_id < 1:
        raise MappingError("numéro de type d'événement Cal.com invalide (entier ≥ 1 attendu)")
    site_code = (site_code or "").strip()
    program_code = (program_code or "").strip() or None
    event_code = (event_code or "").strip() or None
    label = (label or "").strip() or None
    with write_transaction(engine) as connection:
        if not site_code or not _exists(connection, Site, code=site_code):
            raise MappingError(f"site inconnu : {site_code or '(vide)'}")
        if program_code and not _exists(connection, Program, code=program_code, site_code=site_code):
            raise MappingError(f"programme {program_code} non proposé sur le site {site_code}")
        if event_code and not _exists(connection, Event, code=event_code):
            raise MappingError(f"événement inconnu : {event_code}")
        row = {"site_code": site_code, "program_code": program_code, "event_code": event_code, "label": label}
        updated = connection.execute(
            MAPPINGS.update().where(MAPPINGS.c.event_type_id == event_type_id).values(**row)
        )
        if updated.rowcount == 0:
            connection.execute(MAPPINGS.insert().values(event_type_id=event_type_id, **row))
        audit.record(
            "calcom.mapping",
            actor=actor,
            target=str(event_type_id),
            detail=f"site={site_code} program={program_code or ''} event={event_code or ''}",
            connection=connection,
        )


def _exists(connection: sa.Connection, model: type, **where: str) -> bool:
    table = model.__table__
    query = sa.select(table.c.id).where(*(table.c[name] == value for name, value in where.items()))
    return connection.execute(query).first() is not None


def delete_event_type_mapping(*, event_type_id: int, actor: str, engine: Engine | None = None) -> bool:
    """Forget an event type's mapping (its bookings are reported again); False if there was none."""
    with write_transaction(engine) as connection:
        deleted = connection.execute(MAPPINGS.delete().where(MAPPINGS.c.event_type_id == event_type_id))
        if deleted.rowcount:
            audit.record(
                "calcom.mapping.delete", actor=actor, target=str(event_type_id), connection=connection
            )
    return bool(deleted.rowcount)


# ---------------------------------------------------------------- the sync


def calcom_client(sleep: Callable[[float], None] = time.sleep) -> ApiClient:
    """The Cal.com client of the settings (``CALCOM_API_URL``, ``CALCOM_API_KEY``)."""
    return ApiClient(
        SERVICE,
        integration_setting("CALCOM_API_URL"),
        integration_setting("CALCOM_API_KEY"),
        headers={"cal-api-version": API_VERSION},
        sleep=sleep,
    )


def stored_cursor(engine: Engine | None = None) -> datetime | None:
    """Where the last successful bookings sync ended (the latest ``updatedAt`` stored)."""
    with (engine or get_engine()).connect() as connection:
        return _cursor(connection)


def sync_bookings(
    *,
    actor: str,
    since: datetime | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    client: ApiClient | None = None,
    engine: Engine | None = None,
    page_size: int = PAGE_SIZE,
    waiting: Callable[[str], None] | None = None,
) -> SyncSummary:
    """Pull the bookings changed since the cursor (or ``since``) into the store, page by page.

    Paging with ``skip`` over a list sorted by ``updatedAt`` shifts when a booking changes during
    the read (it moves to the end, the next page skips one): so the list is read in passes from
    the same start, each page stored as it comes, and the cursor moves only after a pass that is
    a consistent picture — one page (one answer is one snapshot), or several pages in which
    nothing new appeared and the total did not move. A booking changed during a pass shows up
    at the end of that pass with a new ``updatedAt``, which calls for another pass; after
    ``MAX_PASSES`` the cursor stays and the next sync reads again (nothing is lost, a little is
    read twice). A booking already read in the run, unchanged, is not written again.

    An API error (refused key, invalid JSON, server down) stops the sync: the pages already
    stored stay, the cursor does not move, and ``error`` says why. ``progress(page, total)`` is
    called after each page of a pass; ``waiting(message)`` before each pause the API asks for
    (its rate limit), and the summary keeps those messages.
    """
    engine = engine or get_engine()
    summary = SyncSummary(dry_run=dry_run)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=LOCAL_TZ)
    hooked, restore = None, None
    try:
        client = client or calcom_client()
        hooked, restore = client, client.on_wait

        def told(seconds: float, message: str) -> None:
            summary.waits.append(message)
            summary.waited += seconds
            if waiting is not None:
                waiting(message)
            if restore is not None:
                restore(seconds, message)

        client.on_wait = told
        start = since if since is not None else stored_cursor(engine)
        if since is None and start is not None:
            start -= OVERLAP
        summary.cursor = _iso(stored_cursor(engine))
        seen: set[tuple[str, str]] = set()
        for _ in range(MAX_PASSES):
            summary.passes += 1
            clean, latest = _read_pass(
                client, engine, start, seen, summary, actor, dry_run, progress, page_size
            )
            if clean:
                if not dry_run and latest is not None:
                    with write_transaction(engine) as connection:
                        summary.cursor = _iso(_move_cursor(connection, latest))
                break
        else:
            summary.unsettled = True
    except ApiError as error:
        summary.error = str(error)
    finally:
        if hooked is not None:
            hooked.on_wait = restore
    summary.unknown_event_types.sort()
    return summary


def sync_booking_uids(
    uids: list[str], *, actor: str, client: ApiClient | None = None, engine: Engine | None = None
) -> SyncSummary:
    """Read these bookings (a webhook named them) one by one from the API and store them exactly
    as the sync stores a page: what a webhook applied, the polling sync later finds unchanged.
    The cursor does not move (a webhook is no complete pass)."""
    engine = engine or get_engine()
    summary = SyncSummary()
    try:
        client = client or calcom_client()
        bookings = []
        for uid in dict.fromkeys(uids):
            bookings += _read_booking(client.get(f"{BOOKINGS_PATH}/{quote(uid, safe='')}"), uid)
        summary.pages, summary.read = 1, len(bookings)
        _store_page(engine, bookings, summary, actor=actor, dry_run=False)
    except ApiError as error:
        summary.error = str(error)
    except sa.exc.IntegrityError:
        # The polling sync stored the same new booking at the same moment: it is there.
        summary.error = "rendez-vous écrit au même moment par une synchronisation : rien de plus à faire"
    return summary


def _read_booking(body: object, uid: str) -> list:
    """The booking of an answer to GET /v2/bookings/{uid} (``data``: the booking, or the
    occurrences of a recurring one), as apps/api/v2 bookings.controller.ts of Cal.com sends it."""
    if isinstance(body, dict) and body.get("status") == "success":
        data = body.get("data")
        if isinstance(data, dict):
            return [data]
        if isinstance(data, list):
            return data
    raise ApiError(f"{SERVICE} GET {BOOKINGS_PATH}/{uid[:60]} : réponse inattendue (pas de « data »)")


def _read_pass(
    client: ApiClient,
    engine: Engine,
    start: datetime | None,
    seen: set[tuple[str, str]],
    summary: SyncSummary,
    actor: str,
    dry_run: bool,
    progress: Callable[[int, int | None], None] | None,
    page_size: int,
) -> tuple[bool, datetime | None]:
    """Read every page once from ``start``, storing what the run has not seen yet; whether the
    pass is a consistent picture (module docstring of ``sync_bookings``) and its latest
    ``updatedAt``."""
    skip, page, totals, latest = 0, 0, set(), None
    fresh = False
    while True:
        params: dict[str, object] = {"take": page_size, "skip": skip, "sortUpdatedAt": "asc"}
        if start is not None:
            params["afterUpdatedAt"] = _iso(start)
        bookings, has_next, total_pages, total_items = _read_page(client.get(BOOKINGS_PATH, params=params))
        page += 1
        summary.pages += 1
        totals.add(total_items)
        latest = max(filter(None, [latest, *map(_updated_at, bookings)]), default=None)
        new = [booking for booking in bookings if _version(booking) not in seen]
        if new:
            fresh = True
            seen.update(_version(booking) for booking in new)
            summary.read += len(new)
            _store_page(engine, new, summary, actor=actor, dry_run=dry_run)
        if progress is not None:
            progress(page, total_pages)
        if not has_next or not bookings:
            break
        skip += len(bookings)
    # One page is one answer, a snapshot; several are one only if nothing moved between them.
    return page == 1 or (not fresh and len(totals) == 1), latest


def _version(booking: object) -> tuple[str, str]:
    """What identifies one state of a booking: its uid and its ``updatedAt`` as sent."""
    if not isinstance(booking, dict):
        return ("", json.dumps(booking, sort_keys=True, default=str))
    return (_uid(booking), str(booking.get("updatedAt") or booking.get("createdAt") or ""))


def _read_page(body: object) -> tuple[list, bool, int | None, int | None]:
    """The bookings, whether another page follows, the number of pages and of bookings of an
    answer (``pagination`` as apps/api/v2/src/lib/pagination/pagination.ts of Cal.com builds it)."""
    if isinstance(body, dict) and body.get("status") == "error":
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        raise ApiError(f"{SERVICE} GET {BOOKINGS_PATH} : erreur ({str(message or 'sans détail')[:200]})")
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ApiError(f"{SERVICE} GET {BOOKINGS_PATH} : réponse inattendue (pas de liste « data »)")
    pagination = body.get("pagination")
    if not isinstance(pagination, dict) or not isinstance(pagination.get("hasNextPage"), bool):
        raise ApiError(f"{SERVICE} GET {BOOKINGS_PATH} : réponse inattendue (pas de « pagination »)")
    pages, items = pagination.get("totalPages"), pagination.get("totalItems")
    return (
        body["data"],
        pagination["hasNextPage"],
        pages if isinstance(pages, int) else None,
        items if isinstance(items, int) else None,
    )


class _DryRun(Exception):
    """Raised at the end of a dry run's page to roll it back."""


def _store_page(engine: Engine, bookings: list, summary: SyncSummary, *, actor: str, dry_run: bool) -> None:
    """Validate and write one page in one transaction (a dry run rolls each page back: a
    candidate new in two pages is counted in both)."""
    source = f"cal.com:page {summary.pages}"
    try:
        with write_transaction(engine) as connection:
            context = _Context.load(connection, bookings)
            plans: list[_Plan] = []
            problems: list[tuple[int, SyncProblem]] = []
            line = 0  # one line per row planned or refused: a seated booking gives several
            for number, booking in enumerate(bookings, start=1):
                try:
                    planned = _plans(number, booking, context)
                except _Refused as refused:
                    planned = [refused]
                for item in planned:
                    line += 1
                    if isinstance(item, _Plan):
                        item.index = line
                        plans.append(item)
                        continue
                    problems.append((line, SyncProblem(item.uid, item.reason)))
                    if item.event_type_id is not None:
                        context.unknown.add(item.event_type_id)
            results, rejected = _write_plans(connection, plans, source)
            problems += rejected
            problems.sort(key=lambda pair: pair[0])
            written = {plan.uid for plan in plans} - {problem.uid for _, problem in rejected}
            summary.problems += [problem for _, problem in problems]
            summary.warnings += [
                SyncProblem(plan.uid, warning)
                for plan in plans
                if plan.uid in written
                for warning in plan.warnings
            ]
            summary.unknown_event_types += sorted(context.unknown - set(summary.unknown_event_types))
            _count(summary, results)
            if any(result.inserted or result.updated for result in results.values()):
                bump_data_version(connection)
            if dry_run:
                raise _DryRun
            _record(connection, results, problems, source, actor)
    except _DryRun:
        pass


def _count(summary: SyncSummary, results: dict[str, ImportResult]) -> None:
    if "bookings" in results:
        summary.inserted += results["bookings"].inserted
        summary.updated += results["bookings"].updated
        summary.unchanged += results["bookings"].unchanged
    if "candidates" in results:
        summary.candidates_inserted += results["candidates"].inserted
    if "touchpoints" in results:
        summary.touchpoints_inserted += results["touchpoints"].inserted


def _record(
    connection: sa.Connection,
    results: dict[str, ImportResult],
    problems: list[tuple[int, SyncProblem]],
    source: str,
    actor: str,
) -> None:
    """The page in the import history: one row per kind written, the refused bookings with it."""
    bookings = results.get("bookings") or ImportResult(source=source, kind="bookings")
    bookings.problems = [Problem(line, "uid", problem.uid, problem.reason) for line, problem in problems]
    for kind in ("candidates", "touchpoints"):
        if kind in results:
            record_result(connection, results[kind], actor)
    if bookings.accepted or bookings.problems:
        record_result(connection, bookings, actor)


def _cursor(connection: sa.Connection) -> datetime | None:
    text = connection.execute(sa.select(CURSORS.c.cursor).where(CURSORS.c.name == CURSOR_NAME)).scalar()
    return datetime.fromisoformat(text) if text else None


def _move_cursor(connection: sa.Connection, latest: datetime) -> datetime:
    """Store ``latest`` as the cursor unless it is already further (a ``--since`` re-read)."""
    current = _cursor(connection)
    if current is not None and current >= latest:
        return current
    row = {"cursor": latest.isoformat(), "synced_at": datetime.now(UTC)}
    if current is None:
        connection.execute(CURSORS.insert().values(name=CURSOR_NAME, **row))
    else:
        connection.execute(CURSORS.update().where(CURSORS.c.name == CURSOR_NAME).values(**row))
    return latest


def _updated_at(booking: object) -> datetime | None:
    """When a booking last changed (``updatedAt``, else ``createdAt``); malformed bookings count
    too: the cursor passes them (they are reported; a ``--since`` re-read takes them again)."""
    if not isinstance(booking, dict):
        return None
    return _instant(booking.get("updatedAt")) or _instant(booking.get("createdAt"))


# ---------------------------------------------------------------- from a booking to rows


class _Refused(Exception):
    """A booking that cannot be taken: nothing of it is written."""

    def __init__(self, uid: str, reason: str, event_type_id: int | None = None) -> None:
        super().__init__(reason)
        self.uid, self.reason, self.event_type_id = uid, reason, event_type_id


@dataclass
class _Plan:
    """One booking's contract rows (cells as text, as a file would give them)."""

    index: int
    uid: str
    candidate: dict[str, str] | None
    touchpoint: dict[str, str] | None
    booking: dict[str, str]
    warnings: list[str]


@dataclass
class _Context:
    """What the store knows that a page's bookings refer to, read in the page's transaction."""

    mappings: dict[int, dict]
    advisors: set[str]
    events: list[dict]
    candidates: dict[str, str]
    existing: dict[str, dict]
    changed: dict[str, set[str]]
    unknown: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, connection: sa.Connection, bookings: list) -> _Context:
        """Read the mappings, advisors, events, and the candidates and bookings of the page."""
        items = [booking for booking in bookings if isinstance(booking, dict)]
        uids = sorted({_uid(booking) for booking in items} - {""})
        emails = sorted({email for booking in items for email in _emails(booking)})
        seated = sorted({_uid(booking) for booking in items if _seated(booking)} - {""})
        candidates: dict[str, str] = {}
        query = (
            sa.select(Candidate.email, Candidate.ref)
            .where(Candidate.email.in_(emails))
            .order_by(Candidate.id.desc())  # the oldest candidate with an e-mail wins
        )
        for email, ref in connection.execute(query):
            candidates[email] = ref
        # A seated booking's seats are stored as « uid.seatUid »: all of them, to see which left.
        wanted = sa.or_(
            BOOKINGS.c.ref.in_(uids),
            *(BOOKINGS.c.ref.startswith(uid + SEAT_SEPARATOR, autoescape=True) for uid in seated),
        )
        existing = {
            row["ref"]: dict(row) for row in connection.execute(sa.select(BOOKINGS).where(wanted)).mappings()
        }
        changed: dict[str, set[str]] = {}
        changes = BookingChange.__table__
        query = sa.select(changes.c.booking_ref, changes.c.field).where(
            changes.c.booking_ref.in_(sorted(existing)), changes.c.field.in_(_DASHBOARD_FIELDS)
        )
        for ref, name in connection.execute(query):
            changed.setdefault(ref, set()).add(name)
        return cls(
            mappings={
                row["event_type_id"]: dict(row) for row in connection.execute(sa.select(MAPPINGS)).mappings()
            },
            advisors=set(connection.execute(sa.select(Advisor.email)).scalars()),
            events=[
                dict(row)
                for row in connection.execute(
                    sa.select(Event.code, Event.kind, Event.starts_on, Event.ends_on).order_by(
                        Event.starts_on, Event.code
                    )
                ).mappings()
            ],
            candidates=candidates,
            existing=existing,
            changed=changed,
        )


def _plans(number: int, booking: object, context: _Context) -> list[_Plan | _Refused]:
    """A booking's rows — one per person: the attendee, or each seat of a seated event — with
    the site, the store's candidate and the precedence rules applied, and the seats refused one
    by one; raises ``_Refused`` when the whole booking cannot be taken (malformed, event type
    without a mapping, attendees hidden)."""
    if not isinstance(booking, dict):
        raise _Refused(f"(n° {number} de la page)", "rendez-vous illisible (pas un objet JSON)")
    uid = _uid(booking)
    if not uid:
        raise _Refused(f"(n° {number} de la page)", "rendez-vous sans uid ni id")
    warnings: list[str] = []

    event_type_id = _event_type_id(booking)
    if event_type_id is None:
        raise _Refused(uid, "type d'événement absent (eventType.id)")
    mapping = context.mappings.get(event_type_id)
    if mapping is None:
        raise _Refused(uid, f"type d'événement {event_type_id} sans correspondance de site", event_type_id)

    starts_at = _required_instant(booking, "start", uid, "début")
    booked_at = _required_instant(booking, "createdAt", uid, "date de réservation")
    duration = _duration(booking, starts_at, uid)

    status = STATUSES.get(str(booking.get("status") or "").strip().lower())
    if status is None:
        raise _Refused(uid, f"statut inconnu : {str(booking.get('status'))[:40]}")
    persons = _persons(booking, uid)
    if booking.get("absentHost") is True:
        warnings.append("le site note le conseiller absent")
    advisor = _advisor(booking, context, warnings)
    meeting_url = _meeting_url(booking, warnings)
    shared = {
        "event_code": mapping["event_code"] or _event_holding(starts_at, context.events) or "",
        "site_code": mapping["site_code"],
        "program_code": mapping["program_code"] or "",
        "advisor_email": advisor or "",
        "starts_at": starts_at.isoformat(),
        "duration_min": str(duration),
        "booked_at": booked_at.isoformat(),
        "meeting_url": meeting_url or "",
    }
    seated = any(person.seat for person in persons)
    legacy = context.existing.get(uid) if seated else None  # a seat stored under the uid alone
    planned: list[_Plan | _Refused] = []
    for person in persons:
        if not person.email:
            what = f"place {person.seat} : participant" if person.seat else "participant"
            planned.append(_Refused(person.ref, f"{what} sans adresse e-mail valide"))
            continue
        candidate_ref = context.candidates.get(person.email)
        candidate = None
        if candidate_ref is None:
            candidate_ref = candidate_ref_of(person.email)
            first_name, last_name = _split_name(person.name)
            candidate = {
                "ref": candidate_ref,
                "first_name": first_name,
                "last_name": last_name,
                "email": person.email,
                "created_at": booked_at.isoformat(),
            }
        ref = person.ref
        if legacy is not None and legacy["candidate_ref"] == candidate_ref:
            ref, legacy = uid, None  # the person the older sync stored keeps that booking
        row = {
            "ref": ref,
            "candidate_ref": candidate_ref,
            **shared,
            "status": "no_show" if status == "booked" and person.absent else status,
            "attendees": str(1 if person.seat else _people(booking)),
        }
        notes = list(warnings)
        stored = context.existing.get(ref)
        if stored is not None:
            _keep_dashboard_values(row, stored, context.changed.get(ref, set()), notes)
        touchpoint = _touchpoint(person.sources, candidate_ref, booked_at)
        planned.append(_Plan(0, ref, candidate, touchpoint, row, notes))
    if seated:
        planned += _seats_left(uid, {plan.uid for plan in planned}, legacy, context)
    return planned


def _seats_left(
    uid: str, present: set[str], legacy: dict | None, context: _Context
) -> list[_Plan | _Refused]:
    """The stored seats of a seated booking that the site no longer lists: their person cancelled
    the seat (Cal.com removes the attendee), so they become ``cancelled`` — an outcome stays."""
    gone = [
        stored
        for ref, stored in context.existing.items()
        if ref.startswith(uid + SEAT_SEPARATOR) and ref not in present
    ]
    if legacy is not None:
        gone.append(legacy)
    plans: list[_Plan | _Refused] = []
    for stored in sorted(gone, key=lambda row: row["ref"]):
        if stored["status"] in (*OUTCOMES, "cancelled"):
            continue
        row = {name: _cell(stored[name]) for name in _BOOKING_HEADER}
        row["status"] = "cancelled"
        plans.append(_Plan(0, stored["ref"], None, None, row, ["place libérée sur le site : annulée"]))
    return plans


def _cell(value: object) -> str:
    """A stored value as a file's cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return str(value)


def _keep_dashboard_values(row: dict[str, str], stored: dict, changed: set[str], warnings: list[str]) -> None:
    """Put back in ``row`` what the dashboard knows better than the site (module docstring)."""
    site_status = row["status"]
    if stored["status"] in OUTCOMES and site_status != stored["status"]:
        row["status"] = stored["status"]
        if site_status != "booked":
            warnings.append(f"le site dit « {site_status} », le statut « {stored['status']} » est gardé")
    elif "status" in changed and site_status != stored["status"]:
        row["status"] = stored["status"]
        warnings.append(
            f"statut changé dans le tableau de bord (« {stored['status']} ») gardé ; "
            f"le site dit « {site_status} »"
        )
    if "attendees" in changed:
        row["attendees"] = str(stored["attendees"])
    if "advisor_email" in changed and row["advisor_email"] != (stored["advisor_email"] or ""):
        if row["advisor_email"]:
            warnings.append("conseiller réattribué dans le tableau de bord gardé (le site en donne un autre)")
        row["advisor_email"] = stored["advisor_email"] or ""
    if stored["room_meeting_id"] or not row["meeting_url"]:
        # The rooms sync's room, or the link the site no longer sends, stays.
        row["meeting_url"] = stored["meeting_url"] or ""


def candidate_ref_of(email: str) -> str:
    """The opaque, stable ref of a candidate the sync creates: ``cal-`` and a hash of the e-mail."""
    return CANDIDATE_PREFIX + hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:16]


def _uid(booking: dict) -> str:
    uid = booking.get("uid")
    if isinstance(uid, str) and uid.strip():
        return uid.strip()
    number = booking.get("id")
    return str(number) if isinstance(number, int) and not isinstance(number, bool) else ""


def _event_type_id(booking: dict) -> int | None:
    event_type = booking.get("eventType")
    for value in (event_type.get("id") if isinstance(event_type, dict) else None, booking.get("eventTypeId")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


@dataclass(frozen=True)
class _Person:
    """Someone a booking brings: the attendee of an interview, or the holder of one seat."""

    ref: str
    seat: str | None
    email: str | None
    name: object
    absent: bool
    #: Where this person's hidden booking questions (UTM tags) are, first found first.
    sources: tuple[object, ...]


def _seated(booking: dict) -> bool:
    """Whether the site lists the booking's attendees by seat (``seatUid``)."""
    attendees = booking.get("attendees")
    return isinstance(attendees, list) and any(
        isinstance(attendee, dict) and _text(attendee.get("seatUid")) for attendee in attendees
    )


def seat_ref(uid: str, seat_uid: str) -> str:
    """The contract booking of one seat of a seated Cal.com booking: ``uid.seatUid``."""
    return f"{uid}{SEAT_SEPARATOR}{seat_uid}"


def _persons(booking: dict, uid: str) -> list[_Person]:
    """The people of a booking, as the API version 2024-08-13 sends them
    (apps/api/v2/src/ee/bookings/2024-08-13/services/output.service.ts in calcom/cal.com).

    A seated event lists each seat as an attendee with its ``seatUid``, its own
    ``bookingFieldsResponses`` (without the e-mail, which the attendee carries) and
    ``metadata``; the booking has no responses of its own. Any other booking has its attendee
    first, and the booking form's answers in ``bookingFieldsResponses``, whose ``email`` and
    ``name`` stand in for an attendee without them (older Cal.com versions). No attendee and no
    e-mail in the answers is a seated event whose attendees the API hides from this key.
    """
    attendees = booking.get("attendees")
    listed = [item for item in attendees if isinstance(item, dict)] if isinstance(attendees, list) else []
    if _seated(booking):
        return [
            _Person(
                seat_ref(uid, seat) if (seat := _text(attendee.get("seatUid"))) else uid,
                seat or None,
                _email(attendee.get("email")),
                attendee.get("name") or _responses(attendee).get("name"),
                attendee.get("absent") is True,
                (_responses(attendee), attendee.get("metadata")),
            )
            for attendee in listed
        ]
    answers = _responses(booking)
    first = listed[0] if listed else {}
    email = _email(first.get("email")) or _email(answers.get("email"))
    if not listed and not email:
        raise _Refused(uid, HIDDEN_ATTENDEES)
    return [
        _Person(
            uid,
            None,
            email,
            first.get("name") or answers.get("name"),
            first.get("absent") is True,
            (answers, booking.get("metadata"), _responses(first)),
        )
    ]


def _responses(item: dict) -> dict:
    answers = item.get("bookingFieldsResponses")
    return answers if isinstance(answers, dict) else {}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _email(raw: object) -> str | None:
    if not _text(raw):
        return None
    try:
        return values.read_email(raw)
    except ValueError:
        return None


def _emails(booking: dict) -> list[str]:
    """The e-mails of a booking's people (none when it is refused as a whole)."""
    try:
        return [person.email for person in _persons(booking, _uid(booking)) if person.email]
    except _Refused:
        return []


def _instant(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return values.read_datetime(raw)
    except ValueError:
        return None


def _required_instant(booking: dict, name: str, uid: str, what: str) -> datetime:
    raw = booking.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise _Refused(uid, f"{what} absent(e) ({name})")
    moment = _instant(raw)
    if moment is None:
        raise _Refused(uid, f"{what} illisible ({name} : {str(raw)[:40]})")
    return moment


def _duration(booking: dict, starts_at: datetime, uid: str) -> int:
    """Minutes from ``start`` to ``end`` (else the ``duration`` the site gives)."""
    if booking.get("end") not in (None, ""):
        ends_at = _required_instant(booking, "end", uid, "fin")
        minutes = round((ends_at - starts_at).total_seconds() / 60)
    else:
        minutes = booking.get("duration")
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            raise _Refused(uid, "fin absente (end) et pas de durée (duration)")
    if minutes < 1:
        raise _Refused(uid, "la fin (end) n'est pas après le début (start)")
    return minutes


def _split_name(name: object) -> tuple[str, str]:
    """First word as first name, the rest as last name (« Léa Martin-Dupont »)."""
    if isinstance(name, dict):  # the booking form's name field split in two
        return _text(name.get("firstName")), _text(name.get("lastName"))
    words = name.split() if isinstance(name, str) else []
    return (words[0], " ".join(words[1:])) if words else ("", "")


def _advisor(booking: dict, context: _Context, warnings: list[str]) -> str | None:
    hosts = booking.get("hosts")
    host = hosts[0] if isinstance(hosts, list) and hosts and isinstance(hosts[0], dict) else {}
    raw = host.get("email")
    if not isinstance(raw, str) or not raw.strip():
        warnings.append("pas d'hôte : rendez-vous sans conseiller")
        return None
    email = raw.strip().lower()
    if email not in context.advisors:
        warnings.append(f"hôte {email} inconnu des conseillers : rendez-vous sans conseiller")
        return None
    return email


def _meeting_url(booking: dict, warnings: list[str]) -> str | None:
    """``meetingUrl``, else a ``location`` that is a link; https only (the contract's rule)."""
    for raw in (booking.get("meetingUrl"), booking.get("location")):
        if not isinstance(raw, str) or "://" not in raw:
            continue
        try:
            return values.read_https_url(raw)
        except ValueError:
            warnings.append("lien visio qui n'est pas en https:// : laissé vide")
            return None
    return None


def _people(booking: dict) -> int:
    """People expected: the attendees and the guests (the family), each e-mail once."""
    emails = set()
    unnamed = 0
    for attendee in booking.get("attendees") or []:
        email = attendee.get("email") if isinstance(attendee, dict) else None
        if isinstance(email, str) and email.strip():
            emails.add(email.strip().lower())
        else:
            unnamed += 1
    for guest in booking.get("guests") or []:
        if isinstance(guest, str) and guest.strip():
            emails.add(guest.strip().lower())
    return max(1, len(emails) + unnamed)


def _event_holding(starts_at: datetime, events: list[dict]) -> str | None:
    """The event whose dates hold the start (local date); an open day before a job dating."""
    day = values.local_date(starts_at)
    holding = [event for event in events if event["starts_on"] <= day <= event["ends_on"]]
    holding.sort(key=lambda event: event["kind"] == "job_dating")
    return holding[0]["code"] if holding else None


def _touchpoint(
    sources: tuple[object, ...], candidate_ref: str, booked_at: datetime
) -> dict[str, str] | None:
    """The visit the booking came from, when the person's hidden questions carry UTM tags."""
    tags = dict.fromkeys(UTM_FIELDS, "")
    for source in sources:
        if not isinstance(source, dict):
            continue
        for name in UTM_FIELDS:
            value = source.get(name)
            if not tags[name] and isinstance(value, str):
                tags[name] = value.strip()
    if not any(tags.values()):
        return None
    return {"candidate_ref": candidate_ref, "occurred_at": booked_at.isoformat(), **tags}


# ---------------------------------------------------------------- writing a page


def _rows(plans: list[_Plan], part: str, key: tuple[str, ...]) -> tuple[list[RawRow], dict[int, set[int]]]:
    """The rows of one kind, each once (two bookings of one new candidate give one candidate),
    and for each row's line the bookings that need it."""
    lines: dict[tuple, int] = {}
    owners: dict[int, set[int]] = {}
    rows: list[RawRow] = []
    for plan in plans:
        cells = getattr(plan, part)
        if cells is None:
            continue
        identity = tuple(cells[name] for name in key)
        if identity not in lines:
            lines[identity] = plan.index
            rows.append(RawRow(plan.index, cells))
        owners.setdefault(lines[identity], set()).add(plan.index)
    return rows, owners


_KINDS = (
    ("candidates", "candidate", _CANDIDATE_HEADER, ("ref",)),
    ("touchpoints", "touchpoint", _TOUCHPOINT_HEADER, _TOUCHPOINT_HEADER),
    ("bookings", "booking", _BOOKING_HEADER, ("ref",)),
)


def _write_plans(
    connection: sa.Connection, plans: list[_Plan], source: str
) -> tuple[dict[str, ImportResult], list[tuple[int, SyncProblem]]]:
    """Upsert the plans' candidates, touchpoints and bookings through the importer.

    A refused row takes its bookings out, and the rest is tried again from a savepoint, so that
    a booking's candidate, touchpoint and booking land together or not at all.
    """
    remaining = list(plans)
    rejected: list[tuple[int, SyncProblem]] = []
    while remaining:
        by_index = {plan.index: plan for plan in remaining}
        savepoint = connection.begin_nested()
        results: dict[str, ImportResult] = {}
        bad: dict[int, str] = {}
        for kind, part, header, key in _KINDS:
            rows, owners = _rows(remaining, part, key)
            if not rows:
                continue
            result = upsert_rows(connection, kind, header, rows, source=source)
            results[kind] = result
            for problem in result.problems:
                for index in owners.get(problem.line, {problem.line}):
                    bad.setdefault(index, _reason(kind, problem))
            if bad:
                break
        if not bad:
            savepoint.commit()
            return results, rejected
        savepoint.rollback()
        rejected += [(index, SyncProblem(by_index[index].uid, reason)) for index, reason in bad.items()]
        remaining = [plan for plan in remaining if plan.index not in bad]
    return {}, rejected


def _reason(kind: str, problem: Problem) -> str:
    """An importer problem as a sync reason, without the value of a personal column."""
    spec = SPECS[kind]
    personal = any(column.personal for column in spec.columns if column.name == problem.column)
    shown = f" « {problem.value} »" if problem.value and not personal else ""
    return f"{kind}.{problem.column}{shown} : {problem.reason}"


def _iso(moment: datetime | None) -> str | None:
    """An instant as Cal.com writes them: UTC, milliseconds, ``Z``."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

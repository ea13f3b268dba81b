"""The booking site's sync: Cal.com bookings (API v2) into the store, through the importer.

``GET {CALCOM_API_URL}/v2/bookings`` (``cal-api-version: 2024-08-13``) is read in ascending
``updatedAt`` order, ``take``/``skip`` pages, from where the last successful sync ended
(``sync_cursors``, name ``calcom.bookings``). Each booking becomes contract rows (``calcom_bookings``) — a
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

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ, integration_setting
from services.imports.importer import record_result, upsert_rows
from services.imports.problems import ImportResult, Problem, RawRow
from services.integrations.api import ApiAuthError, ApiClient, ApiError
from services.integrations.calcom_bookings import (
    BOOKING_HEADER,
    UTM_FIELDS,
    BookingContext,
    BookingPlan,
    BookingRefused,
    booking_plans,
    booking_uid,
    instant,
)
from services.store.contract import SPECS
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import (
    Booking,
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
#: Interviews ended this recently are read again at each sync: an absence noted on Cal.com does
#: not move the booking's ``updatedAt`` (``sync_bookings``).
ABSENCE_LOOKBACK = timedelta(days=7)
#: Passes over the list in one sync before giving up on a consistent one (``sync_bookings``).
MAX_PASSES = 5
_CANDIDATE_HEADER = ("ref", "first_name", "last_name", "email", "created_at")
#: A candidate's consents from the booking form: only these columns (and the key) are written,
#: an answer left empty keeps what is stored (candidates.csv's rule).
_CONSENT_HEADER = (
    "ref",
    "created_at",
    "presentation_consent",
    "parent_presentation_consent",
    "consent_recorded_on",
    "consent_source",
)
_TOUCHPOINT_HEADER = ("candidate_ref", "occurred_at", *UTM_FIELDS)
CURSORS = SyncCursor.__table__


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
    now: datetime | None = None,
) -> SyncSummary:
    """Pull the bookings changed since the cursor (or ``since``) into the store, page by page.

    Paging with ``skip`` over a list sorted by ``updatedAt`` shifts when a booking changes during
    the read (it moves to the end, the next page skips one): so the list is read in passes from
    the same start, each page stored as it comes, and the cursor moves only after a pass that is
    a consistent picture — one page (one answer is one snapshot), or several pages that read
    exactly the bookings (and versions) the pass before read. A booking changed during a pass
    shows up at the end of that pass with a new ``updatedAt``, which calls for another pass; after
    ``MAX_PASSES`` the cursor stays and the next sync reads again (nothing is lost, a little is
    read twice). A booking already read in the run, unchanged, is not written again. A pass ends
    at a page shorter than the page size, never on Cal.com's ``hasNextPage`` or totals, which
    are counted before the ``afterUpdatedAt`` filter or estimated (``_read_pass``).

    An API error (refused key, invalid JSON, server down), or a store that cannot take the page
    (busy, out of reach, a webhook writing the same new booking), stops the sync: the pages
    already stored stay, the cursor does not move, and ``error`` says why. ``progress(page, total)`` is
    called after each page of a pass; ``waiting(message)`` before each pause the API asks for
    (its rate limit), and the summary keeps those messages.

    Then the interviews of the last ``ABSENCE_LOOKBACK`` that have ended are read again, whatever
    their ``updatedAt``: Cal.com notes an attendee absent on the attendee alone
    (handleMarkNoShow.ts, ``attendeeRepository.updateNoShow``), so the booking's ``updatedAt`` does
    not move and the cursor would never bring that change (the BOOKING_NO_SHOW_UPDATED webhook
    does, when it arrives).
    """
    engine = engine or get_engine()
    now = now or datetime.now(UTC)
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
        before: set[tuple[str, str]] | None = None  # what the previous pass read
        changed = {"sortUpdatedAt": "asc", **({"afterUpdatedAt": _iso(start)} if start is not None else {})}
        for _ in range(MAX_PASSES):
            summary.passes += 1
            pages, passed, latest = _read_pass(
                client, engine, changed, seen, summary, actor, dry_run, progress, page_size
            )
            # One page is one answer, a snapshot; several are one only if a whole pass read
            # exactly what the pass before it read (nothing new appeared, nothing was skipped).
            clean, before = pages == 1 or passed == before, passed
            if clean:
                if not dry_run and latest is not None:
                    with write_transaction(engine) as connection:
                        summary.cursor = _iso(_move_cursor(connection, latest))
                break
        else:
            summary.unsettled = True
        if _awaiting_outcome(engine, now):
            # Sorted by start, which an absence does not change: one pass is a consistent read.
            ended = {"afterStart": _iso(now - ABSENCE_LOOKBACK), "beforeEnd": _iso(now), "sortStart": "asc"}
            _read_pass(client, engine, ended, seen, summary, actor, dry_run, progress, page_size)
    except ApiError as error:
        summary.error = str(error)
    except (sa.exc.OperationalError, sa.exc.IntegrityError) as error:
        # The store, not the site: SQLite's write lock held longer than its busy timeout (an
        # import), the server out of reach, or the same new booking written at that moment by a
        # webhook. The page's transaction is rolled back; the next sync reads it again.
        what = (
            "rendez-vous écrit au même moment par un webhook"
            if isinstance(error, sa.exc.IntegrityError)
            else "base de données occupée ou injoignable (une autre écriture, un import peut-être)"
        )
        summary.error = (
            f"{what} : la page {summary.pages} de Cal.com n'est pas écrite, le curseur ne bouge "
            "pas ; relancez dans un moment"
        )
    finally:
        if hooked is not None:
            hooked.on_wait = restore
    summary.unknown_event_types.sort()
    return summary


def _awaiting_outcome(engine: Engine, now: datetime) -> bool:
    """Whether an interview of the last ``ABSENCE_LOOKBACK`` is still only « booked »: else there
    is no absence to look for (and no request to spend)."""
    bookings = Booking.__table__
    query = sa.select(bookings.c.id).where(
        bookings.c.status == "booked",
        bookings.c.starts_at >= now - ABSENCE_LOOKBACK,
        bookings.c.starts_at <= now,
    )
    with engine.connect() as connection:
        return connection.execute(query.limit(1)).first() is not None


def sync_booking_uids(
    uids: list[str], *, actor: str, client: ApiClient | None = None, engine: Engine | None = None
) -> SyncSummary:
    """Read these bookings (a webhook named them) one by one from the API and store them exactly
    as the sync stores a page: what a webhook applied, the polling sync later finds unchanged.
    The cursor does not move (a webhook is no complete pass)."""
    engine = engine or get_engine()
    summary = SyncSummary()
    failures: list[str] = []
    try:
        client = client or calcom_client()
        bookings = []
        for uid in dict.fromkeys(uids):
            # One that cannot be read (gone, refused) does not hold back the others.
            try:
                bookings += _read_booking(client.get(f"{BOOKINGS_PATH}/{quote(uid, safe='')}"), uid)
            except ApiAuthError:
                raise
            except ApiError as error:
                failures.append(str(error))
        summary.pages, summary.read = 1, len(bookings)
        if bookings:
            _store_page(engine, bookings, summary, actor=actor, dry_run=False)
        summary.error = " ; ".join(failures) or None
    except ApiError as error:
        summary.error = str(error)
    except sa.exc.IntegrityError:
        # The polling sync stored the same new booking at the same moment: it is there.
        summary.error = "rendez-vous écrit au même moment par une synchronisation : rien de plus à faire"
    except sa.exc.OperationalError:
        summary.error = "base de données occupée ou injoignable : rien n'est écrit"
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
    query: dict[str, str],
    seen: set[tuple[str, str]],
    summary: SyncSummary,
    actor: str,
    dry_run: bool,
    progress: Callable[[int, int | None], None] | None,
    page_size: int,
) -> tuple[int, set[tuple[str, str]], datetime | None]:
    """Read every page of the list ``query`` asks for once, storing what the run has not seen
    yet; the pages read, the versions of bookings read (``_version``) and the latest
    ``updatedAt``."""
    skip, page, latest = 0, 0, None
    passed: set[tuple[str, str]] = set()  # what this pass has read
    while True:
        params: dict[str, object] = {"take": page_size, "skip": skip, **query}
        bookings, per_page, total_pages = _read_page(client.get(BOOKINGS_PATH, params=params))
        page += 1
        versions = {_version(booking) for booking in bookings}
        if skip and versions and versions <= passed:
            # An offset further on that only gives back what this pass read is no page of the
            # list (it would skip the bookings really there, or never end).
            raise ApiError(
                f"{SERVICE} GET {BOOKINGS_PATH} : la réponse à skip={skip} ne redonne que des "
                f"rendez-vous déjà lus (page {page}) ; arrêt, le curseur ne bouge pas"
            )
        passed |= versions
        summary.pages += 1
        latest = max(filter(None, [latest, *map(_updated_at, bookings)]), default=None)
        new = [booking for booking in bookings if _version(booking) not in seen]
        if new:
            seen.update(_version(booking) for booking in new)
            summary.read += len(new)
            _store_page(engine, new, summary, actor=actor, dry_run=dry_run)
        # The list ends at a page shorter than its size (the query's LIMIT ran out), whatever
        # ``hasNextPage`` says: Cal.com computes it from a total counted before the
        # ``afterUpdatedAt`` filter, or estimated for a full page (get.handler.ts), so it says
        # « more » past the end and may say « no more » after a full page that is not the last.
        last = len(bookings) < min(page_size, per_page or page_size)
        if progress is not None:
            # Cal.com's number of pages is only a guess until the last page says it.
            progress(page, page if last else total_pages)
        if last:
            break
        skip += len(bookings)
    return page, passed, latest


def _version(booking: object) -> tuple[str, str]:
    """What identifies one state of a booking: its uid and its ``updatedAt`` as sent."""
    if not isinstance(booking, dict):
        return ("", json.dumps(booking, sort_keys=True, default=str))
    return (booking_uid(booking), str(booking.get("updatedAt") or booking.get("createdAt") or ""))


def _read_page(body: object) -> tuple[list, int | None, int | None]:
    """The bookings, the page size the site used (``itemsPerPage``: it may give fewer than asked)
    and the number of pages of an answer (``pagination`` as
    apps/api/v2/src/lib/pagination/pagination.ts of Cal.com builds it; that number is only an
    indication for the progress bar, see ``_read_pass``)."""
    if isinstance(body, dict) and body.get("status") == "error":
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        raise ApiError(f"{SERVICE} GET {BOOKINGS_PATH} : erreur ({str(message or 'sans détail')[:200]})")
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ApiError(f"{SERVICE} GET {BOOKINGS_PATH} : réponse inattendue (pas de liste « data »)")
    pagination = body.get("pagination")
    if not isinstance(pagination, dict) or not isinstance(pagination.get("hasNextPage"), bool):
        raise ApiError(f"{SERVICE} GET {BOOKINGS_PATH} : réponse inattendue (pas de « pagination »)")
    size, pages = pagination.get("itemsPerPage"), pagination.get("totalPages")
    return (
        body["data"],
        size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None,
        pages if isinstance(pages, int) else None,
    )


class _DryRun(Exception):
    """Raised at the end of a dry run's page to roll it back."""


def _store_page(engine: Engine, bookings: list, summary: SyncSummary, *, actor: str, dry_run: bool) -> None:
    """Validate and write one page in one transaction (a dry run rolls each page back: a
    candidate new in two pages is counted in both)."""
    source = f"cal.com:page {summary.pages}"
    try:
        with write_transaction(engine) as connection:
            context = BookingContext.load(connection, bookings)
            plans: list[BookingPlan] = []
            problems: list[tuple[int, SyncProblem]] = []
            line = 0  # one line per row planned or refused: a seated booking gives several
            for number, booking in enumerate(bookings, start=1):
                try:
                    planned = booking_plans(number, booking, context)
                except BookingRefused as refused:
                    planned = [refused]
                for item in planned:
                    line += 1
                    if isinstance(item, BookingPlan):
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
    return instant(booking.get("updatedAt")) or instant(booking.get("createdAt"))


def _rows(
    plans: list[BookingPlan], part: str, key: tuple[str, ...]
) -> tuple[list[RawRow], dict[int, set[int]]]:
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
    ("bookings", "booking", BOOKING_HEADER, ("ref",)),
    # After the bookings: a refused booking takes its consent out with it.
    ("candidates", "consent", _CONSENT_HEADER, ("ref",)),
)


def _write_plans(
    connection: sa.Connection, plans: list[BookingPlan], source: str
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
            results["consents" if part == "consent" else kind] = result
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
